/*
 * ts_stress.c - basalt-ts-stress: an InfluxDB line-protocol write load
 * generator, for Basalt's time-series endpoint and InfluxDB alike.
 *
 *   basalt-ts-stress --url http://127.0.0.1:8086 [--db stress]
 *       [--points 1000000 | --duration 30] [--batch 5000] [--series 1000]
 *       [--fields 10] [--threads 4] [--consistency one] [--no-create]
 *
 * Every thread keeps one HTTP/1.1 keep-alive connection and posts
 * batches of `batch` points to /write?db=..&precision=ns (plus
 * consistency= when given).  Point i of the run (a global counter
 * shared by the threads) is
 *
 *     cpu,host=host_<i % series>,region=r<i % series % 10>
 *         f0=<float>,...,f<fields-1>=<float> <t0 + i ms>
 *
 * so every point has its own timestamp (no overwrites), the series are
 * spread evenly, and the same --points run writes the same data to any
 * server.  Without --no-create the database is created first
 * (POST /query q=CREATE DATABASE).  Prints points/s, batches, failed
 * batches (any answer but 204) and the batch latency p50/p99 (ms).
 * Exit status 1 if any batch failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct opts {
    char host[256];
    int port;
    const char *db;
    uint64_t points;
    double duration;
    int batch, series, fields, threads;
    const char *consistency;
    int create;
} opts;

static opts O;
static _Atomic uint64_t next_batch;
static _Atomic uint64_t points_done, batches_done, batches_failed;
static double *lat; /* per batch latency, ms (bounded) */
static _Atomic uint64_t nlat;
#define MAX_LAT 1000000
static double t_start, t_end_limit;
static int64_t t0_ns;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int dial(void) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", O.port);
    if (getaddrinfo(O.host, ps, &hints, &res) || !res) return -1;
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen)) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one response; returns its status (-1 on a broken connection). */
static int read_response(int fd, char *buf, size_t cap) {
    size_t n = 0;
    char *end = NULL;
    while (!end) {
        if (n + 1 >= cap) return -1;
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        n += (size_t)r;
        buf[n] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) return -1;
    long clen = 0;
    for (char *h = strstr(buf, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n"))
        if (!strncasecmp(h + 2, "content-length:", 15)) clen = strtol(h + 17, NULL, 10);
    size_t have = n - (size_t)(end + 4 - buf);
    while ((long)have < clen) { /* drain the body */
        char tmp[4096];
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        have += (size_t)r;
    }
    if (status != 204 && status != 200) {
        static _Atomic int shown;
        if (atomic_fetch_add(&shown, 1) < 3)
            fprintf(stderr, "answer %d: %.200s\n", status, end + 4);
    }
    return status;
}

/* The line protocol of points [first, first + n). */
static void batch_body(uint64_t first, int n, char **body, size_t *len, size_t *cap) {
    size_t need = (size_t)n * (64 + (size_t)O.fields * 24) + 64;
    if (*cap < need) {
        free(*body);
        *cap = need;
        *body = malloc(need);
        if (!*body) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
    char *p = *body;
    for (int k = 0; k < n; k++) {
        uint64_t i = first + (uint64_t)k, s = i % (uint64_t)O.series;
        p += sprintf(p, "cpu,host=host_%llu,region=r%llu ", (unsigned long long)s,
                     (unsigned long long)(s % 10));
        for (int f = 0; f < O.fields; f++)
            p += sprintf(p, "%sf%d=%.3f", f ? "," : "", f,
                         (double)((i * 2654435761u + (uint64_t)f * 40503u) % 100000) / 100.0);
        p += sprintf(p, " %lld\n", (long long)(t0_ns + (int64_t)i * 1000000));
    }
    *len = (size_t)(p - *body);
}

static void *worker(void *arg) {
    (void)arg;
    int fd = dial();
    if (fd < 0) {
        fprintf(stderr, "cannot connect to %s:%d\n", O.host, O.port);
        return NULL;
    }
    char *body = NULL, head[512], resp[65536];
    size_t len = 0, cap = 0;
    for (;;) {
        if (O.duration > 0 && now_s() > t_end_limit) break;
        uint64_t b = atomic_fetch_add(&next_batch, 1), first = b * (uint64_t)O.batch;
        int n = O.batch;
        if (O.points) {
            if (first >= O.points) break;
            if (first + (uint64_t)n > O.points) n = (int)(O.points - first);
        }
        batch_body(first, n, &body, &len, &cap);
        int hl = snprintf(head, sizeof head,
                          "POST /write?db=%s&precision=ns%s%s HTTP/1.1\r\nHost: %s\r\n"
                          "Content-Type: text/plain\r\nContent-Length: %zu\r\n\r\n",
                          O.db, O.consistency ? "&consistency=" : "",
                          O.consistency ? O.consistency : "", O.host, len);
        double t = now_s();
        int st = -1;
        if (!send_all(fd, head, (size_t)hl) && !send_all(fd, body, len))
            st = read_response(fd, resp, sizeof resp);
        double ms = (now_s() - t) * 1000;
        uint64_t li = atomic_fetch_add(&nlat, 1);
        if (li < MAX_LAT) lat[li] = ms;
        atomic_fetch_add(&batches_done, 1);
        if (st == 204 || st == 200) {
            atomic_fetch_add(&points_done, (uint64_t)n);
        } else {
            atomic_fetch_add(&batches_failed, 1);
            if (st < 0) { /* reconnect */
                close(fd);
                fd = dial();
                if (fd < 0) break;
            }
        }
    }
    if (fd >= 0) close(fd);
    free(body);
    return NULL;
}

static int create_db(void) {
    int fd = dial();
    if (fd < 0) return -1;
    char req[512], resp[8192];
    char q[128];
    int ql = snprintf(q, sizeof q, "q=CREATE+DATABASE+%s", O.db);
    int n = snprintf(req, sizeof req,
                     "POST /query HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                     "application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
                     O.host, ql, q);
    int st = send_all(fd, req, (size_t)n) ? -1 : read_response(fd, resp, sizeof resp);
    close(fd);
    return st == 200 ? 0 : -1;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void usage(void) {
    fprintf(stderr,
            "usage: basalt-ts-stress --url http://HOST:PORT [--db stress] [--points N | "
            "--duration S]\n"
            "       [--batch 5000] [--series 1000] [--fields 10] [--threads 4]\n"
            "       [--consistency any|one|quorum|all] [--no-create]\n");
    exit(2);
}

static void parse_args(int argc, char **argv) {
    O.db = "stress";
    O.batch = 5000;
    O.series = 1000;
    O.fields = 10;
    O.threads = 4;
    O.create = 1;
    O.port = 8086;
    snprintf(O.host, sizeof O.host, "127.0.0.1");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-create")) {
            O.create = 0;
            continue;
        }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--url")) {
            const char *h = strncmp(v, "http://", 7) ? v : v + 7;
            const char *c = strrchr(h, ':');
            size_t hn = c ? (size_t)(c - h) : strlen(h);
            if (hn >= sizeof O.host) usage();
            memcpy(O.host, h, hn);
            O.host[hn] = 0;
            if (c) O.port = atoi(c + 1);
        } else if (!strcmp(a, "--db")) O.db = v;
        else if (!strcmp(a, "--points")) O.points = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--duration")) O.duration = atof(v);
        else if (!strcmp(a, "--batch")) O.batch = atoi(v);
        else if (!strcmp(a, "--series")) O.series = atoi(v);
        else if (!strcmp(a, "--fields")) O.fields = atoi(v);
        else if (!strcmp(a, "--threads")) O.threads = atoi(v);
        else if (!strcmp(a, "--consistency")) O.consistency = v;
        else usage();
    }
    if (O.batch < 1 || O.series < 1 || O.fields < 1 || O.fields > 1000 || O.threads < 1 ||
        O.threads > 256 || (!O.points && O.duration <= 0))
        usage();
}

int main(int argc, char **argv) {
    parse_args(argc, argv);
    if (O.create && create_db()) {
        fprintf(stderr, "CREATE DATABASE %s failed on %s:%d\n", O.db, O.host, O.port);
        return 1;
    }
    lat = malloc(MAX_LAT * sizeof *lat);
    if (!lat) return 2;
    t0_ns = 1700000000LL * 1000000000LL;
    t_start = now_s();
    t_end_limit = t_start + O.duration;
    pthread_t th[256];
    for (int i = 0; i < O.threads; i++) pthread_create(&th[i], NULL, worker, NULL);
    for (int i = 0; i < O.threads; i++) pthread_join(th[i], NULL);
    double el = now_s() - t_start;
    uint64_t nl = nlat < MAX_LAT ? nlat : MAX_LAT;
    qsort(lat, nl, sizeof *lat, cmp_d);
    printf("points %llu  elapsed %.2f s  points/s %.0f  batches %llu  failed %llu  "
           "batch ms p50 %.1f p99 %.1f\n",
           (unsigned long long)points_done, el, (double)points_done / el,
           (unsigned long long)batches_done, (unsigned long long)batches_failed,
           nl ? lat[nl / 2] : 0.0, nl ? lat[nl * 99 / 100] : 0.0);
    free(lat);
    return batches_failed ? 1 : 0;
}
