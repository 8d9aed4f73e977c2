/*
 * stress.c - basalt-stress: a cassandra-stress-like load generator over
 * the C driver (client/basalt.h) and the engine in stress_core.c.
 *
 *   basalt-stress write|read|mixed|counter [n=N | duration=30s] [cl=ONE]
 *       [ratio(write=1,read=3)] [-rate threads=N] [-rate fixed=5000/s]
 *       [-node 127.0.0.1,127.0.0.2] [-port 9042] [-pop seq|uniform|gaussian]
 *       [-dist N] [-col size=100] [-rows N] [-replication N]
 *       [-keyspace basalt_stress] [-connections N] [-json FILE]
 *       [-log interval=5] [-no-warmup] [-seed N]
 *       [-ssl] [-ssl-ca F] [-ssl-cert F] [-ssl-key F] [-ssl-no-verify]
 *
 * Schema (created if missing): keyspace basalt_stress (SimpleStrategy,
 * replication N), table standard1 (key blob, c int, v blob,
 * PRIMARY KEY (key, c)).  Operation i touches key population(i) split
 * into partition = k / rows and clustering c = k % rows, so -rows 1 is
 * one row per partition and -rows 100 builds wide partitions.
 * Writes are prepared INSERTs of a `size`-byte value of random bytes
 * (xorshift64, seeded by -seed and the slot: incompressible, like real
 * payloads, and the same on every run of a seed); reads are prepared
 * point SELECTs by full primary key.  `counter` is write with counter
 * increments instead: prepared `UPDATE counter1 SET v = v + 1 WHERE key =
 * ? AND c = ?` on table counter1 (key blob, c int, v counter, PRIMARY KEY
 * (key, c)); -col size is unused.  With -lwt the writes are
 * INSERT ... IF NOT EXISTS: a lightweight transaction (Paxos round) each.
 * SIGINT or SIGTERM ends the run early: operations in flight complete and
 * the report covers what completed (a second signal kills).
 */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/basalt.h"
#include "client/stress.h"
#include "common/buf.h"
#include "common/error.h"

typedef struct cfg {
    int kind; /* 0 write, 1 read, 2 mixed (3 counter: writes are increments) */
    uint64_t n;
    double duration;
    uint16_t cl;
    int wr, rd;
    int threads;
    double rate;
    char nodes[512];
    int port;
    int ssl, ssl_no_verify;                  /* -ssl, -ssl-no-verify */
    const char *ssl_ca, *ssl_cert, *ssl_key; /* -ssl-ca F, ... */
    int pop; /* 0 seq, 1 uniform, 2 gaussian */
    uint64_t dist;
    int size;
    int rows;
    int rf;
    char ks[64];
    int connections;
    int sync; /* -sync: OS threads with blocking calls */
    int lwt;  /* -lwt: writes are INSERT ... IF NOT EXISTS (Paxos) */
    double tick_us; /* -tick: open-loop start granularity */
    const char *json;
    double interval;
    uint64_t seed; /* -seed: value bytes, uniform/gaussian keys */
    const char *user, *credentials; /* -u, -credentials (PasswordAuthenticator) */
} cfg;

typedef struct app app;

/* One per worker thread (-sync) or in-flight slot (default). */
typedef struct wstate {
    app *a;
    bs_client_stmt *ins, *sel;
    uint64_t rng;
    uint64_t vrng; /* value bytes */
    uint8_t *val;
    int kind;             /* the slot's operation in flight */
    bs_stress_slot *tok;
} wstate;

struct app {
    cfg *c;
    bs_client *cl;
    bs_client_prepared *ins, *sel;
    wstate *ws;
};

enum { E_TIMEOUT = 1, E_UNAVAIL, E_OVERLOAD, E_NOTFOUND, E_SERVER, E_CLIENT };

static const char *errname(int cls) {
    switch (cls) {
    case E_TIMEOUT: return "timeout";
    case E_UNAVAIL: return "unavailable";
    case E_OVERLOAD: return "overloaded";
    case E_NOTFOUND: return "read_missing";
    case E_SERVER: return "server_error";
    case E_CLIENT: return "client_error";
    default: return "error";
    }
}

static int classify(const bs_client_error *e) {
    if (e->code == BS_CLIENT_ETIMEOUT) return E_TIMEOUT;
    if (e->code == BS_CLIENT_ESERVER) {
        switch (e->server_code) {
        case 0x1100:
        case 0x1200: return E_TIMEOUT;
        case 0x1000: return E_UNAVAIL;
        case 0x1001: return E_OVERLOAD;
        default: return E_SERVER;
        }
    }
    return E_CLIENT;
}

static uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static uint64_t population(app *a, wstate *w, uint64_t seq) {
    cfg *c = a->c;
    switch (c->pop) {
    case 1: return xorshift(&w->rng) % c->dist;
    case 2: {
        double u1 =
            ((double)(xorshift(&w->rng) >> 11) + 1) / 9007199254740993.0;
        double u2 = (double)(xorshift(&w->rng) >> 11) / 9007199254740992.0;
        double z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
        double v = (double)c->dist / 2 + z * (double)c->dist / 6;
        if (v < 0) v = 0;
        if (v >= (double)c->dist) v = (double)c->dist - 1;
        return (uint64_t)v;
    }
    default: return seq % c->dist;
    }
}

/* Binds operation seq's values into w's statement for `kind`. */
static bs_client_stmt *bind_op(app *a, wstate *w, uint64_t seq, int kind) {
    uint64_t k = population(a, w, seq);
    uint8_t key[8];
    bs_put_u64(key, k / (uint64_t)a->c->rows);
    int32_t ck = (int32_t)(k % (uint64_t)a->c->rows);
    bs_client_stmt *s = kind == 0 ? w->ins : w->sel;
    if (kind == 0 && a->c->kind == 3) { /* v = v + ? WHERE key = ? AND c = ? */
        bs_client_stmt_bind_int64(s, 0, 1);
        bs_client_stmt_bind_bytes(s, 1, key, 8);
        bs_client_stmt_bind_int32(s, 2, ck);
        return s;
    }
    bs_client_stmt_bind_bytes(s, 0, key, 8);
    bs_client_stmt_bind_int32(s, 1, ck);
    if (kind == 0) {
        size_t n = (size_t)a->c->size;
        for (size_t j = 0; j < n; j += 8) {
            uint64_t r = xorshift(&w->vrng);
            memcpy(w->val + j, &r, n - j < 8 ? n - j : 8);
        }
        bs_client_stmt_bind_bytes(s, 2, w->val, n);
    }
    return s;
}

/* The error class of a completed operation (0 = fine). */
static int outcome(app *a, int kind, bs_client_result *res,
                   const bs_client_error *err) {
    if (!res) return classify(err);
    int cls = 0;
    if (kind == 1 && a->c->pop == 0 && bs_client_result_row_count(res) == 0)
        cls = E_NOTFOUND;
    bs_client_result_free(res);
    return cls;
}

static int op(void *ud, int worker, uint64_t seq, int kind) {
    app *a = ud;
    wstate *w = &a->ws[worker];
    bs_client_result *res = NULL;
    bs_client_error err;
    bs_client_execute(a->cl, bind_op(a, w, seq, kind), &res, &err);
    return outcome(a, kind, res, &err);
}

static void op_done(bs_client_result *res, const bs_client_error *err,
                    void *ud) {
    wstate *w = ud;
    bs_stress_done(w->tok, outcome(w->a, w->kind, res, err));
}

/* Runs on the driver's I/O thread when a slot's previous operation
 * completed there: no thread hand-off per request. */
static void op_async(void *ud, int slot, uint64_t seq, int kind,
                     bs_stress_slot *tok) {
    app *a = ud;
    wstate *w = &a->ws[slot];
    w->kind = kind;
    w->tok = tok;
    int rc = bs_client_execute_async(a->cl, bind_op(a, w, seq, kind), op_done,
                                     w);
    if (rc) bs_stress_done(tok, E_CLIENT);
}

/* The open loop's pacing runs on the driver's I/O thread (no wake-up of
 * another thread per tick). */
static int ticker(void *ud, double tick_us, int (*fn)(void *arg), void *arg) {
    app *a = ud;
    uint32_t us = tick_us < 10 ? 10 : (uint32_t)tick_us;
    return bs_client_set_ticker(a->cl, us, fn, arg);
}

static int parse_cl(const char *s, uint16_t *out) {
    static const struct {
        const char *n;
        uint16_t v;
    } cls[] = {{"ANY", 0},          {"ONE", 1},         {"TWO", 2},
               {"THREE", 3},        {"QUORUM", 4},      {"ALL", 5},
               {"LOCAL_QUORUM", 6}, {"EACH_QUORUM", 7}, {"LOCAL_ONE", 10}};
    for (size_t i = 0; i < sizeof cls / sizeof *cls; i++)
        if (!strcasecmp(s, cls[i].n)) {
            *out = cls[i].v;
            return 0;
        }
    return -1;
}

static double parse_duration(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v <= 0) return -1;
    if (!*end || !strcmp(end, "s")) return v;
    if (!strcmp(end, "m")) return v * 60;
    if (!strcmp(end, "h")) return v * 3600;
    if (!strcmp(end, "ms")) return v / 1000;
    return -1;
}

static void usage(void) {
    fprintf(
        stderr,
        "usage: basalt-stress write|read|mixed|counter [n=N | duration=30s] [cl=ONE]\n"
        "         [ratio(write=1,read=3)] [-rate threads=N] [-rate "
        "fixed=5000/s]\n"
        "         [-node HOST[,HOST]] [-port 9042] [-pop seq|uniform|gaussian] "
        "[-dist N]\n"
        "         [-col size=100] [-rows N] [-replication N] [-keyspace NAME]\n"
        "         [-connections N] [-sync] [-tick US] [-json FILE] [-log interval=5]\n"
        "         [-seed N] [-u USER] [-credentials FILE] [-lwt]\n"
        "         [-ssl] [-ssl-ca F] [-ssl-cert F] [-ssl-key F] [-ssl-no-verify]\n"
        "  -u USER: log in as USER; the password comes from -credentials FILE\n"
        "  (private: user:password), else $BASALT_PASSWORD\n"
        "  -ssl...: TLS to the nodes (client_encryption_options); also from\n"
        "  BASALT_SSL=1, BASALT_SSL_CA, BASALT_SSL_CERT, BASALT_SSL_KEY\n"
        "  -rate threads=N: N operations in flight at once, issued\n"
        "  asynchronously from the driver's I/O thread (with -sync: N OS\n"
        "  threads each making blocking calls)\n"
        "  -tick US: open loop starts due operations at most every US\n"
        "  microseconds (default 200); latency still counts from each\n"
        "  operation's own intended start\n"
        "  -seed N: seed of the random value bytes and of the keys of\n"
        "  -pop uniform|gaussian (default 1)\n"
        "  -lwt: writes are lightweight transactions (INSERT ... IF NOT\n"
        "  EXISTS, serial consistency SERIAL, commit at cl=)\n");
}

/* -ssl, -ssl-no-verify, -ssl-ca F, -ssl-cert F, -ssl-key F. */
static int parse_ssl(cfg *c, const char *a, const char *v) {
    c->ssl = 1;
    if (!strcmp(a, "-ssl")) return 0;
    if (!strcmp(a, "-ssl-no-verify")) return c->ssl_no_verify = 1, 0;
    if (!v) return -1;
    if (!strcmp(a, "-ssl-ca")) c->ssl_ca = v;
    else if (!strcmp(a, "-ssl-cert")) c->ssl_cert = v;
    else if (!strcmp(a, "-ssl-key")) c->ssl_key = v;
    else return -1;
    return 0;
}

static int parse_args(int argc, char **argv, cfg *c) {
    memset(c, 0, sizeof *c);
    c->cl = 1;
    c->threads = 8;
    c->port = 9042;
    c->size = 100;
    c->rows = 1;
    c->rf = 1;
    c->connections = 2;
    c->interval = 5;
    c->seed = 1;
    c->wr = 1;
    c->rd = 3;
    snprintf(c->nodes, sizeof c->nodes, "127.0.0.1");
    snprintf(c->ks, sizeof c->ks, "basalt_stress");
    if (argc < 2) return -1;
    if (!strcmp(argv[1], "write"))
        c->kind = 0;
    else if (!strcmp(argv[1], "read"))
        c->kind = 1;
    else if (!strcmp(argv[1], "mixed"))
        c->kind = 2;
    else if (!strcmp(argv[1], "counter"))
        c->kind = 3;
    else
        return -1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strncmp(a, "n=", 2)) {
            char *end;
            double n = strtod(a + 2, &end);
            if (*end == 'k' || *end == 'K')
                n *= 1e3;
            else if (*end == 'm' || *end == 'M')
                n *= 1e6;
            if (n <= 0) return -1;
            c->n = (uint64_t)n;
        } else if (!strncmp(a, "duration=", 9)) {
            if ((c->duration = parse_duration(a + 9)) <= 0) return -1;
        } else if (!strncmp(a, "cl=", 3)) {
            if (parse_cl(a + 3, &c->cl)) return -1;
        } else if (!strncmp(a, "ratio(", 6)) {
            if (sscanf(a, "ratio(write=%d,read=%d)", &c->wr, &c->rd) != 2 ||
                c->wr < 0 || c->rd < 0 || c->wr + c->rd == 0)
                return -1;
        } else if (!strcmp(a, "-rate") && v) {
            i++;
            if (!strncmp(v, "threads=", 8))
                c->threads = atoi(v + 8);
            else if (!strncmp(v, "fixed=", 6))
                c->rate = strtod(v + 6, NULL);
            else
                return -1;
            /* "-rate fixed=1000/s threads=16" */
            if (i + 1 < argc && !strncmp(argv[i + 1], "threads=", 8))
                c->threads = atoi(argv[++i] + 8);
            if (c->threads < 1 || c->threads > 1024 || c->rate < 0) return -1;
        } else if (!strncmp(a, "-ssl", 4)) {
            if (parse_ssl(c, a, v)) return -1;
            if (strcmp(a, "-ssl") && strcmp(a, "-ssl-no-verify")) i++;
        } else if (!strcmp(a, "-node") && v) {
            snprintf(c->nodes, sizeof c->nodes, "%s", v);
            i++;
        } else if (!strcmp(a, "-port") && v) {
            c->port = atoi(v);
            i++;
        } else if (!strcmp(a, "-pop") && v) {
            c->pop = !strcmp(v, "seq")        ? 0
                     : !strcmp(v, "uniform")  ? 1
                     : !strcmp(v, "gaussian") ? 2
                                              : -1;
            if (c->pop < 0) return -1;
            i++;
        } else if (!strcmp(a, "-dist") && v) {
            c->dist = strtoull(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "-col") && v && !strncmp(v, "size=", 5)) {
            c->size = atoi(v + 5);
            if (c->size < 8 || c->size > (1 << 20)) return -1;
            i++;
        } else if (!strcmp(a, "-rows") && v) {
            c->rows = atoi(v);
            if (c->rows < 1) return -1;
            i++;
        } else if (!strcmp(a, "-replication") && v) {
            c->rf = atoi(v);
            i++;
        } else if (!strcmp(a, "-keyspace") && v) {
            snprintf(c->ks, sizeof c->ks, "%s", v);
            i++;
        } else if (!strcmp(a, "-connections") && v) {
            c->connections = atoi(v);
            i++;
        } else if (!strcmp(a, "-tick") && v) {
            c->tick_us = atof(v);
            if (c->tick_us <= 0 || c->tick_us > 100000) return -1;
            i++;
        } else if (!strcmp(a, "-seed") && v) {
            c->seed = strtoull(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "-u") && v) {
            c->user = v;
            i++;
        } else if (!strcmp(a, "-credentials") && v) {
            c->credentials = v;
            i++;
        } else if (!strcmp(a, "-sync") || !strcmp(a, "-lwt")) {
            *(a[1] == 's' ? &c->sync : &c->lwt) = 1;
        } else if (!strcmp(a, "-json") && v) {
            c->json = v;
            i++;
        } else if (!strcmp(a, "-log") && v && !strncmp(v, "interval=", 9)) {
            c->interval = parse_duration(v + 9);
            i++;
        } else {
            fprintf(stderr, "basalt-stress: unknown argument '%s'\n", a);
            return -1;
        }
    }
    if (!c->n && c->duration <= 0) c->n = 100000;
    if (!c->dist) c->dist = c->n ? c->n : 1000000;
    if (c->kind == 0 || c->kind == 3) c->rd = 0, c->wr = 1;
    if (c->kind == 1) c->wr = 0, c->rd = 1;
    return 0;
}

static int run_cql(bs_client *cl, const char *q) {
    bs_client_result *r = NULL;
    bs_client_error e;
    int rc = bs_client_query(cl, q, &r, &e);
    if (rc) fprintf(stderr, "basalt-stress: %s: %s\n", q, e.message);
    bs_client_result_free(r);
    return rc;
}

/* -u / -credentials / $BASALT_PASSWORD into the client config.  0 or
 * -1 (reported). */
static int set_credentials(const cfg *c, bs_client_config *cc) {
    char user[260], pass[1030], cerr[512] = "";
    int rc = bs_client_credentials(c->user, c->credentials, 0, user, sizeof user, pass,
                                   sizeof pass, cerr, sizeof cerr) ||
             (user[0] && bs_client_config_set_credentials(cc, user, pass));
    memset(pass, 0, sizeof pass);
    if (rc) fprintf(stderr, "basalt-stress: %s\n", cerr[0] ? cerr : "bad user name or password");
    return rc ? -1 : 0;
}

static void on_signal(int sig) {
    (void)sig;
    bs_stress_interrupt();
}

int main(int argc, char **argv) {
    cfg c;
    if (parse_args(argc, argv, &c)) {
        usage();
        return 2;
    }
    bs_client_config *cc;
    bs_client_error err;
    if (bs_client_config_new(&cc) ||
        bs_client_config_add_contact_points(cc, c.nodes) ||
        bs_client_config_set_port(cc, c.port) ||
        bs_client_config_set_consistency(cc, c.cl) ||
        bs_client_config_set_pool_size(cc, c.connections) ||
        bs_client_config_ssl_from_env(cc) ||
        (c.ssl && bs_client_config_set_ssl(cc, 1, c.ssl_ca, c.ssl_cert, c.ssl_key,
                                           !c.ssl_no_verify))) {
        fprintf(stderr, "basalt-stress: bad client configuration\n");
        return 2;
    }
    if (set_credentials(&c, cc)) {
        bs_client_config_free(cc);
        return 2;
    }
    app a = {&c, NULL, NULL, NULL, NULL};
    if (bs_client_connect(cc, &a.cl, &err)) {
        fprintf(stderr, "basalt-stress: cannot connect to %s:%d: %s\n", c.nodes,
                c.port, err.message);
        bs_client_config_free(cc);
        return 1;
    }
    char q[512];
    snprintf(q, sizeof q,
             "CREATE KEYSPACE IF NOT EXISTS %s WITH replication = {'class': "
             "'SimpleStrategy', "
             "'replication_factor': %d}",
             c.ks, c.rf);
    if (run_cql(a.cl, q)) return 1;
    snprintf(q, sizeof q,
             "CREATE TABLE IF NOT EXISTS %s.standard1 (key blob, c int, v "
             "blob, PRIMARY KEY (key, c))",
             c.ks);
    if (run_cql(a.cl, q)) return 1;
    if (c.kind == 3) {
        snprintf(q, sizeof q,
                 "CREATE TABLE IF NOT EXISTS %s.counter1 (key blob, c int, v counter, "
                 "PRIMARY KEY (key, c))",
                 c.ks);
        if (run_cql(a.cl, q)) return 1;
        snprintf(q, sizeof q, "UPDATE %s.counter1 SET v = v + ? WHERE key = ? AND c = ?",
                 c.ks);
    } else {
        snprintf(q, sizeof q, "INSERT INTO %s.standard1 (key, c, v) VALUES (?, ?, ?)%s", c.ks,
                 c.lwt ? " IF NOT EXISTS" : "");
    }
    if (bs_client_prepare(a.cl, q, &a.ins, &err)) {
        fprintf(stderr, "basalt-stress: prepare: %s\n", err.message);
        return 1;
    }
    snprintf(q, sizeof q, "SELECT v FROM %s.standard1 WHERE key = ? AND c = ?",
             c.ks);
    if (bs_client_prepare(a.cl, q, &a.sel, &err)) {
        fprintf(stderr, "basalt-stress: prepare: %s\n", err.message);
        return 1;
    }
    a.ws = calloc((size_t)c.threads, sizeof *a.ws);
    for (int i = 0; i < c.threads; i++) {
        bs_client_stmt_new_prepared(a.ins, &a.ws[i].ins);
        bs_client_stmt_new_prepared(a.sel, &a.ws[i].sel);
        bs_client_stmt_set_consistency(a.ws[i].ins, c.cl);
        bs_client_stmt_set_consistency(a.ws[i].sel, c.cl);
        a.ws[i].a = &a;
        /* keys of -pop uniform/gaussian: seed 1 keeps the historical
         * sequence, another seed gives other keys */
        a.ws[i].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) +
                      (c.seed - 1) * 0xBF58476D1CE4E5B9ULL;
        if (!a.ws[i].rng) a.ws[i].rng = 1;
        a.ws[i].val = malloc((size_t)c.size);
        /* a distinct, never-zero xorshift state per slot and seed */
        a.ws[i].vrng = (c.seed + 1) * 0xD1B54A32D192ED03ULL ^ (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL;
        if (!a.ws[i].vrng) a.ws[i].vrng = 1;
    }
    printf("basalt-stress %s: %s%llu ops%s, %d %s, %s, cl=%u, pop=%s "
           "dist=%llu, %d-byte random values (seed %llu), "
           "%d rows/partition, nodes %s:%d\n",
           argv[1], c.n ? "" : "duration ",
           (unsigned long long)(c.n ? c.n : (uint64_t)c.duration),
           c.n ? "" : " s", c.threads,
           c.sync ? "threads" : "in flight (async)", c.rate > 0 ? "open loop" : "closed loop",
           c.cl,
           c.pop == 0   ? "seq"
           : c.pop == 1 ? "uniform"
                        : "gaussian",
           (unsigned long long)c.dist, c.size, (unsigned long long)c.seed, c.rows, c.nodes,
           c.port);
    if (c.rate > 0)
        printf("target rate %.0f op/s (latency measured from intended start)\n",
               c.rate);
    bs_stress_opts o = {0};
    o.threads = c.threads;
    o.rate = c.rate;
    o.n = c.n;
    o.duration_s = c.duration;
    o.write_ratio = c.wr;
    o.read_ratio = c.rd;
    o.report_every_s = c.interval;
    o.tick_us = c.tick_us;
    o.out = stdout;
    if (c.sync)
        o.op = op;
    else
        o.op_async = op_async;
    o.ticker = ticker;
    o.ud = &a;
    o.errclass_name = errname;
    /* SIGINT/SIGTERM end the run early with its report (a benchmark
     * measures a window of unknown length); a second one kills */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bs_stress_result *r = malloc(sizeof *r);
    if (!r || bs_stress_run(&o, r)) {
        fprintf(stderr, "basalt-stress: cannot run\n");
        return 1;
    }
    FILE *jf = NULL;
    if (c.json && !(jf = fopen(c.json, "w")))
        fprintf(stderr, "basalt-stress: cannot write %s\n", c.json);
    bs_stress_report(&o, r, stdout, jf);
    if (jf) fclose(jf);
    int failed = r->ok == 0;
    for (int i = 0; i < c.threads; i++) {
        bs_client_stmt_free(a.ws[i].ins);
        bs_client_stmt_free(a.ws[i].sel);
        free(a.ws[i].val);
    }
    free(a.ws);
    free(r);
    bs_client_prepared_free(a.ins);
    bs_client_prepared_free(a.sel);
    bs_client_close(a.cl);
    bs_client_config_free(cc);
    return failed ? 1 : 0;
}
