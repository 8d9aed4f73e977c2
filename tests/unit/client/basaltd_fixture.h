/*
 * basaltd_fixture.h - starts and stops a real basaltd for client tests.
 *
 * The node listens on 127.0.0.N (N from the pid, 20..219) on a port the
 * kernel picked free, with its data in a fresh directory under /tmp.  The
 * child gets PR_SET_PDEATHSIG(SIGKILL), so a test process that dies (a
 * failed assertion in Check's fork mode skips teardown) takes its server
 * with it.  The binary is BASALTD_PATH (set by CMake), or $BASALTD.
 * Header-only: included by one test file each.
 *
 * A node's end is checked, so a sanitized basaltd (build-asan/) cannot
 * crash or leak unseen: tsrv_stop() returns 0 only when the node exited
 * 0 on SIGTERM, and tsrv_destroy() also fails (-1) when the node's output
 * (its stdout/stderr, <dir>/basaltd.log) holds a sanitizer report; both
 * print the reason and the log's tail to stderr.  Tests assert both.
 */
#ifndef BS_TEST_BASALTD_FIXTURE_H
#define BS_TEST_BASALTD_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct bs_test_server {
    pid_t pid;
    char addr[32];
    int port;
    int other_ports[3]; /* storage, http, admin */
    char dir[128];
    char hostport[64];
    char seeds[32]; /* "" = itself */
    char secret[160]; /* cluster secret file; "" = basaltd's default */
    const char *extra[6]; /* more basaltd flags (NULL-terminated, static) */
} bs_test_server;

__attribute__((unused)) static int tsrv_can_connect(const char *addr,
                                                    int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, addr, &sa.sin_addr);
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

/* n distinct free ports on addr (all bound at once, then released). */
__attribute__((unused)) static int tsrv_free_ports(const char *addr, int n,
                                                   int *out) {
    int fds[8], rc = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        inet_pton(AF_INET, addr, &sa.sin_addr);
        socklen_t l = sizeof sa;
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa, sizeof sa) ||
            getsockname(fds[i], (struct sockaddr *)&sa, &l))
            rc = -1;
        out[i] = ntohs(sa.sin_port);
    }
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
    return rc;
}

/* Data directories are /tmp/bs_client_test.<tag>.XXXXXX, the tag being
 * the pid of the Check runner (set by tsrv_suite_setup, an unchecked
 * fixture, and inherited by the forked tests); tsrv_suite_teardown runs in
 * the runner even when a test failed and removes them all. */
static void tsrv_dir_template(char *out, size_t cap) {
    const char *tag = getenv("BS_TSRV_TAG");
    snprintf(out, cap, "/tmp/bs_client_test.%s.XXXXXX", tag ? tag : "x");
}

__attribute__((unused)) static void tsrv_suite_setup(void) {
    char tag[32];
    snprintf(tag, sizeof tag, "%d", (int)getpid());
    setenv("BS_TSRV_TAG", tag, 1);
}

__attribute__((unused)) static void tsrv_suite_teardown(void) {
    const char *tag = getenv("BS_TSRV_TAG");
    if (!tag) return;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf /tmp/bs_client_test.%s.*", tag);
    if (system(cmd)) { /* best effort */
    }
}

/* Servers to clean up at exit: a failed Check assertion exits the test
 * process without running the test's own teardown. */
static bs_test_server *tsrv_reg[8];
static int tsrv_nreg;
static int tsrv_destroy(bs_test_server *s);
static void tsrv_atexit(void) {
    for (int i = 0; i < tsrv_nreg; i++)
        (void)tsrv_destroy(tsrv_reg[i]); /* a failed test: already failing */
}
static void tsrv_register(bs_test_server *s) {
    for (int i = 0; i < tsrv_nreg; i++)
        if (tsrv_reg[i] == s) return;
    if (tsrv_nreg == 0) atexit(tsrv_atexit);
    if (tsrv_nreg < 8) tsrv_reg[tsrv_nreg++] = s;
}

/* Starts basaltd on s (addr/port/dir kept when already set: a restart).
 * 0 when it accepts connections within 20 s. */
static int tsrv_start_once(bs_test_server *s);

/* Prints the tail of the node's log (why a start failed). */
static void tsrv_dump_log(const bs_test_server *s) {
    char path[256], cmd[320];
    snprintf(path, sizeof path, "%s/basaltd.log", s->dir);
    snprintf(cmd, sizeof cmd, "tail -n 20 '%s' 1>&2", path);
    fprintf(stderr, "basaltd on %s did not start; its log:\n", s->hostport[0] ? s->hostport : s->addr);
    if (system(cmd) != 0) fprintf(stderr, "(no log)\n");
}

/* Starts basaltd on s; a start that fails (e.g. a port taken by a test
 * running in parallel between the probe and the bind) is retried once. */
__attribute__((unused)) static int tsrv_start(bs_test_server *s) {
    int fresh = !s->addr[0];
    if (tsrv_start_once(s) == 0) return 0;
    tsrv_dump_log(s);
    usleep(500000);
    if (fresh) s->addr[0] = 0; /* pick new ports (and a new directory) */
    if (tsrv_start_once(s) == 0) return 0;
    tsrv_dump_log(s);
    return -1;
}

static int tsrv_start_once(bs_test_server *s) {
    if (!s->addr[0]) {
        snprintf(s->addr, sizeof s->addr, "127.0.0.%d",
                 20 + (int)(getpid() % 200));
        int ports[4];
        if (tsrv_free_ports(s->addr, 4, ports)) return -1;
        s->port = ports[0];
        memcpy(s->other_ports, ports + 1, sizeof s->other_ports);
        tsrv_dir_template(s->dir, sizeof s->dir);
        if (!mkdtemp(s->dir)) return -1;
        snprintf(s->hostport, sizeof s->hostport, "%s:%d", s->addr, s->port);
    }
    char port[16], sp[16], hp[16], ap[16], data[160], log[200];
    snprintf(port, sizeof port, "%d", s->port);
    snprintf(sp, sizeof sp, "%d", s->other_ports[0]);
    snprintf(hp, sizeof hp, "%d", s->other_ports[1]);
    snprintf(ap, sizeof ap, "%d", s->other_ports[2]);
    snprintf(data, sizeof data, "%s/data", s->dir);
    snprintf(log, sizeof log, "%s/basaltd.log", s->dir);
    tsrv_register(s);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        const char *bin = getenv("BASALTD"); /* override for odd builds */
        char sf[200];
        snprintf(sf, sizeof sf, "--cluster-secret-file=%s", s->secret);
        char *argv[] = {"basaltd", "--data-directory", data,
                        "--rpc-address", s->addr, "--listen-address", s->addr,
                        "--seeds", s->seeds[0] ? s->seeds : s->addr,
                        "--native-transport-port", port, "--storage-port", sp,
                        "--http-port", hp, "--admin-address", s->addr,
                        "--admin-port", ap, s->secret[0] ? sf : NULL, NULL,
                        NULL, NULL, NULL, NULL, NULL, NULL};
        size_t na = sizeof argv / sizeof *argv - 7; /* the first NULL slot */
        if (!s->secret[0]) na--;
        for (size_t i = 0; i < 6 && s->extra[i]; i++)
            argv[na++] = (char *)s->extra[i];
        execv(bin && *bin ? bin : BASALTD_PATH, argv);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 400; i++) {
        if (tsrv_can_connect(s->addr, s->port)) return 0;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            return -1;
        }
        usleep(50000);
    }
    return -1;
}

/* Prepares n nodes of one cluster on 127.0.0.B .. B+n-1: one CQL port
 * and one storage port shared by all (seeds are addresses; the storage
 * port is the cluster's), node 0 the seed, own data dirs, HTTP and admin
 * ports.  Start them with tsrv_start.  0 or -1. */
__attribute__((unused)) static int tsrv_cluster_init(bs_test_server *nodes,
                                                     int n) {
    int base = 20 + (int)(getpid() % 190);
    char a0[32];
    snprintf(a0, sizeof a0, "127.0.0.%d", base);
    int shared[2];
    if (tsrv_free_ports(a0, 2, shared)) return -1;
    for (int i = 0; i < n; i++) {
        bs_test_server *s = &nodes[i];
        memset(s, 0, sizeof *s);
        tsrv_register(s);
        snprintf(s->addr, sizeof s->addr, "127.0.0.%d", base + i);
        snprintf(s->seeds, sizeof s->seeds, "%s", a0);
        s->port = shared[0];
        s->other_ports[0] = shared[1];
        int own[2];
        if (tsrv_free_ports(s->addr, 2, own)) return -1;
        s->other_ports[1] = own[0];
        s->other_ports[2] = own[1];
        tsrv_dir_template(s->dir, sizeof s->dir);
        if (!mkdtemp(s->dir)) return -1;
        snprintf(s->hostport, sizeof s->hostport, "%s:%d", s->addr, s->port);
    }
    /* one cluster secret for all of them, in node 0's directory */
    uint8_t rnd[32];
    int ufd = open("/dev/urandom", O_RDONLY);
    if (ufd < 0 || read(ufd, rnd, sizeof rnd) != (ssize_t)sizeof rnd) {
        if (ufd >= 0) close(ufd);
        return -1;
    }
    close(ufd);
    char hex[66];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    hex[64] = '\n';
    char path[sizeof nodes[0].secret];
    snprintf(path, sizeof path, "%s/cluster_secret", nodes[0].dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || write(fd, hex, 65) != 65) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    for (int i = 0; i < n; i++)
        snprintf(nodes[i].secret, sizeof nodes[i].secret, "%s", path);
    return 0;
}

/* Prints the last n lines of the node's output to stderr. */
static void tsrv_tail(const bs_test_server *s, int n) {
    char cmd[320];
    snprintf(cmd, sizeof cmd, "tail -n %d '%s/basaltd.log' 1>&2", n, s->dir);
    if (system(cmd) != 0) fprintf(stderr, "(no log)\n");
}

/* SIGTERM (SIGCONT first, in case it is stopped), wait up to 20 s, then
 * SIGKILL.  0 when the node exited with status 0 (a node not running: 0);
 * -1, with the reason on stderr, when it had died already, exited
 * non-zero, died of a signal or ignored SIGTERM. */
__attribute__((unused)) static int tsrv_stop(bs_test_server *s) {
    if (s->pid <= 0) return 0;
    pid_t pid = s->pid;
    int st = 0, done = 0, early = waitpid(pid, &st, WNOHANG) == pid;
    if (early) {
        done = 1;
    } else {
        kill(pid, SIGCONT);
        kill(pid, SIGTERM);
        for (int i = 0; i < 400 && !done; i++) {
            if (waitpid(pid, &st, WNOHANG) == pid)
                done = 1;
            else
                usleep(50000);
        }
    }
    s->pid = 0;
    if (!done) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fprintf(stderr, "basaltd %s ignored SIGTERM for 20 s\n", s->hostport);
        tsrv_tail(s, 30);
        return -1;
    }
    if (!early && WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    if (WIFEXITED(st))
        fprintf(stderr, "basaltd %s %s with status %d\n", s->hostport,
                early ? "had exited by itself" : "exited on SIGTERM", WEXITSTATUS(st));
    else
        fprintf(stderr, "basaltd %s died of signal %d\n", s->hostport,
                WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    tsrv_tail(s, 30);
    return -1;
}

/* 1 when the node's output holds an ASan/LSan/UBSan/TSan report (printed
 * to stderr), else 0. */
static int tsrv_sanitizer_report(const bs_test_server *s) {
    static const char *const marks[] = {"ERROR: AddressSanitizer", "LeakSanitizer",
                                        "runtime error:", "WARNING: ThreadSanitizer"};
    char path[256], line[1024];
    snprintf(path, sizeof path, "%s/basaltd.log", s->dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int found = 0, printed = 0;
    while (fgets(line, sizeof line, f) && printed < 60) {
        for (size_t i = 0; !found && i < sizeof marks / sizeof marks[0]; i++)
            if (strstr(line, marks[i])) {
                found = 1;
                fprintf(stderr, "sanitizer report in the output of basaltd %s (%s):\n",
                        s->hostport, path);
            }
        if (found) {
            fputs(line, stderr);
            printed++;
        }
    }
    fclose(f);
    return found;
}

/* SIGSTOP, then waits until every thread of the node is stopped (the
 * signal takes effect asynchronously: a loop thread could otherwise still
 * answer a request sent right after kill() returned).  0 or -1. */
__attribute__((unused)) static int tsrv_pause(bs_test_server *s) {
    if (kill(s->pid, SIGSTOP)) return -1;
    char path[64];
    for (int tries = 0; tries < 200; tries++) {
        snprintf(path, sizeof path, "/proc/%d/task", (int)s->pid);
        char cmd[160];
        /* the third field of each task's stat is its state */
        snprintf(cmd, sizeof cmd,
                 "for f in %s/*/stat; do cut -d')' -f2 \"$f\" | cut -c2; done"
                 " | grep -qv T",
                 path);
        int running = system(cmd) == 0;
        if (!running) return 0;
        usleep(10000);
    }
    return -1;
}

/* Stops the node (tsrv_stop), checks its output for sanitizer reports
 * and removes its directory.  0 when it ended cleanly, else -1 (reason on
 * stderr).  Safe to call again (then 0). */
static int tsrv_destroy(bs_test_server *s) {
    int rc = tsrv_stop(s);
    if (s->dir[0] && tsrv_sanitizer_report(s)) rc = -1;
    if (s->dir[0]) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
        if (system(cmd)) { /* best effort */
        }
        s->dir[0] = '\0';
    }
    return rc;
}

__attribute__((unused)) static double tsrv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
