/*
 * cql_parse.c - hand-written recursive-descent CQL parser (see cql.h).
 *
 * Structure
 *   - Tokens come from cql_lex.c on demand into a small lookahead window
 *     (LA_MAX tokens; the grammar needs at most 5, for "(ks.udt) term").
 *     Keywords are not separate token kinds: an IDENT is compared with a
 *     word where the grammar expects one, and bs_cql_is_reserved() decides
 *     whether a word may be an identifier (Cassandra's reserved list).
 *   - Every node, array and string goes into the caller's arena; the
 *     statement text is copied into the arena first so literals can point
 *     into it without copying (only strings with '' escapes are decoded
 *     into fresh arena memory).  Growable arrays double inside the arena.
 *   - Errors longjmp back to the entry point (bs_cql_parse /
 *     bs_cql_parse_script) with p->err filled; nothing needs freeing
 *     because the arena owns everything.
 *   - Recursion (terms, selectors, types) goes through enter()/leave()
 *     which cap the nesting at BS_CQL_MAX_DEPTH, so no input can exhaust
 *     the stack.
 *   - Bind markers are appended to p->binds in order of appearance, each
 *     with the receiver the surrounding syntax gives it (a recv passed
 *     down the term parser and derived for nested literals).
 *
 * Error messages follow Cassandra's ANTLR wording:
 *   line L:C mismatched input 'X' expecting Y (snippet [X]...)
 *   line L:C no viable alternative at input 'X' (snippet [X]...)
 * where the snippet is up to HIST tokens before the offending one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "query/cql.h"

#define LA_MAX 6
#define HIST 8

typedef struct vec {
    void *v;
    uint32_t n;
    uint32_t cap;
} vec;

typedef struct parser {
    bs_arena *a;
    const char *src; /* arena copy */
    size_t len;
    bs_cql_lexer lx;
    bs_cql_token la[LA_MAX];
    unsigned nla;
    size_t hist[HIST]; /* start offsets of the last consumed tokens */
    unsigned nhist;
    size_t last_end; /* end offset of the last consumed token */
    bs_cql_error err;
    jmp_buf jb;
    int depth;
    vec binds; /* bs_cql_bind */
} parser;

typedef bs_cql_recv recv;
static const recv RNONE = {BS_CQL_RECV_NONE, NULL, NULL, NULL, 0, 0, NULL};

/* ------------------------------------------------------------------ */
/* errors and memory                                                   */

_Noreturn static void bail(parser *p) {
    longjmp(p->jb, 1);
}

static void *alloc(parser *p, size_t n) {
    void *m = bs_arena_calloc(p->a, n ? n : 1);
    if (!m) {
        p->err.code = BS_ENOMEM;
        snprintf(p->err.msg, sizeof p->err.msg, "out of memory");
        bail(p);
    }
    return m;
}

static void *vpush(parser *p, vec *v, size_t sz) {
    if (v->n == v->cap) {
        uint32_t nc = v->cap ? v->cap * 2 : 4;
        void *nv = alloc(p, (size_t)nc * sz);
        if (v->n) memcpy(nv, v->v, (size_t)v->n * sz);
        v->v = nv;
        v->cap = nc;
    }
    void *slot = (char *)v->v + (size_t)v->n * sz;
    memset(slot, 0, sz);
    v->n++;
    return slot;
}

static void ppush(parser *p, vec *v, const void *ptr) {
    *(const void **)vpush(p, v, sizeof(void *)) = ptr;
}

static void tok_show(const parser *p, const bs_cql_token *t, char *buf,
                     size_t cap) {
    if (t->kind == BS_CQL_TOK_EOF) {
        snprintf(buf, cap, "<EOF>");
        return;
    }
    size_t n = t->len > 40 ? 40 : t->len;
    snprintf(buf, cap, "%.*s%s", (int)n, p->src + t->off,
             t->len > 40 ? "..." : "");
}

/* " (SELECT * [FORM]...)" */
static void snippet(const parser *p, const bs_cql_token *t, char *buf,
                    size_t cap) {
    /* oldest remembered token of this statement */
    size_t from = t->off;
    if (p->nhist) from = p->hist[p->nhist > HIST ? p->nhist % HIST : 0];
    if (from > t->off) from = t->off;
    size_t n = t->off - from;
    if (n > 80) {
        from = t->off - 80;
        n = 80;
    }
    char show[64];
    if (t->kind == BS_CQL_TOK_EOF)
        show[0] = 0;
    else
        tok_show(p, t, show, sizeof show);
    snprintf(buf, cap, " (%.*s[%s]%s)", (int)n, p->src + from, show,
             t->kind == BS_CQL_TOK_EOF ? "" : "...");
}

_Noreturn static void fail_at(parser *p, const bs_cql_token *t, int code,
                              const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
_Noreturn static void fail_at(parser *p, const bs_cql_token *t, int code,
                              const char *fmt, ...) {
    p->err.code = code;
    p->err.line = t->line;
    p->err.col = t->col;
    int n = 0;
    if (code == BS_ESYNTAX)
        n = snprintf(p->err.msg, sizeof p->err.msg, "line %u:%u ",
                     (unsigned)t->line, (unsigned)t->col);
    if (n < 0) n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err.msg + n, sizeof p->err.msg - (size_t)n, fmt, ap);
    va_end(ap);
    bail(p);
}

static const bs_cql_token *peek(parser *p, unsigned k);

_Noreturn static void fail_mismatch(parser *p, const char *expecting) {
    const bs_cql_token *t = peek(p, 0);
    char show[64], snip[160];
    tok_show(p, t, show, sizeof show);
    snippet(p, t, snip, sizeof snip);
    fail_at(p, t, BS_ESYNTAX, "mismatched input '%s' expecting %s%s", show,
            expecting, snip);
}

_Noreturn static void fail_noviable(parser *p) {
    const bs_cql_token *t = peek(p, 0);
    char show[64], snip[160];
    tok_show(p, t, show, sizeof show);
    snippet(p, t, snip, sizeof snip);
    fail_at(p, t, BS_ESYNTAX, "no viable alternative at input '%s'%s", show,
            snip);
}

static void enter(parser *p) {
    if (++p->depth > BS_CQL_MAX_DEPTH) {
        const bs_cql_token *t = peek(p, 0);
        char show[64];
        tok_show(p, t, show, sizeof show);
        fail_at(p, t, BS_ESYNTAX,
                "nesting too deep (more than %d levels) at input '%s'",
                BS_CQL_MAX_DEPTH, show);
    }
}
static void leave(parser *p) {
    p->depth--;
}

/* ------------------------------------------------------------------ */
/* tokens                                                              */

static const bs_cql_token *peek(parser *p, unsigned k) {
    while (p->nla <= k) {
        if (bs_cql_lex_next(&p->lx, &p->la[p->nla], &p->err)) bail(p);
        p->nla++;
    }
    return &p->la[k];
}

static bs_cql_token next(parser *p) {
    bs_cql_token t = *peek(p, 0);
    memmove(p->la, p->la + 1, (p->nla - 1) * sizeof p->la[0]);
    p->nla--;
    if (t.kind != BS_CQL_TOK_EOF) {
        p->hist[p->nhist % HIST] = t.off;
        p->nhist++;
        p->last_end = t.off + t.len;
    }
    return t;
}

static int is(parser *p, unsigned k, bs_cql_tok_kind kind) {
    return peek(p, k)->kind == kind;
}
static int accept(parser *p, bs_cql_tok_kind kind) {
    if (!is(p, 0, kind)) return 0;
    next(p);
    return 1;
}
static bs_cql_token expect(parser *p, bs_cql_tok_kind kind) {
    if (!is(p, 0, kind)) fail_mismatch(p, bs_cql_tok_name(kind));
    return next(p);
}
static int kw(parser *p, unsigned k, const char *w) {
    return bs_cql_tok_is(p->src, peek(p, k), w);
}
static int accept_kw(parser *p, const char *w) {
    if (!kw(p, 0, w)) return 0;
    next(p);
    return 1;
}
static void expect_kw(parser *p, const char *w) {
    if (accept_kw(p, w)) return;
    char up[32];
    size_t i = 0;
    for (; w[i] && i + 1 < sizeof up; i++)
        up[i] = (char)(w[i] >= 'a' && w[i] <= 'z' ? w[i] - 32 : w[i]);
    up[i] = 0;
    fail_mismatch(p, up);
}

static char *text_of(parser *p, const bs_cql_token *t, size_t *len) {
    char *s = bs_cql_tok_text(p->a, p->src, t, len);
    if (!s) {
        p->err.code = BS_ENOMEM;
        snprintf(p->err.msg, sizeof p->err.msg, "out of memory");
        bail(p);
    }
    return s;
}

static int streq(const char *a, const char *b) {
    return strcmp(a, b) == 0;
}

/* ------------------------------------------------------------------ */
/* identifiers and names                                               */

static int ident_at(parser *p, unsigned k) {
    const bs_cql_token *t = peek(p, k);
    if (t->kind == BS_CQL_TOK_QIDENT) return t->len > 2;
    if (t->kind == BS_CQL_TOK_IDENT)
        return !bs_cql_is_reserved(p->src + t->off, t->len);
    return 0;
}

/* Names are C strings: a NUL inside "..." would silently cut them. */
static const char *name_text(parser *p, const bs_cql_token *t) {
    size_t n;
    const char *s = text_of(p, t, &n);
    if (memchr(s, 0, n))
        fail_at(p, t, BS_ESYNTAX, "%s contains a NUL character",
                t->kind == BS_CQL_TOK_STRING ? "type name" : "identifier");
    return s;
}

static const char *ident(parser *p) {
    if (!ident_at(p, 0)) fail_noviable(p);
    bs_cql_token t = next(p);
    return name_text(p, &t);
}

static bs_cql_qname qname(parser *p) {
    bs_cql_qname q = {NULL, ident(p)};
    if (accept(p, BS_CQL_TOK_DOT)) {
        q.ks = q.name;
        q.name = ident(p);
    }
    return q;
}

static bs_cql_pos pos_of(const bs_cql_token *t) {
    bs_cql_pos ps = {t->line, t->col};
    return ps;
}

/* ------------------------------------------------------------------ */
/* types                                                               */

static const struct {
    const char *name;
    bs_type_kind kind;
} native_types[] = {
    {"ascii", BS_TYPE_ASCII},       {"bigint", BS_TYPE_BIGINT},
    {"blob", BS_TYPE_BLOB},         {"boolean", BS_TYPE_BOOLEAN},
    {"counter", BS_TYPE_COUNTER},   {"date", BS_TYPE_DATE},
    {"decimal", BS_TYPE_DECIMAL},   {"double", BS_TYPE_DOUBLE},
    {"duration", BS_TYPE_DURATION}, {"float", BS_TYPE_FLOAT},
    {"inet", BS_TYPE_INET},         {"int", BS_TYPE_INT},
    {"smallint", BS_TYPE_SMALLINT}, {"text", BS_TYPE_VARCHAR},
    {"time", BS_TYPE_TIME},         {"timestamp", BS_TYPE_TIMESTAMP},
    {"timeuuid", BS_TYPE_TIMEUUID}, {"tinyint", BS_TYPE_TINYINT},
    {"uuid", BS_TYPE_UUID},         {"varchar", BS_TYPE_VARCHAR},
    {"varint", BS_TYPE_VARINT},
};

static int native_at(parser *p, unsigned k, bs_type_kind *out) {
    for (size_t i = 0; i < sizeof native_types / sizeof native_types[0]; i++)
        if (kw(p, k, native_types[i].name)) {
            if (out) *out = native_types[i].kind;
            return 1;
        }
    return 0;
}

static bs_type *type_new(parser *p, bs_type_kind kind) {
    bs_type *t = alloc(p, sizeof *t);
    t->kind = (uint16_t)kind;
    return t;
}

static void type_set_params(bs_type *t, vec *v) {
    t->params = v->v;
    t->nparams = (uint16_t)v->n;
}

static bs_type *parse_type(parser *p) {
    enter(p);
    const bs_cql_token *t = peek(p, 0);
    bs_cql_token start = *t;
    bs_type *ty = NULL;
    bs_type_kind nk;
    int generic = is(p, 1, BS_CQL_TOK_LT);
    if (t->kind == BS_CQL_TOK_STRING) {
        bs_cql_token s = next(p);
        ty = type_new(p, BS_TYPE_CUSTOM);
        ty->name = (char *)name_text(p, &s);
    } else if (generic && kw(p, 0, "frozen")) {
        next(p);
        next(p);
        ty = parse_type(p);
        expect(p, BS_CQL_TOK_GT);
        if (!bs_type_is_collection(ty) && ty->kind != BS_TYPE_TUPLE &&
            ty->kind != BS_TYPE_UDT)
            fail_at(p, &start, BS_EINVAL,
                    "frozen<> is only allowed on collections, tuples, and "
                    "user-defined types");
        ty->frozen = 1;
    } else if (generic && (kw(p, 0, "list") || kw(p, 0, "set"))) {
        ty = type_new(p, kw(p, 0, "list") ? BS_TYPE_LIST : BS_TYPE_SET);
        next(p);
        next(p);
        vec v = {0};
        ppush(p, &v, parse_type(p));
        expect(p, BS_CQL_TOK_GT);
        type_set_params(ty, &v);
    } else if (generic && kw(p, 0, "map")) {
        ty = type_new(p, BS_TYPE_MAP);
        next(p);
        next(p);
        vec v = {0};
        ppush(p, &v, parse_type(p));
        expect(p, BS_CQL_TOK_COMMA);
        ppush(p, &v, parse_type(p));
        expect(p, BS_CQL_TOK_GT);
        type_set_params(ty, &v);
    } else if (generic && kw(p, 0, "tuple")) {
        ty = type_new(p, BS_TYPE_TUPLE);
        next(p);
        next(p);
        vec v = {0};
        do {
            if (v.n >= UINT16_MAX)
                fail_at(p, peek(p, 0), BS_ESYNTAX, "too many tuple components");
            ppush(p, &v, parse_type(p));
        } while (accept(p, BS_CQL_TOK_COMMA));
        expect(p, BS_CQL_TOK_GT);
        type_set_params(ty, &v);
    } else if (generic && kw(p, 0, "vector")) {
        fail_at(p, t, BS_ENOTSUP, "vector types are not supported by Basalt");
    } else if (native_at(p, 0, &nk)) {
        next(p);
        ty = type_new(p, nk);
    } else if (ident_at(p, 0)) {
        bs_cql_qname q = qname(p);
        static const char *const reserved_types[] = {
            "frozen", "list",    "map",  "set",      "tuple",   "vector",
            "byte",   "complex", "enum", "interval", "macaddr", "bitstring"};
        for (size_t i = 0; i < sizeof reserved_types / sizeof *reserved_types;
             i++)
            if (streq(q.name, reserved_types[i]) &&
                start.kind == BS_CQL_TOK_IDENT)
                fail_at(p, &start, BS_ESYNTAX,
                        "Invalid (reserved) user type name %s", q.name);
        ty = type_new(p, BS_TYPE_UDT);
        ty->name = (char *)q.name;
        ty->keyspace = (char *)q.ks;
    } else {
        fail_noviable(p);
    }
    leave(p);
    return ty;
}

/* ------------------------------------------------------------------ */
/* receivers and bind markers                                          */

static recv r_col(const char *c) {
    recv r = RNONE;
    r.kind = BS_CQL_RECV_COLUMN;
    r.column = c;
    return r;
}
static recv r_kind(bs_cql_recv_kind k, const char *c) {
    recv r = RNONE;
    r.kind = k;
    r.column = c;
    return r;
}
static recv r_elem(const recv *r) {
    return r->kind == BS_CQL_RECV_COLUMN ? r_kind(BS_CQL_RECV_VALUE, r->column)
                                         : RNONE;
}
static recv r_key(const recv *r) {
    return r->kind == BS_CQL_RECV_COLUMN ? r_kind(BS_CQL_RECV_KEY, r->column)
                                         : RNONE;
}
static recv r_tuple(const recv *r, uint32_t i) {
    if (r->kind == BS_CQL_RECV_COLUMN) {
        recv c = r_kind(BS_CQL_RECV_TUPLE_ELEM, r->column);
        c.index = i;
        return c;
    }
    if (r->kind == BS_CQL_RECV_MULTI && i < r->ncols) return r_col(r->cols[i]);
    return RNONE;
}
static recv r_field(const recv *r, const char *f) {
    if (r->kind != BS_CQL_RECV_COLUMN) return RNONE;
    recv c = r_kind(BS_CQL_RECV_FIELD, r->column);
    c.field = f;
    return c;
}
static recv r_cols(bs_cql_recv_kind k, uint32_t n, const char **cols) {
    recv r = RNONE;
    r.kind = k;
    r.ncols = n;
    r.cols = cols;
    return r;
}

static const char *recv_name(parser *p, const recv *r) {
    bs_buf b = BS_BUF_INIT;
    int rc = 0;
    switch (r->kind) {
    case BS_CQL_RECV_NONE: rc = bs_buf_appendf(&b, "?"); break;
    case BS_CQL_RECV_COLUMN: rc = bs_buf_appendf(&b, "%s", r->column); break;
    case BS_CQL_RECV_IN: rc = bs_buf_appendf(&b, "in(%s)", r->column); break;
    case BS_CQL_RECV_KEY: rc = bs_buf_appendf(&b, "key(%s)", r->column); break;
    case BS_CQL_RECV_VALUE:
        rc = bs_buf_appendf(&b, "value(%s)", r->column);
        break;
    case BS_CQL_RECV_FIELD:
        rc = bs_buf_appendf(&b, "%s.%s", r->column, r->field);
        break;
    case BS_CQL_RECV_TUPLE_ELEM:
        rc = bs_buf_appendf(&b, "%s[%u]", r->column, (unsigned)r->index);
        break;
    case BS_CQL_RECV_MULTI:
    case BS_CQL_RECV_MULTI_IN:
        rc = bs_buf_appendf(&b, r->kind == BS_CQL_RECV_MULTI_IN ? "in((" : "(");
        for (uint32_t i = 0; i < r->ncols && !rc; i++)
            rc = bs_buf_appendf(&b, "%s%s", i ? "," : "", r->cols[i]);
        if (!rc)
            rc = bs_buf_appendf(&b,
                                r->kind == BS_CQL_RECV_MULTI_IN ? "))" : ")");
        break;
    case BS_CQL_RECV_TOKEN:
        rc = bs_buf_appendf(&b, "partition key token");
        break;
    case BS_CQL_RECV_FUNC_ARG:
        rc = bs_buf_appendf(&b, "arg%u(%s%s%s)", (unsigned)r->index,
                            r->ks ? r->ks : "", r->ks ? "." : "", r->column);
        break;
    case BS_CQL_RECV_LIMIT: rc = bs_buf_appendf(&b, "[limit]"); break;
    case BS_CQL_RECV_PER_PARTITION_LIMIT:
        rc = bs_buf_appendf(&b, "[per_partition_limit]");
        break;
    case BS_CQL_RECV_TTL: rc = bs_buf_appendf(&b, "[ttl]"); break;
    case BS_CQL_RECV_TIMESTAMP: rc = bs_buf_appendf(&b, "[timestamp]"); break;
    case BS_CQL_RECV_JSON: rc = bs_buf_appendf(&b, "[json]"); break;
    }
    char *s = rc ? NULL : bs_arena_strndup(p->a, (const char *)b.data, b.len);
    bs_buf_free(&b);
    if (!s) {
        p->err.code = BS_ENOMEM;
        snprintf(p->err.msg, sizeof p->err.msg, "out of memory");
        bail(p);
    }
    return s;
}

static bs_cql_expr *expr_new(parser *p, bs_cql_expr_kind k,
                             const bs_cql_token *t) {
    bs_cql_expr *e = alloc(p, sizeof *e);
    e->kind = k;
    e->pos = pos_of(t);
    return e;
}

static void set_bind_recv(parser *p, uint32_t idx, const recv *r) {
    bs_cql_bind *b = (bs_cql_bind *)p->binds.v + idx;
    b->recv = *r;
    b->recv_name = recv_name(p, r);
}

/* A marker at the current token (? or :name). */
static bs_cql_expr *parse_bind(parser *p, const recv *r, const bs_type *cast) {
    bs_cql_token t = next(p);
    const char *name = NULL;
    if (t.kind == BS_CQL_TOK_COLON) name = ident(p);
    bs_cql_bind *b = vpush(p, &p->binds, sizeof *b);
    uint32_t idx = p->binds.n - 1;
    b->index = idx;
    b->name = name;
    b->pos = pos_of(&t);
    b->cast = cast;
    set_bind_recv(p, idx, r);
    bs_cql_expr *e = expr_new(p, BS_CQL_EXPR_BIND, &t);
    e->bind = idx;
    return e;
}

static int bind_at(parser *p) {
    return is(p, 0, BS_CQL_TOK_QMARK) || is(p, 0, BS_CQL_TOK_COLON);
}

/* ------------------------------------------------------------------ */
/* terms and selectors                                                 */

static int literal_at(parser *p, unsigned k) {
    switch (peek(p, k)->kind) {
    case BS_CQL_TOK_STRING:
    case BS_CQL_TOK_INTEGER:
    case BS_CQL_TOK_FLOAT:
    case BS_CQL_TOK_UUID:
    case BS_CQL_TOK_HEX:
    case BS_CQL_TOK_BOOL:
    case BS_CQL_TOK_DURATION: return 1;
    default: return 0;
    }
}

static bs_cql_expr *parse_literal(parser *p) {
    if (!literal_at(p, 0)) fail_noviable(p);
    bs_cql_token t = next(p);
    bs_cql_expr *e = expr_new(p, BS_CQL_EXPR_LITERAL, &t);
    const char *s = p->src + t.off;
    switch (t.kind) {
    case BS_CQL_TOK_STRING:
        e->lit.kind = BS_LIT_STRING;
        if (s[0] == '$' || !memchr(s + 1, '\'', t.len - 2)) {
            size_t q = s[0] == '$' ? 2 : 1;
            e->lit.text = s + q;
            e->lit.len = t.len - 2 * q;
        } else {
            e->lit.text = text_of(p, &t, &e->lit.len);
        }
        return e;
    case BS_CQL_TOK_INTEGER: e->lit.kind = BS_LIT_INTEGER; break;
    case BS_CQL_TOK_FLOAT: e->lit.kind = BS_LIT_FLOAT; break;
    case BS_CQL_TOK_UUID: e->lit.kind = BS_LIT_UUID; break;
    case BS_CQL_TOK_DURATION: e->lit.kind = BS_LIT_DURATION; break;
    case BS_CQL_TOK_HEX:
        e->lit.kind = BS_LIT_HEX;
        e->lit.text = s + 2;
        e->lit.len = t.len - 2;
        return e;
    case BS_CQL_TOK_BOOL:
        e->lit.kind = BS_LIT_BOOL;
        e->lit.text = (s[0] == 't' || s[0] == 'T') ? "true" : "false";
        e->lit.len = strlen(e->lit.text);
        return e;
    default: fail_noviable(p);
    }
    e->lit.text = s;
    e->lit.len = t.len;
    return e;
}

static int term_start_at(parser *p, unsigned k) {
    if (literal_at(p, k)) return 1;
    switch (peek(p, k)->kind) {
    case BS_CQL_TOK_QMARK:
    case BS_CQL_TOK_COLON:
    case BS_CQL_TOK_LBRACKET:
    case BS_CQL_TOK_LBRACE:
    case BS_CQL_TOK_LPAREN:
    case BS_CQL_TOK_QIDENT:
    case BS_CQL_TOK_IDENT: return 1;
    default: return 0;
    }
}

/* Name token usable as a function name: identifier or 'token'. */
static int fname_at(parser *p, unsigned k) {
    return ident_at(p, k) || kw(p, k, "token");
}

static int call_at(parser *p) {
    if (!fname_at(p, 0)) return 0;
    if (is(p, 1, BS_CQL_TOK_LPAREN)) return 1;
    return is(p, 1, BS_CQL_TOK_DOT) && fname_at(p, 2) &&
           is(p, 3, BS_CQL_TOK_LPAREN);
}

/* "(type) term" rather than a tuple? */
static int cast_at(parser *p) {
    if (!is(p, 0, BS_CQL_TOK_LPAREN)) return 0;
    if (native_at(p, 1, NULL) && is(p, 2, BS_CQL_TOK_RPAREN)) return 1;
    if ((kw(p, 1, "frozen") || kw(p, 1, "list") || kw(p, 1, "set") ||
         kw(p, 1, "map") || kw(p, 1, "tuple")) &&
        is(p, 2, BS_CQL_TOK_LT))
        return 1;
    if (ident_at(p, 1) && is(p, 2, BS_CQL_TOK_RPAREN) && term_start_at(p, 3))
        return 1;
    if (ident_at(p, 1) && is(p, 2, BS_CQL_TOK_DOT) && ident_at(p, 3) &&
        is(p, 4, BS_CQL_TOK_RPAREN) && term_start_at(p, 5))
        return 1;
    return 0;
}

static bs_cql_expr *parse_term(parser *p, const recv *r, const bs_type *cast);
static bs_cql_expr *parse_selector(parser *p);

static void finish_items(bs_cql_expr *e, vec *v) {
    e->items = v->v;
    e->n = v->n;
}

static bs_cql_expr *parse_call(parser *p, int selector, const recv *r) {
    bs_cql_token t = *peek(p, 0);
    bs_cql_expr *e = expr_new(p, BS_CQL_EXPR_CALL, &t);
    bs_cql_token nt = next(p);
    e->name = name_text(p, &nt);
    if (accept(p, BS_CQL_TOK_DOT)) {
        e->ks = e->name;
        nt = next(p);
        e->name = name_text(p, &nt);
    }
    expect(p, BS_CQL_TOK_LPAREN);
    int is_token = !e->ks && streq(e->name, "token");
    vec v = {0};
    if (!is(p, 0, BS_CQL_TOK_RPAREN)) {
        do {
            recv ar;
            if (is_token && r->kind == BS_CQL_RECV_TOKEN && v.n < r->ncols) {
                ar = r_col(r->cols[v.n]);
            } else {
                ar = r_kind(BS_CQL_RECV_FUNC_ARG, e->name);
                ar.ks = e->ks;
                ar.index = v.n;
            }
            ppush(p, &v,
                  selector ? parse_selector(p) : parse_term(p, &ar, NULL));
        } while (accept(p, BS_CQL_TOK_COMMA));
    }
    expect(p, BS_CQL_TOK_RPAREN);
    finish_items(e, &v);
    if (selector && !e->ks &&
        (streq(e->name, "writetime") || streq(e->name, "ttl")) &&
        (e->n != 1 || e->items[0]->kind != BS_CQL_EXPR_COLUMN))
        fail_at(p, &t, BS_ESYNTAX, "%s() takes exactly one column name",
                e->name);
    return e;
}

static bs_cql_expr *parse_cast(parser *p, const recv *r, int selector) {
    bs_cql_token t = expect(p, BS_CQL_TOK_LPAREN);
    bs_cql_expr *e = expr_new(p, BS_CQL_EXPR_CAST, &t);
    e->type = parse_type(p);
    expect(p, BS_CQL_TOK_RPAREN);
    e->items = alloc(p, sizeof *e->items);
    e->n = 1;
    e->items[0] = selector ? parse_selector(p) : parse_term(p, r, e->type);
    return e;
}

static bs_cql_expr *parse_braces(parser *p, const recv *r) {
    bs_cql_token t = expect(p, BS_CQL_TOK_LBRACE);
    if (accept(p, BS_CQL_TOK_RBRACE)) return expr_new(p, BS_CQL_EXPR_EMPTY, &t);
    vec keys = {0}, vals = {0}, fields = {0};
    bs_cql_expr *e;
    if (ident_at(p, 0) && is(p, 1, BS_CQL_TOK_COLON)) {
        e = expr_new(p, BS_CQL_EXPR_UDT, &t);
        do {
            const char *f = ident(p);
            expect(p, BS_CQL_TOK_COLON);
            recv fr = r_field(r, f);
            ppush(p, &fields, f);
            ppush(p, &keys, parse_term(p, &fr, NULL));
        } while (accept(p, BS_CQL_TOK_COMMA));
        expect(p, BS_CQL_TOK_RBRACE);
        finish_items(e, &keys);
        e->fields = fields.v;
        return e;
    }
    recv kr = r_key(r), vr = r_elem(r);
    bs_cql_expr *first = parse_term(p, &kr, NULL);
    ppush(p, &keys, first);
    if (accept(p, BS_CQL_TOK_COLON)) {
        e = expr_new(p, BS_CQL_EXPR_MAP, &t);
        ppush(p, &vals, parse_term(p, &vr, NULL));
        while (accept(p, BS_CQL_TOK_COMMA)) {
            ppush(p, &keys, parse_term(p, &kr, NULL));
            expect(p, BS_CQL_TOK_COLON);
            ppush(p, &vals, parse_term(p, &vr, NULL));
        }
        e->values = vals.v;
    } else {
        e = expr_new(p, BS_CQL_EXPR_SET, &t);
        /* the first element was parsed as if it were a map key */
        if (first->kind == BS_CQL_EXPR_BIND) set_bind_recv(p, first->bind, &vr);
        while (accept(p, BS_CQL_TOK_COMMA))
            ppush(p, &keys, parse_term(p, &vr, NULL));
    }
    expect(p, BS_CQL_TOK_RBRACE);
    finish_items(e, &keys);
    return e;
}

static bs_cql_expr *parse_term(parser *p, const recv *r, const bs_type *cast) {
    enter(p);
    bs_cql_expr *e;
    const bs_cql_token *t = peek(p, 0);
    if (literal_at(p, 0)) {
        e = parse_literal(p);
    } else if (bind_at(p)) {
        e = parse_bind(p, r, cast);
    } else if (t->kind == BS_CQL_TOK_LBRACKET) {
        bs_cql_token lt = next(p);
        e = expr_new(p, BS_CQL_EXPR_LIST, &lt);
        recv er = r_elem(r);
        vec v = {0};
        if (!is(p, 0, BS_CQL_TOK_RBRACKET)) {
            do
                ppush(p, &v, parse_term(p, &er, NULL));
            while (accept(p, BS_CQL_TOK_COMMA));
        }
        expect(p, BS_CQL_TOK_RBRACKET);
        finish_items(e, &v);
    } else if (t->kind == BS_CQL_TOK_LBRACE) {
        e = parse_braces(p, r);
    } else if (cast_at(p)) {
        e = parse_cast(p, r, 0);
    } else if (t->kind == BS_CQL_TOK_LPAREN) {
        bs_cql_token lt = next(p);
        e = expr_new(p, BS_CQL_EXPR_TUPLE, &lt);
        vec v = {0};
        do {
            recv er = r_tuple(r, v.n);
            ppush(p, &v, parse_term(p, &er, NULL));
        } while (accept(p, BS_CQL_TOK_COMMA));
        expect(p, BS_CQL_TOK_RPAREN);
        finish_items(e, &v);
    } else if (kw(p, 0, "null")) {
        bs_cql_token nt = next(p);
        e = expr_new(p, BS_CQL_EXPR_LITERAL, &nt);
        e->lit.kind = BS_LIT_NULL;
        e->lit.text = "null";
        e->lit.len = 4;
    } else if (call_at(p)) {
        e = parse_call(p, 0, r);
    } else {
        fail_noviable(p);
    }
    leave(p);
    return e;
}

static bs_cql_expr *parse_selector(parser *p) {
    enter(p);
    bs_cql_expr *e;
    bs_cql_token t = *peek(p, 0);
    if (kw(p, 0, "count") && is(p, 1, BS_CQL_TOK_LPAREN) &&
        is(p, 2, BS_CQL_TOK_STAR) && is(p, 3, BS_CQL_TOK_RPAREN)) {
        e = expr_new(p, BS_CQL_EXPR_CALL, &t);
        e->name = "count";
        e->star = 1;
        for (int i = 0; i < 4; i++)
            next(p);
    } else if (kw(p, 0, "cast") && is(p, 1, BS_CQL_TOK_LPAREN)) {
        next(p);
        next(p);
        e = expr_new(p, BS_CQL_EXPR_CAST, &t);
        e->sql_cast = 1;
        e->items = alloc(p, sizeof *e->items);
        e->n = 1;
        e->items[0] = parse_selector(p);
        expect_kw(p, "as");
        e->type = parse_type(p);
        expect(p, BS_CQL_TOK_RPAREN);
    } else if (call_at(p)) {
        e = parse_call(p, 1, &RNONE);
    } else if (ident_at(p, 0)) {
        e = expr_new(p, BS_CQL_EXPR_COLUMN, &t);
        e->name = ident(p);
    } else if (cast_at(p)) {
        e = parse_cast(p, &RNONE, 1);
    } else {
        e = parse_term(p, &RNONE, NULL);
    }
    for (;;) {
        bs_cql_token pt = *peek(p, 0);
        if (accept(p, BS_CQL_TOK_DOT)) {
            bs_cql_expr *f = expr_new(p, BS_CQL_EXPR_FIELD, &pt);
            f->name = ident(p);
            f->items = alloc(p, sizeof *f->items);
            f->n = 1;
            f->items[0] = e;
            e = f;
        } else if (accept(p, BS_CQL_TOK_LBRACKET)) {
            bs_cql_expr *f = expr_new(p, BS_CQL_EXPR_ELEM, &pt);
            f->items = alloc(p, 2 * sizeof *f->items);
            f->n = 2;
            f->items[0] = e;
            f->items[1] = parse_term(p, &RNONE, NULL);
            expect(p, BS_CQL_TOK_RBRACKET);
            e = f;
        } else {
            break;
        }
    }
    leave(p);
    return e;
}

/* INTEGER or a marker (LIMIT, TTL, TIMESTAMP values). */
static bs_cql_expr *int_value(parser *p, bs_cql_recv_kind k) {
    if (bind_at(p)) {
        recv r = r_kind(k, NULL);
        return parse_bind(p, &r, NULL);
    }
    if (!is(p, 0, BS_CQL_TOK_INTEGER)) fail_mismatch(p, "INTEGER");
    return parse_literal(p);
}

/* ------------------------------------------------------------------ */
/* relations, conditions, clauses                                      */

static int cmp_op(parser *p, bs_cql_op *op) {
    switch (peek(p, 0)->kind) {
    case BS_CQL_TOK_EQ: *op = BS_CQL_OP_EQ; break;
    case BS_CQL_TOK_NEQ: *op = BS_CQL_OP_NEQ; break;
    case BS_CQL_TOK_LT: *op = BS_CQL_OP_LT; break;
    case BS_CQL_TOK_LTE: *op = BS_CQL_OP_LTE; break;
    case BS_CQL_TOK_GT: *op = BS_CQL_OP_GT; break;
    case BS_CQL_TOK_GTE: *op = BS_CQL_OP_GTE; break;
    default: return 0;
    }
    next(p);
    return 1;
}

static const char **ident_list(parser *p, uint32_t *n) {
    vec v = {0};
    expect(p, BS_CQL_TOK_LPAREN);
    do
        ppush(p, &v, ident(p));
    while (accept(p, BS_CQL_TOK_COMMA));
    expect(p, BS_CQL_TOK_RPAREN);
    *n = v.n;
    return v.v;
}

/* IN (...) list or IN marker; elem/whole are the receivers. */
static void parse_in(parser *p, bs_cql_relation *rel, const recv *elem,
                     const recv *whole) {
    if (bind_at(p)) {
        rel->rhs = parse_bind(p, whole, NULL);
        return;
    }
    if (!is(p, 0, BS_CQL_TOK_LPAREN)) fail_noviable(p);
    next(p);
    rel->in_list = 1;
    vec v = {0};
    if (!is(p, 0, BS_CQL_TOK_RPAREN)) {
        do
            ppush(p, &v, parse_term(p, elem, NULL));
        while (accept(p, BS_CQL_TOK_COMMA));
    }
    expect(p, BS_CQL_TOK_RPAREN);
    rel->in = v.v;
    rel->nin = v.n;
}

/* A WHERE relation (cond = 0) or an IF condition (cond = 1). */
static void parse_relation(parser *p, bs_cql_relation *rel, int cond) {
    bs_cql_token t = *peek(p, 0);
    rel->pos = pos_of(&t);
    if (!cond && kw(p, 0, "token") && is(p, 1, BS_CQL_TOK_LPAREN)) {
        next(p);
        rel->lhs = BS_CQL_LHS_TOKEN;
        rel->cols = ident_list(p, &rel->ncols);
        if (!cmp_op(p, &rel->op)) fail_noviable(p);
        recv r = r_cols(BS_CQL_RECV_TOKEN, rel->ncols, rel->cols);
        rel->rhs = parse_term(p, &r, NULL);
        return;
    }
    if (!cond && t.kind == BS_CQL_TOK_LPAREN) {
        rel->lhs = BS_CQL_LHS_MULTI;
        rel->cols = ident_list(p, &rel->ncols);
        recv multi = r_cols(BS_CQL_RECV_MULTI, rel->ncols, rel->cols);
        if (accept_kw(p, "in")) {
            rel->op = BS_CQL_OP_IN;
            recv whole = r_cols(BS_CQL_RECV_MULTI_IN, rel->ncols, rel->cols);
            parse_in(p, rel, &multi, &whole);
            return;
        }
        if (!cmp_op(p, &rel->op)) fail_noviable(p);
        if (!bind_at(p) && !is(p, 0, BS_CQL_TOK_LPAREN)) fail_noviable(p);
        rel->rhs = parse_term(p, &multi, NULL);
        return;
    }
    rel->lhs = BS_CQL_LHS_COLUMN;
    rel->column = ident(p);
    recv col = r_col(rel->column), val = col;
    if (accept(p, BS_CQL_TOK_LBRACKET)) {
        rel->lhs = BS_CQL_LHS_ELEM;
        recv kr = r_kind(BS_CQL_RECV_KEY, rel->column);
        rel->key = parse_term(p, &kr, NULL);
        expect(p, BS_CQL_TOK_RBRACKET);
        val = r_kind(BS_CQL_RECV_VALUE, rel->column);
    } else if (cond && accept(p, BS_CQL_TOK_DOT)) {
        rel->lhs = BS_CQL_LHS_FIELD;
        rel->field = ident(p);
        val = r_field(&col, rel->field);
    }
    if (accept_kw(p, "in")) {
        rel->op = BS_CQL_OP_IN;
        recv whole = rel->lhs == BS_CQL_LHS_COLUMN
                         ? r_kind(BS_CQL_RECV_IN, rel->column)
                         : RNONE;
        parse_in(p, rel, &val, &whole);
        return;
    }
    if (!cond && rel->lhs == BS_CQL_LHS_COLUMN && kw(p, 0, "contains")) {
        next(p);
        if (accept_kw(p, "key")) {
            rel->op = BS_CQL_OP_CONTAINS_KEY;
            val = r_kind(BS_CQL_RECV_KEY, rel->column);
        } else {
            rel->op = BS_CQL_OP_CONTAINS;
            val = r_kind(BS_CQL_RECV_VALUE, rel->column);
        }
    } else if (!cond && rel->lhs == BS_CQL_LHS_COLUMN && accept_kw(p, "like")) {
        rel->op = BS_CQL_OP_LIKE;
    } else if (!cmp_op(p, &rel->op)) {
        fail_noviable(p);
    }
    rel->rhs = parse_term(p, &val, NULL);
}

static bs_cql_relation *relations(parser *p, uint32_t *n, int cond) {
    vec v = {0};
    do
        parse_relation(p, vpush(p, &v, sizeof(bs_cql_relation)), cond);
    while (accept_kw(p, "and"));
    *n = v.n;
    return v.v;
}

/* [IF EXISTS | IF conditions] */
static void if_clause(parser *p, uint8_t *if_exists, uint32_t *nconds,
                      bs_cql_relation **conds) {
    if (!accept_kw(p, "if")) return;
    if (kw(p, 0, "exists")) {
        bs_cql_tok_kind k = peek(p, 1)->kind;
        if (k != BS_CQL_TOK_EQ && k != BS_CQL_TOK_NEQ && k != BS_CQL_TOK_LT &&
            k != BS_CQL_TOK_LTE && k != BS_CQL_TOK_GT && k != BS_CQL_TOK_GTE &&
            k != BS_CQL_TOK_LBRACKET && k != BS_CQL_TOK_DOT &&
            !kw(p, 1, "in")) {
            next(p);
            *if_exists = 1;
            return;
        }
    }
    *conds = relations(p, nconds, 1);
}

static void using_clause(parser *p, bs_cql_using *u, int ts_only) {
    do {
        bs_cql_token t = *peek(p, 0);
        if (!ts_only && accept_kw(p, "ttl")) {
            if (u->ttl) fail_at(p, &t, BS_ESYNTAX, "duplicate TTL");
            u->ttl = int_value(p, BS_CQL_RECV_TTL);
        } else if (accept_kw(p, "timestamp")) {
            if (u->timestamp) fail_at(p, &t, BS_ESYNTAX, "duplicate TIMESTAMP");
            u->timestamp = int_value(p, BS_CQL_RECV_TIMESTAMP);
        } else {
            fail_mismatch(p, ts_only ? "TIMESTAMP" : "TTL or TIMESTAMP");
        }
    } while (accept_kw(p, "and"));
}

/* Property value: constant, unreserved word (as a string), or map. */
static bs_cql_expr *prop_const(parser *p) {
    if (literal_at(p, 0)) return parse_literal(p);
    if (ident_at(p, 0) && is(p, 0, BS_CQL_TOK_IDENT)) {
        bs_cql_token t = next(p);
        bs_cql_expr *e = expr_new(p, BS_CQL_EXPR_LITERAL, &t);
        e->lit.kind = BS_LIT_STRING;
        e->lit.text = text_of(p, &t, &e->lit.len);
        return e;
    }
    fail_noviable(p);
}

static bs_cql_expr *prop_value(parser *p) {
    if (!is(p, 0, BS_CQL_TOK_LBRACE)) return prop_const(p);
    bs_cql_token t = next(p);
    if (accept(p, BS_CQL_TOK_RBRACE)) return expr_new(p, BS_CQL_EXPR_EMPTY, &t);
    bs_cql_expr *e = expr_new(p, BS_CQL_EXPR_MAP, &t);
    vec k = {0}, v = {0};
    do {
        ppush(p, &k, prop_const(p));
        expect(p, BS_CQL_TOK_COLON);
        ppush(p, &v, prop_const(p));
    } while (accept(p, BS_CQL_TOK_COMMA));
    expect(p, BS_CQL_TOK_RBRACE);
    finish_items(e, &k);
    e->values = v.v;
    return e;
}

/* opts (AND opts)*; with ct, also CLUSTERING ORDER BY and COMPACT
 * STORAGE (rejected). */
static void properties(parser *p, vec *opts, vec *order, int table) {
    do {
        bs_cql_token t = *peek(p, 0);
        if (table && kw(p, 0, "compact") && kw(p, 1, "storage"))
            fail_at(p, &t, BS_ENOTSUP,
                    "COMPACT STORAGE tables are not supported by Basalt");
        if (order && kw(p, 0, "clustering") && kw(p, 1, "order")) {
            next(p);
            next(p);
            expect_kw(p, "by");
            expect(p, BS_CQL_TOK_LPAREN);
            do {
                bs_cql_order *o = vpush(p, order, sizeof *o);
                o->column = ident(p);
                if (accept_kw(p, "desc"))
                    o->desc = 1;
                else if (!accept_kw(p, "asc"))
                    fail_mismatch(p, "ASC or DESC");
            } while (accept(p, BS_CQL_TOK_COMMA));
            expect(p, BS_CQL_TOK_RPAREN);
            continue;
        }
        if (opts->n >= BS_CQL_MAX_OPTIONS)
            fail_at(p, &t, BS_ESYNTAX, "too many properties (more than %d)",
                    BS_CQL_MAX_OPTIONS);
        const char *name = ident(p);
        for (uint32_t i = 0; i < opts->n; i++)
            if (streq(((bs_cql_option *)opts->v)[i].name, name))
                fail_at(p, &t, BS_ESYNTAX,
                        "Multiple definition for property '%s'", name);
        expect(p, BS_CQL_TOK_EQ);
        bs_cql_option *o = vpush(p, opts, sizeof *o);
        o->name = name;
        o->value = prop_value(p);
    } while (accept_kw(p, "and"));
}

static int if_not_exists(parser *p) {
    if (!kw(p, 0, "if")) return 0;
    next(p);
    expect_kw(p, "not");
    expect_kw(p, "exists");
    return 1;
}
static int if_exists(parser *p) {
    if (!kw(p, 0, "if")) return 0;
    next(p);
    expect_kw(p, "exists");
    return 1;
}

/* ------------------------------------------------------------------ */
/* statements                                                          */

static bs_cql_stmt *stmt_new(parser *p, bs_cql_stmt_kind k,
                             const bs_cql_token *t) {
    bs_cql_stmt *s = alloc(p, sizeof *s);
    s->kind = k;
    s->pos = pos_of(t);
    s->text = p->src + t->off;
    return s;
}

static void parse_select(parser *p, bs_cql_select *s) {
    static const char *const mods[] = {"json", "distinct"};
    for (int i = 0; i < 2; i++) {
        if (!kw(p, 0, mods[i])) continue;
        bs_cql_tok_kind k = peek(p, 1)->kind;
        if (kw(p, 1, "from") || kw(p, 1, "as") || k == BS_CQL_TOK_COMMA ||
            k == BS_CQL_TOK_DOT || k == BS_CQL_TOK_LPAREN ||
            k == BS_CQL_TOK_LBRACKET)
            break; /* a column with that name */
        next(p);
        if (i == 0)
            s->json = 1;
        else
            s->distinct = 1;
    }
    if (accept(p, BS_CQL_TOK_STAR)) {
        s->star = 1;
    } else {
        vec v = {0};
        do {
            bs_cql_selector *sel = vpush(p, &v, sizeof *sel);
            sel->expr = parse_selector(p);
            if (accept_kw(p, "as")) sel->alias = ident(p);
        } while (accept(p, BS_CQL_TOK_COMMA));
        s->sel = v.v;
        s->nsel = v.n;
    }
    expect_kw(p, "from");
    s->table = qname(p);
    if (accept_kw(p, "where")) s->where = relations(p, &s->nwhere, 0);
    if (kw(p, 0, "group") && kw(p, 1, "by")) {
        next(p);
        next(p);
        vec v = {0};
        do
            ppush(p, &v, ident(p));
        while (accept(p, BS_CQL_TOK_COMMA));
        s->group = v.v;
        s->ngroup = v.n;
    }
    if (accept_kw(p, "order")) {
        expect_kw(p, "by");
        vec v = {0};
        do {
            bs_cql_order *o = vpush(p, &v, sizeof *o);
            o->column = ident(p);
            if (accept_kw(p, "desc"))
                o->desc = 1;
            else
                accept_kw(p, "asc");
        } while (accept(p, BS_CQL_TOK_COMMA));
        s->order = v.v;
        s->norder = v.n;
    }
    if (kw(p, 0, "per") && kw(p, 1, "partition")) {
        next(p);
        next(p);
        expect_kw(p, "limit");
        s->per_partition_limit = int_value(p, BS_CQL_RECV_PER_PARTITION_LIMIT);
    }
    if (accept_kw(p, "limit")) s->limit = int_value(p, BS_CQL_RECV_LIMIT);
    if (accept_kw(p, "allow")) {
        expect_kw(p, "filtering");
        s->allow_filtering = 1;
    }
}

static void parse_insert(parser *p, bs_cql_insert *s) {
    expect_kw(p, "into");
    s->table = qname(p);
    if (accept_kw(p, "json")) {
        if (bind_at(p)) {
            recv r = r_kind(BS_CQL_RECV_JSON, NULL);
            s->json = parse_bind(p, &r, NULL);
        } else {
            if (!is(p, 0, BS_CQL_TOK_STRING))
                fail_mismatch(p, "STRING_LITERAL");
            s->json = parse_literal(p);
        }
        if (accept_kw(p, "default")) {
            if (accept_kw(p, "unset"))
                s->json_default_unset = 1;
            else
                expect_kw(p, "null");
        }
    } else {
        bs_cql_token t = *peek(p, 0);
        s->cols = ident_list(p, &s->ncols);
        expect_kw(p, "values");
        expect(p, BS_CQL_TOK_LPAREN);
        vec v = {0};
        do {
            recv r = v.n < s->ncols ? r_col(s->cols[v.n]) : RNONE;
            ppush(p, &v, parse_term(p, &r, NULL));
        } while (accept(p, BS_CQL_TOK_COMMA));
        expect(p, BS_CQL_TOK_RPAREN);
        s->values = v.v;
        if (v.n != s->ncols)
            fail_at(p, &t, BS_EINVAL, "Unmatched column names/values");
    }
    if (kw(p, 0, "if")) {
        next(p);
        expect_kw(p, "not");
        expect_kw(p, "exists");
        s->if_not_exists = 1;
    }
    if (accept_kw(p, "using")) using_clause(p, &s->using, 0);
}

/* Negative number token usable as "c = c -1" (binary minus). */
static int neg_number_at(parser *p, unsigned k) {
    const bs_cql_token *t = peek(p, k);
    return (t->kind == BS_CQL_TOK_INTEGER || t->kind == BS_CQL_TOK_FLOAT ||
            t->kind == BS_CQL_TOK_DURATION) &&
           p->src[t->off] == '-';
}

static void parse_assignment(parser *p, bs_cql_assign *as) {
    as->column = ident(p);
    recv col = r_col(as->column);
    if (accept(p, BS_CQL_TOK_LBRACKET)) {
        as->kind = BS_CQL_ASSIGN_SET_ELEM;
        recv kr = r_kind(BS_CQL_RECV_KEY, as->column);
        as->key = parse_term(p, &kr, NULL);
        expect(p, BS_CQL_TOK_RBRACKET);
        expect(p, BS_CQL_TOK_EQ);
        recv vr = r_kind(BS_CQL_RECV_VALUE, as->column);
        as->value = parse_term(p, &vr, NULL);
        return;
    }
    if (accept(p, BS_CQL_TOK_DOT)) {
        as->kind = BS_CQL_ASSIGN_SET_FIELD;
        as->field = ident(p);
        expect(p, BS_CQL_TOK_EQ);
        recv fr = r_field(&col, as->field);
        as->value = parse_term(p, &fr, NULL);
        return;
    }
    if (is(p, 0, BS_CQL_TOK_PLUS_EQ) || is(p, 0, BS_CQL_TOK_MINUS_EQ)) {
        as->kind = next(p).kind == BS_CQL_TOK_PLUS_EQ ? BS_CQL_ASSIGN_ADD
                                                      : BS_CQL_ASSIGN_SUB;
        as->value = parse_term(p, &col, NULL);
        return;
    }
    expect(p, BS_CQL_TOK_EQ);
    if (ident_at(p, 0) && !kw(p, 0, "null") &&
        (is(p, 1, BS_CQL_TOK_PLUS) || is(p, 1, BS_CQL_TOK_MINUS) ||
         neg_number_at(p, 1))) {
        bs_cql_token ot = *peek(p, 0);
        const char *other = ident(p);
        if (!streq(other, as->column))
            fail_at(
                p, &ot, BS_EINVAL,
                "Only expressions of the form X = X +<value> are supported.");
        if (accept(p, BS_CQL_TOK_PLUS)) {
            as->kind = BS_CQL_ASSIGN_ADD;
            as->value = parse_term(p, &col, NULL);
        } else if (accept(p, BS_CQL_TOK_MINUS)) {
            as->kind = BS_CQL_ASSIGN_SUB;
            as->value = parse_term(p, &col, NULL);
        } else { /* "c = c -1": the lexer glued the sign to the number */
            as->kind = BS_CQL_ASSIGN_SUB;
            as->value = parse_literal(p);
            as->value->lit.text++;
            as->value->lit.len--;
            as->value->pos.col++;
        }
        return;
    }
    as->kind = BS_CQL_ASSIGN_SET;
    as->value = parse_term(p, &col, NULL);
    if (accept(p, BS_CQL_TOK_PLUS)) {
        bs_cql_token ot = *peek(p, 0);
        const char *other = ident(p);
        if (!streq(other, as->column))
            fail_at(
                p, &ot, BS_EINVAL,
                "Only expressions of the form X = <value> + X are supported.");
        as->kind = BS_CQL_ASSIGN_PREPEND;
    }
}

static void parse_update(parser *p, bs_cql_update *s) {
    s->table = qname(p);
    if (accept_kw(p, "using")) using_clause(p, &s->using, 0);
    expect_kw(p, "set");
    vec v = {0};
    do
        parse_assignment(p, vpush(p, &v, sizeof(bs_cql_assign)));
    while (accept(p, BS_CQL_TOK_COMMA));
    s->assign = v.v;
    s->nassign = v.n;
    expect_kw(p, "where");
    s->where = relations(p, &s->nwhere, 0);
    if_clause(p, &s->if_exists, &s->nconds, &s->conds);
}

static void parse_delete(parser *p, bs_cql_delete *s) {
    if (!kw(p, 0, "from")) {
        vec v = {0};
        do {
            bs_cql_deletion *d = vpush(p, &v, sizeof *d);
            d->column = ident(p);
            if (accept(p, BS_CQL_TOK_LBRACKET)) {
                recv kr = r_kind(BS_CQL_RECV_KEY, d->column);
                d->key = parse_term(p, &kr, NULL);
                expect(p, BS_CQL_TOK_RBRACKET);
            } else if (accept(p, BS_CQL_TOK_DOT)) {
                d->field = ident(p);
            }
        } while (accept(p, BS_CQL_TOK_COMMA));
        s->cols = v.v;
        s->ncols = v.n;
    }
    expect_kw(p, "from");
    s->table = qname(p);
    if (accept_kw(p, "using")) using_clause(p, &s->using, 1);
    expect_kw(p, "where");
    s->where = relations(p, &s->nwhere, 0);
    if_clause(p, &s->if_exists, &s->nconds, &s->conds);
}

static bs_cql_stmt *parse_statement(parser *p, int in_batch);

static void parse_batch(parser *p, bs_cql_batch *s) {
    if (accept_kw(p, "unlogged"))
        s->kind = BS_CQL_BATCH_UNLOGGED;
    else if (accept_kw(p, "counter"))
        s->kind = BS_CQL_BATCH_COUNTER;
    expect_kw(p, "batch");
    if (accept_kw(p, "using")) using_clause(p, &s->using, 1);
    vec v = {0};
    while (!kw(p, 0, "apply")) {
        if (!kw(p, 0, "insert") && !kw(p, 0, "update") && !kw(p, 0, "delete"))
            fail_mismatch(p, "INSERT, UPDATE, DELETE or APPLY");
        ppush(p, &v, parse_statement(p, 1));
        accept(p, BS_CQL_TOK_SEMI);
    }
    next(p);
    expect_kw(p, "batch");
    s->stmts = v.v;
    s->nstmts = v.n;
}

static bs_cql_coldef *coldef(parser *p, bs_cql_coldef *c, int statics) {
    c->name = ident(p);
    c->type = parse_type(p);
    if (statics && accept_kw(p, "static")) c->is_static = 1;
    return c;
}

static void parse_create_table(parser *p, bs_cql_create_table *s,
                               const bs_cql_token *start) {
    s->if_not_exists = (uint8_t)if_not_exists(p);
    s->table = qname(p);
    expect(p, BS_CQL_TOK_LPAREN);
    vec cols = {0}, pk = {0}, ck = {0};
    int npk_defs = 0;
    bs_cql_token pk_tok = *start;
    do {
        if (is(p, 0, BS_CQL_TOK_RPAREN)) break; /* trailing comma */
        if (kw(p, 0, "primary")) {
            pk_tok = next(p);
            expect_kw(p, "key");
            npk_defs++;
            expect(p, BS_CQL_TOK_LPAREN);
            if (accept(p, BS_CQL_TOK_LPAREN)) {
                do
                    ppush(p, &pk, ident(p));
                while (accept(p, BS_CQL_TOK_COMMA));
                expect(p, BS_CQL_TOK_RPAREN);
            } else {
                ppush(p, &pk, ident(p));
            }
            while (accept(p, BS_CQL_TOK_COMMA))
                ppush(p, &ck, ident(p));
            expect(p, BS_CQL_TOK_RPAREN);
            continue;
        }
        bs_cql_coldef *c = coldef(p, vpush(p, &cols, sizeof(bs_cql_coldef)), 1);
        if (kw(p, 0, "primary")) {
            pk_tok = next(p);
            expect_kw(p, "key");
            npk_defs++;
            ppush(p, &pk, c->name);
        }
    } while (accept(p, BS_CQL_TOK_COMMA));
    expect(p, BS_CQL_TOK_RPAREN);
    if (npk_defs == 0)
        fail_at(p, start, BS_EINVAL,
                "No PRIMARY KEY specifed for table '%s' (exactly one required)",
                s->table.name);
    if (npk_defs > 1)
        fail_at(p, &pk_tok, BS_EINVAL,
                "Multiple PRIMARY KEYs specifed (exactly one required)");
    s->cols = cols.v;
    s->ncols = cols.n;
    s->pk = pk.v;
    s->npk = pk.n;
    s->ck = ck.v;
    s->nck = ck.n;
    if (accept_kw(p, "with")) {
        vec opts = {0}, order = {0};
        properties(p, &opts, &order, 1);
        s->opts = opts.v;
        s->nopts = opts.n;
        s->order = order.v;
        s->norder = order.n;
    }
}

static void parse_alter(parser *p, bs_cql_alter *s, int type) {
    s->name = qname(p);
    bs_cql_token t = *peek(p, 0);
    if (accept_kw(p, "add")) {
        s->kind = BS_CQL_ALTER_ADD;
        vec v = {0};
        if (accept(p, BS_CQL_TOK_LPAREN)) {
            do
                coldef(p, vpush(p, &v, sizeof(bs_cql_coldef)), !type);
            while (accept(p, BS_CQL_TOK_COMMA));
            expect(p, BS_CQL_TOK_RPAREN);
        } else {
            do
                coldef(p, vpush(p, &v, sizeof(bs_cql_coldef)), !type);
            while (accept(p, BS_CQL_TOK_COMMA));
        }
        s->cols = v.v;
        s->ncols = v.n;
    } else if (accept_kw(p, "rename")) {
        s->kind = BS_CQL_ALTER_RENAME;
        vec f = {0}, to = {0};
        do {
            ppush(p, &f, ident(p));
            expect_kw(p, "to");
            ppush(p, &to, ident(p));
        } while (accept_kw(p, "and"));
        s->from = f.v;
        s->to = to.v;
        s->nrename = f.n;
    } else if (!type && kw(p, 0, "drop")) {
        next(p);
        if (kw(p, 0, "compact") && kw(p, 1, "storage"))
            fail_at(
                p, &t, BS_ENOTSUP,
                "ALTER TABLE DROP COMPACT STORAGE is not supported by Basalt");
        s->kind = BS_CQL_ALTER_DROP;
        vec v = {0};
        if (is(p, 0, BS_CQL_TOK_LPAREN)) {
            s->drop = ident_list(p, &s->ndrop);
        } else {
            do
                ppush(p, &v, ident(p));
            while (accept(p, BS_CQL_TOK_COMMA));
            s->drop = v.v;
            s->ndrop = v.n;
        }
    } else if (!type && accept_kw(p, "with")) {
        s->kind = BS_CQL_ALTER_WITH;
        vec opts = {0};
        properties(p, &opts, NULL, 1);
        s->opts = opts.v;
        s->nopts = opts.n;
    } else if (kw(p, 0, "alter")) {
        fail_at(p, &t, BS_ENOTSUP,
                "Altering column types is not supported by Basalt");
    } else {
        fail_noviable(p);
    }
}

_Noreturn static void unsupported(parser *p, const bs_cql_token *t,
                                  const char *what) {
    fail_at(p, t, BS_ENOTSUP, "%s is not supported by Basalt", what);
}

/* DESCRIBE [FULL] SCHEMA | KEYSPACES | [ONLY] KEYSPACE [k] | TABLES |
 * TABLE [k.]t | CLUSTER | TYPES | TYPE [k.]t | FUNCTIONS | FUNCTION [k.]f |
 * AGGREGATES | AGGREGATE [k.]a | [k.]name  (after DESCRIBE) */
static void parse_describe(parser *p, const bs_cql_token *t, bs_cql_describe *d) {
    d->full = (uint8_t)accept_kw(p, "full");
    if (accept_kw(p, "schema")) {
        d->what = BS_CQL_DESC_SCHEMA;
    } else if (accept_kw(p, "keyspaces")) {
        d->what = BS_CQL_DESC_KEYSPACES;
    } else if (kw(p, 0, "only") || kw(p, 0, "keyspace")) {
        d->only = (uint8_t)accept_kw(p, "only");
        expect_kw(p, "keyspace");
        d->what = BS_CQL_DESC_KEYSPACE;
        if (ident_at(p, 0)) d->name.name = ident(p);
    } else if (accept_kw(p, "tables")) {
        d->what = BS_CQL_DESC_TABLES;
    } else if (accept_kw(p, "table") || accept_kw(p, "columnfamily")) {
        d->what = BS_CQL_DESC_TABLE;
        d->name = qname(p);
    } else if (accept_kw(p, "cluster")) {
        d->what = BS_CQL_DESC_CLUSTER;
    } else if (accept_kw(p, "types")) {
        d->what = BS_CQL_DESC_TYPES;
    } else if (accept_kw(p, "functions")) {
        d->what = BS_CQL_DESC_FUNCTIONS;
    } else if (accept_kw(p, "aggregates")) {
        d->what = BS_CQL_DESC_AGGREGATES;
    } else if (kw(p, 0, "type") || kw(p, 0, "function") || kw(p, 0, "aggregate")) {
        d->what = accept_kw(p, "type")       ? BS_CQL_DESC_TYPE
                  : accept_kw(p, "function") ? BS_CQL_DESC_FUNCTION
                                             : (accept_kw(p, "aggregate"), BS_CQL_DESC_AGGREGATE);
        d->name = qname(p);
    } else if (kw(p, 0, "index") || kw(p, 0, "materialized")) {
        unsupported(p, t, "DESCRIBE of indexes and materialized views");
    } else {
        d->what = BS_CQL_DESC_NAME;
        d->name = qname(p);
    }
}

/* ------------------------------------------------------------------ */
/* roles and permissions (Cassandra's grammar)                          */

/* A role name: identifier (lower-cased), "quoted" or 'string'. */
static const char *role_name(parser *p) {
    bs_cql_token t = *peek(p, 0);
    if (t.kind != BS_CQL_TOK_STRING && !ident_at(p, 0)) fail_noviable(p);
    next(p);
    const char *s = name_text(p, &t);
    if (!s[0]) fail_at(p, &t, BS_ESYNTAX, "Role name can't be an empty string");
    return s;
}

static int bool_word(parser *p) {
    if (!is(p, 0, BS_CQL_TOK_BOOL)) fail_mismatch(p, "a boolean");
    bs_cql_token t = next(p);
    char c0 = p->src[t.off];
    return c0 == 't' || c0 == 'T';
}

static const char *password_literal(parser *p) {
    bs_cql_token t = *peek(p, 0);
    if (t.kind != BS_CQL_TOK_STRING) fail_mismatch(p, "a string literal");
    next(p);
    return name_text(p, &t);
}

/* WITH PASSWORD = 's' AND LOGIN = b AND SUPERUSER = b (after ROLE name) */
static void role_options(parser *p, bs_cql_role *r) {
    if (!accept_kw(p, "with")) return;
    do {
        bs_cql_token t = *peek(p, 0);
        if (accept_kw(p, "password")) {
            if (r->password) fail_at(p, &t, BS_ESYNTAX, "Multiple definition for property 'password'");
            expect(p, BS_CQL_TOK_EQ);
            r->password = password_literal(p);
        } else if (accept_kw(p, "login")) {
            if (r->login >= 0) fail_at(p, &t, BS_ESYNTAX, "Multiple definition for property 'login'");
            expect(p, BS_CQL_TOK_EQ);
            r->login = (int8_t)bool_word(p);
        } else if (accept_kw(p, "superuser")) {
            if (r->superuser >= 0)
                fail_at(p, &t, BS_ESYNTAX, "Multiple definition for property 'superuser'");
            expect(p, BS_CQL_TOK_EQ);
            r->superuser = (int8_t)bool_word(p);
        } else if (kw(p, 0, "options") || kw(p, 0, "access")) {
            unsupported(p, &t, "Role OPTIONS and ACCESS TO DATACENTERS");
        } else {
            fail_mismatch(p, "PASSWORD, LOGIN or SUPERUSER");
        }
    } while (accept_kw(p, "and"));
}

/* USER name [WITH PASSWORD 's'] [SUPERUSER | NOSUPERUSER] (the old
 * syntax; CREATE USER means LOGIN = true) */
static void user_options(parser *p, bs_cql_role *r) {
    if (accept_kw(p, "with")) {
        expect_kw(p, "password");
        r->password = password_literal(p);
    }
    if (accept_kw(p, "superuser"))
        r->superuser = 1;
    else if (accept_kw(p, "nosuperuser"))
        r->superuser = 0;
}

static bs_cql_stmt *role_stmt(parser *p, bs_cql_stmt_kind k, const bs_cql_token *t) {
    bs_cql_stmt *s = stmt_new(p, k, t);
    s->u.role.login = -1;
    s->u.role.superuser = -1;
    return s;
}

/* after CREATE / ALTER / DROP, at ROLE or USER */
static bs_cql_stmt *parse_role_ddl(parser *p, bs_cql_stmt_kind k, const bs_cql_token *t) {
    int user = kw(p, 0, "user");
    next(p);
    bs_cql_stmt *s = role_stmt(p, k, t);
    bs_cql_role *r = &s->u.role;
    if (k == BS_CQL_STMT_CREATE_ROLE) r->if_not_exists = (uint8_t)if_not_exists(p);
    if (k == BS_CQL_STMT_DROP_ROLE) r->if_exists = (uint8_t)if_exists(p);
    r->role = role_name(p);
    if (k == BS_CQL_STMT_DROP_ROLE) return s;
    if (user) {
        user_options(p, r);
        if (k == BS_CQL_STMT_CREATE_ROLE) {
            r->login = 1;
            if (r->superuser < 0) r->superuser = 0;
        }
    } else {
        role_options(p, r);
    }
    return s;
}

/* ALL [PERMISSIONS] | perm [PERMISSION] */
static uint8_t permission(parser *p) {
    static const struct {
        const char *w;
        uint8_t bit;
    } perms[] = {{"create", BS_CQL_PERM_CREATE}, {"alter", BS_CQL_PERM_ALTER},
                 {"drop", BS_CQL_PERM_DROP},     {"select", BS_CQL_PERM_SELECT},
                 {"modify", BS_CQL_PERM_MODIFY}, {"authorize", BS_CQL_PERM_AUTHORIZE}};
    bs_cql_token t = *peek(p, 0);
    if (accept_kw(p, "all")) {
        accept_kw(p, "permissions");
        return BS_CQL_PERM_ALL;
    }
    for (size_t i = 0; i < sizeof perms / sizeof perms[0]; i++)
        if (accept_kw(p, perms[i].w)) {
            accept_kw(p, "permission");
            return perms[i].bit;
        }
    if (kw(p, 0, "describe") || kw(p, 0, "execute") || kw(p, 0, "unmask") ||
        kw(p, 0, "select_masked"))
        unsupported(p, &t, "This permission");
    fail_mismatch(p, "a permission");
}

/* ALL KEYSPACES | KEYSPACE k | [TABLE] [k.]t (after ON) */
static void resource(parser *p, bs_cql_role *r) {
    bs_cql_token t = *peek(p, 0);
    if (kw(p, 0, "all") && kw(p, 1, "keyspaces")) {
        next(p);
        next(p);
        r->res = BS_CQL_RES_ALL_KEYSPACES;
    } else if (kw(p, 0, "all") || kw(p, 0, "role") || kw(p, 0, "function") ||
               kw(p, 0, "mbean") || kw(p, 0, "mbeans")) {
        unsupported(p, &t, "Permissions on roles, functions and MBeans");
    } else if (accept_kw(p, "keyspace")) {
        r->res = BS_CQL_RES_KEYSPACE;
        r->resource.name = ident(p);
    } else {
        if (kw(p, 0, "table") && (ident_at(p, 1))) next(p);
        r->res = BS_CQL_RES_TABLE;
        r->resource = qname(p);
    }
}

/* GRANT perm ON res TO r | REVOKE perm ON res FROM r (after the verb) */
static bs_cql_stmt *parse_grant(parser *p, bs_cql_stmt_kind k, const bs_cql_token *t) {
    bs_cql_stmt *s = role_stmt(p, k, t);
    bs_cql_role *r = &s->u.role;
    if (!kw(p, 1, "on") && !kw(p, 2, "on") && ident_at(p, 0))
        unsupported(p, t, "Granting roles to roles");
    r->perms = permission(p);
    expect_kw(p, "on");
    resource(p, r);
    expect_kw(p, k == BS_CQL_STMT_GRANT ? "to" : "from");
    r->role = role_name(p);
    return s;
}

/* LIST ROLES [OF r] [NORECURSIVE] | LIST USERS |
 * LIST perm [ON res] [OF r] [NORECURSIVE] (after LIST) */
static bs_cql_stmt *parse_list(parser *p, const bs_cql_token *t) {
    bs_cql_stmt *s;
    if (kw(p, 0, "roles") || kw(p, 0, "users")) {
        s = role_stmt(p, BS_CQL_STMT_LIST_ROLES, t);
        s->u.role.users = (uint8_t)kw(p, 0, "users");
        next(p);
    } else {
        s = role_stmt(p, BS_CQL_STMT_LIST_PERMISSIONS, t);
        s->u.role.perms = permission(p);
        if (accept_kw(p, "on")) resource(p, &s->u.role);
    }
    if (!s->u.role.users && accept_kw(p, "of")) s->u.role.role = role_name(p);
    if (!s->u.role.users && accept_kw(p, "norecursive")) s->u.role.norecursive = 1;
    return s;
}

static bs_cql_stmt *parse_create(parser *p, const bs_cql_token *t) {
    bs_cql_stmt *s;
    if (accept_kw(p, "keyspace") || accept_kw(p, "schema")) {
        s = stmt_new(p, BS_CQL_STMT_CREATE_KEYSPACE, t);
        s->u.keyspace.if_not_exists = (uint8_t)if_not_exists(p);
        s->u.keyspace.name = ident(p);
        expect_kw(p, "with");
        vec opts = {0};
        properties(p, &opts, NULL, 0);
        s->u.keyspace.opts = opts.v;
        s->u.keyspace.nopts = opts.n;
    } else if (accept_kw(p, "table") || accept_kw(p, "columnfamily")) {
        s = stmt_new(p, BS_CQL_STMT_CREATE_TABLE, t);
        parse_create_table(p, &s->u.create_table, t);
    } else if (accept_kw(p, "type")) {
        s = stmt_new(p, BS_CQL_STMT_CREATE_TYPE, t);
        bs_cql_create_type *ct = &s->u.create_type;
        ct->if_not_exists = (uint8_t)if_not_exists(p);
        ct->name = qname(p);
        expect(p, BS_CQL_TOK_LPAREN);
        vec v = {0};
        do
            coldef(p, vpush(p, &v, sizeof(bs_cql_coldef)), 0);
        while (accept(p, BS_CQL_TOK_COMMA));
        expect(p, BS_CQL_TOK_RPAREN);
        ct->fields = v.v;
        ct->nfields = v.n;
    } else if (kw(p, 0, "index") || (kw(p, 0, "custom") && kw(p, 1, "index"))) {
        unsupported(p, t, "CREATE INDEX");
    } else if (kw(p, 0, "materialized")) {
        unsupported(p, t, "CREATE MATERIALIZED VIEW");
    } else if (kw(p, 0, "function") || (kw(p, 0, "or") && kw(p, 1, "replace") &&
                                        kw(p, 2, "function"))) {
        unsupported(p, t, "CREATE FUNCTION");
    } else if (kw(p, 0, "aggregate") ||
               (kw(p, 0, "or") && kw(p, 1, "replace") &&
                kw(p, 2, "aggregate"))) {
        unsupported(p, t, "CREATE AGGREGATE");
    } else if (kw(p, 0, "trigger")) {
        unsupported(p, t, "CREATE TRIGGER");
    } else if (kw(p, 0, "role") || kw(p, 0, "user")) {
        s = parse_role_ddl(p, BS_CQL_STMT_CREATE_ROLE, t);
    } else {
        fail_noviable(p);
    }
    return s;
}

static bs_cql_stmt *parse_drop(parser *p, const bs_cql_token *t) {
    bs_cql_stmt *s;
    if (accept_kw(p, "keyspace") || accept_kw(p, "schema")) {
        s = stmt_new(p, BS_CQL_STMT_DROP_KEYSPACE, t);
        s->u.drop.if_exists = (uint8_t)if_exists(p);
        s->u.drop.name.name = ident(p);
    } else if (accept_kw(p, "table") || accept_kw(p, "columnfamily")) {
        s = stmt_new(p, BS_CQL_STMT_DROP_TABLE, t);
        s->u.drop.if_exists = (uint8_t)if_exists(p);
        s->u.drop.name = qname(p);
    } else if (accept_kw(p, "type")) {
        s = stmt_new(p, BS_CQL_STMT_DROP_TYPE, t);
        s->u.drop.if_exists = (uint8_t)if_exists(p);
        s->u.drop.name = qname(p);
    } else if (kw(p, 0, "index")) {
        unsupported(p, t, "DROP INDEX");
    } else if (kw(p, 0, "materialized")) {
        unsupported(p, t, "DROP MATERIALIZED VIEW");
    } else if (kw(p, 0, "function")) {
        unsupported(p, t, "DROP FUNCTION");
    } else if (kw(p, 0, "aggregate")) {
        unsupported(p, t, "DROP AGGREGATE");
    } else if (kw(p, 0, "trigger")) {
        unsupported(p, t, "DROP TRIGGER");
    } else if (kw(p, 0, "role") || kw(p, 0, "user")) {
        s = parse_role_ddl(p, BS_CQL_STMT_DROP_ROLE, t);
    } else {
        fail_noviable(p);
    }
    return s;
}

static bs_cql_stmt *parse_alter_stmt(parser *p, const bs_cql_token *t) {
    bs_cql_stmt *s;
    if (accept_kw(p, "keyspace") || accept_kw(p, "schema")) {
        s = stmt_new(p, BS_CQL_STMT_ALTER_KEYSPACE, t);
        s->u.keyspace.name = ident(p);
        expect_kw(p, "with");
        vec opts = {0};
        properties(p, &opts, NULL, 0);
        s->u.keyspace.opts = opts.v;
        s->u.keyspace.nopts = opts.n;
    } else if (accept_kw(p, "table") || accept_kw(p, "columnfamily")) {
        s = stmt_new(p, BS_CQL_STMT_ALTER_TABLE, t);
        parse_alter(p, &s->u.alter, 0);
    } else if (accept_kw(p, "type")) {
        s = stmt_new(p, BS_CQL_STMT_ALTER_TYPE, t);
        parse_alter(p, &s->u.alter, 1);
    } else if (kw(p, 0, "materialized")) {
        unsupported(p, t, "ALTER MATERIALIZED VIEW");
    } else if (kw(p, 0, "role") || kw(p, 0, "user")) {
        s = parse_role_ddl(p, BS_CQL_STMT_ALTER_ROLE, t);
    } else {
        fail_noviable(p);
    }
    return s;
}

static bs_cql_stmt *parse_statement(parser *p, int in_batch) {
    bs_cql_token t = *peek(p, 0);
    bs_cql_stmt *s = NULL;
    if (!in_batch) {
        p->nhist = 0;
        p->binds.v = NULL;
        p->binds.n = p->binds.cap = 0;
    }
    if (t.kind != BS_CQL_TOK_IDENT) fail_noviable(p);
    if (kw(p, 0, "select")) {
        next(p);
        s = stmt_new(p, BS_CQL_STMT_SELECT, &t);
        parse_select(p, &s->u.select);
    } else if (kw(p, 0, "insert")) {
        next(p);
        s = stmt_new(p, BS_CQL_STMT_INSERT, &t);
        parse_insert(p, &s->u.insert);
    } else if (kw(p, 0, "update")) {
        next(p);
        s = stmt_new(p, BS_CQL_STMT_UPDATE, &t);
        parse_update(p, &s->u.update);
    } else if (kw(p, 0, "delete")) {
        next(p);
        s = stmt_new(p, BS_CQL_STMT_DELETE, &t);
        parse_delete(p, &s->u.del);
    } else if (in_batch) {
        fail_noviable(p);
    } else if (kw(p, 0, "begin")) {
        next(p);
        s = stmt_new(p, BS_CQL_STMT_BATCH, &t);
        parse_batch(p, &s->u.batch);
    } else if (kw(p, 0, "use")) {
        next(p);
        s = stmt_new(p, BS_CQL_STMT_USE, &t);
        s->u.use.keyspace = ident(p);
    } else if (kw(p, 0, "create")) {
        next(p);
        s = parse_create(p, &t);
    } else if (kw(p, 0, "alter")) {
        next(p);
        s = parse_alter_stmt(p, &t);
    } else if (kw(p, 0, "drop")) {
        next(p);
        s = parse_drop(p, &t);
    } else if (kw(p, 0, "truncate")) {
        next(p);
        s = stmt_new(p, BS_CQL_STMT_TRUNCATE, &t);
        if (!accept_kw(p, "table")) accept_kw(p, "columnfamily");
        s->u.drop.name = qname(p);
    } else if (kw(p, 0, "grant")) {
        next(p);
        s = parse_grant(p, BS_CQL_STMT_GRANT, &t);
    } else if (kw(p, 0, "revoke")) {
        next(p);
        s = parse_grant(p, BS_CQL_STMT_REVOKE, &t);
    } else if (kw(p, 0, "list")) {
        next(p);
        s = parse_list(p, &t);
    } else if (kw(p, 0, "describe") || kw(p, 0, "desc")) {
        next(p);
        s = stmt_new(p, BS_CQL_STMT_DESCRIBE, &t);
        parse_describe(p, &t, &s->u.describe);
    } else {
        fail_noviable(p);
    }
    s->len = p->last_end - t.off;
    if (!in_batch) {
        s->binds = p->binds.v;
        s->nbinds = p->binds.n;
    }
    return s;
}

/* ------------------------------------------------------------------ */
/* entry points                                                        */

static int setup(parser *p, bs_arena *a, const char *text, size_t len) {
    memset(p, 0, sizeof *p);
    p->a = a;
    if (len > BS_CQL_MAX_TEXT) {
        p->err.code = BS_ETOOBIG;
        snprintf(p->err.msg, sizeof p->err.msg,
                 "statement text of %zu bytes is too big", len);
        return BS_ETOOBIG;
    }
    char *copy = bs_arena_alloc(a, len + 1);
    if (!copy) {
        p->err.code = BS_ENOMEM;
        snprintf(p->err.msg, sizeof p->err.msg, "out of memory");
        return BS_ENOMEM;
    }
    if (len) memcpy(copy, text, len);
    copy[len] = 0;
    p->src = copy;
    p->len = len;
    bs_cql_lex_init(&p->lx, copy, len);
    return 0;
}

static int finish(parser *p, int rc, bs_cql_error *err) {
    if (err) {
        if (rc)
            *err = p->err;
        else
            memset(err, 0, sizeof *err);
    }
    return rc;
}

static int run_one(parser *p, bs_cql_stmt **out) {
    if (setjmp(p->jb)) return p->err.code ? p->err.code : BS_ESYNTAX;
    bs_cql_stmt *s = parse_statement(p, 0);
    accept(p, BS_CQL_TOK_SEMI);
    if (!is(p, 0, BS_CQL_TOK_EOF)) fail_mismatch(p, "EOF");
    *out = s;
    return 0;
}

int bs_cql_parse(bs_arena *a, const char *text, size_t len, bs_cql_stmt **out,
                 bs_cql_error *err) {
    parser p;
    int rc = setup(&p, a, text, len);
    if (!rc) rc = run_one(&p, out);
    return finish(&p, rc, err);
}

static int run_script(parser *p, vec *v) {
    if (setjmp(p->jb)) return p->err.code ? p->err.code : BS_ESYNTAX;
    for (;;) {
        while (accept(p, BS_CQL_TOK_SEMI)) {
        }
        if (is(p, 0, BS_CQL_TOK_EOF)) break;
        ppush(p, v, parse_statement(p, 0));
        if (!is(p, 0, BS_CQL_TOK_EOF) && !is(p, 0, BS_CQL_TOK_SEMI))
            fail_mismatch(p, "';'");
    }
    return 0;
}

int bs_cql_parse_script(bs_arena *a, const char *text, size_t len,
                        bs_cql_stmt ***out, size_t *n, bs_cql_error *err) {
    parser p;
    vec v = {0};
    int rc = setup(&p, a, text, len);
    if (!rc) rc = run_script(&p, &v);
    if (!rc) {
        *out = v.v;
        *n = v.n;
    }
    return finish(&p, rc, err);
}

/* ------------------------------------------------------------------ */
/* splitting                                                           */

typedef struct splitter {
    bs_arena *a;
    bs_cql_piece *v;
    size_t n, cap;
} splitter;

static int split_push(splitter *sp, bs_cql_piece pc) {
    if (sp->n == sp->cap) {
        size_t nc = sp->cap ? sp->cap * 2 : 8;
        bs_cql_piece *np = bs_arena_alloc(sp->a, nc * sizeof *np);
        if (!np) return BS_ENOMEM;
        if (sp->n) memcpy(np, sp->v, sp->n * sizeof *np);
        sp->v = np;
        sp->cap = nc;
    }
    sp->v[sp->n++] = pc;
    return 0;
}

int bs_cql_split(bs_arena *a, const char *text, size_t len, bs_cql_piece **out,
                 size_t *n, int *complete) {
    bs_cql_lexer lx;
    bs_cql_lex_init(&lx, text, len);
    splitter sp = {a, NULL, 0, 0};
    int have = 0, batch = 0, prev_apply = 0;
    bs_cql_piece cur = {0, 0, 0, 0};
    size_t end = 0;
    for (;;) {
        bs_cql_token t;
        if (bs_cql_lex_next(&lx, &t, NULL)) {
            int c = (unsigned char)text[lx.pos];
            int c1 = lx.pos + 1 < len ? (unsigned char)text[lx.pos + 1] : -1;
            if (c == '\'' || c == '"' || (c == '$' && c1 == '$') ||
                (c == '/' && c1 == '*')) {
                /* unterminated: everything left belongs to this piece */
                if (!have) {
                    cur.off = lx.pos;
                    cur.line = lx.line;
                    cur.col = lx.col;
                    have = 1;
                }
                end = len;
                break;
            }
            /* stray character: keep it in the piece, the server reports it */
            t.kind = BS_CQL_TOK_STAR;
            t.off = lx.pos;
            t.len = 1;
            t.line = lx.line;
            t.col = lx.col;
            lx.pos++;
            lx.col++;
        }
        if (t.kind == BS_CQL_TOK_EOF) break;
        if (t.kind == BS_CQL_TOK_SEMI && !batch) {
            if (have) {
                cur.len = end - cur.off;
                if (split_push(&sp, cur)) return BS_ENOMEM;
                have = 0;
            }
            continue;
        }
        if (!have) {
            have = 1;
            cur.off = t.off;
            cur.line = t.line;
            cur.col = t.col;
            batch = bs_cql_tok_is(text, &t, "begin");
            prev_apply = 0;
        } else if (batch) {
            if (prev_apply && bs_cql_tok_is(text, &t, "batch")) batch = 0;
            prev_apply = bs_cql_tok_is(text, &t, "apply");
        }
        end = t.off + t.len;
    }
    *complete = !have;
    if (have) {
        cur.len = end - cur.off;
        if (split_push(&sp, cur)) return BS_ENOMEM;
    }
    *out = sp.v;
    *n = sp.n;
    return 0;
}

const char *bs_cql_stmt_kind_name(bs_cql_stmt_kind k) {
    switch (k) {
    case BS_CQL_STMT_USE: return "USE";
    case BS_CQL_STMT_CREATE_KEYSPACE: return "CREATE KEYSPACE";
    case BS_CQL_STMT_ALTER_KEYSPACE: return "ALTER KEYSPACE";
    case BS_CQL_STMT_DROP_KEYSPACE: return "DROP KEYSPACE";
    case BS_CQL_STMT_CREATE_TABLE: return "CREATE TABLE";
    case BS_CQL_STMT_ALTER_TABLE: return "ALTER TABLE";
    case BS_CQL_STMT_DROP_TABLE: return "DROP TABLE";
    case BS_CQL_STMT_TRUNCATE: return "TRUNCATE";
    case BS_CQL_STMT_CREATE_TYPE: return "CREATE TYPE";
    case BS_CQL_STMT_ALTER_TYPE: return "ALTER TYPE";
    case BS_CQL_STMT_DROP_TYPE: return "DROP TYPE";
    case BS_CQL_STMT_INSERT: return "INSERT";
    case BS_CQL_STMT_UPDATE: return "UPDATE";
    case BS_CQL_STMT_DELETE: return "DELETE";
    case BS_CQL_STMT_BATCH: return "BATCH";
    case BS_CQL_STMT_SELECT: return "SELECT";
    case BS_CQL_STMT_DESCRIBE: return "DESCRIBE";
    case BS_CQL_STMT_CREATE_ROLE: return "CREATE ROLE";
    case BS_CQL_STMT_ALTER_ROLE: return "ALTER ROLE";
    case BS_CQL_STMT_DROP_ROLE: return "DROP ROLE";
    case BS_CQL_STMT_LIST_ROLES: return "LIST ROLES";
    case BS_CQL_STMT_GRANT: return "GRANT";
    case BS_CQL_STMT_REVOKE: return "REVOKE";
    case BS_CQL_STMT_LIST_PERMISSIONS: return "LIST PERMISSIONS";
    }
    return "?";
}
