/*
 * test_admin_fake.h - a fake bs_admin_provider for the admin tests and
 * for tests/integration/test_admin_fakesrv.c (the fixture basalt-admin is
 * run against).  Header-only (static functions) so each user compiles its
 * own copy.
 *
 * The fake cluster:
 *   127.0.0.1  dc1 rack1  UP   NORMAL   load 1536        tokens -100, 200
 *   127.0.0.2  dc1 rack2  DOWN NORMAL   load 123         tokens
 * -9223372036854775807, 50 127.0.0.10 dc2 rack1  UP   JOINING  load unknown
 * tokens 9223372036854775807 (listed out of order on purpose: the server sorts
 * by dc, then address). Ownership: keyspace "ks1" (also the default) 0.5 / 0.25
 * / 0.25; "ks2" 1 / 1 / 0; other names BS_ENOTFOUND; fake_no_keyspaces makes
 * the default "none" (owns unknown). Schema versions: nodes 1 and 10 share
 * SCHEMA_A; node 2 is down. Flush/compact: keyspace "missing" -> BS_ENOTFOUND
 * with a message; keyspace "slow" blocks until fake.release is posted; calls
 * are counted and the last keyspace/table remembered.
 */
#ifndef BS_TEST_ADMIN_FAKE_H
#define BS_TEST_ADMIN_FAKE_H

#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/uuid.h"
#include "node/admin/admin.h"

#define FAKE_HOST1 "11111111-1111-4111-8111-111111111111"
#define FAKE_HOST2 "22222222-2222-4222-8222-222222222222"
#define FAKE_HOST3 "33333333-3333-4333-8333-333333333333"
#define FAKE_SCHEMA_A "aaaaaaaa-0000-1000-8000-00000000000a"

typedef struct fake_provider {
    atomic_int flushes, compacts, drains, in_slow;
    sem_t release;
    char last_ks[64], last_table[64];
    int no_keyspaces;
    const bs_config *config;
} fake_provider;

static const int64_t fake_tok1[] = {-100, 200};
static const int64_t fake_tok2[] = {-9223372036854775807LL, 50};
static const int64_t fake_tok3[] = {9223372036854775807LL};

static inline void fake_uuid(const char *s, bs_uuid *u) {
    bs_uuid_parse(s, strlen(s), u);
}

static inline int fake_local(void *ud, bs_arena *a, bs_admin_local *out) {
    (void)a;
    fake_provider *f = ud;
    memset(out, 0, sizeof *out);
    out->cluster_name = "Fake Cluster";
    out->partitioner = "org.apache.cassandra.dht.Murmur3Partitioner";
    out->snitch = "org.apache.cassandra.locator.GossipingPropertyFileSnitch";
    out->address = "127.0.0.1";
    out->dc = "dc1";
    out->rack = "rack1";
    fake_uuid(FAKE_HOST1, &out->host_id);
    out->generation = 1700000000;
    out->uptime_seconds = 42;
    out->load_bytes = 1536;
    out->tokens = fake_tok1;
    out->n_tokens = 2;
    fake_uuid(FAKE_SCHEMA_A, &out->schema_version);
    out->gossip_active = true;
    out->native_transport_active = true;
    out->config = f->config;
    return 0;
}

static inline int fake_nodes(void *ud, bs_arena *a, bs_admin_node **out,
                             size_t *n) {
    (void)ud;
    bs_admin_node *v = bs_arena_calloc(a, 3 * sizeof *v);
    if (!v) return BS_ENOMEM;
    /* out of order on purpose */
    v[0] = (bs_admin_node){"127.0.0.10",     "dc2", "rack1", BS_ADMIN_UP,
                           BS_ADMIN_JOINING, -1};
    fake_uuid(FAKE_HOST3, &v[0].host_id);
    v[0].tokens = fake_tok3;
    v[0].n_tokens = 1;
    v[0].has_schema = true;
    fake_uuid(FAKE_SCHEMA_A, &v[0].schema_version);
    v[1] = (bs_admin_node){"127.0.0.2",   "dc1",           "rack2",
                           BS_ADMIN_DOWN, BS_ADMIN_NORMAL, 123};
    fake_uuid(FAKE_HOST2, &v[1].host_id);
    v[1].tokens = fake_tok2;
    v[1].n_tokens = 2;
    v[2] = (bs_admin_node){"127.0.0.1", "dc1",           "rack1",
                           BS_ADMIN_UP, BS_ADMIN_NORMAL, 1536};
    fake_uuid(FAKE_HOST1, &v[2].host_id);
    v[2].tokens = fake_tok1;
    v[2].n_tokens = 2;
    v[2].has_schema = true;
    fake_uuid(FAKE_SCHEMA_A, &v[2].schema_version);
    v[2].is_local = true;
    *out = v;
    *n = 3;
    return 0;
}

static inline int fake_ownership(void *ud, const char *ks, bs_arena *a,
                                 bs_admin_owner **out, size_t *n,
                                 const char **used) {
    fake_provider *f = ud;
    double o1 = 0.5, o2 = 0.25, o3 = 0.25;
    if (!ks) {
        if (f->no_keyspaces) {
            *out = NULL;
            *n = 0;
            *used = NULL;
            return 0;
        }
        ks = "ks1";
    }
    if (strcmp(ks, "ks2") == 0) {
        o1 = 1;
        o2 = 1;
        o3 = 0;
    } else if (strcmp(ks, "ks1") != 0) {
        return BS_ENOTFOUND;
    }
    bs_admin_owner *v = bs_arena_calloc(a, 3 * sizeof *v);
    if (!v) return BS_ENOMEM;
    fake_uuid(FAKE_HOST1, &v[0].host_id);
    v[0].owns = o1;
    fake_uuid(FAKE_HOST2, &v[1].host_id);
    v[1].owns = o2;
    fake_uuid(FAKE_HOST3, &v[2].host_id);
    v[2].owns = o3;
    *out = v;
    *n = 3;
    *used = strcmp(ks, "ks2") == 0 ? "ks2" : "ks1";
    return 0;
}

static inline int fake_gossip(void *ud, bs_arena *a, bs_admin_endpoint **out,
                              size_t *n) {
    (void)ud;
    static const bs_admin_app_state s1[] = {
        {"STATUS", 14, "NORMAL,-100"},
        {"DC", 6, "dc1"},
        {"RACK", 8, "rack1"},
        {"SCHEMA", 10, FAKE_SCHEMA_A},
    };
    static const bs_admin_app_state s2[] = {
        {"STATUS", 3, "NORMAL,50"},
        {"LOAD", 9, "123.0"},
    };
    bs_admin_endpoint *v = bs_arena_calloc(a, 2 * sizeof *v);
    if (!v) return BS_ENOMEM;
    v[0] = (bs_admin_endpoint){"127.0.0.2", 1700000001, 77, false, s2, 2};
    v[1] = (bs_admin_endpoint){"127.0.0.1", 1700000000, 1234, true, s1, 4};
    *out = v;
    *n = 2;
    return 0;
}

static inline int fake_action(fake_provider *f, atomic_int *counter,
                              const char *ks, const char *table, char *err,
                              size_t errlen) {
    if (ks && strcmp(ks, "missing") == 0) {
        snprintf(err, errlen, "unknown keyspace '%s'", ks);
        return BS_ENOTFOUND;
    }
    if (ks && strcmp(ks, "slow") == 0) {
        atomic_fetch_add(&f->in_slow, 1);
        sem_wait(&f->release);
    }
    snprintf(f->last_ks, sizeof f->last_ks, "%s", ks ? ks : "(all)");
    snprintf(f->last_table, sizeof f->last_table, "%s",
             table ? table : "(all)");
    atomic_fetch_add(counter, 1);
    return 0;
}

static inline int fake_flush(void *ud, const char *ks, const char *table,
                             char *err, size_t errlen) {
    fake_provider *f = ud;
    return fake_action(f, &f->flushes, ks, table, err, errlen);
}

static inline int fake_compact(void *ud, const char *ks, const char *table,
                               char *err, size_t errlen) {
    fake_provider *f = ud;
    return fake_action(f, &f->compacts, ks, table, err, errlen);
}

static inline int fake_drain(void *ud, char *err, size_t errlen) {
    (void)err;
    (void)errlen;
    fake_provider *f = ud;
    atomic_fetch_add(&f->drains, 1);
    return 0;
}

static inline void fake_init(fake_provider *f) {
    memset(f, 0, sizeof *f);
    sem_init(&f->release, 0, 0);
}

static inline void fake_fill(fake_provider *f, bs_admin_provider *p) {
    memset(p, 0, sizeof *p);
    p->ud = f;
    p->release_version = "4.0.11";
    p->build = "test-build";
    p->local = fake_local;
    p->nodes = fake_nodes;
    p->ownership = fake_ownership;
    p->gossip = fake_gossip;
    p->flush = fake_flush;
    p->compact = fake_compact;
    p->drain = fake_drain;
}

#endif
