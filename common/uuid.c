/*
 * uuid.c - UUID generation and text form (see uuid.h).
 *
 * v1 layout (RFC 4122): time_low(4) time_mid(2) time_hi_and_version(2)
 * clock_seq(2, variant bits 10xx) node(6).  The 60-bit timestamp counts
 * 100 ns intervals since 1582-10-15, i.e. unix_100ns + 0x01B21DD213814000.
 * The node id is random per process with the multicast bit set, as RFC
 * 4122 section 4.5 allows when no MAC is used.
 */
#include "common/uuid.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

#include "common/buf.h"
#include "common/error.h"

#define UUID_EPOCH_OFFSET 0x01B21DD213814000ULL

int bs_uuid_v4(bs_uuid *out) {
    if (RAND_bytes(out->b, 16) != 1) return BS_EIO;
    out->b[6] = (uint8_t)((out->b[6] & 0x0f) | 0x40);
    out->b[8] = (uint8_t)((out->b[8] & 0x3f) | 0x80);
    return 0;
}

/* Writes a v1 UUID from a 60-bit timestamp and the low 64 bits. */
static void v1_from_ticks(uint64_t ts, uint64_t lsb, bs_uuid *out) {
    bs_put_u32(out->b, (uint32_t)ts);
    bs_put_u16(out->b + 4, (uint16_t)(ts >> 32));
    bs_put_u16(out->b + 6, (uint16_t)(((ts >> 48) & 0x0fff) | 0x1000));
    bs_put_u64(out->b + 8, lsb);
    out->b[8] = (uint8_t)((out->b[8] & 0x3f) | 0x80);
}

void bs_uuid_v1_at(int64_t unix_us, uint64_t lsb, bs_uuid *out) {
    v1_from_ticks((uint64_t)(unix_us * 10) + UUID_EPOCH_OFFSET, lsb, out);
}

static pthread_mutex_t v1_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t v1_last; /* last 100 ns tick handed out */
static uint64_t v1_lsb;  /* clock seq + node, chosen once */
static int v1_ready;

void bs_uuid_v1(bs_clock *c, bs_uuid *out) {
    uint64_t ticks = (uint64_t)bs_clock_now_us(c) * 10;
    pthread_mutex_lock(&v1_lock);
    if (!v1_ready) {
        uint8_t r[8];
        if (RAND_bytes(r, 8) != 1) memset(r, 0x5a, 8);
        v1_lsb = bs_get_u64(r) | 0x0000010000000000ULL; /* multicast bit */
        v1_ready = 1;
    }
    if (ticks <= v1_last) ticks = v1_last + 1;
    v1_last = ticks;
    uint64_t lsb = v1_lsb;
    pthread_mutex_unlock(&v1_lock);
    v1_from_ticks(ticks + UUID_EPOCH_OFFSET, lsb, out);
}

uint64_t bs_uuid_v1_timestamp(const bs_uuid *u) {
    uint64_t low = bs_get_u32(u->b);
    uint64_t mid = bs_get_u16(u->b + 4);
    uint64_t hi = bs_get_u16(u->b + 6) & 0x0fff;
    return (hi << 48) | (mid << 32) | low;
}

int64_t bs_uuid_v1_unix_ms(const bs_uuid *u) {
    return ((int64_t)bs_uuid_v1_timestamp(u) - (int64_t)UUID_EPOCH_OFFSET) /
           10000;
}

void bs_uuid_format(const bs_uuid *u, char *out) {
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hex[u->b[i] >> 4];
        out[o++] = hex[u->b[i] & 15];
    }
    out[o] = 0;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int bs_uuid_parse(const char *s, size_t len, bs_uuid *out) {
    if (len != BS_UUID_STRLEN) return BS_EINVAL;
    size_t j = 0;
    for (size_t i = 0; i < len;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return BS_EINVAL;
            i++;
            continue;
        }
        int h = hexval(s[i]), l = hexval(s[i + 1]);
        if (h < 0 || l < 0) return BS_EINVAL;
        out->b[j++] = (uint8_t)(h << 4 | l);
        i += 2;
    }
    return 0;
}
