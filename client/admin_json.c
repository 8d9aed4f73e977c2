/*
 * admin_json.c - strict recursive-descent JSON parser (RFC 8259) into an
 * arena-allocated tree; see admin_json.h.
 *
 * Grammar accepted, exactly: value = object / array / string / number /
 * true / false / null, with whitespace = SP HT LF CR between tokens.
 * Numbers: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.  Strings: no
 * raw bytes below 0x20, escapes \" \\ \/ \b \f \n \r \t \uXXXX with
 * surrogate pairs combined (a lone surrogate is an error), raw bytes
 * validated as UTF-8.  Depth is bounded (MAX_DEPTH) so hostile input
 * cannot exhaust the stack; every read is bounded by the input length.
 * Containers collect elements in a temporary growable array that is
 * copied into the arena when the container closes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/admin_json.h"
#include "common/error.h"
#include "common/utf8.h"

#define MAX_DEPTH 64

typedef struct parser {
    const unsigned char *p;
    size_t len, pos;
    bs_arena *a;
    char *err;
    size_t errlen;
    int rc;
} parser;

static int perr(parser *ps, const char *msg) {
    if (ps->err && ps->errlen)
        snprintf(ps->err, ps->errlen, "offset %zu: %s", ps->pos, msg);
    return ps->rc = BS_ESYNTAX;
}

static void ws(parser *ps) {
    while (ps->pos < ps->len) {
        unsigned char c = ps->p[ps->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        ps->pos++;
    }
}

static int hex4(parser *ps, unsigned *out) {
    if (ps->len - ps->pos < 4) return perr(ps, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = ps->p[ps->pos + (size_t)i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10u;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10u;
        else
            return perr(ps, "bad \\u escape");
    }
    ps->pos += 4;
    *out = v;
    return 0;
}

static size_t put_utf8(char *d, unsigned cp) {
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xc0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xe0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        d[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (char)(0xf0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    d[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* At the opening quote.  The decoded text is never longer than the
 * source, so one allocation of the remaining length bound suffices;
 * find the closing quote first to size it. */
static int parse_string(parser *ps, const char **out, size_t *outlen) {
    ps->pos++; /* '"' */
    size_t start = ps->pos, end = start;
    while (end < ps->len && ps->p[end] != '"')
        end += ps->p[end] == '\\' ? 2 : 1;
    if (end >= ps->len) return perr(ps, "unterminated string");
    char *d = bs_arena_alloc(ps->a, end - start + 1);
    if (!d) return ps->rc = BS_ENOMEM;
    size_t j = 0;
    while (ps->pos < end) {
        unsigned char c = ps->p[ps->pos];
        if (c < 0x20) return perr(ps, "control character in string");
        if (c == '\\') {
            ps->pos++;
            char e = (char)ps->p[ps->pos++];
            switch (e) {
            case '"': d[j++] = '"'; break;
            case '\\': d[j++] = '\\'; break;
            case '/': d[j++] = '/'; break;
            case 'b': d[j++] = '\b'; break;
            case 'f': d[j++] = '\f'; break;
            case 'n': d[j++] = '\n'; break;
            case 'r': d[j++] = '\r'; break;
            case 't': d[j++] = '\t'; break;
            case 'u': {
                unsigned cp;
                if (hex4(ps, &cp)) return ps->rc;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    unsigned lo;
                    if (ps->pos + 2 > end || ps->p[ps->pos] != '\\' ||
                        ps->p[ps->pos + 1] != 'u')
                        return perr(ps, "lone surrogate");
                    ps->pos += 2;
                    if (hex4(ps, &lo)) return ps->rc;
                    if (lo < 0xdc00 || lo > 0xdfff)
                        return perr(ps, "bad surrogate pair");
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                    return perr(ps, "lone surrogate");
                }
                if (cp == 0) return perr(ps, "NUL in string");
                /* \uXXXX is 6 source bytes for at most 3 output bytes and
                 * a pair 12 for 4, so d never overflows */
                j += put_utf8(d + j, cp);
                break;
            }
            default: ps->pos--; return perr(ps, "bad escape");
            }
            if (ps->pos > end) return perr(ps, "bad escape");
            continue;
        }
        size_t l = bs_utf8_decode(ps->p + ps->pos, end - ps->pos, NULL);
        if (!l) return perr(ps, "invalid UTF-8 in string");
        memcpy(d + j, ps->p + ps->pos, l);
        j += l;
        ps->pos += l;
    }
    ps->pos = end + 1;
    d[j] = 0;
    *out = d;
    *outlen = j;
    return 0;
}

static int is_digit(parser *ps) {
    return ps->pos < ps->len && ps->p[ps->pos] >= '0' && ps->p[ps->pos] <= '9';
}

static int parse_number(parser *ps, bs_json *v) {
    size_t start = ps->pos;
    if (ps->p[ps->pos] == '-') ps->pos++;
    if (!is_digit(ps)) return perr(ps, "bad number");
    if (ps->p[ps->pos] == '0') {
        ps->pos++;
    } else {
        while (is_digit(ps))
            ps->pos++;
    }
    if (ps->pos < ps->len && ps->p[ps->pos] == '.') {
        ps->pos++;
        if (!is_digit(ps)) return perr(ps, "bad number");
        while (is_digit(ps))
            ps->pos++;
    }
    if (ps->pos < ps->len && (ps->p[ps->pos] == 'e' || ps->p[ps->pos] == 'E')) {
        ps->pos++;
        if (ps->pos < ps->len &&
            (ps->p[ps->pos] == '+' || ps->p[ps->pos] == '-'))
            ps->pos++;
        if (!is_digit(ps)) return perr(ps, "bad number");
        while (is_digit(ps))
            ps->pos++;
    }
    v->type = BS_JSON_NUMBER;
    v->str =
        bs_arena_strndup(ps->a, (const char *)ps->p + start, ps->pos - start);
    v->len = ps->pos - start;
    return v->str ? 0 : (ps->rc = BS_ENOMEM);
}

static int parse_value(parser *ps, bs_json **out, int depth);

static int lit(parser *ps, const char *word) {
    size_t n = strlen(word);
    if (ps->len - ps->pos < n || memcmp(ps->p + ps->pos, word, n) != 0)
        return perr(ps, "unexpected token");
    ps->pos += n;
    return 0;
}

static int parse_container(parser *ps, bs_json *v, int depth, bool obj) {
    char close = obj ? '}' : ']';
    ps->pos++;
    size_t cap = 0, n = 0;
    bs_json **items = NULL;
    const char **keys = NULL;
    int rc = 0;
    ws(ps);
    if (ps->pos < ps->len && ps->p[ps->pos] == close) {
        ps->pos++;
    } else {
        for (;;) {
            const char *key = NULL;
            size_t klen;
            if (obj) {
                ws(ps);
                if (ps->pos >= ps->len || ps->p[ps->pos] != '"') {
                    rc = perr(ps, "expected a string key");
                    break;
                }
                if ((rc = parse_string(ps, &key, &klen))) break;
                ws(ps);
                if (ps->pos >= ps->len || ps->p[ps->pos] != ':') {
                    rc = perr(ps, "expected ':'");
                    break;
                }
                ps->pos++;
            }
            bs_json *item;
            if ((rc = parse_value(ps, &item, depth + 1))) break;
            if (n == cap) {
                size_t nc = cap ? cap * 2 : 8;
                bs_json **ni = realloc(items, nc * sizeof *ni);
                if (!ni) {
                    rc = ps->rc = BS_ENOMEM;
                    break;
                }
                items = ni;
                if (obj) {
                    const char **nk = realloc(keys, nc * sizeof *nk);
                    if (!nk) {
                        rc = ps->rc = BS_ENOMEM;
                        break;
                    }
                    keys = nk;
                }
                cap = nc;
            }
            items[n] = item;
            if (obj) keys[n] = key;
            n++;
            ws(ps);
            if (ps->pos < ps->len && ps->p[ps->pos] == ',') {
                ps->pos++;
                continue;
            }
            if (ps->pos < ps->len && ps->p[ps->pos] == close) {
                ps->pos++;
                break;
            }
            rc = perr(ps, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            break;
        }
    }
    if (!rc) {
        v->type = obj ? BS_JSON_OBJECT : BS_JSON_ARRAY;
        v->n = n;
        if (n) {
            v->items = bs_arena_memdup(ps->a, items, n * sizeof *items);
            if (obj) v->keys = bs_arena_memdup(ps->a, keys, n * sizeof *keys);
            if (!v->items || (obj && !v->keys)) rc = ps->rc = BS_ENOMEM;
        }
    }
    free(items);
    free(keys);
    return rc;
}

static int parse_value(parser *ps, bs_json **out, int depth) {
    if (depth > MAX_DEPTH) {
        perr(ps, "nesting too deep");
        return ps->rc = BS_ERANGE;
    }
    ws(ps);
    if (ps->pos >= ps->len) return perr(ps, "unexpected end of input");
    bs_json *v = bs_arena_calloc(ps->a, sizeof *v);
    if (!v) return ps->rc = BS_ENOMEM;
    *out = v;
    unsigned char c = ps->p[ps->pos];
    switch (c) {
    case '{': return parse_container(ps, v, depth, true);
    case '[': return parse_container(ps, v, depth, false);
    case '"':
        v->type = BS_JSON_STRING;
        return parse_string(ps, &v->str, &v->len);
    case 't':
        v->type = BS_JSON_BOOL;
        v->boolean = true;
        return lit(ps, "true");
    case 'f': v->type = BS_JSON_BOOL; return lit(ps, "false");
    case 'n': v->type = BS_JSON_NULL; return lit(ps, "null");
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(ps, v);
        return perr(ps, "unexpected character");
    }
}

int bs_json_parse(const char *text, size_t len, bs_arena *a,
                  const bs_json **out, char *err, size_t errlen) {
    parser ps = {(const unsigned char *)text, len, 0, a, err, errlen, 0};
    if (err && errlen) err[0] = 0;
    bs_json *v = NULL;
    int rc = parse_value(&ps, &v, 1);
    if (rc) return rc;
    ws(&ps);
    if (ps.pos != ps.len) return perr(&ps, "trailing characters");
    *out = v;
    return 0;
}

const bs_json *bs_json_get(const bs_json *v, const char *key) {
    if (!v || v->type != BS_JSON_OBJECT) return NULL;
    for (size_t i = v->n; i-- > 0;)
        if (strcmp(v->keys[i], key) == 0) return v->items[i];
    return NULL;
}

const char *bs_json_string(const bs_json *v, const char *dflt) {
    return v && v->type == BS_JSON_STRING ? v->str : dflt;
}

int bs_json_int(const bs_json *v, int64_t *out) {
    if (!v || (v->type != BS_JSON_NUMBER && v->type != BS_JSON_STRING))
        return BS_EINVAL;
    const char *s = v->str;
    size_t i = 0;
    if (s[i] == '-') i++;
    if (!s[i]) return BS_EINVAL;
    for (; s[i]; i++)
        if (s[i] < '0' || s[i] > '9') return BS_EINVAL;
    errno = 0;
    long long x = strtoll(s, NULL, 10);
    if (errno == ERANGE) return BS_ERANGE;
    *out = x;
    return 0;
}

int bs_json_double(const bs_json *v, double *out) {
    if (!v || v->type != BS_JSON_NUMBER) return BS_EINVAL;
    *out = strtod(v->str, NULL);
    return 0;
}

bool bs_json_true(const bs_json *v) {
    return v && v->type == BS_JSON_BOOL && v->boolean;
}
