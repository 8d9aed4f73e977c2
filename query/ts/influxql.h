/*
 * influxql.h - InfluxQL (InfluxDB 1.x's query language) parser, pure C.
 *
 * The statements the time-series endpoint runs (docs/TIMESERIES.md):
 *
 *   SELECT <expr>[, ...] FROM <measurement> [WHERE <cond>]
 *          [GROUP BY time(<d>[, <offset>]) | <tag>[, ...] | *]
 *          [fill(none|null|previous|linear|<number>)] [ORDER BY time [ASC|DESC]]
 *          [LIMIT n] [OFFSET n] [SLIMIT n] [SOFFSET n] [tz('...')]
 *     expr: * | <field or tag> | agg(<field>) | percentile(<field>, N)
 *           [AS alias]; agg: count sum mean median min max first last
 *           spread stddev; arithmetic (+ - * / %, unary -, parentheses)
 *           with numbers around one field or function: mean(v) / 100
 *     cond: AND / OR (parentheses allowed) of  time <op> <time expr>  |
 *           <key> = | != | <> | < | <= | > | >= <literal>  |
 *           <key> =~ | !~ /regex/   (key: a tag or a field; literal: 'string',
 *           number, true/false; a literal may come first)
 *     time expr: now() | 'RFC3339' | integer ns | duration literal,
 *           optionally +/- a duration (1ns 1u 1ms 1s 1m 1h 1d 1w)
 *   SHOW DATABASES | MEASUREMENTS | FIELD KEYS [FROM m] |
 *        TAG KEYS [FROM m] | TAG VALUES [FROM m] WITH KEY = k |
 *        SERIES [FROM m] | RETENTION POLICIES [ON db]
 *   CREATE DATABASE name [WITH [DURATION d] [REPLICATION n] ...]
 *   DROP DATABASE name | DROP MEASUREMENT name
 *   DELETE [FROM m] [WHERE cond] | DROP SERIES [FROM m] [WHERE cond]
 *   CREATE RETENTION POLICY rp ON db DURATION d REPLICATION n
 *          [SHARD DURATION d] [DEFAULT]
 *   ALTER RETENTION POLICY rp ON db [DURATION d] [REPLICATION n]
 *          [SHARD DURATION d] [DEFAULT]
 *   DROP RETENTION POLICY rp ON db
 *
 * Several statements are separated by ';'.  Errors say what was found,
 * what was expected and where (InfluxDB's shape: "found X, expected Y at
 * line 1, char N").  Everything is allocated from the arena.
 */
#ifndef BS_QUERY_TS_INFLUXQL_H
#define BS_QUERY_TS_INFLUXQL_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

typedef enum {
    BS_IQ_SELECT = 1,
    BS_IQ_SHOW_DATABASES,
    BS_IQ_SHOW_MEASUREMENTS,
    BS_IQ_SHOW_FIELD_KEYS,
    BS_IQ_SHOW_TAG_KEYS,
    BS_IQ_SHOW_TAG_VALUES,
    BS_IQ_SHOW_SERIES,
    BS_IQ_SHOW_RETENTION_POLICIES,
    BS_IQ_CREATE_DATABASE,
    BS_IQ_DROP_DATABASE,
    BS_IQ_DROP_MEASUREMENT,
    BS_IQ_DELETE,      /* DELETE [FROM m] [WHERE ...] */
    BS_IQ_DROP_SERIES, /* DROP SERIES [FROM m] [WHERE tag conditions] */
    BS_IQ_CREATE_RP,   /* CREATE RETENTION POLICY rp ON db ... */
    BS_IQ_ALTER_RP,
    BS_IQ_DROP_RP
} bs_iq_kind;

typedef enum {
    BS_IQ_RAW = 0,
    BS_IQ_COUNT,
    BS_IQ_SUM,
    BS_IQ_MEAN,
    BS_IQ_MEDIAN,
    BS_IQ_MIN,
    BS_IQ_MAX,
    BS_IQ_FIRST,
    BS_IQ_LAST,
    BS_IQ_SPREAD,
    BS_IQ_STDDEV,
    BS_IQ_PERCENTILE
} bs_iq_agg;

/* The function's name as written in InfluxDB's output column ("mean"). */
const char *bs_iq_agg_name(bs_iq_agg a);

/* One step of arithmetic with a constant, applied to the expression's
 * value: x op k, or k op x when left.  Integer steps (is_int: ki) keep an
 * integer value integer, except '/'; division and modulo by zero give 0,
 * as in InfluxDB. */
typedef struct bs_iq_math {
    char op; /* + - * / % */
    int left;
    int is_int;
    int64_t ki;
    double kf;
} bs_iq_math;

typedef struct bs_iq_expr {
    bs_iq_agg agg;
    const char *name;  /* field/tag name; "*" for all */
    double arg;        /* percentile's N */
    const char *alias; /* AS alias or NULL */
    /* arithmetic around the one field or function ("mean(v) / 100",
     * "(v + 1) * 2"): steps applied innermost first */
    const bs_iq_math *math;
    size_t nmath;
} bs_iq_expr;

/* A number an arithmetic step works on: integer (i) or float (f). */
typedef struct bs_iq_value {
    int is_int;
    int64_t i;
    double f;
} bs_iq_value;

/* v after the n steps m (see bs_iq_math). */
bs_iq_value bs_iq_math_apply(const bs_iq_math *m, size_t n, bs_iq_value v);

typedef enum { BS_IQ_EQ = 0, BS_IQ_NE, BS_IQ_RE, BS_IQ_NRE, BS_IQ_LT, BS_IQ_LE, BS_IQ_GT,
               BS_IQ_GE } bs_iq_op;

/* The WHERE condition as a tree (time comparisons taken out: they only
 * narrow tmin/tmax, wherever they are, as in InfluxDB 1.6). */
typedef enum { BS_IQ_W_AND = 1, BS_IQ_W_OR, BS_IQ_W_CMP } bs_iq_wkind;
typedef enum { BS_IQ_LIT_STRING = 1, BS_IQ_LIT_NUMBER, BS_IQ_LIT_BOOL, BS_IQ_LIT_REGEX } bs_iq_lit;

typedef struct bs_iq_where {
    bs_iq_wkind kind;
    struct bs_iq_where *l, *r; /* AND, OR */
    /* CMP: key op literal */
    const char *key;
    bs_iq_op op;
    bs_iq_lit lit;
    const char *s; /* string, or the regex source */
    double num;
    int64_t i;  /* the number when is_int */
    int is_int; /* an integer literal */
    int b;      /* boolean */
    int id;     /* 0..nwhere-1, for per-comparison state */
} bs_iq_where;

typedef struct bs_iq_tagcond {
    const char *key;
    bs_iq_op op;
    const char *value; /* string, or the regex source for RE/NRE */
} bs_iq_tagcond;

typedef enum {
    BS_IQ_FILL_NULL = 0, /* the default */
    BS_IQ_FILL_NONE,
    BS_IQ_FILL_PREVIOUS,
    BS_IQ_FILL_LINEAR,
    BS_IQ_FILL_NUMBER
} bs_iq_fill;

typedef struct bs_iq_stmt {
    bs_iq_kind kind;
    /* the statement's own text in the query, and what now() meant: parsed
     * again from these, it is the same statement (a replica's partial
     * aggregate, node/ts/ts_select.c) */
    const char *src;
    size_t src_len;
    int64_t now_ns;
    /* SELECT */
    bs_iq_expr *exprs;
    size_t nexprs;
    const char *from; /* measurement (also SHOW ... FROM, DROP MEASUREMENT) */
    int64_t tmin, tmax; /* inclusive bounds, ns; INT64_MIN/INT64_MAX = open */
    int has_tmin, has_tmax;
    bs_iq_tagcond *conds; /* the WHERE when it is an AND of tag = != =~ !~ */
    size_t nconds;
    bs_iq_where *where; /* the whole WHERE (NULL: none); see conds_ok */
    int nwhere;         /* comparisons in where */
    int conds_ok;       /* conds says all where says */
    int64_t interval, offset; /* GROUP BY time(); interval 0 = none */
    const char **group_tags;
    size_t ngroup_tags;
    int group_all; /* GROUP BY * */
    bs_iq_fill fill;
    double fill_value;
    int desc;
    int64_t limit, offset_rows, slimit, soffset; /* 0 = none */
    /* SHOW TAG VALUES WITH KEY = k; CREATE/DROP DATABASE name */
    const char *key;
    const char *name;
    int replication; /* CREATE DATABASE ... REPLICATION n; 0 = default */
    /* retention policies: CREATE DATABASE ... WITH ... NAME rp and
     * CREATE/ALTER/DROP RETENTION POLICY rp ON db (name = db); the
     * rp of FROM rp.m or db.rp.m (NULL: the default policy) */
    const char *rp;
    int64_t duration;       /* ns; 0 = INF */
    int64_t shard_duration; /* ns; 0 = derived from the duration */
    int has_duration, has_shard, has_replication, rp_default;
    int where_fields; /* a WHERE compared a non-tag with a number (DELETE) */
} bs_iq_stmt;

/*
 * Parses `q` (len bytes) into statements.  now_ns is what now() means.
 * 0 with *out and *n set; or BS_ESYNTAX with *err (arena text); or BS_ENOMEM.
 */
int bs_iq_parse(const char *q, size_t len, int64_t now_ns, bs_arena *a, bs_iq_stmt **out,
                size_t *n, const char **err);

/* Parses an RFC 3339 time ("2006-01-02T15:04:05.999999999Z", also with a
 * numeric zone, a space instead of 'T', or a date alone).  0 or
 * BS_EINVAL. */
int bs_iq_parse_time(const char *s, size_t n, int64_t *ns);

/* Parses an InfluxQL duration literal ("10s", "1h30m").  0 or BS_EINVAL. */
int bs_iq_parse_duration(const char *s, size_t n, int64_t *ns);

#endif
