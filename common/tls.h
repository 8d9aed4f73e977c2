/*
 * tls.h - TLS for Basalt's event-loop transports, on OpenSSL memory BIOs.
 *
 * The TLS engine never touches a socket: the transport hands it the bytes
 * it read (bs_tls_feed), takes plaintext out (bs_tls_read), gives it
 * plaintext to send (bs_tls_write) and writes whatever ciphertext the
 * engine produced (bs_tls_output) with its own uv_write / send().  So the
 * same code serves the libuv servers of basaltd (CQL, internode, admin) and
 * the poll() loop of the C client:
 *
 *   socket read --> bs_tls_feed --> [rbio] SSL_read  --> bs_tls_read --> app
 *   app --> bs_tls_write --> SSL_write [wbio] --> bs_tls_output --> socket
 *
 * After every feed or write the caller must call bs_tls_output and send
 * what it returns (handshake records appear there too).  Plaintext written
 * before the handshake is complete is kept and sent once it is.
 *
 * A context (bs_tls_ctx) holds the certificate, key and CA of one role
 * (server or client); it is immutable after creation and may be shared by
 * any number of connections on any threads.  A connection (bs_tls) is
 * owned by one thread at a time.  A failed connection stays failed: only
 * bs_tls_error and bs_tls_free are meaningful afterwards.
 */
#ifndef BS_COMMON_TLS_H
#define BS_COMMON_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct bs_tls_ctx bs_tls_ctx;
typedef struct bs_tls bs_tls;

/* The first byte of a TLS connection (a handshake record): transports that
 * accept TLS and plaintext on one port sniff it (no CQL or internode frame
 * can start with it). */
#define BS_TLS_RECORD_HANDSHAKE 0x16

typedef struct bs_tls_opts {
    int server;            /* 1: accepts connections; 0: connects */
    const char *certfile;  /* PEM certificate (chain); required for a
                              server, optional for a client */
    const char *keyfile;   /* PEM private key of certfile; NULL = certfile */
    const char *cafile;    /* PEM CA certificates to verify the peer; NULL:
                              a client then uses the system's default CAs
                              only when verify_peer is set */
    int verify_peer;       /* server: require and verify a client
                              certificate; client: verify the server's */
} bs_tls_opts;

/* Makes a context.  0, or BS_ECONFIG with a message naming the file and
 * the OpenSSL reason in err (err_cap bytes).  Free with bs_tls_ctx_free. */
int bs_tls_ctx_new(const bs_tls_opts *o, bs_tls_ctx **out, char *err, size_t err_cap);
void bs_tls_ctx_free(bs_tls_ctx *ctx);

/* A connection on ctx.  verify_name: for a client context with
 * verify_peer, the IP address or host name the peer's certificate must
 * name (subjectAltName); NULL = any certificate signed by the CA.  A
 * client connection produces its ClientHello at once: call
 * bs_tls_output.  0, BS_ENOMEM or BS_EINVAL. */
int bs_tls_new(bs_tls_ctx *ctx, const char *verify_name, bs_tls **out);
void bs_tls_free(bs_tls *t);

/* Ciphertext read from the socket.  0 or BS_ENOMEM. */
int bs_tls_feed(bs_tls *t, const void *p, size_t n);

/* Plaintext received, up to cap bytes into buf; *got may be 0 (needs more
 * input).  Drives the handshake.  0; BS_ECLOSED when the peer sent
 * close_notify; BS_EPROTO/BS_EAUTH when the handshake or a record failed
 * (bs_tls_error says why; BS_EAUTH: the peer's certificate was refused). */
int bs_tls_read(bs_tls *t, void *buf, size_t cap, size_t *got);

/* Plaintext to send (copied).  0, BS_ENOMEM, or the connection's failure. */
int bs_tls_write(bs_tls *t, const void *p, size_t n);

/* Appends the ciphertext waiting to be sent to out.  0 or BS_ENOMEM. */
int bs_tls_output(bs_tls *t, bs_buf *out);

/* 1 once the handshake completed. */
int bs_tls_ready(const bs_tls *t);

/* Why the connection failed ("" when it did not); valid until free. */
const char *bs_tls_error(const bs_tls *t);

/* The peer certificate's subject as one line, or "" (no certificate);
 * valid until free. */
const char *bs_tls_peer_subject(bs_tls *t);

#endif
