/*
 * auth.c - SASL PLAIN parsing and PBKDF2 password hashes (see auth.h for
 * the token and the stored format).
 *
 * Both functions see bytes from the network (the token) or from a
 * replicated table (the hash, which a superuser can overwrite with
 * anything): every length is checked, nothing is assumed NUL-free, and a
 * malformed hash never matches.
 */
#include "query/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

#define SALT_LEN 16
#define KEY_LEN 32
#define PREFIX "pbkdf2-sha256$"

int bs_auth_sasl_plain(const uint8_t *p, size_t n, const char **user, size_t *user_len,
                       const char **pass, size_t *pass_len, char *err, size_t errlen) {
    const uint8_t *nul1 = p && n ? memchr(p, 0, n) : NULL;
    const uint8_t *nul2 = nul1 ? memchr(nul1 + 1, 0, n - (size_t)(nul1 + 1 - p)) : NULL;
    if (!nul1 || !nul2 || memchr(nul2 + 1, 0, n - (size_t)(nul2 + 1 - p))) {
        snprintf(err, errlen,
                 "Authentication failed: the SASL PLAIN token must have exactly three "
                 "NUL-separated parts (authzid, user, password)");
        return BS_EINVAL;
    }
    size_t azl = (size_t)(nul1 - p), ul = (size_t)(nul2 - nul1 - 1),
           pl = n - (size_t)(nul2 + 1 - p);
    if (!ul || ul > BS_AUTH_MAX_USER) {
        snprintf(err, errlen, "Authentication failed: %s user name",
                 ul ? "too long a" : "an empty");
        return BS_EINVAL;
    }
    if (!pl || pl > BS_AUTH_MAX_PASSWORD) {
        snprintf(err, errlen, "Authentication failed: %s password", pl ? "too long a" : "an empty");
        return BS_EINVAL;
    }
    if (azl && (azl != ul || memcmp(p, nul1 + 1, ul))) {
        snprintf(err, errlen,
                 "Authentication failed: an authorization id other than the user is not supported");
        return BS_EINVAL;
    }
    *user = (const char *)nul1 + 1;
    *user_len = ul;
    *pass = (const char *)nul2 + 1;
    *pass_len = pl;
    return 0;
}

static void hex(char *out, const uint8_t *p, size_t n) {
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

static int unhex(const char *s, size_t n, uint8_t *out) {
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[2 * i + (size_t)k];
            int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (x < 0) return BS_EINVAL;
            v = v * 16 + x;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int derive(const char *pw, size_t len, const uint8_t *salt, unsigned it, uint8_t *key) {
    return PKCS5_PBKDF2_HMAC(pw, (int)len, salt, SALT_LEN, (int)it, EVP_sha256(), KEY_LEN, key)
               ? 0
               : BS_EIO;
}

int bs_auth_hash_password(const char *pw, size_t len, unsigned iterations, char *out,
                          size_t cap) {
    if (!iterations) iterations = BS_AUTH_KDF_ITERATIONS;
    if (iterations < BS_AUTH_KDF_MIN_ITERATIONS || len > BS_AUTH_MAX_PASSWORD ||
        cap < BS_AUTH_HASH_LEN)
        return BS_EINVAL;
    uint8_t salt[SALT_LEN], key[KEY_LEN];
    if (RAND_bytes(salt, sizeof salt) != 1) return BS_EIO;
    if (derive(pw, len, salt, iterations, key)) return BS_EIO;
    char hs[2 * SALT_LEN + 1], hk[2 * KEY_LEN + 1];
    hex(hs, salt, SALT_LEN);
    hex(hk, key, KEY_LEN);
    OPENSSL_cleanse(key, sizeof key);
    snprintf(out, cap, PREFIX "%u$%s$%s", iterations, hs, hk);
    return 0;
}

int bs_auth_verify_password(const char *pw, size_t len, const char *stored) {
    if (!stored || strncmp(stored, PREFIX, strlen(PREFIX))) return BS_EINVAL;
    const char *s = stored + strlen(PREFIX);
    if (*s < '1' || *s > '9') return BS_EINVAL; /* digits only, no sign or blanks */
    char *end;
    unsigned long it = strtoul(s, &end, 10);
    if (end == s || *end != '$' || it < BS_AUTH_KDF_MIN_ITERATIONS || it > 100000000ul)
        return BS_EINVAL;
    s = end + 1;
    if (strlen(s) != 2 * SALT_LEN + 1 + 2 * KEY_LEN || s[2 * SALT_LEN] != '$') return BS_EINVAL;
    uint8_t salt[SALT_LEN], want[KEY_LEN], got[KEY_LEN];
    if (unhex(s, SALT_LEN, salt) || unhex(s + 2 * SALT_LEN + 1, KEY_LEN, want)) return BS_EINVAL;
    if (len > BS_AUTH_MAX_PASSWORD) return 0;
    if (derive(pw, len, salt, (unsigned)it, got)) return BS_EIO;
    int ok = CRYPTO_memcmp(got, want, KEY_LEN) == 0;
    OPENSSL_cleanse(got, sizeof got);
    return ok;
}
