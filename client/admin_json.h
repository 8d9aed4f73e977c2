/*
 * admin_json.h - a small strict JSON reader (RFC 8259) for basalt-admin.
 *
 * Parses a whole document into a tree allocated from a bs_arena; the tree
 * lives as long as the arena.  Numbers keep their source text so 64-bit
 * integers survive exactly.  Strings are decoded (escapes, surrogate
 * pairs) into NUL-terminated UTF-8; an escaped NUL is refused so C
 * strings never hide bytes.  Nesting is limited to 64 levels and the
 * input must be valid UTF-8; trailing bytes other than whitespace are an
 * error.
 */
#ifndef BS_CLIENT_ADMIN_JSON_H
#define BS_CLIENT_ADMIN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

typedef enum {
    BS_JSON_NULL,
    BS_JSON_BOOL,
    BS_JSON_NUMBER,
    BS_JSON_STRING,
    BS_JSON_ARRAY,
    BS_JSON_OBJECT
} bs_json_type;

typedef struct bs_json bs_json;
struct bs_json {
    bs_json_type type;
    bool boolean;
    const char *str;   /* STRING: decoded text; NUMBER: source text */
    size_t len;        /* of str */
    size_t n;          /* ARRAY/OBJECT: element count */
    bs_json **items;   /* n elements */
    const char **keys; /* OBJECT: n keys (decoded) */
};

/* Parses text[0..len).  0, BS_ESYNTAX (message "offset N: ..." in err),
 * BS_ERANGE (too deep) or BS_ENOMEM.  err may be NULL. */
int bs_json_parse(const char *text, size_t len, bs_arena *a,
                  const bs_json **out, char *err, size_t errlen);

/* Member of an object (the last one when a key repeats); NULL when v is
 * not an object or has no such key. */
const bs_json *bs_json_get(const bs_json *v, const char *key);
/* The string of a STRING value; `dflt` for anything else (incl. NULL). */
const char *bs_json_string(const bs_json *v, const char *dflt);
/* An integer from a NUMBER without fraction/exponent, or from a STRING
 * holding a decimal integer (how tokens travel).  0 or BS_EINVAL/BS_ERANGE. */
int bs_json_int(const bs_json *v, int64_t *out);
/* A NUMBER as double; 0 or BS_EINVAL. */
int bs_json_double(const bs_json *v, double *out);
/* True for BOOL true. */
bool bs_json_true(const bs_json *v);

#endif
