/*
 * fuzz_schema.c - bs_schema_decode on arbitrary bytes (schema arrives
 * from peers on schema pull/push).  A successful decode must re-encode
 * and decode to the same version.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[256];
    bs_schema *s = NULL;
    if (bs_schema_decode(data, size, &s, err, sizeof err) != 0) return 0;
    bs_buf b = BS_BUF_INIT;
    if (bs_schema_encode(s, &b) == 0) {
        bs_schema *t = NULL;
        if (bs_schema_decode(b.data, b.len, &t, err, sizeof err) != 0) abort();
        bs_uuid v1, v2;
        bs_schema_version(s, &v1);
        bs_schema_version(t, &v2);
        if (memcmp(v1.b, v2.b, 16) != 0) abort();
        bs_schema_release(t);
    }
    bs_buf_free(&b);
    bs_schema_release(s);
    return 0;
}
