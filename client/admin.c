/*
 * admin.c - basalt-admin, the nodetool-like command line tool:
 *
 *   basalt-admin [-h HOST] [-p PORT] [-t SECONDS] <command> [args]
 *
 * It talks to a node's admin REST API (node/admin/admin.h) with one plain
 * HTTP/1.1 request per command over a blocking socket ("Connection:
 * close"; no libcurl), parses the JSON answer (admin_json.c) and prints
 * it the way nodetool would (admin_fmt.c).
 *
 * Exit status: 0 on success; 1 when the node cannot be reached, answers
 * an error or something unparseable (a one-line message on stderr:
 * "basalt-admin: cannot connect to 127.0.0.1:7199: Connection refused");
 * 2 for a usage error.
 *
 * Authentication: the node's admin API wants its token (a file the node
 * keeps private, default <data_directory>/admin_token).  The token is
 * read from --token-file FILE, else from the file named by
 * $BASALT_ADMIN_TOKEN_FILE, else from data/admin_token under the current
 * directory (basaltd's default data_directory) when that exists; it goes
 * out as "Authorization: Bearer <token>".  Never on the command line: argv
 * is visible to every user.  The Host header carries the numeric address
 * actually connected to, so a host name given with -h passes the node's
 * DNS-rebinding check.
 *
 * Timeouts: connecting and each read/write wait at most -t seconds
 * (default 30; 0 = forever), so a paused (SIGSTOPped) node, whose kernel
 * still accepts connections, cannot hang a script.  flush/compact/drain
 * wait forever unless -t is given: they take as long as the work takes.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/admin_fmt.h"
#include "client/admin_json.h"
#include "client/admin_repair.h"
#include "common/arena.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/secret.h"
#include "common/tls.h"

#define MAX_RESPONSE (64u << 20)
#define DEFAULT_TOKEN_FILE "data/admin_token"

typedef struct opts {
    const char *host;
    const char *port;
    int timeout_s;         /* -1 = per-command default */
    const char *token_src; /* where the token came from; NULL = none */
    char token[BS_SECRET_MAX + 1];
    /* HTTPS (admin_encryption_options): --ssl... or BASALT_SSL* */
    int ssl, ssl_no_verify;
    const char *ssl_ca, *ssl_cert, *ssl_key;
    bs_tls_ctx *tls; /* made from the above before the first request */
} opts;

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: basalt-admin [-h HOST] [-p PORT] [-t SECONDS] [--token-file "
        "FILE] <command> "
        "[args]\n"
        "\n"
        "Options:\n"
        "  -h, --host HOST      node's admin address (default 127.0.0.1)\n"
        "  -p, --port PORT      admin port (default 7199)\n"
        "  -t, --timeout SECS   give up after SECS without progress (0 = "
        "never;\n"
        "                       default 30, none for flush/compact/drain)\n"
        "      --token-file F   the node's admin token (default: "
        "$BASALT_ADMIN_TOKEN_FILE,\n"
        "                       else ./" DEFAULT_TOKEN_FILE
        " when it exists)\n"
        "      --ssl            HTTPS (admin_encryption_options); verifies the\n"
        "                       node's certificate against --ssl-ca (default:\n"
        "                       the system's CAs) and its IP address\n"
        "      --ssl-ca F, --ssl-cert F, --ssl-key F, --ssl-no-verify\n"
        "                       CA and client certificate (PEM), or no check;\n"
        "                       also BASALT_SSL=1, BASALT_SSL_CA, BASALT_SSL_CERT,\n"
        "                       BASALT_SSL_KEY, BASALT_SSL_NO_VERIFY=1\n"
        "      --help           this text\n"
        "\n"
        "Commands:\n"
        "  status [keyspace]         nodes with state, load, tokens, "
        "ownership\n"
        "  ring [keyspace]           token ring: token -> node\n"
        "  info [-T|--tokens] [-c|--config]\n"
        "                            this node: id, load, uptime, tokens, "
        "config\n"
        "  gossipinfo                gossip endpoint states\n"
        "  describecluster           name, snitch, partitioner, schema "
        "versions\n"
        "  flush [keyspace [table...]]    flush memtables\n"
        "  compact [keyspace [table...]]  major compaction\n"
        "  drain                     flush everything and stop accepting "
        "writes\n"
        "  version                   release version\n"
        "  hints                     pending hints per target node\n"
        "  disablehintsfordc DC      store no hints for replicas in data center DC\n"
        "  enablehintsfordc DC       store hints for DC's replicas again\n"
        "  gethintsfordc             data centers whose replicas get no hints\n"
        "  repair [keyspace [table]] [--full] [--pr] [--range a:b]\n"
        "         [--dc DC]... [--local] [--dc-parallel]\n"
        "                            anti-entropy repair of the ranges this "
        "node\n"
        "                            replicates (--pr: only those it is "
        "primary for);\n"
        "                            --dc: only replicas in these DCs take "
        "part\n"
        "                            (repeatable), --local: only this node's "
        "DC,\n"
        "                            --dc-parallel: DCs build their trees at "
        "once;\n"
        "                            exit 1 when a range failed\n"
        "  settraceprobability P     trace this fraction (0..1) of the CQL\n"
        "                            requests this node coordinates\n"
        "  gettraceprobability       the current trace probability\n"
        "  setstreamthroughput [-m] N\n"
        "                            cap this node's outbound streaming at N "
        "megabits/s\n"
        "                            (-m: MiB/s; or a size per second: "
        "24MiB, 512KiB);\n"
        "                            0 = unthrottled; until a restart\n"
        "  getstreamthroughput [-m]  the current cap, in Mb/s (-m: MiB/s)\n"
        "  checksum [keyspace [table]]\n"
        "                            per-node checksum of each table; exit 1 "
        "on a\n"
        "                            mismatch\n"
        "  netstats                  streaming sessions of this node "
        "(bootstrap,\n"
        "                            decommission): phase, ranges, bytes\n"
        "  decommission              stream this node's ranges to their new "
        "owners,\n"
        "                            leave the ring, stop (shows progress)\n"
        "  removenode HOST_ID        remove a dead node: its ranges are copied "
        "from\n"
        "                            live replicas to their new owners\n"
        "  cleanup [keyspace]        drop data of ranges this node no longer "
        "replicates\n"
        "  rebuild SOURCE_DC [keyspace]\n"
        "                            stream every range this node replicates "
        "from\n"
        "                            replicas in SOURCE_DC (a node of a new "
        "DC;\n"
        "                            shows progress)\n");
}

static void die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("basalt-admin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */
/* ------------------------------------------------------------------ */

static int wait_fd(int fd, short ev, int timeout_s) {
    struct pollfd p = {fd, ev, 0};
    for (;;) {
        int r = poll(&p, 1, timeout_s > 0 ? timeout_s * 1000 : -1);
        if (r > 0) return 0;
        if (r == 0) return -ETIMEDOUT;
        if (errno != EINTR) return -errno;
    }
}

static int connect_to(const opts *o, int timeout_s) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(o->host, o->port, &hints, &res);
    if (gai) die("cannot resolve %s: %s", o->host, gai_strerror(gai));
    int err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                        ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (r < 0 && errno == EINPROGRESS) {
            r = wait_fd(fd, POLLOUT, timeout_s);
            if (r == 0) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
                if (soerr) {
                    errno = soerr;
                    r = -1;
                }
            } else {
                errno = -r;
                r = -1;
            }
        }
        if (r == 0) {
            fcntl(fd, F_SETFL, fl);
            freeaddrinfo(res);
            return fd;
        }
        err = errno;
        close(fd);
    }
    freeaddrinfo(res);
    die("cannot connect to %s:%s: %s", o->host, o->port, strerror(err));
}

/* The TLS context from the options and the environment (BASALT_SSL*,
 * when no --ssl option is given). */
static void setup_tls(opts *o) {
    if (!o->ssl) {
        const char *on = getenv("BASALT_SSL"), *nv = getenv("BASALT_SSL_NO_VERIFY");
        o->ssl_ca = getenv("BASALT_SSL_CA");
        o->ssl_cert = getenv("BASALT_SSL_CERT");
        o->ssl_key = getenv("BASALT_SSL_KEY");
        o->ssl = (on && on[0] && strcmp(on, "0") != 0) || (o->ssl_ca && o->ssl_ca[0]);
        o->ssl_no_verify = nv && nv[0] && strcmp(nv, "0") != 0;
    }
    if (!o->ssl) return;
    char why[600];
    bs_tls_opts to = {0, o->ssl_cert, o->ssl_key, o->ssl_ca, !o->ssl_no_verify};
    int rc = bs_tls_ctx_new(&to, &o->tls, why, sizeof why);
    if (rc) die("TLS: %s", rc == BS_ECONFIG ? why : bs_strerror(rc));
}

static void send_all(const opts *o, int fd, const uint8_t *p, size_t len, int timeout_s) {
    size_t off = 0;
    while (off < len) {
        if (wait_fd(fd, POLLOUT, timeout_s))
            die("timed out sending to %s:%s", o->host, o->port);
        ssize_t n = send(fd, p + off, len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            die("cannot send to %s:%s: %s", o->host, o->port, strerror(errno));
        }
        off += (size_t)n;
    }
}

/* HTTPS: sends what the session produced; dies when it failed. */
static void tls_push(const opts *o, int fd, bs_tls *t, int rc, int timeout_s) {
    bs_buf out = BS_BUF_INIT;
    if (bs_tls_output(t, &out)) die("out of memory");
    if (out.len) send_all(o, fd, out.data, out.len, timeout_s);
    bs_buf_free(&out);
    if (rc && rc != BS_ECLOSED)
        die("TLS with %s:%s: %s%s", o->host, o->port, bs_tls_error(t),
            bs_tls_ready(t) ? "" : " (is admin_encryption_options enabled on the node?)");
}

/* Performs one request; returns the HTTP status, body in *body. */
static int http(const opts *o, const char *method, const char *target,
                int timeout_s, bs_buf *body) {
    int fd = connect_to(o, timeout_s);
    /* Host: the numeric address we reached (see the top of the file) */
    char ip[NI_MAXHOST] = "", hosthdr[NI_MAXHOST + 2];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0 ||
        getnameinfo((struct sockaddr *)&ss, sl, ip, sizeof ip, NULL, 0,
                    NI_NUMERICHOST) != 0)
        snprintf(ip, sizeof ip, "%s", o->host);
    snprintf(hosthdr, sizeof hosthdr, strchr(ip, ':') ? "[%s]" : "%s", ip);
    bs_buf req = BS_BUF_INIT;
    if (bs_buf_appendf(
            &req,
            "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: basalt-admin\r\n"
            "Accept: application/json\r\nContent-Length: 0\r\nConnection: "
            "close\r\n",
            method, target, hosthdr, o->port) ||
        (o->token[0] &&
         bs_buf_appendf(&req, "Authorization: Bearer %s\r\n", o->token)) ||
        bs_buf_appendf(&req, "\r\n"))
        die("out of memory");
    bs_tls *t = NULL;
    if (o->tls) {
        if (bs_tls_new(o->tls, o->ssl_no_verify ? NULL : ip, &t)) die("cannot start TLS");
        tls_push(o, fd, t, bs_tls_write(t, req.data, req.len), timeout_s);
    } else {
        send_all(o, fd, req.data, req.len, timeout_s);
    }
    bs_buf_free(&req);
    uint8_t cipher[16384];
    bs_buf in = BS_BUF_INIT;
    for (;;) {
        int w = wait_fd(fd, POLLIN, timeout_s);
        if (w == -ETIMEDOUT)
            die("no answer from %s:%s within %d s (is the node paused or "
                "overloaded?)",
                o->host, o->port, timeout_s);
        if (bs_buf_reserve(&in, 65536)) die("out of memory");
        ssize_t n = t ? recv(fd, cipher, sizeof cipher, 0)
                      : recv(fd, in.data + in.len, 65536, 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            die("cannot read from %s:%s: %s", o->host, o->port,
                strerror(errno));
        }
        if (n == 0) break;
        if (t) {
            int rc = bs_tls_feed(t, cipher, (size_t)n);
            size_t got = 1;
            while (!rc && got) {
                if (bs_buf_reserve(&in, 65536)) die("out of memory");
                rc = bs_tls_read(t, in.data + in.len, 65536, &got);
                in.len += got;
            }
            tls_push(o, fd, t, rc, timeout_s);
            if (rc == BS_ECLOSED) break;
        } else {
            in.len += (size_t)n;
        }
        if (in.len > MAX_RESPONSE)
            die("response from %s:%s is too large", o->host, o->port);
    }
    close(fd);
    bs_tls_free(t);
    /* status line, headers, body (Content-Length or until close) */
    char *p = (char *)in.data;
    if (!p || in.len < 12 || strncmp(p, "HTTP/1.", 7) != 0)
        die("%s:%s did not answer HTTP (is this the admin port?)", o->host,
            o->port);
    int status = atoi(p + 9);
    size_t hend = 0;
    for (size_t i = 0; i + 3 < in.len; i++)
        if (!memcmp(p + i, "\r\n\r\n", 4)) {
            hend = i + 4;
            break;
        }
    if (!hend) die("truncated response from %s:%s", o->host, o->port);
    size_t blen = in.len - hend;
    for (char *line = strstr(p, "\r\n"); line && (size_t)(line - p) < hend;
         line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0) {
            size_t cl = strtoull(line + 17, NULL, 10);
            if (cl > blen)
                die("truncated response from %s:%s", o->host, o->port);
            blen = cl;
        }
    }
    bs_buf_init(body);
    if (bs_buf_append(body, p + hend, blen) || bs_buf_append_u8(body, 0))
        die("out of memory");
    body->len--; /* keep a NUL after the body for printing */
    bs_buf_free(&in);
    return status;
}

static void append_escaped(bs_buf *b, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '~')
            bs_buf_append_u8(b, c);
        else
            bs_buf_appendf(b, "%%%02X", c);
    }
}

/* GET or POST; on success parses the JSON body into *doc (arena a). */
static void call(const opts *o, const char *method, const char *target,
                 int dflt_timeout, bs_arena *a, const bs_json **doc) {
    int timeout = o->timeout_s >= 0 ? o->timeout_s : dflt_timeout;
    bs_buf body;
    int st = http(o, method, target, timeout, &body);
    char err[160];
    const bs_json *d = NULL;
    int rc = bs_json_parse((const char *)body.data, body.len, a, &d, err,
                           sizeof err);
    if (st < 200 || st > 299) {
        const char *msg =
            rc ? NULL : bs_json_string(bs_json_get(d, "error"), NULL);
        if (st == 401 && !o->token_src)
            die("%s (HTTP 401): give the node's admin token with "
                "--token-file <data_directory>/admin_token or "
                "BASALT_ADMIN_TOKEN_FILE",
                msg ? msg : "unauthorized");
        if (st == 401)
            die("%s (HTTP 401): the token from %s is not this node's",
                msg ? msg : "unauthorized", o->token_src);
        if (msg) die("%s (HTTP %d)", msg, st);
        die("%s %s failed with HTTP %d", method, target, st);
    }
    if (rc) die("bad JSON from %s:%s: %s", o->host, o->port, err);
    bs_buf_free(&body);
    *doc = d;
}

static void print_buf(bs_buf *out) {
    if (out->len) fwrite(out->data, 1, out->len, stdout);
    bs_buf_free(out);
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

typedef int (*render_fn)(const bs_json *doc, bs_buf *out);

static int cmd_get(const opts *o, const char *path, const char *ks,
                   render_fn fn) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf target = BS_BUF_INIT, out = BS_BUF_INIT;
    bs_buf_append_str(&target, path);
    if (ks) {
        bs_buf_append_str(&target, "?keyspace=");
        append_escaped(&target, ks);
    }
    bs_buf_append_u8(&target, 0);
    const bs_json *doc;
    call(o, "GET", (const char *)target.data, 30, &a, &doc);
    if (fn(doc, &out))
        die("unexpected answer to %s from %s:%s", path, o->host, o->port);
    print_buf(&out);
    bs_buf_free(&target);
    bs_arena_free(&a);
    return 0;
}

static int cmd_info(const opts *o, int argc, char **argv) {
    bool tokens = false, config = false;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-T") || !strcmp(argv[i], "--tokens"))
            tokens = true;
        else if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config"))
            config = true;
        else {
            fprintf(stderr, "basalt-admin: info: unknown option '%s'\n",
                    argv[i]);
            return 2;
        }
    }
    bs_arena a;
    bs_arena_init(&a, 0);
    const bs_json *doc;
    call(o, "GET", tokens ? "/info?tokens=1" : "/info", 30, &a, &doc);
    bs_buf out = BS_BUF_INIT;
    if (bs_admin_fmt_info(doc, tokens, config, &out))
        die("unexpected answer to /info from %s:%s", o->host, o->port);
    print_buf(&out);
    bs_arena_free(&a);
    return 0;
}

static int cmd_action(const opts *o, const char *path, int argc, char **argv) {
    bs_arena a;
    bs_arena_init(&a, 0);
    int ntables = argc > 1 ? argc - 1 : 1;
    for (int i = 0; i < ntables; i++) {
        bs_buf target = BS_BUF_INIT;
        bs_buf_append_str(&target, path);
        if (argc >= 1) {
            bs_buf_append_str(&target, "?keyspace=");
            append_escaped(&target, argv[0]);
            if (argc >= 2) {
                bs_buf_append_str(&target, "&table=");
                append_escaped(&target, argv[1 + i]);
            }
        }
        bs_buf_append_u8(&target, 0);
        const bs_json *doc;
        call(o, "POST", (const char *)target.data, 0, &a, &doc);
        bs_buf_free(&target);
    }
    bs_arena_free(&a);
    return 0;
}

/* disablehintsfordc DC / enablehintsfordc DC / gethintsfordc. */
static int cmd_hintsfordc(const opts *o, const char *path, const char *dc) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf target = BS_BUF_INIT;
    bs_buf_append_str(&target, path);
    if (dc) {
        bs_buf_append_str(&target, "?dc=");
        append_escaped(&target, dc);
    }
    bs_buf_append_u8(&target, 0);
    const bs_json *doc;
    call(o, dc ? "POST" : "GET", (const char *)target.data, 0, &a, &doc);
    if (!dc) {
        const bs_json *arr = bs_json_get(doc, "disabled");
        size_t n = arr && arr->type == BS_JSON_ARRAY ? arr->n : 0;
        printf("Data centers with hinted handoff disabled:%s\n", n ? "" : " none");
        for (size_t i = 0; i < n; i++) {
            const char *s = bs_json_string(arr->items[i], NULL);
            if (s) printf("  %s\n", s);
        }
    }
    bs_buf_free(&target);
    bs_arena_free(&a);
    return 0;
}

/* settraceprobability P / gettraceprobability. */
static int cmd_traceprob(const opts *o, const char *value) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf target = BS_BUF_INIT;
    bs_buf_append_str(&target, "/traceprobability");
    if (value) {
        bs_buf_append_str(&target, "?value=");
        append_escaped(&target, value);
    }
    bs_buf_append_u8(&target, 0);
    const bs_json *doc;
    call(o, value ? "POST" : "GET", (const char *)target.data, 0, &a, &doc);
    double p = 0;
    if (bs_json_double(bs_json_get(doc, "probability"), &p)) die("bad answer: no probability");
    if (!value) printf("Current trace probability: %g\n", p);
    bs_buf_free(&target);
    bs_arena_free(&a);
    return 0;
}

/* A stream rate as nodetool takes it: a whole number of megabits per
 * second (10^6 bits), of MiB per second with mib, or a size per second
 * with its unit ("24MiB", "512KiB/s").  0 or -1. */
static int parse_rate(const char *s, int mib, uint64_t *out) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB"};
    if (*s < '0' || *s > '9') return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno) return -1;
    uint64_t mult = mib ? 1u << 20 : 125000;
    if (*end) {
        size_t u = 0, ulen = strcspn(end, "/");
        while (u < 4 && !(strlen(units[u]) == ulen && !strncmp(end, units[u], ulen))) u++;
        if (u == 4 || (end[ulen] && strcmp(end + ulen, "/s"))) return -1;
        mult = (uint64_t)1 << (10 * u);
    }
    if (n > (64ull << 30) / mult) return -1; /* the node's maximum */
    *out = n * mult;
    return 0;
}

/* setstreamthroughput [-m] N / getstreamthroughput [-m]. */
static int cmd_streamrate(const opts *o, int set, int nargs, char **args) {
    int mib = nargs > 0 && !strcmp(args[0], "-m");
    if (nargs != set + mib) {
        fprintf(stderr, "basalt-admin: %s\n",
                set ? "setstreamthroughput takes [-m] and one rate: megabits/s, "
                      "MiB/s with -m, or a size per second like 24MiB (0 = unthrottled)"
                    : "getstreamthroughput takes no argument but -m");
        return 2;
    }
    char target[64] = "/streamthroughput";
    if (set) {
        uint64_t b;
        if (parse_rate(args[mib], mib, &b))
            die("bad stream throughput '%s': a whole number of %s, or a size per "
                "second like 24MiB, at most 64GiB/s (0 = unthrottled)",
                args[mib], mib ? "MiB/s" : "megabits/s");
        snprintf(target, sizeof target, "/streamthroughput?bytes=%llu", (unsigned long long)b);
    }
    bs_arena a;
    bs_arena_init(&a, 0);
    const bs_json *doc;
    call(o, set ? "POST" : "GET", target, 0, &a, &doc);
    int64_t b = 0;
    if (bs_json_int(bs_json_get(doc, "stream_throughput_bytes"), &b) || b < 0)
        die("bad answer: no stream_throughput_bytes");
    if (!set && !b)
        printf("Current stream throughput: unthrottled\n");
    else if (!set && mib)
        printf("Current stream throughput: %g MiB/s\n", (double)b / (1 << 20));
    else if (!set)
        printf("Current stream throughput: %g Mb/s\n", (double)b / 125000);
    bs_arena_free(&a);
    return 0;
}

/* repair / checksum: [keyspace [table]] plus options. */
static int cmd_repair(const opts *o, int checksum, int argc, char **argv) {
    const char *pos[2] = {NULL, NULL}, *range = NULL;
    int npos = 0, full = 0, pr = 0, local = 0, dcpar = 0;
    bs_buf dcs = BS_BUF_INIT; /* "a,b" */
    for (int i = 0; i < argc; i++) {
        if (!checksum && !strcmp(argv[i], "--full"))
            full = 1;
        else if (!checksum && (!strcmp(argv[i], "--dc") || !strcmp(argv[i], "-dc") ||
                               !strcmp(argv[i], "--in-dc")) && i + 1 < argc) {
            if (dcs.len) bs_buf_append_str(&dcs, ",");
            bs_buf_append_str(&dcs, argv[++i]);
        } else if (!checksum && (!strcmp(argv[i], "--local") || !strcmp(argv[i], "-local") ||
                                 !strcmp(argv[i], "--in-local-dc")))
            local = 1;
        else if (!checksum && (!strcmp(argv[i], "--dc-parallel") || !strcmp(argv[i], "-dcpar")))
            dcpar = 1;
        else if (!checksum &&
                 (!strcmp(argv[i], "--pr") || !strcmp(argv[i], "-pr")))
            pr = 1;
        else if (!checksum && !strcmp(argv[i], "--range") && i + 1 < argc)
            range = argv[++i];
        else if (argv[i][0] != '-' && npos < 2)
            pos[npos++] = argv[i];
        else {
            fprintf(stderr, "basalt-admin: %s: unexpected argument '%s'\n",
                    checksum ? "checksum" : "repair", argv[i]);
            return 2;
        }
    }
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf target = BS_BUF_INIT, out = BS_BUF_INIT;
    bs_buf_append_str(&target, checksum ? "/checksum" : "/repair");
    char sep = '?';
    const char *names[] = {"keyspace", "table", "range"};
    const char *vals[] = {pos[0], pos[1], range};
    for (int i = 0; i < 3; i++) {
        if (!vals[i]) continue;
        bs_buf_appendf(&target, "%c%s=", sep, names[i]);
        append_escaped(&target, vals[i]);
        sep = '&';
    }
    if (full) {
        bs_buf_appendf(&target, "%cfull=1", sep);
        sep = '&';
    }
    if (pr) {
        bs_buf_appendf(&target, "%cpr=1", sep);
        sep = '&';
    }
    if (local && dcs.len) {
        fprintf(stderr, "basalt-admin: repair: --dc and --local exclude each other\n");
        return 2;
    }
    if (dcs.len) {
        bs_buf_appendf(&target, "%cdc=", sep);
        bs_buf_append_u8(&dcs, 0);
        append_escaped(&target, (const char *)dcs.data);
        sep = '&';
    }
    bs_buf_free(&dcs);
    if (local) {
        bs_buf_appendf(&target, "%clocal=1", sep);
        sep = '&';
    }
    if (dcpar) bs_buf_appendf(&target, "%cdc_parallel=1", sep);
    bs_buf_append_u8(&target, 0);
    const bs_json *doc;
    /* a repair takes as long as it takes: no default timeout */
    call(o, checksum ? "GET" : "POST", (const char *)target.data,
         checksum ? 300 : 0, &a, &doc);
    int64_t bad = 0;
    if (checksum ? bs_admin_fmt_checksum(doc, &out, &bad)
                 : bs_admin_fmt_repair(doc, &out, &bad))
        die("unexpected answer from %s:%s", o->host, o->port);
    print_buf(&out);
    bs_buf_free(&target);
    bs_arena_free(&a);
    return bad ? 1 : 0;
}

/* One line about the streaming session of a /streams answer. */
/* One line per stream running on the node (Cassandra's netstats lists
 * its sending and receiving streams per peer the same way). */
static void print_live(const bs_json *v, FILE *f) {
    if (!v || v->type != BS_JSON_ARRAY || !v->n) return;
    fprintf(f, "Streams running: %zu\n", v->n);
    for (size_t i = 0; i < v->n; i++) {
        const bs_json *s = v->items[i];
        int64_t rows = 0, bytes = 0, rate = 0, ms = 0, nr = 0;
        bs_json_int(bs_json_get(s, "rows"), &rows);
        bs_json_int(bs_json_get(s, "bytes"), &bytes);
        bs_json_int(bs_json_get(s, "bytes_per_s"), &rate);
        bs_json_int(bs_json_get(s, "elapsed_ms"), &ms);
        bs_json_int(bs_json_get(s, "ranges"), &nr);
        int out = !strcmp(bs_json_string(bs_json_get(s, "direction"), ""), "sending");
        char rg[96] = "";
        if (nr)
            snprintf(rg, sizeof rg, "  %lld range%s (%s, %s]", (long long)nr, nr > 1 ? "s" : "",
                     bs_json_string(bs_json_get(s, "range_start"), "?"),
                     bs_json_string(bs_json_get(s, "range_end"), "?"));
        fprintf(f, "  %s %s %s  %s%s  rows %lld  %.1f MiB  %.1f MiB/s  %.1f s\n",
                out ? "sending" : "receiving", out ? "to" : "from",
                bs_json_string(bs_json_get(s, "peer"), "?"),
                bs_json_string(bs_json_get(s, "table"), "?"), rg, (long long)rows,
                (double)bytes / 1048576.0, (double)rate / 1048576.0, (double)ms / 1000.0);
    }
}

static void print_streams(const bs_json *doc, FILE *f) {
    const bs_json *st = bs_json_get(doc, "streams");
    const bs_json *ss = bs_json_get(st, "sessions");
    const bs_json *s =
        ss && ss->type == BS_JSON_ARRAY && ss->n ? ss->items[0] : NULL;
    fprintf(f, "Mode: %s", bs_json_string(bs_json_get(doc, "state"), "?"));
    const char *err = bs_json_string(bs_json_get(doc, "error"), "");
    if (*err) fprintf(f, " (%s)", err);
    fputc('\n', f);
    if (s) {
        int64_t tot = 0, done = 0, skip = 0, bytes = 0, rows = 0, rate = 0, btot = 0;
        bs_json_int(bs_json_get(s, "bytes_total"), &btot);
        bs_json_int(bs_json_get(s, "ranges_total"), &tot);
        bs_json_int(bs_json_get(s, "ranges_done"), &done);
        bs_json_int(bs_json_get(s, "ranges_skipped"), &skip);
        bs_json_int(bs_json_get(s, "bytes"), &bytes);
        bs_json_int(bs_json_get(s, "rows"), &rows);
        bs_json_int(bs_json_get(s, "bytes_per_s"), &rate);
        /* by bytes when the sources said how many (skipped ranges are
         * not in bytes_total), else by ranges */
        const char *phase = bs_json_string(bs_json_get(s, "phase"), "?");
        int pct = btot > 0  ? (int)(bytes >= btot ? 100 : bytes * 100 / btot)
                  : tot     ? (int)((done + skip) * 100 / tot)
                            : 100;
        if (!strcmp(phase, "complete")) pct = 100;
        char bar[21], of[48] = "";
        for (int i = 0; i < 20; i++) bar[i] = i < pct / 5 ? '#' : '.';
        bar[20] = 0;
        if (btot > 0) snprintf(of, sizeof of, " of %.1f MiB", (double)btot / 1048576.0);
        fprintf(f,
                "%s %s [%s] %3d%%  ranges %lld/%lld (%lld skipped)  rows %lld  "
                "%.1f MiB%s  %.1f MiB/s  peer %s\n",
                bs_json_string(bs_json_get(s, "operation"), "?"), phase, bar, pct,
                (long long)(done + skip), (long long)tot, (long long)skip,
                (long long)rows, (double)bytes / 1048576.0, of,
                (double)rate / 1048576.0,
                bs_json_string(bs_json_get(s, "peer"), "-"));
    } else {
        fprintf(f, "Not streaming\n");
    }
    print_live(bs_json_get(st, "streams"), f);
    int64_t rx = 0, tx = 0;
    bs_json_int(bs_json_get(st, "received_bytes"), &rx);
    bs_json_int(bs_json_get(st, "sent_bytes"), &tx);
    fprintf(f, "Received %.1f MiB, sent %.1f MiB since start\n",
            (double)rx / 1048576.0, (double)tx / 1048576.0);
}

static int cmd_netstats(const opts *o) {
    bs_arena a;
    bs_arena_init(&a, 0);
    const bs_json *doc;
    call(o, "GET", "/streams", 30, &a, &doc);
    print_streams(doc, stdout);
    bs_arena_free(&a);
    return 0;
}

/* POSTs `target` (a topology change: decommission, removenode, rebuild),
 * then shows its progress until the node's state is `done` or `failed`
 * (a decommissioned node stops a few seconds later). */
static int follow_change(const opts *o, const char *target, const char *done,
                         const char *failed) {
    bs_arena a;
    bs_arena_init(&a, 0);
    const bs_json *doc;
    call(o, "POST", target, 30, &a, &doc);
    for (;;) {
        usleep(500000);
        bs_arena_reset(&a);
        call(o, "GET", "/streams", 30, &a, &doc);
        const char *st = bs_json_string(bs_json_get(doc, "state"), "?");
        if (!strcmp(st, done) || !strcmp(st, failed)) {
            int bad = strcmp(st, done) != 0;
            print_streams(doc, stdout);
            bs_arena_free(&a); /* st lived in it */
            return bad;
        }
        if (isatty(1)) {
            fputs("\r", stdout);
            print_streams(doc, stdout);
        }
    }
}

/* Starts a decommission (host NULL) or the removal of dead node `host`
 * and follows it. */
static int cmd_decommission(const opts *o, const char *host) {
    bs_buf target = BS_BUF_INIT;
    bs_buf_append_str(&target, host ? "/removenode?host=" : "/decommission");
    if (host) append_escaped(&target, host);
    bs_buf_append_u8(&target, 0);
    int rc = follow_change(o, (const char *)target.data,
                           host ? "normal" : "decommissioned",
                           host ? "removenode_failed" : "decommission_failed");
    bs_buf_free(&target);
    return rc;
}

/* rebuild SOURCE_DC [keyspace] */
static int cmd_rebuild(const opts *o, int argc, char **argv) {
    if (argc < 1 || argc > 2 || argv[0][0] == '-') {
        fprintf(stderr, "basalt-admin: rebuild takes a source datacenter and "
                        "optionally a keyspace\n");
        return 2;
    }
    bs_buf target = BS_BUF_INIT;
    bs_buf_append_str(&target, "/rebuild?source_dc=");
    append_escaped(&target, argv[0]);
    if (argc > 1) {
        bs_buf_append_str(&target, "&keyspace=");
        append_escaped(&target, argv[1]);
    }
    bs_buf_append_u8(&target, 0);
    int rc = follow_change(o, (const char *)target.data, "normal", "rebuild_failed");
    bs_buf_free(&target);
    return rc;
}

static int cmd_cleanup(const opts *o, int argc, char **argv) {
    if (argc > 1) {
        fprintf(stderr, "basalt-admin: cleanup takes at most one keyspace\n");
        return 2;
    }
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf target = BS_BUF_INIT;
    bs_buf_append_str(&target, "/cleanup");
    if (argc) {
        bs_buf_append_str(&target, "?keyspace=");
        append_escaped(&target, argv[0]);
    }
    bs_buf_append_u8(&target, 0);
    const bs_json *doc;
    call(o, "POST", (const char *)target.data, 0, &a, &doc);
    int64_t t = 0, r = 0, b0 = 0, b1 = 0;
    bs_json_int(bs_json_get(doc, "tables"), &t);
    bs_json_int(bs_json_get(doc, "ranges_dropped"), &r);
    bs_json_int(bs_json_get(doc, "bytes_before"), &b0);
    bs_json_int(bs_json_get(doc, "bytes_after"), &b1);
    printf("Cleaned %lld tables: %lld unowned ranges dropped; load %lld -> "
           "%lld bytes\n",
           (long long)t, (long long)r, (long long)b0, (long long)b1);
    bs_buf_free(&target);
    bs_arena_free(&a);
    return 0;
}

/* The topology commands (netstats, decommission, removenode, cleanup,
 * rebuild): their exit status, or -1 when cmd is none of them. */
static int cmd_topology(const opts *o, const char *cmd, int nargs, char **args) {
    if (!strcmp(cmd, "netstats")) return cmd_netstats(o);
    if (!strcmp(cmd, "decommission")) return cmd_decommission(o, NULL);
    if (!strcmp(cmd, "removenode")) {
        if (nargs != 1) {
            fprintf(stderr, "basalt-admin: removenode takes the host id of a "
                            "dead node\n");
            return 2;
        }
        return cmd_decommission(o, args[0]);
    }
    if (!strcmp(cmd, "cleanup")) return cmd_cleanup(o, nargs, args);
    if (!strcmp(cmd, "rebuild")) return cmd_rebuild(o, nargs, args);
    return -1;
}

/* Reads the token (see the top of the file); dies when an explicitly
 * named file cannot be used. */
static void load_token(opts *o, const char *file) {
    const char *src = "--token-file";
    if (!file) {
        file = getenv("BASALT_ADMIN_TOKEN_FILE");
        src = "BASALT_ADMIN_TOKEN_FILE";
        if (file && !*file) file = NULL;
    }
    int dflt = !file;
    if (dflt) {
        file = DEFAULT_TOKEN_FILE;
        src = "./" DEFAULT_TOKEN_FILE;
    }
    bs_secret_opts so = {0, 1, 0};
    uint8_t raw[BS_SECRET_MAX];
    size_t n = 0;
    char err[600];
    int rc = bs_secret_load(file, &so, raw, sizeof raw, &n, err, sizeof err);
    if (rc && dflt) return; /* no token: the node says what it wants */
    if (rc) die("admin token (%s): %s", src, err);
    for (size_t i = 0; i < n; i++)
        if (raw[i] < 0x21 || raw[i] > 0x7e)
            die("admin token (%s): %s holds more than one word", src, file);
    memcpy(o->token, raw, n);
    o->token[n] = 0;
    o->token_src = src;
}

int main(int argc, char **argv) {
    opts o;
    memset(&o, 0, sizeof o);
    o.host = "127.0.0.1";
    o.port = "7199";
    o.timeout_s = -1;
    const char *token_file = NULL;
    signal(SIGPIPE, SIG_IGN);
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "help")) {
            usage(stdout);
            return 0;
        }
        if (a[0] != '-') break;
        if (!strcmp(a, "--ssl") || !strcmp(a, "--ssl-no-verify")) {
            o.ssl = 1;
            if (a[5]) o.ssl_no_verify = 1;
            continue;
        }
        const char *val = NULL;
        if (i + 1 < argc) val = argv[i + 1];
        if (!strcmp(a, "-h") || !strcmp(a, "--host")) {
            if (!val) goto missing;
            o.host = val;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--port")) {
            if (!val) goto missing;
            char *end;
            long p = strtol(val, &end, 10);
            if (*end || p <= 0 || p > 65535) {
                fprintf(stderr, "basalt-admin: bad port '%s'\n", val);
                return 2;
            }
            o.port = val;
        } else if (!strcmp(a, "--token-file")) {
            if (!val) goto missing;
            token_file = val;
        } else if (!strcmp(a, "--ssl-ca") || !strcmp(a, "--ssl-cert") ||
                   !strcmp(a, "--ssl-key")) {
            if (!val) goto missing;
            o.ssl = 1;
            *(!strcmp(a, "--ssl-ca")     ? &o.ssl_ca
              : !strcmp(a, "--ssl-cert") ? &o.ssl_cert
                                         : &o.ssl_key) = val;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--timeout")) {
            if (!val) goto missing;
            char *end;
            long t = strtol(val, &end, 10);
            if (*end || t < 0 || t > 86400) {
                fprintf(stderr, "basalt-admin: bad timeout '%s'\n", val);
                return 2;
            }
            o.timeout_s = (int)t;
        } else {
            fprintf(stderr, "basalt-admin: unknown option '%s' (see --help)\n",
                    a);
            return 2;
        }
        i++;
        continue;
    missing:
        fprintf(stderr, "basalt-admin: option %s needs a value\n", a);
        return 2;
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    load_token(&o, token_file);
    setup_tls(&o);
    const char *cmd = argv[i];
    int nargs = argc - i - 1;
    char **args = argv + i + 1;
    if (!strcmp(cmd, "status") || !strcmp(cmd, "ring")) {
        if (nargs > 1) {
            fprintf(stderr, "basalt-admin: %s takes at most one keyspace\n",
                    cmd);
            return 2;
        }
        return cmd_get(&o, !strcmp(cmd, "status") ? "/status" : "/ring",
                       nargs ? args[0] : NULL,
                       !strcmp(cmd, "status") ? bs_admin_fmt_status
                                              : bs_admin_fmt_ring);
    }
    if (!strcmp(cmd, "info")) return cmd_info(&o, nargs, args);
    if (!strcmp(cmd, "gossipinfo") || !strcmp(cmd, "describecluster") ||
        !strcmp(cmd, "version") || !strcmp(cmd, "drain")) {
        if (nargs) {
            fprintf(stderr, "basalt-admin: %s takes no arguments\n", cmd);
            return 2;
        }
        if (!strcmp(cmd, "gossipinfo"))
            return cmd_get(&o, "/gossipinfo", NULL, bs_admin_fmt_gossipinfo);
        if (!strcmp(cmd, "describecluster"))
            return cmd_get(&o, "/describecluster", NULL,
                           bs_admin_fmt_describecluster);
        if (!strcmp(cmd, "version"))
            return cmd_get(&o, "/version", NULL, bs_admin_fmt_version);
        return cmd_action(&o, "/drain", 0, NULL);
    }
    if (!strcmp(cmd, "hints")) {
        if (nargs) {
            fprintf(stderr, "basalt-admin: hints takes no arguments\n");
            return 2;
        }
        return cmd_get(&o, "/hints", NULL, bs_admin_fmt_hints);
    }
    if (!strcmp(cmd, "settraceprobability") || !strcmp(cmd, "gettraceprobability")) {
        int set = cmd[0] == 's';
        if (nargs != set) {
            fprintf(stderr, "basalt-admin: %s takes %s\n", cmd,
                    set ? "one argument, a probability between 0 and 1" : "no arguments");
            return 2;
        }
        return cmd_traceprob(&o, set ? args[0] : NULL);
    }
    if (!strcmp(cmd, "setstreamthroughput") || !strcmp(cmd, "getstreamthroughput"))
        return cmd_streamrate(&o, cmd[0] == 's', nargs, args);
    if (!strcmp(cmd, "disablehintsfordc") || !strcmp(cmd, "enablehintsfordc")) {
        if (nargs != 1) {
            fprintf(stderr, "basalt-admin: %s takes one argument, a data center name\n", cmd);
            return 2;
        }
        return cmd_hintsfordc(&o, cmd[0] == 'd' ? "/disablehintsfordc" : "/enablehintsfordc",
                              args[0]);
    }
    if (!strcmp(cmd, "gethintsfordc")) {
        if (nargs) {
            fprintf(stderr, "basalt-admin: gethintsfordc takes no arguments\n");
            return 2;
        }
        return cmd_hintsfordc(&o, "/hintsfordc", NULL);
    }
    if (!strcmp(cmd, "repair")) return cmd_repair(&o, 0, nargs, args);
    if (!strcmp(cmd, "checksum")) return cmd_repair(&o, 1, nargs, args);
    int rc = cmd_topology(&o, cmd, nargs, args);
    if (rc != -1) return rc;
    if (!strcmp(cmd, "flush")) return cmd_action(&o, "/flush", nargs, args);
    if (!strcmp(cmd, "compact")) return cmd_action(&o, "/compact", nargs, args);
    fprintf(stderr, "basalt-admin: unknown command '%s' (see --help)\n", cmd);
    return 2;
}
