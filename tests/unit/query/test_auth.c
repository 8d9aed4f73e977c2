/*
 * test_auth.c - query/auth.c: the SASL PLAIN token of AUTH_RESPONSE and
 * the PBKDF2-SHA256 password hashes of system_auth.roles.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/auth.h"

static int sasl(const char *tok, size_t n, char *user, char *pass, char *err) {
    const char *u, *p;
    size_t ul, pl;
    int rc = bs_auth_sasl_plain((const uint8_t *)tok, n, &u, &ul, &p, &pl, err, 256);
    if (!rc) {
        memcpy(user, u, ul);
        user[ul] = 0;
        memcpy(pass, p, pl);
        pass[pl] = 0;
    }
    return rc;
}

START_TEST(sasl_plain_valid) {
    char u[300], p[1100], e[256];
    ck_assert_int_eq(sasl("\0alice\0s3cret", 13, u, p, e), 0);
    ck_assert_str_eq(u, "alice");
    ck_assert_str_eq(p, "s3cret");
    /* an authorization id equal to the user is accepted */
    ck_assert_int_eq(sasl("bob\0bob\0pw", 10, u, p, e), 0);
    ck_assert_str_eq(u, "bob");
    ck_assert_str_eq(p, "pw");
    /* passwords may hold any byte but NUL, colons and spaces included */
    ck_assert_int_eq(sasl("\0u\0a:b c\xff", 9, u, p, e), 0);
    ck_assert_str_eq(p, "a:b c\xff");
}
END_TEST

START_TEST(sasl_plain_invalid) {
    static const struct {
        const char *tok;
        size_t n;
        const char *msg; /* part of the message */
    } cases[] = {
        {"", 0, "exactly three"},
        {"alice", 5, "exactly three"},
        {"\0alice", 6, "exactly three"},
        {"\0a\0b\0c", 7, "exactly three"},
        {"\0\0\0", 3, "exactly three"},
        {"\0\0pw", 4, "an empty user name"},
        {"\0alice\0", 7, "an empty password"},
        {"carol\0alice\0pw", 14, "authorization id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char u[300], p[1100], e[256] = "";
        ck_assert_int_eq(sasl(cases[i].tok, cases[i].n, u, p, e), BS_EINVAL);
        ck_assert_msg(strstr(e, cases[i].msg), "case %zu: %s", i, e);
        ck_assert_ptr_null(strstr(e, "pw"));
    }
    /* NULL and the length limits */
    char e[256];
    const char *u, *p;
    size_t ul, pl;
    ck_assert_int_eq(bs_auth_sasl_plain(NULL, 0, &u, &ul, &p, &pl, e, sizeof e), BS_EINVAL);
    char big[BS_AUTH_MAX_PASSWORD + 16];
    memset(big, 'x', sizeof big);
    big[0] = 0;
    big[2] = 0; /* user "x", password of MAX + 12 bytes */
    ck_assert_int_eq(bs_auth_sasl_plain((uint8_t *)big, sizeof big, &u, &ul, &p, &pl, e, sizeof e),
                     BS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e, "too long a password"));
    memset(big, 'x', sizeof big);
    big[0] = 0;
    big[BS_AUTH_MAX_USER + 2] = 0; /* user of MAX + 1 bytes */
    ck_assert_int_eq(bs_auth_sasl_plain((uint8_t *)big, BS_AUTH_MAX_USER + 5, &u, &ul, &p, &pl, e,
                                        sizeof e),
                     BS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e, "too long a user name"));
}
END_TEST

START_TEST(kdf_known_answer) {
    /* hashlib.pbkdf2_hmac('sha256', b'p@ss word', bytes(range(16)), 1000) */
    const char *stored = "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"
                         "2813812eeb13cbf2e81f796a25ecf4b9ecbda8b240fceba3d51dafc1b9601d94";
    ck_assert_int_eq(bs_auth_verify_password("p@ss word", 9, stored), 1);
    ck_assert_int_eq(bs_auth_verify_password("p@ss word ", 10, stored), 0);
    ck_assert_int_eq(bs_auth_verify_password("P@ss word", 9, stored), 0);
    ck_assert_int_eq(bs_auth_verify_password("", 0, stored), 0);
}
END_TEST

START_TEST(kdf_hash_and_verify) {
    char h1[BS_AUTH_HASH_LEN], h2[BS_AUTH_HASH_LEN];
    ck_assert_int_eq(bs_auth_hash_password("secret", 6, 2000, h1, sizeof h1), 0);
    ck_assert_int_eq(bs_auth_hash_password("secret", 6, 2000, h2, sizeof h2), 0);
    ck_assert_ptr_nonnull(strstr(h1, "pbkdf2-sha256$2000$"));
    ck_assert_ptr_null(strstr(h1, "secret"));
    ck_assert_str_ne(h1, h2); /* a fresh salt each time */
    ck_assert_int_eq(bs_auth_verify_password("secret", 6, h1), 1);
    ck_assert_int_eq(bs_auth_verify_password("secret", 6, h2), 1);
    ck_assert_int_eq(bs_auth_verify_password("secreT", 6, h1), 0);
    ck_assert_int_eq(bs_auth_verify_password("secre", 5, h1), 0);
    /* the default is at least 100k iterations */
    ck_assert_int_eq(bs_auth_hash_password("x", 1, 0, h1, sizeof h1), 0);
    ck_assert_ptr_nonnull(strstr(h1, "pbkdf2-sha256$100000$"));
    ck_assert_int_eq(bs_auth_verify_password("x", 1, h1), 1);
    /* too few iterations, too small a buffer */
    ck_assert_int_eq(bs_auth_hash_password("x", 1, 10, h1, sizeof h1), BS_EINVAL);
    ck_assert_int_eq(bs_auth_hash_password("x", 1, 2000, h1, 20), BS_EINVAL);
}
END_TEST

START_TEST(kdf_malformed_hashes_never_match) {
    static const char *const bad[] = {
        NULL,
        "",
        "secret",
        "$2a$10$abcdefghijklmnopqrstuv",
        "pbkdf2-sha256$",
        "pbkdf2-sha256$1000$",
        "pbkdf2-sha256$10$000102030405060708090a0b0c0d0e0f$"
        "2813812eeb13cbf2e81f796a25ecf4b9ecbda8b240fceba3d51dafc1b9601d94",
        "pbkdf2-sha256$x1000$000102030405060708090a0b0c0d0e0f$"
        "2813812eeb13cbf2e81f796a25ecf4b9ecbda8b240fceba3d51dafc1b9601d94",
        "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"
        "2813812eeb13cbf2e81f796a25ecf4b9ecbda8b240fceba3d51dafc1b9601d9",
        "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"
        "2813812eeb13cbf2e81f796a25ecf4b9ecbda8b240fceba3d51dafc1b9601d94aa",
        "pbkdf2-sha256$1000$0001020304050607080g0a0b0c0d0e0f$"
        "2813812eeb13cbf2e81f796a25ecf4b9ecbda8b240fceba3d51dafc1b9601d94",
        "pbkdf2-sha256$1000$000102030405060708090A0B0C0D0E0F$"
        "2813812eeb13cbf2e81f796a25ecf4b9ecbda8b240fceba3d51dafc1b9601d94",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(bs_auth_verify_password("p@ss word", 9, bad[i]) == BS_EINVAL, "case %zu",
                      i);
}
END_TEST

int main(void) {
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("auth");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, sasl_plain_valid);
    tcase_add_test(tc, sasl_plain_invalid);
    tcase_add_test(tc, kdf_known_answer);
    tcase_add_test(tc, kdf_hash_and_verify);
    tcase_add_test(tc, kdf_malformed_hashes_never_match);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
