/*
 * exec_select.c - SELECT: planning, reading, filtering, selectors,
 * aggregates and paging.
 *
 * Plan.  WHERE is analysed by exec_where.c.  Rows come from one of three
 * sources: the named partitions (every partition key column given by =
 * or IN), a token-ordered scan (no or partial partition key, token()
 * bounds), or a virtual system table (exec_system.c).  Each source hands
 * materialised rows (xrow: one value per table column) to emit_row(),
 * which filters, applies PER PARTITION LIMIT, evaluates the selectors
 * and appends to the Rows result, or feeds the aggregates.
 *
 * Result metadata comes from the selection alone (select_begin +
 * result_meta), so PREPARE announces the same columns that EXECUTE
 * returns (bs__x_select_meta).  With skip_metadata a Rows result leaves
 * them out, unless they no longer match what PREPARE announced (an
 * ALTER in between): then the answer is UNPREPARED and the driver
 * prepares again and gets the new columns.
 *
 * Reads are chunked: a partition is read `chunk` rows at a time (resuming
 * strictly after the last clustering key), so filtering and paging never
 * need a whole partition in memory.
 *
 * ORDER BY over several partitions (pk IN (...)) needs post-query
 * ordering: the rows are collected, sorted by their encoded clustering
 * key (memcmp order = clustering order; ORDER BY follows or reverses it)
 * with arrival order breaking ties, then LIMIT is applied.  As in
 * Cassandra such a query is not paged: it fails when the page size is
 * smaller than the LIMIT (or there is no LIMIT).
 *
 * Paging state (opaque to drivers), version 1:
 *   OFFSET SIZE DESCRIPTION
 *   0      1    version (1)
 *   1      1    flags: 1 = a clustering key follows (resume inside the
 *               partition), else resume at the next partition
 *   2      4    index of the partition in the IN list (named partitions)
 *   6      8    token of the last partition
 *   14     2    length P of its partition key
 *   16     P    partition key
 *   16+P   2    length C of the clustering key (0 without flag 1)
 *   18+P   C    clustering key of the last row returned
 *   18+P+C 4    rows left under LIMIT (-1 none)
 *   22+P+C 4    rows already returned from the last partition
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/counter.h"
#include "query/exec_int.h"
#include "ring/murmur3.h"
#include "storage/keycodec.h"

/* ---- selectors ---------------------------------------------------------- */

typedef enum {
    SEL_COLUMN,
    SEL_WRITETIME,
    SEL_TTL,
    SEL_TOKEN,
    SEL_COUNT_STAR,
    SEL_COUNT,
    SEL_MIN,
    SEL_MAX,
    SEL_SUM,
    SEL_AVG,
    SEL_CONST,
    SEL_TOJSON,
    SEL_CAST_TEXT,
    SEL_FUNC /* a native scalar function or CAST of one argument (fn) */
} sel_kind;

/* Native scalar functions of one argument (Cassandra 4.0's TimeFcts,
 * BytesConversionFcts, CastFcts). */
typedef enum {
    FN_TO_TIMESTAMP, /* toTimestamp, dateOf, CAST(... AS timestamp) */
    FN_TO_DATE,      /* toDate, CAST(... AS date) */
    FN_TO_UNIX,      /* toUnixTimestamp, unixTimestampOf */
    FN_MIN_TIMEUUID,
    FN_MAX_TIMEUUID,
    FN_AS_BLOB,  /* <type>AsBlob: the value's bytes */
    FN_BLOB_AS,  /* blobAs<type>: bytes checked against the type */
    FN_TO_TEXT,  /* CAST(... AS text/varchar/ascii) */
    FN_TO_NUMBER /* CAST between numeric types */
} fn_kind;

typedef struct selx {
    sel_kind kind;
    int col;             /* column index or -1 */
    const bs_type *type; /* output type */
    const char *name;    /* output column name */
    xval cval;           /* SEL_CONST */
    struct selx *arg;    /* SEL_FUNC: its argument */
    fn_kind fn;          /* SEL_FUNC */
    /* aggregate state */
    int64_t count;
    int has;   /* min/max/sum seen a value */
    xval best; /* min/max */
    double dsum;
    int64_t isum;
    int isfloat;
} selx;

typedef struct sctx {
    xctx *c;
    const bs_table_schema *t;
    const bs_cql_select *q;
    xwhere w;
    selx *sel;
    size_t nsel;
    int aggregate;
    int json;
    int reversed;
    int64_t limit; /* rows left under LIMIT (-1 none) */
    int64_t ppl;   /* per partition limit (-1 none) */
    int64_t page;  /* rows left in this page (-1 unlimited) */
    int64_t now_s;
    bs_proto_rows_builder rb;
    bs_buf *out;
    int have_first; /* aggregates: non-aggregate columns from row 1 */
    xrow first;     /* that row (request arena copies) */
    int64_t first_token;
    /* GROUP BY: column indexes of the group (a primary key prefix) and
     * the current group's values */
    size_t ngroup;
    int *group;
    xval *gkey;
    /* position for paging */
    int done; /* page full or limit reached */
    int more; /* a paging state must be returned */
    size_t part_idx;
    int64_t last_token;
    const uint8_t *last_pk;
    size_t last_pk_len;
    const uint8_t *last_ck;
    size_t last_ck_len;
    int last_has_ck;
    int64_t part_rows; /* rows returned from the current partition */
    const uint8_t *cur_pk;
    size_t cur_pk_len;
    /* post-query ordering (ORDER BY over several partitions of an IN):
     * rows are collected, sorted by clustering key, then emitted */
    int collect;
    struct crow *crows;
    size_t ncrows, capcrows;
} sctx;

typedef struct crow {
    xrow r;
    int64_t token;
    size_t seq; /* arrival order: ties keep partition order */
} crow;

static const bs_type *type_of_kind(bs_type_kind k) {
    static bs_type ts[0x16];
    static int init;
    if (!init) {
        for (int i = 0; i < 0x16; i++) {
            memset(&ts[i], 0, sizeof ts[i]);
            ts[i].kind = (uint16_t)i;
        }
        init = 1;
    }
    return &ts[k];
}

static int col_index(const bs_table_schema *t, const char *name) {
    for (size_t i = 0; i < t->ncols; i++)
        if (!strcmp(t->cols[i].name, name)) return (int)i;
    return -1;
}

static int is_numeric(const bs_type *t) {
    switch (t->kind) {
    case BS_TYPE_INT:
    case BS_TYPE_BIGINT:
    case BS_TYPE_SMALLINT:
    case BS_TYPE_TINYINT:
    case BS_TYPE_FLOAT:
    case BS_TYPE_DOUBLE:
    case BS_TYPE_VARINT:
    case BS_TYPE_DECIMAL:
    case BS_TYPE_COUNTER: return 1;
    default: return 0;
    }
}

static const char *namef(xctx *c, const char *fmt, const char *a) {
    char buf[256];
    snprintf(buf, sizeof buf, fmt, a);
    return bs_arena_strndup(c->a, buf, strlen(buf));
}

/* writetime(c) / ttl(c). */
static int plan_cell_meta(sctx *s, const char *f, int ci, selx *o) {
    xctx *c = s->c;
    if (ci < 0) return XINVALID(c, "%s() requires a column argument", f);
    const bs_column *col = &s->t->cols[ci];
    if (col->kind == BS_COL_PARTITION_KEY || col->kind == BS_COL_CLUSTERING)
        return XINVALID(
            c, "Cannot use selection function %s on PRIMARY KEY part %s", f,
            col->name);
    if (bs_type_is_multicell(col->type))
        return XINVALID(c,
                        "Cannot use selection function %s on "
                        "non-frozen collection %s",
                        f, col->name);
    if (col->type->kind == BS_TYPE_COUNTER)
        return XINVALID(c, "Cannot use selection function %s on counter column %s",
                        f[0] == 'w' ? "writeTime" : "ttl", col->name);
    o->kind = f[0] == 'w' ? SEL_WRITETIME : SEL_TTL;
    o->col = ci;
    o->type = type_of_kind(f[0] == 'w' ? BS_TYPE_BIGINT : BS_TYPE_INT);
    o->name = namef(c, f[0] == 'w' ? "writetime(%s)" : "ttl(%s)", col->name);
    return 0;
}

/* token(pk columns). */
static int plan_token(sctx *s, const bs_cql_expr *e, selx *o) {
    xctx *c = s->c;
    if (e->n != s->t->npk)
        return XINVALID(c, "Invalid number of arguments for token()");
    for (uint32_t i = 0; i < e->n; i++)
        if (e->items[i]->kind != BS_CQL_EXPR_COLUMN ||
            strcmp(e->items[i]->name, s->t->cols[i].name))
            return XINVALID(c, "Type error: token() arguments must be "
                               "the partition key columns");
    o->kind = SEL_TOKEN;
    o->type = type_of_kind(BS_TYPE_BIGINT);
    bs_buf nb = BS_BUF_INIT;
    bs_buf_append_str(&nb, "system.token(");
    for (uint32_t i = 0; i < e->n; i++) {
        if (i) bs_buf_append_str(&nb, ", ");
        bs_buf_append_str(&nb, s->t->cols[i].name);
    }
    bs_buf_append_str(&nb, ")");
    o->name = bs_arena_strndup(c->a, (char *)nb.data, nb.len);
    bs_buf_free(&nb);
    return 0;
}

/* count(*) / count(c). */
static int plan_count(sctx *s, const bs_cql_expr *e, int ci, selx *o) {
    if (e->star || (e->n == 1 && e->items[0]->kind == BS_CQL_EXPR_LITERAL)) {
        o->kind = SEL_COUNT_STAR;
        o->name = "count";
    } else {
        if (ci < 0) return XINVALID(s->c, "count() requires a column argument");
        o->kind = SEL_COUNT;
        o->col = ci;
        o->name = namef(s->c, "system.count(%s)", s->t->cols[ci].name);
    }
    o->type = type_of_kind(BS_TYPE_BIGINT);
    s->aggregate = 1;
    return 0;
}

/* min / max / sum / avg (c). */
static int plan_numeric_agg(sctx *s, const char *f, int ci, selx *o) {
    xctx *c = s->c;
    if (ci < 0) return XINVALID(c, "%s() requires a column argument", f);
    const bs_type *ct = s->t->cols[ci].type;
    o->col = ci;
    o->type = ct;
    o->name = namef(c,
                    f[1] == 'i'   ? "system.min(%s)"
                    : f[1] == 'a' ? "system.max(%s)"
                    : f[0] == 's' ? "system.sum(%s)"
                                  : "system.avg(%s)",
                    s->t->cols[ci].name);
    if (!strcmp(f, "min"))
        o->kind = SEL_MIN;
    else if (!strcmp(f, "max"))
        o->kind = SEL_MAX;
    else {
        if (!is_numeric(ct) || ct->kind == BS_TYPE_VARINT ||
            ct->kind == BS_TYPE_DECIMAL)
            return XINVALID(
                c,
                "Invalid call to function %s, none of its type "
                "signatures match (column %s of type is not supported)",
                f, s->t->cols[ci].name);
        o->kind = f[0] == 's' ? SEL_SUM : SEL_AVG;
        o->isfloat = ct->kind == BS_TYPE_FLOAT || ct->kind == BS_TYPE_DOUBLE;
    }
    s->aggregate = 1;
    return 0;
}

/* A constant function call: now(), uuid(), ... */
static int plan_const_call(sctx *s, const bs_cql_expr *e, selx *o) {
    xctx *c = s->c;
    const char *f = e->name;
    const bs_type *rt = (!strcmp(f, "now") || !strcmp(f, "currenttimeuuid"))
                            ? type_of_kind(BS_TYPE_TIMEUUID)
                        : !strcmp(f, "uuid") ? type_of_kind(BS_TYPE_UUID)
                        : !strcmp(f, "currenttimestamp")
                            ? type_of_kind(BS_TYPE_TIMESTAMP)
                        : !strcmp(f, "currentdate") ? type_of_kind(BS_TYPE_DATE)
                        : !strcmp(f, "currenttime") ? type_of_kind(BS_TYPE_TIME)
                                                    : NULL;
    if (!rt || e->n)
        return XINVALID(c,
                        "Unknown function '%s' or unsupported "
                        "arguments in selection clause",
                        f);
    o->kind = SEL_CONST;
    o->type = rt;
    o->name = namef(c, "system.%s()", f);
    return bs__x_term(c, e, rt, f, &o->cval);
}

static int plan_expr(sctx *s, const bs_cql_expr *e, selx *o);

static const char *aprintf(xctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const char *aprintf(xctx *c, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return bs_arena_strndup(c->a, buf, strlen(buf));
}

static int is_aggregate_kind(sel_kind k) {
    return k == SEL_COUNT_STAR || k == SEL_COUNT || k == SEL_MIN || k == SEL_MAX ||
           k == SEL_SUM || k == SEL_AVG;
}

static int is_int_kind(bs_type_kind k) {
    return k == BS_TYPE_TINYINT || k == BS_TYPE_SMALLINT || k == BS_TYPE_INT ||
           k == BS_TYPE_BIGINT || k == BS_TYPE_COUNTER;
}

static int is_time_kind(bs_type_kind k) {
    return k == BS_TYPE_TIMEUUID || k == BS_TYPE_TIMESTAMP || k == BS_TYPE_DATE;
}

/* Text kinds are one type for the conversion functions. */
static bs_type_kind base_kind(bs_type_kind k) {
    return k == BS_TYPE_VARCHAR ? BS_TYPE_VARCHAR : k;
}

/* Plans the one argument of function f into a new selector. */
/* A literal argument (0x6869, '2020-01-01 00:00+0000', (timestamp)'...')
 * as a constant of the type the function takes (`want`; NULL when the
 * function is overloaded: then only a literal with a type hint is taken,
 * as Cassandra asks for one). */
static int plan_literal_arg(sctx *s, const bs_cql_expr *e, const char *f, const bs_type *want,
                            selx *a) {
    xctx *c = s->c;
    const bs_cql_expr *lit = e;
    if (e->kind == BS_CQL_EXPR_CAST) { /* (type) literal */
        want = e->type;
        lit = e->items[0];
    }
    if (!want)
        return XINVALID(c, "Ambiguous call to function system.%s: use type casts to disambiguate "
                           "(e.g. (timestamp)'2020-01-01')", f);
    if (lit->kind != BS_CQL_EXPR_LITERAL)
        return XINVALID(c, "This selector is not supported by Basalt");
    if (bs__x_term(c, lit, want, f, &a->cval)) return -1;
    bs_buf nb = BS_BUF_INIT;
    bs_cql_print_expr(e, NULL, &nb);
    a->kind = SEL_CONST;
    a->col = -1;
    a->type = want;
    a->name = bs_arena_strndup(c->a, nb.data ? (char *)nb.data : "", nb.len);
    bs_buf_free(&nb);
    return a->name ? 0 : bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
}

/* The type a function's only argument has, for a literal argument (NULL:
 * several, the call needs a type hint). */
static const bs_type *fn_arg_type(const char *f) {
    size_t n = strlen(f);
    if (!strcmp(f, "dateof") || !strcmp(f, "unixtimestampof")) return type_of_kind(BS_TYPE_TIMEUUID);
    if (!strcmp(f, "mintimeuuid") || !strcmp(f, "maxtimeuuid")) return type_of_kind(BS_TYPE_TIMESTAMP);
    if (n > 6 && !strncmp(f, "blobas", 6)) return type_of_kind(BS_TYPE_BLOB);
    if (n > 6 && !strcmp(f + n - 6, "asblob")) {
        bs_type *t = NULL;
        const bs_type *r = NULL;
        if (!bs_value_type_parse(f, n - 6, &t, NULL, 0) && !t->nparams)
            r = type_of_kind((bs_type_kind)t->kind);
        if (t) bs_type_free(t);
        return r;
    }
    return NULL;
}

static int plan_fn_arg(sctx *s, const bs_cql_expr *e, const char *f, selx **out) {
    xctx *c = s->c;
    selx *a = bs_arena_calloc(c->a, sizeof *a);
    if (!a) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    if (e->kind == BS_CQL_EXPR_LITERAL || (e->kind == BS_CQL_EXPR_CAST && !e->sql_cast)) {
        if (plan_literal_arg(s, e, f, fn_arg_type(f), a)) return -1;
        *out = a;
        return 0;
    }
    if (plan_expr(s, e, a)) return -1;
    if (is_aggregate_kind(a->kind))
        return XINVALID(c, "Aggregate functions are not supported as arguments of %s", f);
    *out = a;
    return 0;
}

/* The time functions: toTimestamp, dateOf, toDate, toUnixTimestamp,
 * unixTimestampOf, minTimeuuid, maxTimeuuid.  1 when f is not one. */
static int plan_time_fn(sctx *s, const char *f, selx *o) {
    bs_type_kind in = o->arg->type->kind;
    int ok;
    if (!strcmp(f, "totimestamp") || !strcmp(f, "dateof")) {
        o->fn = FN_TO_TIMESTAMP;
        o->type = type_of_kind(BS_TYPE_TIMESTAMP);
        ok = f[0] == 'd' ? in == BS_TYPE_TIMEUUID : is_time_kind(in);
    } else if (!strcmp(f, "todate")) {
        o->fn = FN_TO_DATE;
        o->type = type_of_kind(BS_TYPE_DATE);
        ok = is_time_kind(in);
    } else if (!strcmp(f, "tounixtimestamp") || !strcmp(f, "unixtimestampof")) {
        o->fn = FN_TO_UNIX;
        o->type = type_of_kind(BS_TYPE_BIGINT);
        ok = f[0] == 'u' ? in == BS_TYPE_TIMEUUID : is_time_kind(in);
    } else if (!strcmp(f, "mintimeuuid") || !strcmp(f, "maxtimeuuid")) {
        o->fn = f[1] == 'i' ? FN_MIN_TIMEUUID : FN_MAX_TIMEUUID;
        o->type = type_of_kind(BS_TYPE_TIMEUUID);
        ok = in == BS_TYPE_TIMESTAMP;
    } else {
        return 1;
    }
    if (!ok)
        return XINVALID(s->c, "Type error: %s cannot be passed as argument 0 of function system.%s",
                        o->arg->name, f);
    return 0;
}

/* <type>AsBlob / blobAs<type>.  1 when f is not one. */
static int plan_blob_fn(sctx *s, const char *f, selx *o) {
    xctx *c = s->c;
    size_t n = strlen(f);
    const char *tn;
    size_t tl;
    int to_blob;
    if (n > 6 && !strncmp(f, "blobas", 6)) {
        tn = f + 6;
        tl = n - 6;
        to_blob = 0;
    } else if (n > 6 && !strcmp(f + n - 6, "asblob")) {
        tn = f;
        tl = n - 6;
        to_blob = 1;
    } else {
        return 1;
    }
    bs_type *t = NULL;
    if (bs_value_type_parse(tn, tl, &t, NULL, 0) || t->nparams) {
        if (t) bs_type_free(t);
        return XINVALID(c, "Unknown function '%s'", f);
    }
    const bs_type *nt = type_of_kind((bs_type_kind)t->kind);
    bs_type_free(t);
    const bs_type *in = o->arg->type;
    if (to_blob) {
        o->fn = FN_AS_BLOB;
        o->type = type_of_kind(BS_TYPE_BLOB);
        if (in->nparams || base_kind((bs_type_kind)in->kind) != base_kind((bs_type_kind)nt->kind))
            return XINVALID(c, "Type error: %s cannot be passed as argument 0 of function system.%s",
                            o->arg->name, f);
    } else {
        o->fn = FN_BLOB_AS;
        o->type = nt;
        if (in->kind != BS_TYPE_BLOB)
            return XINVALID(c, "Type error: %s cannot be passed as argument 0 of function system.%s",
                            o->arg->name, f);
    }
    return 0;
}

/* A native function of one argument.  1 when f is not one. */
static int plan_scalar_fn(sctx *s, const bs_cql_expr *e, selx *o) {
    const char *f = e->name;
    static const char *const names[] = {"totimestamp", "dateof", "todate", "tounixtimestamp",
                                        "unixtimestampof", "mintimeuuid", "maxtimeuuid"};
    size_t n = strlen(f);
    int known = (n > 6 && (!strncmp(f, "blobas", 6) || !strcmp(f + n - 6, "asblob")));
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) known |= !strcmp(f, names[i]);
    if (!known) return 1;
    if (e->n != 1 || e->star)
        return XINVALID(s->c, "Invalid number of arguments in call to function system.%s: 1 required but %u provided",
                        f, e->n);
    if (plan_fn_arg(s, e->items[0], f, &o->arg)) return -1;
    o->kind = SEL_FUNC;
    o->col = -1;
    o->name = aprintf(s->c, "system.%s(%s)", f, o->arg->name);
    int rc = plan_time_fn(s, f, o);
    if (rc == 1) rc = plan_blob_fn(s, f, o);
    return rc;
}

/* CAST(x AS type) (CastFcts): to text from anything; between numeric
 * types; between timeuuid, timestamp and date; to the same type. */
static int plan_cast(sctx *s, const bs_cql_expr *e, selx *o) {
    xctx *c = s->c;
    if (plan_fn_arg(s, e->items[0], "cast", &o->arg)) return -1;
    const bs_type *in = o->arg->type;
    const bs_type *to = e->type;
    bs_type_kind ik = (bs_type_kind)in->kind, tk = (bs_type_kind)to->kind;
    o->kind = SEL_FUNC;
    o->col = -1;
    o->type = to;
    char tn[64];
    bs_buf tb = BS_BUF_INIT;
    bs_value_type_to_cql(to, &tb);
    snprintf(tn, sizeof tn, "%.*s", (int)tb.len, tb.data ? (char *)tb.data : "");
    bs_buf_free(&tb);
    o->name = aprintf(c, "cast(%s as %s)", o->arg->name, tn);
    int numeric_in = is_int_kind(ik) || ik == BS_TYPE_FLOAT || ik == BS_TYPE_DOUBLE;
    if (to->nparams) goto bad;
    if (tk == BS_TYPE_VARCHAR || tk == BS_TYPE_ASCII) {
        o->fn = FN_TO_TEXT;
        return 0;
    }
    if ((is_int_kind(tk) && tk != BS_TYPE_COUNTER) || tk == BS_TYPE_FLOAT || tk == BS_TYPE_DOUBLE) {
        if (!numeric_in) goto bad;
        o->fn = FN_TO_NUMBER;
        return 0;
    }
    if (tk == BS_TYPE_TIMESTAMP && is_time_kind(ik)) {
        o->fn = FN_TO_TIMESTAMP;
        return 0;
    }
    if (tk == BS_TYPE_DATE && is_time_kind(ik)) {
        o->fn = FN_TO_DATE;
        return 0;
    }
    if (!in->nparams && base_kind(ik) == base_kind(tk)) {
        o->fn = FN_AS_BLOB; /* same bytes */
        o->type = to;
        return 0;
    }
bad:
    return XINVALID(c, "%s cannot be cast to %s", o->arg->name, tn);
}

/* A function call in the selection. */
static int plan_call(sctx *s, const bs_cql_expr *e, selx *o) {
    xctx *c = s->c;
    const char *f = e->name;
    int one_col = e->n == 1 && e->items[0]->kind == BS_CQL_EXPR_COLUMN;
    int ci = one_col ? col_index(s->t, e->items[0]->name) : -1;
    if (one_col && ci < 0)
        return XINVALID(c, "Undefined column name %s in selection clause",
                        e->items[0]->name);
    if (!strcmp(f, "writetime") || !strcmp(f, "ttl"))
        return plan_cell_meta(s, f, ci, o);
    if (!strcmp(f, "token")) return plan_token(s, e, o);
    if (!strcmp(f, "count")) return plan_count(s, e, ci, o);
    if (!strcmp(f, "min") || !strcmp(f, "max") || !strcmp(f, "sum") ||
        !strcmp(f, "avg"))
        return plan_numeric_agg(s, f, ci, o);
    int fr = plan_scalar_fn(s, e, o);
    if (fr != 1) return fr;
    if (!strcmp(f, "tojson")) {
        if (ci < 0) return XINVALID(c, "toJson() requires a column argument");
        o->kind = SEL_TOJSON;
        o->col = ci;
        o->type = type_of_kind(BS_TYPE_VARCHAR);
        o->name = namef(c, "system.tojson(%s)", s->t->cols[ci].name);
        return 0;
    }
    return plan_const_call(s, e, o);
}

static int plan_expr(sctx *s, const bs_cql_expr *e, selx *o) {
    xctx *c = s->c;
    memset(o, 0, sizeof *o);
    o->col = -1;
    if (e->kind == BS_CQL_EXPR_COLUMN) {
        o->kind = SEL_COLUMN;
        o->col = col_index(s->t, e->name);
        if (o->col < 0)
            return XINVALID(c, "Undefined column name %s in selection clause",
                            e->name);
        o->type = s->t->cols[o->col].type;
        o->name = s->t->cols[o->col].name;
    } else if (e->kind == BS_CQL_EXPR_CALL) {
        if (plan_call(s, e, o)) return -1;
    } else if (e->kind == BS_CQL_EXPR_CAST && e->sql_cast &&
               e->items[0]->kind == BS_CQL_EXPR_COLUMN && e->type &&
               (e->type->kind == BS_TYPE_VARCHAR ||
                e->type->kind == BS_TYPE_ASCII)) {
        o->kind = SEL_CAST_TEXT;
        o->col = col_index(s->t, e->items[0]->name);
        if (o->col < 0)
            return XINVALID(c, "Undefined column name %s in selection clause",
                            e->items[0]->name);
        o->type = e->type;
        o->name = namef(c, "cast(%s as text)", s->t->cols[o->col].name);
    } else if (e->kind == BS_CQL_EXPR_CAST && e->sql_cast && e->type) {
        if (plan_cast(s, e, o)) return -1;
    } else if (e->kind == BS_CQL_EXPR_LITERAL || e->kind == BS_CQL_EXPR_CAST) {
        return XINVALID(c, "Literal selectors are not supported by Basalt");
    } else {
        return XINVALID(c, "This selector is not supported by Basalt");
    }
    return 0;
}

static int plan_selector(sctx *s, const bs_cql_selector *cs, selx *o) {
    if (plan_expr(s, cs->expr, o)) return -1;
    if (cs->alias) o->name = cs->alias;
    return 0;
}

/* ---- aggregates -----------------------------------------------------------
 */

static int64_t get_int(const bs_type *t, const xval *v) {
    switch (t->kind) {
    case BS_TYPE_TINYINT: return (int8_t)v->p[0];
    case BS_TYPE_SMALLINT: return (int16_t)bs_get_u16(v->p);
    case BS_TYPE_INT: return (int32_t)bs_get_u32(v->p);
    default: return (int64_t)bs_get_u64(v->p);
    }
}

static double get_double(const bs_type *t, const xval *v) {
    if (t->kind == BS_TYPE_FLOAT) {
        uint32_t u = bs_get_u32(v->p);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    uint64_t u = bs_get_u64(v->p);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static int put_number(xctx *c, const bs_type *t, int64_t iv, double dv,
                      xval *out) {
    uint8_t *p = bs_arena_alloc(c->a, 8);
    if (!p) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    out->p = p;
    out->unset = 0;
    switch (t->kind) {
    case BS_TYPE_TINYINT:
        p[0] = (uint8_t)iv;
        out->len = 1;
        break;
    case BS_TYPE_SMALLINT:
        bs_put_u16(p, (uint16_t)iv);
        out->len = 2;
        break;
    case BS_TYPE_INT:
        bs_put_u32(p, (uint32_t)iv);
        out->len = 4;
        break;
    case BS_TYPE_FLOAT: {
        float f = (float)dv;
        uint32_t u;
        memcpy(&u, &f, 4);
        bs_put_u32(p, u);
        out->len = 4;
        break;
    }
    case BS_TYPE_DOUBLE: {
        uint64_t u;
        memcpy(&u, &dv, 8);
        bs_put_u64(p, u);
        out->len = 8;
        break;
    }
    default:
        bs_put_u64(p, (uint64_t)iv);
        out->len = 8;
        break;
    }
    return 0;
}

/* ---- evaluating selectors ------------------------------------------------ */

static int xval_bytes(xctx *c, const void *p, size_t n, xval *out) {
    uint8_t *q = bs_arena_alloc(c->a, n ? n : 1);
    if (!q) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    if (n) memcpy(q, p, n);
    out->p = q;
    out->len = n;
    out->unset = 0;
    return 0;
}

/* Milliseconds since the epoch of a timeuuid, timestamp or date. */
static int64_t time_ms(const bs_type *t, const xval *v) {
    if (t->kind == BS_TYPE_TIMEUUID) {
        bs_uuid u;
        memcpy(u.b, v->p, 16);
        return bs_uuid_v1_unix_ms(&u);
    }
    if (t->kind == BS_TYPE_DATE) return ((int64_t)bs_get_u32(v->p) - (1LL << 31)) * 86400000;
    return (int64_t)bs_get_u64(v->p);
}

static int time_len_ok(const bs_type *t, const xval *v) {
    return v->len == (t->kind == BS_TYPE_TIMEUUID ? 16 : t->kind == BS_TYPE_DATE ? 4 : 8);
}

/* Applies o's function to its argument's value a (not null). */
static int apply_fn(sctx *s, const selx *o, const xval *a, xval *out) {
    xctx *c = s->c;
    const bs_type *in = o->arg->type;
    uint8_t b[16];
    switch (o->fn) {
    case FN_TO_TIMESTAMP:
    case FN_TO_DATE:
    case FN_TO_UNIX: {
        if (!time_len_ok(in, a)) return XINVALID(c, "%s: bad %s value", o->name, "time");
        int64_t ms = time_ms(in, a);
        if (o->fn == FN_TO_DATE) {
            int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
            bs_put_u32(b, (uint32_t)(days + (1LL << 31)));
            return xval_bytes(c, b, 4, out);
        }
        bs_put_u64(b, (uint64_t)ms);
        return xval_bytes(c, b, 8, out);
    }
    case FN_MIN_TIMEUUID:
    case FN_MAX_TIMEUUID: {
        if (a->len != 8) return XINVALID(c, "%s: bad timestamp value", o->name);
        int64_t ms = (int64_t)bs_get_u64(a->p);
        bs_uuid u;
        int mx = o->fn == FN_MAX_TIMEUUID;
        bs_uuid_v1_at(ms * 1000 + (mx ? 999 : 0), mx ? 0x7f7f7f7f7f7f7f7fULL : 0x8080808080808080ULL, &u);
        return xval_bytes(c, u.b, 16, out);
    }
    case FN_AS_BLOB: *out = *a; return 0;
    case FN_BLOB_AS:
        if (bs_value_validate(o->type, a->p, a->len, NULL, 0))
            return XINVALID(c, "In call to function %s, value is not a valid binary representation for its type", o->name);
        *out = *a;
        return 0;
    case FN_TO_TEXT: {
        bs_buf j = BS_BUF_INIT;
        bs_value_format(in, a->p, a->len, BS_VALUE_FMT_EXACT, &j);
        int rc = xval_bytes(c, j.data ? j.data : (uint8_t *)"", j.len, out);
        bs_buf_free(&j);
        return rc;
    }
    case FN_TO_NUMBER: {
        int isf = in->kind == BS_TYPE_FLOAT || in->kind == BS_TYPE_DOUBLE;
        double d = isf ? get_double(in, a) : (double)get_int(in, a);
        int64_t iv = isf ? (isfinite(d) && fabs(d) < 9.2e18 ? (int64_t)d : 0) : get_int(in, a);
        return put_number(c, o->type, iv, d, out);
    }
    }
    return XINVALID(c, "unknown function");
}

/* The value of a non-aggregate selector for row r of partition token. */
static int sel_value(sctx *s, const selx *o, const xrow *r, int64_t token, xval *out) {
    xctx *c = s->c;
    xval v = {NULL, BS_VALUE_NULL, 0};
    switch (o->kind) {
    case SEL_COLUMN: v = r->vals[o->col]; break;
    case SEL_WRITETIME:
        if (r->wt[o->col] != INT64_MIN && put_number(c, o->type, r->wt[o->col], 0, &v)) return -1;
        break;
    case SEL_TTL:
        if (r->ttl[o->col] > 0 && put_number(c, o->type, r->ttl[o->col], 0, &v)) return -1;
        break;
    case SEL_TOKEN:
        if (put_number(c, o->type, token, 0, &v)) return -1;
        break;
    case SEL_CONST: v = o->cval; break;
    case SEL_FUNC: {
        xval a;
        if (sel_value(s, o->arg, r, token, &a)) return -1;
        if (a.len != BS_VALUE_NULL && apply_fn(s, o, &a, &v)) return -1;
        break;
    }
    case SEL_TOJSON:
    case SEL_CAST_TEXT: {
        const xval *src = &r->vals[o->col];
        bs_buf j = BS_BUF_INIT;
        if (src->len == BS_VALUE_NULL) {
            if (o->kind == SEL_TOJSON)
                bs_buf_append_str(&j, "null");
            else
                break;
        } else if (o->kind == SEL_TOJSON) {
            bs_value_format_json(s->t->cols[o->col].type, src->p, src->len, &j);
        } else {
            bs_value_format(s->t->cols[o->col].type, src->p, src->len, BS_VALUE_FMT_EXACT, &j);
        }
        v.p = bs_arena_memdup(c->a, j.data ? j.data : (uint8_t *)"", j.len);
        v.len = j.len;
        bs_buf_free(&j);
        break;
    }
    default: break;
    }
    *out = v;
    return 0;
}

static int aggregate_row(sctx *s, const xrow *r, int64_t token) {
    for (size_t i = 0; i < s->nsel; i++) {
        selx *o = &s->sel[i];
        const xval *v = o->col >= 0 ? &r->vals[o->col] : NULL;
        switch (o->kind) {
        case SEL_COUNT_STAR: o->count++; break;
        case SEL_COUNT:
            if (v->len != BS_VALUE_NULL) o->count++;
            break;
        case SEL_MIN:
        case SEL_MAX: {
            if (v->len == BS_VALUE_NULL) break;
            int cmp = 0;
            if (o->has)
                bs_value_compare(o->type, v->p, v->len, o->best.p, o->best.len,
                                 &cmp);
            if (!o->has || (o->kind == SEL_MIN ? cmp < 0 : cmp > 0)) {
                o->best.p = bs_arena_memdup(s->c->a, v->p, v->len ? v->len : 1);
                o->best.len = v->len;
                o->has = 1;
            }
            break;
        }
        case SEL_SUM:
        case SEL_AVG:
            if (v->len == BS_VALUE_NULL) break;
            o->count++;
            if (o->isfloat)
                o->dsum += get_double(o->type, v);
            else
                o->isum += get_int(o->type, v);
            o->has = 1;
            break;
        default: break;
        }
    }
    if (!s->have_first) {
        size_t n = s->t->ncols + 1;
        xrow *f = &s->first;
        f->vals = bs_arena_calloc(s->c->a, n * sizeof *f->vals);
        f->wt = bs_arena_calloc(s->c->a, n * sizeof *f->wt);
        f->ttl = bs_arena_calloc(s->c->a, n * sizeof *f->ttl);
        if (!f->vals || !f->wt || !f->ttl) return bs__x_fail(s->c, BS_PROTO_ERR_SERVER, "out of memory");
        for (size_t i = 0; i < s->t->ncols; i++) {
            f->vals[i] = r->vals[i];
            if (r->vals[i].len != BS_VALUE_NULL)
                f->vals[i].p = bs_arena_memdup(
                    s->c->a, r->vals[i].p, r->vals[i].len ? r->vals[i].len : 1);
            f->wt[i] = r->wt[i];
            f->ttl[i] = r->ttl[i];
        }
        s->first_token = token;
        s->have_first = 1;
    }
    return 0;
}

static int cell(sctx *s, const xval *v) {
    if (v->len == BS_VALUE_NULL) return bs_proto_rows_cell(&s->rb, NULL, -1);
    return bs_proto_rows_cell(&s->rb, v->p, (int32_t)v->len);
}

static int finish_aggregates(sctx *s) {
    xctx *c = s->c;
    for (size_t i = 0; i < s->nsel; i++) {
        selx *o = &s->sel[i];
        xval v = {NULL, BS_VALUE_NULL, 0};
        switch (o->kind) {
        case SEL_COUNT_STAR:
        case SEL_COUNT:
            if (put_number(c, type_of_kind(BS_TYPE_BIGINT), o->count, 0, &v))
                return -1;
            break;
        case SEL_MIN:
        case SEL_MAX:
            if (o->has) v = o->best;
            break;
        case SEL_SUM:
            if (put_number(c, o->type, o->isum, o->dsum, &v)) return -1;
            break;
        case SEL_AVG:
            if (o->isfloat) {
                if (put_number(c, o->type, 0,
                               o->count ? o->dsum / (double)o->count : 0, &v))
                    return -1;
            } else {
                if (put_number(c, o->type, o->count ? o->isum / o->count : 0, 0,
                               &v))
                    return -1;
            }
            break;
        default:
            /* a column or function beside aggregates: its value in the
             * first row (of the group), as Cassandra */
            if (s->have_first && sel_value(s, o, &s->first, s->first_token, &v)) return -1;
            if (!s->have_first && o->kind == SEL_CONST) v = o->cval;
            break;
        }
        if (cell(s, &v))
            return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    }
    return 0;
}

/* ---- emitting rows ------------------------------------------------------ */

static int output_row(sctx *s, const xrow *r, int64_t token) {
    xctx *c = s->c;
    if (s->json) {
        bs_buf j = BS_BUF_INIT;
        bs_buf_append_u8(&j, '{');
        for (size_t i = 0; i < s->nsel; i++) {
            selx *o = &s->sel[i];
            if (i) bs_buf_append_str(&j, ", ");
            bs_buf_appendf(&j, "\"%s\": ", o->name);
            const xval *v = o->col >= 0 ? &r->vals[o->col] : NULL;
            if (o->kind == SEL_COLUMN && v->len != BS_VALUE_NULL)
                bs_value_format_json(o->type, v->p, v->len, &j);
            else if (o->kind == SEL_COLUMN)
                bs_buf_append_str(&j, "null");
            else if (o->kind == SEL_WRITETIME && r->wt[o->col] != INT64_MIN)
                bs_buf_appendf(&j, "%lld", (long long)r->wt[o->col]);
            else if (o->kind == SEL_TTL && r->ttl[o->col])
                bs_buf_appendf(&j, "%d", r->ttl[o->col]);
            else if (o->kind == SEL_TOKEN)
                bs_buf_appendf(&j, "%lld", (long long)token);
            else if (o->kind == SEL_FUNC || o->kind == SEL_CONST) {
                xval fv;
                if (sel_value(s, o, r, token, &fv)) {
                    bs_buf_free(&j);
                    return -1;
                }
                if (fv.len == BS_VALUE_NULL) bs_buf_append_str(&j, "null");
                else bs_value_format_json(o->type, fv.p, fv.len, &j);
            }
            else
                bs_buf_append_str(&j, "null");
        }
        bs_buf_append_u8(&j, '}');
        int rc = bs_proto_rows_cell(&s->rb, j.data, (int32_t)j.len);
        bs_buf_free(&j);
        return rc ? bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory") : 0;
    }
    for (size_t i = 0; i < s->nsel; i++) {
        xval v;
        if (sel_value(s, &s->sel[i], r, token, &v)) return -1;
        if (cell(s, &v))
            return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    }
    return 0;
}

/* ---- GROUP BY -------------------------------------------------------------
 *
 * Rows arrive in primary key order, so a group is a run of rows with the
 * same values of the GROUP BY columns (a primary key prefix): when a row
 * starts a new run, the previous group's row is written (its aggregates,
 * and its other selectors evaluated on the group's first row) and the
 * aggregates start again.  LIMIT counts groups.  Grouped queries are not
 * paged (as aggregates here). */

static void reset_aggregates(sctx *s) {
    for (size_t i = 0; i < s->nsel; i++) {
        selx *o = &s->sel[i];
        o->count = 0;
        o->has = 0;
        o->dsum = 0;
        o->isum = 0;
    }
    s->have_first = 0;
}

/* Writes the current group's row (if any). */
static int flush_group(sctx *s) {
    if (!s->have_first || s->limit == 0) return 0;
    if (finish_aggregates(s)) return -1;
    if (s->limit > 0 && --s->limit == 0) s->done = 1;
    reset_aggregates(s);
    return 0;
}

static int group_row(sctx *s, const xrow *r, int64_t token) {
    int same = s->have_first;
    for (size_t i = 0; i < s->ngroup && same; i++) {
        const xval *a = &r->vals[s->group[i]], *b = &s->gkey[i];
        same = a->len == b->len && (a->len == BS_VALUE_NULL || !a->len || !memcmp(a->p, b->p, a->len));
    }
    if (!same) {
        if (flush_group(s)) return -1;
        if (s->done) return 1;
        for (size_t i = 0; i < s->ngroup; i++) {
            const xval *a = &r->vals[s->group[i]];
            s->gkey[i] = *a;
            if (a->len != BS_VALUE_NULL)
                s->gkey[i].p = bs_arena_memdup(s->c->a, a->p, a->len ? a->len : 1);
        }
    }
    return aggregate_row(s, r, token);
}

/* GROUP BY: a prefix of the primary key, partition key complete. */
static int plan_group(sctx *s) {
    xctx *c = s->c;
    const bs_cql_select *q = s->q;
    if (!q->ngroup) return 0;
    if (q->json) return XINVALID(c, "GROUP BY with SELECT JSON is not supported by Basalt");
    s->group = bs_arena_calloc(c->a, q->ngroup * sizeof *s->group);
    s->gkey = bs_arena_calloc(c->a, q->ngroup * sizeof *s->gkey);
    if (!s->group || !s->gkey) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    size_t nkey = s->t->npk + s->t->nck;
    for (uint32_t i = 0; i < q->ngroup; i++) {
        int ci = col_index(s->t, q->group[i]);
        if (ci < 0) return XINVALID(c, "Undefined column name %s", q->group[i]);
        if ((size_t)ci >= nkey || ci != (int)i)
            return XINVALID(c, "Group by currently only support groups of columns following their "
                               "declared order in the PRIMARY KEY");
        s->group[i] = ci;
    }
    if (q->ngroup < s->t->npk)
        return XINVALID(c, "Group by is not supported on only a part of the partition key");
    s->ngroup = q->ngroup;
    s->aggregate = 1;
    return 0;
}

/* Returns 0 to go on, 1 when the page/limit is full (position recorded). */
static int emit_row(sctx *s, const uint8_t *pk, size_t pklen, int64_t token,
                    xrow *r) {
    xctx *c = s->c;
    if (!s->cur_pk || s->cur_pk_len != pklen || memcmp(s->cur_pk, pk, pklen)) {
        s->cur_pk = pk;
        s->cur_pk_len = pklen;
        s->part_rows = 0;
    }
    for (size_t i = 0; i < s->w.nfilters; i++) {
        int ok = 0;
        if (bs__x_filter(c, s->t, s->w.filters[i], r->vals, &ok)) return -1;
        if (!ok) return 0;
    }
    if (s->ppl >= 0 && s->part_rows >= s->ppl) return 0;
    s->part_rows++;
    if (s->ngroup) return group_row(s, r, token);
    if (s->aggregate) return aggregate_row(s, r, token);
    if (s->collect) {
        if (s->ncrows == s->capcrows) {
            size_t cap = s->capcrows ? 2 * s->capcrows : 64;
            crow *n = bs_arena_alloc(c->a, cap * sizeof *n);
            if (!n) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
            if (s->ncrows) memcpy(n, s->crows, s->ncrows * sizeof *n);
            s->crows = n;
            s->capcrows = cap;
        }
        /* rows come from new_row() in the request arena: keep them */
        crow *cr = &s->crows[s->ncrows];
        cr->r = *r;
        cr->token = token;
        cr->seq = s->ncrows++;
        return 0;
    }
    if (output_row(s, r, token)) return -1;
    s->last_token = token;
    s->last_pk = pk;
    s->last_pk_len = pklen;
    s->last_ck = r->ck;
    s->last_ck_len = r->ck_len;
    s->last_has_ck = !r->is_static_only && r->ck_len > 0;
    if (s->limit > 0) s->limit--;
    if (s->page > 0) s->page--;
    if (s->limit == 0) {
        s->done = 1;
        return 1;
    }
    if (s->page == 0) {
        s->done = 1;
        s->more = 1;
        return 1;
    }
    return 0;
}

/* Post-query ordering: the encoded clustering keys compare (memcmp) in
 * the table's clustering order; ORDER BY either follows it or reverses
 * it entirely. */
static int crow_cmp(const void *a, const void *b, void *reversed) {
    const crow *x = a, *y = b;
    size_t n = x->r.ck_len < y->r.ck_len ? x->r.ck_len : y->r.ck_len;
    int c = n ? memcmp(x->r.ck, y->r.ck, n) : 0;
    if (!c) c = (x->r.ck_len > y->r.ck_len) - (x->r.ck_len < y->r.ck_len);
    if (*(const int *)reversed) c = -c;
    if (!c) c = (x->seq > y->seq) - (x->seq < y->seq);
    return c;
}

static int emit_sorted(sctx *s) {
    if (s->ncrows > 1)
        qsort_r(s->crows, s->ncrows, sizeof *s->crows, crow_cmp, &s->reversed);
    for (size_t i = 0; i < s->ncrows && s->limit != 0; i++) {
        if (output_row(s, &s->crows[i].r, s->crows[i].token)) return -1;
        if (s->limit > 0) s->limit--;
    }
    return 0;
}

/* ---- materialising stored rows ---------------------------------------------
 */

/* A counter: the sum of its shards (query/counter.h). */
static int assemble_counter(xctx *c, const bs_table_schema *t, const bs_cellv *cells,
                            size_t n, const bs_column *col, xrow *r) {
    int64_t sum, ts;
    int k = bs_counter_value(cells, n, col->id, &sum, &ts);
    if (k < 0)
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "corrupt counter shard in %s.%s",
                          t->keyspace, t->name);
    if (!k) return 0;
    size_t ci = (size_t)(col - t->cols);
    uint8_t *p = bs_arena_alloc(c->a, 8);
    if (!p) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    bs_put_u64(p, (uint64_t)sum);
    r->vals[ci].p = p;
    r->vals[ci].len = 8;
    r->wt[ci] = ts;
    return 0;
}

static int assemble_cells(sctx *s, const bs_rowv *rv, xrow *r) {
    return bs__x_assemble_cells(s->c, s->t, s->now_s, rv, r);
}

int bs__x_assemble_cells(xctx *c, const bs_table_schema *t, int64_t now_s,
                         const bs_rowv *rv, xrow *r) {
    size_t i = 0;
    while (i < rv->ncells) {
        const bs_cellv *cv = &rv->cells[i];
        const bs_column *col = bs_table_column_by_id(t, cv->col);
        if (!col) { /* a dropped column's cells */
            i++;
            continue;
        }
        size_t ci = (size_t)(col - t->cols);
        if (col->type->kind == BS_TYPE_COUNTER) {
            size_t j = i;
            while (j < rv->ncells && rv->cells[j].col == cv->col) j++;
            if (assemble_counter(c, t, rv->cells + i, j - i, col, r)) return -1;
            i = j;
            continue;
        }
        if (!bs_type_is_multicell(col->type)) {
            r->vals[ci].p = cv->val ? cv->val : (const uint8_t *)"";
            r->vals[ci].len = cv->val_len;
            r->wt[ci] = cv->ts;
            r->ttl[ci] = cv->expiry_s ? (int32_t)(cv->expiry_s - now_s) : 0;
            if (cv->expiry_s && r->ttl[ci] <= 0) r->ttl[ci] = 1;
            i++;
            continue;
        }
        size_t j = i;
        while (j < rv->ncells && rv->cells[j].col == cv->col)
            j++;
        size_t n = j - i;
        bs_value_elem *ks = bs_arena_calloc(c->a, (n + 1) * sizeof *ks);
        bs_value_elem *vs = bs_arena_calloc(c->a, (n + 1) * sizeof *vs);
        size_t m = 0;
        for (size_t k = i; k < j; k++) {
            const bs_cellv *e = &rv->cells[k];
            if (!e->has_elem) continue;
            if (col->type->kind == BS_TYPE_LIST) {
                ks[m].p = e->val;
                ks[m].len = e->val_len;
            } else {
                bs_buf kb = BS_BUF_INIT;
                bs_rbuf rb;
                bs_rbuf_init(&rb, e->elem, e->elem_len);
                int32_t kl;
                if (bs_keycodec_decode(col->type->params[0], 0, &rb, &kb,
                                       &kl)) {
                    bs_buf_free(&kb);
                    return bs__x_fail(c, BS_PROTO_ERR_SERVER,
                                      "corrupt collection element in %s.%s",
                                      t->keyspace, t->name);
                }
                ks[m].p = bs_arena_memdup(
                    c->a, kb.data ? kb.data : (uint8_t *)"", kb.len);
                ks[m].len = kb.len;
                bs_buf_free(&kb);
                vs[m].p = e->val;
                vs[m].len = e->val_len;
            }
            m++;
        }
        if (m) {
            bs_buf b = BS_BUF_INIT;
            int rc = col->type->kind == BS_TYPE_LIST
                         ? bs_value_build_list(ks, m, &b)
                     : col->type->kind == BS_TYPE_SET
                         ? bs_value_build_set(col->type, ks, m, &b)
                         : bs_value_build_map(col->type, ks, vs, m, &b);
            if (rc) {
                bs_buf_free(&b);
                return bs__x_fail(c, BS_PROTO_ERR_SERVER,
                                  "cannot rebuild collection %s", col->name);
            }
            r->vals[ci].p =
                bs_arena_memdup(c->a, b.data ? b.data : (uint8_t *)"", b.len);
            r->vals[ci].len = b.len;
            bs_buf_free(&b);
        }
        i = j;
    }
    return 0;
}

static int new_row(sctx *s, xrow *r) {
    size_t n = s->t->ncols + 1;
    r->vals = bs_arena_alloc(s->c->a, n * sizeof *r->vals);
    r->wt = bs_arena_alloc(s->c->a, n * sizeof *r->wt);
    r->ttl = bs_arena_calloc(s->c->a, n * sizeof *r->ttl);
    if (!r->vals || !r->wt || !r->ttl)
        return bs__x_fail(s->c, BS_PROTO_ERR_SERVER, "out of memory");
    for (size_t i = 0; i < n; i++) {
        r->vals[i].p = NULL;
        r->vals[i].len = BS_VALUE_NULL;
        r->vals[i].unset = 0;
        r->wt[i] = INT64_MIN;
    }
    r->ck = NULL;
    r->ck_len = 0;
    r->is_static_only = 0;
    return 0;
}

/* Emits the rows of a partition read; 1 when full. */
static int emit_partition(sctx *s, const bs_partv *p, int first_chunk,
                          int ck_restricted) {
    xctx *c = s->c;
    const bs_table_schema *t = s->t;
    xval pkv[XMAX_KEY];
    if (bs__x_split_partition_key(c, t, p->pk, p->pk_len, pkv)) return -1;
    xrow st;
    int have_static = 0;
    if (p->static_row) {
        if (new_row(s, &st)) return -1;
        if (assemble_cells(s, p->static_row, &st)) return -1;
        have_static = 1;
    }
    if (s->q->distinct) {
        if (!first_chunk) return 0;
        xrow r;
        if (have_static)
            r = st;
        else if (new_row(s, &r))
            return -1;
        for (size_t k = 0; k < t->npk; k++)
            r.vals[k] = pkv[k];
        r.is_static_only = 1;
        return emit_row(s, p->pk, p->pk_len, p->token, &r);
    }
    if (p->nrows == 0 && have_static && first_chunk && !ck_restricted) {
        for (size_t k = 0; k < t->npk; k++)
            st.vals[k] = pkv[k];
        st.is_static_only = 1;
        return emit_row(s, p->pk, p->pk_len, p->token, &st);
    }
    for (size_t i = 0; i < p->nrows; i++) {
        const bs_rowv *rv = &p->rows[i];
        xrow r;
        if (new_row(s, &r)) return -1;
        for (size_t k = 0; k < t->npk; k++)
            r.vals[k] = pkv[k];
        if (t->nck &&
            bs__x_split_clustering(c, t, rv->ck, rv->ck_len, r.vals + t->npk))
            return -1;
        if (have_static)
            for (size_t k = t->npk + t->nck; k < t->ncols; k++)
                if (t->cols[k].kind == BS_COL_STATIC) {
                    r.vals[k] = st.vals[k];
                    r.wt[k] = st.wt[k];
                    r.ttl[k] = st.ttl[k];
                }
        if (assemble_cells(s, rv, &r)) return -1;
        r.ck = rv->ck;
        r.ck_len = rv->ck_len;
        int rc = emit_row(s, p->pk, p->pk_len, p->token, &r);
        if (rc) return rc;
    }
    return 0;
}

/* ---- paging state ---------------------------------------------------------
 */

typedef struct pstate {
    int valid;
    int has_ck;
    uint32_t part_idx;
    int64_t token;
    const uint8_t *pk;
    size_t pk_len;
    const uint8_t *ck;
    size_t ck_len;
    int32_t limit;
    int32_t part_rows;
} pstate;

static int parse_state(xctx *c, pstate *ps) {
    memset(ps, 0, sizeof *ps);
    if (c->paging_state.len < 0) return 0;
    bs_rbuf r;
    bs_rbuf_init(&r, c->paging_state.p, (size_t)c->paging_state.len);
    uint8_t ver, flags;
    uint16_t pl, cl;
    uint32_t idx, lim, pr;
    uint64_t tok;
    if (bs_rbuf_u8(&r, &ver) || ver != 1 || bs_rbuf_u8(&r, &flags) ||
        bs_rbuf_u32(&r, &idx) || bs_rbuf_u64(&r, &tok) ||
        bs_rbuf_u16(&r, &pl) || bs_rbuf_bytes(&r, pl, &ps->pk) ||
        bs_rbuf_u16(&r, &cl) || bs_rbuf_bytes(&r, cl, &ps->ck) ||
        bs_rbuf_u32(&r, &lim) || bs_rbuf_u32(&r, &pr) || bs_rbuf_left(&r))
        return bs__x_fail(c, BS_PROTO_ERR_PROTOCOL,
                          "Invalid value for the paging state");
    ps->valid = 1;
    ps->has_ck = flags & 1;
    ps->part_idx = idx;
    ps->token = (int64_t)tok;
    ps->pk_len = pl;
    ps->ck_len = cl;
    ps->limit = (int32_t)lim;
    ps->part_rows = (int32_t)pr;
    return 0;
}

static int make_state(sctx *s, bs_buf *b) {
    bs_buf_append_u8(b, 1);
    bs_buf_append_u8(b, (uint8_t)(s->last_has_ck ? 1 : 0));
    bs_buf_append_u32(b, (uint32_t)s->part_idx);
    bs_buf_append_u64(b, (uint64_t)s->last_token);
    bs_buf_append_u16(b, (uint16_t)s->last_pk_len);
    bs_buf_append(b, s->last_pk, s->last_pk_len);
    size_t cl = s->last_has_ck ? s->last_ck_len : 0;
    bs_buf_append_u16(b, (uint16_t)cl);
    bs_buf_append(b, s->last_ck, cl);
    bs_buf_append_u32(b, (uint32_t)(int32_t)s->limit);
    bs_buf_append_u32(b, (uint32_t)(int32_t)s->part_rows);
    return 0;
}

/* ---- sources ---------------------------------------------------------------
 */

static int backend_fail(xctx *c, const bs_exec_err *err) {
    c->failed = 1;
    c->err = *err;
    return -1;
}

#define CHUNK 1000

/* Reads one partition (all slices of the = prefixes), chunk by chunk. */
static int read_partition(sctx *s, const uint8_t *pk, size_t pklen,
                          int64_t token, const pstate *resume) {
    xctx *c = s->c;
    const uint8_t **pre = NULL;
    size_t *prelen = NULL, npre = 1;
    if (s->w.ck_eq) {
        if (bs__x_ck_prefixes(c, s->t, &s->w, &pre, &prelen, &npre)) return -1;
    }
    int ck_restricted = s->w.ck_eq || s->w.has_lo || s->w.has_hi;
    int first_chunk = !(resume && resume->valid);
    if (resume && resume->valid) s->part_rows = resume->part_rows;
    s->cur_pk = pk;
    s->cur_pk_len = pklen;
    for (size_t pi0 = 0; pi0 < npre; pi0++) {
        size_t pi = s->reversed ? npre - 1 - pi0 : pi0;
        bs_slice sl;
        memset(&sl, 0, sizeof sl);
        if (bs__x_ck_bounds(c, s->t, &s->w, pre ? pre[pi] : NULL,
                            pre ? prelen[pi] : 0, &sl.start, &sl.end))
            return -1;
        sl.with_static = 1;
        sl.reversed = s->reversed;
        sl.now_s = s->now_s;
        sl.limit = s->q->distinct ? 1 : CHUNK;
        const uint8_t *after = NULL;
        size_t after_len = 0;
        if (resume && resume->valid && resume->has_ck) {
            after = resume->ck;
            after_len = resume->ck_len;
        }
        for (;;) {
            if (after) {
                /* skip slices wholly before the resume point */
                sl.has_after = 1;
                sl.after_ck = after;
                sl.after_len = after_len;
            }
            bs_partv *p = NULL;
            bs_exec_err err;
            memset(&err, 0, sizeof err);
            if (bs__x_read(c, s->t, token, pk, pklen, &sl, c->cl, &p, &err))
                return backend_fail(c, &err);
            if (!p) break;
            int rc =
                emit_partition(s, p, first_chunk && pi0 == 0, ck_restricted);
            first_chunk = 0;
            if (rc) return rc;
            if (!p->limited || p->nrows == 0 || s->q->distinct) break;
            after = p->rows[p->nrows - 1].ck;
            after_len = p->rows[p->nrows - 1].ck_len;
            sl.with_static = 1;
        }
    }
    return 0;
}

typedef struct scanctx {
    sctx *s;
    int stopped;
    int resume_inside; /* stopped because a partition was limited */
    int64_t ctoken;
    const uint8_t *cpk;
    size_t cpk_len;
    const uint8_t *cck;
    size_t cck_len;
} scanctx;

static int scan_cb(void *ud, const bs_partv *p) {
    scanctx *sc = ud;
    sctx *s = sc->s;
    /* the partition's bytes die after the callback: copy what paging keeps */
    bs_partv cp = *p;
    cp.pk = bs_arena_memdup(s->c->a, p->pk, p->pk_len ? p->pk_len : 1);
    int first = !(s->cur_pk && s->cur_pk_len == p->pk_len &&
                  !memcmp(s->cur_pk, p->pk, p->pk_len));
    bs_rowv *rows = bs_arena_alloc(s->c->a, (p->nrows + 1) * sizeof *rows);
    for (size_t i = 0; i < p->nrows; i++) {
        rows[i] = p->rows[i];
        rows[i].ck = bs_arena_memdup(s->c->a, p->rows[i].ck,
                                     p->rows[i].ck_len ? p->rows[i].ck_len : 1);
    }
    cp.rows = rows;
    int rc =
        emit_partition(s, &cp, first, s->w.ck_eq || s->w.has_lo || s->w.has_hi);
    if (rc < 0) return -1;
    if (rc > 0) {
        sc->stopped = 1;
        return 1;
    }
    if (p->limited && p->nrows) {
        sc->stopped = 1;
        sc->resume_inside = 1;
        sc->ctoken = p->token;
        sc->cpk = cp.pk;
        sc->cpk_len = cp.pk_len;
        sc->cck = rows[p->nrows - 1].ck;
        sc->cck_len = rows[p->nrows - 1].ck_len;
        return 1;
    }
    return 0;
}

static int scan_table(sctx *s, const pstate *resume) {
    xctx *c = s->c;
    if (s->w.tok_empty ||
        (s->w.has_token && s->w.tok_lo >= s->w.tok_hi &&
         !(s->w.tok_lo == INT64_MIN && s->w.tok_hi == INT64_MAX)))
        return 0;
    if (s->w.ck_eq > 1 || (s->w.ck_eq == 1 && s->w.nckv[0] > 1))
        return XINVALID(c, "Clustering column IN restrictions are only "
                           "supported with a partition key restriction");
    const uint8_t **pre = NULL;
    size_t *prelen = NULL, npre = 0;
    bs_slice sl;
    memset(&sl, 0, sizeof sl);
    if (s->w.ck_eq) {
        if (bs__x_ck_prefixes(c, s->t, &s->w, &pre, &prelen, &npre)) return -1;
    }
    if (bs__x_ck_bounds(c, s->t, &s->w, npre ? pre[0] : NULL,
                        npre ? prelen[0] : 0, &sl.start, &sl.end))
        return -1;
    sl.with_static = 1;
    sl.now_s = s->now_s;
    sl.limit = s->q->distinct ? 1 : CHUNK;
    bs_scan sc;
    memset(&sc, 0, sizeof sc);
    sc.start_token = s->w.has_token ? s->w.tok_lo : INT64_MIN;
    sc.end_token = s->w.has_token ? s->w.tok_hi : INT64_MIN;
    if (!s->w.has_token) {
        sc.start_token = INT64_MIN;
        sc.end_token = INT64_MAX;
    }
    sc.slice = &sl;
    if (resume && resume->valid) {
        sc.has_cursor = 1;
        sc.cursor_token = resume->token;
        sc.cursor_pk = resume->pk;
        sc.cursor_pk_len = resume->pk_len;
        if (resume->has_ck) {
            sc.has_cursor_ck = 1;
            sc.cursor_ck = resume->ck;
            sc.cursor_ck_len = resume->ck_len;
            s->cur_pk = resume->pk;
            s->cur_pk_len = resume->pk_len;
            s->part_rows = resume->part_rows;
        }
    }
    if (bs__x_must_block(c)) return -1; /* a scan waits for pages */
    for (;;) {
        scanctx ctx;
        memset(&ctx, 0, sizeof ctx);
        ctx.s = s;
        bs_exec_err err;
        memset(&err, 0, sizeof err);
        if (c->x->be.scan(c->x->be.ud, s->t, &sc, c->cl, scan_cb, &ctx, &err)) {
            if (c->failed) return -1;
            return backend_fail(c, &err);
        }
        if (c->failed) return -1;
        if (!ctx.resume_inside || s->done) break;
        sc.has_cursor = 1;
        sc.cursor_token = ctx.ctoken;
        sc.cursor_pk = ctx.cpk;
        sc.cursor_pk_len = ctx.cpk_len;
        sc.has_cursor_ck = 1;
        sc.cursor_ck = ctx.cck;
        sc.cursor_ck_len = ctx.cck_len;
    }
    return 0;
}

static int virtual_cb(xctx *c, void *ud, const uint8_t *pk, size_t pklen,
                      int64_t token, xrow *r) {
    (void)c;
    sctx *s = ud;
    if (s->done) return 1;
    return emit_row(s, pk, pklen, token, r);
}

/* ---- SELECT -----------------------------------------------------------------
 */

/* The selectors (SELECT * or a list) and the DISTINCT rules. */
static int plan_selection(sctx *s) {
    xctx *c = s->c;
    const bs_cql_select *q = s->q;
    const bs_table_schema *t = s->t;
    if (q->star) {
        s->nsel = t->ncols;
        s->sel = bs_arena_calloc(c->a, (t->ncols + 1) * sizeof *s->sel);
        for (size_t i = 0; i < t->ncols; i++) {
            s->sel[i].kind = SEL_COLUMN;
            s->sel[i].col = (int)i;
            s->sel[i].type = t->cols[i].type;
            s->sel[i].name = t->cols[i].name;
        }
    } else {
        s->nsel = q->nsel;
        s->sel = bs_arena_calloc(c->a, (q->nsel + 1) * sizeof *s->sel);
        for (uint32_t i = 0; i < q->nsel; i++)
            if (plan_selector(s, &q->sel[i], &s->sel[i])) return -1;
    }
    if (!q->distinct) return 0;
    for (size_t i = 0; i < s->nsel; i++) {
        int ci = s->sel[i].col;
        if (s->sel[i].kind == SEL_TOKEN) continue; /* token(pk) is allowed */
        if (s->sel[i].kind != SEL_COLUMN || ci < 0 ||
            (t->cols[ci].kind != BS_COL_PARTITION_KEY &&
             t->cols[ci].kind != BS_COL_STATIC))
            return XINVALID(
                c,
                "SELECT DISTINCT queries must only request partition key "
                "columns and/or static columns (not %s)",
                s->sel[i].name);
    }
    return 0;
}

/* WHERE: what the key serves, what filters (and whether that needs
 * ALLOW FILTERING).  virt: a virtual table, where everything filters. */
static int plan_where(sctx *s, int virt) {
    xctx *c = s->c;
    const bs_cql_select *q = s->q;
    if (bs__x_where(c, s->t, q->where, q->nwhere, 0, &s->w)) return -1;
    if (virt) {
        /* every relation filters the generated rows */
        s->w.nfilters = 0;
        for (uint32_t i = 0; i < q->nwhere; i++)
            if (q->where[i].lhs != BS_CQL_LHS_TOKEN)
                s->w.filters[s->w.nfilters++] = &q->where[i];
    } else if ((s->w.needs_filtering ||
                (!s->w.pk_full &&
                 (s->w.ck_eq || s->w.has_lo || s->w.has_hi))) &&
               !q->allow_filtering) {
        return XINVALID(
            c, "Cannot execute this query as it might involve data filtering "
               "and thus may have unpredictable performance. If you want to "
               "execute this query despite the performance unpredictability, "
               "use ALLOW FILTERING");
    }
    return 0;
}

/* ORDER BY: only the clustering columns in declared order, all in the
 * table's order or all reversed. */
static int plan_order(sctx *s) {
    xctx *c = s->c;
    const bs_cql_select *q = s->q;
    if (!q->norder) return 0;
    if (!s->w.pk_full)
        return XINVALID(c, "ORDER BY is only supported when the partition "
                           "key is restricted by an EQ or an IN.");
    int rev = -1;
    for (uint32_t i = 0; i < q->norder; i++) {
        const bs_column *col = bs_table_column(s->t, q->order[i].column);
        if (!col)
            return XINVALID(c, "Undefined column name %s", q->order[i].column);
        if (col->kind != BS_COL_CLUSTERING)
            return XINVALID(c,
                            "Order by is currently only supported on the "
                            "clustered columns of the PRIMARY KEY, got %s",
                            col->name);
        if (col->position != (int)i)
            return XINVALID(
                c, "Order by currently only supports the ordering of columns "
                   "following their declared order in the PRIMARY KEY");
        int r = q->order[i].desc != col->desc;
        if (rev >= 0 && r != rev)
            return XINVALID(c, "Unsupported order by relation");
        rev = r;
    }
    s->reversed = rev > 0;
    return 0;
}

/* LIMIT and PER PARTITION LIMIT (-1 when absent). */
static int plan_limits(sctx *s) {
    xctx *c = s->c;
    const bs_cql_select *q = s->q;
    s->limit = -1;
    s->ppl = -1;
    if (q->limit) {
        int64_t v;
        if (bs__x_int_term(c, q->limit, "limit", 1, INT32_MAX, &v)) return -1;
        if (v != INT64_MIN) s->limit = v;
    }
    if (q->per_partition_limit) {
        int64_t v;
        if (bs__x_int_term(c, q->per_partition_limit, "limit", 1, INT32_MAX,
                           &v))
            return -1;
        if (v != INT64_MIN) s->ppl = v;
    }
    return 0;
}

/* The result's column specs (arena memory). */
static void result_meta(sctx *s, bs_proto_meta *meta) {
    xctx *c = s->c;
    const bs_table_schema *t = s->t;
    memset(meta, 0, sizeof *meta);
    meta->paging_state.len = BS_PROTO_NULL;
    meta->version = c->version;
    if (s->json) {
        meta->ncols = 1;
        meta->cols = bs_arena_calloc(c->a, sizeof *meta->cols);
        meta->cols[0].keyspace = bs_proto_cstr(t->keyspace);
        meta->cols[0].table = bs_proto_cstr(t->name);
        meta->cols[0].name = bs_proto_cstr("[json]");
        meta->cols[0].type = type_of_kind(BS_TYPE_VARCHAR);
        return;
    }
    meta->ncols = (uint32_t)s->nsel;
    meta->cols = bs_arena_calloc(c->a, (s->nsel + 1) * sizeof *meta->cols);
    for (size_t i = 0; i < s->nsel; i++) {
        meta->cols[i].keyspace = bs_proto_cstr(t->keyspace);
        meta->cols[i].table = bs_proto_cstr(t->name);
        meta->cols[i].name = bs_proto_cstr(s->sel[i].name);
        meta->cols[i].type = s->sel[i].type;
    }
}

/* Rows of the partitions the WHERE names (= / IN on the whole key),
 * resuming at ps when it is valid.  < 0 on error. */
static int read_keyed(sctx *s, const pstate *ps) {
    xctx *c = s->c;
    const uint8_t **pks;
    size_t *pklens, npk;
    int64_t *tokens;
    if (bs__x_partition_keys(c, s->t, &s->w, &pks, &pklens, &tokens, &npk))
        return -1;
    if (s->q->norder && npk > 1 && !s->aggregate) {
        /* as Cassandra: sorted across partitions, so not pageable
         * unless the LIMIT fits in one page */
        if (s->page > 0 && (s->limit < 0 || s->limit > s->page))
            return XINVALID(
                c, "Cannot page queries with both ORDER BY and a IN "
                   "restriction on the partition key; you must either "
                   "remove the ORDER BY or the IN and sort client side, or "
                   "disable paging for this query");
        s->collect = 1;
        s->page = -1;
    }
    int rc = 0;
    size_t start = ps->valid ? ps->part_idx : 0;
    for (size_t i = start; i < npk && !s->done && rc >= 0; i++) {
        s->part_idx = i;
        const pstate *res = (ps->valid && i == ps->part_idx) ? ps : NULL;
        if (res && !res->has_ck) continue; /* that partition was finished */
        s->part_rows = 0;
        s->cur_pk = NULL;
        rc = read_partition(s, pks[i], pklens[i], tokens[i], res);
    }
    if (s->done && s->more && !s->last_has_ck && s->part_idx + 1 >= npk)
        s->more = 0;
    if (rc >= 0 && !c->failed && s->collect && emit_sorted(s)) return -1;
    return rc;
}

/* The table and the selectors of a SELECT (no reading). */
static int select_begin(xctx *c, const bs_cql_stmt *stmt, sctx **out) {
    const bs_cql_select *q = &stmt->u.select;
    sctx *s = bs_arena_calloc(c->a, sizeof *s);
    if (!s) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    s->c = c;
    s->q = q;
    if (bs__x_table(c, &q->table, &s->t)) return -1;
    s->now_s = c->now_us / 1000000;
    s->json = q->json;
    if (plan_selection(s) || plan_group(s)) return -1;
    *out = s;
    return 0;
}

int bs__x_select_meta(xctx *c, const bs_cql_stmt *stmt, bs_proto_meta *meta) {
    sctx *s;
    if (select_begin(c, stmt, &s)) return -1;
    result_meta(s, meta);
    if (!meta->cols) return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    return 0;
}

int bs__x_select(xctx *c, const bs_cql_stmt *stmt) {
    sctx *s;
    if (select_begin(c, stmt, &s)) return -1;
    const bs_table_schema *t = s->t;
    int virt = bs__x_is_virtual(t->keyspace, t->name);
    if (plan_where(s, virt) || plan_order(s) || plan_limits(s)) return -1;
    pstate ps;
    if (parse_state(c, &ps)) return -1;
    if (ps.valid && ps.limit >= 0) s->limit = ps.limit;
    s->page = (s->aggregate || virt) ? -1 : c->page_size;
    if (s->page == 0) s->page = -1;
    /* metadata: left out when the client has the one of PREPARE
     * (skip_metadata), which must then still describe these columns */
    bs_proto_meta meta;
    result_meta(s, &meta);
    if (c->skip_meta) {
        if (c->check_fp && bs__x_meta_fp(&meta) != c->prep_fp)
            return bs__x_unprepared(c);
        meta.flags |= BS_PROTO_RF_NO_METADATA;
    }
    size_t frame_start;
    if (bs_proto_frame_begin(c->out, 1, 0, c->stream, BS_PROTO_OP_RESULT,
                             &frame_start))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    if (bs_proto_rows_begin(&s->rb, c->out, &meta))
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "out of memory");
    /* rows */
    int rc;
    if (!virt && !s->w.pk_full &&
        (c->cl == BS_CL_SERIAL || c->cl == BS_CL_LOCAL_SERIAL))
        return XINVALID(c, "SERIAL/LOCAL_SERIAL consistency may only be "
                           "requested for one partition at a time");
    if (virt)
        rc = bs__x_virtual_rows(c, t, virtual_cb, s);
    else if (s->w.pk_full)
        rc = read_keyed(s, &ps);
    else
        rc = scan_table(s, ps.valid ? &ps : NULL);
    if (rc < 0 || c->failed) return -1;
    if (s->ngroup ? flush_group(s) : (s->aggregate && finish_aggregates(s))) return -1;
    bs_buf st = BS_BUF_INIT;
    if (s->more && s->limit != 0) {
        make_state(s, &st);
        bs_proto_rows_set_paging_state(&s->rb, st.data, st.len);
    }
    rc = bs_proto_rows_finish(&s->rb);
    if (!rc) rc = bs_proto_frame_end(c->out, frame_start, c->comp);
    bs_buf_free(&st);
    if (rc)
        return bs__x_fail(c, BS_PROTO_ERR_SERVER, "cannot build the result: %s",
                          bs_strerror(rc));
    return 0;
}
