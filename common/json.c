/*
 * json.c - JSON string quoting (see json.h).  Input is validated as
 * UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF); runs of
 * plain printable ASCII are copied in one append.
 */
#include "common/json.h"

#include <stdio.h>

#include "common/utf8.h"

int bs_json_quote(bs_buf *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    int rc = bs_buf_append_u8(b, '"');
    size_t i = 0;
    while (!rc && i < n) {
        unsigned char c = u[i];
        const char *esc = NULL;
        char tmp[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(tmp, sizeof tmp, "\\u%04x", c);
                esc = tmp;
            }
        }
        if (esc) {
            rc = bs_buf_append_str(b, esc);
            i++;
            continue;
        }
        size_t l = bs_utf8_decode(u + i, n - i, NULL);
        if (l == 0) {
            rc = bs_buf_append(b, "\xef\xbf\xbd", 3); /* U+FFFD */
            i++;
        } else {
            /* copy the run of plain bytes in one go */
            size_t j = i + l;
            while (j < n && u[j] >= 0x20 && u[j] < 0x7f && u[j] != '"' &&
                   u[j] != '\\')
                j++;
            rc = bs_buf_append(b, u + i, j - i);
            i = j;
        }
    }
    if (!rc) rc = bs_buf_append_u8(b, '"');
    return rc;
}
