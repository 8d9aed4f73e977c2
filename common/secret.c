/*
 * secret.c - secret files (see secret.h).
 *
 * Creation: write "<hex>\n" to "<path>.tmp.<pid>" opened O_CREAT|O_EXCL
 * with mode 0600 (umask can only narrow it), fsync, then link() it to
 * <path> and unlink the temporary name.  link() fails with EEXIST when
 * another process won the race: we then read theirs.  A crash between
 * the two steps leaves at most a stray .tmp file, never a short secret.
 *
 * Reading: open with O_NOFOLLOW is not used (operators symlink config
 * files), but fstat() of the opened file is what gets checked, so the
 * mode that is checked is the mode of the bytes that are read.
 */
#include "common/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

static int fail(char *err, size_t errlen, int code, const char *fmt,
                const char *path, const char *extra) {
    if (err && errlen) snprintf(err, errlen, fmt, path, extra ? extra : "");
    return code;
}

int bs_secret_random_hex(size_t n, char *out) {
    static const char hx[] = "0123456789abcdef";
    uint8_t b[256];
    if (n > sizeof b) return BS_EINVAL;
    if (RAND_bytes(b, (int)n) != 1) return BS_EIO;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[b[i] >> 4];
        out[2 * i + 1] = hx[b[i] & 15];
    }
    out[2 * n] = 0;
    memset(b, 0, sizeof b);
    return 0;
}

static int create_file(const char *path, size_t nbytes, char *err,
                       size_t errlen) {
    char tmp[4200], hex[520];
    if (nbytes > 256 ||
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >=
            (int)sizeof tmp)
        return fail(err, errlen, BS_EINVAL, "%s: path too long%s", path, NULL);
    if (bs_secret_random_hex(nbytes, hex))
        return fail(err, errlen, BS_EIO, "%s: no random bytes%s", path, NULL);
    size_t n = strlen(hex);
    hex[n++] = '\n';
    unlink(tmp); /* a stale one of an earlier process with our pid */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(err, errlen, BS_EIO, "cannot create %s: %s", path,
                    strerror(errno));
    int rc = 0;
    if (write(fd, hex, n) != (ssize_t)n || fsync(fd) != 0) rc = BS_EIO;
    int e = errno;
    close(fd);
    memset(hex, 0, sizeof hex);
    if (!rc && link(tmp, path) != 0 && errno != EEXIST) {
        e = errno;
        rc = BS_EIO;
    }
    unlink(tmp);
    if (rc)
        return fail(err, errlen, rc, "cannot create %s: %s", path,
                    strerror(e));
    return 0;
}

int bs_secret_load(const char *path, const bs_secret_opts *o, uint8_t *out,
                   size_t cap, size_t *out_len, char *err, size_t errlen) {
    *out_len = 0;
    if (!path || !*path)
        return fail(err, errlen, BS_EINVAL, "empty secret file name%s%s", "",
                    NULL);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && o->create_bytes) {
        int rc = create_file(path, o->create_bytes, err, errlen);
        if (rc) return rc;
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        if (errno == ENOENT)
            return fail(err, errlen, BS_ENOTFOUND, "%s: no such file%s", path,
                        NULL);
        return fail(err, errlen, BS_EIO, "cannot read %s: %s", path,
                    strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail(err, errlen, BS_EIO, "cannot stat %s: %s", path,
                    strerror(e));
    }
    if (o->check_mode && !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, errlen, BS_ECONFIG, "%s is not a regular file%s",
                    path, NULL);
    }
    if (o->check_mode && (st.st_mode & 077)) {
        close(fd);
        char m[64];
        snprintf(m, sizeof m, "%03o", (unsigned)(st.st_mode & 0777));
        return fail(err, errlen, BS_ECONFIG,
                    "%s is readable or writable by other users (mode %s); "
                    "make it private: chmod 600",
                    path, m);
    }
    uint8_t buf[BS_SECRET_MAX + 1];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return fail(err, errlen, BS_EIO, "cannot read %s: %s", path,
                        strerror(e));
        }
        if (r == 0 || (n += (size_t)r) == sizeof buf) break;
    }
    close(fd);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
                 buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    int rc = 0;
    char what[64];
    if (n > cap || n > BS_SECRET_MAX) {
        snprintf(what, sizeof what, "%zu", cap < BS_SECRET_MAX ? cap
                                                               : BS_SECRET_MAX);
        rc = fail(err, errlen, BS_ECONFIG, "%s is longer than %s bytes", path,
                  what);
    } else if (n < o->min_len) {
        snprintf(what, sizeof what, "%zu", o->min_len);
        rc = fail(err, errlen, BS_ECONFIG,
                  "%s is too short: a secret needs at least %s bytes", path,
                  what);
    } else if (memchr(buf, 0, n)) {
        rc = fail(err, errlen, BS_ECONFIG, "%s contains a NUL byte%s", path,
                  NULL);
    } else {
        memcpy(out, buf, n);
        *out_len = n;
    }
    memset(buf, 0, sizeof buf);
    return rc;
}
