/*
 * proto_prim.c - native protocol v4 primitives (spec section 3): the
 * sticky-error reader, the bs_buf writers, and the name tables.
 *
 * Wire forms (all big-endian):
 *   [byte] 1   [short] 2 unsigned   [int] 4 signed   [long] 8 signed
 *   [string]       [short] n, n bytes        [long string] [int] n, n bytes
 *   [uuid]         16 bytes
 *   [bytes]        [int] n, n bytes when n >= 0; n < 0 is null
 *   [value]        as [bytes], but -1 null, -2 not set, < -2 invalid
 *   [short bytes]  [short] n, n bytes
 *   [inet]         [byte] n (4|16), n address bytes, [int] port
 *   [inetaddr]     [byte] n (4|16), n address bytes
 *   [string list]  [short] n, n [string]
 *   [string map]   [short] n, n ([string] [string])
 *   [string multimap] [short] n, n ([string] [string list])
 *   [bytes map]    [short] n, n ([string] [bytes])
 *
 * Reader invariants: pos <= len always; the first error is recorded in
 * err/msg and every later call returns it without reading.  A count read
 * from the wire is compared with the bytes left (each element needs at
 * least 2 bytes) before any allocation, so a lying count costs nothing.
 */
#include "query/proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

/* ------------------------------------------------------------------ */
/* Names                                                               */
/* ------------------------------------------------------------------ */

const char *bs_proto_consistency_name(uint16_t cl) {
    static const char *const names[] = {"ANY",          "ONE",         "TWO",
                                        "THREE",        "QUORUM",      "ALL",
                                        "LOCAL_QUORUM", "EACH_QUORUM", "SERIAL",
                                        "LOCAL_SERIAL", "LOCAL_ONE"};
    return cl < sizeof names / sizeof names[0] ? names[cl] : NULL;
}

const char *bs_proto_errcode_name(int32_t code) {
    switch (code) {
    case BS_PROTO_ERR_SERVER: return "Server error";
    case BS_PROTO_ERR_PROTOCOL: return "Protocol error";
    case BS_PROTO_ERR_BAD_CREDENTIALS: return "Bad credentials";
    case BS_PROTO_ERR_UNAVAILABLE: return "Unavailable exception";
    case BS_PROTO_ERR_OVERLOADED: return "Overloaded";
    case BS_PROTO_ERR_IS_BOOTSTRAPPING: return "Is bootstrapping";
    case BS_PROTO_ERR_TRUNCATE: return "Truncate error";
    case BS_PROTO_ERR_WRITE_TIMEOUT: return "Write timeout";
    case BS_PROTO_ERR_READ_TIMEOUT: return "Read timeout";
    case BS_PROTO_ERR_READ_FAILURE: return "Read failure";
    case BS_PROTO_ERR_FUNCTION_FAILURE: return "Function failure";
    case BS_PROTO_ERR_WRITE_FAILURE: return "Write failure";
    case BS_PROTO_ERR_SYNTAX: return "Syntax error";
    case BS_PROTO_ERR_UNAUTHORIZED: return "Unauthorized";
    case BS_PROTO_ERR_INVALID: return "Invalid query";
    case BS_PROTO_ERR_CONFIG: return "Configuration error";
    case BS_PROTO_ERR_ALREADY_EXISTS: return "Already exists";
    case BS_PROTO_ERR_UNPREPARED: return "Unprepared";
    default: return "Unknown";
    }
}

const char *bs_proto_opcode_name(uint8_t op) {
    switch (op) {
    case BS_PROTO_OP_ERROR: return "ERROR";
    case BS_PROTO_OP_STARTUP: return "STARTUP";
    case BS_PROTO_OP_READY: return "READY";
    case BS_PROTO_OP_AUTHENTICATE: return "AUTHENTICATE";
    case BS_PROTO_OP_OPTIONS: return "OPTIONS";
    case BS_PROTO_OP_SUPPORTED: return "SUPPORTED";
    case BS_PROTO_OP_QUERY: return "QUERY";
    case BS_PROTO_OP_RESULT: return "RESULT";
    case BS_PROTO_OP_PREPARE: return "PREPARE";
    case BS_PROTO_OP_EXECUTE: return "EXECUTE";
    case BS_PROTO_OP_REGISTER: return "REGISTER";
    case BS_PROTO_OP_EVENT: return "EVENT";
    case BS_PROTO_OP_BATCH: return "BATCH";
    case BS_PROTO_OP_AUTH_CHALLENGE: return "AUTH_CHALLENGE";
    case BS_PROTO_OP_AUTH_RESPONSE: return "AUTH_RESPONSE";
    case BS_PROTO_OP_AUTH_SUCCESS: return "AUTH_SUCCESS";
    default: return "UNKNOWN";
    }
}

int bs_proto_opcode_valid(uint8_t op, int response) {
    switch (op) {
    case BS_PROTO_OP_STARTUP:
    case BS_PROTO_OP_OPTIONS:
    case BS_PROTO_OP_QUERY:
    case BS_PROTO_OP_PREPARE:
    case BS_PROTO_OP_EXECUTE:
    case BS_PROTO_OP_REGISTER:
    case BS_PROTO_OP_BATCH:
    case BS_PROTO_OP_AUTH_RESPONSE: return !response;
    case BS_PROTO_OP_ERROR:
    case BS_PROTO_OP_READY:
    case BS_PROTO_OP_AUTHENTICATE:
    case BS_PROTO_OP_SUPPORTED:
    case BS_PROTO_OP_RESULT:
    case BS_PROTO_OP_EVENT:
    case BS_PROTO_OP_AUTH_CHALLENGE:
    case BS_PROTO_OP_AUTH_SUCCESS: return response;
    default: return 0;
    }
}

int bs_proto_str_eq(bs_proto_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.p, c, n) == 0);
}

int bs_proto_str_ieq(bs_proto_str s, const char *c) {
    size_t n = strlen(c);
    if (s.len != n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)s.p[i], b = (unsigned char)c[i];
        if (a >= 'A' && a <= 'Z') a = (unsigned char)(a + 32);
        if (b >= 'A' && b <= 'Z') b = (unsigned char)(b + 32);
        if (a != b) return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

void bs_proto_rd_init(bs_proto_rd *r, const void *p, size_t len) {
    r->p = (const uint8_t *)p;
    r->len = p ? len : 0;
    r->pos = 0;
    r->err = 0;
    r->msg[0] = 0;
}

int bs_proto_rd_fail(bs_proto_rd *r, int code, const char *fmt, ...) {
    if (r->err) return r->err;
    r->err = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    return code;
}

#define WHAT(w) ((w) ? (w) : "value")

/* Borrows n bytes or fails with a truncation message. */
static int take(bs_proto_rd *r, const char *what, size_t n,
                const uint8_t **out) {
    *out = NULL;
    if (r->err) return r->err;
    if (r->len - r->pos < n)
        return bs_proto_rd_fail(
            r, BS_ETRUNC,
            "truncated %s at offset %zu: need %zu bytes, %zu left", WHAT(what),
            r->pos, n, r->len - r->pos);
    *out = r->p + r->pos;
    r->pos += n;
    return 0;
}

int bs_proto_rd_byte(bs_proto_rd *r, const char *what, uint8_t *out) {
    const uint8_t *p;
    int rc = take(r, what, 1, &p);
    if (!rc) *out = p[0];
    return rc;
}

int bs_proto_rd_short(bs_proto_rd *r, const char *what, uint16_t *out) {
    const uint8_t *p;
    int rc = take(r, what, 2, &p);
    if (!rc) *out = bs_get_u16(p);
    return rc;
}

int bs_proto_rd_int(bs_proto_rd *r, const char *what, int32_t *out) {
    const uint8_t *p;
    int rc = take(r, what, 4, &p);
    if (!rc) *out = (int32_t)bs_get_u32(p);
    return rc;
}

int bs_proto_rd_long(bs_proto_rd *r, const char *what, int64_t *out) {
    const uint8_t *p;
    int rc = take(r, what, 8, &p);
    if (!rc) *out = (int64_t)bs_get_u64(p);
    return rc;
}

int bs_proto_rd_string(bs_proto_rd *r, const char *what, bs_proto_str *out) {
    uint16_t n;
    const uint8_t *p;
    size_t at = r->pos;
    int rc = bs_proto_rd_short(r, what, &n);
    if (rc) return rc;
    if ((rc = take(r, what, n, &p))) {
        r->pos = at;
        return rc;
    }
    out->p = (const char *)p;
    out->len = n;
    return 0;
}

int bs_proto_rd_long_string(bs_proto_rd *r, const char *what,
                            bs_proto_str *out) {
    int32_t n;
    const uint8_t *p;
    size_t at = r->pos;
    int rc = bs_proto_rd_int(r, what, &n);
    if (rc) return rc;
    if (n < 0)
        return bs_proto_rd_fail(r, BS_EPROTO,
                                "negative length %d of %s at offset %zu",
                                (int)n, WHAT(what), at);
    if ((rc = take(r, what, (size_t)n, &p))) {
        r->pos = at;
        return rc;
    }
    out->p = (const char *)p;
    out->len = (size_t)n;
    return 0;
}

int bs_proto_rd_uuid(bs_proto_rd *r, const char *what, const uint8_t **out) {
    return take(r, what, 16, out);
}

static int rd_sized(bs_proto_rd *r, const char *what, int value_rules,
                    bs_proto_val *out) {
    int32_t n;
    const uint8_t *p;
    size_t at = r->pos;
    int rc = bs_proto_rd_int(r, what, &n);
    if (rc) return rc;
    if (n < 0) {
        if (!value_rules)
            n = BS_PROTO_NULL;
        else if (n < BS_PROTO_UNSET)
            return bs_proto_rd_fail(r, BS_EPROTO,
                                    "invalid length %d of %s at offset %zu "
                                    "(only -1 null and -2 unset are allowed)",
                                    (int)n, WHAT(what), at);
        out->p = NULL;
        out->len = n;
        return 0;
    }
    if ((rc = take(r, what, (size_t)n, &p))) {
        r->pos = at;
        return rc;
    }
    out->p = p;
    out->len = n;
    return 0;
}

int bs_proto_rd_bytes(bs_proto_rd *r, const char *what, bs_proto_val *out) {
    return rd_sized(r, what, 0, out);
}

int bs_proto_rd_value(bs_proto_rd *r, const char *what, bs_proto_val *out) {
    return rd_sized(r, what, 1, out);
}

int bs_proto_rd_short_bytes(bs_proto_rd *r, const char *what,
                            bs_proto_val *out) {
    bs_proto_str s;
    int rc = bs_proto_rd_string(r, what, &s);
    if (rc) return rc;
    out->p = (const uint8_t *)s.p;
    out->len = (int32_t)s.len;
    return 0;
}

int bs_proto_rd_consistency(bs_proto_rd *r, const char *what, uint16_t *out) {
    uint16_t v;
    size_t at = r->pos;
    int rc = bs_proto_rd_short(r, what, &v);
    if (rc) return rc;
    if (v > BS_CL_LOCAL_ONE)
        return bs_proto_rd_fail(
            r, BS_EPROTO,
            "unknown consistency level 0x%04x in %s at offset %zu", v,
            WHAT(what), at);
    *out = v;
    return 0;
}

int bs_proto_rd_inetaddr(bs_proto_rd *r, const char *what, bs_proto_inet *out) {
    uint8_t n;
    const uint8_t *p;
    size_t at = r->pos;
    int rc = bs_proto_rd_byte(r, what, &n);
    if (rc) return rc;
    if (n != 4 && n != 16)
        return bs_proto_rd_fail(r, BS_EPROTO,
                                "bad address size %u in %s at offset %zu", n,
                                WHAT(what), at);
    if ((rc = take(r, what, n, &p))) return rc;
    memset(out, 0, sizeof *out);
    out->addr_len = n;
    memcpy(out->addr, p, n);
    return 0;
}

int bs_proto_rd_inet(bs_proto_rd *r, const char *what, bs_proto_inet *out) {
    bs_proto_inet in;
    int rc = bs_proto_rd_inetaddr(r, what, &in);
    if (!rc) rc = bs_proto_rd_int(r, what, &in.port);
    if (!rc) *out = in;
    return rc;
}

/* Checks a wire count against what is left (min_each bytes per element)
 * and allocates count * size bytes from the arena. */
static int alloc_items(bs_proto_rd *r, bs_arena *a, const char *what,
                       uint32_t count, size_t min_each, size_t size,
                       void **out) {
    if (r->err) return r->err;
    if ((uint64_t)count * min_each > r->len - r->pos)
        return bs_proto_rd_fail(
            r, BS_ETRUNC,
            "truncated %s at offset %zu: %u entries cannot fit in %zu bytes",
            WHAT(what), r->pos, count, r->len - r->pos);
    *out = NULL;
    if (count == 0) return 0;
    *out = bs_arena_alloc(a, (size_t)count * size);
    if (!*out)
        return bs_proto_rd_fail(r, BS_ENOMEM, "out of memory decoding %s",
                                WHAT(what));
    return 0;
}

int bs_proto_rd_string_list(bs_proto_rd *r, bs_arena *a, const char *what,
                            bs_proto_strlist *out) {
    uint16_t n;
    void *items;
    int rc = bs_proto_rd_short(r, what, &n);
    if (!rc) rc = alloc_items(r, a, what, n, 2, sizeof(bs_proto_str), &items);
    if (rc) return rc;
    bs_proto_str *s = items;
    for (unsigned i = 0; i < n; i++)
        if ((rc = bs_proto_rd_string(r, what, &s[i]))) return rc;
    out->n = n;
    out->items = s;
    return 0;
}

int bs_proto_rd_string_map(bs_proto_rd *r, bs_arena *a, const char *what,
                           bs_proto_strmap *out) {
    uint16_t n;
    void *items;
    int rc = bs_proto_rd_short(r, what, &n);
    if (!rc)
        rc = alloc_items(r, a, what, n, 4, sizeof(bs_proto_strpair), &items);
    if (rc) return rc;
    bs_proto_strpair *kv = items;
    for (unsigned i = 0; i < n; i++) {
        if ((rc = bs_proto_rd_string(r, what, &kv[i].key))) return rc;
        if ((rc = bs_proto_rd_string(r, what, &kv[i].val))) return rc;
    }
    out->n = n;
    out->items = kv;
    return 0;
}

int bs_proto_rd_string_multimap(bs_proto_rd *r, bs_arena *a, const char *what,
                                bs_proto_multimap *out) {
    uint16_t n;
    void *items;
    int rc = bs_proto_rd_short(r, what, &n);
    if (!rc)
        rc = alloc_items(r, a, what, n, 4, sizeof(bs_proto_multimap_entry),
                         &items);
    if (rc) return rc;
    bs_proto_multimap_entry *e = items;
    for (unsigned i = 0; i < n; i++) {
        if ((rc = bs_proto_rd_string(r, what, &e[i].key))) return rc;
        if ((rc = bs_proto_rd_string_list(r, a, what, &e[i].vals))) return rc;
    }
    out->n = n;
    out->items = e;
    return 0;
}

int bs_proto_rd_bytes_map(bs_proto_rd *r, bs_arena *a, const char *what,
                          bs_proto_bytesmap *out) {
    uint16_t n;
    void *items;
    int rc = bs_proto_rd_short(r, what, &n);
    if (!rc)
        rc = alloc_items(r, a, what, n, 6, sizeof(bs_proto_bytesmap_entry),
                         &items);
    if (rc) return rc;
    bs_proto_bytesmap_entry *e = items;
    for (unsigned i = 0; i < n; i++) {
        if ((rc = bs_proto_rd_string(r, what, &e[i].key))) return rc;
        if ((rc = bs_proto_rd_bytes(r, what, &e[i].val))) return rc;
    }
    out->n = n;
    out->items = e;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Writers                                                             */
/* ------------------------------------------------------------------ */

int bs_proto_wr_byte(bs_buf *b, uint8_t v) {
    return bs_buf_append_u8(b, v);
}
int bs_proto_wr_short(bs_buf *b, uint16_t v) {
    return bs_buf_append_u16(b, v);
}
int bs_proto_wr_int(bs_buf *b, int32_t v) {
    return bs_buf_append_u32(b, (uint32_t)v);
}
int bs_proto_wr_long(bs_buf *b, int64_t v) {
    return bs_buf_append_u64(b, (uint64_t)v);
}

int bs_proto_wr_string(bs_buf *b, const char *s, size_t len) {
    if (len > UINT16_MAX) return BS_ERANGE;
    uint8_t *p = bs_buf_extend(b, 2 + len);
    if (!p) return BS_ENOMEM;
    bs_put_u16(p, (uint16_t)len);
    if (len) memcpy(p + 2, s, len);
    return 0;
}

int bs_proto_wr_str(bs_buf *b, bs_proto_str s) {
    return bs_proto_wr_string(b, s.p, s.len);
}

int bs_proto_wr_cstring(bs_buf *b, const char *s) {
    return bs_proto_wr_string(b, s ? s : "", s ? strlen(s) : 0);
}

int bs_proto_wr_long_string(bs_buf *b, const char *s, size_t len) {
    if (len > INT32_MAX) return BS_ERANGE;
    uint8_t *p = bs_buf_extend(b, 4 + len);
    if (!p) return BS_ENOMEM;
    bs_put_u32(p, (uint32_t)len);
    if (len) memcpy(p + 4, s, len);
    return 0;
}

int bs_proto_wr_uuid(bs_buf *b, const uint8_t uuid[16]) {
    return bs_buf_append(b, uuid, 16);
}

int bs_proto_wr_value(bs_buf *b, bs_proto_val v) {
    if (v.len < 0)
        return bs_proto_wr_int(b,
                               v.len < BS_PROTO_UNSET ? BS_PROTO_NULL : v.len);
    uint8_t *p = bs_buf_extend(b, 4 + (size_t)v.len);
    if (!p) return BS_ENOMEM;
    bs_put_u32(p, (uint32_t)v.len);
    if (v.len) memcpy(p + 4, v.p, (size_t)v.len);
    return 0;
}

int bs_proto_wr_short_bytes(bs_buf *b, const void *p, size_t len) {
    return bs_proto_wr_string(b, (const char *)p, len);
}

int bs_proto_wr_inetaddr(bs_buf *b, const bs_proto_inet *in) {
    if (in->addr_len != 4 && in->addr_len != 16) return BS_EINVAL;
    int rc = bs_proto_wr_byte(b, in->addr_len);
    return rc ? rc : bs_buf_append(b, in->addr, in->addr_len);
}

int bs_proto_wr_inet(bs_buf *b, const bs_proto_inet *in) {
    int rc = bs_proto_wr_inetaddr(b, in);
    return rc ? rc : bs_proto_wr_int(b, in->port);
}

int bs_proto_wr_string_list(bs_buf *b, const bs_proto_strlist *l) {
    int rc = bs_proto_wr_short(b, l->n);
    for (unsigned i = 0; !rc && i < l->n; i++)
        rc = bs_proto_wr_str(b, l->items[i]);
    return rc;
}

int bs_proto_wr_string_map(bs_buf *b, const bs_proto_strmap *m) {
    int rc = bs_proto_wr_short(b, m->n);
    for (unsigned i = 0; !rc && i < m->n; i++) {
        rc = bs_proto_wr_str(b, m->items[i].key);
        if (!rc) rc = bs_proto_wr_str(b, m->items[i].val);
    }
    return rc;
}

int bs_proto_wr_string_multimap(bs_buf *b, const bs_proto_multimap *m) {
    int rc = bs_proto_wr_short(b, m->n);
    for (unsigned i = 0; !rc && i < m->n; i++) {
        rc = bs_proto_wr_str(b, m->items[i].key);
        if (!rc) rc = bs_proto_wr_string_list(b, &m->items[i].vals);
    }
    return rc;
}

int bs_proto_wr_bytes_map(bs_buf *b, const bs_proto_bytesmap *m) {
    int rc = bs_proto_wr_short(b, m->n);
    for (unsigned i = 0; !rc && i < m->n; i++) {
        rc = bs_proto_wr_str(b, m->items[i].key);
        if (!rc) rc = bs_proto_wr_value(b, m->items[i].val);
    }
    return rc;
}
