/*
 * http_auth.c - the credentials of a request on the HTTP port, in the
 * three forms InfluxDB 1.x accepts (docs/SECURITY.md):
 *
 *   query parameters   ?u=USER&p=PASSWORD
 *   Basic              Authorization: Basic base64(USER:PASSWORD)
 *   Token              Authorization: Token USER:PASSWORD
 *
 * The parameters win when both are present, as in InfluxDB.  The user is
 * everything before the first ':' of the pair, the password everything
 * after it (a password may contain ':').
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "node/transport/http.h"

static int b64_val(unsigned char ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
}

int bs_http_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *outlen) {
    while (n > 0 && s[n - 1] == '=' && n % 4 != 1) n--; /* padding: optional */
    if (n % 4 == 1) return BS_EINVAL;
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (need > cap) return BS_EINVAL;
    uint32_t acc = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) return BS_EINVAL;
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            out[o++] = (uint8_t)(acc >> 16);
            out[o++] = (uint8_t)(acc >> 8);
            out[o++] = (uint8_t)acc;
            acc = 0;
        }
    }
    if (n % 4 == 2) {
        out[o++] = (uint8_t)(acc >> 4);
    } else if (n % 4 == 3) {
        out[o++] = (uint8_t)(acc >> 10);
        out[o++] = (uint8_t)(acc >> 2);
    }
    *outlen = o;
    return 0;
}

/* "user:pass" (n bytes, no NUL inside) into two arena strings. */
static int split_pair(const char *s, size_t n, bs_arena *a, const char **user,
                      const char **pass) {
    const char *colon = memchr(s, ':', n);
    if (!colon || colon == s || memchr(s, 0, n)) return BS_EINVAL;
    size_t ul = (size_t)(colon - s), pl = n - ul - 1;
    char *u = bs_arena_alloc(a, ul + 1), *p = bs_arena_alloc(a, pl + 1);
    if (!u || !p) return BS_ENOMEM;
    memcpy(u, s, ul);
    u[ul] = 0;
    memcpy(p, colon + 1, pl);
    p[pl] = 0;
    *user = u;
    *pass = p;
    return 0;
}

int bs_http_credentials(const bs_http_request *r, const char **user, const char **pass) {
    const char *u = NULL, *p = NULL;
    size_t ql = strlen(r->query);
    int ru = bs_http_form_get(r->query, ql, "u", r->arena, &u);
    int rp = bs_http_form_get(r->query, ql, "p", r->arena, &p);
    if (ru == BS_ENOMEM || rp == BS_ENOMEM) return BS_ENOMEM;
    if (ru == BS_EINVAL || rp == BS_EINVAL) return BS_EINVAL;
    if (!ru || !rp) {
        if (ru || rp || !*u) return BS_EINVAL; /* one without the other */
        *user = u;
        *pass = p;
        return 0;
    }
    const char *h = bs_http_header_get(r, "authorization");
    if (!h) return BS_ENOTFOUND;
    size_t sl = strcspn(h, " \t");
    const char *v = h + sl;
    while (*v == ' ' || *v == '\t') v++;
    size_t vl = strlen(v);
    if (sl == 5 && !strncasecmp(h, "basic", 5)) {
        if (vl > 4 * (BS_HTTP_MAX_CREDENTIALS / 3 + 1)) return BS_EINVAL;
        uint8_t dec[BS_HTTP_MAX_CREDENTIALS + 3];
        size_t dl;
        if (bs_http_base64_decode(v, vl, dec, sizeof dec, &dl)) return BS_EINVAL;
        return split_pair((const char *)dec, dl, r->arena, user, pass);
    }
    if (sl == 5 && !strncasecmp(h, "token", 5)) {
        if (vl > BS_HTTP_MAX_CREDENTIALS) return BS_EINVAL;
        return split_pair(v, vl, r->arena, user, pass);
    }
    return BS_EINVAL;
}
