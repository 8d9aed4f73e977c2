/*
 * auth.h - the pieces of PasswordAuthenticator that need no node: the
 * SASL PLAIN token of AUTH_RESPONSE and the salted password hashes kept
 * in system_auth.roles.salted_hash.
 *
 * Stored hash format (text, one line, no secrets but the hash itself):
 *
 *   pbkdf2-sha256$<iterations>$<salt: 32 hex digits>$<key: 64 hex digits>
 *
 * PBKDF2-HMAC-SHA256 from OpenSSL, a 16-byte random salt per hash and a
 * 32-byte key.  Cassandra keeps bcrypt hashes ("$2a$10$..."); OpenSSL has
 * no bcrypt, so hashes are not interchangeable with Cassandra's (roles
 * are re-created, not copied).  Verification recomputes the key with the
 * stored salt and iteration count and compares in constant time.
 */
#ifndef BS_QUERY_AUTH_H
#define BS_QUERY_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* Default and lowest accepted iteration counts. */
#define BS_AUTH_KDF_ITERATIONS 100000u
#define BS_AUTH_KDF_MIN_ITERATIONS 1000u
/* Longest user name and password accepted in a SASL PLAIN token. */
#define BS_AUTH_MAX_USER 256
#define BS_AUTH_MAX_PASSWORD 1024
/* Room for a stored hash string with its NUL. */
#define BS_AUTH_HASH_LEN 160

/*
 * Splits a SASL PLAIN token: authzid NUL authcid NUL password (RFC 4616),
 * exactly three parts, so exactly two NUL bytes.  The authorization id
 * must be empty or equal to the user (Basalt does not log in as another
 * role); user and password must be non-empty and at most
 * BS_AUTH_MAX_USER / BS_AUTH_MAX_PASSWORD bytes.  *user and *pass point
 * into `p` (not NUL-terminated).  Returns 0, or BS_EINVAL with a message
 * in err (never containing the password).
 */
int bs_auth_sasl_plain(const uint8_t *p, size_t n, const char **user, size_t *user_len,
                       const char **pass, size_t *pass_len, char *err, size_t errlen);

/* Hashes a password with a fresh random salt and `iterations` (0 = the
 * default) into out (>= BS_AUTH_HASH_LEN bytes, NUL-terminated).
 * Returns 0, BS_EINVAL (iterations below the minimum) or BS_EIO (no
 * randomness). */
int bs_auth_hash_password(const char *pw, size_t len, unsigned iterations, char *out,
                          size_t cap);

/* 1 when pw matches `stored`, 0 when it does not, BS_EINVAL when stored
 * is not a hash of the format above (then nobody can log in with it). */
int bs_auth_verify_password(const char *pw, size_t len, const char *stored);

#endif
