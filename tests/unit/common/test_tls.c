/*
 * test_tls.c - common/tls.c: the memory-BIO TLS engine, driven by two
 * sessions that exchange their output in memory (no sockets).
 *
 * Certificates are made in-process with OpenSSL (a CA, a server
 * certificate for IP 127.0.0.1, a client certificate, and a second CA)
 * and written as PEM files to a temporary directory.
 */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/tls.h"

static char dir[64];

static char *path(const char *name) {
    static char buf[8][128];
    static int i;
    char *p = buf[i++ % 8];
    snprintf(p, 128, "%s/%s", dir, name);
    return p;
}

static EVP_PKEY *new_key(void) { return EVP_EC_gen("P-256"); }

static void add_ext(X509 *x, X509 *issuer, int nid, const char *v) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, v);
    ck_assert_ptr_nonnull(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* A certificate for key signed by (ca, cakey); ca NULL: self-signed CA. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *ca, EVP_PKEY *cakey,
                       const char *san) {
    static long serial = 1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, ca ? X509_get_subject_name(ca) : n);
    if (!ca) {
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, ca, NID_basic_constraints, "CA:FALSE");
        add_ext(x, ca, NID_ext_key_usage, "serverAuth,clientAuth");
        if (san) add_ext(x, ca, NID_subject_alt_name, san);
    }
    ck_assert_int_gt(X509_sign(x, ca ? cakey : key, EVP_sha256()), 0);
    return x;
}

static void write_pem(const char *name, X509 *x, EVP_PKEY *k) {
    FILE *f = fopen(path(name), "w");
    ck_assert_ptr_nonnull(f);
    if (x) PEM_write_X509(f, x);
    if (k) PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
}

static void setup(void) {
    snprintf(dir, sizeof dir, "/tmp/bs-test-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    EVP_PKEY *cak = new_key(), *sk = new_key(), *ck = new_key(), *ok = new_key();
    X509 *ca = make_cert(cak, "test CA", NULL, NULL, NULL);
    X509 *srv = make_cert(sk, "server", ca, cak, "IP:127.0.0.1");
    X509 *cli = make_cert(ck, "client", ca, cak, NULL);
    X509 *other = make_cert(ok, "other CA", NULL, NULL, NULL);
    write_pem("ca.pem", ca, NULL);
    write_pem("server.pem", srv, NULL);
    write_pem("server.key", NULL, sk);
    write_pem("client.pem", cli, ck); /* key and certificate in one file */
    write_pem("other-ca.pem", other, NULL);
    X509_free(ca);
    X509_free(srv);
    X509_free(cli);
    X509_free(other);
    EVP_PKEY_free(cak);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(ck);
    EVP_PKEY_free(ok);
}

static void teardown(void) {
    const char *names[] = {"ca.pem", "server.pem", "server.key", "client.pem", "other-ca.pem"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unlink(path(names[i]));
    rmdir(dir);
}

static bs_tls_ctx *ctx(int server, const char *cert, const char *key, const char *ca,
                       int verify) {
    bs_tls_opts o = {server, cert ? path(cert) : NULL, key ? path(key) : NULL,
                     ca ? path(ca) : NULL, verify};
    bs_tls_ctx *c = NULL;
    char err[512];
    ck_assert_msg(bs_tls_ctx_new(&o, &c, err, sizeof err) == 0, "%s", err);
    return c;
}

/* Moves a's output into b, `step` bytes at a time (0: all at once). */
static void move(bs_tls *a, bs_tls *b, size_t step) {
    bs_buf out = BS_BUF_INIT;
    ck_assert_int_eq(bs_tls_output(a, &out), 0);
    for (size_t off = 0; off < out.len;) {
        size_t n = step && out.len - off > step ? step : out.len - off;
        ck_assert_int_eq(bs_tls_feed(b, out.data + off, n), 0);
        off += n;
    }
    bs_buf_free(&out);
}

/* Runs both sides until neither has output; returns the last read
 * status of each side; plaintext received is appended to got_c/got_s. */
static void pump(bs_tls *c, bs_tls *s, size_t step, int *rc_c, int *rc_s, bs_buf *got_c,
                 bs_buf *got_s) {
    *rc_c = *rc_s = 0;
    for (int round = 0; round < 50; round++) {
        move(c, s, step);
        uint8_t buf[4096];
        size_t n;
        while ((*rc_s = bs_tls_read(s, buf, sizeof buf, &n)) == 0 && n)
            bs_buf_append(got_s, buf, n);
        move(s, c, step);
        while ((*rc_c = bs_tls_read(c, buf, sizeof buf, &n)) == 0 && n)
            bs_buf_append(got_c, buf, n);
        bs_buf tmp = BS_BUF_INIT;
        bs_tls_output(c, &tmp);
        int more = tmp.len > 0;
        if (more) bs_tls_feed(s, tmp.data, tmp.len);
        bs_buf_free(&tmp);
        if (!more && (*rc_c || *rc_s || (bs_tls_ready(c) && bs_tls_ready(s)))) {
            /* one more exchange drains what is in flight */
            if (round > 3) break;
        }
    }
}

START_TEST(handshake_and_data_both_ways) {
    bs_tls_ctx *sc = ctx(1, "server.pem", "server.key", NULL, 0);
    bs_tls_ctx *cc = ctx(0, NULL, NULL, "ca.pem", 1);
    bs_tls *s, *c;
    ck_assert_int_eq(bs_tls_new(sc, NULL, &s), 0);
    ck_assert_int_eq(bs_tls_new(cc, "127.0.0.1", &c), 0);
    /* written before the handshake: delivered after it */
    ck_assert_int_eq(bs_tls_write(c, "hello", 5), 0);
    ck_assert(!bs_tls_ready(c));
    bs_buf gc = BS_BUF_INIT, gs = BS_BUF_INIT;
    int rcc, rcs;
    pump(c, s, 1, &rcc, &rcs, &gc, &gs); /* one byte at a time */
    ck_assert_int_eq(rcc, 0);
    ck_assert_int_eq(rcs, 0);
    ck_assert(bs_tls_ready(c) && bs_tls_ready(s));
    ck_assert_uint_eq(gs.len, 5);
    ck_assert(memcmp(gs.data, "hello", 5) == 0);
    /* 1 MiB from the server: many records */
    size_t big = 1u << 20;
    uint8_t *p = malloc(big);
    for (size_t i = 0; i < big; i++) p[i] = (uint8_t)(i * 7 + 3);
    ck_assert_int_eq(bs_tls_write(s, p, big), 0);
    pump(c, s, 0, &rcc, &rcs, &gc, &gs);
    ck_assert_uint_eq(gc.len, big);
    ck_assert(memcmp(gc.data, p, big) == 0);
    ck_assert_str_eq(bs_tls_peer_subject(c), "/CN=server");
    ck_assert_str_eq(bs_tls_peer_subject(s), ""); /* no client certificate */
    free(p);
    bs_buf_free(&gc);
    bs_buf_free(&gs);
    bs_tls_free(s);
    bs_tls_free(c);
    bs_tls_ctx_free(sc);
    bs_tls_ctx_free(cc);
}
END_TEST

/* A handshake that must fail; returns the client's and server's codes. */
static void failing(bs_tls_ctx *sc, bs_tls_ctx *cc, const char *name, int *rcc, int *rcs,
                    const char **cerr, const char **serr) {
    static char ce[256], se[256];
    bs_tls *s, *c;
    ck_assert_int_eq(bs_tls_new(sc, NULL, &s), 0);
    ck_assert_int_eq(bs_tls_new(cc, name, &c), 0);
    bs_buf gc = BS_BUF_INIT, gs = BS_BUF_INIT;
    pump(c, s, 0, rcc, rcs, &gc, &gs);
    ck_assert_uint_eq(gc.len + gs.len, 0);
    snprintf(ce, sizeof ce, "%s", bs_tls_error(c));
    snprintf(se, sizeof se, "%s", bs_tls_error(s));
    *cerr = ce;
    *serr = se;
    /* a failed session stays failed */
    if (*rcc) ck_assert_int_eq(bs_tls_write(c, "x", 1), *rcc);
    bs_buf_free(&gc);
    bs_buf_free(&gs);
    bs_tls_free(s);
    bs_tls_free(c);
}

START_TEST(verification_failures) {
    int rcc, rcs;
    const char *ce, *se;
    bs_tls_ctx *sc = ctx(1, "server.pem", "server.key", NULL, 0);
    /* the server's certificate names 127.0.0.1, not 10.1.2.3 */
    bs_tls_ctx *cc = ctx(0, NULL, NULL, "ca.pem", 1);
    failing(sc, cc, "10.1.2.3", &rcc, &rcs, &ce, &se);
    ck_assert_int_eq(rcc, BS_EAUTH);
    ck_assert_msg(strstr(ce, "certificate verify failed"), "%s", ce);
    bs_tls_ctx_free(cc);
    /* a client trusting another CA */
    cc = ctx(0, NULL, NULL, "other-ca.pem", 1);
    failing(sc, cc, NULL, &rcc, &rcs, &ce, &se);
    ck_assert_int_eq(rcc, BS_EAUTH);
    ck_assert_int_ne(rcs, 0);
    bs_tls_ctx_free(cc);
    bs_tls_ctx_free(sc);
    /* require_client_auth: a client without a certificate is refused */
    sc = ctx(1, "server.pem", "server.key", "ca.pem", 1);
    cc = ctx(0, NULL, NULL, "ca.pem", 1);
    failing(sc, cc, NULL, &rcc, &rcs, &ce, &se);
    ck_assert_int_eq(rcs, BS_EAUTH);
    ck_assert_msg(strstr(se, "certificate"), "%s", se);
    ck_assert_int_ne(rcc, 0);
    bs_tls_ctx_free(cc);
    /* ... and one with a certificate of the CA gets in */
    cc = ctx(0, "client.pem", NULL, "ca.pem", 1);
    bs_tls *s, *c;
    ck_assert_int_eq(bs_tls_new(sc, NULL, &s), 0);
    ck_assert_int_eq(bs_tls_new(cc, "127.0.0.1", &c), 0);
    bs_buf gc = BS_BUF_INIT, gs = BS_BUF_INIT;
    ck_assert_int_eq(bs_tls_write(c, "ok", 2), 0);
    pump(c, s, 0, &rcc, &rcs, &gc, &gs);
    ck_assert_int_eq(rcs, 0);
    ck_assert_uint_eq(gs.len, 2);
    ck_assert_str_eq(bs_tls_peer_subject(s), "/CN=client");
    bs_buf_free(&gc);
    bs_buf_free(&gs);
    bs_tls_free(s);
    bs_tls_free(c);
    bs_tls_ctx_free(cc);
    bs_tls_ctx_free(sc);
}
END_TEST

START_TEST(garbage_and_config_errors) {
    bs_tls_ctx *sc = ctx(1, "server.pem", "server.key", NULL, 0);
    bs_tls *s;
    ck_assert_int_eq(bs_tls_new(sc, NULL, &s), 0);
    /* a plaintext CQL frame where a ClientHello belongs */
    static const uint8_t frame[] = {0x04, 0, 0, 1, 0x05, 0, 0, 0, 0};
    ck_assert_int_eq(bs_tls_feed(s, frame, sizeof frame), 0);
    uint8_t buf[64];
    size_t n = 1;
    ck_assert_int_eq(bs_tls_read(s, buf, sizeof buf, &n), BS_EPROTO);
    ck_assert_uint_eq(n, 0);
    ck_assert_str_ne(bs_tls_error(s), "");
    ck_assert_int_eq(bs_tls_read(s, buf, sizeof buf, &n), BS_EPROTO);
    bs_tls_free(s);
    bs_tls_ctx_free(sc);

    char err[512];
    bs_tls_ctx *c = NULL;
    bs_tls_opts o = {1, path("missing.pem"), NULL, NULL, 0};
    ck_assert_int_eq(bs_tls_ctx_new(&o, &c, err, sizeof err), BS_ECONFIG);
    ck_assert_msg(strstr(err, "missing.pem"), "%s", err);
    ck_assert_ptr_null(c);
    /* the key of another certificate */
    o = (bs_tls_opts){1, path("server.pem"), path("client.pem"), NULL, 0};
    ck_assert_int_eq(bs_tls_ctx_new(&o, &c, err, sizeof err), BS_ECONFIG);
    ck_assert_msg(strstr(err, "client.pem"), "%s", err);
    /* a server needs a certificate; client auth needs a CA */
    o = (bs_tls_opts){1, NULL, NULL, NULL, 0};
    ck_assert_int_eq(bs_tls_ctx_new(&o, &c, err, sizeof err), BS_ECONFIG);
    o = (bs_tls_opts){1, path("server.pem"), path("server.key"), NULL, 1};
    ck_assert_int_eq(bs_tls_ctx_new(&o, &c, err, sizeof err), BS_ECONFIG);
    ck_assert_msg(strstr(err, "CA"), "%s", err);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, handshake_and_data_both_ways);
    tcase_add_test(tc, verification_failures);
    tcase_add_test(tc, garbage_and_config_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
