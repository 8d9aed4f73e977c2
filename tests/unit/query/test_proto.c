/*
 * test_proto.c - unit tests for query/proto*.c: primitives, [option]
 * types, frame headers and the version answer, the streaming decoder
 * (byte by byte, oversize skip, LZ4), every request and response message
 * round trip, golden bytes written by hand from the spec, golden request
 * frames produced by the real python driver (the proto_golden files, see
 * gen_requests.py), truncation at every byte, and the Rows builder.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/proto.h"
#include "query/proto_msg.h"

#ifndef BS_PROTO_GOLDEN_DIR
#define BS_PROTO_GOLDEN_DIR ""
#endif

#define S(lit) ((bs_proto_str){lit, sizeof(lit) - 1})
#define V(lit)                                                                 \
    ((bs_proto_val){(const uint8_t *)(lit), (int32_t)(sizeof(lit) - 1)})

static void ck_str(bs_proto_str s, const char *want) {
    ck_assert_msg(bs_proto_str_eq(s, want), "got '%.*s', want '%s'", (int)s.len,
                  s.p, want);
}

static void ck_val(bs_proto_val v, const void *want, int32_t len) {
    ck_assert_int_eq(v.len, len);
    if (len > 0) ck_assert_int_eq(memcmp(v.p, want, (size_t)len), 0);
}

/* Feeds all bytes to a fresh server-side (or client-side) decoder and
 * expects exactly one frame; copies the body into *body (heap). */
static int decode_one(const uint8_t *p, size_t n, int response,
                      bs_proto_compression comp, bs_proto_frame *f,
                      bs_buf *body) {
    bs_proto_decoder *d;
    bs_proto_header_opts o = {0, (uint8_t)response};
    ck_assert_int_eq(bs_proto_decoder_new(&o, &d), 0);
    bs_proto_decoder_set_compression(d, comp);
    ck_assert_int_eq(bs_proto_decoder_feed(d, p, n), 0);
    int rc = bs_proto_decoder_next(d, f);
    if (rc == 0) {
        bs_buf_reset(body);
        ck_assert_int_eq(bs_buf_append(body, f->body, f->body_len), 0);
        f->body = body->data;
        ck_assert_int_eq(bs_proto_decoder_pending(d), 0);
    }
    bs_proto_decoder_free(d);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Primitives                                                          */
/* ------------------------------------------------------------------ */

START_TEST(prim_round_trip) {
    bs_buf b = BS_BUF_INIT;
    bs_arena a;
    bs_arena_init(&a, 0);
    uint8_t uuid[16];
    for (int i = 0; i < 16; i++)
        uuid[i] = (uint8_t)(i * 7);
    bs_proto_str l_items[] = {S("a"), S(""), S("ccc")};
    bs_proto_strlist l = {3, l_items};
    bs_proto_strpair m_items[] = {{S("k1"), S("v1")}, {S("k2"), S("")}};
    bs_proto_strmap m = {2, m_items};
    bs_proto_str mm_v[] = {S("x"), S("y")};
    bs_proto_multimap_entry mm_items[] = {{S("CQL_VERSION"), {2, mm_v}},
                                          {S("E"), {0, NULL}}};
    bs_proto_multimap mm = {2, mm_items};
    bs_proto_bytesmap_entry bm_items[] = {{S("p"), V("\x00\x01")},
                                          {S("n"), {NULL, -1}}};
    bs_proto_bytesmap bm = {2, bm_items};
    bs_proto_inet in4 = {4, {127, 0, 0, 2}, 9042};
    bs_proto_inet in6 = {16, {0xfe, 0x80, [15] = 1}, 7000};

    ck_assert_int_eq(bs_proto_wr_byte(&b, 0xfe), 0);
    ck_assert_int_eq(bs_proto_wr_short(&b, 0xfffe), 0);
    ck_assert_int_eq(bs_proto_wr_int(&b, -5), 0);
    ck_assert_int_eq(bs_proto_wr_long(&b, INT64_MIN + 3), 0);
    ck_assert_int_eq(bs_proto_wr_cstring(&b, "héllo"), 0);
    ck_assert_int_eq(bs_proto_wr_long_string(&b, "long", 4), 0);
    ck_assert_int_eq(bs_proto_wr_uuid(&b, uuid), 0);
    ck_assert_int_eq(bs_proto_wr_value(&b, V("xyz")), 0);
    ck_assert_int_eq(bs_proto_wr_value(&b, (bs_proto_val){NULL, BS_PROTO_NULL}),
                     0);
    ck_assert_int_eq(
        bs_proto_wr_value(&b, (bs_proto_val){NULL, BS_PROTO_UNSET}), 0);
    ck_assert_int_eq(
        bs_proto_wr_value(&b, (bs_proto_val){(const uint8_t *)"", 0}), 0);
    ck_assert_int_eq(bs_proto_wr_short_bytes(&b, "\x01\x02", 2), 0);
    ck_assert_int_eq(bs_proto_wr_short(&b, BS_CL_LOCAL_ONE), 0);
    ck_assert_int_eq(bs_proto_wr_inet(&b, &in4), 0);
    ck_assert_int_eq(bs_proto_wr_inetaddr(&b, &in6), 0);
    ck_assert_int_eq(bs_proto_wr_string_list(&b, &l), 0);
    ck_assert_int_eq(bs_proto_wr_string_map(&b, &m), 0);
    ck_assert_int_eq(bs_proto_wr_string_multimap(&b, &mm), 0);
    ck_assert_int_eq(bs_proto_wr_bytes_map(&b, &bm), 0);

    bs_proto_rd r;
    bs_proto_rd_init(&r, b.data, b.len);
    uint8_t u8;
    uint16_t u16;
    int32_t i32;
    int64_t i64;
    bs_proto_str s;
    bs_proto_val v;
    const uint8_t *u;
    bs_proto_inet in;
    ck_assert_int_eq(bs_proto_rd_byte(&r, "b", &u8), 0);
    ck_assert_uint_eq(u8, 0xfe);
    ck_assert_int_eq(bs_proto_rd_short(&r, "s", &u16), 0);
    ck_assert_uint_eq(u16, 0xfffe);
    ck_assert_int_eq(bs_proto_rd_int(&r, "i", &i32), 0);
    ck_assert_int_eq(i32, -5);
    ck_assert_int_eq(bs_proto_rd_long(&r, "l", &i64), 0);
    ck_assert(i64 == INT64_MIN + 3);
    ck_assert_int_eq(bs_proto_rd_string(&r, "s", &s), 0);
    ck_str(s, "héllo");
    ck_assert_int_eq(bs_proto_rd_long_string(&r, "ls", &s), 0);
    ck_str(s, "long");
    ck_assert_int_eq(bs_proto_rd_uuid(&r, "u", &u), 0);
    ck_assert_int_eq(memcmp(u, uuid, 16), 0);
    ck_assert_int_eq(bs_proto_rd_value(&r, "v", &v), 0);
    ck_val(v, "xyz", 3);
    ck_assert_int_eq(bs_proto_rd_value(&r, "v", &v), 0);
    ck_assert_int_eq(v.len, BS_PROTO_NULL);
    ck_assert_int_eq(bs_proto_rd_value(&r, "v", &v), 0);
    ck_assert_int_eq(v.len, BS_PROTO_UNSET);
    ck_assert_int_eq(bs_proto_rd_bytes(&r, "v", &v), 0);
    ck_assert_int_eq(v.len, 0);
    ck_assert_ptr_nonnull(v.p);
    ck_assert_int_eq(bs_proto_rd_short_bytes(&r, "sb", &v), 0);
    ck_val(v, "\x01\x02", 2);
    ck_assert_int_eq(bs_proto_rd_consistency(&r, "cl", &u16), 0);
    ck_assert_uint_eq(u16, BS_CL_LOCAL_ONE);
    ck_assert_int_eq(bs_proto_rd_inet(&r, "in", &in), 0);
    ck_assert_uint_eq(in.addr_len, 4);
    ck_assert_int_eq(in.port, 9042);
    ck_assert_int_eq(memcmp(in.addr, in4.addr, 4), 0);
    ck_assert_int_eq(bs_proto_rd_inetaddr(&r, "in6", &in), 0);
    ck_assert_uint_eq(in.addr_len, 16);
    ck_assert_int_eq(memcmp(in.addr, in6.addr, 16), 0);
    bs_proto_strlist l2;
    bs_proto_strmap m2;
    bs_proto_multimap mm2;
    bs_proto_bytesmap bm2;
    ck_assert_int_eq(bs_proto_rd_string_list(&r, &a, "l", &l2), 0);
    ck_assert_uint_eq(l2.n, 3);
    ck_str(l2.items[0], "a");
    ck_str(l2.items[1], "");
    ck_str(l2.items[2], "ccc");
    ck_assert_int_eq(bs_proto_rd_string_map(&r, &a, "m", &m2), 0);
    ck_assert_uint_eq(m2.n, 2);
    ck_str(m2.items[0].key, "k1");
    ck_str(m2.items[0].val, "v1");
    ck_str(m2.items[1].key, "k2");
    ck_str(m2.items[1].val, "");
    ck_assert_int_eq(bs_proto_rd_string_multimap(&r, &a, "mm", &mm2), 0);
    ck_assert_uint_eq(mm2.n, 2);
    ck_str(mm2.items[0].key, "CQL_VERSION");
    ck_assert_uint_eq(mm2.items[0].vals.n, 2);
    ck_str(mm2.items[0].vals.items[1], "y");
    ck_assert_uint_eq(mm2.items[1].vals.n, 0);
    ck_assert_int_eq(bs_proto_rd_bytes_map(&r, &a, "bm", &bm2), 0);
    ck_assert_uint_eq(bm2.n, 2);
    ck_str(bm2.items[0].key, "p");
    ck_val(bm2.items[0].val, "\x00\x01", 2);
    ck_assert_int_eq(bm2.items[1].val.len, BS_PROTO_NULL);
    ck_assert_uint_eq(bs_proto_rd_left(&r), 0);
    /* past the end: sticky truncation with a message */
    ck_assert_int_eq(bs_proto_rd_int(&r, "trailer", &i32), BS_ETRUNC);
    ck_assert_ptr_nonnull(strstr(r.msg, "trailer"));
    ck_assert_int_eq(bs_proto_rd_byte(&r, "x", &u8), BS_ETRUNC);
    ck_assert_ptr_nonnull(strstr(r.msg, "trailer")); /* first error kept */
    bs_arena_free(&a);
    bs_buf_free(&b);
}
END_TEST

START_TEST(prim_rejects_malformed) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_proto_rd r;
    bs_proto_val v;
    uint16_t cl;
    bs_proto_inet in;
    bs_proto_str s;
    bs_proto_strlist l;
    /* [value] of length -3 */
    bs_proto_rd_init(&r, "\xff\xff\xff\xfd", 4);
    ck_assert_int_eq(bs_proto_rd_value(&r, "bound value", &v), BS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.msg, "-3"));
    /* ...while [bytes] treats any negative length as null */
    bs_proto_rd_init(&r, "\xff\xff\xff\xfd", 4);
    ck_assert_int_eq(bs_proto_rd_bytes(&r, "b", &v), 0);
    ck_assert_int_eq(v.len, BS_PROTO_NULL);
    /* [bytes] longer than the input; the reader does not advance */
    bs_proto_rd_init(&r, "\x00\x00\x00\x05\x01\x02", 6);
    ck_assert_int_eq(bs_proto_rd_bytes(&r, "cell", &v), BS_ETRUNC);
    ck_assert_uint_eq(r.pos, 0);
    /* unknown consistency */
    bs_proto_rd_init(&r, "\x00\x0b", 2);
    ck_assert_int_eq(bs_proto_rd_consistency(&r, "consistency", &cl),
                     BS_EPROTO);
    /* inet with a 5-byte address */
    bs_proto_rd_init(&r, "\x05\x01\x02\x03\x04\x05\x00\x00\x00\x01", 10);
    ck_assert_int_eq(bs_proto_rd_inet(&r, "addr", &in), BS_EPROTO);
    /* negative [long string] length */
    bs_proto_rd_init(&r, "\x80\x00\x00\x00", 4);
    ck_assert_int_eq(bs_proto_rd_long_string(&r, "query", &s), BS_EPROTO);
    /* a string list claiming 65535 entries in 4 bytes: refused before
     * allocating anything */
    size_t before = a.total;
    bs_proto_rd_init(&r, "\xff\xff\x00\x00\x00\x00", 6);
    ck_assert_int_eq(bs_proto_rd_string_list(&r, &a, "events", &l), BS_ETRUNC);
    ck_assert_uint_eq(a.total, before);
    /* writer range checks */
    bs_buf b = BS_BUF_INIT;
    char *big = calloc(1, 70000);
    ck_assert_int_eq(bs_proto_wr_string(&b, big, 70000), BS_ERANGE);
    ck_assert_int_eq(bs_proto_wr_long_string(&b, big, 70000), 0);
    free(big);
    bs_proto_inet bad = {5, {0}, 0};
    ck_assert_int_eq(bs_proto_wr_inet(&b, &bad), BS_EINVAL);
    bs_buf_free(&b);
    bs_arena_free(&a);
}
END_TEST

START_TEST(names_and_codes) {
    ck_assert_int_eq(BS_PROTO_ERR_SERVER, 0x0000);
    ck_assert_int_eq(BS_PROTO_ERR_PROTOCOL, 0x000A);
    ck_assert_int_eq(BS_PROTO_ERR_BAD_CREDENTIALS, 0x0100);
    ck_assert_int_eq(BS_PROTO_ERR_UNAVAILABLE, 0x1000);
    ck_assert_int_eq(BS_PROTO_ERR_OVERLOADED, 0x1001);
    ck_assert_int_eq(BS_PROTO_ERR_IS_BOOTSTRAPPING, 0x1002);
    ck_assert_int_eq(BS_PROTO_ERR_TRUNCATE, 0x1003);
    ck_assert_int_eq(BS_PROTO_ERR_WRITE_TIMEOUT, 0x1100);
    ck_assert_int_eq(BS_PROTO_ERR_READ_TIMEOUT, 0x1200);
    ck_assert_int_eq(BS_PROTO_ERR_READ_FAILURE, 0x1300);
    ck_assert_int_eq(BS_PROTO_ERR_FUNCTION_FAILURE, 0x1400);
    ck_assert_int_eq(BS_PROTO_ERR_WRITE_FAILURE, 0x1500);
    ck_assert_int_eq(BS_PROTO_ERR_SYNTAX, 0x2000);
    ck_assert_int_eq(BS_PROTO_ERR_UNAUTHORIZED, 0x2100);
    ck_assert_int_eq(BS_PROTO_ERR_INVALID, 0x2200);
    ck_assert_int_eq(BS_PROTO_ERR_CONFIG, 0x2300);
    ck_assert_int_eq(BS_PROTO_ERR_ALREADY_EXISTS, 0x2400);
    ck_assert_int_eq(BS_PROTO_ERR_UNPREPARED, 0x2500);
    ck_assert_str_eq(bs_proto_consistency_name(BS_CL_LOCAL_QUORUM),
                     "LOCAL_QUORUM");
    ck_assert_str_eq(bs_proto_consistency_name(BS_CL_LOCAL_ONE), "LOCAL_ONE");
    ck_assert_ptr_null(bs_proto_consistency_name(11));
    ck_assert_str_eq(bs_proto_opcode_name(BS_PROTO_OP_BATCH), "BATCH");
    ck_assert_str_eq(bs_proto_errcode_name(0x2500), "Unprepared");
    int nreq = 0, nresp = 0;
    for (int op = 0; op < 256; op++) {
        nreq += bs_proto_opcode_valid((uint8_t)op, 0);
        nresp += bs_proto_opcode_valid((uint8_t)op, 1);
    }
    ck_assert_int_eq(nreq, 8);
    ck_assert_int_eq(nresp, 8);
    ck_assert(!bs_proto_opcode_valid(0x04, 0) &&
              !bs_proto_opcode_valid(0x04, 1));
}
END_TEST

/* ------------------------------------------------------------------ */
/* [option] types                                                      */
/* ------------------------------------------------------------------ */

static bs_type *udt_address(void) {
    bs_type *t = bs_type_new(BS_TYPE_UDT);
    t->keyspace = strdup("ks");
    t->name = strdup("address");
    bs_type_add_param(t, bs_type_new(BS_TYPE_VARCHAR), "street");
    bs_type_add_param(t, bs_type_new(BS_TYPE_INT), "zip");
    bs_type_add_param(
        t, bs_type_new_coll(BS_TYPE_LIST, bs_type_new(BS_TYPE_INET), NULL),
        "ips");
    return t;
}

START_TEST(type_round_trip) {
    bs_type *types[8];
    int n = 0;
    types[n++] = bs_type_new(BS_TYPE_TIMEUUID);
    types[n++] = bs_type_new_coll(
        BS_TYPE_MAP, bs_type_new(BS_TYPE_VARCHAR),
        bs_type_new_coll(
            BS_TYPE_LIST,
            bs_type_new_coll(BS_TYPE_SET, bs_type_new(BS_TYPE_BIGINT), NULL),
            NULL));
    bs_type *tup = bs_type_new(BS_TYPE_TUPLE);
    bs_type_add_param(tup, bs_type_new(BS_TYPE_TINYINT), NULL);
    bs_type_add_param(tup, udt_address(), NULL);
    bs_type_add_param(tup, bs_type_new(BS_TYPE_DATE), NULL);
    types[n++] = tup;
    bs_type *custom = bs_type_new(BS_TYPE_CUSTOM);
    custom->name = strdup("org.example.MyType");
    types[n++] = custom;
    types[n++] = bs_type_new(BS_TYPE_DURATION);
    types[n++] = bs_type_new(BS_TYPE_SMALLINT);
    bs_buf b = BS_BUF_INIT;
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(bs_proto_wr_type(&b, types[i]), 0);
    /* duration goes out as Cassandra's v4 custom class */
    ck_assert_ptr_nonnull(memmem(b.data, b.len, BS_PROTO_DURATION_CLASS,
                                 strlen(BS_PROTO_DURATION_CLASS)));
    /* map<varchar, list<set<bigint>>> is 0021 000d 0020 0022 0002 */
    static const uint8_t map_bytes[] = {0x00, 0x21, 0x00, 0x0d, 0x00,
                                        0x20, 0x00, 0x22, 0x00, 0x02};
    ck_assert_int_eq(memcmp(b.data + 2, map_bytes, sizeof map_bytes), 0);

    bs_arena a;
    bs_arena_init(&a, 0);
    bs_proto_rd r;
    bs_proto_rd_init(&r, b.data, b.len);
    for (int i = 0; i < n; i++) {
        bs_type *t;
        ck_assert_int_eq(bs_proto_rd_type(&r, &a, "type", &t), 0);
        ck_assert_msg(bs_type_equal(t, types[i]), "type %d differs", i);
        bs_type *heap = bs_type_clone(t); /* arena trees clone to heap */
        ck_assert(bs_type_equal(heap, types[i]));
        bs_type_free(heap);
    }
    ck_assert_uint_eq(bs_proto_rd_left(&r), 0);
    for (int i = 0; i < n; i++)
        bs_type_free(types[i]);

    /* 0x0015 (v5 duration) and 0x000A (v1 text) are understood */
    bs_type *t;
    bs_proto_rd_init(&r, "\x00\x15\x00\x0a", 4);
    ck_assert_int_eq(bs_proto_rd_type(&r, &a, "t", &t), 0);
    ck_assert_uint_eq(t->kind, BS_TYPE_DURATION);
    ck_assert_int_eq(bs_proto_rd_type(&r, &a, "t", &t), 0);
    ck_assert_uint_eq(t->kind, BS_TYPE_VARCHAR);
    /* unknown id, truncated map, absurd nesting */
    bs_proto_rd_init(&r, "\x00\x0b\x00\x16", 4);
    ck_assert_int_eq(bs_proto_rd_type(&r, &a, "t", &t), 0);
    ck_assert_int_eq(bs_proto_rd_type(&r, &a, "column type", &t), BS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.msg, "0x0016"));
    bs_proto_rd_init(&r, "\x00\x21\x00\x01", 4);
    ck_assert_int_eq(bs_proto_rd_type(&r, &a, "t", &t), BS_ETRUNC);
    bs_buf_reset(&b);
    for (int i = 0; i < 200; i++)
        bs_proto_wr_short(&b, BS_TYPE_LIST);
    bs_proto_wr_short(&b, BS_TYPE_INT);
    bs_proto_rd_init(&r, b.data, b.len);
    ck_assert_int_eq(bs_proto_rd_type(&r, &a, "t", &t), BS_EPROTO);
    /* malformed descriptors are refused by the writer */
    bs_type *badmap = bs_type_new(BS_TYPE_MAP);
    ck_assert_int_eq(bs_proto_wr_type(&b, badmap), BS_EINVAL);
    bs_type_free(badmap);
    bs_arena_free(&a);
    bs_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Headers, versions, golden frames                                    */
/* ------------------------------------------------------------------ */

/* STARTUP {CQL_VERSION: 3.0.0} on stream 1, written by hand from spec
 * sections 2 and 4.1.1. */
static const uint8_t golden_startup[] = {
    0x04, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x16, 0x00, 0x01,
    0x00, 0x0b, 'C',  'Q',  'L',  '_',  'V',  'E',  'R',  'S',  'I',
    'O',  'N',  0x00, 0x05, '3',  '.',  '0',  '.',  '0'};

static const uint8_t golden_ready[] = {0x84, 0x00, 0x00, 0x01, 0x02,
                                       0x00, 0x00, 0x00, 0x00};

START_TEST(golden_startup_and_ready) {
    bs_buf b = BS_BUF_INIT, body = BS_BUF_INIT;
    bs_proto_strpair kv[] = {{S("CQL_VERSION"), S("3.0.0")}};
    bs_proto_request req;
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_STARTUP;
    req.u.startup.options = (bs_proto_strmap){1, kv};
    /* even if asked to compress, STARTUP goes out plain */
    ck_assert_int_eq(bs_proto_request_encode(&b, 1, &req, BS_PROTO_COMP_LZ4),
                     0);
    ck_assert_uint_eq(b.len, sizeof golden_startup);
    ck_assert_int_eq(memcmp(b.data, golden_startup, b.len), 0);

    bs_proto_frame f;
    ck_assert_int_eq(
        decode_one(golden_startup, sizeof golden_startup, 0, 0, &f, &body), 0);
    ck_assert_uint_eq(f.h.version, 4);
    ck_assert_int_eq(f.h.stream, 1);
    ck_assert_uint_eq(f.h.opcode, BS_PROTO_OP_STARTUP);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_proto_request got;
    bs_proto_rd r;
    ck_assert_int_eq(bs_proto_request_decode(&f, &a, &got, &r), 0);
    ck_str(got.u.startup.cql_version, "3.0.0");
    ck_assert_int_eq(got.u.startup.compression, BS_PROTO_COMP_NONE);

    bs_buf_reset(&b);
    bs_proto_response resp;
    memset(&resp, 0, sizeof resp);
    resp.opcode = BS_PROTO_OP_READY;
    ck_assert_int_eq(bs_proto_response_encode(&b, 1, &resp, BS_PROTO_COMP_LZ4),
                     0);
    ck_assert_uint_eq(b.len, sizeof golden_ready);
    ck_assert_int_eq(memcmp(b.data, golden_ready, b.len),
                     0); /* empty body: never compressed */
    bs_arena_free(&a);
    bs_buf_free(&b);
    bs_buf_free(&body);
}
END_TEST

START_TEST(header_validation) {
    bs_proto_header h;
    char msg[200];
    bs_proto_header_opts srv = {0, 0};
    /* need more */
    ck_assert_int_eq(
        bs_proto_header_parse(golden_startup, 0, &srv, &h, msg, sizeof msg),
        BS_EAGAIN);
    ck_assert_int_eq(
        bs_proto_header_parse(golden_startup, 8, &srv, &h, msg, sizeof msg),
        BS_EAGAIN);
    ck_assert_int_eq(
        bs_proto_header_parse(golden_startup, 9, &srv, &h, msg, sizeof msg), 0);
    ck_assert_uint_eq(h.length, 22);
    /* v5 and v6 headers: the version error, with the stream to answer */
    uint8_t v5[9] = {0x05, 0x00, 0x00, 0x07, 0x01, 0x00, 0x00, 0x00, 0x16};
    ck_assert_int_eq(bs_proto_header_parse(v5, 9, &srv, &h, msg, sizeof msg),
                     BS_ENOTSUP);
    ck_assert_uint_eq(h.version, 5);
    ck_assert_int_eq(h.stream, 7);
    ck_assert_str_eq(
        msg,
        "Invalid or unsupported protocol version (5); the lowest supported "
        "version is 3 and the greatest is 4");
    v5[0] = 0x06;
    ck_assert_int_eq(bs_proto_header_parse(v5, 9, &srv, &h, msg, sizeof msg),
                     BS_ENOTSUP);
    ck_assert_ptr_nonnull(strstr(msg, "unsupported protocol version (6)"));
    /* v3 is served: same 9-byte header */
    uint8_t v3[9] = {0x03, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00};
    ck_assert_int_eq(bs_proto_header_parse(v3, 9, &srv, &h, msg, sizeof msg),
                     0);
    ck_assert_uint_eq(h.version, 3);
    ck_assert_int_eq(h.stream, 256);
    ck_assert_uint_eq(h.opcode, BS_PROTO_OP_OPTIONS);
    /* v2: 8-byte header with a 1-byte stream */
    uint8_t v2[8] = {0x02, 0x00, 0x05, 0x05, 0x00, 0x00, 0x00, 0x00};
    ck_assert_int_eq(bs_proto_header_parse(v2, 7, &srv, &h, msg, sizeof msg),
                     BS_EAGAIN);
    ck_assert_int_eq(bs_proto_header_parse(v2, 8, &srv, &h, msg, sizeof msg),
                     BS_ENOTSUP);
    ck_assert_int_eq(h.stream, 5);
    /* bad opcodes: unknown, 0x04, a response opcode in a request */
    uint8_t bad[9] = {0x04, 0x00, 0x00, 0x01, 0x42, 0x00, 0x00, 0x00, 0x00};
    ck_assert_int_eq(bs_proto_header_parse(bad, 9, &srv, &h, msg, sizeof msg),
                     BS_EPROTO);
    ck_assert_ptr_nonnull(strstr(msg, "Unknown opcode 0x42"));
    bad[4] = 0x04;
    ck_assert_int_eq(bs_proto_header_parse(bad, 9, &srv, &h, msg, sizeof msg),
                     BS_EPROTO);
    bad[4] = BS_PROTO_OP_RESULT;
    ck_assert_int_eq(bs_proto_header_parse(bad, 9, &srv, &h, msg, sizeof msg),
                     BS_EPROTO);
    ck_assert_ptr_nonnull(strstr(msg, "Wrong protocol direction"));
    /* a response frame sent to the server */
    bad[0] = 0x84;
    bad[4] = BS_PROTO_OP_QUERY;
    ck_assert_int_eq(bs_proto_header_parse(bad, 9, &srv, &h, msg, sizeof msg),
                     BS_EPROTO);
    /* frame size limit: default 256 MiB, configurable */
    uint8_t big[9] = {0x04, 0x00, 0x00, 0x03, 0x07, 0x10, 0x00, 0x00, 0x01};
    ck_assert_int_eq(bs_proto_header_parse(big, 9, &srv, &h, msg, sizeof msg),
                     BS_ETOOBIG);
    ck_assert_int_eq(h.stream, 3);
    ck_assert_ptr_nonnull(
        strstr(msg, "exceeds maximum allowed length 268435456"));
    big[5] = 0x01; /* 16 MiB + 1 */
    ck_assert_int_eq(bs_proto_header_parse(big, 9, &srv, &h, msg, sizeof msg),
                     0);
    bs_proto_header_opts small = {16u << 20, 0};
    ck_assert_int_eq(bs_proto_header_parse(big, 9, &small, &h, msg, sizeof msg),
                     BS_ETOOBIG);
    big[5] = 0x80; /* "negative" */
    ck_assert_int_eq(bs_proto_header_parse(big, 9, &srv, &h, msg, sizeof msg),
                     BS_EPROTO);
}
END_TEST

START_TEST(version_error_frames) {
    bs_buf b = BS_BUF_INIT, body = BS_BUF_INIT;
    bs_arena a;
    bs_arena_init(&a, 0);
    /* v5 client: answered in v4 on its stream */
    ck_assert_int_eq(bs_proto_version_error_frame(&b, 0x05, 7), 0);
    ck_assert_uint_eq(b.data[0], 0x84);
    bs_proto_frame f;
    ck_assert_int_eq(decode_one(b.data, b.len, 1, 0, &f, &body), 0);
    ck_assert_int_eq(f.h.stream, 7);
    ck_assert_uint_eq(f.h.opcode, BS_PROTO_OP_ERROR);
    bs_proto_response resp;
    bs_proto_rd r;
    ck_assert_int_eq(bs_proto_response_decode(&f, &a, &resp, &r), 0);
    ck_assert_int_eq(resp.u.error.code, BS_PROTO_ERR_PROTOCOL);
    ck_str(resp.u.error.message,
           "Invalid or unsupported protocol version (5); the lowest "
           "supported version is 3 and the greatest is 4");
    /* v3 client: answered in v3 (9-byte header) */
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_proto_version_error_frame(&b, 0x03, 300), 0);
    ck_assert_uint_eq(b.data[0], 0x83);
    ck_assert_uint_eq(bs_get_u16(b.data + 2), 300);
    ck_assert_uint_eq(b.data[4], 0);
    ck_assert_uint_eq(bs_get_u32(b.data + 5), b.len - 9);
    ck_assert_uint_eq(bs_get_u32(b.data + 9), 0x000A);
    /* v1 client: 8-byte header, 1-byte stream */
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_proto_version_error_frame(&b, 0x01, 5), 0);
    ck_assert_uint_eq(b.data[0], 0x81);
    ck_assert_uint_eq(b.data[2], 5);
    ck_assert_uint_eq(b.data[3], 0);
    ck_assert_uint_eq(bs_get_u32(b.data + 4), b.len - 8);
    bs_arena_free(&a);
    bs_buf_free(&b);
    bs_buf_free(&body);
}
END_TEST

/* A response frame given the tracing id after it was written (the
 * executor's tracing): flag 0x02, the 16-byte id first in the body, the
 * message unchanged after it, plain and lz4-compressed. */
START_TEST(frame_add_tracing) {
    for (int comp = 0; comp < 2; comp++) {
        bs_buf b = BS_BUF_INIT, body = BS_BUF_INIT;
        bs_arena a;
        bs_arena_init(&a, 0);
        ck_assert_int_eq(bs_buf_append(&b, "junk", 4), 0); /* an earlier frame's bytes */
        size_t start;
        ck_assert_int_eq(bs_proto_frame_begin(&b, 1, 0, 9, BS_PROTO_OP_RESULT, &start), 0);
        uint8_t msg[40] = {0, 0, 0, 1}; /* Void, then padding that compresses */
        ck_assert_int_eq(bs_buf_append(&b, msg, 4), 0);
        ck_assert_int_eq(bs_proto_frame_end(&b, start, comp ? BS_PROTO_COMP_LZ4 : BS_PROTO_COMP_NONE), 0);
        uint8_t id[16];
        for (int i = 0; i < 16; i++) id[i] = (uint8_t)(i * 7 + 1);
        ck_assert_int_eq(bs_proto_frame_add_tracing(&b, start, id,
                                                    comp ? BS_PROTO_COMP_LZ4 : BS_PROTO_COMP_NONE), 0);
        ck_assert_int_eq(memcmp(b.data, "junk", 4), 0);
        ck_assert_uint_eq(b.data[start + 1] & BS_PROTO_FLAG_TRACING, BS_PROTO_FLAG_TRACING);
        ck_assert_uint_eq((b.data[start + 1] & BS_PROTO_FLAG_COMPRESSED) != 0, comp);
        bs_proto_frame f;
        ck_assert_int_eq(decode_one(b.data + start, b.len - start, 1, comp ? BS_PROTO_COMP_LZ4 : 0,
                                    &f, &body), 0);
        bs_proto_response resp;
        bs_proto_rd r;
        ck_assert_int_eq(bs_proto_response_decode(&f, &a, &resp, &r), 0);
        ck_assert_ptr_nonnull(resp.prelude.tracing_id);
        ck_assert_int_eq(memcmp(resp.prelude.tracing_id, id, 16), 0);
        ck_assert_int_eq(resp.u.result.kind, 1);
        /* not a whole frame there */
        ck_assert_int_eq(bs_proto_frame_add_tracing(&b, b.len - 3, id, 0), BS_EINVAL);
        bs_arena_free(&a);
        bs_buf_free(&b);
        bs_buf_free(&body);
    }
}
END_TEST

/* RESULT Rows, written by hand from spec 4.2.5.2: global table spec
 * ks.t, columns k int and v varchar, rows (1, 'a') and (2, null). */
static const uint8_t golden_rows[] = {
    0x84, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x3a,
    0x00, 0x00, 0x00, 0x02,                  /* kind Rows */
    0x00, 0x00, 0x00, 0x01,                  /* Global_tables_spec */
    0x00, 0x00, 0x00, 0x02,                  /* 2 columns */
    0x00, 0x02, 'k',  's',  0x00, 0x01, 't', /* ks, t */
    0x00, 0x01, 'k',  0x00, 0x09,            /* k int */
    0x00, 0x01, 'v',  0x00, 0x0d,            /* v varchar */
    0x00, 0x00, 0x00, 0x02,                  /* 2 rows */
    0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x01, 'a',  0x00, 0x00, 0x00, 0x04, 0x00,
    0x00, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff};

START_TEST(golden_rows_result) {
    bs_buf b = BS_BUF_INIT, body = BS_BUF_INIT;
    bs_type *ti = bs_type_new(BS_TYPE_INT), *tv = bs_type_new(BS_TYPE_VARCHAR);
    bs_proto_colspec cols[] = {{S("ks"), S("t"), S("k"), ti},
                               {S("ks"), S("t"), S("v"), tv}};
    bs_proto_meta meta = {0, 2, cols, {NULL, BS_PROTO_NULL}};
    size_t start;
    bs_proto_rows_builder rb;
    ck_assert_int_eq(
        bs_proto_frame_begin(&b, 1, 0, 0, BS_PROTO_OP_RESULT, &start), 0);
    ck_assert_int_eq(bs_proto_rows_begin(&rb, &b, &meta), 0);
    ck_assert_int_eq(bs_proto_rows_cell(&rb, "\x00\x00\x00\x01", 4), 0);
    ck_assert_int_eq(bs_proto_rows_cell(&rb, "a", 1), 0);
    uint8_t *dst;
    ck_assert_int_eq(bs_proto_rows_cell_reserve(&rb, 4, &dst), 0);
    memcpy(dst, "\x00\x00\x00\x02", 4);
    ck_assert_int_eq(bs_proto_rows_count(&rb), 1);
    ck_assert_int_eq(bs_proto_rows_cell(&rb, NULL, -1), 0);
    ck_assert_int_eq(bs_proto_rows_finish(&rb), 0);
    ck_assert_int_eq(bs_proto_frame_end(&b, start, BS_PROTO_COMP_NONE), 0);
    ck_assert_uint_eq(b.len, sizeof golden_rows);
    ck_assert_int_eq(memcmp(b.data, golden_rows, b.len), 0);

    /* client side decode of the hand-written bytes */
    bs_proto_frame f;
    ck_assert_int_eq(
        decode_one(golden_rows, sizeof golden_rows, 1, 0, &f, &body), 0);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_proto_response resp;
    bs_proto_rd r;
    ck_assert_int_eq(bs_proto_response_decode(&f, &a, &resp, &r), 0);
    bs_proto_rows *rows = &resp.u.result.u.rows;
    ck_assert_int_eq(resp.u.result.kind, BS_PROTO_RESULT_ROWS);
    ck_assert_uint_eq(rows->meta.ncols, 2);
    ck_assert_int_eq(rows->meta.paging_state.len, BS_PROTO_NULL);
    ck_str(rows->meta.cols[1].keyspace, "ks");
    ck_str(rows->meta.cols[1].table, "t");
    ck_str(rows->meta.cols[1].name, "v");
    ck_assert_uint_eq(rows->meta.cols[0].type->kind, BS_TYPE_INT);
    ck_assert_uint_eq(rows->meta.cols[1].type->kind, BS_TYPE_VARCHAR);
    ck_assert_int_eq(rows->nrows, 2);
    bs_proto_rows_iter it;
    bs_proto_val cells[2];
    bs_proto_rows_iter_init(&it, rows);
    ck_assert_int_eq(bs_proto_rows_next(&it, cells), 1);
    ck_val(cells[0], "\x00\x00\x00\x01", 4);
    ck_val(cells[1], "a", 1);
    ck_assert_int_eq(bs_proto_rows_next(&it, cells), 1);
    ck_val(cells[0], "\x00\x00\x00\x02", 4);
    ck_assert_int_eq(cells[1].len, BS_PROTO_NULL);
    ck_assert_int_eq(bs_proto_rows_next(&it, cells), 0);
    bs_arena_free(&a);
    bs_type_free(ti);
    bs_type_free(tv);
    bs_buf_free(&b);
    bs_buf_free(&body);
}
END_TEST

START_TEST(rows_builder_paging_and_errors) {
    bs_buf b = BS_BUF_INIT, body = BS_BUF_INIT;
    bs_type *tb = bs_type_new(BS_TYPE_BLOB);
    bs_type *tl =
        bs_type_new_coll(BS_TYPE_LIST, bs_type_new(BS_TYPE_VARCHAR), NULL);
    /* different tables: no global spec, per-column ks/table */
    bs_proto_colspec cols[] = {{S("ks1"), S("a"), S("x"), tb},
                               {S("ks2"), S("b"), S("y"), tl}};
    bs_proto_meta meta = {0, 2, cols, {NULL, BS_PROTO_NULL}};
    size_t start;
    bs_proto_rows_builder rb;
    ck_assert_int_eq(
        bs_proto_frame_begin(&b, 1, 0, 42, BS_PROTO_OP_RESULT, &start), 0);
    ck_assert_int_eq(bs_proto_rows_begin(&rb, &b, &meta), 0);
    char cell[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(cell, sizeof cell, "row%d", i);
        ck_assert_int_eq(bs_proto_rows_cell(&rb, cell, n), 0);
        ck_assert_int_eq(
            bs_proto_rows_cell(&rb, i % 3 ? cell : NULL, i % 3 ? n : -1), 0);
    }
    bs_proto_rows_set_paging_state(&rb, "\xca\xfe\x00\x01", 4);
    ck_assert_int_eq(bs_proto_rows_finish(&rb), 0);
    ck_assert_int_eq(bs_proto_rows_cell(&rb, "x", 1), BS_EINVAL); /* finished */
    ck_assert_int_eq(bs_proto_frame_end(&b, start, BS_PROTO_COMP_LZ4), 0);
    ck_assert(b.data[1] & BS_PROTO_FLAG_COMPRESSED);

    bs_proto_frame f;
    ck_assert_int_eq(decode_one(b.data, b.len, 1, BS_PROTO_COMP_LZ4, &f, &body),
                     0);
    ck_assert_int_eq(f.h.stream, 42);
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_proto_response resp;
    bs_proto_rd r;
    ck_assert_int_eq(bs_proto_response_decode(&f, &a, &resp, &r), 0);
    bs_proto_rows *rows = &resp.u.result.u.rows;
    ck_assert_uint_eq(rows->meta.flags & BS_PROTO_RF_GLOBAL_TABLES_SPEC, 0);
    ck_assert(rows->meta.flags & BS_PROTO_RF_HAS_MORE_PAGES);
    ck_val(rows->meta.paging_state, "\xca\xfe\x00\x01", 4);
    ck_str(rows->meta.cols[0].keyspace, "ks1");
    ck_str(rows->meta.cols[1].table, "b");
    ck_assert(bs_type_equal(rows->meta.cols[1].type, tl));
    ck_assert_int_eq(rows->nrows, 1000);
    bs_proto_rows_iter it;
    bs_proto_val cells[2];
    bs_proto_rows_iter_init(&it, rows);
    int i = 0, nulls = 0;
    while (bs_proto_rows_next(&it, cells) == 1) {
        int n = snprintf(cell, sizeof cell, "row%d", i);
        ck_val(cells[0], cell, n);
        if (cells[1].len < 0)
            nulls++;
        else
            ck_val(cells[1], cell, n);
        i++;
    }
    ck_assert_int_eq(i, 1000);
    ck_assert_int_eq(nulls, 334);

    /* an incomplete last row is refused; the builder stays failed */
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_proto_rows_begin(&rb, &b, &meta), 0);
    ck_assert_int_eq(bs_proto_rows_cell(&rb, "z", 1), 0);
    ck_assert_int_eq(bs_proto_rows_finish(&rb), BS_EINVAL);
    ck_assert_int_eq(bs_proto_rows_finish(&rb), BS_EINVAL);
    /* NO_METADATA: no column specs */
    bs_buf_reset(&b);
    bs_proto_meta nm = {
        BS_PROTO_RF_NO_METADATA, 2, NULL, {NULL, BS_PROTO_NULL}};
    ck_assert_int_eq(bs_proto_rows_begin(&rb, &b, &nm), 0);
    ck_assert_int_eq(bs_proto_rows_cell(&rb, "1", 1), 0);
    ck_assert_int_eq(bs_proto_rows_cell(&rb, "2", 1), 0);
    ck_assert_int_eq(bs_proto_rows_finish(&rb), 0);
    static const uint8_t nm_bytes[] = {0, 0, 0,   2, 0, 0, 0, 4,  0,
                                       0, 0, 2,   0, 0, 0, 1, 0,  0,
                                       0, 1, '1', 0, 0, 0, 1, '2'};
    ck_assert_uint_eq(b.len, sizeof nm_bytes);
    ck_assert_int_eq(memcmp(b.data, nm_bytes, b.len), 0);
    bs_arena_free(&a);
    bs_type_free(tb);
    bs_type_free(tl);
    bs_buf_free(&b);
    bs_buf_free(&body);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Request round trips                                                 */
/* ------------------------------------------------------------------ */

/* Encodes req as a frame (client side), decodes it with the streaming
 * decoder and the request decoder (server side). */
static void req_round_trip(const bs_proto_request *req,
                           bs_proto_compression comp, bs_arena *a, bs_buf *wire,
                           bs_buf *body, bs_proto_request *out) {
    bs_buf_reset(wire);
    ck_assert_int_eq(bs_proto_request_encode(wire, 77, req, comp), 0);
    bs_proto_frame f;
    ck_assert_int_eq(decode_one(wire->data, wire->len, 0, comp, &f, body), 0);
    ck_assert_int_eq(f.h.stream, 77);
    ck_assert_uint_eq(f.h.opcode, req->opcode);
    bs_proto_rd r;
    int rc = bs_proto_request_decode(&f, a, out, &r);
    ck_assert_msg(rc == 0, "decode: %s", r.msg);
}

START_TEST(request_round_trips) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf wire = BS_BUF_INIT, body = BS_BUF_INIT;
    bs_proto_request req, got;

    /* STARTUP with lz4 */
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_STARTUP;
    bs_proto_strpair kv[] = {{S("CQL_VERSION"), S("3.4.5")},
                             {S("COMPRESSION"), S("LZ4")},
                             {S("DRIVER_NAME"), S("basalt")}};
    req.u.startup.options = (bs_proto_strmap){3, kv};
    req_round_trip(&req, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_assert_uint_eq(got.u.startup.options.n, 3);
    ck_str(got.u.startup.options.items[2].val, "basalt");
    ck_str(got.u.startup.cql_version, "3.4.5");
    ck_assert_int_eq(got.u.startup.compression, BS_PROTO_COMP_LZ4);

    /* OPTIONS */
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_OPTIONS;
    req_round_trip(&req, BS_PROTO_COMP_LZ4, &a, &wire, &body, &got);
    ck_assert_uint_eq(wire.len, 9);

    /* AUTH_RESPONSE */
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_AUTH_RESPONSE;
    req.u.auth_response = V("\x00user\x00pw");
    req_round_trip(&req, BS_PROTO_COMP_LZ4, &a, &wire, &body, &got);
    ck_val(got.u.auth_response, "\x00user\x00pw", 8);

    /* QUERY with every parameter, named values, a custom payload */
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_QUERY;
    bs_proto_val vals[] = {V("\x00\x00\x00\x2a"),
                           {NULL, BS_PROTO_NULL},
                           {NULL, BS_PROTO_UNSET},
                           V("")};
    bs_proto_str names[] = {S("a"), S("b"), S("c"), S("d")};
    bs_proto_bytesmap_entry pl[] = {{S("trace"), V("on")}};
    req.prelude.has_custom_payload = 1;
    req.prelude.custom_payload = (bs_proto_bytesmap){1, pl};
    req.prelude.trace_request = 1;
    req.u.query.query = S("SELECT * FROM ks.t WHERE a = :a");
    bs_proto_params *p = &req.u.query.params;
    bs_proto_params_init(p);
    p->consistency = BS_CL_EACH_QUORUM;
    p->flags = BS_PROTO_QF_SKIP_METADATA | BS_PROTO_QF_SERIAL_CONSISTENCY;
    p->nvalues = 4;
    p->values = vals;
    p->names = names;
    p->page_size = 250;
    p->paging_state = V("\x01\x02");
    p->serial_consistency = BS_CL_LOCAL_SERIAL;
    p->timestamp = 1700000000123456;
    req_round_trip(&req, BS_PROTO_COMP_LZ4, &a, &wire, &body, &got);
    ck_assert(wire.data[1] & BS_PROTO_FLAG_COMPRESSED);
    ck_assert(wire.data[1] & BS_PROTO_FLAG_CUSTOM_PAYLOAD);
    ck_assert(wire.data[1] & BS_PROTO_FLAG_TRACING);
    ck_assert_int_eq(got.prelude.trace_request, 1);
    ck_assert_int_eq(got.prelude.has_custom_payload, 1);
    ck_str(got.prelude.custom_payload.items[0].key, "trace");
    ck_val(got.prelude.custom_payload.items[0].val, "on", 2);
    ck_str(got.u.query.query, "SELECT * FROM ks.t WHERE a = :a");
    bs_proto_params *q = &got.u.query.params;
    ck_assert_uint_eq(q->consistency, BS_CL_EACH_QUORUM);
    ck_assert_uint_eq(q->flags, 0x7f);
    ck_assert_uint_eq(q->nvalues, 4);
    ck_val(q->values[0], "\x00\x00\x00\x2a", 4);
    ck_assert_int_eq(q->values[1].len, BS_PROTO_NULL);
    ck_assert_int_eq(q->values[2].len, BS_PROTO_UNSET);
    ck_assert_int_eq(q->values[3].len, 0);
    ck_assert_ptr_nonnull(q->names);
    ck_str(q->names[3], "d");
    ck_assert_int_eq(q->page_size, 250);
    ck_val(q->paging_state, "\x01\x02", 2);
    ck_assert_uint_eq(q->serial_consistency, BS_CL_LOCAL_SERIAL);
    ck_assert(q->timestamp == 1700000000123456);

    /* QUERY with nothing optional */
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_QUERY;
    req.u.query.query = S("USE ks");
    bs_proto_params_init(&req.u.query.params);
    req_round_trip(&req, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    q = &got.u.query.params;
    ck_assert_uint_eq(q->flags, 0);
    ck_assert_uint_eq(q->consistency, BS_CL_ONE);
    ck_assert_uint_eq(q->nvalues, 0);
    ck_assert_ptr_null(q->names);
    ck_assert_int_eq(q->page_size, -1);
    ck_assert_int_eq(q->paging_state.len, BS_PROTO_NULL);
    ck_assert_uint_eq(q->serial_consistency, BS_CL_SERIAL);
    ck_assert(q->timestamp == INT64_MIN);
    ck_assert_uint_eq(wire.len, 9 + 4 + 6 + 2 + 1);

    /* PREPARE */
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_PREPARE;
    req.u.prepare.query = S("INSERT INTO t (k) VALUES (?)");
    req_round_trip(&req, BS_PROTO_COMP_LZ4, &a, &wire, &body, &got);
    ck_str(got.u.prepare.query, "INSERT INTO t (k) VALUES (?)");

    /* EXECUTE */
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_EXECUTE;
    req.u.execute.id = V("0123456789abcdef");
    bs_proto_params_init(&req.u.execute.params);
    req.u.execute.params.consistency = BS_CL_ALL;
    req.u.execute.params.nvalues = 2;
    req.u.execute.params.values = vals;
    req.u.execute.params.page_size = 5000;
    req_round_trip(&req, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_val(got.u.execute.id, "0123456789abcdef", 16);
    ck_assert_uint_eq(got.u.execute.params.consistency, BS_CL_ALL);
    ck_assert_uint_eq(got.u.execute.params.flags,
                      BS_PROTO_QF_VALUES | BS_PROTO_QF_PAGE_SIZE);
    ck_assert_uint_eq(got.u.execute.params.nvalues, 2);
    ck_assert_ptr_null(got.u.execute.params.names);
    ck_val(got.u.execute.params.values[0], "\x00\x00\x00\x2a", 4);
    ck_assert_int_eq(got.u.execute.params.values[1].len, BS_PROTO_NULL);
    ck_assert_int_eq(got.u.execute.params.page_size, 5000);

    /* BATCH: a query string, a prepared id, no values */
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_BATCH;
    bs_proto_batch_stmt st[3];
    memset(st, 0, sizeof st);
    st[0].kind = 0;
    st[0].query = S("INSERT INTO t (k, v) VALUES (?, ?)");
    st[0].nvalues = 2;
    st[0].values = vals;
    st[1].kind = 1;
    st[1].id = V("\xaa\xbb");
    st[1].nvalues = 1;
    st[1].values = vals + 2;
    st[2].kind = 0;
    st[2].query = S("DELETE FROM t WHERE k = 1");
    bs_proto_batch *bt = &req.u.batch;
    bt->type = BS_PROTO_BATCH_COUNTER;
    bt->nstmts = 3;
    bt->stmts = st;
    bt->consistency = BS_CL_LOCAL_ONE;
    bt->flags = BS_PROTO_QF_SERIAL_CONSISTENCY;
    bt->serial_consistency = BS_CL_LOCAL_SERIAL;
    bt->timestamp = 99;
    req_round_trip(&req, BS_PROTO_COMP_LZ4, &a, &wire, &body, &got);
    bs_proto_batch *gb = &got.u.batch;
    ck_assert_uint_eq(gb->type, BS_PROTO_BATCH_COUNTER);
    ck_assert_uint_eq(gb->nstmts, 3);
    ck_assert_uint_eq(gb->stmts[0].kind, 0);
    ck_str(gb->stmts[0].query, "INSERT INTO t (k, v) VALUES (?, ?)");
    ck_assert_uint_eq(gb->stmts[0].nvalues, 2);
    ck_val(gb->stmts[0].values[0], "\x00\x00\x00\x2a", 4);
    ck_assert_int_eq(gb->stmts[0].values[1].len, BS_PROTO_NULL);
    ck_assert_uint_eq(gb->stmts[1].kind, 1);
    ck_val(gb->stmts[1].id, "\xaa\xbb", 2);
    ck_assert_int_eq(gb->stmts[1].values[0].len, BS_PROTO_UNSET);
    ck_assert_uint_eq(gb->stmts[2].nvalues, 0);
    ck_assert_uint_eq(gb->consistency, BS_CL_LOCAL_ONE);
    ck_assert_uint_eq(gb->flags, 0x30);
    ck_assert_uint_eq(gb->serial_consistency, BS_CL_LOCAL_SERIAL);
    ck_assert(gb->timestamp == 99);

    /* REGISTER from a mask */
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_REGISTER;
    req.u.reg.mask = BS_PROTO_EV_STATUS_CHANGE | BS_PROTO_EV_SCHEMA_CHANGE;
    req_round_trip(&req, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_assert_uint_eq(got.u.reg.events.n, 2);
    ck_str(got.u.reg.events.items[0], "STATUS_CHANGE");
    ck_assert_uint_eq(got.u.reg.mask,
                      BS_PROTO_EV_STATUS_CHANGE | BS_PROTO_EV_SCHEMA_CHANGE);

    bs_arena_free(&a);
    bs_buf_free(&wire);
    bs_buf_free(&body);
}
END_TEST

/* Decodes a body with the given request decoder opcode. */
static int decode_body(uint8_t opcode, const void *p, size_t n, bs_arena *a,
                       bs_proto_rd *r) {
    bs_proto_frame f;
    memset(&f, 0, sizeof f);
    f.h.version = 4;
    f.h.opcode = opcode;
    f.body = p;
    f.body_len = n;
    bs_proto_request req;
    return bs_proto_request_decode(&f, a, &req, r);
}

START_TEST(request_validation) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_proto_rd r;
    bs_buf b = BS_BUF_INIT;
    /* STARTUP: missing CQL_VERSION, v2 CQL, snappy, unknown compression */
    bs_proto_strpair kv1[] = {{S("COMPRESSION"), S("lz4")}};
    bs_proto_strmap m = {1, kv1};
    bs_proto_wr_string_map(&b, &m);
    ck_assert_int_eq(decode_body(BS_PROTO_OP_STARTUP, b.data, b.len, &a, &r),
                     BS_EPROTO);
    ck_assert_str_eq(r.msg, "Missing value CQL_VERSION in STARTUP message");
    const char *badv[] = {"2.0.0", "three", "3", "3.x", ""};
    for (unsigned i = 0; i < 5; i++) {
        bs_proto_strpair kv[] = {{S("CQL_VERSION"), bs_proto_cstr(badv[i])}};
        m = (bs_proto_strmap){1, kv};
        bs_buf_reset(&b);
        bs_proto_wr_string_map(&b, &m);
        ck_assert_msg(decode_body(BS_PROTO_OP_STARTUP, b.data, b.len, &a, &r) ==
                          BS_EPROTO,
                      "%s", badv[i]);
    }
    const char *goodv[] = {"3.0.0", "3.4.5", "3.4", "4.0.0-beta"};
    for (unsigned i = 0; i < 4; i++) {
        bs_proto_strpair kv[] = {{S("CQL_VERSION"), bs_proto_cstr(goodv[i])}};
        m = (bs_proto_strmap){1, kv};
        bs_buf_reset(&b);
        bs_proto_wr_string_map(&b, &m);
        ck_assert_msg(decode_body(BS_PROTO_OP_STARTUP, b.data, b.len, &a, &r) ==
                          0,
                      "%s", goodv[i]);
    }
    bs_proto_strpair kv2[] = {{S("CQL_VERSION"), S("3.0.0")},
                              {S("COMPRESSION"), S("snappy")}};
    m = (bs_proto_strmap){2, kv2};
    bs_buf_reset(&b);
    bs_proto_wr_string_map(&b, &m);
    ck_assert_int_eq(decode_body(BS_PROTO_OP_STARTUP, b.data, b.len, &a, &r),
                     BS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.msg, "snappy"));
    kv2[1].val = S("zstd");
    bs_buf_reset(&b);
    bs_proto_wr_string_map(&b, &m);
    ck_assert_int_eq(decode_body(BS_PROTO_OP_STARTUP, b.data, b.len, &a, &r),
                     BS_EPROTO);
    ck_assert_str_eq(r.msg, "Unknown compression algorithm: zstd");

    /* QUERY: page size 0, INT64_MIN timestamp, bad consistency, value -3 */
    static const uint8_t q_page0[] = {0, 0, 0, 1, 'x', 0, 1, 0x04, 0, 0, 0, 0};
    ck_assert_int_eq(
        decode_body(BS_PROTO_OP_QUERY, q_page0, sizeof q_page0, &a, &r),
        BS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.msg, "page size cannot be 0"));
    static const uint8_t q_tsmin[] = {0,    0, 0, 1, 'x', 0, 1, 0x20,
                                      0x80, 0, 0, 0, 0,   0, 0, 0};
    ck_assert_int_eq(
        decode_body(BS_PROTO_OP_QUERY, q_tsmin, sizeof q_tsmin, &a, &r),
        BS_EPROTO);
    static const uint8_t q_cl[] = {0, 0, 0, 1, 'x', 0, 0x20, 0};
    ck_assert_int_eq(decode_body(BS_PROTO_OP_QUERY, q_cl, sizeof q_cl, &a, &r),
                     BS_EPROTO);
    static const uint8_t q_v3[] = {0,    0, 0, 1,    'x',  0,    1,
                                   0x01, 0, 1, 0xff, 0xff, 0xff, 0xfd};
    ck_assert_int_eq(decode_body(BS_PROTO_OP_QUERY, q_v3, sizeof q_v3, &a, &r),
                     BS_EPROTO);
    /* a negative page size means no paging */
    static const uint8_t q_neg[] = {0, 0,    0,    1,    'x',  0,
                                    1, 0x04, 0xff, 0xff, 0xff, 0xfe};
    ck_assert_int_eq(
        decode_body(BS_PROTO_OP_QUERY, q_neg, sizeof q_neg, &a, &r), 0);
    /* trailing bytes after a message are ignored (spec section 1) */
    static const uint8_t q_extra[] = {0, 0, 0, 1, 'x', 0, 1, 0x00, 0xde, 0xad};
    ck_assert_int_eq(
        decode_body(BS_PROTO_OP_QUERY, q_extra, sizeof q_extra, &a, &r), 0);

    /* BATCH: names for values refused, type 3, kind 2 */
    static const uint8_t b_names[] = {0, 0, 0, 0, 1, 0x40};
    ck_assert_int_eq(
        decode_body(BS_PROTO_OP_BATCH, b_names, sizeof b_names, &a, &r),
        BS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.msg, "Names for values"));
    static const uint8_t b_type[] = {3, 0, 0, 0, 1, 0};
    ck_assert_int_eq(
        decode_body(BS_PROTO_OP_BATCH, b_type, sizeof b_type, &a, &r),
        BS_EPROTO);
    static const uint8_t b_kind[] = {0, 0, 1, 2, 0, 0, 0, 0, 0, 1, 0};
    ck_assert_int_eq(
        decode_body(BS_PROTO_OP_BATCH, b_kind, sizeof b_kind, &a, &r),
        BS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.msg, "Must be 0 or 1"));
    /* a batch claiming 65535 statements in a few bytes */
    static const uint8_t b_many[] = {0, 0xff, 0xff, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(
        decode_body(BS_PROTO_OP_BATCH, b_many, sizeof b_many, &a, &r),
        BS_ETRUNC);

    /* REGISTER: unknown event */
    bs_proto_str ev[] = {S("SCHEMA_CHANGE"), S("NOPE")};
    bs_proto_strlist l = {2, ev};
    bs_buf_reset(&b);
    bs_proto_wr_string_list(&b, &l);
    ck_assert_int_eq(decode_body(BS_PROTO_OP_REGISTER, b.data, b.len, &a, &r),
                     BS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.msg, "NOPE"));

    /* EXECUTE with an empty id */
    static const uint8_t e_empty[] = {0, 0, 0, 1, 0};
    ck_assert_int_eq(
        decode_body(BS_PROTO_OP_EXECUTE, e_empty, sizeof e_empty, &a, &r),
        BS_EPROTO);
    /* a response opcode given to the request decoder */
    ck_assert_int_eq(decode_body(BS_PROTO_OP_RESULT, "", 0, &a, &r), BS_EPROTO);
    bs_buf_free(&b);
    bs_arena_free(&a);
}
END_TEST

START_TEST(query_truncated_at_every_byte) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf wire = BS_BUF_INIT;
    bs_proto_request req;
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_QUERY;
    bs_proto_val vals[] = {
        V("\x00\x00\x00\x01"), {NULL, BS_PROTO_NULL}, V("text")};
    bs_proto_str names[] = {S("a"), S("bb"), S("ccc")};
    bs_proto_bytesmap_entry pl[] = {{S("k"), V("v")}};
    req.prelude.has_custom_payload = 1;
    req.prelude.custom_payload = (bs_proto_bytesmap){1, pl};
    req.u.query.query =
        S("SELECT * FROM t WHERE a = :a AND b = :bb AND c = :ccc");
    bs_proto_params *p = &req.u.query.params;
    bs_proto_params_init(p);
    p->nvalues = 3;
    p->values = vals;
    p->names = names;
    p->page_size = 10;
    p->paging_state = V("state");
    p->flags = BS_PROTO_QF_SERIAL_CONSISTENCY;
    p->serial_consistency = BS_CL_SERIAL;
    p->timestamp = 5;
    ck_assert_int_eq(
        bs_proto_request_encode(&wire, 3, &req, BS_PROTO_COMP_NONE), 0);
    size_t body_len = wire.len - 9;
    bs_proto_rd r;
    int checked = 0;
    for (size_t cut = 0; cut <= body_len; cut++) {
        /* copy to a tight heap block so ASan sees any overread */
        uint8_t *tight = malloc(cut ? cut : 1);
        memcpy(tight, wire.data + 9, cut);
        bs_proto_frame f;
        memset(&f, 0, sizeof f);
        f.h.version = 4;
        f.h.opcode = BS_PROTO_OP_QUERY;
        f.h.flags = BS_PROTO_FLAG_CUSTOM_PAYLOAD;
        f.body = tight;
        f.body_len = cut;
        bs_proto_request got;
        int rc = bs_proto_request_decode(&f, &a, &got, &r);
        free(tight);
        if (cut == body_len) { /* the whole body decodes */
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(got.u.query.params.nvalues, 3);
            break;
        }
        ck_assert_msg(rc == BS_ETRUNC, "cut at %zu gave %d", cut, rc);
        ck_assert_msg(r.msg[0] != 0, "no message at cut %zu", cut);
        checked++;
        bs_arena_reset(&a);
    }
    ck_assert_int_eq(checked, (int)body_len);
    /* and every prefix of the frame is "need more" for the stream decoder */
    bs_proto_decoder *d;
    ck_assert_int_eq(bs_proto_decoder_new(NULL, &d), 0);
    bs_proto_frame f;
    for (size_t i = 0; i < wire.len - 1; i++) {
        ck_assert_int_eq(bs_proto_decoder_feed(d, wire.data + i, 1), 0);
        ck_assert_int_eq(bs_proto_decoder_next(d, &f), BS_EAGAIN);
    }
    ck_assert_int_eq(bs_proto_decoder_feed(d, wire.data + wire.len - 1, 1), 0);
    ck_assert_int_eq(bs_proto_decoder_next(d, &f), 0);
    ck_assert_uint_eq(f.body_len, body_len);
    bs_proto_decoder_free(d);
    bs_buf_free(&wire);
    bs_arena_free(&a);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Streaming decoder and LZ4                                           */
/* ------------------------------------------------------------------ */

/* Builds a stream of several request frames, some compressed. */
static void build_stream(bs_buf *wire) {
    bs_proto_request req;
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_OPTIONS;
    ck_assert_int_eq(bs_proto_request_encode(wire, 0, &req, BS_PROTO_COMP_NONE),
                     0);
    char q[4096];
    for (int i = 0; i < 6; i++) {
        memset(&req, 0, sizeof req);
        req.opcode = BS_PROTO_OP_QUERY;
        int n = 0;
        for (int k = 0; k < 40 * (i + 1); k++)
            n += snprintf(q + n, sizeof q - (size_t)n, "%d,", k % 7);
        req.u.query.query = (bs_proto_str){q, (size_t)n};
        bs_proto_params_init(&req.u.query.params);
        req.u.query.params.page_size = i + 1;
        ck_assert_int_eq(bs_proto_request_encode(wire, (int16_t)(i + 1), &req,
                                                 i % 2 ? BS_PROTO_COMP_LZ4
                                                       : BS_PROTO_COMP_NONE),
                         0);
    }
}

typedef struct {
    int n;
    int16_t streams[16];
    bs_buf bodies[16];
} frames_seen;

static int drain(bs_proto_decoder *d, frames_seen *s) {
    bs_proto_frame f;
    int rc;
    while ((rc = bs_proto_decoder_next(d, &f)) == 0) {
        ck_assert_int_lt(s->n, 16);
        s->streams[s->n] = f.h.stream;
        bs_buf_init(&s->bodies[s->n]);
        bs_buf_append(&s->bodies[s->n], f.body, f.body_len);
        ck_assert_uint_eq(f.h.flags & BS_PROTO_FLAG_COMPRESSED, 0);
        s->n++;
    }
    return rc;
}

static void frames_free(frames_seen *s) {
    for (int i = 0; i < s->n; i++)
        bs_buf_free(&s->bodies[i]);
}

START_TEST(stream_byte_by_byte_equals_whole) {
    bs_buf wire = BS_BUF_INIT;
    build_stream(&wire);
    frames_seen whole = {0}, bytes = {0}, zc = {0};
    bs_proto_decoder *d;

    ck_assert_int_eq(bs_proto_decoder_new(NULL, &d), 0);
    bs_proto_decoder_set_compression(d, BS_PROTO_COMP_LZ4);
    ck_assert_int_eq(bs_proto_decoder_feed(d, wire.data, wire.len), 0);
    ck_assert_int_eq(drain(d, &whole), BS_EAGAIN);
    ck_assert_int_eq(whole.n, 7);
    bs_proto_decoder_free(d);

    ck_assert_int_eq(bs_proto_decoder_new(NULL, &d), 0);
    bs_proto_decoder_set_compression(d, BS_PROTO_COMP_LZ4);
    for (size_t i = 0; i < wire.len; i++) {
        ck_assert_int_eq(bs_proto_decoder_feed(d, wire.data + i, 1), 0);
        ck_assert_int_eq(drain(d, &bytes), BS_EAGAIN);
    }
    ck_assert_uint_eq(bs_proto_decoder_pending(d), 0);
    bs_proto_decoder_free(d);

    /* zero-copy input path with odd chunk sizes */
    ck_assert_int_eq(bs_proto_decoder_new(NULL, &d), 0);
    bs_proto_decoder_set_compression(d, BS_PROTO_COMP_LZ4);
    size_t off = 0, chunk = 1;
    while (off < wire.len) {
        uint8_t *p;
        size_t cap;
        ck_assert_int_eq(bs_proto_decoder_wbuf(d, 64, &p, &cap), 0);
        ck_assert_uint_ge(cap, 64);
        size_t n = chunk < wire.len - off ? chunk : wire.len - off;
        if (n > cap) n = cap;
        memcpy(p, wire.data + off, n);
        bs_proto_decoder_commit(d, n);
        off += n;
        chunk = chunk * 3 % 61 + 1;
        ck_assert_int_eq(drain(d, &zc), BS_EAGAIN);
    }
    bs_proto_decoder_free(d);

    ck_assert_int_eq(bytes.n, whole.n);
    ck_assert_int_eq(zc.n, whole.n);
    for (int i = 0; i < whole.n; i++) {
        ck_assert_int_eq(whole.streams[i], i);
        ck_assert_int_eq(bytes.streams[i], whole.streams[i]);
        ck_assert_int_eq(zc.streams[i], whole.streams[i]);
        ck_assert_uint_eq(bytes.bodies[i].len, whole.bodies[i].len);
        ck_assert_uint_eq(zc.bodies[i].len, whole.bodies[i].len);
        if (whole.bodies[i].len) {
            ck_assert_int_eq(memcmp(bytes.bodies[i].data, whole.bodies[i].data,
                                    whole.bodies[i].len),
                             0);
            ck_assert_int_eq(memcmp(zc.bodies[i].data, whole.bodies[i].data,
                                    whole.bodies[i].len),
                             0);
        }
    }
    /* the decompressed bodies decode as the queries sent */
    bs_arena a;
    bs_arena_init(&a, 0);
    for (int i = 1; i < whole.n; i++) {
        bs_proto_rd r;
        bs_proto_query q;
        bs_proto_rd_init(&r, whole.bodies[i].data, whole.bodies[i].len);
        ck_assert_int_eq(bs_proto_query_decode(&r, &a, &q), 0);
        ck_assert_int_eq(q.params.page_size, i);
        ck_assert(bs_proto_str_eq((bs_proto_str){q.query.p, 4}, "0,1,"));
    }
    bs_arena_free(&a);
    frames_free(&whole);
    frames_free(&bytes);
    frames_free(&zc);
    bs_buf_free(&wire);
}
END_TEST

START_TEST(stream_oversize_frame_is_skipped) {
    bs_buf wire = BS_BUF_INIT;
    /* an oversized QUERY (2000-byte body > 1000 limit), then OPTIONS */
    size_t start;
    ck_assert_int_eq(
        bs_proto_frame_begin(&wire, 0, 0, 12, BS_PROTO_OP_QUERY, &start), 0);
    ck_assert_ptr_nonnull(memset(bs_buf_extend(&wire, 2000), 'q', 2000));
    ck_assert_int_eq(bs_proto_frame_end(&wire, start, BS_PROTO_COMP_NONE), 0);
    bs_proto_request req;
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_OPTIONS;
    ck_assert_int_eq(
        bs_proto_request_encode(&wire, 13, &req, BS_PROTO_COMP_NONE), 0);
    for (size_t chunk = 1; chunk <= 4096; chunk *= 8) {
        bs_proto_decoder *d;
        bs_proto_header_opts o = {1000, 0};
        ck_assert_int_eq(bs_proto_decoder_new(&o, &d), 0);
        int toobig = 0, frames = 0;
        for (size_t off = 0; off < wire.len; off += chunk) {
            size_t n = chunk < wire.len - off ? chunk : wire.len - off;
            ck_assert_int_eq(bs_proto_decoder_feed(d, wire.data + off, n), 0);
            for (;;) {
                bs_proto_frame f;
                int rc = bs_proto_decoder_next(d, &f);
                if (rc == BS_EAGAIN) break;
                if (rc == BS_ETOOBIG) {
                    ck_assert_int_eq(f.h.stream, 12);
                    ck_assert_uint_eq(f.h.length, 2000);
                    ck_assert_ptr_nonnull(
                        strstr(bs_proto_decoder_errmsg(d), "too big"));
                    toobig++;
                    continue;
                }
                ck_assert_int_eq(rc, 0);
                ck_assert_int_eq(f.h.stream, 13);
                ck_assert_uint_eq(f.h.opcode, BS_PROTO_OP_OPTIONS);
                frames++;
            }
        }
        ck_assert_int_eq(toobig, 1);
        ck_assert_int_eq(frames, 1);
        /* the skipped body was never buffered whole */
        ck_assert_uint_eq(bs_proto_decoder_pending(d), 0);
        bs_proto_decoder_free(d);
    }
    bs_buf_free(&wire);
}
END_TEST

START_TEST(stream_errors_poison) {
    bs_proto_decoder *d;
    bs_proto_frame f;
    /* v5 STARTUP: version error with the stream, then poisoned */
    static const uint8_t v5[] = {0x05, 0x00, 0x00, 0x07, 0x01,
                                 0x00, 0x00, 0x00, 0x00};
    ck_assert_int_eq(bs_proto_decoder_new(NULL, &d), 0);
    ck_assert_int_eq(bs_proto_decoder_feed(d, v5, sizeof v5), 0);
    ck_assert_int_eq(bs_proto_decoder_next(d, &f), BS_ENOTSUP);
    ck_assert_uint_eq(f.h.version, 5);
    ck_assert_int_eq(f.h.stream, 7);
    ck_assert_ptr_nonnull(
        strstr(bs_proto_decoder_errmsg(d), "unsupported protocol version (5)"));
    ck_assert_int_eq(bs_proto_decoder_next(d, &f), BS_ENOTSUP);
    ck_assert_int_eq(
        bs_proto_decoder_feed(d, golden_startup, sizeof golden_startup),
        BS_ENOTSUP);
    bs_proto_decoder_free(d);
    /* bad opcode */
    static const uint8_t badop[] = {0x04, 0x00, 0x00, 0x01, 0x11,
                                    0x00, 0x00, 0x00, 0x00};
    ck_assert_int_eq(bs_proto_decoder_new(NULL, &d), 0);
    ck_assert_int_eq(bs_proto_decoder_feed(d, badop, sizeof badop), 0);
    ck_assert_int_eq(bs_proto_decoder_next(d, &f), BS_EPROTO);
    ck_assert_int_eq(bs_proto_decoder_next(d, &f), BS_EPROTO);
    bs_proto_decoder_free(d);
    /* compressed frame before compression was negotiated */
    bs_buf wire = BS_BUF_INIT, body = BS_BUF_INIT;
    bs_proto_request req;
    memset(&req, 0, sizeof req);
    req.opcode = BS_PROTO_OP_PREPARE;
    req.u.prepare.query = S("SELECT 1 FROM system.local");
    ck_assert_int_eq(bs_proto_request_encode(&wire, 1, &req, BS_PROTO_COMP_LZ4),
                     0);
    ck_assert_int_eq(
        decode_one(wire.data, wire.len, 0, BS_PROTO_COMP_NONE, &f, &body),
        BS_EPROTO);
    ck_assert_int_eq(
        decode_one(wire.data, wire.len, 0, BS_PROTO_COMP_LZ4, &f, &body), 0);
    ck_assert_uint_eq(f.body_len, 4 + strlen("SELECT 1 FROM system.local"));
    bs_buf_free(&wire);
    bs_buf_free(&body);
}
END_TEST

START_TEST(lz4_round_trip_and_lies) {
    bs_buf c = BS_BUF_INIT, out = BS_BUF_INIT;
    uint8_t src[5000];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i % 13 == 0 ? i : 'a');
    ck_assert_int_eq(bs_proto_lz4_compress(src, sizeof src, &c), 0);
    ck_assert_uint_eq(bs_get_u32(c.data),
                      sizeof src); /* BE uncompressed length */
    ck_assert_uint_lt(c.len, sizeof src);
    ck_assert_int_eq(bs_proto_lz4_decompress(c.data, c.len, 1u << 20, &out), 0);
    ck_assert_uint_eq(out.len, sizeof src);
    ck_assert_int_eq(memcmp(out.data, src, sizeof src), 0);
    /* over the limit */
    bs_buf_reset(&out);
    ck_assert_int_eq(bs_proto_lz4_decompress(c.data, c.len, 4999, &out),
                     BS_ETOOBIG);
    /* announced length one off either way */
    bs_put_u32(c.data, sizeof src + 1);
    ck_assert_int_eq(bs_proto_lz4_decompress(c.data, c.len, 1u << 20, &out),
                     BS_ECORRUPT);
    bs_put_u32(c.data, sizeof src - 1);
    ck_assert_int_eq(bs_proto_lz4_decompress(c.data, c.len, 1u << 20, &out),
                     BS_ECORRUPT);
    bs_put_u32(c.data, sizeof src);
    /* a length lie no block could honour: refused before allocating */
    static const uint8_t lie[] = {0x00, 0x10, 0x00, 0x00, 0x10, 'a', 'b'};
    bs_buf_free(&out);
    ck_assert_int_eq(bs_proto_lz4_decompress(lie, sizeof lie, 1u << 30, &out),
                     BS_ECORRUPT);
    ck_assert_ptr_null(out.data);
    /* garbage block, short body */
    uint8_t junk[64];
    memset(junk, 0xff, sizeof junk);
    bs_put_u32(junk, 100);
    ck_assert_int_eq(bs_proto_lz4_decompress(junk, sizeof junk, 1u << 20, &out),
                     BS_ECORRUPT);
    ck_assert_int_eq(bs_proto_lz4_decompress(junk, 3, 1u << 20, &out),
                     BS_ETRUNC);

    /* the same lies inside frames poison the stream decoder */
    bs_buf wire = BS_BUF_INIT, body = BS_BUF_INIT;
    size_t start;
    bs_proto_frame f;
    ck_assert_int_eq(bs_proto_frame_begin(&wire, 0, BS_PROTO_FLAG_COMPRESSED, 4,
                                          BS_PROTO_OP_QUERY, &start),
                     0);
    bs_buf_append(&wire, lie, sizeof lie);
    ck_assert_int_eq(bs_proto_frame_end(&wire, start, BS_PROTO_COMP_NONE), 0);
    ck_assert_int_eq(
        decode_one(wire.data, wire.len, 0, BS_PROTO_COMP_LZ4, &f, &body),
        BS_ECORRUPT);
    bs_buf_reset(&wire);
    ck_assert_int_eq(bs_proto_frame_begin(&wire, 0, BS_PROTO_FLAG_COMPRESSED, 4,
                                          BS_PROTO_OP_QUERY, &start),
                     0);
    bs_buf_append(&wire, c.data, c.len - 1); /* block cut short */
    ck_assert_int_eq(bs_proto_frame_end(&wire, start, BS_PROTO_COMP_NONE), 0);
    ck_assert_int_eq(
        decode_one(wire.data, wire.len, 0, BS_PROTO_COMP_LZ4, &f, &body),
        BS_ECORRUPT);
    /* a decompressed size above the frame limit */
    bs_buf_reset(&wire);
    ck_assert_int_eq(
        bs_proto_frame_begin(&wire, 0, 0, 4, BS_PROTO_OP_QUERY, &start), 0);
    bs_buf_append(&wire, src, sizeof src);
    ck_assert_int_eq(bs_proto_frame_end(&wire, start, BS_PROTO_COMP_LZ4), 0);
    bs_proto_decoder *d;
    bs_proto_header_opts o = {2000, 0};
    ck_assert_int_eq(bs_proto_decoder_new(&o, &d), 0);
    bs_proto_decoder_set_compression(d, BS_PROTO_COMP_LZ4);
    ck_assert_int_eq(bs_proto_decoder_feed(d, wire.data, wire.len), 0);
    ck_assert_int_eq(bs_proto_decoder_next(d, &f), BS_EPROTO);
    bs_proto_decoder_free(d);
    bs_buf_free(&wire);
    bs_buf_free(&body);
    bs_buf_free(&c);
    bs_buf_free(&out);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Response round trips                                                */
/* ------------------------------------------------------------------ */

static void resp_round_trip(const bs_proto_response *resp, int16_t stream,
                            bs_proto_compression comp, bs_arena *a,
                            bs_buf *wire, bs_buf *body,
                            bs_proto_response *out) {
    bs_buf_reset(wire);
    ck_assert_int_eq(bs_proto_response_encode(wire, stream, resp, comp), 0);
    ck_assert_uint_eq(wire->data[0], 0x84);
    bs_proto_frame f;
    ck_assert_int_eq(decode_one(wire->data, wire->len, 1, comp, &f, body), 0);
    bs_proto_rd r;
    int rc = bs_proto_response_decode(&f, a, out, &r);
    ck_assert_msg(rc == 0, "decode: %s", r.msg);
    ck_assert_int_eq(out->stream, stream);
    ck_assert_uint_eq(out->opcode, resp->opcode);
}

START_TEST(error_round_trips) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf wire = BS_BUF_INIT, body = BS_BUF_INIT;
    bs_proto_response resp, got;
    static const int32_t plain[] = {
        BS_PROTO_ERR_SERVER,           BS_PROTO_ERR_PROTOCOL,
        BS_PROTO_ERR_BAD_CREDENTIALS,  BS_PROTO_ERR_OVERLOADED,
        BS_PROTO_ERR_IS_BOOTSTRAPPING, BS_PROTO_ERR_TRUNCATE,
        BS_PROTO_ERR_SYNTAX,           BS_PROTO_ERR_UNAUTHORIZED,
        BS_PROTO_ERR_INVALID,          BS_PROTO_ERR_CONFIG};
    for (unsigned i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        memset(&resp, 0, sizeof resp);
        resp.opcode = BS_PROTO_OP_ERROR;
        resp.u.error.code = plain[i];
        resp.u.error.message =
            S("line 1:7 no viable alternative at input 'FORM'");
        resp_round_trip(&resp, (int16_t)i, BS_PROTO_COMP_NONE, &a, &wire, &body,
                        &got);
        ck_assert_int_eq(got.u.error.code, plain[i]);
        ck_str(got.u.error.message,
               "line 1:7 no viable alternative at input 'FORM'");
        ck_assert_uint_eq(wire.len, 9 + 4 + 2 + resp.u.error.message.len);
    }
    struct {
        int32_t code;
        uint16_t cl;
        int32_t required, alive, received, blockfor, numfailures;
        uint8_t data_present;
        const char *write_type;
    } cases[] = {
        {BS_PROTO_ERR_UNAVAILABLE, BS_CL_QUORUM, 2, 1, 0, 0, 0, 0, NULL},
        {BS_PROTO_ERR_WRITE_TIMEOUT, BS_CL_LOCAL_QUORUM, 0, 0, 1, 2, 0, 0,
         "BATCH_LOG"},
        {BS_PROTO_ERR_READ_TIMEOUT, BS_CL_ALL, 0, 0, 2, 3, 0, 1, NULL},
        {BS_PROTO_ERR_READ_FAILURE, BS_CL_TWO, 0, 0, 1, 2, 1, 0, NULL},
        {BS_PROTO_ERR_WRITE_FAILURE, BS_CL_THREE, 0, 0, 2, 3, 1, 0,
         "UNLOGGED_BATCH"},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&resp, 0, sizeof resp);
        resp.opcode = BS_PROTO_OP_ERROR;
        bs_proto_error *e = &resp.u.error;
        e->code = cases[i].code;
        e->message = S("Cannot achieve consistency level");
        e->cl = cases[i].cl;
        e->required = cases[i].required;
        e->alive = cases[i].alive;
        e->received = cases[i].received;
        e->blockfor = cases[i].blockfor;
        e->numfailures = cases[i].numfailures;
        e->data_present = cases[i].data_present;
        if (cases[i].write_type)
            e->write_type = bs_proto_cstr(cases[i].write_type);
        resp_round_trip(&resp, 5, BS_PROTO_COMP_LZ4, &a, &wire, &body, &got);
        bs_proto_error *g = &got.u.error;
        ck_assert_int_eq(g->code, cases[i].code);
        ck_assert_uint_eq(g->cl, cases[i].cl);
        ck_assert_int_eq(g->required, cases[i].required);
        ck_assert_int_eq(g->alive, cases[i].alive);
        ck_assert_int_eq(g->received, cases[i].received);
        ck_assert_int_eq(g->blockfor, cases[i].blockfor);
        ck_assert_int_eq(g->numfailures, cases[i].numfailures);
        ck_assert_uint_eq(g->data_present, cases[i].data_present);
        if (cases[i].write_type)
            ck_str(g->write_type, cases[i].write_type);
        else
            ck_assert_uint_eq(g->write_type.len, 0);
    }
    /* function failure, already exists, unprepared */
    memset(&resp, 0, sizeof resp);
    resp.opcode = BS_PROTO_OP_ERROR;
    bs_proto_str args[] = {S("int"), S("list<text>")};
    resp.u.error = (bs_proto_error){.code = BS_PROTO_ERR_FUNCTION_FAILURE,
                                    .message = S("boom"),
                                    .keyspace = S("ks"),
                                    .name = S("fn"),
                                    .arg_types = {2, args}};
    resp_round_trip(&resp, 1, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_str(got.u.error.keyspace, "ks");
    ck_str(got.u.error.name, "fn");
    ck_assert_uint_eq(got.u.error.arg_types.n, 2);
    ck_str(got.u.error.arg_types.items[1], "list<text>");
    resp.u.error =
        (bs_proto_error){.code = BS_PROTO_ERR_ALREADY_EXISTS,
                         .message = S("Cannot add existing keyspace \"ks\""),
                         .keyspace = S("ks"),
                         .name = S("")};
    resp_round_trip(&resp, 1, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_str(got.u.error.keyspace, "ks");
    ck_str(got.u.error.name, "");
    resp.u.error = (bs_proto_error){.code = BS_PROTO_ERR_UNPREPARED,
                                    .message = S("unknown id"),
                                    .unprepared_id = V("\x01\x02\x03\x04")};
    resp_round_trip(&resp, 1, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_val(got.u.error.unprepared_id, "\x01\x02\x03\x04", 4);
    /* the convenience error frame */
    bs_buf_reset(&wire);
    ck_assert_int_eq(bs_proto_error_frame(&wire, 9, BS_PROTO_ERR_INVALID, "bad",
                                          BS_PROTO_COMP_NONE),
                     0);
    static const uint8_t ef[] = {0x84, 0, 0,    9, 0, 0, 0,   0,   9,
                                 0,    0, 0x22, 0, 0, 3, 'b', 'a', 'd'};
    ck_assert_uint_eq(wire.len, sizeof ef);
    ck_assert_int_eq(memcmp(wire.data, ef, sizeof ef), 0);
    bs_arena_free(&a);
    bs_buf_free(&wire);
    bs_buf_free(&body);
}
END_TEST

START_TEST(response_round_trips) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf wire = BS_BUF_INIT, body = BS_BUF_INIT;
    bs_proto_response resp, got;

    /* AUTHENTICATE, AUTH_CHALLENGE, AUTH_SUCCESS (null token) */
    memset(&resp, 0, sizeof resp);
    resp.opcode = BS_PROTO_OP_AUTHENTICATE;
    resp.u.authenticator = S("org.apache.cassandra.auth.PasswordAuthenticator");
    resp_round_trip(&resp, 1, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_str(got.u.authenticator,
           "org.apache.cassandra.auth.PasswordAuthenticator");
    resp.opcode = BS_PROTO_OP_AUTH_CHALLENGE;
    resp.u.auth_token = V("nonce");
    resp_round_trip(&resp, 1, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_val(got.u.auth_token, "nonce", 5);
    resp.opcode = BS_PROTO_OP_AUTH_SUCCESS;
    resp.u.auth_token = (bs_proto_val){NULL, BS_PROTO_NULL};
    resp_round_trip(&resp, 1, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_assert_int_eq(got.u.auth_token.len, BS_PROTO_NULL);

    /* SUPPORTED */
    memset(&resp, 0, sizeof resp);
    resp.opcode = BS_PROTO_OP_SUPPORTED;
    bs_proto_str cqlv[] = {S("3.4.5")}, comp[] = {S("lz4")}, pv[] = {S("4/v4")};
    bs_proto_multimap_entry sup[] = {{S("CQL_VERSION"), {1, cqlv}},
                                     {S("COMPRESSION"), {1, comp}},
                                     {S("PROTOCOL_VERSIONS"), {1, pv}}};
    resp.u.supported = (bs_proto_multimap){3, sup};
    resp_round_trip(&resp, 0, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_assert_uint_eq(got.u.supported.n, 3);
    ck_str(got.u.supported.items[1].key, "COMPRESSION");
    ck_str(got.u.supported.items[1].vals.items[0], "lz4");
    ck_str(got.u.supported.items[2].vals.items[0], "4/v4");

    /* RESULT Void with tracing id and warnings in the prelude */
    memset(&resp, 0, sizeof resp);
    resp.opcode = BS_PROTO_OP_RESULT;
    resp.u.result.kind = BS_PROTO_RESULT_VOID;
    uint8_t trace[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    bs_proto_str warns[] = {S("Batch too large")};
    resp.prelude.tracing_id = trace;
    resp.prelude.warnings = (bs_proto_strlist){1, warns};
    resp_round_trip(&resp, 3, BS_PROTO_COMP_LZ4, &a, &wire, &body, &got);
    ck_assert_int_eq(got.u.result.kind, BS_PROTO_RESULT_VOID);
    ck_assert_ptr_nonnull(got.prelude.tracing_id);
    ck_assert_int_eq(memcmp(got.prelude.tracing_id, trace, 16), 0);
    ck_assert_uint_eq(got.prelude.warnings.n, 1);
    ck_str(got.prelude.warnings.items[0], "Batch too large");

    /* Set_keyspace */
    memset(&resp, 0, sizeof resp);
    resp.opcode = BS_PROTO_OP_RESULT;
    resp.u.result.kind = BS_PROTO_RESULT_SET_KEYSPACE;
    resp.u.result.u.keyspace = S("my_ks");
    resp_round_trip(&resp, 3, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_str(got.u.result.u.keyspace, "my_ks");

    /* Prepared: 3 bind markers, pk indices [2, 0], result metadata */
    bs_type *tint = bs_type_new(BS_TYPE_INT),
            *ttext = bs_type_new(BS_TYPE_VARCHAR);
    bs_type *tmap = bs_type_new_coll(BS_TYPE_MAP, bs_type_new(BS_TYPE_VARCHAR),
                                     bs_type_new(BS_TYPE_DOUBLE));
    bs_proto_colspec binds[] = {{S("ks"), S("t"), S("b"), ttext},
                                {S("ks"), S("t"), S("c"), tmap},
                                {S("ks"), S("t"), S("a"), tint}};
    uint16_t pk[] = {2, 0};
    bs_proto_colspec rcols[] = {{S("ks"), S("t"), S("v"), tmap}};
    memset(&resp, 0, sizeof resp);
    resp.opcode = BS_PROTO_OP_RESULT;
    resp.u.result.kind = BS_PROTO_RESULT_PREPARED;
    bs_proto_prepared *pp = &resp.u.result.u.prepared;
    pp->id =
        V("\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\xff");
    pp->bind = (bs_proto_prepared_meta){0, 3, binds, 2, pk};
    pp->result = (bs_proto_meta){0, 1, rcols, {NULL, BS_PROTO_NULL}};
    resp_round_trip(&resp, 3, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    bs_proto_prepared *gp = &got.u.result.u.prepared;
    ck_val(gp->id,
           "\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\xff",
           16);
    ck_assert_uint_eq(gp->bind.flags, BS_PROTO_RF_GLOBAL_TABLES_SPEC);
    ck_assert_uint_eq(gp->bind.ncols, 3);
    ck_assert_uint_eq(gp->bind.npk, 2);
    ck_assert_uint_eq(gp->bind.pk_indices[0], 2);
    ck_assert_uint_eq(gp->bind.pk_indices[1], 0);
    ck_str(gp->bind.cols[1].name, "c");
    ck_str(gp->bind.cols[2].keyspace, "ks");
    ck_assert(bs_type_equal(gp->bind.cols[1].type, tmap));
    ck_assert(bs_type_equal(gp->bind.cols[2].type, tint));
    ck_assert_uint_eq(gp->result.ncols, 1);
    ck_str(gp->result.cols[0].name, "v");
    ck_assert(bs_type_equal(gp->result.cols[0].type, tmap));
    /* Prepared for a non-SELECT: empty NO_METADATA result metadata */
    pp->result = (bs_proto_meta){
        BS_PROTO_RF_NO_METADATA, 0, NULL, {NULL, BS_PROTO_NULL}};
    pp->bind.npk = 0;
    resp_round_trip(&resp, 3, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_assert_uint_eq(got.u.result.u.prepared.result.flags,
                      BS_PROTO_RF_NO_METADATA);
    ck_assert_uint_eq(got.u.result.u.prepared.result.ncols, 0);
    ck_assert_uint_eq(got.u.result.u.prepared.bind.npk, 0);

    /* Rows through the generic encoder, empty and with NO_METADATA */
    memset(&resp, 0, sizeof resp);
    resp.opcode = BS_PROTO_OP_RESULT;
    resp.u.result.kind = BS_PROTO_RESULT_ROWS;
    resp.u.result.u.rows.meta =
        (bs_proto_meta){0, 1, rcols, {NULL, BS_PROTO_NULL}};
    resp_round_trip(&resp, 3, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_assert_int_eq(got.u.result.u.rows.nrows, 0);
    ck_assert_uint_eq(got.u.result.u.rows.meta.ncols, 1);
    static const uint8_t cells[] = {0, 0, 0, 1, 'x', 0xff, 0xff, 0xff, 0xff};
    resp.u.result.u.rows.meta =
        (bs_proto_meta){BS_PROTO_RF_NO_METADATA, 1, NULL, V("ps")};
    resp.u.result.u.rows.nrows = 2;
    resp.u.result.u.rows.content = cells;
    resp.u.result.u.rows.content_len = sizeof cells;
    resp_round_trip(&resp, 3, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    bs_proto_rows *gr = &got.u.result.u.rows;
    ck_assert_uint_eq(gr->meta.flags,
                      BS_PROTO_RF_NO_METADATA | BS_PROTO_RF_HAS_MORE_PAGES);
    ck_val(gr->meta.paging_state, "ps", 2);
    ck_assert_ptr_null(gr->meta.cols);
    ck_assert_int_eq(gr->nrows, 2);
    ck_assert_uint_eq(gr->content_len, sizeof cells);

    /* Schema_change for every target */
    bs_proto_str fargs[] = {S("int"), S("text")};
    bs_proto_schema_change changes[] = {
        {S("CREATED"), S("KEYSPACE"), S("ks"), {NULL, 0}, {0, NULL}},
        {S("UPDATED"), S("TABLE"), S("ks"), S("t"), {0, NULL}},
        {S("DROPPED"), S("TYPE"), S("ks"), S("addr"), {0, NULL}},
        {S("CREATED"), S("FUNCTION"), S("ks"), S("f"), {2, fargs}},
        {S("CREATED"), S("AGGREGATE"), S("ks"), S("agg"), {1, fargs}},
    };
    for (unsigned i = 0; i < 5; i++) {
        memset(&resp, 0, sizeof resp);
        resp.opcode = BS_PROTO_OP_RESULT;
        resp.u.result.kind = BS_PROTO_RESULT_SCHEMA_CHANGE;
        resp.u.result.u.schema_change = changes[i];
        resp_round_trip(&resp, 3, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
        bs_proto_schema_change *sc = &got.u.result.u.schema_change;
        ck_assert_uint_eq(sc->change_type.len, changes[i].change_type.len);
        ck_assert_int_eq(memcmp(sc->change_type.p, changes[i].change_type.p,
                                sc->change_type.len),
                         0);
        ck_assert_uint_eq(sc->target.len, changes[i].target.len);
        ck_assert_int_eq(
            memcmp(sc->target.p, changes[i].target.p, sc->target.len), 0);
        ck_str(sc->keyspace, "ks");
        ck_assert_uint_eq(sc->name.len, changes[i].name.len);
        ck_assert_uint_eq(sc->arg_types.n, changes[i].arg_types.n);
        if (sc->arg_types.n) ck_str(sc->arg_types.items[0], "int");
    }
    /* unknown targets cannot be encoded */
    resp.u.result.u.schema_change.target = S("INDEX");
    bs_buf_reset(&wire);
    ck_assert_int_eq(
        bs_proto_response_encode(&wire, 1, &resp, BS_PROTO_COMP_NONE),
        BS_EINVAL);
    ck_assert_uint_eq(wire.len, 0);

    /* EVENTs on stream -1 */
    memset(&resp, 0, sizeof resp);
    resp.opcode = BS_PROTO_OP_EVENT;
    resp.u.event.type = S("STATUS_CHANGE");
    resp.u.event.change = S("DOWN");
    resp.u.event.addr = (bs_proto_inet){4, {127, 0, 0, 3}, 9042};
    resp_round_trip(&resp, -1, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_str(got.u.event.type, "STATUS_CHANGE");
    ck_str(got.u.event.change, "DOWN");
    ck_assert_uint_eq(got.u.event.addr.addr_len, 4);
    ck_assert_uint_eq(got.u.event.addr.addr[3], 3);
    ck_assert_int_eq(got.u.event.addr.port, 9042);
    resp.u.event.type = S("TOPOLOGY_CHANGE");
    resp.u.event.change = S("NEW_NODE");
    resp.u.event.addr =
        (bs_proto_inet){16, {0x20, 0x01, 0x0d, 0xb8, [15] = 9}, 9043};
    resp_round_trip(&resp, -1, BS_PROTO_COMP_LZ4, &a, &wire, &body, &got);
    ck_str(got.u.event.change, "NEW_NODE");
    ck_assert_uint_eq(got.u.event.addr.addr_len, 16);
    ck_assert_uint_eq(got.u.event.addr.addr[15], 9);
    ck_assert_int_eq(got.u.event.addr.port, 9043);
    resp.u.event.type = S("SCHEMA_CHANGE");
    resp.u.event.schema = changes[3];
    resp_round_trip(&resp, -1, BS_PROTO_COMP_NONE, &a, &wire, &body, &got);
    ck_str(got.u.event.schema.target, "FUNCTION");
    ck_str(got.u.event.schema.name, "f");
    ck_str(got.u.event.schema.arg_types.items[1], "text");

    bs_type_free(tint);
    bs_type_free(ttext);
    bs_type_free(tmap);
    bs_arena_free(&a);
    bs_buf_free(&wire);
    bs_buf_free(&body);
}
END_TEST

START_TEST(response_decode_rejects_lies) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_proto_rd r;
    bs_proto_result res;
    /* 2^31-1 rows of 0 columns: no loop, count is fine (0 cells) */
    static const uint8_t zero_cols[] = {0, 0, 0, 2, 0,    0,    0,    4,
                                        0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff};
    bs_proto_rd_init(&r, zero_cols, sizeof zero_cols);
    ck_assert_int_eq(bs_proto_result_decode(&r, &a, &res), 0);
    ck_assert_int_eq(res.u.rows.nrows, INT32_MAX);
    /* a million rows of 1 column in no bytes */
    static const uint8_t many[] = {0, 0, 0, 2, 0, 0,    0,    4,
                                   0, 0, 0, 1, 0, 0x0f, 0x42, 0x40};
    bs_proto_rd_init(&r, many, sizeof many);
    ck_assert_int_eq(bs_proto_result_decode(&r, &a, &res), BS_ETRUNC);
    /* a cell longer than the body */
    static const uint8_t longcell[] = {0, 0, 0, 2, 0, 0, 0, 4, 0, 0,  0,
                                       1, 0, 0, 0, 1, 0, 0, 1, 0, 'x'};
    bs_proto_rd_init(&r, longcell, sizeof longcell);
    ck_assert_int_eq(bs_proto_result_decode(&r, &a, &res), BS_ETRUNC);
    /* negative column count, unknown kind */
    static const uint8_t negcols[] = {0, 0, 0,    2,    0,    0,
                                      0, 4, 0xff, 0xff, 0xff, 0xff};
    bs_proto_rd_init(&r, negcols, sizeof negcols);
    ck_assert_int_eq(bs_proto_result_decode(&r, &a, &res), BS_EPROTO);
    static const uint8_t kind9[] = {0, 0, 0, 9};
    bs_proto_rd_init(&r, kind9, sizeof kind9);
    ck_assert_int_eq(bs_proto_result_decode(&r, &a, &res), BS_EPROTO);
    bs_arena_free(&a);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Golden requests from the python driver                              */
/* ------------------------------------------------------------------ */

static size_t read_golden(const char *name, uint8_t *buf, size_t cap) {
    char path[1024];
    const char *dir = BS_PROTO_GOLDEN_DIR;
    if (!dir[0]) {
        /* derive from this file's path: .../tests/unit/query/test_proto.c */
        const char *f = __FILE__;
        const char *slash = strrchr(f, '/');
        snprintf(path, sizeof path, "%.*s/proto_golden/%s",
                 (int)(slash ? slash - f : 1), slash ? f : ".", name);
    } else {
        snprintf(path, sizeof path, "%s/%s", dir, name);
    }
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    size_t n = fread(buf, 1, cap, fp);
    fclose(fp);
    ck_assert_uint_gt(n, 0);
    return n;
}

static void golden_request(const char *name, bs_arena *a, bs_buf *body,
                           bs_proto_frame *f, bs_proto_request *req) {
    uint8_t buf[4096];
    size_t n = read_golden(name, buf, sizeof buf);
    ck_assert_int_eq(decode_one(buf, n, 0, BS_PROTO_COMP_NONE, f, body), 0);
    bs_proto_rd r;
    int rc = bs_proto_request_decode(f, a, req, &r);
    ck_assert_msg(rc == 0, "%s: %s", name, r.msg);
}

START_TEST(python_driver_golden_requests) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf body = BS_BUF_INIT;
    bs_proto_frame f;
    bs_proto_request req;

    golden_request("startup.bin", &a, &body, &f, &req);
    ck_assert_int_eq(f.h.stream, 1);
    ck_assert_uint_eq(req.opcode, BS_PROTO_OP_STARTUP);
    ck_assert_uint_eq(req.u.startup.options.n, 4);
    ck_str(req.u.startup.cql_version, "3.4.5");
    ck_assert_int_eq(req.u.startup.compression, BS_PROTO_COMP_LZ4);
    int seen_driver = 0;
    for (unsigned i = 0; i < req.u.startup.options.n; i++)
        if (bs_proto_str_eq(req.u.startup.options.items[i].key,
                            "DRIVER_NAME")) {
            ck_str(req.u.startup.options.items[i].val,
                   "DataStax Python Driver");
            seen_driver = 1;
        }
    ck_assert(seen_driver);

    golden_request("options.bin", &a, &body, &f, &req);
    ck_assert_uint_eq(req.opcode, BS_PROTO_OP_OPTIONS);
    ck_assert_uint_eq(f.body_len, 0);

    golden_request("query.bin", &a, &body, &f, &req);
    ck_assert_int_eq(f.h.stream, 5);
    ck_str(req.u.query.query, "SELECT * FROM ks.t WHERE k = 'x'");
    bs_proto_params *p = &req.u.query.params;
    ck_assert_uint_eq(p->consistency, BS_CL_LOCAL_QUORUM);
    ck_assert_uint_eq(p->flags, BS_PROTO_QF_PAGE_SIZE |
                                    BS_PROTO_QF_PAGING_STATE |
                                    BS_PROTO_QF_SERIAL_CONSISTENCY |
                                    BS_PROTO_QF_DEFAULT_TIMESTAMP);
    ck_assert_uint_eq(p->nvalues, 0);
    ck_assert_int_eq(p->page_size, 100);
    ck_val(p->paging_state, "\x01\x02\x03", 3);
    ck_assert_uint_eq(p->serial_consistency, BS_CL_LOCAL_SERIAL);
    ck_assert(p->timestamp == 1234567890123456LL);

    golden_request("query_values.bin", &a, &body, &f, &req);
    ck_assert_int_eq(f.h.stream, 6);
    ck_assert(f.h.flags & BS_PROTO_FLAG_CUSTOM_PAYLOAD);
    ck_assert_int_eq(req.prelude.has_custom_payload, 1);
    ck_assert_uint_eq(req.prelude.custom_payload.n, 1);
    ck_str(req.prelude.custom_payload.items[0].key, "k1");
    ck_val(req.prelude.custom_payload.items[0].val, "v1", 2);
    ck_str(req.u.query.query,
           "INSERT INTO ks.t (a, b, c, d) VALUES (?, ?, ?, ?)");
    p = &req.u.query.params;
    ck_assert_uint_eq(p->consistency, BS_CL_ONE);
    ck_assert_uint_eq(p->flags, BS_PROTO_QF_VALUES);
    ck_assert_uint_eq(p->nvalues, 4);
    ck_val(p->values[0], "\x00\x00\x00\x2a", 4);
    ck_assert_int_eq(p->values[1].len, BS_PROTO_NULL);
    ck_assert_int_eq(p->values[2].len, BS_PROTO_UNSET);
    ck_val(p->values[3], "h\xc3\xa9llo", 6);

    golden_request("execute.bin", &a, &body, &f, &req);
    ck_assert_int_eq(f.h.stream, 300);
    ck_val(req.u.execute.id,
           "\xde\xad\xbe\xef\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b",
           16);
    p = &req.u.execute.params;
    ck_assert_uint_eq(p->consistency, BS_CL_QUORUM);
    /* this driver version does not send Skip_metadata (0x02) */
    ck_assert_uint_eq(p->flags, BS_PROTO_QF_VALUES | BS_PROTO_QF_PAGE_SIZE |
                                    BS_PROTO_QF_DEFAULT_TIMESTAMP);
    ck_assert_uint_eq(p->nvalues, 3);
    ck_val(p->values[0], "\x00\x00\x00\x07", 4);
    ck_assert_int_eq(p->values[1].len, 0);
    ck_assert_int_eq(p->values[2].len, BS_PROTO_NULL);
    ck_assert_int_eq(p->page_size, 5000);
    ck_assert(p->timestamp == 42);

    golden_request("batch.bin", &a, &body, &f, &req);
    ck_assert_int_eq(f.h.stream, 11);
    bs_proto_batch *b = &req.u.batch;
    ck_assert_uint_eq(b->type, BS_PROTO_BATCH_UNLOGGED);
    ck_assert_uint_eq(b->nstmts, 3);
    ck_assert_uint_eq(b->stmts[0].kind, 0);
    ck_str(b->stmts[0].query, "INSERT INTO ks.t (k, v) VALUES (?, ?)");
    ck_assert_uint_eq(b->stmts[0].nvalues, 2);
    ck_val(b->stmts[0].values[0], "a", 1);
    ck_assert_int_eq(b->stmts[0].values[1].len, BS_PROTO_NULL);
    ck_assert_uint_eq(b->stmts[1].kind, 1);
    ck_val(b->stmts[1].id, "\x01\x02", 2);
    ck_assert_uint_eq(b->stmts[1].nvalues, 1);
    ck_val(b->stmts[1].values[0], "xyz", 3);
    ck_str(b->stmts[2].query, "DELETE FROM ks.t WHERE k = 'z'");
    ck_assert_uint_eq(b->stmts[2].nvalues, 0);
    ck_assert_uint_eq(b->consistency, BS_CL_TWO);
    ck_assert_uint_eq(b->flags, BS_PROTO_QF_SERIAL_CONSISTENCY |
                                    BS_PROTO_QF_DEFAULT_TIMESTAMP);
    ck_assert_uint_eq(b->serial_consistency, BS_CL_LOCAL_SERIAL);
    ck_assert(b->timestamp == 1700000000000000LL);

    golden_request("register.bin", &a, &body, &f, &req);
    ck_assert_uint_eq(req.u.reg.events.n, 3);
    ck_assert_uint_eq(req.u.reg.mask, 7);

    golden_request("prepare.bin", &a, &body, &f, &req);
    ck_assert_int_eq(f.h.stream, 3);
    ck_str(req.u.prepare.query, "INSERT INTO ks.t (k, v) VALUES (?, ?)");

    golden_request("auth_response.bin", &a, &body, &f, &req);
    ck_val(req.u.auth_response,
           "\x00"
           "cassandra"
           "\x00"
           "cassandra",
           20);

    /* a v5 STARTUP from the driver gets the version error; its v3
     * STARTUP is served */
    uint8_t buf[256];
    size_t n = read_golden("startup_v5.bin", buf, sizeof buf);
    ck_assert_int_eq(decode_one(buf, n, 0, BS_PROTO_COMP_NONE, &f, &body),
                     BS_ENOTSUP);
    ck_assert_uint_eq(f.h.version, 5);
    ck_assert_int_eq(f.h.stream, 7);
    n = read_golden("startup_v3.bin", buf, sizeof buf);
    ck_assert_int_eq(decode_one(buf, n, 0, BS_PROTO_COMP_NONE, &f, &body), 0);
    ck_assert_uint_eq(f.h.version, 3);
    ck_assert_int_eq(f.h.stream, 9);
    bs_proto_rd r3;
    ck_assert_int_eq(bs_proto_request_decode(&f, &a, &req, &r3), 0);
    ck_assert_uint_eq(req.version, 3);
    ck_assert_uint_eq(req.opcode, BS_PROTO_OP_STARTUP);
    bs_arena_free(&a);
    bs_buf_free(&body);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Protocol v3                                                         */
/* ------------------------------------------------------------------ */

START_TEST(v3_types_meta_and_requests) {
    bs_arena a;
    bs_arena_init(&a, 0);
    bs_buf b = BS_BUF_INIT;
    /* date/time/smallint/tinyint: custom classes in v3, ids in v4; both
     * read back as the type */
    static const struct {
        uint16_t kind;
        const char *cls;
    } v3[] = {{BS_TYPE_DATE, "org.apache.cassandra.db.marshal.SimpleDateType"},
              {BS_TYPE_TIME, "org.apache.cassandra.db.marshal.TimeType"},
              {BS_TYPE_SMALLINT, "org.apache.cassandra.db.marshal.ShortType"},
              {BS_TYPE_TINYINT, "org.apache.cassandra.db.marshal.ByteType"}};
    for (size_t i = 0; i < 4; i++) {
        bs_type *t = bs_type_new(v3[i].kind);
        bs_type *l = bs_type_new_coll(BS_TYPE_LIST, t, NULL);
        bs_buf_reset(&b);
        ck_assert_int_eq(bs_proto_wr_type_v(&b, l, 3), 0);
        size_t cl = strlen(v3[i].cls);
        ck_assert_uint_eq(b.len, 2 + 2 + 2 + cl);
        ck_assert_uint_eq(bs_get_u16(b.data), BS_TYPE_LIST);
        ck_assert_uint_eq(bs_get_u16(b.data + 2), BS_TYPE_CUSTOM);
        ck_assert_int_eq(memcmp(b.data + 6, v3[i].cls, cl), 0);
        bs_proto_rd r;
        bs_proto_rd_init(&r, b.data, b.len);
        bs_type *got;
        ck_assert_int_eq(bs_proto_rd_type(&r, &a, NULL, &got), 0);
        ck_assert_uint_eq(got->kind, BS_TYPE_LIST);
        ck_assert_uint_eq(got->params[0]->kind, v3[i].kind);
        bs_buf_reset(&b);
        ck_assert_int_eq(bs_proto_wr_type_v(&b, l, 4), 0);
        ck_assert_uint_eq(b.len, 4);
        ck_assert_uint_eq(bs_get_u16(b.data + 2), v3[i].kind);
        bs_type_free(l);
    }
    /* prepared metadata: v3 has no pk count */
    bs_type *it = bs_type_new(BS_TYPE_INT);
    bs_proto_colspec cs = {bs_proto_cstr("ks"), bs_proto_cstr("t"),
                           bs_proto_cstr("k"), it};
    uint16_t pk = 0;
    bs_proto_prepared_meta pm = {0, 1, &cs, 1, &pk, 4};
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_proto_prepared_meta_encode(&b, &pm), 0);
    size_t v4len = b.len;
    ck_assert_uint_eq(bs_get_u32(b.data + 8), 1); /* pk count */
    pm.version = 3;
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_proto_prepared_meta_encode(&b, &pm), 0);
    ck_assert_uint_eq(b.len, v4len - 6);
    ck_assert_uint_eq(bs_get_u16(b.data + 8), 2); /* "ks" follows ncols */
    bs_type_free(it);
    /* v3 requests: no UNSET value, no custom payload */
    static const uint8_t q_unset[] = {
        0,    0, 0, 1,    'x',  0,    1, /* query "x", ONE */
        0x01, 0, 1, 0xff, 0xff, 0xff, 0xfe /* values: 1, UNSET */};
    bs_proto_frame f;
    memset(&f, 0, sizeof f);
    f.h.version = 3;
    f.h.opcode = BS_PROTO_OP_QUERY;
    f.body = q_unset;
    f.body_len = sizeof q_unset;
    bs_proto_request req;
    bs_proto_rd r;
    ck_assert_int_eq(bs_proto_request_decode(&f, &a, &req, &r), BS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.msg, "Unset values are not supported"));
    f.h.version = 4;
    ck_assert_int_eq(bs_proto_request_decode(&f, &a, &req, &r), 0);
    ck_assert_uint_eq(req.version, 4);
    ck_assert_int_eq(req.u.query.params.values[0].len, BS_PROTO_UNSET);
    static const uint8_t q_payload[] = {0, 0, 0, 0, 0, 1, 'x', 0, 1, 0};
    f.body = q_payload;
    f.body_len = sizeof q_payload;
    f.h.flags = BS_PROTO_FLAG_CUSTOM_PAYLOAD;
    ck_assert_int_eq(bs_proto_request_decode(&f, &a, &req, &r), 0);
    f.h.version = 3;
    ck_assert_int_eq(bs_proto_request_decode(&f, &a, &req, &r), BS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.msg, "CUSTOM_PAYLOAD"));
    /* re-stamping: every complete frame, direction kept, a partial tail
     * left alone */
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_proto_error_frame(&b, 1, BS_PROTO_ERR_INVALID, "a", 0),
                     0);
    size_t first = b.len;
    ck_assert_int_eq(bs_proto_error_frame(&b, 2, BS_PROTO_ERR_INVALID, "bb", 0),
                     0);
    ck_assert_int_eq(bs_buf_append(&b, "\x84\x00", 2), 0);
    bs_proto_frames_set_version(b.data, b.len, 3);
    ck_assert_uint_eq(b.data[0], 0x83);
    ck_assert_uint_eq(b.data[first], 0x83);
    ck_assert_uint_eq(b.data[b.len - 2], 0x84);
    bs_buf_free(&b);
    bs_arena_free(&a);
}
END_TEST

int main(void) {
    Suite *s = suite_create("query_proto");
    TCase *tc = tcase_create("proto");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, prim_round_trip);
    tcase_add_test(tc, prim_rejects_malformed);
    tcase_add_test(tc, names_and_codes);
    tcase_add_test(tc, type_round_trip);
    tcase_add_test(tc, golden_startup_and_ready);
    tcase_add_test(tc, header_validation);
    tcase_add_test(tc, version_error_frames);
    tcase_add_test(tc, golden_rows_result);
    tcase_add_test(tc, rows_builder_paging_and_errors);
    tcase_add_test(tc, request_round_trips);
    tcase_add_test(tc, request_validation);
    tcase_add_test(tc, query_truncated_at_every_byte);
    tcase_add_test(tc, stream_byte_by_byte_equals_whole);
    tcase_add_test(tc, stream_oversize_frame_is_skipped);
    tcase_add_test(tc, stream_errors_poison);
    tcase_add_test(tc, lz4_round_trip_and_lies);
    tcase_add_test(tc, error_round_trips);
    tcase_add_test(tc, response_round_trips);
    tcase_add_test(tc, response_decode_rejects_lies);
    tcase_add_test(tc, frame_add_tracing);
    tcase_add_test(tc, python_driver_golden_requests);
    tcase_add_test(tc, v3_types_meta_and_requests);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
