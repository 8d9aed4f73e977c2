/*
 * types.c - CQL type descriptor trees (see types.h).
 */
#include "common/types.h"

#include <stdlib.h>
#include <string.h>

#include "common/error.h"

int bs_type_depth(const bs_type *t, int limit) {
    if (!t || limit <= 0) return 1;
    int d = 0;
    for (uint16_t i = 0; i < t->nparams; i++) {
        int pd = bs_type_depth(t->params[i], limit - 1);
        if (pd > d) d = pd;
    }
    return d + 1;
}

bs_type *bs_type_new(bs_type_kind kind) {
    bs_type *t = calloc(1, sizeof *t);
    if (t) t->kind = (uint16_t)kind;
    return t;
}

static char *dupstr(const char *s) {
    if (!s) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int bs_type_add_param(bs_type *t, bs_type *p, const char *field_name) {
    bs_type **np = realloc(t->params, (t->nparams + 1u) * sizeof *np);
    if (!np) goto oom;
    t->params = np;
    if (t->kind == BS_TYPE_UDT) {
        char **nf = realloc(t->field_names, (t->nparams + 1u) * sizeof *nf);
        if (!nf) goto oom;
        t->field_names = nf;
        nf[t->nparams] = dupstr(field_name ? field_name : "");
        if (!nf[t->nparams]) goto oom;
    }
    np[t->nparams++] = p;
    return 0;
oom:
    bs_type_free(p);
    return BS_ENOMEM;
}

bs_type *bs_type_new_coll(bs_type_kind kind, bs_type *p1, bs_type *p2) {
    bs_type *t = bs_type_new(kind);
    if (!t) goto fail;
    if (p1 && bs_type_add_param(t, p1, NULL)) {
        p1 = NULL;
        goto fail;
    }
    p1 = NULL;
    if (p2 && bs_type_add_param(t, p2, NULL)) {
        p2 = NULL;
        goto fail;
    }
    return t;
fail:
    bs_type_free(p1);
    bs_type_free(p2);
    bs_type_free(t);
    return NULL;
}

void bs_type_free(bs_type *t) {
    if (!t) return;
    for (unsigned i = 0; i < t->nparams; i++) {
        bs_type_free(t->params[i]);
        if (t->field_names) free(t->field_names[i]);
    }
    free(t->params);
    free(t->field_names);
    free(t->name);
    free(t->keyspace);
    free(t);
}

bs_type *bs_type_clone(const bs_type *t) {
    if (!t) return NULL;
    bs_type *c = bs_type_new((bs_type_kind)t->kind);
    if (!c) return NULL;
    c->frozen = t->frozen;
    if ((t->name && !(c->name = dupstr(t->name))) ||
        (t->keyspace && !(c->keyspace = dupstr(t->keyspace))))
        goto fail;
    for (unsigned i = 0; i < t->nparams; i++) {
        bs_type *p = bs_type_clone(t->params[i]);
        if (!p) goto fail;
        if (bs_type_add_param(c, p, t->field_names ? t->field_names[i] : NULL))
            goto fail;
    }
    return c;
fail:
    bs_type_free(c);
    return NULL;
}

static int streq(const char *a, const char *b) {
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

int bs_type_equal(const bs_type *a, const bs_type *b) {
    if (a->kind != b->kind || a->frozen != b->frozen ||
        a->nparams != b->nparams || !streq(a->name, b->name) ||
        !streq(a->keyspace, b->keyspace))
        return 0;
    for (unsigned i = 0; i < a->nparams; i++) {
        if (!bs_type_equal(a->params[i], b->params[i])) return 0;
        if (a->field_names && !streq(a->field_names[i], b->field_names[i]))
            return 0;
    }
    return 1;
}

int bs_type_fixed_size(bs_type_kind kind) {
    switch (kind) {
    case BS_TYPE_BOOLEAN:
    case BS_TYPE_TINYINT: return 1;
    case BS_TYPE_SMALLINT: return 2;
    case BS_TYPE_INT:
    case BS_TYPE_FLOAT:
    case BS_TYPE_DATE: return 4;
    case BS_TYPE_BIGINT:
    case BS_TYPE_COUNTER:
    case BS_TYPE_DOUBLE:
    case BS_TYPE_TIMESTAMP:
    case BS_TYPE_TIME: return 8;
    case BS_TYPE_UUID:
    case BS_TYPE_TIMEUUID: return 16;
    default: return -1;
    }
}
