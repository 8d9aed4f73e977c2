/*
 * test_msg.c - internode messaging (node/cluster/msg.c, node/cluster/msg_codec.c).
 *
 * Codec tests run on bytes; the rest start real bs_msg instances on
 * 127.0.0.1 / 127.0.0.2 with port 0 (free ports) in this process and talk
 * between them.  Waiting is by polling counters with a generous bound;
 * nothing asserts a duration.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/log.h"
#include "node/cluster/msg.h"

#define MAX (1u << 20)

static int wait_for(atomic_int *v, int want) {
    for (int i = 0; i < 1000; i++) {
        if (atomic_load(v) >= want) return 1;
        usleep(10000);
    }
    return atomic_load(v) >= want;
}

/* ---- codec ----------------------------------------------------------------
 */

/* The optional CQL trace session id ("t") round-trips, is absent unless
 * set, and a "t" that is not 16 bytes is refused. */
START_TEST(frame_trace_id) {
    uint8_t pl[3] = {1, 2, 3};
    bs_msg_frame f = {BS_VERB_READ, BS_MSG_KIND_REQUEST, 7, 0, 0, pl, 3};
    bs_buf b = BS_BUF_INIT;
    bs_msg_frame g;
    char err[128];
    ck_assert_int_eq(bs_msg_frame_encode(&f, 0, MAX, &b), 0);
    ck_assert_int_eq(bs_msg_frame_decode(b.data, b.len, MAX, &g, err, sizeof err), 0);
    ck_assert_int_eq(g.has_trace, 0);
    bs_msg_frame_free(&g);
    size_t plain_len = b.len;
    bs_buf_reset(&b);
    f.has_trace = 1;
    for (int i = 0; i < 16; i++) f.trace[i] = (uint8_t)(0xa0 + i);
    ck_assert_int_eq(bs_msg_frame_encode(&f, 0, MAX, &b), 0);
    ck_assert_uint_eq(b.len, plain_len + 2 + 2 + 16); /* "t" key, bin8 header, id */
    ck_assert_int_eq(bs_msg_frame_decode(b.data, b.len, MAX, &g, err, sizeof err), 0);
    ck_assert_int_eq(g.has_trace, 1);
    ck_assert_mem_eq(g.trace, f.trace, 16);
    ck_assert_uint_eq(g.len, 3);
    bs_msg_frame_free(&g);
    /* a 16-byte id made 15 bytes long (its bin header patched) */
    uint8_t *t = memmem(b.data, b.len, "\xa1t\xc4\x10", 4);
    ck_assert_ptr_nonnull(t);
    t[3] = 15;
    memmove(t + 4 + 15, t + 4 + 16, (size_t)(b.data + b.len - (t + 4 + 16)));
    b.len--;
    bs_put_u32(b.data, (uint32_t)(b.len - 4));
    ck_assert_int_ne(bs_msg_frame_decode(b.data, b.len, MAX, &g, err, sizeof err), 0);
    ck_assert_str_eq(err, "trace id is not bin16");
    bs_buf_free(&b);
}
END_TEST

START_TEST(frame_round_trip_plain_and_lz4) {
    for (int big = 0; big < 2; big++) {
        size_t n = big ? 100000 : 10;
        uint8_t *pl = malloc(n);
        for (size_t i = 0; i < n; i++)
            pl[i] = (uint8_t)(big ? i % 7 : i);
        bs_msg_frame f = {BS_VERB_MUTATION,
                          BS_MSG_KIND_RESPONSE,
                          123456789012ULL,
                          42,
                          -1005,
                          pl,
                          n};
        bs_buf b = BS_BUF_INIT;
        ck_assert_int_eq(bs_msg_frame_encode(&f, 4096, MAX, &b), 0);
        ck_assert_int_eq(b.data[4] & 1, big); /* compressed only when long */
        if (big) ck_assert_uint_lt(b.len, n / 4);
        size_t fl = 0;
        ck_assert_int_eq(bs_msg_frame_peek(b.data, b.len, MAX, &fl), 0);
        ck_assert_uint_eq(fl, b.len);
        ck_assert_int_eq(bs_msg_frame_peek(b.data, b.len - 1, MAX, &fl),
                         BS_EAGAIN);
        bs_msg_frame g;
        char err[128];
        ck_assert_int_eq(
            bs_msg_frame_decode(b.data, b.len, MAX, &g, err, sizeof err), 0);
        ck_assert_uint_eq(g.verb, BS_VERB_MUTATION);
        ck_assert_uint_eq(g.kind, BS_MSG_KIND_RESPONSE);
        ck_assert(g.id == 123456789012ULL);
        ck_assert_int_eq(g.deadline_ms, 42);
        ck_assert_int_eq(g.status, -1005);
        ck_assert_uint_eq(g.len, n);
        ck_assert_mem_eq(g.payload, pl, n);
        bs_msg_frame_free(&g);
        /* every truncation fails cleanly */
        for (size_t cut = 0; cut < b.len; cut += (big ? 97 : 1))
            ck_assert_int_ne(
                bs_msg_frame_decode(b.data, cut, MAX, &g, err, sizeof err), 0);
        bs_buf_free(&b);
        free(pl);
    }
}
END_TEST

/* "r", the timeout left when a request was sent (the receiver's deadline
 * counts from its own clock, Jepsen F6): round trip, and absent when the
 * sender set none (old peers; one-way messages). */
START_TEST(frame_remaining_timeout) {
    uint8_t pl[3] = {1, 2, 3};
    bs_msg_frame f = {BS_VERB_READ, BS_MSG_KIND_REQUEST, 9, 1, 0, pl, 3};
    f.has_remaining = 1;
    f.remaining_ms = 2500;
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_msg_frame_encode(&f, 0, MAX, &b), 0);
    bs_msg_frame g;
    char err[128];
    ck_assert_int_eq(bs_msg_frame_decode(b.data, b.len, MAX, &g, err, sizeof err), 0);
    ck_assert_int_eq(g.has_remaining, 1);
    ck_assert_uint_eq(g.remaining_ms, 2500);
    ck_assert_int_eq(g.deadline_ms, 1);
    bs_msg_frame_free(&g);
    bs_buf_reset(&b);
    f.has_remaining = 0;
    ck_assert_int_eq(bs_msg_frame_encode(&f, 0, MAX, &b), 0);
    ck_assert_int_eq(bs_msg_frame_decode(b.data, b.len, MAX, &g, err, sizeof err), 0);
    ck_assert_int_eq(g.has_remaining, 0);
    bs_msg_frame_free(&g);
    bs_buf_free(&b);
}
END_TEST

/* bs_msg_frame_compress (internode_compression dc: a raw frame
 * compressed on the loop thread): a compressible body is compressed and
 * decodes to the same frame; a short, incompressible or already
 * compressed one is left alone. */
START_TEST(frame_compress_codec) {
    size_t n = 20000;
    uint8_t *pl = malloc(n);
    for (size_t i = 0; i < n; i++) pl[i] = (uint8_t)(i % 13);
    bs_msg_frame f = {BS_VERB_MUTATION, BS_MSG_KIND_REQUEST, 7, 99, 0, pl, n};
    bs_buf raw = BS_BUF_INIT, z = BS_BUF_INIT, z2 = BS_BUF_INIT;
    ck_assert_int_eq(bs_msg_frame_encode(&f, 0, MAX, &raw), 0);
    ck_assert_int_eq(raw.data[4] & 1, 0);
    ck_assert_int_eq(bs_msg_frame_compress(raw.data, raw.len, 256, &z), 0);
    ck_assert_int_eq(z.data[4] & 1, 1);
    ck_assert_uint_lt(z.len, raw.len / 4);
    size_t fl = 0;
    ck_assert_int_eq(bs_msg_frame_peek(z.data, z.len, MAX, &fl), 0);
    ck_assert_uint_eq(fl, z.len);
    bs_msg_frame g;
    char err[128];
    ck_assert_int_eq(bs_msg_frame_decode(z.data, z.len, MAX, &g, err, sizeof err), 0);
    ck_assert_uint_eq(g.id, 7);
    ck_assert_int_eq(g.deadline_ms, 99);
    ck_assert_uint_eq(g.len, n);
    ck_assert_mem_eq(g.payload, pl, n);
    bs_msg_frame_free(&g);
    for (size_t cut = 0; cut < z.len; cut += 7)
        ck_assert_int_ne(bs_msg_frame_decode(z.data, cut, MAX, &g, err, sizeof err), 0);
    /* already compressed, or below the threshold: left alone */
    ck_assert_int_eq(bs_msg_frame_compress(z.data, z.len, 256, &z2), BS_EAGAIN);
    ck_assert_int_eq(bs_msg_frame_compress(raw.data, raw.len, raw.len, &z2), BS_EAGAIN);
    ck_assert_int_eq(bs_msg_frame_compress(raw.data, 4, 0, &z2), BS_EAGAIN);
    /* incompressible: left alone */
    srand(3);
    for (size_t i = 0; i < n; i++) pl[i] = (uint8_t)rand();
    bs_buf_reset(&raw);
    ck_assert_int_eq(bs_msg_frame_encode(&f, 0, MAX, &raw), 0);
    ck_assert_int_eq(bs_msg_frame_compress(raw.data, raw.len, 256, &z2), BS_EAGAIN);
    ck_assert_uint_eq(z2.len, 0);
    bs_buf_free(&raw);
    bs_buf_free(&z);
    bs_buf_free(&z2);
    free(pl);
}
END_TEST

START_TEST(frame_rejects_garbage) {
    uint8_t buf[64];
    size_t fl;
    bs_msg_frame g;
    char err[128];
    /* zero length, oversized length */
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(bs_msg_frame_peek(buf, 8, MAX, &fl), BS_ECORRUPT);
    bs_put_u32(buf, MAX + 1);
    ck_assert_int_eq(bs_msg_frame_peek(buf, 8, MAX, &fl), BS_ETOOBIG);
    ck_assert_int_eq(bs_msg_frame_decode(buf, 8, MAX, &g, err, sizeof err),
                     BS_ETOOBIG);
    /* unknown flags */
    bs_put_u32(buf, 2);
    buf[4] = 0x80;
    buf[5] = 0x80; /* empty map */
    ck_assert_int_eq(bs_msg_frame_decode(buf, 6, MAX, &g, err, sizeof err),
                     BS_ECORRUPT);
    /* a valid empty map misses verb/id/kind */
    buf[4] = 0;
    ck_assert_int_eq(bs_msg_frame_decode(buf, 6, MAX, &g, err, sizeof err),
                     BS_ECORRUPT);
    ck_assert(strstr(err, "missing") != NULL);
    /* not msgpack: 0xc1 is never used */
    buf[5] = 0xc1;
    ck_assert_int_eq(bs_msg_frame_decode(buf, 6, MAX, &g, err, sizeof err),
                     BS_ECORRUPT);
    /* a map claiming 4 billion entries in 5 bytes */
    bs_put_u32(buf, 6);
    buf[4] = 0;
    buf[5] = 0xdf;
    bs_put_u32(buf + 6, 0xffffffffu);
    ck_assert_int_ne(bs_msg_frame_decode(buf, 10, MAX, &g, err, sizeof err), 0);
    /* lz4 flag with a bogus block and with a huge raw length */
    bs_put_u32(buf, 1 + 4 + 3);
    buf[4] = 1;
    bs_put_u32(buf + 5, 100);
    buf[9] = 0xff;
    buf[10] = 0xff;
    buf[11] = 0xff;
    ck_assert_int_eq(bs_msg_frame_decode(buf, 12, MAX, &g, err, sizeof err),
                     BS_ECORRUPT);
    bs_put_u32(buf + 5, 0xfffffff0u);
    ck_assert_int_eq(bs_msg_frame_decode(buf, 12, MAX, &g, err, sizeof err),
                     BS_ETOOBIG);
    /* verb out of range */
    bs_msg_frame f = {BS_VERB_ECHO, 0, 1, 0, 0, NULL, 0};
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_msg_frame_encode(&f, 0, MAX, &b), 0);
    /* map: 0x85, "v"(a1 76), verb byte at offset 5+1+2 */
    ck_assert_uint_eq(b.data[8], BS_VERB_ECHO);
    b.data[8] = 0x7f;
    ck_assert_int_eq(
        bs_msg_frame_decode(b.data, b.len, MAX, &g, err, sizeof err),
        BS_ECORRUPT);
    bs_buf_free(&b);
}
END_TEST

START_TEST(proof_binds_secret_nonces_direction_and_endpoint) {
    uint8_t cn[BS_MSG_NONCE_LEN], sn[BS_MSG_NONCE_LEN];
    memset(cn, 1, sizeof cn);
    memset(sn, 2, sizeof sn);
    bs_msg_peer from;
    bs_msg_peer_set(&from, "127.0.0.5", 7000);
    bs_msg_proof_in in = {(const uint8_t *)"0123456789abcdef", 16, 0, cn, sn,
                          {{0}}, {{0}}, &from, "C"};
    uint8_t p0[BS_MSG_PROOF_LEN], p1[BS_MSG_PROOF_LEN];
    ck_assert_int_eq(bs_msg_proof(&in, p0), 0);
    ck_assert_int_eq(bs_msg_proof(&in, p1), 0);
    ck_assert_mem_eq(p0, p1, sizeof p0); /* deterministic */
    in.server = 1; /* the other direction */
    ck_assert_int_eq(bs_msg_proof(&in, p1), 0);
    ck_assert(memcmp(p0, p1, sizeof p0) != 0);
    in.server = 0;
    in.secret = (const uint8_t *)"0123456789abcdeF";
    ck_assert_int_eq(bs_msg_proof(&in, p1), 0);
    ck_assert(memcmp(p0, p1, sizeof p0) != 0);
    in.secret = (const uint8_t *)"0123456789abcdef";
    sn[0] = 3;
    ck_assert_int_eq(bs_msg_proof(&in, p1), 0);
    ck_assert(memcmp(p0, p1, sizeof p0) != 0);
    sn[0] = 2;
    from.port = 7001;
    ck_assert_int_eq(bs_msg_proof(&in, p1), 0);
    ck_assert(memcmp(p0, p1, sizeof p0) != 0);
    from.port = 7000;
    in.cluster = "D";
    ck_assert_int_eq(bs_msg_proof(&in, p1), 0);
    ck_assert(memcmp(p0, p1, sizeof p0) != 0);
}
END_TEST

START_TEST(hello_round_trip) {
    bs_msg_hello h, g;
    memset(&h, 0, sizeof h);
    strcpy(h.cluster, "Test Cluster");
    h.proto = BS_MSG_PROTOCOL_VERSION;
    bs_uuid_v4(&h.host_id);
    bs_msg_peer_set(&h.from, "127.0.0.9", 7001);
    h.ok = 0;
    strcpy(h.why, "no");
    for (int i = 0; i < BS_MSG_NONCE_LEN; i++)
        h.nonce[i] = (uint8_t)i;
    for (int i = 0; i < BS_MSG_PROOF_LEN; i++)
        h.proof[i] = (uint8_t)(255 - i);
    h.fields = BS_HELLO_CLUSTER | BS_HELLO_PROTO | BS_HELLO_HOST |
               BS_HELLO_FROM | BS_HELLO_OK | BS_HELLO_WHY | BS_HELLO_NONCE |
               BS_HELLO_PROOF;
    bs_buf b = BS_BUF_INIT;
    ck_assert_int_eq(bs_msg_hello_encode(&h, &b), 0);
    char err[128];
    ck_assert_int_eq(bs_msg_hello_decode(b.data, b.len, &g, err, sizeof err),
                     0);
    ck_assert_str_eq(g.cluster, "Test Cluster");
    ck_assert_uint_eq(g.proto, BS_MSG_PROTOCOL_VERSION);
    ck_assert_mem_eq(g.host_id.b, h.host_id.b, 16);
    ck_assert(bs_msg_peer_equal(&g.from, &h.from));
    ck_assert_int_eq(g.ok, 0);
    ck_assert_str_eq(g.why, "no");
    ck_assert_uint_eq(g.fields, h.fields);
    ck_assert_mem_eq(g.nonce, h.nonce, BS_MSG_NONCE_LEN);
    ck_assert_mem_eq(g.proof, h.proof, BS_MSG_PROOF_LEN);
    for (size_t cut = 0; cut < b.len; cut++)
        ck_assert_int_ne(bs_msg_hello_decode(b.data, cut, &g, err, sizeof err),
                         0);
    bs_buf_free(&b);
    /* only the fields present are written and reported */
    h.fields = BS_HELLO_PROOF;
    ck_assert_int_eq(bs_msg_hello_encode(&h, &b), 0);
    ck_assert_int_eq(bs_msg_hello_decode(b.data, b.len, &g, err, sizeof err),
                     0);
    ck_assert_uint_eq(g.fields, BS_HELLO_PROOF);
    ck_assert_mem_eq(g.proof, h.proof, BS_MSG_PROOF_LEN);
    bs_buf_free(&b);
    h.fields = BS_HELLO_CLUSTER | BS_HELLO_PROTO | BS_HELLO_HOST |
               BS_HELLO_FROM | BS_HELLO_OK | BS_HELLO_WHY;
    /* an address that is not an IP is refused */
    strcpy(h.from.addr, "evil.example");
    ck_assert_int_eq(bs_msg_hello_encode(&h, &b), 0);
    ck_assert_int_eq(bs_msg_hello_decode(b.data, b.len, &g, err, sizeof err),
                     BS_ECORRUPT);
    bs_buf_free(&b);
    ck_assert_int_eq(bs_msg_peer_set(&h.from, "not-an-ip", 1), BS_EINVAL);
}
END_TEST

/* Ring endpoint strings "addr:port" (IPv6 bare, port after the last ':'). */
START_TEST(peer_parse_endpoints) {
    bs_msg_peer p;
    ck_assert_int_eq(bs_msg_peer_parse(&p, "127.0.0.5:7001"), 0);
    ck_assert_str_eq(p.addr, "127.0.0.5");
    ck_assert_uint_eq(p.port, 7001);
    ck_assert_int_eq(bs_msg_peer_parse(&p, "::1:7000"), 0);
    ck_assert_str_eq(p.addr, "::1");
    ck_assert_uint_eq(p.port, 7000);
    const char *bad[] = {NULL,          "",          "127.0.0.5",
                         ":7000",       "127.0.0.5:", "127.0.0.5:0",
                         "127.0.0.5:65536", "127.0.0.5:70x",
                         "host.example:7000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(bs_msg_peer_parse(&p, bad[i]), BS_EINVAL);
}
END_TEST

/* ---- live instances ----------------------------------------------------- */

typedef struct resp {
    atomic_int done;
    int status;
    char body[256];
} resp;

static void on_resp(void *ud, int status, const uint8_t *p, size_t len) {
    resp *r = ud;
    r->status = status;
    if (p && len < sizeof r->body) {
        memcpy(r->body, p, len);
        r->body[len] = 0;
    }
    atomic_fetch_add(&r->done, 1);
}

static atomic_int handled, oneway;
static bs_msg_in deferred;
static atomic_int have_deferred;

/* Echoes "re:" + payload; "defer" keeps the request to answer later;
 * "silent" never answers; one-way messages count. */
static void h_test(void *ud, bs_msg *m, const bs_msg_in *in) {
    (void)ud;
    atomic_fetch_add(&handled, 1);
    if (!in->expects_reply) {
        atomic_fetch_add(&oneway, 1);
        return;
    }
    if (in->len == 6 && memcmp(in->payload, "silent", 6) == 0) return;
    if (in->len == 5 && memcmp(in->payload, "defer", 5) == 0) {
        deferred = *in;
        deferred.payload = NULL;
        deferred.len = 0;
        atomic_store(&have_deferred, 1);
        return;
    }
    if (in->len == 4 && memcmp(in->payload, "fail", 4) == 0) {
        bs_msg_reply(m, in, BS_EUNAVAIL, NULL, 0);
        return;
    }
    char out[300];
    int n = snprintf(out, sizeof out, "re:%.*s",
                     (int)(in->len > 200 ? 200 : in->len),
                     (const char *)in->payload);
    bs_msg_reply(m, in, 0, out, (size_t)n);
}

#define SECRET "test secret: 0123456789abcdef"

static uint32_t g_hs_timeout; /* 0: default */
static uint32_t g_connect_timeout; /* 0: default */
static size_t g_max_unauth;   /* 0: default */

static bs_msg *start_with(const char *addr, const char *cluster, size_t qmax,
                          const char *secret) {
    bs_msg_opts o;
    bs_msg_opts_default(&o);
    if (g_hs_timeout) o.handshake_timeout_ms = g_hs_timeout;
    if (g_max_unauth) o.max_unauthenticated = g_max_unauth;
    if (g_connect_timeout) o.connect_timeout_ms = g_connect_timeout;
    o.cluster_name = cluster;
    o.secret = (const uint8_t *)secret;
    o.secret_len = strlen(secret);
    o.listen_address = addr;
    o.port = 0;
    o.reconnect_min_ms = 20;
    o.reconnect_max_ms = 200;
    if (qmax) o.queue_max = qmax;
    bs_uuid_v4(&o.host_id);
    bs_msg *m = NULL;
    ck_assert_int_eq(bs_msg_start(&o, &m), 0);
    bs_msg_register(m, BS_VERB_MUTATION, h_test, NULL);
    return m;
}

static bs_msg *start(const char *addr, const char *cluster, size_t qmax) {
    return start_with(addr, cluster, qmax, SECRET);
}

static int remote_dc_yes(void *ud, const bs_msg_peer *p) {
    (void)ud;
    (void)p;
    return 1;
}
static int remote_dc_no(void *ud, const bs_msg_peer *p) {
    (void)ud;
    (void)p;
    return 0;
}

static bs_msg *start_comp(const char *addr, int mode, int (*remote)(void *, const bs_msg_peer *)) {
    bs_msg_opts o;
    bs_msg_opts_default(&o);
    o.cluster_name = "C";
    o.secret = (const uint8_t *)SECRET;
    o.secret_len = strlen(SECRET);
    o.listen_address = addr;
    o.compress_threshold = 256;
    o.compression = mode;
    o.peer_remote_dc = remote;
    bs_uuid_v4(&o.host_id);
    bs_msg *m = NULL;
    ck_assert_int_eq(bs_msg_start(&o, &m), 0);
    bs_msg_register(m, BS_VERB_MUTATION, h_test, NULL);
    return m;
}

static void send_big(bs_msg *from, bs_msg *to) {
    bs_msg_peer p;
    bs_msg_local(to, &p);
    size_t n = 50000;
    char *big = malloc(n);
    memset(big, 'q', n);
    resp r;
    memset(&r, 0, sizeof r);
    ck_assert_int_eq(bs_msg_send(from, &p, BS_VERB_MUTATION, big, n, 5000, on_resp, &r), 0);
    ck_assert(wait_for(&r.done, 1));
    ck_assert_int_eq(r.status, 0);
    ck_assert(strncmp(r.body, "re:qqqq", 7) == 0);
    free(big);
}

/* internode_compression per sender: dc compresses only to a peer the
 * callback puts in another DC, none never; the receiver decodes either
 * way (mixed settings interoperate); the cross-DC counters count the
 * frames to and from the remote peer, by verb. */
START_TEST(compression_modes_interoperate) {
    bs_msg *a = start_comp("127.0.0.1", BS_MSG_COMPRESS_DC, remote_dc_yes);
    bs_msg *b = start_comp("127.0.0.2", BS_MSG_COMPRESS_NONE, NULL);
    bs_msg *c = start_comp("127.0.0.3", BS_MSG_COMPRESS_DC, remote_dc_no);
    send_big(a, b);
    send_big(b, a);
    send_big(c, b);
    bs_msg_stats sa, sb, sc;
    bs_msg_get_stats(a, &sa);
    bs_msg_get_stats(b, &sb);
    bs_msg_get_stats(c, &sc);
    ck_assert_uint_eq(sa.compressed, 1);            /* a -> b, remote */
    ck_assert_uint_gt(sa.compress_raw_bytes, 50000);
    ck_assert_uint_lt(sa.compress_wire_bytes, 5000);
    ck_assert_uint_eq(sb.compressed, 0);            /* none */
    ck_assert_uint_eq(sc.compressed, 0);            /* same DC */
    ck_assert_uint_eq(sa.decode_errors + sb.decode_errors + sc.decode_errors, 0);
    bs_msg_xdc x;
    bs_msg_get_xdc(a, &x);
    /* a -> b request, b's answer; b -> a request, a's answer */
    ck_assert_uint_eq(x.sent_msgs[BS_VERB_MUTATION], 2);
    ck_assert_uint_eq(x.recv_msgs[BS_VERB_MUTATION], 2);
    ck_assert_uint_lt(x.sent_bytes[BS_VERB_MUTATION], 5000); /* compressed request + short answer */
    ck_assert_uint_gt(x.recv_bytes[BS_VERB_MUTATION], 50000); /* b's uncompressed request */
    bs_msg_get_xdc(c, &x);
    ck_assert_uint_eq(x.sent_msgs[BS_VERB_MUTATION] + x.recv_msgs[BS_VERB_MUTATION], 0);
    bs_msg_stop(a);
    bs_msg_stop(b);
    bs_msg_stop(c);
}
END_TEST

START_TEST(request_response_between_instances) {
    bs_msg *a = start("127.0.0.1", "C", 0), *b = start("127.0.0.2", "C", 0);
    bs_msg_peer pb;
    bs_msg_local(b, &pb);
    ck_assert_str_eq(pb.addr, "127.0.0.2");
    ck_assert_uint_ne(pb.port, 0);
    resp r[10];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 10; i++) {
        char p[16];
        int n = snprintf(p, sizeof p, "hi%d", i);
        ck_assert_int_eq(bs_msg_send(a, &pb, BS_VERB_MUTATION, p, (size_t)n,
                                     5000, on_resp, &r[i]),
                         0);
    }
    for (int i = 0; i < 10; i++) {
        ck_assert(wait_for(&r[i].done, 1));
        ck_assert_int_eq(r[i].status, 0);
        char want[16];
        snprintf(want, sizeof want, "re:hi%d", i);
        ck_assert_str_eq(r[i].body, want);
    }
    /* a handler error status travels back */
    resp f;
    memset(&f, 0, sizeof f);
    bs_msg_send(a, &pb, BS_VERB_MUTATION, "fail", 4, 5000, on_resp, &f);
    ck_assert(wait_for(&f.done, 1));
    ck_assert_int_eq(f.status, BS_EUNAVAIL);
    /* a verb nobody registered: BS_ENOTSUP */
    resp u;
    memset(&u, 0, sizeof u);
    bs_msg_send(a, &pb, BS_VERB_STREAM, "x", 1, 5000, on_resp, &u);
    ck_assert(wait_for(&u.done, 1));
    ck_assert_int_eq(u.status, BS_ENOTSUP);
    /* one-way */
    int before = atomic_load(&oneway);
    ck_assert_int_eq(
        bs_msg_send(a, &pb, BS_VERB_MUTATION, "ow", 2, 0, NULL, NULL), 0);
    ck_assert(wait_for(&oneway, before + 1));
    /* deferred answer from another thread (this one) */
    resp d;
    memset(&d, 0, sizeof d);
    bs_msg_send(a, &pb, BS_VERB_MUTATION, "defer", 5, 5000, on_resp, &d);
    ck_assert(wait_for(&have_deferred, 1));
    ck_assert_int_eq(atomic_load(&d.done), 0);
    ck_assert_int_eq(bs_msg_reply(b, &deferred, 0, "later", 5), 0);
    ck_assert(wait_for(&d.done, 1));
    ck_assert_str_eq(d.body, "later");
    /* a big payload goes compressed and arrives whole */
    size_t n = 200000;
    char *big = malloc(n);
    memset(big, 'z', n);
    resp bg;
    memset(&bg, 0, sizeof bg);
    bs_msg_send(a, &pb, BS_VERB_MUTATION, big, n, 5000, on_resp, &bg);
    ck_assert(wait_for(&bg.done, 1));
    ck_assert_int_eq(bg.status, 0);
    ck_assert(strncmp(bg.body, "re:zzzz", 7) == 0);
    free(big);
    bs_msg_stats st;
    bs_msg_get_stats(a, &st);
    ck_assert_uint_ge(st.compressed, 1);
    ck_assert_uint_eq(st.connects, 1);
    ck_assert_uint_eq(st.decode_errors, 0);
    bs_msg_get_stats(b, &st);
    ck_assert_uint_eq(st.connects,
                      1); /* b answered through its own connection to a */
    bs_msg_stop(a);
    bs_msg_stop(b);
}
END_TEST

/* A burst of requests: the frames queued to a peer in one batch go out
 * as one write of several buffers, and the replies that the handler
 * sends on the loop are queued directly; every answer must still come
 * back whole and to the right request, the sent counter must count every
 * frame of a coalesced write, and the batch-end hook must run after the
 * last frame a read handed to the handler. */
static atomic_int hook_calls, hook_seen;

static void on_batch_hook(void *ud) {
    (void)ud;
    atomic_fetch_add(&hook_calls, 1);
    atomic_store(&hook_seen, atomic_load(&handled));
}

START_TEST(burst_is_coalesced_and_answered_in_full) {
    bs_msg *a = start("127.0.0.1", "C", 0), *b = start("127.0.0.2", "C", 0);
    bs_msg_set_batch_end(b, on_batch_hook, NULL);
    bs_msg_peer pb;
    bs_msg_local(b, &pb);
    enum { N = 2000 };
    resp *r = calloc(N, sizeof *r);
    ck_assert_ptr_nonnull(r);
    int h0 = atomic_load(&handled);
    for (int i = 0; i < N; i++) {
        char p[16];
        int n = snprintf(p, sizeof p, "b%d", i);
        ck_assert_int_eq(bs_msg_send(a, &pb, BS_VERB_MUTATION, p, (size_t)n, 10000, on_resp, &r[i]),
                         0);
    }
    for (int i = 0; i < N; i++) {
        ck_assert(wait_for(&r[i].done, 1));
        ck_assert_int_eq(r[i].status, 0);
        char want[24];
        snprintf(want, sizeof want, "re:b%d", i);
        ck_assert_str_eq(r[i].body, want);
    }
    ck_assert_int_eq(atomic_load(&handled) - h0, N);
    ck_assert(wait_for(&hook_seen, h0 + N)); /* a hook call after the last frame */
    ck_assert_int_ge(atomic_load(&hook_calls), 1);
    bs_msg_stats st;
    bs_msg_get_stats(a, &st);
    ck_assert_uint_ge(st.sent, N);
    ck_assert_uint_ge(st.received, N);
    ck_assert_uint_eq(st.decode_errors, 0);
    ck_assert_uint_eq(st.dropped_overflow, 0);
    bs_msg_get_stats(b, &st);
    ck_assert_uint_ge(st.sent, N); /* the replies, counted one by one */
    bs_msg_set_batch_end(b, NULL, NULL);
    bs_msg_stop(a);
    bs_msg_stop(b);
    free(r);
}
END_TEST

START_TEST(timeout_and_close) {
    bs_msg *a = start("127.0.0.1", "C", 0), *b = start("127.0.0.2", "C", 0);
    bs_msg_peer pb;
    bs_msg_local(b, &pb);
    resp t, c;
    memset(&t, 0, sizeof t);
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(
        bs_msg_send(a, &pb, BS_VERB_MUTATION, "silent", 6, 200, on_resp, &t),
        0);
    ck_assert(wait_for(&t.done, 1));
    ck_assert_int_eq(t.status, BS_ETIMEDOUT);
    bs_msg_stats st;
    bs_msg_get_stats(a, &st);
    ck_assert_uint_eq(st.timeouts, 1);
    /* a request still pending at stop gets BS_ECLOSED, exactly once */
    ck_assert_int_eq(
        bs_msg_send(a, &pb, BS_VERB_MUTATION, "silent", 6, 60000, on_resp, &c),
        0);
    ck_assert(wait_for(&handled, 1));
    bs_msg_stop(a);
    ck_assert_int_eq(atomic_load(&c.done), 1);
    ck_assert_int_eq(c.status, BS_ECLOSED);
    ck_assert_int_eq(atomic_load(&t.done), 1);
    bs_msg_stop(b);
    /* argument checks */
    ck_assert_int_eq(bs_msg_register(NULL, 0, NULL, NULL), BS_EINVAL);
}
END_TEST

START_TEST(other_cluster_is_refused) {
    bs_msg *a = start("127.0.0.1", "Alpha", 0),
           *c = start("127.0.0.2", "Beta", 0);
    bs_msg_peer pa;
    bs_msg_local(a, &pa);
    resp r;
    memset(&r, 0, sizeof r);
    int before = atomic_load(&handled);
    ck_assert_int_eq(
        bs_msg_send(c, &pa, BS_VERB_MUTATION, "hi", 2, 500, on_resp, &r), 0);
    ck_assert(wait_for(&r.done, 1));
    ck_assert_int_eq(r.status, BS_ETIMEDOUT);
    ck_assert_int_eq(atomic_load(&handled), before); /* never delivered */
    bs_msg_stats sa, sc;
    bs_msg_get_stats(a, &sa);
    bs_msg_get_stats(c, &sc);
    ck_assert_uint_ge(sa.refused, 1);
    ck_assert_uint_ge(sc.refused, 1);
    ck_assert_uint_eq(sc.connects, 0);
    bs_msg_stop(a);
    bs_msg_stop(c);
}
END_TEST

static int raw_connect(const bs_msg_peer *p) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(p->port);
    inet_pton(AF_INET, p->addr, &sa.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* The peer closes on us: read returns 0 (or an error), never data. */
static void expect_closed(int fd) {
    char buf[256];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
    }
    /* end of stream or a reset; not the 10 s receive timeout */
    ck_assert_msg(n == 0 || errno == ECONNRESET, "still open: %s",
                  strerror(errno));
    close(fd);
}

START_TEST(start_needs_a_secret) {
    bs_msg_opts o;
    bs_msg_opts_default(&o);
    o.port = 0;
    bs_msg *m = NULL;
    ck_assert_int_eq(bs_msg_start(&o, &m), BS_EINVAL); /* none */
    o.secret = (const uint8_t *)"short";
    o.secret_len = 5;
    ck_assert_int_eq(bs_msg_start(&o, &m), BS_EINVAL); /* < 16 bytes */
    ck_assert_ptr_null(m);
}
END_TEST

START_TEST(wrong_secret_is_refused_both_ways) {
    bs_msg *a = start("127.0.0.1", "C", 0),
           *c = start_with("127.0.0.2", "C", 0, "another secret, 32 bytes long!!");
    bs_msg_peer pa, pc;
    bs_msg_local(a, &pa);
    bs_msg_local(c, &pc);
    int before = atomic_load(&handled);
    resp r, r2;
    memset(&r, 0, sizeof r);
    memset(&r2, 0, sizeof r2);
    /* c -> a: a's challenge does not verify with c's secret */
    ck_assert_int_eq(
        bs_msg_send(c, &pa, BS_VERB_MUTATION, "hi", 2, 500, on_resp, &r), 0);
    /* a -> c: the same from the other side */
    ck_assert_int_eq(
        bs_msg_send(a, &pc, BS_VERB_MUTATION, "hi", 2, 500, on_resp, &r2), 0);
    ck_assert(wait_for(&r.done, 1));
    ck_assert(wait_for(&r2.done, 1));
    ck_assert_int_eq(r.status, BS_ETIMEDOUT);
    ck_assert_int_eq(r2.status, BS_ETIMEDOUT);
    ck_assert_int_eq(atomic_load(&handled), before); /* never delivered */
    bs_msg_stats sa, sc;
    bs_msg_get_stats(a, &sa);
    bs_msg_get_stats(c, &sc);
    ck_assert_uint_ge(sa.auth_failures, 1);
    ck_assert_uint_ge(sc.auth_failures, 1);
    ck_assert_uint_eq(sa.connects, 0);
    ck_assert_uint_eq(sc.connects, 0);
    bs_msg_stop(a);
    bs_msg_stop(c);
}
END_TEST

static int raw_connect(const bs_msg_peer *p);
static void expect_closed(int fd);

/* Reads one whole frame from fd into f; 0, or -1 at EOF/error. */
static int raw_read_frame(int fd, bs_msg_frame *f, bs_buf *raw) {
    uint8_t hdr[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t n = read(fd, hdr + got, 4 - got);
        if (n <= 0) return -1;
        got += (size_t)n;
    }
    uint32_t len = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
                   ((uint32_t)hdr[2] << 8) | hdr[3];
    ck_assert_uint_le(len, MAX);
    uint8_t *b = malloc(4 + len);
    memcpy(b, hdr, 4);
    got = 0;
    while (got < len) {
        ssize_t n = read(fd, b + 4 + got, len - got);
        if (n <= 0) {
            free(b);
            return -1;
        }
        got += (size_t)n;
    }
    char err[128];
    int rc = bs_msg_frame_decode(b, 4 + len, MAX, f, err, sizeof err);
    if (raw) bs_buf_append(raw, b, 4 + len);
    if (rc == 0 && !f->owned)
        f->owned = b; /* the payload borrows from b: freed with the frame */
    else
        free(b);
    ck_assert_int_eq(rc, 0);
    return 0;
}

static void raw_send_hello(int fd, uint64_t id, const bs_msg_hello *h) {
    bs_buf pl = BS_BUF_INIT, fr = BS_BUF_INIT;
    ck_assert_int_eq(bs_msg_hello_encode(h, &pl), 0);
    bs_msg_frame f = {BS_VERB_HANDSHAKE, BS_MSG_KIND_REQUEST, id, 0, 0,
                      pl.data,           pl.len};
    ck_assert_int_eq(bs_msg_frame_encode(&f, 0, MAX, &fr), 0);
    ck_assert_int_eq(write(fd, fr.data, fr.len), (ssize_t)fr.len);
    bs_buf_free(&pl);
    bs_buf_free(&fr);
}

static void raw_send_verb(int fd, uint8_t verb, const char *payload) {
    bs_msg_frame f = {verb, BS_MSG_KIND_ONEWAY, 7, 0, 0, (uint8_t *)payload,
                      strlen(payload)};
    bs_buf bb = BS_BUF_INIT;
    ck_assert_int_eq(bs_msg_frame_encode(&f, 0, MAX, &bb), 0);
    ck_assert_int_eq(write(fd, bb.data, bb.len), (ssize_t)bb.len);
    bs_buf_free(&bb);
}

/* A raw client: connects to `to`, sends step 1 as `cluster` from
 * 127.0.0.1:from_port and reads step 2 into *ch.  Returns the socket. */
static int raw_hello(const bs_msg_peer *to, const char *cluster,
                     uint16_t from_port, bs_msg_hello *mine, bs_msg_hello *ch,
                     bs_buf *raw) {
    int fd = raw_connect(to);
    memset(mine, 0, sizeof *mine);
    mine->fields = BS_HELLO_CLUSTER | BS_HELLO_PROTO | BS_HELLO_HOST |
                   BS_HELLO_FROM | BS_HELLO_NONCE;
    snprintf(mine->cluster, sizeof mine->cluster, "%s", cluster);
    mine->proto = BS_MSG_PROTOCOL_VERSION;
    bs_uuid_v4(&mine->host_id);
    bs_msg_peer_set(&mine->from, "127.0.0.1", from_port);
    memset(mine->nonce, 0x42, sizeof mine->nonce);
    raw_send_hello(fd, 0, mine);
    bs_msg_frame f;
    ck_assert_int_eq(raw_read_frame(fd, &f, raw), 0);
    ck_assert_uint_eq(f.verb, BS_VERB_HANDSHAKE);
    ck_assert_uint_eq(f.kind, BS_MSG_KIND_RESPONSE);
    char err[128];
    ck_assert_int_eq(bs_msg_hello_decode(f.payload, f.len, ch, err, sizeof err),
                     0);
    bs_msg_frame_free(&f);
    return fd;
}

/* Sends our proof (made with `secret`, as client or, for the reflection
 * test, as server) and returns the verdict: 1 ok, 0 refused. */
static int raw_prove(int fd, const bs_msg_hello *mine, const bs_msg_hello *ch,
                     const char *secret, const char *cluster, int as_server) {
    bs_msg_hello pf;
    memset(&pf, 0, sizeof pf);
    pf.fields = BS_HELLO_PROOF;
    bs_msg_proof_in in = {(const uint8_t *)secret, strlen(secret), as_server,
                          mine->nonce, ch->nonce, mine->host_id, ch->host_id,
                          &mine->from, cluster};
    ck_assert_int_eq(bs_msg_proof(&in, pf.proof), 0);
    raw_send_hello(fd, 1, &pf);
    bs_msg_frame f;
    if (raw_read_frame(fd, &f, NULL)) return 0;
    bs_msg_hello v;
    char err[128];
    ck_assert_int_eq(bs_msg_hello_decode(f.payload, f.len, &v, err, sizeof err),
                     0);
    bs_msg_frame_free(&f);
    ck_assert(v.fields & BS_HELLO_OK);
    return v.ok;
}

START_TEST(refusal_does_not_name_our_cluster) {
    const char *name = "SecretName-4711";
    bs_msg *a = start("127.0.0.1", name, 0);
    bs_msg_peer pa;
    bs_msg_local(a, &pa);
    /* wrong cluster name: refused in step 2 */
    bs_msg_hello mine, ch;
    bs_buf raw = BS_BUF_INIT;
    int fd = raw_hello(&pa, "Guess", 9, &mine, &ch, &raw);
    ck_assert(ch.fields & BS_HELLO_OK);
    ck_assert_int_eq(ch.ok, 0);
    ck_assert(!(ch.fields & BS_HELLO_CLUSTER));
    ck_assert_ptr_null(strstr(ch.why, name));
    ck_assert_ptr_null(memmem(raw.data, raw.len, name, strlen(name)));
    expect_closed(fd);
    /* right name, wrong secret: challenged, then refused; no message
     * along the way carries the name */
    raw.len = 0;
    fd = raw_hello(&pa, name, 9, &mine, &ch, &raw);
    ck_assert_int_eq(ch.ok, 1);
    ck_assert(!(ch.fields & BS_HELLO_CLUSTER));
    ck_assert_ptr_null(memmem(raw.data, raw.len, name, strlen(name)));
    ck_assert_int_eq(
        raw_prove(fd, &mine, &ch, "not the secret at all!", name, 0), 0);
    expect_closed(fd);
    bs_buf_free(&raw);
    bs_msg_stats st;
    bs_msg_get_stats(a, &st);
    ck_assert_uint_ge(st.refused, 2);
    ck_assert_uint_eq(st.auth_failures, 1);
    bs_msg_stop(a);
}
END_TEST

/* The control for the raw tests below: a raw client that does know the
 * secret gets its verb delivered, so their refusals are the secret's
 * doing and not the raw client's. */
START_TEST(raw_client_with_the_secret_can_send) {
    bs_msg *a = start("127.0.0.1", "C", 0);
    bs_msg_peer pa;
    bs_msg_local(a, &pa);
    int before = atomic_load(&oneway);
    bs_msg_hello mine, ch;
    int fd = raw_hello(&pa, "C", 9, &mine, &ch, NULL);
    ck_assert_int_eq(ch.ok, 1);
    ck_assert(ch.fields & BS_HELLO_PROOF);
    /* the server proved the secret too */
    uint8_t want[BS_MSG_PROOF_LEN];
    bs_msg_proof_in in = {(const uint8_t *)SECRET, strlen(SECRET), 1,
                          mine.nonce, ch.nonce, mine.host_id, ch.host_id,
                          &mine.from, "C"};
    ck_assert_int_eq(bs_msg_proof(&in, want), 0);
    ck_assert_mem_eq(want, ch.proof, sizeof want);
    ck_assert_int_eq(raw_prove(fd, &mine, &ch, SECRET, "C", 0), 1);
    raw_send_verb(fd, BS_VERB_MUTATION, "one-way");
    ck_assert(wait_for(&oneway, before + 1));
    close(fd);
    bs_msg_stop(a);
}
END_TEST

START_TEST(skipping_the_proof_cannot_send_a_verb) {
    bs_msg *a = start("127.0.0.1", "C", 0);
    bs_msg_peer pa;
    bs_msg_local(a, &pa);
    int before = atomic_load(&handled);
    /* 1: the verb right after the hello, without waiting */
    int fd = raw_connect(&pa);
    bs_msg_hello mine;
    memset(&mine, 0, sizeof mine);
    mine.fields = BS_HELLO_CLUSTER | BS_HELLO_PROTO | BS_HELLO_HOST |
                  BS_HELLO_FROM | BS_HELLO_NONCE;
    strcpy(mine.cluster, "C");
    mine.proto = BS_MSG_PROTOCOL_VERSION;
    bs_msg_peer_set(&mine.from, "127.0.0.1", 9);
    raw_send_hello(fd, 0, &mine);
    raw_send_verb(fd, BS_VERB_MUTATION, "sneak");
    expect_closed(fd);
    /* 2: the verb after the challenge, instead of the proof */
    bs_msg_hello ch;
    fd = raw_hello(&pa, "C", 9, &mine, &ch, NULL);
    ck_assert_int_eq(ch.ok, 1);
    raw_send_verb(fd, BS_VERB_MUTATION, "sneak");
    expect_closed(fd);
    /* 3: the verb as the very first frame, old-protocol style */
    fd = raw_connect(&pa);
    raw_send_verb(fd, BS_VERB_MUTATION, "sneak");
    expect_closed(fd);
    /* 4: a proof frame without a proof */
    fd = raw_hello(&pa, "C", 9, &mine, &ch, NULL);
    bs_msg_hello empty;
    memset(&empty, 0, sizeof empty);
    empty.fields = BS_HELLO_OK;
    empty.ok = 1;
    raw_send_hello(fd, 1, &empty);
    raw_send_verb(fd, BS_VERB_MUTATION, "sneak");
    expect_closed(fd);
    usleep(100000);
    ck_assert_int_eq(atomic_load(&handled), before);
    bs_msg_stats st;
    bs_msg_get_stats(a, &st);
    ck_assert_uint_ge(st.refused, 4);
    bs_msg_stop(a);
}
END_TEST

/* The server's own proof sent back as the client's is refused: proofs
 * are bound to their direction. */
START_TEST(reflected_proof_is_refused) {
    bs_msg *a = start("127.0.0.1", "C", 0);
    bs_msg_peer pa;
    bs_msg_local(a, &pa);
    bs_msg_hello mine, ch;
    int fd = raw_hello(&pa, "C", 9, &mine, &ch, NULL);
    ck_assert_int_eq(ch.ok, 1);
    bs_msg_hello pf;
    memset(&pf, 0, sizeof pf);
    pf.fields = BS_HELLO_PROOF;
    memcpy(pf.proof, ch.proof, sizeof pf.proof);
    raw_send_hello(fd, 1, &pf);
    bs_msg_frame f;
    ck_assert_int_eq(raw_read_frame(fd, &f, NULL), 0);
    bs_msg_hello v;
    char err[128];
    ck_assert_int_eq(bs_msg_hello_decode(f.payload, f.len, &v, err, sizeof err),
                     0);
    bs_msg_frame_free(&f);
    ck_assert_int_eq(v.ok, 0);
    expect_closed(fd);
    bs_msg_stats st;
    bs_msg_get_stats(a, &st);
    ck_assert_uint_eq(st.auth_failures, 1);
    bs_msg_stop(a);
}
END_TEST

/* Connections that never finish their handshake are closed: after the
 * handshake timeout, and the oldest when too many are pending. */
START_TEST(unauthenticated_connections_are_bounded) {
    g_hs_timeout = 200;
    bs_msg *a = start("127.0.0.1", "C", 0);
    g_hs_timeout = 0;
    bs_msg_peer pa;
    bs_msg_local(a, &pa);
    int fd = raw_connect(&pa); /* says nothing */
    expect_closed(fd);
    bs_msg_hello mine, ch; /* says hello, never proves */
    fd = raw_hello(&pa, "C", 9, &mine, &ch, NULL);
    expect_closed(fd);
    bs_msg_stop(a);

    g_max_unauth = 2;
    a = start("127.0.0.1", "C", 0);
    g_max_unauth = 0;
    bs_msg_local(a, &pa);
    int f1 = raw_hello(&pa, "C", 9, &mine, &ch, NULL);
    int f2 = raw_hello(&pa, "C", 9, &mine, &ch, NULL);
    int f3 = raw_hello(&pa, "C", 9, &mine, &ch, NULL); /* evicts f1 */
    expect_closed(f1);
    /* f2 is still served: it can finish and send */
    int before = atomic_load(&oneway);
    bs_msg_hello m2, c2;
    int f4 = raw_hello(&pa, "C", 9, &m2, &c2, NULL); /* evicts f2 */
    expect_closed(f2);
    ck_assert_int_eq(raw_prove(f4, &m2, &c2, SECRET, "C", 0), 1);
    raw_send_verb(f4, BS_VERB_MUTATION, "late but proven");
    ck_assert(wait_for(&oneway, before + 1));
    close(f3);
    close(f4);
    bs_msg_stats st;
    bs_msg_get_stats(a, &st);
    ck_assert_uint_ge(st.refused, 2);
    bs_msg_stop(a);
}
END_TEST

START_TEST(garbage_is_rejected_and_node_stays_up) {
    bs_msg *a = start("127.0.0.1", "C", 0), *b = start("127.0.0.2", "C", 0);
    bs_msg_peer pa;
    bs_msg_local(a, &pa);
    /* 1: random bytes with a plausible length */
    int fd = raw_connect(&pa);
    uint8_t g[20] = {0, 0, 0, 16, 0, 0xc1, 1,  2,  3,  4,
                     5, 6, 7, 8,  9, 10,   11, 12, 13, 14};
    ck_assert_int_eq(write(fd, g, sizeof g), (ssize_t)sizeof g);
    expect_closed(fd);
    /* 2: an oversized frame header */
    fd = raw_connect(&pa);
    uint8_t big[8] = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    ck_assert_int_eq(write(fd, big, sizeof big), (ssize_t)sizeof big);
    expect_closed(fd);
    /* 3: a valid frame that is not a handshake */
    fd = raw_connect(&pa);
    bs_msg_frame f = {
        BS_VERB_MUTATION, BS_MSG_KIND_REQUEST, 1, 0, 0, (uint8_t *)"x", 1};
    bs_buf bb = BS_BUF_INIT;
    bs_msg_frame_encode(&f, 0, MAX, &bb);
    ck_assert_int_eq(write(fd, bb.data, bb.len), (ssize_t)bb.len);
    bs_buf_free(&bb);
    expect_closed(fd);
    /* 4: a truncated frame, then the client goes away */
    fd = raw_connect(&pa);
    ck_assert_int_eq(write(fd, g, 7), 7);
    close(fd);
    bs_msg_stats st;
    bs_msg_get_stats(a, &st);
    ck_assert_uint_ge(st.decode_errors, 3);
    /* still serving real peers */
    resp r;
    memset(&r, 0, sizeof r);
    bs_msg_send(b, &pa, BS_VERB_MUTATION, "ok", 2, 5000, on_resp, &r);
    ck_assert(wait_for(&r.done, 1));
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.body, "re:ok");
    bs_msg_stop(a);
    bs_msg_stop(b);
}
END_TEST

START_TEST(bounded_queue_drops_and_counts) {
    bs_msg *a = start("127.0.0.1", "C", 3);
    /* nothing listens on 127.0.0.3:1: messages wait in the queue */
    bs_msg_peer dead;
    bs_msg_peer_set(&dead, "127.0.0.3", 1);
    resp r[8];
    memset(r, 0, sizeof r);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(bs_msg_send(a, &dead, BS_VERB_MUTATION, "q", 1, 300,
                                     on_resp, &r[i]),
                         0);
    int overload = 0, timedout = 0;
    for (int i = 0; i < 8; i++) {
        ck_assert(wait_for(&r[i].done, 1));
        overload += r[i].status == BS_EOVERLOAD;
        timedout += r[i].status == BS_ETIMEDOUT;
    }
    ck_assert_int_eq(overload, 5);
    ck_assert_int_eq(timedout, 3);
    bs_msg_stats st;
    bs_msg_get_stats(a, &st);
    ck_assert_uint_eq(st.dropped_overflow, 5);
    /* bad arguments */
    ck_assert_int_eq(
        bs_msg_send(a, &dead, BS_VERB_HANDSHAKE, "q", 1, 300, on_resp, &r[0]),
        BS_EINVAL);
    ck_assert_int_eq(
        bs_msg_send(a, &dead, BS_VERB_MAX, "q", 1, 300, on_resp, &r[0]),
        BS_EINVAL);
    ck_assert_int_eq(
        bs_msg_send(a, &dead, BS_VERB_READ, "q", 1, 0, on_resp, &r[0]),
        BS_EINVAL);
    bs_msg_stop(a);
}
END_TEST

typedef struct obs {
    atomic_int up, refused, lost;
} obs;

static void on_conn(void *ud, const bs_msg_peer *p, bs_msg_conn_event ev) {
    (void)p;
    obs *o = ud;
    if (ev == BS_MSG_CONN_UP) atomic_fetch_add(&o->up, 1);
    if (ev == BS_MSG_CONN_REFUSED) atomic_fetch_add(&o->refused, 1);
    if (ev == BS_MSG_CONN_LOST) atomic_fetch_add(&o->lost, 1);
}

START_TEST(reconnects_after_peer_restart) {
    bs_msg *a = start("127.0.0.1", "C", 0), *b = start("127.0.0.2", "C", 0);
    obs o;
    memset(&o, 0, sizeof o);
    bs_msg_set_conn_observer(a, on_conn, &o);
    bs_msg_peer pb;
    bs_msg_local(b, &pb);
    resp r;
    memset(&r, 0, sizeof r);
    bs_msg_send(a, &pb, BS_VERB_MUTATION, "one", 3, 5000, on_resp, &r);
    ck_assert(wait_for(&r.done, 1));
    ck_assert_int_eq(atomic_load(&o.up), 1);
    bs_msg_stop(b);
    ck_assert(wait_for(&o.lost, 1));
    ck_assert(wait_for(&o.refused, 1)); /* the reconnect finds nobody */
    /* the same endpoint comes back */
    bs_msg_opts opt;
    bs_msg_opts_default(&opt);
    opt.cluster_name = "C";
    opt.secret = (const uint8_t *)SECRET;
    opt.secret_len = strlen(SECRET);
    opt.listen_address = "127.0.0.2";
    opt.port = pb.port;
    b = NULL;
    ck_assert_int_eq(bs_msg_start(&opt, &b), 0);
    bs_msg_register(b, BS_VERB_MUTATION, h_test, NULL);
    ck_assert(wait_for(&o.up, 2));
    memset(&r, 0, sizeof r);
    bs_msg_send(a, &pb, BS_VERB_MUTATION, "two", 3, 5000, on_resp, &r);
    ck_assert(wait_for(&r.done, 1));
    ck_assert_str_eq(r.body, "re:two");
    bs_msg_stop(a);
    bs_msg_stop(b);
}
END_TEST

/* What gossip does on convicting a peer: the connection is closed and a
 * fresh one made at once; requests keep working over it. */
START_TEST(reset_peer_reconnects) {
    bs_msg *a = start("127.0.0.1", "C", 0), *b = start("127.0.0.2", "C", 0);
    obs o;
    memset(&o, 0, sizeof o);
    bs_msg_set_conn_observer(a, on_conn, &o);
    bs_msg_peer pb, nobody;
    bs_msg_local(b, &pb);
    resp r;
    memset(&r, 0, sizeof r);
    bs_msg_send(a, &pb, BS_VERB_MUTATION, "one", 3, 5000, on_resp, &r);
    ck_assert(wait_for(&r.done, 1));
    ck_assert_int_eq(atomic_load(&o.up), 1);
    ck_assert_int_eq(bs_msg_reset_peer(a, &pb), 0);
    ck_assert(wait_for(&o.lost, 1));
    ck_assert(wait_for(&o.up, 2));
    /* no connection to it: nothing to reset */
    ck_assert_int_eq(bs_msg_peer_set(&nobody, "127.0.0.9", 9), 0);
    ck_assert_int_eq(bs_msg_reset_peer(a, &nobody), 0);
    memset(&r, 0, sizeof r);
    bs_msg_send(a, &pb, BS_VERB_MUTATION, "two", 3, 5000, on_resp, &r);
    ck_assert(wait_for(&r.done, 1));
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.body, "re:two");
    bs_msg_stats st;
    bs_msg_get_stats(a, &st);
    ck_assert_uint_eq(st.resets, 1);
    ck_assert_uint_eq(st.connects, 2);
    bs_msg_stop(a);
    bs_msg_stop(b);
}
END_TEST

/* A peer that accepts TCP but never answers the handshake (a connection
 * stuck like one whose packets are lost): the attempt is abandoned after
 * connect_timeout_ms and a new connection made. */
START_TEST(silent_peer_is_redialled) {
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.3", &sa.sin_addr);
    ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(ls, 16), 0);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&sa, &sl), 0);
    struct timeval tv = {20, 0};
    setsockopt(ls, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    g_connect_timeout = 200;
    bs_msg *a = start("127.0.0.1", "C", 0);
    g_connect_timeout = 0;
    bs_msg_peer p;
    ck_assert_int_eq(bs_msg_peer_set(&p, "127.0.0.3", ntohs(sa.sin_port)), 0);
    ck_assert_int_eq(bs_msg_send(a, &p, BS_VERB_MUTATION, "x", 1, 0, NULL, NULL), 0);
    int c1 = accept(ls, NULL, NULL);
    ck_assert_int_ge(c1, 0);
    int c2 = accept(ls, NULL, NULL); /* blocks (20 s at most) until redialled */
    ck_assert_int_ge(c2, 0);
    bs_msg_stats st;
    bs_msg_get_stats(a, &st);
    ck_assert_uint_eq(st.connects, 0);
    bs_msg_stop(a);
    close(c1);
    close(c2);
    close(ls);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("msg");
    TCase *t = tcase_create("codec");
    tcase_add_test(t, frame_round_trip_plain_and_lz4);
    tcase_add_test(t, frame_trace_id);
    tcase_add_test(t, frame_rejects_garbage);
    tcase_add_test(t, frame_compress_codec);
    tcase_add_test(t, frame_remaining_timeout);
    tcase_add_test(t, hello_round_trip);
    tcase_add_test(t, peer_parse_endpoints);
    tcase_add_test(t, proof_binds_secret_nonces_direction_and_endpoint);
    suite_add_tcase(s, t);
    t = tcase_create("live");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, request_response_between_instances);
    tcase_add_test(t, burst_is_coalesced_and_answered_in_full);
    tcase_add_test(t, compression_modes_interoperate);
    tcase_add_test(t, timeout_and_close);
    tcase_add_test(t, other_cluster_is_refused);
    tcase_add_test(t, start_needs_a_secret);
    tcase_add_test(t, wrong_secret_is_refused_both_ways);
    tcase_add_test(t, refusal_does_not_name_our_cluster);
    tcase_add_test(t, raw_client_with_the_secret_can_send);
    tcase_add_test(t, skipping_the_proof_cannot_send_a_verb);
    tcase_add_test(t, reflected_proof_is_refused);
    tcase_add_test(t, unauthenticated_connections_are_bounded);
    tcase_add_test(t, garbage_is_rejected_and_node_stays_up);
    tcase_add_test(t, bounded_queue_drops_and_counts);
    tcase_add_test(t, reconnects_after_peer_restart);
    tcase_add_test(t, reset_peer_reconnects);
    tcase_add_test(t, silent_peer_is_redialled);
    suite_add_tcase(s, t);
    return s;
}

int main(void) {
    bs_log_set_level(BS_LOG_ERROR);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
