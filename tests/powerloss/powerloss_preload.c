/*
 * powerloss_preload.c - an LD_PRELOAD library that records, for every file
 * under one directory tree, what a power loss would keep: the length each
 * file had when it was last fsync'd/fdatasync'd, which files were created
 * or renamed since their directory was last fsync'd, and which files were
 * replaced by a rename.  It changes nothing itself; after the process is
 * SIGKILLed, tests/powerloss/powerloss_cut.py replays the journal and cuts
 * the tree back to that state (the page cache a SIGKILL keeps is thrown
 * away).  Used by tests/integration/test_powerloss.py.
 *
 * Environment:
 *   BS_POWERLOSS_ROOT     absolute directory; only paths under it are tracked
 *   BS_POWERLOSS_JOURNAL  journal file (outside ROOT), appended to
 *
 * Journal: one record per line, fields separated by TAB, written with one
 * write(2) on an O_APPEND descriptor (so records of different threads do
 * not interleave and a SIGKILL cannot tear one in the page cache):
 *
 *   KIND  FIELDS                  MEANING
 *   O     size  path              first open of an existing file this run:
 *                                 `size` bytes are durable (earlier runs)
 *   C     path                    open(O_CREAT) created the file: its name
 *                                 is durable only after a directory fsync
 *   S     size  path              fsync/fdatasync of a file: `size` bytes
 *   D     path                    fsync/fdatasync of a directory: creations
 *                                 and renames in it so far are durable
 *   R     backup  src  dst        rename(src, dst); `backup` is a copy of
 *                                 the dst it replaced ("-" if none)
 *   U     path                    unlink (recorded; treated as durable)
 *   K     size  path              close: the size at close (not durable)
 *   A                             sync()/syncfs(): everything is durable
 *   X     what  path              an operation this model does not cover
 *                                 (shared writable mmap, link, ...): the
 *                                 cut refuses to run, so a gap in the
 *                                 model cannot pass silently
 *
 * What RocksDB does (strace of basaltd, RocksDB 7/8 on Debian): write(2)
 * appends, fdatasync for the WAL/MANIFEST/SST/CURRENT temp files, fsync
 * for OPTIONS files and directories, rename for CURRENT/IDENTITY/OPTIONS,
 * fallocate(KEEP_SIZE) (does not change st_size), ftruncate before the
 * first sync, sync_file_range only as a probe or with bytes_per_sync (no
 * durability guarantee in Linux: not counted).  Reads use pread/mmap
 * (read-only), which need nothing.
 *
 * Limits: overwrites inside a synced prefix are not rolled back (RocksDB
 * only appends); unlinks and mkdirs are taken as durable at once.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAXFD 65536

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char *fdpath[MAXFD];  /* tracked fd -> absolute path (malloc'd) */
static char root[PATH_MAX];
static size_t rootlen;
static int jfd = -1;
static int inited;
static unsigned long backups;
static char jpath[PATH_MAX];

/* the real functions */
static int (*r_open)(const char *, int, ...);
static int (*r_openat)(int, const char *, int, ...);
static int (*r_close)(int);
static int (*r_fsync)(int);
static int (*r_fdatasync)(int);
static int (*r_rename)(const char *, const char *);
static int (*r_renameat)(int, const char *, int, const char *);
static int (*r_renameat2)(int, const char *, int, const char *, unsigned);
static int (*r_unlink)(const char *);
static int (*r_unlinkat)(int, const char *, int);
static int (*r_link)(const char *, const char *);
static int (*r_linkat)(int, const char *, int, const char *, int);
static void (*r_sync)(void);
static int (*r_syncfs)(int);
static void *(*r_mmap)(void *, size_t, int, int, int, off_t);

static void init(void) {
    if (inited) return;
    r_open = dlsym(RTLD_NEXT, "open");
    r_openat = dlsym(RTLD_NEXT, "openat");
    r_close = dlsym(RTLD_NEXT, "close");
    r_fsync = dlsym(RTLD_NEXT, "fsync");
    r_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    r_rename = dlsym(RTLD_NEXT, "rename");
    r_renameat = dlsym(RTLD_NEXT, "renameat");
    r_renameat2 = dlsym(RTLD_NEXT, "renameat2");
    r_unlink = dlsym(RTLD_NEXT, "unlink");
    r_unlinkat = dlsym(RTLD_NEXT, "unlinkat");
    r_link = dlsym(RTLD_NEXT, "link");
    r_linkat = dlsym(RTLD_NEXT, "linkat");
    r_sync = dlsym(RTLD_NEXT, "sync");
    r_syncfs = dlsym(RTLD_NEXT, "syncfs");
    r_mmap = dlsym(RTLD_NEXT, "mmap");
    const char *r = getenv("BS_POWERLOSS_ROOT");
    const char *j = getenv("BS_POWERLOSS_JOURNAL");
    if (r && j && r[0] == '/' && strlen(r) < sizeof root - 2 && strlen(j) < sizeof jpath) {
        strcpy(root, r);
        rootlen = strlen(root);
        while (rootlen > 1 && root[rootlen - 1] == '/') root[--rootlen] = 0;
        strcpy(jpath, j);
        jfd = (int)syscall(SYS_openat, AT_FDCWD, j, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
    inited = 1;
}

__attribute__((constructor)) static void ctor(void) { init(); }

/* One journal record: fields joined by TAB, ended by '\n', one write. */
static void jrec(const char *kind, ...) {
    if (jfd < 0) return;
    char line[4 * PATH_MAX + 64];
    size_t n = 0;
    va_list ap;
    va_start(ap, kind);
    n += (size_t)snprintf(line, sizeof line, "%s", kind);
    for (const char *f; (f = va_arg(ap, const char *)) != NULL;) {
        int w = snprintf(line + n, sizeof line - n, "\t%s", f);
        if (w < 0 || (size_t)w >= sizeof line - n) {
            va_end(ap);
            return;
        }
        n += (size_t)w;
    }
    va_end(ap);
    if (n + 1 >= sizeof line) return;
    line[n++] = '\n';
    (void)!syscall(SYS_write, jfd, line, n);
}

/* Absolute, lexically normalised path of (dirfd, p) into out; 0 if under root. */
static int resolve(int dirfd, const char *p, char *out, size_t cap) {
    char tmp[2 * PATH_MAX];
    if (!p || jfd < 0) return -1;
    if (p[0] == '/') {
        snprintf(tmp, sizeof tmp, "%s", p);
    } else if (dirfd == AT_FDCWD) {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) return -1;
        snprintf(tmp, sizeof tmp, "%s/%s", cwd, p);
    } else {
        pthread_mutex_lock(&mu);
        const char *d = (dirfd >= 0 && dirfd < MAXFD) ? fdpath[dirfd] : NULL;
        if (d) snprintf(tmp, sizeof tmp, "%s/%s", d, p);
        pthread_mutex_unlock(&mu);
        if (!d) return -1;
    }
    /* collapse "//", "/./" and "/../" */
    char *seg[PATH_MAX / 2];
    size_t ns = 0;
    for (char *save = NULL, *s = strtok_r(tmp, "/", &save); s; s = strtok_r(NULL, "/", &save)) {
        if (!strcmp(s, ".")) continue;
        if (!strcmp(s, "..")) {
            if (ns) ns--;
            continue;
        }
        if (ns < sizeof seg / sizeof seg[0]) seg[ns++] = s;
    }
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < ns; i++) {
        int w = snprintf(out + n, cap - n, "/%s", seg[i]);
        if (w < 0 || (size_t)w >= cap - n) return -1;
        n += (size_t)w;
    }
    if (!n) snprintf(out, cap, "/");
    if (strncmp(out, root, rootlen) || (out[rootlen] && out[rootlen] != '/')) return -1;
    return 0;
}

static void track(int fd, const char *path) {
    if (fd < 0 || fd >= MAXFD) return;
    char *c = strdup(path);
    pthread_mutex_lock(&mu);
    free(fdpath[fd]);
    fdpath[fd] = c;
    pthread_mutex_unlock(&mu);
}

/* The tracked path of fd (copied into out), or NULL. */
static const char *pathof(int fd, char *out, size_t cap) {
    const char *r = NULL;
    if (fd < 0 || fd >= MAXFD) return NULL;
    pthread_mutex_lock(&mu);
    if (fdpath[fd]) {
        snprintf(out, cap, "%s", fdpath[fd]);
        r = out;
    }
    pthread_mutex_unlock(&mu);
    return r;
}

static void sizestr(off_t sz, char *b, size_t cap) { snprintf(b, cap, "%lld", (long long)sz); }

static int do_open(int dirfd, const char *p, int flags, mode_t mode) {
    init();
    char abs[PATH_MAX];
    int tracked = resolve(dirfd, p, abs, sizeof abs) == 0;
    struct stat before;
    int existed = tracked && stat(abs, &before) == 0;
    int fd = r_openat ? r_openat(dirfd, p, flags, mode) : (int)syscall(SYS_openat, dirfd, p, flags, mode);
    if (fd < 0 || !tracked) return fd;
    int e = errno;
    track(fd, abs);
    if (!existed) {
        jrec("C", abs, NULL);
    } else if (S_ISREG(before.st_mode)) {
        /* O_TRUNC: the old bytes may be gone and the new ones are not
         * durable yet, so nothing of this file counts until a sync */
        char b[32];
        sizestr((flags & O_TRUNC) ? 0 : before.st_size, b, sizeof b);
        jrec("O", b, abs, NULL);
    }
    errno = e;
    return fd;
}

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *p, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    return do_open(AT_FDCWD, p, flags, m);
}
int open64(const char *p, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    return do_open(AT_FDCWD, p, flags, m);
}
int openat(int d, const char *p, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    return do_open(d, p, flags, m);
}
int openat64(int d, const char *p, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    return do_open(d, p, flags, m);
}
int creat(const char *p, mode_t m) { return do_open(AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, m); }
int creat64(const char *p, mode_t m) { return do_open(AT_FDCWD, p, O_CREAT | O_WRONLY | O_TRUNC, m); }
/* _FORTIFY_SOURCE variants */
int __open_2(const char *p, int flags) { return do_open(AT_FDCWD, p, flags, 0); }
int __open64_2(const char *p, int flags) { return do_open(AT_FDCWD, p, flags, 0); }
int __openat_2(int d, const char *p, int flags) { return do_open(d, p, flags, 0); }
int __openat64_2(int d, const char *p, int flags) { return do_open(d, p, flags, 0); }

static void on_sync(int fd) {
    char p[PATH_MAX];
    struct stat st;
    if (!pathof(fd, p, sizeof p) || fstat(fd, &st)) return;
    if (S_ISDIR(st.st_mode)) {
        jrec("D", p, NULL);
    } else {
        char b[32];
        sizestr(st.st_size, b, sizeof b);
        jrec("S", b, p, NULL);
    }
}

int fsync(int fd) {
    init();
    int rc = r_fsync(fd);
    if (rc == 0) on_sync(fd);
    return rc;
}

int fdatasync(int fd) {
    init();
    int rc = r_fdatasync(fd);
    if (rc == 0) on_sync(fd);
    return rc;
}

static void sync_all(void) {
    pthread_mutex_lock(&mu);
    for (int fd = 0; fd < MAXFD; fd++) {
        struct stat st;
        if (!fdpath[fd] || fstat(fd, &st) || !S_ISREG(st.st_mode)) continue;
        char b[32];
        sizestr(st.st_size, b, sizeof b);
        jrec("S", b, fdpath[fd], NULL);
    }
    pthread_mutex_unlock(&mu);
    jrec("A", NULL);
}

void sync(void) {
    init();
    r_sync();
    sync_all();
}

int syncfs(int fd) {
    init();
    int rc = r_syncfs(fd);
    if (rc == 0) sync_all();
    return rc;
}

int close(int fd) {
    init();
    char p[PATH_MAX];
    struct stat st;
    if (pathof(fd, p, sizeof p)) {
        if (!fstat(fd, &st) && S_ISREG(st.st_mode)) {
            char b[32];
            sizestr(st.st_size, b, sizeof b);
            jrec("K", b, p, NULL);
        }
        pthread_mutex_lock(&mu);
        free(fdpath[fd]);
        fdpath[fd] = NULL;
        pthread_mutex_unlock(&mu);
    }
    return r_close(fd);
}

/* Copies dst (a small file RocksDB is replacing) aside, for the cut to
 * restore if the rename never became durable. */
static void backup(const char *dst, char *out, size_t cap) {
    snprintf(out, cap, "-");
    struct stat st;
    if (stat(dst, &st) || !S_ISREG(st.st_mode)) return;
    char b[PATH_MAX + 32];
    pthread_mutex_lock(&mu);
    unsigned long n = ++backups;
    pthread_mutex_unlock(&mu);
    snprintf(b, sizeof b, "%s.bak.%d.%lu", jpath, (int)getpid(), n);
    int in = (int)syscall(SYS_openat, AT_FDCWD, dst, O_RDONLY | O_CLOEXEC);
    int o = (int)syscall(SYS_openat, AT_FDCWD, b, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in >= 0 && o >= 0) {
        char buf[65536];
        ssize_t r;
        while ((r = (ssize_t)syscall(SYS_read, in, buf, sizeof buf)) > 0)
            if (syscall(SYS_write, o, buf, (size_t)r) != r) break;
        snprintf(out, cap, "%s", b);
    }
    if (in >= 0) syscall(SYS_close, in);
    if (o >= 0) syscall(SYS_close, o);
}

static int do_rename(int od, const char *op, int nd, const char *np, unsigned flags, int which) {
    init();
    char a[PATH_MAX], b[PATH_MAX], bk[PATH_MAX + 32];
    int ta = resolve(od, op, a, sizeof a) == 0, tb = resolve(nd, np, b, sizeof b) == 0;
    if (ta || tb) backup(b, bk, sizeof bk);
    int rc;
    if (which == 0) rc = r_rename(op, np);
    else if (which == 1) rc = r_renameat(od, op, nd, np);
    else rc = r_renameat2(od, op, nd, np, flags);
    if (rc == 0 && (ta || tb)) {
        int e = errno;
        if (ta && tb) jrec("R", bk, a, b, NULL);
        else jrec("X", "rename across the tracked root", ta ? a : b, NULL);
        errno = e;
    }
    return rc;
}

int rename(const char *a, const char *b) { return do_rename(AT_FDCWD, a, AT_FDCWD, b, 0, 0); }
int renameat(int ad, const char *a, int bd, const char *b) { return do_rename(ad, a, bd, b, 0, 1); }
int renameat2(int ad, const char *a, int bd, const char *b, unsigned f) {
    return do_rename(ad, a, bd, b, f, 2);
}

int unlink(const char *p) {
    init();
    char a[PATH_MAX];
    int t = resolve(AT_FDCWD, p, a, sizeof a) == 0;
    int rc = r_unlink(p);
    if (rc == 0 && t) jrec("U", a, NULL);
    return rc;
}

int unlinkat(int d, const char *p, int flags) {
    init();
    char a[PATH_MAX];
    int t = resolve(d, p, a, sizeof a) == 0;
    int rc = r_unlinkat(d, p, flags);
    if (rc == 0 && t && !(flags & AT_REMOVEDIR)) jrec("U", a, NULL);
    return rc;
}

int link(const char *a, const char *b) {
    init();
    char x[PATH_MAX];
    if (resolve(AT_FDCWD, b, x, sizeof x) == 0) jrec("X", "link", x, NULL);
    return r_link(a, b);
}

int linkat(int ad, const char *a, int bd, const char *b, int f) {
    init();
    char x[PATH_MAX];
    if (resolve(bd, b, x, sizeof x) == 0) jrec("X", "link", x, NULL);
    return r_linkat(ad, a, bd, b, f);
}

/* No init() here: dlsym may allocate, and malloc may mmap. */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    char p[PATH_MAX];
    if (fd >= 0 && (prot & PROT_WRITE) && (flags & MAP_SHARED) && pathof(fd, p, sizeof p))
        jrec("X", "shared writable mmap", p, NULL);
    if (r_mmap) return r_mmap(addr, len, prot, flags, fd, off);
    return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return mmap(addr, len, prot, flags, fd, off);
}
