/*
 * log.c - levelled logging (see log.h).
 */
#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"

static bs_log_level g_level = BS_LOG_INFO;
static FILE *g_file;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"trace", "debug", "info",
                                          "warn",  "error", "off"};

void bs_log_set_level(bs_log_level lvl) {
    g_level = lvl;
}
bs_log_level bs_log_get_level(void) {
    return g_level;
}
void bs_log_set_file(FILE *f) {
    g_file = f;
}

int bs_log_parse_level(const char *name, bs_log_level *out) {
    for (int i = 0; i <= BS_LOG_OFF; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *out = (bs_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(name, "warning") == 0) {
        *out = BS_LOG_WARN;
        return 0;
    }
    return BS_EINVAL;
}

void bs_log_write(bs_log_level lvl, const char *component, const char *fmt,
                  ...) {
    char line[2048];
    int64_t us = bs_clock_now_us(NULL);
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    char upper[8];
    const char *ln = level_names[lvl <= BS_LOG_OFF ? lvl : BS_LOG_ERROR];
    size_t i;
    for (i = 0; ln[i] && i < sizeof upper - 1; i++)
        upper[i] = (char)(ln[i] - 32);
    upper[i] = 0;
    int k =
        snprintf(line + n, sizeof line - n, ".%03dZ %-5s [%s] ",
                 (int)((us / 1000) % 1000), upper, component ? component : "-");
    if (k > 0)
        n += (size_t)k < sizeof line - n ? (size_t)k : sizeof line - n - 1;
    va_list ap;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (k > 0)
        n += (size_t)k < sizeof line - n ? (size_t)k : sizeof line - n - 1;
    if (n >= sizeof line - 1) n = sizeof line - 2;
    line[n++] = '\n';
    pthread_mutex_lock(&g_lock);
    FILE *f = g_file ? g_file : stderr;
    fwrite(line, 1, n, f);
    fflush(f);
    pthread_mutex_unlock(&g_lock);
}
