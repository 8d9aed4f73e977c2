/* utf8.c - see utf8.h. */
#include "common/utf8.h"

size_t bs_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned char c = s[0];
    size_t len;
    uint32_t v;
    if (c < 0x80) {
        len = 1;
        v = c;
    } else if (c >= 0xc2 && c <= 0xdf) { /* 0xc0, 0xc1: overlong */
        len = 2;
        v = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        v = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (len == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) return 0;
    if (len == 4 && (v < 0x10000 || v > 0x10ffff)) return 0;
    if (cp) *cp = v;
    return len;
}

int bs_utf8_valid(const void *p, size_t n) {
    const unsigned char *s = p;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { /* the common case, without a call */
            i++;
            continue;
        }
        size_t len = bs_utf8_decode(s + i, n - i, NULL);
        if (!len) return 0;
        i += len;
    }
    return 1;
}
