/*
 * error.h - Basalt error codes.
 *
 * Every function that can fail returns int: 0 on success or a negative
 * BS_E... code.  The codes and their messages come from the one X-macro
 * list below (libuv's UV_ERRNO_MAP idea), so a new code is one line.
 * Codes are stable negative numbers in the range -1000..-1999 so they
 * never collide with negated errno values, which some functions pass
 * through unchanged (bs_strerror() also renders those).
 */
#ifndef BS_ERROR_H
#define BS_ERROR_H

#define BS_ERRNO_MAP(XX)                                                       \
    XX(NOMEM, -1001, "out of memory")                                          \
    XX(INVAL, -1002, "invalid argument")                                       \
    XX(IO, -1003, "I/O error")                                                 \
    XX(CORRUPT, -1004, "corrupt data")                                         \
    XX(NOTFOUND, -1005, "not found")                                           \
    XX(EXIST, -1006, "already exists")                                         \
    XX(RANGE, -1007, "value out of range")                                     \
    XX(PROTO, -1008, "protocol error")                                         \
    XX(SYNTAX, -1009, "syntax error")                                          \
    XX(TIMEDOUT, -1010, "timed out")                                           \
    XX(UNAVAIL, -1011, "unavailable")                                          \
    XX(NOTSUP, -1012, "not supported")                                         \
    XX(BUSY, -1013, "busy")                                                    \
    XX(POISONED, -1014, "object failed earlier; only free is allowed")         \
    XX(TOOBIG, -1015, "too big")                                               \
    XX(CONFIG, -1016, "configuration error")                                   \
    XX(CLOSED, -1017, "closed")                                                \
    XX(TRUNC, -1018, "truncated input")                                        \
    XX(OVERLOAD, -1019, "overloaded")                                          \
    XX(AGAIN, -1020, "try again")                                              \
    XX(INTERNAL, -1021, "internal error")                                      \
    XX(AUTH, -1022, "authentication error")                                    \
    XX(UNPREPARED, -1023, "unprepared statement")                              \
    XX(TYPE, -1024, "type mismatch")                                           \
    XX(CANCELED, -1025, "canceled")

typedef enum {
#define BS__ERR_ENUM(name, val, msg) BS_E##name = (val),
    BS_ERRNO_MAP(BS__ERR_ENUM)
#undef BS__ERR_ENUM
        BS_OK = 0
} bs_errno;

/* Message for a BS_E code, a negated errno, or 0.  Never NULL; the
 * returned string is static. */
const char *bs_strerror(int err);

/* Symbolic name ("BS_ECORRUPT") of a code; "BS_OK" for 0, "ERRNO" for a
 * negated errno, "BS_E?" for anything else.  Static string. */
const char *bs_err_name(int err);

#endif
