/*
 * driver_creds.c - where the tools (basalt-shell, basalt-stress) get a
 * user and password for PasswordAuthenticator: -u USER, a credentials
 * file, the environment, or a prompt.  Never a password on the command
 * line, where other users can read it in the process list.
 *
 * Credentials file (--credentials FILE), private to its owner (mode 0600
 * or stricter; a file others can read is refused), either one line
 *     user:password
 * or cqlsh's credentials format (a [PlainTextAuthProvider] header and
 * blank or # lines are ignored)
 *     username = user
 *     password = secret
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "client/basalt.h"
#include "common/error.h"

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
}

static char *skip_ws(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* "key = value" -> 1 with *v at value when the key is k. */
static int keyed(char *line, const char *k, char **v) {
    size_t n = strlen(k);
    if (strncmp(line, k, n)) return 0;
    char *p = skip_ws(line + n);
    if (*p != '=' && *p != ':') return 0;
    *v = skip_ws(p + 1);
    return 1;
}

static int load_file(const char *path, char *user, size_t ucap, char *pass, size_t pcap,
                     char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open credentials file %s", path);
        return BS_EIO;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
        fclose(f);
        snprintf(err, errlen,
                 "credentials file %s is readable or writable by other users (mode %o); "
                 "make it private: chmod 600",
                 path, (unsigned)(st.st_mode & 0777));
        return BS_ECONFIG;
    }
    char line[2048], *v;
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        trim(line);
        char *l = skip_ws(line);
        if (!*l || *l == '#' || *l == '[') continue;
        lines++;
        if (keyed(l, "username", &v))
            snprintf(user, ucap, "%s", v);
        else if (keyed(l, "password", &v))
            snprintf(pass, pcap, "%s", v);
        else if (lines == 1 && (v = strchr(l, ':'))) {
            *v = 0;
            snprintf(user, ucap, "%s", l);
            snprintf(pass, pcap, "%s", v + 1);
        }
    }
    memset(line, 0, sizeof line);
    fclose(f);
    return 0;
}

/* Reads a line from the terminal without echo. */
static int prompt_password(const char *user, char *pass, size_t pcap) {
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty) return BS_EIO;
    struct termios old, quiet;
    int have = tcgetattr(fileno(tty), &old) == 0;
    if (have) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
    }
    fprintf(tty, "Password for %s: ", user);
    fflush(tty);
    int rc = fgets(pass, (int)pcap, tty) ? 0 : BS_EIO;
    if (have) tcsetattr(fileno(tty), TCSAFLUSH, &old);
    fprintf(tty, "\n");
    fclose(tty);
    trim(pass);
    return rc;
}

int bs_client_credentials(const char *user_opt, const char *file, int may_prompt, char *user,
                          size_t ucap, char *pass, size_t pcap, char *err, size_t errlen) {
    user[0] = pass[0] = 0;
    if (file) {
        int rc = load_file(file, user, ucap, pass, pcap, err, errlen);
        if (rc) return rc;
    }
    if (user_opt) snprintf(user, ucap, "%s", user_opt);
    if (!user[0]) {
        if (pass[0]) {
            snprintf(err, errlen, "a password but no user name: give -u USER");
            return BS_EINVAL;
        }
        return 0;
    }
    if (!pass[0]) {
        const char *env = getenv("BASALT_PASSWORD");
        if (env && env[0])
            snprintf(pass, pcap, "%s", env);
        else if (!may_prompt || !isatty(STDIN_FILENO) || prompt_password(user, pass, pcap) ||
                 !pass[0]) {
            snprintf(err, errlen,
                     "no password for %s: set BASALT_PASSWORD or use --credentials FILE", user);
            return BS_EINVAL;
        }
    }
    return 0;
}
