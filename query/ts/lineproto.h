/*
 * lineproto.h - InfluxDB line protocol parser (pure C, no I/O).
 *
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * One point per line; blank lines and lines whose first non-blank
 * character is '#' are skipped.  The grammar, escapes and error messages
 * are InfluxDB 1.x's (models/points.go), so a client sees the same
 * verdict from Basalt as from InfluxDB 1.6, with one extension: unsigned
 * integers (`12u`, InfluxDB 1.8+/2.x) are accepted.
 *
 * Escapes: in the measurement "\," and "\ " (also "\=" and "\""); in tag
 * keys and values "\,", "\ ", "\="; in field keys "\,", "\ ", "\=",
 * "\""; in string field values "\"" and "\\".  Any other backslash is
 * kept literally.  Field values: float (`1`, `-1.5`, `1e3`), integer
 * (`1i`), unsigned (`1u`), string (`"..."`, may contain newlines),
 * boolean (t, T, true, True, TRUE, f, F, false, False, FALSE).
 *
 * Tags are sorted by key (byte order), duplicates are an error; the
 * canonical series key is "measurement,k1=v1,k2=v2" in escaped form, as
 * InfluxDB builds it.  A field key given twice keeps the last value.
 *
 * Memory: points, tags, fields, unescaped copies and error texts come
 * from the arena; names and values without escapes point into `buf`, so
 * `buf` must outlive the result.
 */
#ifndef BS_QUERY_TS_LINEPROTO_H
#define BS_QUERY_TS_LINEPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"

typedef enum {
    BS_LP_FLOAT = 0,
    BS_LP_INT,
    BS_LP_UINT,
    BS_LP_STRING,
    BS_LP_BOOL
} bs_lp_type;

/* "float", "integer", "unsigned", "string", "boolean" (InfluxDB's names). */
const char *bs_lp_type_name(bs_lp_type t);

/* Timestamp unit: nanoseconds per unit. */
typedef enum {
    BS_LP_NS = 0,
    BS_LP_US,
    BS_LP_MS,
    BS_LP_S,
    BS_LP_M,
    BS_LP_H
} bs_lp_precision;

/* v1 /write's `precision` parameter: n, u, ms, s, m, h; anything else
 * (including "", "ns", "us") means nanoseconds, exactly as InfluxDB 1.6
 * reads it. */
bs_lp_precision bs_lp_precision_v1(const char *s);
/* v2 /api/v2/write's: ns, us, ms, s ("" = ns).  0 or BS_EINVAL. */
int bs_lp_precision_v2(const char *s, bs_lp_precision *out);
int64_t bs_lp_precision_ns(bs_lp_precision p);

typedef struct bs_lp_str {
    const char *p;
    size_t n;
} bs_lp_str;

typedef struct bs_lp_tag {
    bs_lp_str key, value; /* unescaped */
} bs_lp_tag;

typedef struct bs_lp_field {
    bs_lp_str key; /* unescaped */
    bs_lp_type type;
    union {
        double f;
        int64_t i;
        uint64_t u;
        int b;
        bs_lp_str s; /* unescaped, without the quotes */
    } v;
} bs_lp_field;

typedef struct bs_lp_point {
    bs_lp_str name;       /* unescaped measurement */
    bs_lp_str series_key; /* canonical escaped "name,k=v,..." (tags sorted) */
    bs_lp_tag *tags;      /* sorted by key */
    size_t ntags;
    bs_lp_field *fields; /* line order, later duplicates removed */
    size_t nfields;
    int64_t time_ns;
    size_t line_no; /* 1-based line of the body */
} bs_lp_point;

typedef struct bs_lp_error {
    size_t line_no;  /* 1-based */
    bs_lp_str line;  /* the line as sent (leading blanks removed) */
    const char *msg; /* InfluxDB's reason, e.g. "missing field value" */
} bs_lp_error;

typedef struct bs_lp_result {
    bs_lp_point *points;
    size_t npoints;
    bs_lp_error *errors;
    size_t nerrors;
} bs_lp_result;

/*
 * Parses a whole body.  Good lines become points, bad ones errors (the
 * parse goes on after a bad line, as InfluxDB's does).  A line without a
 * timestamp gets now_ns truncated to the precision.  Returns 0 (even
 * with errors in out->errors) or BS_ENOMEM.
 */
int bs_lp_parse(const char *buf, size_t len, bs_lp_precision prec,
                int64_t now_ns, bs_arena *a, bs_lp_result *out);

/* Parses one line (no newline handling).  0 and *pt, or BS_ESYNTAX with
 * *msg (static or arena text), or BS_ENOMEM. */
int bs_lp_parse_line(const char *line, size_t len, bs_lp_precision prec,
                     int64_t now_ns, bs_arena *a, bs_lp_point *pt,
                     const char **msg);

/* InfluxDB's error text for the parse errors: "unable to parse '<line>':
 * <msg>" for each, joined by '\n'.  Appends to a NUL-terminated string
 * from the arena; NULL on OOM. */
char *bs_lp_errors_text(const bs_lp_result *r, bs_arena *a);

/* Appends `pt` as one line of line protocol (escaped, time in ns, '\n'
 * at the end) - what the load generator and tests send.  Names and
 * values must not end in a backslash (the protocol cannot say that).
 * 0 or BS_ENOMEM. */
int bs_lp_append_point(bs_buf *b, const bs_lp_point *pt);

#endif
