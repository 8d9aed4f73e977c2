/*
 * fuzz_admin_json.c - libFuzzer driver for basalt-admin's JSON reader
 * (client/admin_json.c) against the server's JSON string writer
 * (node/admin/admin_json.c).
 *
 * The input is (1) parsed as a JSON document - any result but a crash is
 * fine, and a successful parse is walked completely and rendered with
 * every nodetool renderer (they must cope with any shape); (2) written
 * as a JSON string by bs_admin_json_quote, which must always parse back
 * as a STRING, byte for byte when the input is valid UTF-8.
 * Seed corpus: tests/fuzz/admin_json/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/admin_fmt.h"
#include "client/admin_json.h"
#include "common/utf8.h"
#include "node/admin/admin.h"

static size_t walk(const bs_json *v) {
    size_t n = 1;
    if (v->type == BS_JSON_STRING || v->type == BS_JSON_NUMBER)
        (void)strlen(v->str);
    for (size_t i = 0; i < v->n; i++) {
        if (v->type == BS_JSON_OBJECT) (void)strlen(v->keys[i]);
        n += walk(v->items[i]);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bs_arena a;
    bs_arena_init(&a, 0);
    const bs_json *v = NULL;
    if (bs_json_parse((const char *)data, size, &a, &v, NULL, 0) == 0) {
        walk(v);
        bs_buf b = BS_BUF_INIT;
        bs_admin_fmt_status(v, &b);
        bs_admin_fmt_ring(v, &b);
        bs_admin_fmt_info(v, true, true, &b);
        bs_admin_fmt_gossipinfo(v, &b);
        bs_admin_fmt_describecluster(v, &b);
        bs_admin_fmt_version(v, &b);
        bs_buf_free(&b);
    }
    bs_buf q = BS_BUF_INIT;
    if (bs_admin_json_quote(&q, (const char *)data, size) != 0) abort();
    const bs_json *s = NULL;
    /* an input with NUL bytes is escaped as \u0000, which the reader
     * refuses on purpose (C strings); everything else must round-trip */
    int rc = bs_json_parse((const char *)q.data, q.len, &a, &s, NULL, 0);
    if (memchr(data, 0, size) == NULL) {
        if (rc != 0 || s->type != BS_JSON_STRING) abort();
        /* valid UTF-8 comes back byte for byte */
        size_t i = 0, l = 1;
        while (i < size && (l = bs_utf8_decode(data + i, size - i, NULL)) != 0)
            i += l;
        if (i == size && (s->len != size || memcmp(s->str, data, size) != 0))
            abort();
        if (size > 0 && s->len == 0) abort();
    }
    bs_buf_free(&q);
    bs_arena_free(&a);
    return 0;
}
