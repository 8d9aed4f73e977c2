/*
 * uuid.h - 128-bit UUIDs: random (v4), time-based (v1, "timeuuid"),
 * text form, and the 60-bit v1 timestamp.
 *
 * Bytes are in network order as in RFC 4122 and the CQL wire format.
 * Ordering the way Cassandra's uuid/timeuuid types compare is the type
 * layer's job, not this file's.
 */
#ifndef BS_UUID_H
#define BS_UUID_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"

typedef struct bs_uuid {
    uint8_t b[16];
} bs_uuid;

#define BS_UUID_STRLEN 36 /* without NUL */

/* Random (version 4) UUID from OpenSSL's CSPRNG; 0 or BS_EIO. */
int bs_uuid_v4(bs_uuid *out);
/* Time-based (version 1) UUID at the clock's now (NULL: default clock),
 * strictly increasing within the process even when called faster than
 * the 100 ns tick or when the clock steps back. */
void bs_uuid_v1(bs_clock *c, bs_uuid *out);
/* v1 UUID for a given time in microseconds, with explicit low bits
 * (clock sequence + node); for tests and minTimeuuid()/maxTimeuuid(). */
void bs_uuid_v1_at(int64_t unix_us, uint64_t lsb, bs_uuid *out);
/* Version nibble (1, 4, ...). */
static inline int bs_uuid_version(const bs_uuid *u) {
    return u->b[6] >> 4;
}
/* The 60-bit timestamp of a v1 UUID (100 ns units since 1582-10-15). */
uint64_t bs_uuid_v1_timestamp(const bs_uuid *u);
/* Milliseconds since the Unix epoch of a v1 UUID. */
int64_t bs_uuid_v1_unix_ms(const bs_uuid *u);

/* Writes 36 chars + NUL into out (at least 37 bytes). */
void bs_uuid_format(const bs_uuid *u, char *out);
/* Parses the 8-4-4-4-12 hex form (either case); 0 or BS_EINVAL. */
int bs_uuid_parse(const char *s, size_t len, bs_uuid *out);

#endif
