/*
 * store_bg.c - the store's housekeeping thread: the periodic WAL sync and
 * the CPU priority of RocksDB's flush and compaction threads.
 *
 * Priority follows the backlog (the idea of ScyllaDB's backlog
 * controllers, with the kernel's scheduler doing the sharing):
 *
 *   caught up  - RocksDB's background threads run SCHED_IDLE: they get the
 *                CPU the request loops leave, and a loop that wakes up
 *                preempts them at once.  A flush or compaction running at
 *                normal (even lowered nice) priority on a 2-core machine
 *                otherwise delays the loops by a scheduler slice and shows
 *                in the p99 of every request it overlaps.
 *   behind     - some table has L0 files piling up (>= BEHIND_L0), a flush
 *                not done while the next memtable is already half full
 *                (writes block when it fills), or a large compaction debt: back to SCHED_OTHER at nice
 *                BS__BG_NICE, which still guarantees them a share of a busy
 *                CPU, until the backlog is gone (hysteresis).
 *
 * Leaving SCHED_IDLE needs CAP_SYS_NICE or an RLIMIT_NICE that allows the
 * nice value; a probe thread tries it once per process, and without it the
 * threads simply stay at nice BS__BG_NICE.  RocksDB's thread pool is one
 * per process: a process-wide count of stores that are behind decides, so
 * two stores in one process (tests) never fight over the threads.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "storage/store_int.h"

#define TICK_MS 250
#define RESCAN_TICKS 8                    /* threads re-checked every 2 s */
#define BEHIND_L0 8                       /* L0 files (slowdown is at 20) */
#define CAUGHT_UP_L0 4                    /* = the L0 compaction trigger */
#define BEHIND_DEBT (1ull << 30)          /* estimated compaction debt */
#define CAUGHT_UP_DEBT (512ull << 20)

static atomic_int g_behind;   /* stores of this process that are behind */
static int g_idle_ok;         /* SCHED_IDLE can be left again */
static pthread_once_t g_probe_once = PTHREAD_ONCE_INIT;

static void *probe_main(void *arg) {
    (void)arg;
    struct sched_param sp = {0};
    /* at the background threads' nice: leaving SCHED_IDLE is checked
     * against the thread's nice value (RLIMIT_NICE >= 20 - nice) */
    if (setpriority(PRIO_PROCESS, 0, BS__BG_NICE) != 0) return NULL;
    if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0) return NULL;
    if (sched_setscheduler(0, SCHED_OTHER, &sp) != 0) return NULL;
    return (void *)1;
}

static void probe(void) {
    pthread_t th;
    void *ok = NULL;
    if (pthread_create(&th, NULL, probe_main, NULL) == 0 && pthread_join(th, &ok) == 0)
        g_idle_ok = ok != NULL;
}

void bs__rocks_threads(void (*fn)(pid_t tid, void *ud), void *ud) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[64], comm[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%.20s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (!fgets(comm, sizeof comm, f)) comm[0] = 0;
        fclose(f);
        if (strncmp(comm, "rocksdb:", 8) == 0) fn((pid_t)strtol(e->d_name, NULL, 10), ud);
    }
    closedir(d);
}

/* Puts one RocksDB thread into the wanted class: SCHED_IDLE (*idle) or
 * SCHED_OTHER at nice BS__BG_NICE; best effort. */
static void set_class(pid_t tid, void *ud) {
    int idle = *(int *)ud;
    int pol = sched_getscheduler(tid);
    if (pol < 0) return;
    struct sched_param sp = {0};
    if (idle) {
        if (pol != SCHED_IDLE) sched_setscheduler(tid, SCHED_IDLE, &sp);
    } else if (pol == SCHED_IDLE) {
        sched_setscheduler(tid, SCHED_OTHER, &sp);
    }
    /* nice is kept across SCHED_IDLE; set it where it is still 0 */
    if (getpriority(PRIO_PROCESS, (id_t)tid) < BS__BG_NICE)
        setpriority(PRIO_PROCESS, (id_t)tid, BS__BG_NICE);
}

static void apply_class(int idle) { bs__rocks_threads(set_class, &idle); }

static uint64_t cf_prop(bs_store *s, rocksdb_column_family_handle_t *cf, const char *name) {
    uint64_t v = 0;
    if (rocksdb_property_int_cf(s->db, cf, name, &v) != 0) return 0;
    return v;
}

/* rocksdb.num-files-at-level<N> has only a string form */
static uint64_t cf_l0_files(bs_store *s, rocksdb_column_family_handle_t *cf) {
    char *v = rocksdb_property_value_cf(s->db, cf, "rocksdb.num-files-at-level0");
    uint64_t n = v ? strtoull(v, NULL, 10) : 0;
    rocksdb_free(v);
    return n;
}

/* The worst backlog over the default CF and the live tables. */
typedef struct backlog {
    uint64_t l0, imm, debt;
    int flush_late; /* a memtable waits for its flush, the next half full */
} backlog;

/* Calls fn for the default column family and every live table's. */
static void each_cf(bs_store *s, void (*fn)(void *ud, bs_store *s, rocksdb_column_family_handle_t *cf),
                    void *ud) {
    fn(ud, s, s->default_cf);
    pthread_mutex_lock(&s->mu);
    for (bs_table *t = s->tables; t; t = t->next)
        if (t->cf && !atomic_load(&t->dropped)) fn(ud, s, t->cf);
    pthread_mutex_unlock(&s->mu);
}

static void worst(void *ud, bs_store *s, rocksdb_column_family_handle_t *cf) {
    backlog *b = ud;
    uint64_t v, imm;
    if ((v = cf_l0_files(s, cf)) > b->l0) b->l0 = v;
    if ((imm = cf_prop(s, cf, "rocksdb.num-immutable-mem-table")) > b->imm) b->imm = imm;
    if ((v = cf_prop(s, cf, "rocksdb.estimate-pending-compaction-bytes")) > b->debt) b->debt = v;
    if (imm && cf_prop(s, cf, "rocksdb.cur-size-active-mem-table") >= (s->opts.write_buffer_mb << 19))
        b->flush_late = 1;
}

static void govern(bs_store *s) {
    backlog b = {0, 0, 0, 0};
    each_cf(s, worst, &b);
    int was = s->bg_behind, now = was;
    if (!was && (b.l0 >= BEHIND_L0 || b.flush_late || b.debt >= BEHIND_DEBT))
        now = 1;
    else if (was && b.l0 < CAUGHT_UP_L0 && !b.imm && b.debt < CAUGHT_UP_DEBT)
        now = 0;
    if (now != was) {
        atomic_fetch_add(&g_behind, now ? 1 : -1);
        if (now)
            BS_INFO("storage",
                    "background work behind (L0 files %llu, memtables waiting %llu, "
                    "compaction debt %llu MiB): flushes and compactions at normal priority",
                    (unsigned long long)b.l0, (unsigned long long)b.imm,
                    (unsigned long long)(b.debt >> 20));
        else
            BS_INFO("storage", "background work caught up: flushes and compactions run on idle CPU");
    }
    /* on a change, and every 2 s for pool threads RocksDB started since */
    if (now != was || ++s->bg_ticks % RESCAN_TICKS == 0)
        apply_class(g_idle_ok && atomic_load(&g_behind) == 0);
    uint64_t shed = atomic_load(&s->shed_l0);
    if (!shed && b.l0 >= BS_STORE_SHED_L0) {
        atomic_store(&s->shed_l0, b.l0);
        atomic_fetch_add(&s->shed_episodes, 1);
        BS_WARN("storage", "compaction is behind (%llu L0 files, RocksDB slows writes at 20): "
                "client writes are answered Overloaded until it catches up",
                (unsigned long long)b.l0);
    } else if (shed && b.l0 < BS_STORE_SHED_L0) {
        atomic_store(&s->shed_l0, 0);
        BS_INFO("storage", "compaction caught up (%llu L0 files): accepting client writes again",
                (unsigned long long)b.l0);
    } else if (shed) {
        atomic_store(&s->shed_l0, b.l0);
    }
    if (now != was) { /* published once the threads are in their class */
        atomic_fetch_add(&s->bg_switches, 1);
        s->bg_behind = now;
    }
}

static void *keeper_main(void *arg) {
    bs_store *s = arg;
    int64_t last = bs_clock_mono_ns();
    pthread_mutex_lock(&s->sync_mu);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + TICK_MS * 1000000ull;
        ts.tv_sec += (time_t)(ns / 1000000000ull);
        ts.tv_nsec = (long)(ns % 1000000000ull);
        pthread_cond_timedwait(&s->sync_cv, &s->sync_mu, &ts);
        if (s->stopping) break;
        pthread_mutex_unlock(&s->sync_mu);
        govern(s);
        int64_t now = bs_clock_mono_ns();
        if (s->opts.durability == BS_DURABILITY_PERIODIC &&
            now - last >= (int64_t)s->opts.periodic_sync_ms * 1000000) {
            bs_store_sync(s);
            last = now;
        }
        pthread_mutex_lock(&s->sync_mu);
    }
    pthread_mutex_unlock(&s->sync_mu);
    return NULL;
}

int bs__keeper_start(bs_store *s) {
    pthread_once(&g_probe_once, probe);
    apply_class(g_idle_ok && atomic_load(&g_behind) == 0);
    if (pthread_create(&s->keeper, NULL, keeper_main, s) != 0) return -1;
    s->keeper_running = 1;
    return 0;
}

int bs_store_shedding(bs_store *s, uint64_t *l0) {
    uint64_t v = s ? atomic_load(&s->shed_l0) : 0;
    if (l0) *l0 = v;
    return v != 0;
}

uint64_t bs_store_shed_episodes(bs_store *s) { return s ? atomic_load(&s->shed_episodes) : 0; }

void bs__keeper_stop(bs_store *s) {
    if (!s->keeper_running) return;
    pthread_mutex_lock(&s->sync_mu);
    s->stopping = 1;
    pthread_cond_signal(&s->sync_cv);
    pthread_mutex_unlock(&s->sync_mu);
    pthread_join(s->keeper, NULL);
    s->keeper_running = 0;
    if (s->bg_behind) {
        s->bg_behind = 0;
        atomic_fetch_add(&g_behind, -1);
    }
}

static void cf_activity(void *ud, bs_store *s, rocksdb_column_family_handle_t *cf) {
    bs_store_bg *out = ud;
    out->flushes_pending += cf_prop(s, cf, "rocksdb.mem-table-flush-pending") != 0;
    out->compactions_pending += cf_prop(s, cf, "rocksdb.compaction-pending") != 0;
    out->pending_compaction_bytes += cf_prop(s, cf, "rocksdb.estimate-pending-compaction-bytes");
}

void bs_store_bg_state(bs_store *s, bs_store_bg *out) {
    memset(out, 0, sizeof *out);
    out->idle_allowed = g_idle_ok;
    out->behind = s->bg_behind;
    out->switches = atomic_load(&s->bg_switches);
    /* DB-wide counters, read through the default column family */
    out->flushes_running = (int)cf_prop(s, s->default_cf, "rocksdb.num-running-flushes");
    out->compactions_running = (int)cf_prop(s, s->default_cf, "rocksdb.num-running-compactions");
    each_cf(s, cf_activity, out);
}

static void cf_mem(void *ud, bs_store *s, rocksdb_column_family_handle_t *cf) {
    bs_store_mem *out = ud;
    out->mem_tables_cur += cf_prop(s, cf, "rocksdb.cur-size-all-mem-tables");
    out->mem_tables_all += cf_prop(s, cf, "rocksdb.size-all-mem-tables");
    out->table_readers += cf_prop(s, cf, "rocksdb.estimate-table-readers-mem");
}

void bs_store_mem_get(bs_store *s, bs_store_mem *out) {
    memset(out, 0, sizeof *out);
    each_cf(s, cf_mem, out);
    if (s->cache) {
        out->block_cache = rocksdb_cache_get_usage(s->cache);
        out->block_cache_pinned = rocksdb_cache_get_pinned_usage(s->cache);
        out->block_cache_capacity = (uint64_t)s->opts.block_cache_mb << 20;
    }
}
