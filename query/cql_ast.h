/*
 * cql_ast.h - the syntax tree of a parsed CQL statement.
 *
 * Unlike most Basalt types these structs are transparent: the tree is a
 * plain data structure that the validator/executor, the printer and the
 * tests walk field by field (as SQLite's Expr is).  Everything in a tree
 * -- nodes, arrays, strings, bs_type descriptors -- lives in the arena
 * given to bs_cql_parse() and dies with it.  In particular the bs_type
 * trees here are arena memory: never bs_type_free() them; bs_type_clone()
 * one to keep it beyond the arena.
 *
 * Conventions: identifiers are NUL-terminated, already case-folded
 * (unquoted -> lower case, "Quoted" -> as written); a NULL keyspace means
 * "not qualified"; counts are uint32_t next to their arrays; an optional
 * expression is NULL when absent.
 */
#ifndef BS_QUERY_CQL_AST_H
#define BS_QUERY_CQL_AST_H

#include <stddef.h>
#include <stdint.h>

#include "common/types.h"
#include "query/literal.h"

typedef struct bs_cql_pos {
    uint32_t line; /* 1-based */
    uint32_t col;  /* 0-based, characters */
} bs_cql_pos;

typedef struct bs_cql_qname {
    const char *ks; /* NULL when not qualified */
    const char *name;
} bs_cql_qname;

/* ---- expressions: terms and selectors ---- */

typedef enum {
    BS_CQL_EXPR_LITERAL, /* lit */
    BS_CQL_EXPR_BIND,    /* ? or :name; bind = index into stmt binds[] */
    BS_CQL_EXPR_LIST,    /* [items] */
    BS_CQL_EXPR_SET,     /* {items} */
    BS_CQL_EXPR_MAP,     /* {items[i]: values[i]} */
    BS_CQL_EXPR_EMPTY,   /* {} : empty set or map, the receiver decides */
    BS_CQL_EXPR_TUPLE,   /* (items) */
    BS_CQL_EXPR_UDT,     /* {fields[i]: items[i]} */
    BS_CQL_EXPR_CALL,    /* [ks.]name(items), or count(*) with star = 1 */
    BS_CQL_EXPR_CAST,    /* (type) items[0], or CAST(items[0] AS type) */
    BS_CQL_EXPR_COLUMN,  /* selectors only: column name */
    BS_CQL_EXPR_FIELD,   /* selectors only: items[0].name */
    BS_CQL_EXPR_ELEM     /* selectors only: items[0][items[1]] */
} bs_cql_expr_kind;

typedef struct bs_cql_expr bs_cql_expr;
struct bs_cql_expr {
    bs_cql_expr_kind kind;
    bs_cql_pos pos;
    bs_literal lit;   /* LITERAL: text points into arena memory */
    uint32_t bind;    /* BIND */
    const char *name; /* COLUMN, CALL (function), FIELD (field) */
    const char *ks;   /* CALL: function keyspace or NULL */
    bs_type *type;    /* CAST target */
    uint8_t star;     /* CALL: count(*) */
    uint8_t sql_cast; /* CAST: 1 = CAST(x AS t) selector, 0 = (t) x */
    uint32_t n;
    bs_cql_expr **items;  /* see kinds */
    bs_cql_expr **values; /* MAP values, n of them */
    const char **fields;  /* UDT field names, n of them */
};

/* ---- bind markers ---- */

/* What a bind marker's value is for, as far as the text alone tells; the
 * executor turns it into a column spec (name + type) for the prepared
 * metadata and finds pk_indices among the COLUMN receivers. */
typedef enum {
    BS_CQL_RECV_NONE,       /* unknown (e.g. nested deep in a literal) */
    BS_CQL_RECV_COLUMN,     /* column; name "c" */
    BS_CQL_RECV_IN,         /* c IN ? : the whole list; "in(c)" */
    BS_CQL_RECV_KEY,        /* map key / list index / set element of c:
                             * c[?] = .., DELETE c[?], CONTAINS KEY ?,
                             * map-literal key; "key(c)" (the executor
                             * says idx(c) for lists) */
    BS_CQL_RECV_VALUE,      /* element value of collection c: c[k] = ?,
                             * CONTAINS ?, list/set/map literal element;
                             * "value(c)" */
    BS_CQL_RECV_FIELD,      /* UDT field: c.f = ?, {f: ?}; "c.f" */
    BS_CQL_RECV_TUPLE_ELEM, /* component index of tuple column c; "c[0]" */
    BS_CQL_RECV_MULTI,      /* (a, b) = ? : a tuple of cols; "(a,b)" */
    BS_CQL_RECV_MULTI_IN,   /* (a, b) IN ? : "in((a,b))" */
    BS_CQL_RECV_TOKEN,      /* token(cols) > ? ; "partition key token" */
    BS_CQL_RECV_FUNC_ARG,   /* argument index of function column(=name),
                             * ks = its keyspace; "arg0(f)" */
    BS_CQL_RECV_LIMIT,      /* "[limit]" */
    BS_CQL_RECV_PER_PARTITION_LIMIT, /* "[per_partition_limit]" */
    BS_CQL_RECV_TTL,                 /* "[ttl]" */
    BS_CQL_RECV_TIMESTAMP,           /* "[timestamp]" */
    BS_CQL_RECV_JSON                 /* INSERT JSON ? ; "[json]" */
} bs_cql_recv_kind;

typedef struct bs_cql_recv {
    bs_cql_recv_kind kind;
    const char *column; /* column (function name for FUNC_ARG) */
    const char *field;  /* FIELD */
    const char *ks;     /* FUNC_ARG: function keyspace or NULL */
    uint32_t index;     /* TUPLE_ELEM component, FUNC_ARG argument */
    uint32_t ncols;     /* MULTI, MULTI_IN, TOKEN */
    const char **cols;
} bs_cql_recv;

typedef struct bs_cql_bind {
    uint32_t index;   /* position among the statement's markers */
    const char *name; /* :name (case-folded like identifiers) or NULL */
    bs_cql_pos pos;
    bs_cql_recv recv;
    const char *recv_name; /* printable receiver, see bs_cql_recv_kind */
    const bs_type *cast;   /* type of an enclosing (type) ? cast, or NULL */
} bs_cql_bind;

/* ---- clauses ---- */

typedef enum {
    BS_CQL_OP_EQ,
    BS_CQL_OP_NEQ,
    BS_CQL_OP_LT,
    BS_CQL_OP_LTE,
    BS_CQL_OP_GT,
    BS_CQL_OP_GTE,
    BS_CQL_OP_IN,
    BS_CQL_OP_CONTAINS,
    BS_CQL_OP_CONTAINS_KEY,
    BS_CQL_OP_LIKE
} bs_cql_op;

typedef enum {
    BS_CQL_LHS_COLUMN, /* c */
    BS_CQL_LHS_ELEM,   /* c[key] */
    BS_CQL_LHS_FIELD,  /* c.field (IF conditions) */
    BS_CQL_LHS_MULTI,  /* (c1, c2) */
    BS_CQL_LHS_TOKEN   /* token(c1, c2) */
} bs_cql_lhs_kind;

/* A WHERE relation or an IF condition. */
typedef struct bs_cql_relation {
    bs_cql_lhs_kind lhs;
    bs_cql_op op;
    bs_cql_pos pos;
    const char *column; /* COLUMN, ELEM, FIELD */
    bs_cql_expr *key;   /* ELEM */
    const char *field;  /* FIELD */
    uint32_t ncols;     /* MULTI, TOKEN */
    const char **cols;
    bs_cql_expr *rhs; /* the value; for IN without a list: the marker */
    uint8_t in_list;  /* IN (v, ...): values in in[] (possibly none) */
    uint32_t nin;
    bs_cql_expr **in;
} bs_cql_relation;

/* WITH name = value; value is a LITERAL, MAP or EMPTY expression. */
typedef struct bs_cql_option {
    const char *name;
    bs_cql_expr *value;
} bs_cql_option;

typedef struct bs_cql_using {
    bs_cql_expr *ttl;       /* NULL if absent */
    bs_cql_expr *timestamp; /* NULL if absent */
} bs_cql_using;

typedef struct bs_cql_coldef {
    const char *name;
    bs_type *type;
    uint8_t is_static;
} bs_cql_coldef;

typedef struct bs_cql_order {
    const char *column;
    uint8_t desc;
} bs_cql_order;

/* ---- statements ---- */

typedef enum {
    BS_CQL_STMT_USE = 1,
    BS_CQL_STMT_CREATE_KEYSPACE,
    BS_CQL_STMT_ALTER_KEYSPACE,
    BS_CQL_STMT_DROP_KEYSPACE,
    BS_CQL_STMT_CREATE_TABLE,
    BS_CQL_STMT_ALTER_TABLE,
    BS_CQL_STMT_DROP_TABLE,
    BS_CQL_STMT_TRUNCATE,
    BS_CQL_STMT_CREATE_TYPE,
    BS_CQL_STMT_ALTER_TYPE,
    BS_CQL_STMT_DROP_TYPE,
    BS_CQL_STMT_INSERT,
    BS_CQL_STMT_UPDATE,
    BS_CQL_STMT_DELETE,
    BS_CQL_STMT_BATCH,
    BS_CQL_STMT_SELECT,
    BS_CQL_STMT_DESCRIBE,
    BS_CQL_STMT_CREATE_ROLE, /* also CREATE USER */
    BS_CQL_STMT_ALTER_ROLE,  /* also ALTER USER */
    BS_CQL_STMT_DROP_ROLE,   /* also DROP USER */
    BS_CQL_STMT_LIST_ROLES,  /* also LIST USERS */
    BS_CQL_STMT_GRANT,
    BS_CQL_STMT_REVOKE,
    BS_CQL_STMT_LIST_PERMISSIONS
} bs_cql_stmt_kind;

typedef struct bs_cql_use {
    const char *keyspace;
} bs_cql_use;

/* DESCRIBE (Cassandra 4.0's server-side form). */
typedef enum {
    BS_CQL_DESC_SCHEMA = 1, /* [FULL] SCHEMA */
    BS_CQL_DESC_KEYSPACES,
    BS_CQL_DESC_KEYSPACE, /* [ONLY] KEYSPACE [name.name] */
    BS_CQL_DESC_TABLES,
    BS_CQL_DESC_TABLE, /* TABLE [ks.]name */
    BS_CQL_DESC_CLUSTER,
    BS_CQL_DESC_TYPES,
    BS_CQL_DESC_NAME, /* [ks.]name: a keyspace, else a table */
    BS_CQL_DESC_TYPE, /* TYPE [ks.]name */
    BS_CQL_DESC_FUNCTIONS,
    BS_CQL_DESC_FUNCTION, /* FUNCTION [ks.]name */
    BS_CQL_DESC_AGGREGATES,
    BS_CQL_DESC_AGGREGATE /* AGGREGATE [ks.]name */
} bs_cql_desc_kind;

typedef struct bs_cql_describe {
    uint8_t what; /* bs_cql_desc_kind */
    uint8_t full;
    uint8_t only;
    bs_cql_qname name; /* name.name NULL when absent */
} bs_cql_describe;

/* CREATE / ALTER KEYSPACE (if_not_exists only for CREATE). */
typedef struct bs_cql_keyspace_def {
    const char *name;
    uint8_t if_not_exists;
    uint32_t nopts;
    bs_cql_option *opts; /* replication = {...}, durable_writes = bool */
} bs_cql_keyspace_def;

/* DROP KEYSPACE (name.name only), DROP TABLE, DROP TYPE, TRUNCATE. */
typedef struct bs_cql_drop {
    bs_cql_qname name;
    uint8_t if_exists;
} bs_cql_drop;

/* CREATE TABLE, with PRIMARY KEY normalised: pk[] are the partition key
 * columns, ck[] the clustering columns, whether written inline
 * (c int PRIMARY KEY) or as a PRIMARY KEY (...) clause. */
typedef struct bs_cql_create_table {
    bs_cql_qname table;
    uint8_t if_not_exists;
    uint32_t ncols;
    bs_cql_coldef *cols;
    uint32_t npk;
    const char **pk;
    uint32_t nck;
    const char **ck;
    uint32_t norder; /* WITH CLUSTERING ORDER BY */
    bs_cql_order *order;
    uint32_t nopts; /* other WITH options, in written order */
    bs_cql_option *opts;
} bs_cql_create_table;

typedef enum {
    BS_CQL_ALTER_ADD,    /* cols[] */
    BS_CQL_ALTER_DROP,   /* drop[] */
    BS_CQL_ALTER_RENAME, /* from[i] TO to[i] */
    BS_CQL_ALTER_WITH    /* opts[] */
} bs_cql_alter_kind;

/* ALTER TABLE and ALTER TYPE (ADD and RENAME only for types). */
typedef struct bs_cql_alter {
    bs_cql_qname name;
    bs_cql_alter_kind kind;
    uint32_t ncols;
    bs_cql_coldef *cols;
    uint32_t ndrop;
    const char **drop;
    uint32_t nrename;
    const char **from;
    const char **to;
    uint32_t nopts;
    bs_cql_option *opts;
} bs_cql_alter;

typedef struct bs_cql_create_type {
    bs_cql_qname name;
    uint8_t if_not_exists;
    uint32_t nfields;
    bs_cql_coldef *fields; /* is_static always 0 */
} bs_cql_create_type;

typedef struct bs_cql_insert {
    bs_cql_qname table;
    uint32_t ncols; /* 0 for INSERT ... JSON */
    const char **cols;
    bs_cql_expr **values;       /* ncols of them */
    bs_cql_expr *json;          /* INSERT JSON: string literal or marker */
    uint8_t json_default_unset; /* DEFAULT UNSET (default is NULL) */
    uint8_t if_not_exists;
    bs_cql_using using;
} bs_cql_insert;

typedef enum {
    BS_CQL_ASSIGN_SET,      /* c = v */
    BS_CQL_ASSIGN_ADD,      /* c = c + v, c += v */
    BS_CQL_ASSIGN_SUB,      /* c = c - v, c -= v */
    BS_CQL_ASSIGN_PREPEND,  /* c = v + c */
    BS_CQL_ASSIGN_SET_ELEM, /* c[key] = v */
    BS_CQL_ASSIGN_SET_FIELD /* c.field = v */
} bs_cql_assign_kind;

typedef struct bs_cql_assign {
    bs_cql_assign_kind kind;
    const char *column;
    bs_cql_expr *key;  /* SET_ELEM */
    const char *field; /* SET_FIELD */
    bs_cql_expr *value;
} bs_cql_assign;

typedef struct bs_cql_update {
    bs_cql_qname table;
    bs_cql_using using;
    uint32_t nassign;
    bs_cql_assign *assign;
    uint32_t nwhere;
    bs_cql_relation *where;
    uint8_t if_exists;
    uint32_t nconds; /* IF c = v AND ... */
    bs_cql_relation *conds;
} bs_cql_update;

/* DELETE target: c, c[key] or c.field. */
typedef struct bs_cql_deletion {
    const char *column;
    bs_cql_expr *key;
    const char *field;
} bs_cql_deletion;

typedef struct bs_cql_delete {
    uint32_t ncols; /* 0: the whole row(s) */
    bs_cql_deletion *cols;
    bs_cql_qname table;
    bs_cql_using using; /* only timestamp */
    uint32_t nwhere;
    bs_cql_relation *where;
    uint8_t if_exists;
    uint32_t nconds;
    bs_cql_relation *conds;
} bs_cql_delete;

typedef enum {
    BS_CQL_BATCH_LOGGED,
    BS_CQL_BATCH_UNLOGGED,
    BS_CQL_BATCH_COUNTER
} bs_cql_batch_kind;

typedef struct bs_cql_stmt bs_cql_stmt;

/* The children's markers are numbered across the whole batch and listed
 * in the batch statement's binds[]; children have nbinds == 0. */
typedef struct bs_cql_batch {
    bs_cql_batch_kind kind;
    bs_cql_using using; /* only timestamp */
    uint32_t nstmts;
    bs_cql_stmt **stmts; /* INSERT, UPDATE or DELETE */
} bs_cql_batch;

typedef struct bs_cql_selector {
    bs_cql_expr *expr;
    const char *alias; /* AS alias, or NULL */
} bs_cql_selector;

/* Permissions of GRANT / REVOKE / LIST PERMISSIONS (bit mask). */
enum {
    BS_CQL_PERM_CREATE = 1 << 0,
    BS_CQL_PERM_ALTER = 1 << 1,
    BS_CQL_PERM_DROP = 1 << 2,
    BS_CQL_PERM_SELECT = 1 << 3,
    BS_CQL_PERM_MODIFY = 1 << 4,
    BS_CQL_PERM_AUTHORIZE = 1 << 5,
    BS_CQL_PERM_ALL = (1 << 6) - 1
};

/* The resource of GRANT / REVOKE / LIST PERMISSIONS. */
typedef enum {
    BS_CQL_RES_NONE = 0,  /* LIST PERMISSIONS without ON: every resource */
    BS_CQL_RES_ALL_KEYSPACES,
    BS_CQL_RES_KEYSPACE,  /* name.name */
    BS_CQL_RES_TABLE      /* name.ks (NULL: the session's) . name.name */
} bs_cql_res_kind;

/* CREATE / ALTER / DROP ROLE (and USER), LIST ROLES (USERS), GRANT,
 * REVOKE, LIST PERMISSIONS.  CREATE USER n WITH PASSWORD 'p' SUPERUSER
 * is parsed into the role form (login = 1, superuser = 1). */
typedef struct bs_cql_role {
    const char *role;     /* the role; NULL for LIST without OF */
    uint8_t if_exists;     /* DROP */
    uint8_t if_not_exists; /* CREATE */
    uint8_t users;         /* LIST USERS (output columns differ) */
    uint8_t norecursive;   /* LIST ... NORECURSIVE */
    const char *password;  /* WITH PASSWORD = '...', or NULL */
    int8_t login;          /* -1 not given, else 0/1 */
    int8_t superuser;      /* -1 not given, else 0/1 */
    uint8_t perms;         /* BS_CQL_PERM_* (GRANT/REVOKE/LIST) */
    uint8_t res;           /* bs_cql_res_kind */
    bs_cql_qname resource;
} bs_cql_role;

typedef struct bs_cql_select {
    uint8_t json;
    uint8_t distinct;
    uint8_t star; /* SELECT * (then nsel == 0) */
    uint32_t nsel;
    bs_cql_selector *sel;
    bs_cql_qname table;
    uint32_t nwhere;
    bs_cql_relation *where;
    uint32_t ngroup;
    const char **group;
    uint32_t norder;
    bs_cql_order *order;
    bs_cql_expr *per_partition_limit; /* integer literal or marker */
    bs_cql_expr *limit;
    uint8_t allow_filtering;
} bs_cql_select;

struct bs_cql_stmt {
    bs_cql_stmt_kind kind;
    bs_cql_pos pos;   /* of the first token */
    const char *text; /* the statement's source text (arena copy) */
    size_t len;
    uint32_t nbinds;
    bs_cql_bind *binds;
    union {
        bs_cql_use use;
        bs_cql_describe describe;
        bs_cql_keyspace_def keyspace; /* CREATE/ALTER KEYSPACE */
        bs_cql_drop drop;             /* DROP *, TRUNCATE */
        bs_cql_create_table create_table;
        bs_cql_alter alter; /* ALTER TABLE, ALTER TYPE */
        bs_cql_create_type create_type;
        bs_cql_insert insert;
        bs_cql_update update;
        bs_cql_delete del;
        bs_cql_batch batch;
        bs_cql_select select;
        bs_cql_role role; /* *_ROLE, LIST_*, GRANT, REVOKE */
    } u;
};

#endif
