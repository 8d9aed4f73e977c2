/*
 * mpcheck.h - structural validation of untrusted msgpack bytes.
 *
 * msgpack-c's unpacker allocates a container's storage from the count in
 * its header before it knows whether that many elements follow, so a
 * 5-byte "array of 4 billion" costs gigabytes.  bs_mpcheck() walks the
 * encoding first without allocating and rejects it unless every
 * container's count fits in the bytes that remain (each element needs at
 * least one byte), every string/bin/ext length fits, nesting stays under
 * max_depth, and exactly one value spans all `len` bytes.  Call it on
 * bytes from the network or disk before handing them to msgpack-c.
 */
#ifndef BS_MPCHECK_H
#define BS_MPCHECK_H

#include <stddef.h>

/* 0, or BS_ECORRUPT (malformed, trailing bytes, too deep) / BS_ETRUNC. */
int bs_mpcheck(const void *data, size_t len, int max_depth);

#endif
