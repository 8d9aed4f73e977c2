/*
 * secret.h - secret files (the cluster secret, the admin token): read
 * one, or create it with random bytes the first time, and refuse one
 * that other users could read.
 *
 * A secret file holds text: whatever bytes the operator put there, with
 * trailing whitespace (spaces, tabs, CR, LF) removed, so `echo` and
 * `openssl rand -hex 32 >file` both work.  A file this module creates
 * holds 2*n lowercase hex digits of n random bytes (OpenSSL's CSPRNG)
 * and a newline, mode 0600, written to a temporary name and linked into
 * place, so a crash never leaves a half-written secret and two processes
 * starting at once end up with the same file.
 */
#ifndef BS_SECRET_H
#define BS_SECRET_H

#include <stddef.h>
#include <stdint.h>

#define BS_SECRET_MAX 4096 /* longest secret accepted */

typedef struct bs_secret_opts {
    size_t create_bytes; /* random bytes of a new file; 0 = never create */
    size_t min_len;      /* shortest accepted content (after trimming) */
    int check_mode;      /* refuse a file readable/writable by group or
                            others, or one that is not a regular file */
} bs_secret_opts;

/*
 * Reads the secret at `path` into out[0..cap) (cap <= BS_SECRET_MAX is
 * enough), its length in *out_len; creates it first when absent and
 * o->create_bytes > 0 (the directory must exist).  0, or an error with a
 * message naming the file in err:
 *   BS_ENOTFOUND  absent and not created
 *   BS_ECONFIG    mode too open, not a regular file, shorter than min_len,
 *                 longer than cap, or a NUL byte inside
 *   BS_EIO        cannot read/create (the message has strerror)
 */
int bs_secret_load(const char *path, const bs_secret_opts *o, uint8_t *out,
                   size_t cap, size_t *out_len, char *err, size_t errlen);

/* Lowercase hex of n random bytes into out (2n + 1 bytes with the NUL).
 * 0 or BS_EIO (the CSPRNG failed). */
int bs_secret_random_hex(size_t n, char *out);

#endif
