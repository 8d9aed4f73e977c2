/*
 * fuzz_sasl.c - libFuzzer driver for the AUTH_RESPONSE token parser
 * (bs_auth_sasl_plain) and the stored-hash parser of
 * bs_auth_verify_password (system_auth.roles.salted_hash, which a
 * superuser can set to anything).
 *
 * The input is the SASL token; a successful split must point inside it,
 * with exactly the two NULs removed, and error messages must not contain
 * the bytes after the second NUL.  The input is then also used (NUL-
 * terminated) as a stored hash: any answer but 1/0/BS_EINVAL/BS_EIO is a
 * bug, and a well-formed hash is only checked with few iterations (the
 * driver caps the count it lets through to keep the fuzzer fast).
 * Seed corpus: tests/fuzz/sasl/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *u, *p;
    size_t ul, pl;
    char err[256];
    int rc = bs_auth_sasl_plain(data, size, &u, &ul, &p, &pl, err, sizeof err);
    if (rc == 0) {
        if ((const uint8_t *)u < data || (const uint8_t *)u + ul > data + size) abort();
        if ((const uint8_t *)p < data || (const uint8_t *)p + pl != data + size) abort();
        if (!ul || !pl || memchr(u, 0, ul) || memchr(p, 0, pl)) abort();
    } else if (rc != BS_EINVAL || !err[0]) {
        abort();
    }
    if (size > 300) return 0;
    char stored[301];
    memcpy(stored, data, size);
    stored[size] = 0;
    /* keep the PBKDF2 work small: only hashes claiming <= 2000 rounds */
    const char *it = strchr(stored, '$');
    if (it && strtoul(it + 1, NULL, 10) > 2000) return 0;
    rc = bs_auth_verify_password("pw", 2, stored);
    if (rc != 0 && rc != 1 && rc != BS_EINVAL && rc != BS_EIO) abort();
    return 0;
}
