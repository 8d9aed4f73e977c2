/*
 * tls.c - TLS on OpenSSL memory BIOs (see tls.h for the data flow).
 *
 * Each connection is an SSL object between two memory BIOs: `rbio` holds
 * ciphertext the transport fed and OpenSSL has not consumed yet, `wbio`
 * the ciphertext OpenSSL produced and the transport has not taken yet.
 * Memory BIOs grow without bound and never refuse a write, so SSL_write
 * never returns WANT_WRITE and writes everything it is given; an empty
 * rbio reads as "retry" (BIO_set_mem_eof_return -1), which SSL reports as
 * WANT_READ.  Plaintext written during the handshake waits in `pend` and
 * goes to SSL_write the moment the handshake completes.
 *
 * Invariants: `failed` set -> the error text is in `err` and every call
 * but output/error/free returns `failed`'s code; `ready` set -> the
 * handshake is done and `pend` is empty.
 */
#include "common/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

struct bs_tls_ctx {
    SSL_CTX *ssl;
    int server;
};

struct bs_tls {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
    bs_buf pend;      /* plaintext written before the handshake ended */
    int ready;
    int failed;       /* 0 or the BS_E code every call now returns */
    char err[256];
    char subject[256];
};

/* The first queued OpenSSL error as text (and the queue cleared). */
static void ssl_reason(char *out, size_t cap) {
    unsigned long e = ERR_get_error();
    if (!e) {
        snprintf(out, cap, "unknown TLS error");
        return;
    }
    char buf[200];
    ERR_error_string_n(e, buf, sizeof buf);
    /* "error:0A000086:SSL routines::certificate verify failed": keep the
     * reason, the part after the last ':' */
    const char *r = strrchr(buf, ':');
    snprintf(out, cap, "%s", r && r[1] ? r + 1 : buf);
    ERR_clear_error();
}

int bs_tls_ctx_new(const bs_tls_opts *o, bs_tls_ctx **out, char *err, size_t err_cap) {
    char why[200];
    *out = NULL;
    ERR_clear_error();
    bs_tls_ctx *c = calloc(1, sizeof *c);
    if (!c) return BS_ENOMEM;
    c->server = o->server;
    c->ssl = SSL_CTX_new(o->server ? TLS_server_method() : TLS_client_method());
    if (!c->ssl) {
        free(c);
        return BS_ENOMEM;
    }
    SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
    SSL_CTX_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
    const char *key = o->keyfile && o->keyfile[0] ? o->keyfile : o->certfile;
    if (o->server && !(o->certfile && o->certfile[0])) {
        snprintf(err, err_cap, "a TLS server needs a certificate (certfile/keystore)");
        goto fail;
    }
    if (o->certfile && o->certfile[0]) {
        if (SSL_CTX_use_certificate_chain_file(c->ssl, o->certfile) != 1) {
            ssl_reason(why, sizeof why);
            snprintf(err, err_cap, "cannot load the certificate %s: %s", o->certfile, why);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(c->ssl, key, SSL_FILETYPE_PEM) != 1) {
            ssl_reason(why, sizeof why);
            snprintf(err, err_cap, "cannot load the private key %s: %s", key, why);
            goto fail;
        }
        if (SSL_CTX_check_private_key(c->ssl) != 1) {
            snprintf(err, err_cap, "the private key %s does not match the certificate %s", key,
                     o->certfile);
            goto fail;
        }
    }
    if (o->cafile && o->cafile[0]) {
        if (SSL_CTX_load_verify_locations(c->ssl, o->cafile, NULL) != 1) {
            ssl_reason(why, sizeof why);
            snprintf(err, err_cap, "cannot load the CA certificates %s: %s", o->cafile, why);
            goto fail;
        }
        if (o->server) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o->cafile);
            if (names) SSL_CTX_set_client_CA_list(c->ssl, names);
        }
    } else if (o->verify_peer) {
        if (o->server) {
            snprintf(err, err_cap, "verifying client certificates needs a CA file (truststore)");
            goto fail;
        }
        SSL_CTX_set_default_verify_paths(c->ssl);
    }
    if (o->verify_peer)
        SSL_CTX_set_verify(c->ssl,
                           SSL_VERIFY_PEER | (o->server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    else
        SSL_CTX_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
    if (o->server) SSL_CTX_set_session_id_context(c->ssl, (const unsigned char *)"basalt", 6);
    *out = c;
    return 0;
fail:
    SSL_CTX_free(c->ssl);
    free(c);
    return BS_ECONFIG;
}

void bs_tls_ctx_free(bs_tls_ctx *c) {
    if (!c) return;
    SSL_CTX_free(c->ssl);
    free(c);
}

int bs_tls_new(bs_tls_ctx *ctx, const char *verify_name, bs_tls **out) {
    *out = NULL;
    ERR_clear_error();
    bs_tls *t = calloc(1, sizeof *t);
    if (!t) return BS_ENOMEM;
    t->ssl = SSL_new(ctx->ssl);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        SSL_free(t->ssl);
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        free(t);
        return BS_ENOMEM;
    }
    BIO_set_mem_eof_return(t->rbio, -1);
    BIO_set_mem_eof_return(t->wbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    if (ctx->server) {
        SSL_set_accept_state(t->ssl);
        *out = t;
        return 0;
    }
    SSL_set_connect_state(t->ssl);
    if (verify_name && verify_name[0]) {
        unsigned char ip[16];
        int is_ip = inet_pton(AF_INET, verify_name, ip) == 1 ||
                    inet_pton(AF_INET6, verify_name, ip) == 1;
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), verify_name)
                       : SSL_set1_host(t->ssl, verify_name) &&
                             SSL_set_tlsext_host_name(t->ssl, verify_name);
        if (ok != 1) {
            bs_tls_free(t);
            return BS_EINVAL;
        }
    }
    SSL_do_handshake(t->ssl); /* writes the ClientHello into wbio */
    ERR_clear_error();
    *out = t;
    return 0;
}

void bs_tls_free(bs_tls *t) {
    if (!t) return;
    SSL_free(t->ssl);
    bs_buf_free(&t->pend);
    free(t);
}

int bs_tls_feed(bs_tls *t, const void *p, size_t n) {
    if (t->failed) return t->failed;
    while (n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        int w = BIO_write(t->rbio, p, chunk);
        if (w <= 0) return BS_ENOMEM;
        p = (const uint8_t *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

/* Records why the last SSL call failed; returns the code now sticky. */
static int fail_from(bs_tls *t, int ret) {
    int e = SSL_get_error(t->ssl, ret);
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(t->err, sizeof t->err, "the peer closed the TLS session");
        t->failed = BS_ECLOSED;
        return t->failed;
    }
    long vr = SSL_get_verify_result(t->ssl);
    char why[200];
    if (e == SSL_ERROR_SSL) ssl_reason(why, sizeof why);
    else snprintf(why, sizeof why, "TLS error %d", e);
    t->failed = BS_EPROTO;
    if (vr != X509_V_OK) {
        snprintf(t->err, sizeof t->err, "certificate verify failed: %s",
                 X509_verify_cert_error_string(vr));
        t->failed = BS_EAUTH;
    } else {
        snprintf(t->err, sizeof t->err, "%s", why);
        if (strstr(why, "certificate") || strstr(why, "unknown ca")) t->failed = BS_EAUTH;
    }
    ERR_clear_error();
    return t->failed;
}

static int write_now(bs_tls *t, const void *p, size_t n) {
    while (n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        int w = SSL_write(t->ssl, p, chunk);
        if (w <= 0) return fail_from(t, w);
        p = (const uint8_t *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

/* Advances the handshake; 0 (done or needs input) or the failure. */
static int handshake(bs_tls *t) {
    if (t->ready) return 0;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r != 1) {
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
        return fail_from(t, r);
    }
    t->ready = 1;
    if (t->pend.len) {
        int rc = write_now(t, t->pend.data, t->pend.len);
        bs_buf_free(&t->pend);
        if (rc) return rc;
    }
    return 0;
}

int bs_tls_read(bs_tls *t, void *buf, size_t cap, size_t *got) {
    *got = 0;
    if (t->failed) return t->failed;
    int rc = handshake(t);
    if (rc || !t->ready || cap == 0) return rc;
    ERR_clear_error();
    size_t n = 0;
    if (SSL_read_ex(t->ssl, buf, cap, &n) == 1) {
        *got = n;
        return 0;
    }
    int e = SSL_get_error(t->ssl, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    return fail_from(t, 0);
}

int bs_tls_write(bs_tls *t, const void *p, size_t n) {
    if (t->failed) return t->failed;
    if (n == 0) return 0;
    if (!t->ready) {
        if (bs_buf_append(&t->pend, p, n)) return BS_ENOMEM;
        return handshake(t);
    }
    ERR_clear_error();
    return write_now(t, p, n);
}

int bs_tls_output(bs_tls *t, bs_buf *out) {
    size_t n = (size_t)BIO_ctrl_pending(t->wbio);
    if (n == 0) return 0;
    uint8_t *d = bs_buf_extend(out, n);
    if (!d) return BS_ENOMEM;
    int r = BIO_read(t->wbio, d, (int)n);
    if (r < 0) r = 0;
    out->len -= n - (size_t)r;
    return 0;
}

int bs_tls_ready(const bs_tls *t) { return t->ready && !t->failed; }

const char *bs_tls_error(const bs_tls *t) { return t->err; }

const char *bs_tls_peer_subject(bs_tls *t) {
    if (t->subject[0]) return t->subject;
    X509 *x = SSL_get1_peer_certificate(t->ssl);
    if (!x) return "";
    X509_NAME_oneline(X509_get_subject_name(x), t->subject, sizeof t->subject);
    X509_free(x);
    return t->subject;
}
