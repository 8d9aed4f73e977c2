/*
 * test_admin_util.h - blocking-socket HTTP helpers for the admin server
 * tests: connect to 127.0.0.1:port, send raw bytes, read one response
 * (status line, headers, Content-Length body) with a receive timeout so a
 * broken server fails the test instead of hanging it.
 */
#ifndef BS_TEST_ADMIN_UTIL_H
#define BS_TEST_ADMIN_UTIL_H

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct http_resp {
    int status;
    char headers[4096];
    char *body; /* malloc'd, NUL-terminated */
    size_t body_len;
} http_resp;

/* Connects to 127.0.0.1:port from source address src (NULL: any). */
static inline int tcp_connect_from(int port, const char *src) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (src) {
        struct sockaddr_in la;
        memset(&la, 0, sizeof la);
        la.sin_family = AF_INET;
        if (inet_pton(AF_INET, src, &la.sin_addr) != 1 ||
            bind(fd, (struct sockaddr *)&la, sizeof la)) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline int tcp_connect(int port) {
    return tcp_connect_from(port, NULL);
}

static inline int send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static inline int send_str(int fd, const char *s) {
    return send_all(fd, s, strlen(s));
}

/* Reads exactly up to and including "\r\n\r\n" byte by byte (so bytes of
 * a following pipelined response stay in the socket), then the body. */
static inline int read_resp(int fd, http_resp *r) {
    memset(r, 0, sizeof *r);
    size_t n = 0;
    while (n < sizeof r->headers - 1) {
        ssize_t k = recv(fd, r->headers + n, 1, 0);
        if (k <= 0) return -1;
        n++;
        if (n >= 4 && !memcmp(r->headers + n - 4, "\r\n\r\n", 4)) break;
    }
    r->headers[n] = 0;
    if (strncmp(r->headers, "HTTP/1.1 ", 9)) return -1;
    r->status = atoi(r->headers + 9);
    size_t cl = 0;
    for (char *l = strstr(r->headers, "\r\n"); l; l = strstr(l + 2, "\r\n"))
        if (!strncasecmp(l + 2, "Content-Length:", 15))
            cl = strtoul(l + 17, NULL, 10);
    r->body = malloc(cl + 1);
    size_t got = 0;
    while (got < cl) {
        ssize_t k = recv(fd, r->body + got, cl - got, 0);
        if (k <= 0) return -1;
        got += (size_t)k;
    }
    r->body[cl] = 0;
    r->body_len = cl;
    return 0;
}

static inline void resp_free(http_resp *r) {
    free(r->body);
    r->body = NULL;
}

/* True when the peer closed the connection (recv returns 0). */
/* The server closed the connection: end of stream, or a reset when it
 * closed with bytes of ours still unread. */
static inline int peer_closed(int fd) {
    char c;
    ssize_t n = recv(fd, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* One request on a fresh connection; returns status, body in r. */
static inline int http_do(int port, const char *method, const char *target,
                          http_resp *r) {
    int fd = tcp_connect(port);
    if (fd < 0) return -1;
    char req[2048];
    snprintf(req, sizeof req,
             "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", method,
             target);
    int rc = send_str(fd, req) ? -1 : read_resp(fd, r);
    close(fd);
    return rc ? -1 : r->status;
}

#endif
