/*
 * test_proto_interop.c - responses encoded by query/proto*.c must decode
 * in the REAL python driver (Debian's python3-cassandra).
 *
 * Each test writes response frames into a fresh temporary folder, runs
 * proto_golden/decode_response.py on them with /usr/bin/python3, and
 * compares the line the driver's own decoder produced for each frame
 * with the expected description (values as python renders them).  The
 * opposite direction (python-encoded requests decoded by C) is covered
 * by test_proto.c with the committed golden files.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "query/proto.h"
#include "query/proto_msg.h"

#ifndef BS_PROTO_GOLDEN_DIR
#define BS_PROTO_GOLDEN_DIR ""
#endif
#ifndef BS_PYTHON3
#define BS_PYTHON3 "/usr/bin/python3"
#endif

#define S(lit) ((bs_proto_str){lit, sizeof(lit) - 1})
#define V(lit)                                                                 \
    ((bs_proto_val){(const uint8_t *)(lit), (int32_t)(sizeof(lit) - 1)})

typedef struct {
    char dir[256];
    int n;
    char names[32][64];
    char want[32][1024];
} batch;

static void batch_init(batch *b) {
    memset(b, 0, sizeof *b);
    snprintf(b->dir, sizeof b->dir, "/tmp/bs_proto_interop.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(b->dir));
}

/* Writes one frame and the line the driver must print for it. */
static void add_frame(batch *b, const char *name, const bs_buf *frame,
                      const char *want) {
    ck_assert_int_lt(b->n, 32);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", b->dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(frame->data, 1, frame->len, f), frame->len);
    fclose(f);
    snprintf(b->names[b->n], sizeof b->names[0], "%s", name);
    snprintf(b->want[b->n], sizeof b->want[0], "%s: %s", name, want);
    b->n++;
}

static void add_response(batch *b, const char *name, int16_t stream,
                         const bs_proto_response *r, const char *want) {
    bs_buf w = BS_BUF_INIT;
    ck_assert_int_eq(
        bs_proto_response_encode(&w, stream, r, BS_PROTO_COMP_NONE), 0);
    add_frame(b, name, &w, want);
    bs_buf_free(&w);
}

static void script_path(char *out, size_t n) {
    const char *dir = BS_PROTO_GOLDEN_DIR;
    if (dir[0]) {
        snprintf(out, n, "%s/decode_response.py", dir);
    } else {
        const char *f = __FILE__;
        const char *slash = strrchr(f, '/');
        snprintf(out, n, "%.*s/proto_golden/decode_response.py",
                 (int)(slash ? slash - f : 1), slash ? f : ".");
    }
}

/* Runs the driver over every frame and compares its lines. */
static void batch_run(batch *b) {
    char script[512];
    script_path(script, sizeof script);
    size_t cap = 8192;
    char *cmd = malloc(cap);
    int len = snprintf(cmd, cap, "%s %s", BS_PYTHON3, script);
    for (int i = 0; i < b->n; i++)
        len += snprintf(cmd + len, cap - (size_t)len, " %s/%s", b->dir,
                        b->names[i]);
    len += snprintf(cmd + len, cap - (size_t)len, " 2>&1");
    ck_assert_uint_lt((size_t)len, cap);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char line[4096];
    int i = 0;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        ck_assert_msg(i < b->n, "unexpected driver output: %s", line);
        ck_assert_msg(strcmp(line, b->want[i]) == 0, "\n got: %s\nwant: %s",
                      line, b->want[i]);
        i++;
    }
    int st = pclose(p);
    ck_assert_int_eq(i, b->n);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "python exit status %d", st);
    for (int k = 0; k < b->n; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", b->dir, b->names[k]);
        unlink(path);
    }
    rmdir(b->dir);
    free(cmd);
}

START_TEST(driver_decodes_control_responses) {
    batch b;
    batch_init(&b);
    bs_proto_response r;

    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_READY;
    add_response(&b, "ready", 1, &r, "v4 stream=1 READY");

    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_SUPPORTED;
    bs_proto_str cqlv[] = {S("3.4.5")}, comp[] = {S("lz4")}, pv[] = {S("4/v4")};
    bs_proto_multimap_entry sup[] = {{S("CQL_VERSION"), {1, cqlv}},
                                     {S("COMPRESSION"), {1, comp}},
                                     {S("PROTOCOL_VERSIONS"), {1, pv}}};
    r.u.supported = (bs_proto_multimap){3, sup};
    add_response(&b, "supported", 0, &r,
                 "v4 stream=0 SUPPORTED cql_versions=3.4.5 "
                 "COMPRESSION=lz4;PROTOCOL_VERSIONS=4/v4");

    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_AUTHENTICATE;
    r.u.authenticator = S("org.apache.cassandra.auth.PasswordAuthenticator");
    add_response(&b, "authenticate", 2, &r,
                 "v4 stream=2 AUTHENTICATE "
                 "org.apache.cassandra.auth.PasswordAuthenticator");

    /* the answer to a v5 STARTUP: what makes the driver fall back to v4 */
    bs_buf w = BS_BUF_INIT;
    ck_assert_int_eq(bs_proto_version_error_frame(&w, 5, 7), 0);
    add_frame(&b, "version_error", &w,
              "v4 stream=7 ProtocolException code=0x000a msg='Invalid or "
              "unsupported protocol "
              "version (5); the lowest supported version is 3 and the greatest "
              "is 4' info=None");
    bs_buf_free(&w);

    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_EVENT;
    r.u.event.type = S("STATUS_CHANGE");
    r.u.event.change = S("UP");
    r.u.event.addr = (bs_proto_inet){4, {127, 0, 0, 2}, 9042};
    add_response(&b, "event_status", -1, &r,
                 "v4 stream=-1 EVENT STATUS_CHANGE address=('127.0.0.2', "
                 "9042),change_type=UP");
    r.u.event.type = S("TOPOLOGY_CHANGE");
    r.u.event.change = S("NEW_NODE");
    r.u.event.addr =
        (bs_proto_inet){16, {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, 9043};
    add_response(
        &b, "event_topology", -1, &r,
        "v4 stream=-1 EVENT TOPOLOGY_CHANGE address=('2001:db8::1', 9043),"
        "change_type=NEW_NODE");
    r.u.event.type = S("SCHEMA_CHANGE");
    r.u.event.schema = (bs_proto_schema_change){
        S("CREATED"), S("TABLE"), S("ks"), S("t"), {0, NULL}};
    add_response(&b, "event_schema", -1, &r,
                 "v4 stream=-1 EVENT SCHEMA_CHANGE "
                 "change_type=CREATED,keyspace=ks,table=t,"
                 "target_type=TABLE");
    batch_run(&b);
}
END_TEST

START_TEST(driver_decodes_errors) {
    batch b;
    batch_init(&b);
    bs_proto_response r;
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_ERROR;
    bs_proto_error *e = &r.u.error;

    *e = (bs_proto_error){.code = BS_PROTO_ERR_SYNTAX,
                          .message = S("line 1:0 no viable alternative")};
    add_response(&b, "syntax", 3, &r,
                 "v4 stream=3 SyntaxException code=0x2000 msg='line 1:0 no "
                 "viable alternative' info=None");
    *e = (bs_proto_error){.code = BS_PROTO_ERR_INVALID,
                          .message = S("Keyspace 'nope' does not exist")};
    add_response(&b, "invalid", 3, &r,
                 "v4 stream=3 InvalidRequestException code=0x2200 "
                 "msg=\"Keyspace 'nope' does not "
                 "exist\" info=None");
    *e = (bs_proto_error){.code = BS_PROTO_ERR_UNAVAILABLE,
                          .message = S("unavailable"),
                          .cl = BS_CL_QUORUM,
                          .required = 2,
                          .alive = 1};
    add_response(
        &b, "unavailable", 4, &r,
        "v4 stream=4 UnavailableErrorMessage code=0x1000 msg='unavailable' "
        "info=alive_replicas=1,consistency=4,required_replicas=2");
    *e = (bs_proto_error){.code = BS_PROTO_ERR_WRITE_TIMEOUT,
                          .message = S("wt"),
                          .cl = BS_CL_LOCAL_QUORUM,
                          .received = 1,
                          .blockfor = 2,
                          .write_type = S("SIMPLE")};
    add_response(&b, "write_timeout", 4, &r,
                 "v4 stream=4 WriteTimeoutErrorMessage code=0x1100 msg='wt' "
                 "info=consistency=6,received_responses=1,required_responses=2,"
                 "write_type=0");
    *e = (bs_proto_error){.code = BS_PROTO_ERR_READ_TIMEOUT,
                          .message = S("rt"),
                          .cl = BS_CL_ALL,
                          .received = 2,
                          .blockfor = 3,
                          .data_present = 1};
    add_response(&b, "read_timeout", 4, &r,
                 "v4 stream=4 ReadTimeoutErrorMessage code=0x1200 msg='rt' "
                 "info=consistency=5,data_retrieved=True,received_responses=2,"
                 "required_responses=3");
    *e = (bs_proto_error){.code = BS_PROTO_ERR_READ_FAILURE,
                          .message = S("rf"),
                          .cl = BS_CL_TWO,
                          .received = 1,
                          .blockfor = 2,
                          .numfailures = 1,
                          .data_present = 0};
    add_response(&b, "read_failure", 4, &r,
                 "v4 stream=4 ReadFailureMessage code=0x1300 msg='rf' "
                 "info=consistency=2,data_retrieved=False,error_code_map=None,"
                 "failures=1,"
                 "received_responses=1,required_responses=2");
    *e = (bs_proto_error){.code = BS_PROTO_ERR_WRITE_FAILURE,
                          .message = S("wf"),
                          .cl = BS_CL_ONE,
                          .received = 0,
                          .blockfor = 1,
                          .numfailures = 1,
                          .write_type = S("BATCH_LOG")};
    add_response(&b, "write_failure", 4, &r,
                 "v4 stream=4 WriteFailureMessage code=0x1500 msg='wf' "
                 "info=consistency=1,error_code_map=None,failures=1,received_"
                 "responses=0,"
                 "required_responses=1,write_type=4"); /* WriteType.BATCH_LOG */
    bs_proto_str args[] = {S("int"), S("text")};
    *e = (bs_proto_error){.code = BS_PROTO_ERR_FUNCTION_FAILURE,
                          .message = S("ff"),
                          .keyspace = S("ks"),
                          .name = S("f"),
                          .arg_types = {2, args}};
    add_response(&b, "function_failure", 4, &r,
                 "v4 stream=4 FunctionFailureMessage code=0x1400 msg='ff' "
                 "info=arg_types=['int', 'text'],function='f',keyspace='ks'");
    *e = (bs_proto_error){.code = BS_PROTO_ERR_ALREADY_EXISTS,
                          .message = S("exists"),
                          .keyspace = S("ks"),
                          .name = S("t")};
    add_response(&b, "already_exists", 4, &r,
                 "v4 stream=4 AlreadyExistsException code=0x2400 msg='exists' "
                 "info=keyspace='ks',table='t'");
    *e = (bs_proto_error){.code = BS_PROTO_ERR_UNPREPARED,
                          .message = S("unprepared"),
                          .unprepared_id = V("\xab\xcd")};
    add_response(&b, "unprepared", 4, &r,
                 "v4 stream=4 PreparedQueryNotFound code=0x2500 "
                 "msg='unprepared' info=b'\\xab\\xcd'");
    *e =
        (bs_proto_error){.code = BS_PROTO_ERR_OVERLOADED, .message = S("busy")};
    add_response(
        &b, "overloaded", 4, &r,
        "v4 stream=4 OverloadedErrorMessage code=0x1001 msg='busy' info=None");
    batch_run(&b);
}
END_TEST

static void put32(uint8_t *p, uint32_t v) {
    bs_put_u32(p, v);
}

START_TEST(driver_decodes_results) {
    batch b;
    batch_init(&b);
    bs_proto_response r;

    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_RESULT;
    r.u.result.kind = BS_PROTO_RESULT_VOID;
    bs_proto_str warns[] = {S("Aggregation query used without partition key")};
    r.prelude.warnings = (bs_proto_strlist){1, warns};
    add_response(&b, "void", 5, &r,
                 "v4 stream=5 RESULT void warnings=['Aggregation query used "
                 "without partition key']");

    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_RESULT;
    r.u.result.kind = BS_PROTO_RESULT_SET_KEYSPACE;
    r.u.result.u.keyspace = S("ks1");
    add_response(&b, "set_keyspace", 5, &r,
                 "v4 stream=5 RESULT set_keyspace ks1");

    r.u.result.kind = BS_PROTO_RESULT_SCHEMA_CHANGE;
    bs_proto_str fargs[] = {S("int"), S("text")};
    r.u.result.u.schema_change = (bs_proto_schema_change){
        S("CREATED"), S("FUNCTION"), S("ks"), S("fn"), {2, fargs}};
    add_response(&b, "schema_function", 5, &r,
                 "v4 stream=5 RESULT schema_change change_type=CREATED,"
                 "function=UserFunctionDescriptor(fn, ['int', 'text']),"
                 "keyspace=ks,target_type=FUNCTION");
    r.u.result.u.schema_change = (bs_proto_schema_change){
        S("DROPPED"), S("KEYSPACE"), S("old"), {NULL, 0}, {0, NULL}};
    add_response(
        &b, "schema_keyspace", 5, &r,
        "v4 stream=5 RESULT schema_change change_type=DROPPED,keyspace=old,"
        "target_type=KEYSPACE");

    /* Prepared: binds text, map<text, bigint>, duration; pk [0] */
    bs_type *ttext = bs_type_new(BS_TYPE_VARCHAR),
            *tint = bs_type_new(BS_TYPE_INT);
    bs_type *tmap = bs_type_new_coll(BS_TYPE_MAP, bs_type_new(BS_TYPE_VARCHAR),
                                     bs_type_new(BS_TYPE_BIGINT));
    bs_type *tdur = bs_type_new(BS_TYPE_DURATION);
    bs_proto_colspec binds[] = {{S("ks"), S("t"), S("k"), ttext},
                                {S("ks"), S("t"), S("m"), tmap},
                                {S("ks"), S("t"), S("d"), tdur}};
    bs_proto_colspec rcols[] = {{S("ks"), S("t"), S("k"), ttext},
                                {S("ks"), S("t"), S("n"), tint}};
    uint16_t pk[] = {0};
    memset(&r, 0, sizeof r);
    r.opcode = BS_PROTO_OP_RESULT;
    r.u.result.kind = BS_PROTO_RESULT_PREPARED;
    r.u.result.u.prepared.id = V("\x01\x02\x03\x04");
    r.u.result.u.prepared.bind = (bs_proto_prepared_meta){0, 3, binds, 1, pk};
    r.u.result.u.prepared.result =
        (bs_proto_meta){0, 2, rcols, {NULL, BS_PROTO_NULL}};
    add_response(&b, "prepared", 6, &r,
                 "v4 stream=6 RESULT prepared id=01020304 "
                 "binds=[ks.t.k:varchar,ks.t.m:map<varchar, bigint>,"
                 "ks.t.d:duration] pk=[0] result=[k:varchar,n:int]");

    /* Rows with collections, a tuple, nulls and a paging state, built
     * cell by cell with the server-side builder */
    bs_type *tlist =
        bs_type_new_coll(BS_TYPE_LIST, bs_type_new(BS_TYPE_INT), NULL);
    bs_type *ttup = bs_type_new(BS_TYPE_TUPLE);
    bs_type_add_param(ttup, bs_type_new(BS_TYPE_INT), NULL);
    bs_type_add_param(ttup, bs_type_new(BS_TYPE_VARCHAR), NULL);
    bs_type *tbool = bs_type_new(BS_TYPE_BOOLEAN),
            *tdbl = bs_type_new(BS_TYPE_DOUBLE);
    bs_type *tblob = bs_type_new(BS_TYPE_BLOB);
    bs_proto_colspec cols[] = {
        {S("ks"), S("t"), S("id"), tint}, {S("ks"), S("t"), S("name"), ttext},
        {S("ks"), S("t"), S("l"), tlist}, {S("ks"), S("t"), S("m"), tmap},
        {S("ks"), S("t"), S("tu"), ttup}, {S("ks"), S("t"), S("ok"), tbool},
        {S("ks"), S("t"), S("x"), tdbl},  {S("ks"), S("t"), S("b"), tblob}};
    bs_proto_meta meta = {0, 8, cols, {NULL, BS_PROTO_NULL}};
    bs_buf w = BS_BUF_INIT;
    size_t start;
    bs_proto_rows_builder rb;
    ck_assert_int_eq(
        bs_proto_frame_begin(&w, 1, 0, 8, BS_PROTO_OP_RESULT, &start), 0);
    ck_assert_int_eq(bs_proto_rows_begin(&rb, &w, &meta), 0);
    for (int row = 1; row <= 2; row++) {
        uint8_t v[64];
        put32(v, (uint32_t)row);
        ck_assert_int_eq(bs_proto_rows_cell(&rb, v, 4), 0);
        if (row == 1)
            ck_assert_int_eq(bs_proto_rows_cell(&rb, "h\xc3\xa9llo", 6), 0);
        else
            ck_assert_int_eq(bs_proto_rows_cell(&rb, NULL, -1), 0);
        /* list<int> [7, -1] */
        put32(v, 2);
        put32(v + 4, 4);
        put32(v + 8, 7);
        put32(v + 12, 4);
        put32(v + 16, 0xffffffff);
        ck_assert_int_eq(bs_proto_rows_cell(&rb, v, 20), 0);
        /* map<text, bigint> {'a': 1} */
        put32(v, 1);
        put32(v + 4, 1);
        v[8] = 'a';
        put32(v + 9, 8);
        bs_put_u64(v + 13, 1);
        ck_assert_int_eq(bs_proto_rows_cell(&rb, v, 21), 0);
        /* tuple<int, text> (3, 'z') */
        put32(v, 4);
        put32(v + 4, 3);
        put32(v + 8, 1);
        v[12] = 'z';
        ck_assert_int_eq(bs_proto_rows_cell(&rb, v, 13), 0);
        v[0] = row == 1;
        ck_assert_int_eq(bs_proto_rows_cell(&rb, v, 1), 0);
        bs_put_u64(v, 0x3ff8000000000000ULL); /* 1.5 */
        ck_assert_int_eq(bs_proto_rows_cell(&rb, v, 8), 0);
        uint8_t *dst;
        ck_assert_int_eq(bs_proto_rows_cell_reserve(&rb, 2, &dst), 0);
        dst[0] = 0xca;
        dst[1] = 0xfe;
    }
    bs_proto_rows_set_paging_state(&rb, "\x00\x07next", 6);
    ck_assert_int_eq(bs_proto_rows_finish(&rb), 0);
    ck_assert_int_eq(bs_proto_frame_end(&w, start, BS_PROTO_COMP_NONE), 0);
    add_frame(&b, "rows", &w,
              "v4 stream=8 RESULT rows "
              "cols=[ks.t.id:int,ks.t.name:varchar,ks.t.l:list<int>,"
              "ks.t.m:map<varchar, bigint>,ks.t.tu:frozen<tuple<int, "
              "varchar>>,ks.t.ok:boolean,ks.t.x:double,"
              "ks.t.b:blob] rows=[[1, 'h\xc3\xa9llo', [7, -1], "
              "OrderedMapSerializedKey([('a', 1)]), "
              "(3, 'z'), True, 1.5, b'\\xca\\xfe'], [2, None, [7, -1], "
              "OrderedMapSerializedKey([('a', 1)]), (3, 'z'), False, 1.5, "
              "b'\\xca\\xfe']] "
              "paging=b'\\x00\\x07next'");
    bs_buf_free(&w);
    batch_run(&b);
    bs_type *all[] = {ttext, tint, tmap, tdur, tlist, ttup, tbool, tdbl, tblob};
    for (unsigned i = 0; i < sizeof all / sizeof all[0]; i++)
        bs_type_free(all[i]);
}
END_TEST

int main(void) {
    if (access(BS_PYTHON3, X_OK) != 0) {
        fprintf(stderr, "%s not found\n", BS_PYTHON3);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("query_proto_interop");
    TCase *tc = tcase_create("python_driver");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, driver_decodes_control_responses);
    tcase_add_test(tc, driver_decodes_errors);
    tcase_add_test(tc, driver_decodes_results);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
