/*
 * mpcheck.c - msgpack structural validator (see mpcheck.h).
 *
 * Iterative: a counter of values still to read replaces recursion for
 * siblings; nesting is tracked with an explicit stack of remaining
 * counts bounded by max_depth (at most 64).
 *
 * Format bytes (msgpack spec): 0x00-0x7f posfixint, 0x80-0x8f fixmap,
 * 0x90-0x9f fixarray, 0xa0-0xbf fixstr, 0xc0 nil, 0xc1 never used,
 * 0xc2/0xc3 bool, 0xc4-0xc6 bin8/16/32, 0xc7-0xc9 ext8/16/32,
 * 0xca/0xcb float32/64, 0xcc-0xcf uint8..64, 0xd0-0xd3 int8..64,
 * 0xd4-0xd8 fixext1..16, 0xd9-0xdb str8/16/32, 0xdc/0xdd array16/32,
 * 0xde/0xdf map16/32, 0xe0-0xff negfixint.
 */
#include "common/mpcheck.h"

#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

#define MAX_STACK 64

static int need(size_t pos, size_t n, size_t len) {
    return n <= len && pos <= len - n;
}

int bs_mpcheck(const void *data, size_t len, int max_depth) {
    const uint8_t *p = data;
    size_t pos = 0;
    uint64_t stack[MAX_STACK];
    int depth = 0;
    uint64_t todo = 1; /* values left at the current level */
    if (max_depth > MAX_STACK) max_depth = MAX_STACK;
    for (;;) {
        while (todo == 0) {
            if (depth == 0) return pos == len ? 0 : BS_ECORRUPT;
            todo = stack[--depth];
        }
        if (pos >= len) return BS_ETRUNC;
        uint8_t b = p[pos++];
        todo--;
        uint64_t skip = 0, count = 0;
        int container = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            continue;
        } else if (b >= 0x80 && b <= 0x8f) {
            count = (uint64_t)(b & 0x0f) * 2;
            container = 1;
        } else if (b >= 0x90 && b <= 0x9f) {
            count = b & 0x0f;
            container = 1;
        } else if (b >= 0xa0 && b <= 0xbf) {
            skip = b & 0x1f;
        } else {
            switch (b) {
            case 0xc1: return BS_ECORRUPT;
            case 0xc4:
            case 0xd9:
                if (!need(pos, 1, len)) return BS_ETRUNC;
                skip = p[pos];
                pos += 1;
                break;
            case 0xc5:
            case 0xda:
                if (!need(pos, 2, len)) return BS_ETRUNC;
                skip = bs_get_u16(p + pos);
                pos += 2;
                break;
            case 0xc6:
            case 0xdb:
                if (!need(pos, 4, len)) return BS_ETRUNC;
                skip = bs_get_u32(p + pos);
                pos += 4;
                break;
            case 0xc7:
                if (!need(pos, 1, len)) return BS_ETRUNC;
                skip = (uint64_t)p[pos] + 1;
                pos += 1;
                break;
            case 0xc8:
                if (!need(pos, 2, len)) return BS_ETRUNC;
                skip = (uint64_t)bs_get_u16(p + pos) + 1;
                pos += 2;
                break;
            case 0xc9:
                if (!need(pos, 4, len)) return BS_ETRUNC;
                skip = (uint64_t)bs_get_u32(p + pos) + 1;
                pos += 4;
                break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc:
            case 0xd0: skip = 1; break;
            case 0xcd:
            case 0xd1: skip = 2; break;
            case 0xce:
            case 0xd2: skip = 4; break;
            case 0xcf:
            case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc:
                if (!need(pos, 2, len)) return BS_ETRUNC;
                count = bs_get_u16(p + pos);
                pos += 2;
                container = 1;
                break;
            case 0xdd:
                if (!need(pos, 4, len)) return BS_ETRUNC;
                count = bs_get_u32(p + pos);
                pos += 4;
                container = 1;
                break;
            case 0xde:
                if (!need(pos, 2, len)) return BS_ETRUNC;
                count = (uint64_t)bs_get_u16(p + pos) * 2;
                pos += 2;
                container = 1;
                break;
            case 0xdf:
                if (!need(pos, 4, len)) return BS_ETRUNC;
                count = (uint64_t)bs_get_u32(p + pos) * 2;
                pos += 4;
                container = 1;
                break;
            default: return BS_ECORRUPT;
            }
        }
        if (container) {
            if (count > len - pos) return BS_ECORRUPT; /* cannot fit */
            if (count == 0) continue;
            if (depth >= max_depth) return BS_ECORRUPT;
            stack[depth++] = todo;
            todo = count;
            continue;
        }
        if (skip > len - pos) return BS_ETRUNC;
        pos += (size_t)skip;
    }
}
