/*
 * test_secret.c - unit tests for common/secret.c: a missing file is
 * created private with random hex, read back identically, and a file
 * that is too open, too short or absent (when not created) is refused
 * with a message naming it.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/secret.h"

static char dir[64];

static void mkdir_tmp(void) {
    snprintf(dir, sizeof dir, "/tmp/bs_secret_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void rm_tmp(const char *name) {
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    unlink(p);
    rmdir(dir);
}

static void write_file(const char *path, const char *text, mode_t mode) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(created_private_then_read_back) {
    mkdir_tmp();
    char path[128];
    snprintf(path, sizeof path, "%s/s", dir);
    bs_secret_opts o = {32, 16, 1};
    uint8_t a[BS_SECRET_MAX], b[BS_SECRET_MAX];
    size_t na = 0, nb = 0;
    char err[256];
    ck_assert_int_eq(bs_secret_load(path, &o, a, sizeof a, &na, err, sizeof err),
                     0);
    ck_assert_uint_eq(na, 64); /* hex of 32 bytes, newline trimmed */
    for (size_t i = 0; i < na; i++)
        ck_assert(strchr("0123456789abcdef", a[i]) != NULL);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(bs_secret_load(path, &o, b, sizeof b, &nb, err, sizeof err),
                     0);
    ck_assert_uint_eq(nb, na);
    ck_assert_mem_eq(a, b, na);
    /* a second directory gets a different secret */
    char dir2[64], path2[128];
    snprintf(dir2, sizeof dir2, "%s", dir);
    rm_tmp("s");
    mkdir_tmp();
    ck_assert_str_ne(dir, dir2);
    snprintf(path2, sizeof path2, "%s/s", dir);
    ck_assert_int_eq(
        bs_secret_load(path2, &o, b, sizeof b, &nb, err, sizeof err), 0);
    ck_assert(memcmp(a, b, na) != 0);
    rm_tmp("s");
}
END_TEST

START_TEST(refuses_open_short_and_missing_files) {
    mkdir_tmp();
    char path[128];
    snprintf(path, sizeof path, "%s/s", dir);
    bs_secret_opts o = {0, 16, 1};
    uint8_t a[BS_SECRET_MAX];
    size_t n = 0;
    char err[256];
    /* missing, and not to be created */
    ck_assert_int_eq(bs_secret_load(path, &o, a, sizeof a, &n, err, sizeof err),
                     BS_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err, path));
    /* readable by others */
    write_file(path, "0123456789abcdef0123\n", 0644);
    ck_assert_int_eq(bs_secret_load(path, &o, a, sizeof a, &n, err, sizeof err),
                     BS_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, path));
    ck_assert_ptr_nonnull(strstr(err, "644"));
    /* private: fine, trailing newline trimmed */
    chmod(path, 0600);
    ck_assert_int_eq(bs_secret_load(path, &o, a, sizeof a, &n, err, sizeof err),
                     0);
    ck_assert_uint_eq(n, 20);
    ck_assert_mem_eq(a, "0123456789abcdef0123", 20);
    /* group-readable is refused too; without the check it is read */
    chmod(path, 0640);
    ck_assert_int_eq(bs_secret_load(path, &o, a, sizeof a, &n, err, sizeof err),
                     BS_ECONFIG);
    bs_secret_opts lax = {0, 16, 0};
    ck_assert_int_eq(
        bs_secret_load(path, &lax, a, sizeof a, &n, err, sizeof err), 0);
    /* too short */
    write_file(path, "short\n\n", 0600);
    ck_assert_int_eq(bs_secret_load(path, &o, a, sizeof a, &n, err, sizeof err),
                     BS_ECONFIG);
    ck_assert_ptr_nonnull(strstr(err, "too short"));
    /* an existing file is never replaced, even when creation is allowed */
    bs_secret_opts cr = {32, 16, 1};
    ck_assert_int_eq(bs_secret_load(path, &cr, a, sizeof a, &n, err, sizeof err),
                     BS_ECONFIG);
    rm_tmp("s");
}
END_TEST

int main(void) {
    Suite *s = suite_create("secret");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, created_private_then_read_back);
    tcase_add_test(tc, refuses_open_short_and_missing_files);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
