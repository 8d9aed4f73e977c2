/*
 * log.h - levelled logging.
 *
 * One process-wide sink (stderr by default) and level.  Lines look like
 *   2026-11-23T23:40:01.123Z INFO  [gossip] node 127.0.0.2 is UP
 * The timestamp comes from the injectable clock (clock.h), so a skewed
 * node logs its skewed time, which is what a Jepsen history needs.
 * Thread-safe: each line is formatted first, then written with one
 * fwrite under a mutex.
 */
#ifndef BS_LOG_H
#define BS_LOG_H

#include <stdio.h>

typedef enum {
    BS_LOG_TRACE = 0,
    BS_LOG_DEBUG,
    BS_LOG_INFO,
    BS_LOG_WARN,
    BS_LOG_ERROR,
    BS_LOG_OFF
} bs_log_level;

void bs_log_set_level(bs_log_level lvl);
bs_log_level bs_log_get_level(void);
/* Borrowed: the FILE must stay open until replaced.  NULL means stderr. */
void bs_log_set_file(FILE *f);
/* "trace".."error","off" -> level; 0 or BS_EINVAL. */
int bs_log_parse_level(const char *name, bs_log_level *out);

void bs_log_write(bs_log_level lvl, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define BS_LOG(lvl, comp, ...)                                                 \
    do {                                                                       \
        if ((lvl) >= bs_log_get_level())                                       \
            bs_log_write((lvl), (comp), __VA_ARGS__);                          \
    } while (0)
#define BS_TRACE(comp, ...) BS_LOG(BS_LOG_TRACE, comp, __VA_ARGS__)
#define BS_DEBUG(comp, ...) BS_LOG(BS_LOG_DEBUG, comp, __VA_ARGS__)
#define BS_INFO(comp, ...) BS_LOG(BS_LOG_INFO, comp, __VA_ARGS__)
#define BS_WARN(comp, ...) BS_LOG(BS_LOG_WARN, comp, __VA_ARGS__)
#define BS_ERROR(comp, ...) BS_LOG(BS_LOG_ERROR, comp, __VA_ARGS__)

#endif
