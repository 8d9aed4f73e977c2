/*
 * test_driver_stmt.c - statements, binders, routing keys, config parsing
 * and result decoding of libbasalt-client, without a server.
 *
 * White-box where the public API has no getter: the bound wire bytes are
 * read from the statement (client/driver_int.h).  Prepared handles are
 * built from PREPARED metadata made here, results from RESULT bodies made
 * with the shared codec (query/proto_msg.h), including malformed ones.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/basalt.h"
#include "client/driver_int.h"
#include "ring/murmur3.h"

/* ------------------------------------------------------------ config */

START_TEST(test_config_contact_points) {
    bs_client_config *cfg;
    ck_assert_int_eq(bs_client_config_new(&cfg), 0);
    ck_assert_int_eq(cfg->port, 9042);
    ck_assert_int_eq(cfg->cl, BS_CL_LOCAL_ONE);
    ck_assert_int_eq(bs_client_config_add_contact_points(
                         cfg, "10.0.0.1, host.example:9100,[::1]:9200,::2"),
                     0);
    ck_assert_uint_eq(cfg->ncps, 4);
    ck_assert_str_eq(cfg->cps[0].host, "10.0.0.1");
    ck_assert_int_eq(cfg->cps[0].port, 0);
    ck_assert_str_eq(cfg->cps[1].host, "host.example");
    ck_assert_int_eq(cfg->cps[1].port, 9100);
    ck_assert_str_eq(cfg->cps[2].host, "::1");
    ck_assert_int_eq(cfg->cps[2].port, 9200);
    ck_assert_str_eq(cfg->cps[3].host, "::2");
    ck_assert_int_eq(cfg->cps[3].port, 0);
    /* a bad entry adds nothing of its list */
    ck_assert_int_eq(bs_client_config_add_contact_points(cfg, "a:1,b:99999"),
                     BS_EINVAL);
    ck_assert_int_eq(bs_client_config_add_contact_points(cfg, "a:x"),
                     BS_EINVAL);
    ck_assert_int_eq(bs_client_config_add_contact_points(cfg, ""), BS_EINVAL);
    ck_assert_int_eq(bs_client_config_add_contact_points(cfg, "[::1"),
                     BS_EINVAL);
    ck_assert_int_eq(bs_client_config_add_contact_points(cfg, "a,,b"),
                     BS_EINVAL);
    ck_assert_uint_eq(cfg->ncps, 4);
    /* knobs validate */
    ck_assert_int_eq(bs_client_config_set_port(cfg, 0), BS_EINVAL);
    ck_assert_int_eq(bs_client_config_set_consistency(cfg, 0x99), BS_EINVAL);
    ck_assert_int_eq(bs_client_config_set_consistency(cfg, BS_CL_QUORUM), 0);
    ck_assert_int_eq(bs_client_config_set_serial_consistency(cfg, BS_CL_ONE),
                     BS_EINVAL);
    ck_assert_int_eq(bs_client_config_set_request_timeout(cfg, 0), BS_EINVAL);
    ck_assert_int_eq(bs_client_config_set_pool_size(cfg, 65), BS_EINVAL);
    ck_assert_int_eq(bs_client_config_set_retry(cfg, 2, 100, 10), BS_EINVAL);
    ck_assert_int_eq(bs_client_config_set_retry(cfg, 2, 10, 100), 0);
    ck_assert_int_eq(bs_client_config_set_keyspace(cfg, "ks"), 0);
    ck_assert_int_eq(bs_client_config_set_local_dc(cfg, "dc2"), 0);
    bs_client_config copy;
    ck_assert_int_eq(bs__config_copy(cfg, &copy), 0);
    bs_client_config_free(cfg); /* the copy is independent */
    ck_assert_str_eq(copy.keyspace, "ks");
    ck_assert_str_eq(copy.local_dc, "dc2");
    ck_assert_str_eq(copy.cps[1].host, "host.example");
    ck_assert_int_eq(copy.cl, BS_CL_QUORUM);
    bs__config_clear(&copy);
}
END_TEST

START_TEST(test_strerror_and_classes) {
    int codes[] = {BS_CLIENT_ESERVER,      BS_CLIENT_ENOHOST,
                   BS_CLIENT_ETIMEOUT,     BS_CLIENT_ECONNREFUSED,
                   BS_CLIENT_ECONNLOST,    BS_CLIENT_ECLOSED,
                   BS_CLIENT_ECONNTIMEOUT, BS_CLIENT_EPROTO};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        for (size_t j = 0; j < i; j++)
            ck_assert_str_ne(bs_client_strerror(codes[i]),
                             bs_client_strerror(codes[j]));
    ck_assert_str_eq(bs_client_strerror(BS_ENOMEM), bs_strerror(BS_ENOMEM));
    ck_assert_str_eq(bs_client_error_class(BS_PROTO_ERR_SYNTAX),
                     "SyntaxException");
    ck_assert_str_eq(bs_client_error_class(BS_PROTO_ERR_ALREADY_EXISTS),
                     "AlreadyExists");
    ck_assert_str_eq(bs_client_error_class(BS_PROTO_ERR_UNAVAILABLE),
                     "Unavailable");
    ck_assert_str_eq(bs_client_error_class(0x7777), "ServerError");
}
END_TEST

/* ------------------------------------------------------------ binders */

START_TEST(test_simple_binders) {
    bs_client_stmt *s;
    ck_assert_int_eq(bs_client_stmt_new("INSERT ...", 1, &s), 0);
    ck_assert_uint_eq(s->nvals, 1);
    ck_assert_int_eq(s->vals[0].len, BS_PROTO_UNSET);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, -2), 0);
    ck_assert_int_eq(s->vals[0].len, 4);
    ck_assert_int_eq(memcmp(s->vals[0].p, "\xff\xff\xff\xfe", 4), 0);
    /* binding beyond the count grows it (unset in between) */
    ck_assert_int_eq(bs_client_stmt_bind_int64(s, 3, 1), 0);
    ck_assert_uint_eq(s->nvals, 4);
    ck_assert_int_eq(s->vals[1].len, BS_PROTO_UNSET);
    ck_assert_int_eq(s->vals[3].len, 8);
    ck_assert_int_eq(memcmp(s->vals[3].p, "\0\0\0\0\0\0\0\1", 8), 0);
    ck_assert_int_eq(bs_client_stmt_bind_double(s, 1, 1.0), 0);
    ck_assert_int_eq(memcmp(s->vals[1].p, "\x3f\xf0\0\0\0\0\0\0", 8), 0);
    ck_assert_int_eq(bs_client_stmt_bind_null(s, 2), 0);
    ck_assert_int_eq(s->vals[2].len, BS_PROTO_NULL);
    ck_assert_int_eq(bs_client_stmt_bind_bytes(s, 2, NULL, BS_CLIENT_NULL), 0);
    ck_assert_int_eq(s->vals[2].len, BS_PROTO_NULL);
    ck_assert_int_eq(bs_client_stmt_bind_text(s, 2, ""), 0);
    ck_assert_int_eq(s->vals[2].len, 0);
    ck_assert_int_eq(bs_client_stmt_bind_bool(s, 0, 7), 0);
    ck_assert_int_eq(s->vals[0].len, 1);
    ck_assert_int_eq(s->vals[0].p[0], 1);
    ck_assert_int_eq(bs_client_stmt_bind_unset(s, 0), 0);
    ck_assert_int_eq(s->vals[0].len, BS_PROTO_UNSET);
    ck_assert_int_eq(bs_client_stmt_bind_bytes_by_name(s, "x", "a", 1),
                     BS_EINVAL);
    /* idempotence by text, unless set */
    ck_assert_int_eq(bs__stmt_idempotent(s), 0);
    ck_assert_int_eq(bs_client_stmt_set_idempotent(s, 1), 0);
    ck_assert_int_eq(bs__stmt_idempotent(s), 1);
    bs_client_stmt *q;
    ck_assert_int_eq(bs_client_stmt_new("  select * from t", 0, &q), 0);
    ck_assert_int_eq(bs__stmt_idempotent(q), 1);
    bs_client_stmt_free(q);
    ck_assert_int_eq(bs_client_stmt_new("SELECTED", 0, &q), 0);
    ck_assert_int_eq(bs__stmt_idempotent(q), 0);
    /* options validate */
    ck_assert_int_eq(bs_client_stmt_set_consistency(q, 0x42), BS_EINVAL);
    ck_assert_int_eq(
        bs_client_stmt_set_serial_consistency(q, BS_CL_LOCAL_SERIAL), 0);
    ck_assert_int_eq(bs_client_stmt_set_timeout(q, -1), BS_EINVAL);
    ck_assert_int_eq(bs_client_stmt_set_paging_state(q, NULL, 3), BS_EINVAL);
    bs_client_stmt_free(q);
    /* a deep copy is independent */
    bs_client_stmt *c;
    ck_assert_int_eq(bs__stmt_clone(s, &c), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 3, 5), 0);
    ck_assert_int_eq(c->vals[3].len, 8);
    ck_assert_int_eq(c->idempotent, 1);
    bs_client_stmt_free(c);
    bs_client_stmt_free(s);
    ck_assert_int_eq(bs_client_stmt_new(NULL, 0, &s), BS_EINVAL);
}
END_TEST

/* A prepared handle for (k1 text, k2 int, a <types...>) with partition key
 * (k2, k1) = markers 1 and 0. */
static bs_client_prepared *make_prepared(const bs_type_kind *kinds, size_t n,
                                         uint32_t npk, const uint16_t *pk) {
    bs_proto_prepared pr;
    memset(&pr, 0, sizeof pr);
    uint8_t id[4] = {1, 2, 3, 4};
    pr.id = bs_proto_bytes(id, 4);
    bs_proto_colspec cols[16];
    bs_type *types[16];
    char names[16][32];
    for (size_t i = 0; i < n; i++) {
        types[i] = bs_type_new(kinds[i]);
        snprintf(names[i], sizeof names[i], "c%zu", i);
        cols[i].keyspace = bs_proto_cstr("ks");
        cols[i].table = bs_proto_cstr("t");
        cols[i].name = bs_proto_cstr(names[i]);
        cols[i].type = types[i];
    }
    pr.bind.ncols = (uint32_t)n;
    pr.bind.cols = cols;
    pr.bind.npk = npk;
    pr.bind.pk_indices = (uint16_t *)pk;
    pr.result.paging_state.len = BS_PROTO_NULL;
    bs_client_prepared *p = NULL;
    ck_assert_int_eq(bs__prepared_from_result("INSERT q", "", &pr, &p), 0);
    for (size_t i = 0; i < n; i++)
        bs_type_free(types[i]);
    return p;
}

START_TEST(test_prepared_binders) {
    bs_type_kind k[] = {BS_TYPE_VARCHAR, BS_TYPE_INT,      BS_TYPE_TINYINT,
                        BS_TYPE_VARINT,  BS_TYPE_FLOAT,    BS_TYPE_DATE,
                        BS_TYPE_TIME,    BS_TYPE_TIMEUUID, BS_TYPE_BLOB};
    uint16_t pk[] = {1, 0};
    bs_client_prepared *p = make_prepared(k, 9, 2, pk);
    ck_assert_uint_eq(bs_client_prepared_param_count(p), 9);
    ck_assert_str_eq(bs_client_prepared_param_name(p, 3), "c3");
    ck_assert_ptr_null(bs_client_prepared_param_name(p, 9));
    ck_assert_int_eq(bs_client_prepared_param_index(p, "c8"), 8);
    ck_assert_int_eq(bs_client_prepared_param_index(p, "zz"), BS_ENOTFOUND);
    ck_assert_str_eq(p->route_ks, "ks");
    bs_client_stmt *s;
    ck_assert_int_eq(bs_client_stmt_new_prepared(p, &s), 0);
    bs_client_prepared_free(p); /* s keeps it alive */
    ck_assert_uint_eq(s->nvals, 9);

    /* an int64 into an int column: 4 bytes; out of range refused */
    ck_assert_int_eq(bs_client_stmt_bind_int64(s, 1, 258), 0);
    ck_assert_int_eq(s->vals[1].len, 4);
    ck_assert_int_eq(memcmp(s->vals[1].p, "\0\0\1\2", 4), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int64(s, 1, 1LL << 40), BS_ERANGE);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 2, -128), 0);
    ck_assert_int_eq(s->vals[2].len, 1);
    ck_assert_int_eq(s->vals[2].p[0], 0x80);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 2, 128), BS_ERANGE);
    /* varint: minimal two's complement */
    struct {
        int64_t v;
        int len;
        const char *b;
    } vi[] = {{0, 1, "\x00"},
              {127, 1, "\x7f"},
              {128, 2, "\x00\x80"},
              {-1, 1, "\xff"},
              {-128, 1, "\x80"},
              {-129, 2, "\xff\x7f"},
              {INT64_MIN, 8, "\x80\0\0\0\0\0\0\0"}};
    for (size_t i = 0; i < sizeof vi / sizeof *vi; i++) {
        ck_assert_int_eq(bs_client_stmt_bind_int64(s, 3, vi[i].v), 0);
        ck_assert_int_eq(s->vals[3].len, vi[i].len);
        ck_assert_int_eq(memcmp(s->vals[3].p, vi[i].b, (size_t)vi[i].len), 0);
    }
    /* double into float: 4 bytes */
    ck_assert_int_eq(bs_client_stmt_bind_double(s, 4, 1.5), 0);
    ck_assert_int_eq(s->vals[4].len, 4);
    ck_assert_int_eq(memcmp(s->vals[4].p, "\x3f\xc0\0\0", 4), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int64(s, 5, -1), BS_ERANGE);
    ck_assert_int_eq(bs_client_stmt_bind_int64(s, 5, 1LL << 31), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int64(s, 6, 86400LL * 1000000000LL),
                     BS_ERANGE);
    uint8_t u[16] = {0};
    ck_assert_int_eq(bs_client_stmt_bind_uuid(s, 7, u), 0);
    ck_assert_int_eq(bs_client_stmt_bind_uuid(s, 8, u), BS_ETYPE);
    ck_assert_int_eq(bs_client_stmt_bind_text(s, 8, "x"), BS_ETYPE);
    ck_assert_int_eq(bs_client_stmt_bind_bool(s, 8, 1), BS_ETYPE);
    ck_assert_int_eq(bs_client_stmt_bind_bytes_by_name(s, "c8", "\xca\xfe", 2),
                     0);
    ck_assert_int_eq(s->vals[8].len, 2);
    ck_assert_int_eq(bs_client_stmt_bind_bytes_by_name(s, "nope", "", 0),
                     BS_ENOTFOUND);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 9, 0), BS_ERANGE);

    /* routing: composite (k2, k1) in pk order, not marker order */
    int64_t tok;
    ck_assert_int_eq(bs_client_stmt_routing_token(s, &tok), BS_ENOTFOUND);
    ck_assert_int_eq(bs_client_stmt_bind_text(s, 0, "abc"), 0);
    ck_assert_int_eq(bs_client_stmt_routing_token(s, &tok), 0);
    bs_ring_keypart parts[2] = {{(const uint8_t *)"\0\0\1\2", 4},
                                {(const uint8_t *)"abc", 3}};
    bs_buf key = BS_BUF_INIT;
    ck_assert_int_eq(bs_ring_compose_key(parts, 2, &key), 0);
    ck_assert_int_eq(tok, bs_ring_partition_token(key.data, key.len));
    bs_buf_free(&key);
    /* a null key component: no routing */
    ck_assert_int_eq(bs_client_stmt_bind_null(s, 0), 0);
    ck_assert_int_eq(bs_client_stmt_routing_token(s, &tok), BS_ENOTFOUND);
    /* an explicit routing key wins */
    const uint8_t *kp[1] = {(const uint8_t *)"123"};
    size_t kl[1] = {3};
    ck_assert_int_eq(bs_client_stmt_set_routing_key(s, kp, kl, 1), 0);
    ck_assert_int_eq(bs_client_stmt_routing_token(s, &tok), 0);
    ck_assert_int_eq(tok,
                     -7468325962851647638LL); /* Cassandra's token('123') */
    bs_client_stmt_free(s);
}
END_TEST

START_TEST(test_token_of_and_batch_routing) {
    const uint8_t *kp[1] = {(const uint8_t *)"123"};
    size_t kl[1] = {3};
    int64_t t;
    ck_assert_int_eq(bs_client_token_of(kp, kl, 1, &t), 0);
    ck_assert_int_eq(t, -7468325962851647638LL);
    ck_assert_int_eq(bs_client_token_of(kp, kl, 0, &t), BS_EINVAL);
    /* empty single key: the minimum token, as Cassandra */
    kl[0] = 0;
    ck_assert_int_eq(bs_client_token_of(kp, kl, 1, &t), 0);
    ck_assert_int_eq(t, INT64_MIN);

    bs_type_kind k[] = {BS_TYPE_INT, BS_TYPE_VARCHAR};
    uint16_t pk[] = {0};
    bs_client_prepared *p = make_prepared(k, 2, 1, pk);
    bs_client_stmt *b, *s;
    ck_assert_int_eq(bs_client_stmt_new_batch(BS_CLIENT_BATCH_UNLOGGED, &b), 0);
    ck_assert_int_eq(bs_client_stmt_new_batch(7, &s), BS_EINVAL);
    ck_assert_int_eq(bs_client_stmt_routing_token(b, &t), BS_ENOTFOUND);
    ck_assert_int_eq(bs_client_stmt_new("INSERT x", 0, &s), 0);
    ck_assert_int_eq(bs_client_batch_add(b, s), 0);
    bs_client_stmt_free(s);
    ck_assert_int_eq(bs_client_stmt_new_prepared(p, &s), 0);
    ck_assert_int_eq(bs_client_stmt_bind_int32(s, 0, 9), 0);
    ck_assert_int_eq(bs_client_batch_add(b, s), 0);
    bs_client_stmt_free(s);
    /* a batch routes by its first statement with a key */
    ck_assert_int_eq(bs_client_stmt_routing_token(b, &t), 0);
    ck_assert_int_eq(t, bs_ring_partition_token("\0\0\0\x09", 4));
    ck_assert_str_eq(bs__stmt_route_ks(b), "ks");
    ck_assert_int_eq(bs__stmt_idempotent(b), 0);
    bs_client_stmt_free(b);
    bs_client_prepared_free(p);
}
END_TEST

/* ------------------------------------------------------------ results */

static uint8_t *rows_body(size_t *len, int with_state) {
    bs_type *ti = bs_type_new(BS_TYPE_INT), *tt = bs_type_new(BS_TYPE_VARCHAR);
    bs_proto_colspec cols[2] = {
        {bs_proto_cstr("ks"), bs_proto_cstr("t"), bs_proto_cstr("k"), ti},
        {bs_proto_cstr("ks"), bs_proto_cstr("t"), bs_proto_cstr("v"), tt}};
    bs_proto_meta m;
    memset(&m, 0, sizeof m);
    m.ncols = 2;
    m.cols = cols;
    m.paging_state.len = BS_PROTO_NULL;
    bs_buf b = BS_BUF_INIT;
    bs_proto_rows_builder rb;
    ck_assert_int_eq(bs_proto_rows_begin(&rb, &b, &m), 0);
    ck_assert_int_eq(bs_proto_rows_cell(&rb, "\0\0\0\1", 4), 0);
    ck_assert_int_eq(bs_proto_rows_cell(&rb, "one", 3), 0);
    ck_assert_int_eq(bs_proto_rows_cell(&rb, "\0\0\0\2", 4), 0);
    ck_assert_int_eq(bs_proto_rows_cell(&rb, NULL, -1), 0);
    if (with_state) bs_proto_rows_set_paging_state(&rb, "PS", 2);
    ck_assert_int_eq(bs_proto_rows_finish(&rb), 0);
    bs_type_free(ti);
    bs_type_free(tt);
    return bs_buf_steal(&b, len);
}

START_TEST(test_result_rows) {
    size_t len;
    uint8_t *body = rows_body(&len, 1);
    bs_client_result *r;
    char msg[200];
    ck_assert_int_eq(bs__result_new(body, len, 0, "h:1", &r, msg, sizeof msg),
                     0);
    ck_assert_int_eq(bs_client_result_kind(r), BS_CLIENT_RESULT_ROWS);
    ck_assert_str_eq(bs_client_result_host(r), "h:1");
    ck_assert_uint_eq(bs_client_result_row_count(r), 2);
    ck_assert_uint_eq(bs_client_result_column_count(r), 2);
    ck_assert_ptr_null(bs_client_result_column_name(r, 2));
    ck_assert_int_eq(bs_client_result_has_more_pages(r), 1);
    const uint8_t *ps;
    size_t pl;
    bs_client_result_paging_state(r, &ps, &pl);
    ck_assert_uint_eq(pl, 2);
    ck_assert_int_eq(memcmp(ps, "PS", 2), 0);
    int rows = 0;
    for (int pass = 0; pass < 2; pass++) {
        while (bs_client_result_next_row(r)) {
            int32_t k;
            ck_assert_int_eq(bs_client_result_get_int32(r, 0, &k), 0);
            ck_assert_int_eq(k, rows % 2 + 1);
            bs_buf f = BS_BUF_INIT;
            ck_assert_int_eq(bs_client_result_get_formatted(r, 1, 0, &f), 0);
            ck_assert_int_eq(bs_buf_append_u8(&f, 0), 0);
            ck_assert_str_eq((char *)f.data, k == 1 ? "one" : "null");
            bs_buf_free(&f);
            rows++;
        }
        bs_client_result_rewind(r);
    }
    ck_assert_int_eq(rows, 4);
    int bv;
    ck_assert_int_eq(bs_client_result_get_bool(r, 0, &bv), BS_ERANGE);
    bs_client_result_free(r);

    /* every truncation of a valid body is refused cleanly */
    body = rows_body(&len, 0);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = malloc(cut ? cut : 1);
        memcpy(copy, body, cut);
        int rc = bs__result_new(copy, cut, 0, "", &r, msg, sizeof msg);
        ck_assert_msg(rc == BS_CLIENT_EPROTO, "cut %zu: %d", cut, rc);
    }
    /* a lying row count */
    uint8_t *bad = malloc(len);
    memcpy(bad, body, len);
    free(body);
    /* the count is the int right before the first cell: find it by
     * re-deriving its offset (cells = 4+4+3+4+(-1) bytes = 8+7+8+4) */
    size_t cells = (4 + 4) + (4 + 3) + (4 + 4) + 4;
    bs_put_u32(bad + len - cells - 4, 1000);
    ck_assert_int_eq(bs__result_new(bad, len, 0, "", &r, msg, sizeof msg),
                     BS_CLIENT_EPROTO);
}
END_TEST

int main(void) {
    Suite *s = suite_create("client_driver_stmt");
    TCase *tc = tcase_create("stmt");
    tcase_add_test(tc, test_config_contact_points);
    tcase_add_test(tc, test_strerror_and_classes);
    tcase_add_test(tc, test_simple_binders);
    tcase_add_test(tc, test_prepared_binders);
    tcase_add_test(tc, test_token_of_and_batch_routing);
    tcase_add_test(tc, test_result_rows);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
