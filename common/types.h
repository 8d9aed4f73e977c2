/*
 * types.h - the CQL type descriptor shared by storage/ (key encoding),
 * query/ (parsing, value codecs, schema) and client/.
 *
 * Kinds use the native protocol's [option] ids (native_protocol_v4.spec
 * section 4.2.5.2) so the wire form is the enum value.  A descriptor is
 * a small heap tree: list/set have 1 param, map 2, tuple N, UDT N (with
 * field names).  Parsing type names and value codecs live in query/.
 */
#ifndef BS_TYPES_H
#define BS_TYPES_H

#include <stdint.h>

typedef enum {
    BS_TYPE_CUSTOM = 0x0000,
    BS_TYPE_ASCII = 0x0001,
    BS_TYPE_BIGINT = 0x0002,
    BS_TYPE_BLOB = 0x0003,
    BS_TYPE_BOOLEAN = 0x0004,
    BS_TYPE_COUNTER = 0x0005,
    BS_TYPE_DECIMAL = 0x0006,
    BS_TYPE_DOUBLE = 0x0007,
    BS_TYPE_FLOAT = 0x0008,
    BS_TYPE_INT = 0x0009,
    BS_TYPE_TIMESTAMP = 0x000B,
    BS_TYPE_UUID = 0x000C,
    BS_TYPE_VARCHAR = 0x000D, /* text and varchar */
    BS_TYPE_VARINT = 0x000E,
    BS_TYPE_TIMEUUID = 0x000F,
    BS_TYPE_INET = 0x0010,
    BS_TYPE_DATE = 0x0011,
    BS_TYPE_TIME = 0x0012,
    BS_TYPE_SMALLINT = 0x0013,
    BS_TYPE_TINYINT = 0x0014,
    BS_TYPE_DURATION = 0x0015,
    BS_TYPE_LIST = 0x0020,
    BS_TYPE_MAP = 0x0021,
    BS_TYPE_SET = 0x0022,
    BS_TYPE_UDT = 0x0030,
    BS_TYPE_TUPLE = 0x0031
} bs_type_kind;

/* Deepest column type: a scalar is 1 level, list<int> 2, and so on
 * (frozen<> adds none).  One limit for the CQL type parsers, the DDL
 * checks, the value codecs and the schema codec, so any type a CREATE
 * TABLE accepts also persists, reloads and travels between nodes. */
#define BS_TYPE_MAX_DEPTH 12

typedef struct bs_type bs_type;
struct bs_type {
    uint16_t kind;      /* bs_type_kind */
    uint8_t frozen;     /* 1 for frozen<...> collections/UDTs */
    uint16_t nparams;   /* element types (see above) */
    bs_type **params;   /* owned */
    char **field_names; /* UDT only: nparams owned strings */
    char *name;         /* UDT type name or custom class; owned or NULL */
    char *keyspace;     /* UDT keyspace; owned or NULL */
};

/* Levels of t (see BS_TYPE_MAX_DEPTH); counting stops past limit, so
 * any tree is measured in bounded time and stack. */
int bs_type_depth(const bs_type *t, int limit);

/* A scalar type, or a collection/tuple/UDT with no params yet. NULL on OOM. */
bs_type *bs_type_new(bs_type_kind kind);
/* list<e>/set<e> (p2 NULL) or map<p1,p2>; takes ownership of the params
 * (also on failure, when it frees them).  NULL on OOM. */
bs_type *bs_type_new_coll(bs_type_kind kind, bs_type *p1, bs_type *p2);
/* Appends an owned param (tuple/UDT; field_name copied, may be NULL for
 * tuples).  0 or BS_ENOMEM (then `p` is freed). */
int bs_type_add_param(bs_type *t, bs_type *p, const char *field_name);
void bs_type_free(bs_type *t);
bs_type *bs_type_clone(const bs_type *t);
/* 1 when structurally identical (kinds, params, frozen, names). */
int bs_type_equal(const bs_type *a, const bs_type *b);
static inline int bs_type_is_collection(const bs_type *t) {
    return t->kind == BS_TYPE_LIST || t->kind == BS_TYPE_MAP ||
           t->kind == BS_TYPE_SET;
}
/* Non-frozen collection: stored as one cell per element. */
static inline int bs_type_is_multicell(const bs_type *t) {
    return !t->frozen && (bs_type_is_collection(t) || t->kind == BS_TYPE_UDT);
}
/* Fixed wire width of a scalar (int: 4, bigint: 8, uuid: 16, ...), or -1
 * when variable-length. */
int bs_type_fixed_size(bs_type_kind kind);

#endif
