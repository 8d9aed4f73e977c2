/*
 * test_crash.c - durability in `batch` mode: a forked child (no exec)
 * opens the store with BS_DURABILITY_BATCH and two writer threads (so
 * RocksDB group-commits concurrent fsyncs); after each acknowledged write
 * it reports the key's number on a pipe (8-byte records, atomic writes).
 * The parent reads acknowledgements until it has seen enough, SIGKILLs
 * the child mid-stream, reopens the store and checks that every
 * acknowledged key is present with its value.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "storetest.h"

#define NACK 600

static int g_wfd;
static bs_store *g_cs;
static bs_table *g_ct;

static void *writer(void *arg) {
    uint32_t base = (uint32_t)(uintptr_t)arg;
    for (uint32_t i = 0;; i++) {
        uint32_t id = base + i;
        char pk[16], val[32];
        snprintf(pk, sizeof pk, "k%u", id);
        snprintf(val, sizeof val, "value-%u", id);
        bs_batch *b;
        if (bs_batch_new(g_cs, &b)) _exit(3);
        bs_rowkey r = rk((int64_t)id * 7919, pk, "c");
        if (bs_batch_put_cell(b, g_ct, &r, 1, NULL, 0, val, strlen(val), 1000 + id, 0)) _exit(4);
        if (bs_store_write(g_cs, b)) _exit(5);
        bs_batch_free(b);
        uint64_t rec = id;
        if (write(g_wfd, &rec, sizeof rec) != sizeof rec) _exit(6);
    }
    return NULL;
}

static void child(int wfd) {
    g_wfd = wfd;
    bs_store_opts o;
    bs_store_opts_default(&o);
    o.durability = BS_DURABILITY_BATCH;
    o.clock = &g_clock;
    if (bs_store_open(g_dir, &o, &g_cs)) _exit(1);
    if (bs_store_table_open(g_cs, "ks.crash", NULL, &g_ct)) _exit(2);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, writer, (void *)(uintptr_t)0);
    pthread_create(&t2, NULL, writer, (void *)(uintptr_t)1000000);
    pthread_join(t1, NULL); /* never returns: killed */
    _exit(0);
}

START_TEST(acked_writes_survive_sigkill) {
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        child(p[1]);
    }
    close(p[1]);
    static uint64_t acked[1 << 16];
    size_t n = 0;
    while (n < NACK) {
        ssize_t r = read(p[0], &acked[n], sizeof acked[n]);
        ck_assert_msg(r == (ssize_t)sizeof acked[n], "child stopped early (read %zd)", r);
        n++;
    }
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    /* acknowledgements already in the pipe count too */
    for (;;) {
        ssize_t r = read(p[0], &acked[n], sizeof acked[n]);
        if (r != (ssize_t)sizeof acked[n] || n + 1 >= sizeof acked / sizeof acked[0]) break;
        n++;
    }
    close(p[0]);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    bs_store *s = open_store();
    bs_table *t;
    ck_assert_int_eq(bs_store_table_get(s, "ks.crash", &t), 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    int from_t2 = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = (uint32_t)acked[i];
        char pk[16], val[32];
        snprintf(pk, sizeof pk, "k%u", id);
        snprintf(val, sizeof val, "value-%u", id);
        bs_partv *pv = rd_part(t, (int64_t)id * 7919, pk, NULL, &a);
        ck_assert_msg(pv->nrows == 1, "acknowledged key %u lost", id);
        const char *v = cellval(pv, "c", 1);
        ck_assert_ptr_nonnull(v);
        ck_assert_str_eq(v, val);
        from_t2 += id >= 1000000;
        bs_arena_reset(&a);
    }
    ck_assert_int_gt(from_t2, 0); /* both writers were acknowledged */
    ck_assert_int_lt(from_t2, (int)n);
    bs_arena_free(&a);
    bs_store_close(s);
}
END_TEST

static void setup(void) { setup_common(); }
static void teardown(void) { teardown_common(); }

int main(void) {
    Suite *s = suite_create("storage_crash");
    TCase *tc = tcase_create("crash");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, acked_writes_survive_sigkill);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
