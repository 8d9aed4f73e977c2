/*
 * test_common.c - unit tests for common/: buffers, readers, errors,
 * clocks, uuids, arena, type descriptors, scheduling hints.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mpcheck.h"
#include "common/sched.h"
#include "common/types.h"
#include "common/utf8.h"
#include "common/uuid.h"
#include "common/wake.h"

START_TEST(buf_append_and_read_back) {
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_buf_append_u8(&b, 0xab), 0);
    ck_assert_int_eq(bs_buf_append_u16(&b, 0x1234), 0);
    ck_assert_int_eq(bs_buf_append_u32(&b, 0xdeadbeef), 0);
    ck_assert_int_eq(bs_buf_append_u64(&b, 0x0102030405060708ULL), 0);
    ck_assert_int_eq(bs_buf_append_varint(&b, 300), 0);
    ck_assert_int_eq(bs_buf_append_varint(&b, UINT64_MAX), 0);
    ck_assert_int_eq(bs_buf_append_str(&b, "hi"), 0);
    ck_assert_uint_eq(b.len, 1 + 2 + 4 + 8 + 2 + 10 + 2);
    ck_assert_uint_eq(b.data[1], 0x12); /* big-endian */

    bs_rbuf r;
    bs_rbuf_init(&r, b.data, b.len);
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    ck_assert_int_eq(bs_rbuf_u8(&r, &u8), 0);
    ck_assert_uint_eq(u8, 0xab);
    ck_assert_int_eq(bs_rbuf_u16(&r, &u16), 0);
    ck_assert_uint_eq(u16, 0x1234);
    ck_assert_int_eq(bs_rbuf_u32(&r, &u32), 0);
    ck_assert_uint_eq(u32, 0xdeadbeef);
    ck_assert_int_eq(bs_rbuf_u64(&r, &u64), 0);
    ck_assert_uint_eq(u64, 0x0102030405060708ULL);
    ck_assert_int_eq(bs_rbuf_varint(&r, &u64), 0);
    ck_assert_uint_eq(u64, 300);
    ck_assert_int_eq(bs_rbuf_varint(&r, &u64), 0);
    ck_assert_uint_eq(u64, UINT64_MAX);
    const uint8_t *p;
    ck_assert_int_eq(bs_rbuf_bytes(&r, 2, &p), 0);
    ck_assert_int_eq(memcmp(p, "hi", 2), 0);
    ck_assert_uint_eq(bs_rbuf_left(&r), 0);
    ck_assert_int_eq(bs_rbuf_u8(&r, &u8), BS_ETRUNC);
    bs_buf_free(&b);
}
END_TEST

START_TEST(rbuf_truncation_does_not_advance) {
    uint8_t d[3] = {1, 2, 3};
    bs_rbuf r;
    bs_rbuf_init(&r, d, 3);
    uint32_t v;
    ck_assert_int_eq(bs_rbuf_u32(&r, &v), BS_ETRUNC);
    ck_assert_uint_eq(r.pos, 0);
    const uint8_t *p;
    ck_assert_int_eq(bs_rbuf_bytes(&r, 4, &p), BS_ETRUNC);
    /* a varint whose continuation bit never ends */
    uint8_t bad[12];
    memset(bad, 0xff, sizeof bad);
    bs_rbuf_init(&r, bad, sizeof bad);
    uint64_t u;
    ck_assert_int_eq(bs_rbuf_varint(&r, &u), BS_ECORRUPT);
    bs_rbuf_init(&r, bad, 3);
    ck_assert_int_eq(bs_rbuf_varint(&r, &u), BS_ETRUNC);
}
END_TEST

START_TEST(buf_appendf_and_steal) {
    bs_buf b = BS_BUF_INIT;
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(bs_buf_appendf(&b, "%d,", i), 0);
    ck_assert_int_eq(strncmp((char *)b.data, "0,1,2,", 6), 0);
    ck_assert_int_eq(b.data[b.len], 0);
    size_t n;
    uint8_t *d = bs_buf_steal(&b, &n);
    ck_assert_ptr_nonnull(d);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_ptr_null(b.data);
    ck_assert_int_eq(d[n - 1], ',');
    free(d);
}
END_TEST

START_TEST(errors_have_names_and_messages) {
    ck_assert_str_eq(bs_err_name(BS_ECORRUPT), "BS_ECORRUPT");
    ck_assert_str_eq(bs_strerror(BS_ECORRUPT), "corrupt data");
    ck_assert_str_eq(bs_strerror(0), "success");
    ck_assert_str_eq(bs_err_name(-2), "ERRNO"); /* -ENOENT passes through */
    ck_assert_str_eq(bs_err_name(-5000), "BS_E?");
}
END_TEST

START_TEST(clock_fixed_and_offset) {
    bs_clock c;
    bs_clock_init_fixed(&c, 1500000);
    ck_assert_int_eq(bs_clock_now_us(&c), 1500000);
    ck_assert_int_eq(bs_clock_now_s(&c), 1);
    bs_clock_set_offset_us(&c, -3000000);
    ck_assert_int_eq(bs_clock_now_us(&c), -1500000);
    ck_assert_int_eq(bs_clock_now_s(&c), -2); /* floor */
    int64_t a = bs_clock_mono_ns(), b = bs_clock_mono_ns();
    ck_assert_int_ge(b, a);
    /* the default clock is close to the system's time */
    ck_assert_int_gt(bs_clock_now_s(NULL), 1700000000);
}
END_TEST

START_TEST(uuid_text_roundtrip_and_versions) {
    bs_uuid u, v;
    ck_assert_int_eq(bs_uuid_v4(&u), 0);
    ck_assert_int_eq(bs_uuid_version(&u), 4);
    ck_assert_int_eq(u.b[8] & 0xc0, 0x80);
    char s[37];
    bs_uuid_format(&u, s);
    ck_assert_uint_eq(strlen(s), 36);
    ck_assert_int_eq(bs_uuid_parse(s, 36, &v), 0);
    ck_assert_int_eq(memcmp(u.b, v.b, 16), 0);
    ck_assert_int_eq(bs_uuid_parse("not-a-uuid", 10, &v), BS_EINVAL);
    ck_assert_int_eq(
        bs_uuid_parse("zzzzzzzz-1234-1234-1234-123456789012", 36, &v),
        BS_EINVAL);
    /* known v1: 2020-01-01T00:00:00Z */
    bs_uuid_v1_at(1577836800000000LL, 0, &u);
    ck_assert_int_eq(bs_uuid_version(&u), 1);
    ck_assert_int_eq(bs_uuid_v1_unix_ms(&u), 1577836800000LL);
}
END_TEST

START_TEST(uuid_v1_strictly_increasing_on_fixed_clock) {
    bs_clock c;
    bs_clock_init_fixed(&c, 1700000000000000LL);
    bs_uuid prev, cur;
    bs_uuid_v1(&c, &prev);
    for (int i = 0; i < 1000; i++) {
        bs_uuid_v1(&c, &cur);
        ck_assert_uint_gt(bs_uuid_v1_timestamp(&cur),
                          bs_uuid_v1_timestamp(&prev));
        prev = cur;
    }
}
END_TEST

/* A freed arena's default-size chunk serves the next arena of the same
 * thread, not a malloc of its size in between (glibc would hand the
 * freed block to that malloc). */
START_TEST(arena_chunks_reused_by_the_thread) {
    bs_arena a, b;
    bs_arena_init(&a, 0);
    char *p1 = bs_arena_alloc(&a, 100);
    ck_assert_ptr_nonnull(p1);
    bs_arena_free(&a);
    void *m = malloc(8192 + 32);
    ck_assert_ptr_nonnull(m);
    bs_arena_init(&b, 0);
    char *p2 = bs_arena_alloc(&b, 100);
    ck_assert_ptr_eq(p1, p2);
    memset(p2, 1, 100);
    bs_arena_free(&b);
    free(m);
}
END_TEST

START_TEST(arena_alloc_aligned_and_big) {
    bs_arena a;
    bs_arena_init(&a, 1024);
    for (int i = 0; i < 100; i++) {
        void *p = bs_arena_alloc(&a, (size_t)(i * 7 + 1));
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % 16, 0);
        memset(p, 0xee, (size_t)(i * 7 + 1));
    }
    char *big = bs_arena_alloc(&a, 100000);
    ck_assert_ptr_nonnull(big);
    memset(big, 1, 100000);
    char *s = bs_arena_strndup(&a, "hello world", 5);
    ck_assert_str_eq(s, "hello");
    bs_arena_reset(&a);
    ck_assert_uint_eq(a.total, 0);
    ck_assert_ptr_nonnull(bs_arena_calloc(&a, 10));
    bs_arena_free(&a);
}
END_TEST

START_TEST(types_clone_equal_free) {
    bs_type *m = bs_type_new_coll(
        BS_TYPE_MAP, bs_type_new(BS_TYPE_VARCHAR),
        bs_type_new_coll(BS_TYPE_LIST, bs_type_new(BS_TYPE_INT), NULL));
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->nparams, 2);
    ck_assert(bs_type_is_multicell(m));
    bs_type *c = bs_type_clone(m);
    ck_assert(bs_type_equal(m, c));
    c->params[1]->frozen = 1;
    ck_assert(!bs_type_equal(m, c));
    bs_type *u = bs_type_new(BS_TYPE_UDT);
    ck_assert_int_eq(bs_type_add_param(u, bs_type_new(BS_TYPE_INT), "x"), 0);
    bs_type *u2 = bs_type_clone(u);
    ck_assert_str_eq(u2->field_names[0], "x");
    ck_assert_int_eq(bs_type_fixed_size(BS_TYPE_UUID), 16);
    ck_assert_int_eq(bs_type_fixed_size(BS_TYPE_VARCHAR), -1);
    bs_type_free(m);
    bs_type_free(c);
    bs_type_free(u);
    bs_type_free(u2);
}
END_TEST

START_TEST(log_levels_parse) {
    bs_log_level l;
    ck_assert_int_eq(bs_log_parse_level("DEBUG", &l), 0);
    ck_assert_int_eq(l, BS_LOG_DEBUG);
    ck_assert_int_eq(bs_log_parse_level("loud", &l), BS_EINVAL);
    FILE *f = tmpfile();
    bs_log_set_file(f);
    bs_log_set_level(BS_LOG_WARN);
    BS_INFO("t", "hidden %d", 1);
    BS_WARN("t", "shown %d", 2);
    fflush(f);
    rewind(f);
    char line[256] = {0};
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_ptr_nonnull(strstr(line, "WARN  [t] shown 2"));
    ck_assert_ptr_null(fgets(line, sizeof line, f));
    bs_log_set_file(NULL);
    fclose(f);
}
END_TEST

START_TEST(utf8_strict_decode_and_validate) {
    uint32_t cp = 0;
    ck_assert_uint_eq(bs_utf8_decode((const unsigned char *)"A", 1, &cp), 1);
    ck_assert_uint_eq(cp, 0x41);
    ck_assert_uint_eq(bs_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
    ck_assert_uint_eq(cp, 0xe9);
    ck_assert_uint_eq(bs_utf8_decode((const unsigned char *)"\xe2\x82\xac", 3, &cp), 3);
    ck_assert_uint_eq(cp, 0x20ac);
    ck_assert_uint_eq(bs_utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp), 4);
    ck_assert_uint_eq(cp, 0x1f600);
    ck_assert_uint_eq(bs_utf8_decode((const unsigned char *)"\xf4\x8f\xbf\xbf", 4, &cp), 4);
    ck_assert_uint_eq(cp, 0x10ffff);
    /* refused: overlong forms, surrogates, above U+10FFFF, stray
     * continuation bytes, bad lead bytes, truncated and broken sequences */
    static const char *const bad[] = {
        "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf", "\xf0\x80\x80\x80",
        "\xf0\x8f\xbf\xbf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80",
        "\xf5\x80\x80\x80", "\xff", "\x80", "\xbf", "\xc3", "\xe2\x82", "\xf0\x9f\x98",
        "\xc3\x41", "\xe2\x28\xac", "\xf0\x9f\x28\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = strlen(bad[i]);
        ck_assert_msg(bs_utf8_decode((const unsigned char *)bad[i], n, NULL) == 0, "bad[%zu]", i);
        ck_assert_msg(!bs_utf8_valid(bad[i], n), "bad[%zu]", i);
    }
    /* a sequence cut by the length given is refused even if more follows */
    ck_assert_uint_eq(bs_utf8_decode((const unsigned char *)"\xe2\x82\xac", 2, NULL), 0);
    ck_assert(bs_utf8_valid("", 0));
    ck_assert(bs_utf8_valid("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 ok", 17));
    ck_assert(!bs_utf8_valid("caf\xc3\xa9 \xed\xa0\x80 ok", 12));
    ck_assert(bs_utf8_valid("a\0b", 3)); /* NUL is valid UTF-8 */
}
END_TEST

START_TEST(mpcheck_rejects_lying_counts) {
    /* [1, "ab", {true: nil}] */
    const uint8_t ok[] = {0x93, 0x01, 0xa2, 'a', 'b', 0x81, 0xc3, 0xc0};
    ck_assert_int_eq(bs_mpcheck(ok, sizeof ok, 8), 0);
    for (size_t n = 0; n < sizeof ok; n++)
        ck_assert_int_ne(bs_mpcheck(ok, n, 8), 0);
    /* trailing byte */
    const uint8_t trail[] = {0xc0, 0xc0};
    ck_assert_int_eq(bs_mpcheck(trail, 2, 8), BS_ECORRUPT);
    /* array32 claiming 4 billion elements in 5 bytes */
    const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    ck_assert_int_eq(bs_mpcheck(huge, sizeof huge, 8), BS_ECORRUPT);
    /* str32 longer than the input */
    const uint8_t longstr[] = {0xdb, 0x00, 0x01, 0x00, 0x00, 'x'};
    ck_assert_int_eq(bs_mpcheck(longstr, sizeof longstr, 8), BS_ETRUNC);
    /* nesting deeper than allowed */
    uint8_t deep[40];
    memset(deep, 0x91, sizeof deep);
    deep[39] = 0xc0;
    ck_assert_int_eq(bs_mpcheck(deep, sizeof deep, 16), BS_ECORRUPT);
    ck_assert_int_eq(bs_mpcheck(deep, sizeof deep, 64), 0);
    /* the never-used byte */
    const uint8_t c1[] = {0xc1};
    ck_assert_int_eq(bs_mpcheck(c1, 1, 8), BS_ECORRUPT);
}
END_TEST

/* JSON strings: escapes, control bytes, invalid UTF-8 as U+FFFD, valid
 * multi-byte characters kept; NUL bytes inside the input count. */
START_TEST(json_quote_escapes_and_repairs) {
    bs_buf b = BS_BUF_INIT;
    const char in[] = "a\"b\\c\n\t\x01\x7f\0|\xc3\xa9|\xff";
    ck_assert_int_eq(bs_json_quote(&b, in, sizeof in - 1), 0);
    const char want[] =
        "\"a\\\"b\\\\c\\n\\t\\u0001\\u007f\\u0000|\xc3\xa9|\xef\xbf\xbd\"";
    ck_assert_uint_eq(b.len, sizeof want - 1);
    ck_assert(!memcmp(b.data, want, b.len));
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_json_quote(&b, "", 0), 0);
    ck_assert_uint_eq(b.len, 2);
    ck_assert(!memcmp(b.data, "\"\"", 2));
    bs_buf_free(&b);
}
END_TEST

/* bs_sched_request_thread: the calling thread keeps its nice value and,
 * on a kernel with custom slices (6.12+) that reports them
 * (/proc/.../sched), gets the request slice.  Forked by Check: the nice value
 * set here does not outlive the test. */
/* 1 when the wake's eventfd is readable now. */
static int wake_readable(const bs_wake *w) {
    struct pollfd p = {w->fd, POLLIN, 0};
    ck_assert_int_ge(poll(&p, 1, 0), 0);
    return (p.revents & POLLIN) != 0;
}

/* Signals coalesce until the loop clears: one eventfd write per wake-up
 * on its way, then a signal after the clear wakes again. */
START_TEST(wake_signals_coalesce_until_cleared) {
    bs_wake w;
    ck_assert_int_eq(bs_wake_open(&w), 0);
    ck_assert_int_eq(wake_readable(&w), 0);
    bs_wake_signal(&w);
    bs_wake_signal(&w);
    bs_wake_signal(&w);
    ck_assert_int_eq(wake_readable(&w), 1);
    uint64_t v = 0;
    ck_assert_int_eq(read(w.fd, &v, sizeof v), (ssize_t)sizeof v);
    ck_assert_uint_eq(v, 1); /* one write for the three signals */
    /* still armed (the loop has not cleared): no new write */
    bs_wake_signal(&w);
    ck_assert_int_eq(wake_readable(&w), 0);
    bs_wake_clear(&w);
    ck_assert_int_eq(wake_readable(&w), 0);
    bs_wake_signal(&w);
    ck_assert_int_eq(wake_readable(&w), 1);
    bs_wake_clear(&w);
    ck_assert_int_eq(wake_readable(&w), 0);
    bs_wake_close(&w);
    ck_assert_int_eq(w.fd, -1);
    bs_wake_close(&w); /* closed: a no-op */
}
END_TEST

START_TEST(sched_request_slice_keeps_nice) {
    ck_assert_int_eq(setpriority(PRIO_PROCESS, 0, 3), 0);
    ck_assert_int_eq(bs_sched_request_thread(), 0);
    errno = 0;
    ck_assert_int_eq(getpriority(PRIO_PROCESS, 0), 3);
    ck_assert_int_eq(errno, 0);
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%ld/sched",
             (long)syscall(SYS_gettid));
    FILE *f = fopen(path, "r");
    long long slice = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "se.slice", 8))
            sscanf(strchr(line, ':') + 1, "%lld", &slice);
    if (f) fclose(f);
    struct utsname u;
    int major = 0, minor = 0;
    ck_assert_int_eq(uname(&u), 0);
    sscanf(u.release, "%d.%d", &major, &minor);
    if (slice >= 0 && (major > 6 || (major == 6 && minor >= 12)))
        ck_assert_int_eq(slice, BS_SCHED_REQUEST_SLICE_US *
                                    1000LL); /* custom slices: 6.12+ */
}
END_TEST

int main(void) {
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, buf_append_and_read_back);
    tcase_add_test(tc, rbuf_truncation_does_not_advance);
    tcase_add_test(tc, buf_appendf_and_steal);
    tcase_add_test(tc, errors_have_names_and_messages);
    tcase_add_test(tc, clock_fixed_and_offset);
    tcase_add_test(tc, uuid_text_roundtrip_and_versions);
    tcase_add_test(tc, uuid_v1_strictly_increasing_on_fixed_clock);
    tcase_add_test(tc, arena_alloc_aligned_and_big);
    tcase_add_test(tc, arena_chunks_reused_by_the_thread);
    tcase_add_test(tc, types_clone_equal_free);
    tcase_add_test(tc, log_levels_parse);
    tcase_add_test(tc, mpcheck_rejects_lying_counts);
    tcase_add_test(tc, utf8_strict_decode_and_validate);
    tcase_add_test(tc, json_quote_escapes_and_repairs);
    tcase_add_test(tc, sched_request_slice_keeps_nice);
    tcase_add_test(tc, wake_signals_coalesce_until_cleared);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
