/*
 * http_parse.c - basaltd's HTTP request reader, used by both HTTP
 * servers (time series: http.c; admin API: node/admin/admin.c): Debian's
 * http-parser (nodejs/http-parser 2.9) plus limits, header collection,
 * a per-server policy (bs__http_rd_opts) and gzip bodies.
 *
 * http-parser is a streaming state machine that calls back with pieces of
 * the URL, header names, header values and body as bytes arrive; a piece
 * may be split across reads, so each kind is accumulated in a bs_buf:
 *
 *   url   raw request target, e.g. "/write?db=x&precision=s"
 *   hdr   "name\0value\0name\0value\0..." with hdr_off[] the start of
 *         each part (even index: name, odd: value); a name or value
 *         continues while the parser keeps calling the same callback
 *   body  the decoded body (chunked framing removed by the parser)
 *
 * Pipelining: on_message_complete pauses the parser, so
 * http_parser_execute returns right after the last byte of the request
 * and reports how many bytes it consumed; the caller keeps the rest for
 * the next feed, which unpauses first.  on_message_begin resets the
 * arena and the buffers, so a request handed out stays valid until the
 * next feed.
 *
 * Limits are checked inside the callbacks (the parser then stops with
 * HPE_CB_*, and `status` says why): head bytes (URL + names + values)
 * over max_head or more than max_headers fields -> 431; a Content-Length
 * or a body over max_body -> 413.  The policy is applied in
 * on_headers_complete, before any body byte is read, so a request that
 * will be refused is refused before its body is waited for: `strict`
 * (version, request target, Host, Transfer-Encoding), `codings`
 * (Content-Encoding, Expect).  gzip bodies are inflated at message end
 * with the same max_body bound on the inflated size.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/error.h"
#include "node/transport/http_parse.h"

static bs__http_rd *RD(http_parser *p) { return p->data; }

static int fail(bs__http_rd *r, int status, const char *why) {
    if (!r->status) {
        r->status = status;
        r->why = why;
    }
    return -1;
}

static int on_message_begin(http_parser *p) {
    bs__http_rd *r = RD(p);
    bs_arena_reset(&r->arena);
    bs_buf_reset(&r->url);
    bs_buf_reset(&r->hdr);
    bs_buf_reset(&r->body);
    r->n_hdr_parts = r->n_head_parts = 0;
    r->last_was_value = 1; /* the first header callback starts a name */
    r->head_bytes = 0;
    r->gzip = 0;
    r->want_continue = 0;
    r->complete = 0;
    return 0;
}

static int count_head(bs__http_rd *r, size_t n) {
    r->head_bytes += n;
    if (r->head_bytes > r->o.max_head)
        return fail(r, 431, "request header fields too large");
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
    bs__http_rd *r = RD(p);
    if (count_head(r, n)) return -1;
    return bs_buf_append(&r->url, at, n) ? fail(r, 500, "out of memory") : 0;
}

/* strict: refuses obs-fold (a field line starting with SP/HT continues
 * the previous value; RFC 9112 5.2 lets a server answer 400).  http-parser
 * accepts it and hands the continuation over as one more piece of the
 * same value.  A value is also cut into pieces where a read ends, but such
 * pieces are contiguous in the stream; a fold has its line end between
 * them. */
static int fold_check(bs__http_rd *r, int is_value, const char *at, size_t n) {
    if (!is_value || n == 0) return 0;
    uint64_t pos = r->stream_pos + (uint64_t)(at - r->feed_start);
    if (r->last_was_value && r->n_hdr_parts > 0 && pos != r->value_end)
        return fail(r, 400, "obsolete line folding is not accepted");
    r->value_end = pos + n;
    return 0;
}

/* Starts a new header part (name or value) when the kind changes. */
static int hdr_piece(bs__http_rd *r, int is_value, const char *at, size_t n) {
    if (count_head(r, n)) return -1;
    if (r->o.strict && fold_check(r, is_value, at, n)) return -1;
    if (is_value != r->last_was_value || r->n_hdr_parts == 0) {
        if (r->n_hdr_parts && bs_buf_append_u8(&r->hdr, 0))
            return fail(r, 500, "out of memory");
        if (!is_value && r->n_hdr_parts / 2 >= r->o.max_headers)
            return fail(r, 431, "too many header fields");
        if (is_value && r->n_hdr_parts % 2 == 0) /* value without name */
            return fail(r, 400, "malformed header field");
        r->hdr_off[r->n_hdr_parts++] = r->hdr.len;
        r->last_was_value = is_value;
    }
    return bs_buf_append(&r->hdr, at, n) ? fail(r, 500, "out of memory") : 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
    return hdr_piece(RD(p), 0, at, n);
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
    return hdr_piece(RD(p), 1, at, n);
}

static const char *hdr_part(const bs__http_rd *r, size_t i) {
    return (const char *)r->hdr.data + r->hdr_off[i];
}

#define MAX_TARGET 8192

/* strict: HTTP/1.x and an origin-form target of visible ASCII. */
static int strict_line(bs__http_rd *r) {
    if (r->p.http_major == 0) /* "GET /" alone: HTTP/0.9 */
        return fail(r, 400, "malformed request line (no HTTP/1.x version)");
    if (r->p.http_major != 1) return fail(r, 505, "only HTTP/1.x is supported");
    const uint8_t *u = r->url.data;
    size_t n = r->url.len;
    if (n > MAX_TARGET) return fail(r, 400, "request target too long");
    if (n == 0 || u[0] != '/')
        return fail(r, 400, "request target must start with '/'");
    for (size_t i = 0; i < n; i++)
        if (u[i] <= 0x20 || u[i] >= 0x7f || u[i] == '#')
            return fail(r, 400, "bad character in the request target");
    return 0;
}

/* One field (value trimmed: v[0..vl)) against the policy; counts Host
 * and Transfer-Encoding fields into hosts/te.  0 or fail(). */
static int check_field(bs__http_rd *r, const char *name, const char *v,
                       size_t vl, int *hosts, int *te) {
    if (!strcasecmp(name, "host")) {
        (*hosts)++;
    } else if (!strcasecmp(name, "transfer-encoding")) {
        *te = 1;
    } else if (!strcasecmp(name, "expect")) {
        if (vl == 12 && !strncasecmp(v, "100-continue", 12))
            r->want_continue = r->p.http_major == 1 && r->p.http_minor >= 1;
        else if (r->o.codings)
            return fail(r, 417, "unsupported Expect");
    } else if (r->o.codings && !strcasecmp(name, "content-encoding")) {
        if ((vl == 4 && !strncasecmp(v, "gzip", 4)) ||
            (vl == 6 && !strncasecmp(v, "x-gzip", 6)))
            r->gzip = 1;
        else if (!(vl == 8 && !strncasecmp(v, "identity", 8)) && vl)
            return fail(r, 415, "unsupported Content-Encoding");
    }
    return 0;
}

static int on_headers_complete(http_parser *p) {
    bs__http_rd *r = RD(p);
    if (r->n_hdr_parts % 2) { /* a name whose value was empty */
        if (bs_buf_append_u8(&r->hdr, 0)) return fail(r, 500, "out of memory");
        r->hdr_off[r->n_hdr_parts++] = r->hdr.len;
    }
    if (bs_buf_append_u8(&r->hdr, 0)) return fail(r, 500, "out of memory");
    r->n_head_parts = r->n_hdr_parts;
    if (r->o.strict && strict_line(r)) return -1;
    if (p->upgrade) return fail(r, 501, "protocol upgrade is not supported");
    if (!(p->flags & F_CHUNKED) && p->content_length != ULLONG_MAX &&
        p->content_length > r->o.max_body)
        return fail(r, 413, "Request Entity Too Large");
    int hosts = 0, te = 0;
    for (size_t i = 0; i + 1 < r->n_hdr_parts; i += 2) {
        const char *name = hdr_part(r, i), *v = hdr_part(r, i + 1);
        while (*v == ' ' || *v == '\t') v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
        if (check_field(r, name, v, vl, &hosts, &te)) return -1;
    }
    if (r->o.strict && te)
        return fail(r, 501, "Transfer-Encoding is not supported");
    if (r->o.strict && hosts > 1)
        return fail(r, 400, "more than one Host header");
    if (r->o.strict && hosts == 0 && p->http_minor >= 1)
        return fail(r, 400, "missing Host header");
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
    bs__http_rd *r = RD(p);
    r->want_continue = 0; /* the client did not wait */
    if (r->body.len + n > r->o.max_body)
        return fail(r, 413, "Request Entity Too Large");
    return bs_buf_append(&r->body, at, n) ? fail(r, 500, "out of memory") : 0;
}

static int on_message_complete(http_parser *p) {
    RD(p)->complete = 1;
    http_parser_pause(p, 1);
    return 0;
}

void bs__http_rd_init_opts(bs__http_rd *r, const bs__http_rd_opts *o) {
    memset(r, 0, sizeof *r);
    http_parser_init(&r->p, HTTP_REQUEST);
    r->p.data = r;
    http_parser_settings_init(&r->cb);
    r->cb.on_message_begin = on_message_begin;
    r->cb.on_url = on_url;
    r->cb.on_header_field = on_header_field;
    r->cb.on_header_value = on_header_value;
    r->cb.on_headers_complete = on_headers_complete;
    r->cb.on_body = on_body;
    r->cb.on_message_complete = on_message_complete;
    r->o = *o;
    if (!r->o.max_head) r->o.max_head = BS_HTTP_MAX_HEAD;
    if (!r->o.max_body) r->o.max_body = BS_HTTP_MAX_BODY;
    if (!r->o.max_headers || r->o.max_headers > BS_HTTP_MAX_HEADERS)
        r->o.max_headers = BS_HTTP_MAX_HEADERS;
    bs_arena_init(&r->arena, 0);
    bs_buf_init(&r->url);
    bs_buf_init(&r->hdr);
    bs_buf_init(&r->body);
}

void bs__http_rd_init(bs__http_rd *r, size_t max_head, size_t max_body) {
    bs__http_rd_opts o = {max_head, max_body, 0, true, false};
    bs__http_rd_init_opts(r, &o);
}

void bs__http_rd_free(bs__http_rd *r) {
    bs_arena_free(&r->arena);
    bs_buf_free(&r->url);
    bs_buf_free(&r->hdr);
    bs_buf_free(&r->body);
}

int bs__http_rd_in_request(const bs__http_rd *r) {
    return !r->complete && (r->url.len > 0 || r->head_bytes > 0);
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

char *bs__http_rd_unescape(const char *s, size_t n, int form, bs_arena *a) {
    char *o = bs_arena_alloc(a, n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int h, l;
            if (i + 2 >= n) return NULL;
            h = hexval((unsigned char)s[i + 1]);
            l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) return NULL;
            o[k] = (char)(h * 16 + l);
            if (!o[k++]) return NULL; /* %00 */
            i += 2;
        } else if (form && s[i] == '+') {
            o[k++] = ' ';
        } else if (s[i]) {
            o[k++] = s[i];
        } else {
            return NULL;
        }
    }
    o[k] = 0;
    return o;
}

/* Inflates r->body (gzip, possibly several members) into a new buffer
 * bounded by max_body; 0 or fail(). */
static int gunzip(bs__http_rd *r) {
    bs_buf out = BS_BUF_INIT;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return fail(r, 500, "out of memory");
    z.next_in = r->body.data;
    z.avail_in = (uInt)r->body.len;
    int rc = Z_OK;
    for (;;) {
        if (bs_buf_reserve(&out, 65536)) {
            rc = Z_MEM_ERROR;
            break;
        }
        z.next_out = out.data + out.len;
        z.avail_out = 65536;
        rc = inflate(&z, Z_NO_FLUSH);
        out.len = (size_t)(z.next_out - out.data);
        if (out.len > r->o.max_body) {
            inflateEnd(&z);
            bs_buf_free(&out);
            return fail(r, 413, "Request Entity Too Large");
        }
        if (rc == Z_STREAM_END) {
            if (z.avail_in == 0) break;
            if (inflateReset(&z) != Z_OK) break; /* next gzip member */
            continue;
        }
        if (rc == Z_BUF_ERROR && z.avail_in == 0) break; /* truncated */
        if (rc != Z_OK) break;
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        bs_buf_free(&out);
        return fail(r, rc == Z_MEM_ERROR ? 500 : 400,
                    rc == Z_MEM_ERROR ? "out of memory" : "gzip: invalid or truncated body");
    }
    bs_buf_free(&r->body);
    r->body = out;
    return 0;
}

static int build(bs__http_rd *r, bs_http_request *req) {
    struct http_parser_url u;
    http_parser_url_init(&u);
    memset(req, 0, sizeof *req);
    if (r->gzip && gunzip(r)) return -1;
    if (bs_buf_append_u8(&r->body, 0)) return fail(r, 500, "out of memory");
    r->body.len--;
    req->body = r->body.data;
    req->body_len = r->body.len;
    req->method = http_method_str((enum http_method)r->p.method);
    req->minor = r->p.http_major == 1 ? r->p.http_minor : 0;
    req->keep_alive = http_should_keep_alive(&r->p) != 0;
    req->arena = &r->arena;
    const char *url = (const char *)r->url.data;
    if (r->url.len == 0 || http_parser_parse_url(url, r->url.len, 0, &u))
        return fail(r, 400, "bad request target");
    if (!(u.field_set & (1 << UF_PATH))) return fail(r, 400, "bad request target");
    req->path = bs__http_rd_unescape(url + u.field_data[UF_PATH].off,
                                  u.field_data[UF_PATH].len, 0, &r->arena);
    if (!req->path) return fail(r, 400, "bad percent-escape in the path");
    if (req->path[0] != '/') return fail(r, 400, "bad request target");
    if (u.field_set & (1 << UF_QUERY))
        req->query = bs_arena_strndup(&r->arena, url + u.field_data[UF_QUERY].off,
                                      u.field_data[UF_QUERY].len);
    else
        req->query = "";
    size_t nh = r->n_head_parts / 2; /* chunked trailers are not exposed */
    bs_http_header *h = bs_arena_alloc(&r->arena, (nh ? nh : 1) * sizeof *h);
    if (!req->query || !h) return fail(r, 500, "out of memory");
    for (size_t i = 0; i < nh; i++) {
        size_t nl = strlen(hdr_part(r, 2 * i));
        char *name = bs_arena_strndup(&r->arena, hdr_part(r, 2 * i), nl);
        const char *v = hdr_part(r, 2 * i + 1);
        while (*v == ' ' || *v == '\t') v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
        char *value = bs_arena_strndup(&r->arena, v, vl);
        if (!name || !value) return fail(r, 500, "out of memory");
        for (char *c = name; *c; c++) *c = (char)tolower((unsigned char)*c);
        h[i].name = name;
        h[i].value = value;
    }
    req->headers = h;
    req->n_headers = nh;
    return 0;
}

int bs__http_rd_feed(bs__http_rd *r, const char *data, size_t len,
                     size_t *used, bs_http_request *req, int *status,
                     const char **why) {
    *used = 0;
    if (r->poisoned) goto err;
    if (r->complete) { /* the previous request was handed out */
        r->complete = 0;
        http_parser_pause(&r->p, 0);
    }
    if (len == 0) return 0;
    r->feed_start = data;
    size_t n = http_parser_execute(&r->p, &r->cb, data, len);
    r->stream_pos += n;
    enum http_errno e = HTTP_PARSER_ERRNO(&r->p);
    if (r->status) goto poison;
    if (e == HPE_PAUSED && r->complete) {
        *used = n;
        if (build(r, req)) goto poison;
        return 1;
    }
    if (e == HPE_HEADER_OVERFLOW) {
        r->status = 431;
        r->why = "request header fields too large";
        goto poison;
    }
    if (e != HPE_OK) {
        r->status = 400;
        r->why = http_errno_description(e);
        goto poison;
    }
    *used = n;
    return 0;
poison:
    r->poisoned = 1;
err:
    *status = r->status;
    *why = r->why;
    return BS_EPROTO;
}
