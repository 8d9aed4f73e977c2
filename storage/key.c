/*
 * key.c - the record key encoding of the store (layout table in
 * store_int.h) and the clustering-bound helpers the readers and the
 * compaction filter share.
 *
 * Invariants:
 *   - the token is stored as (uint64)token ^ 2^63 big-endian, so bytewise
 *     order == signed token order;
 *   - every byte string handed to us by callers (partition key, clustering
 *     bytes, element keys, bound prefixes) is length-checked (u16 fields)
 *     before it is written;
 *   - bs__key_parse accepts exactly the keys the writers produce and
 *     rejects everything else with BS_ECORRUPT, never reading out of bounds.
 */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "storage/store_int.h"

uint64_t bs__token_enc(int64_t token) {
    return (uint64_t)token ^ 0x8000000000000000ull;
}

int64_t bs__token_dec(uint64_t u) {
    return (int64_t)(u ^ 0x8000000000000000ull);
}

int bs__key_part_prefix(bs_buf *b, int64_t token, const void *pk, size_t pk_len) {
    if (pk_len > 0xFFFF) return bs__seterr(BS_ERANGE, "partition key of %zu bytes (max 65535)", pk_len);
    uint8_t *p = bs_buf_extend(b, 10 + pk_len);
    if (!p) return BS_ENOMEM;
    bs_put_u64(p, bs__token_enc(token));
    bs_put_u16(p + 8, (uint16_t)pk_len);
    if (pk_len) memcpy(p + 10, pk, pk_len);
    return 0;
}

int bs__key_slot(bs_buf *b, const bs_rowkey *row, uint8_t slot, uint16_t col,
                 uint8_t csub, const void *elem, size_t elem_len) {
    int rc = bs__key_part_prefix(b, row->token, row->pk, row->pk_len);
    if (rc) return rc;
    if (row->is_static) {
        if (slot != BS__S_COL) return bs__seterr(BS_EINVAL, "static row has no row deletion or marker");
        if (bs_buf_append_u8(b, BS__K_STATIC)) return BS_ENOMEM;
    } else {
        if (row->ck_len > 0xFFFF) return bs__seterr(BS_ERANGE, "clustering key of %zu bytes (max 65535)", row->ck_len);
        if (bs_buf_append_u8(b, BS__K_ROW)) return BS_ENOMEM;
        if (row->ck_len && bs_buf_append(b, row->ck, row->ck_len)) return BS_ENOMEM;
    }
    if (bs_buf_append_u8(b, slot)) return BS_ENOMEM;
    if (slot == BS__S_COL) {
        if (bs_buf_append_u16(b, col) || bs_buf_append_u8(b, csub)) return BS_ENOMEM;
        if (csub == BS__C_ELEM) {
            if (elem_len > 0xFFFF) return bs__seterr(BS_ERANGE, "element key of %zu bytes (max 65535)", elem_len);
            if (elem_len && bs_buf_append(b, elem, elem_len)) return BS_ENOMEM;
        }
    }
    if (!row->is_static && bs_buf_append_u16(b, (uint16_t)row->ck_len)) return BS_ENOMEM;
    return 0;
}

int bs__key_rt(bs_buf *b, int64_t token, const void *pk, size_t pk_len,
               const bs_bound *start, const bs_bound *end) {
    int rc = bs__key_part_prefix(b, token, pk, pk_len);
    if (rc) return rc;
    uint8_t flags = 0;
    const bs_bound *bd[2] = {start, end};
    for (int i = 0; i < 2; i++) {
        if (bd[i]->kind != BS_BOUND_NONE && bd[i]->kind != BS_BOUND_INCL && bd[i]->kind != BS_BOUND_EXCL)
            return bs__seterr(BS_EINVAL, "bad bound kind %d", (int)bd[i]->kind);
        if (bd[i]->kind != BS_BOUND_NONE && bd[i]->len > 0xFFFF)
            return bs__seterr(BS_ERANGE, "bound of %zu bytes (max 65535)", bd[i]->len);
    }
    if (start->kind == BS_BOUND_NONE) flags |= BS__RT_START_NONE;
    else if (start->kind == BS_BOUND_INCL) flags |= BS__RT_START_INCL;
    if (end->kind == BS_BOUND_NONE) flags |= BS__RT_END_NONE;
    else if (end->kind == BS_BOUND_INCL) flags |= BS__RT_END_INCL;
    size_t sl = start->kind == BS_BOUND_NONE ? 0 : start->len;
    size_t el = end->kind == BS_BOUND_NONE ? 0 : end->len;
    if (bs_buf_append_u8(b, BS__K_RT) || bs_buf_append_u8(b, flags) || bs_buf_append_u16(b, (uint16_t)sl))
        return BS_ENOMEM;
    if (sl && bs_buf_append(b, start->prefix, sl)) return BS_ENOMEM;
    if (bs_buf_append_u16(b, (uint16_t)el)) return BS_ENOMEM;
    if (el && bs_buf_append(b, end->prefix, el)) return BS_ENOMEM;
    return 0;
}

/* Parses a column slot at k[off..end).  0 or BS_ECORRUPT. */
static int parse_colslot(const uint8_t *k, size_t off, size_t end, bs__key *o) {
    if (end < off + 3) return BS_ECORRUPT;
    o->slot = BS__S_COL;
    o->col = bs_get_u16(k + off);
    o->csub = k[off + 2];
    if (o->csub == BS__C_SIMPLE || o->csub == BS__C_CTOMB) {
        if (end != off + 3) return BS_ECORRUPT;
    } else if (o->csub == BS__C_ELEM) {
        o->elem = k + off + 3;
        o->elem_len = end - off - 3;
    } else {
        return BS_ECORRUPT;
    }
    return 0;
}

int bs__key_parse(const uint8_t *k, size_t len, bs__key *o) {
    memset(o, 0, sizeof *o);
    if (len < 11) return BS_ECORRUPT;
    o->token = bs__token_dec(bs_get_u64(k));
    o->pk_len = bs_get_u16(k + 8);
    if (len < 11 + o->pk_len) return BS_ECORRUPT;
    o->pk = k + 10;
    o->prefix_len = 10 + o->pk_len;
    size_t off = o->prefix_len;
    o->kind = k[off++];
    switch (o->kind) {
    case BS__K_PDEL:
        return len == off ? 0 : BS_ECORRUPT;
    case BS__K_STATIC:
        if (len < off + 1 || k[off] != BS__S_COL) return BS_ECORRUPT;
        return parse_colslot(k, off + 1, len, o);
    case BS__K_RT: {
        if (len < off + 3) return BS_ECORRUPT;
        o->rt_flags = k[off];
        if (o->rt_flags & ~0x0F) return BS_ECORRUPT;
        o->rt_start_len = bs_get_u16(k + off + 1);
        off += 3;
        if (len < off + o->rt_start_len + 2) return BS_ECORRUPT;
        o->rt_start = k + off;
        off += o->rt_start_len;
        o->rt_end_len = bs_get_u16(k + off);
        off += 2;
        if (len != off + o->rt_end_len) return BS_ECORRUPT;
        o->rt_end = k + off;
        return 0;
    }
    case BS__K_ROW: {
        if (len < off + 3) return BS_ECORRUPT;
        o->ck_len = bs_get_u16(k + len - 2);
        size_t end = len - 2;
        if (end < off + o->ck_len + 1) return BS_ECORRUPT;
        o->ck = k + off;
        off += o->ck_len;
        o->row_prefix_len = off;
        uint8_t slot = k[off];
        if (slot == BS__S_ROWDEL || slot == BS__S_MARKER) {
            o->slot = slot;
            return end == off + 1 ? 0 : BS_ECORRUPT;
        }
        if (slot != BS__S_COL) return BS_ECORRUPT;
        return parse_colslot(k, off + 1, end, o);
    }
    default:
        return BS_ECORRUPT;
    }
}

int bs__key_succ(bs_buf *b) {
    while (b->len > 0 && b->data[b->len - 1] == 0xFF) b->len--;
    if (b->len == 0) return 1;
    b->data[b->len - 1]++;
    return 0;
}

int bs__ck_cmp_prefix(const uint8_t *ck, size_t cklen, const uint8_t *p, size_t plen) {
    size_t n = cklen < plen ? cklen : plen;
    int c = n ? memcmp(ck, p, n) : 0;
    if (c) return c;
    if (cklen >= plen) return 0; /* ck starts with p */
    return -1;                   /* ck is a proper prefix of p: sorts before */
}

int bs__rt_covers(const bs__key *rt, const uint8_t *ck, size_t cklen) {
    if (!(rt->rt_flags & BS__RT_START_NONE)) {
        int c = bs__ck_cmp_prefix(ck, cklen, rt->rt_start, rt->rt_start_len);
        if (c < 0 || (c == 0 && !(rt->rt_flags & BS__RT_START_INCL))) return 0;
    }
    if (!(rt->rt_flags & BS__RT_END_NONE)) {
        int c = bs__ck_cmp_prefix(ck, cklen, rt->rt_end, rt->rt_end_len);
        if (c > 0 || (c == 0 && !(rt->rt_flags & BS__RT_END_INCL))) return 0;
    }
    return 1;
}

void bs__hex(const void *p, size_t n, char *out, size_t outsz) {
    static const char hx[] = "0123456789abcdef";
    const uint8_t *b = p;
    size_t o = 0, lim = n > 64 ? 64 : n;
    for (size_t i = 0; i < lim && o + 3 < outsz; i++) {
        out[o++] = hx[b[i] >> 4];
        out[o++] = hx[b[i] & 15];
    }
    if (lim < n && o + 4 < outsz) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    if (outsz) out[o < outsz ? o : outsz - 1] = 0;
}
