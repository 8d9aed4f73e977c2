/*
 * admin_http.c - the admin server's HTTP/1.1 request parser and response
 * writer (RFC 9112 message syntax, the subset an admin API needs).
 *
 * Parsing is done on a complete header section, never on a prefix: the
 * caller accumulates bytes and calls bs__http_parse again until the head
 * (request line + fields + empty line) is there, then until Content-Length
 * body bytes follow it.  A head is at most BS_ADMIN_MAX_HEAD bytes; one
 * that has not ended by then is refused with 431.  The grammar accepted:
 *
 *   request   = *( [CR] LF ) request-line *( field-line ) [CR] LF [ body ]
 *   request-line = method SP request-target SP "HTTP/" DIGIT "." DIGIT EOL
 *   method    = 1*16 tchar
 *   request-target = origin-form: "/" *VCHAR except '#', at most 8 KiB,
 *               split at the first '?' into path (percent-decoded) and query
 *   field-line = field-name ":" OWS field-value OWS EOL
 *   field-name = 1*tchar          (no whitespace before the colon)
 *   field-value = *( VCHAR / obs-text / SP / HTAB )
 *   EOL       = CR LF, or a bare LF (RFC 9112 2.2 allows recognising it)
 *
 * Rejected with 400: a bare CR or any other control byte, obs-fold (a line
 * starting with whitespace), a malformed request line, a missing or
 * repeated Host in HTTP/1.1, a bad or conflicting Content-Length, a bad
 * percent-escape or an encoded NUL in the path.  505 for an HTTP major
 * version other than 1; 501 for any Transfer-Encoding (chunked bodies are
 * not supported, and refusing them also rules out request smuggling with
 * TE + CL); 413 for a body over max_body; 431 for an oversized head or
 * more than BS_ADMIN_MAX_HEADERS fields.
 *
 * Invariants: no read past p + len (every scan is bounded by the head
 * length found first); every string handed out is NUL-terminated and
 * lives in the caller's arena; on an error return `out` may be partially
 * filled but points only into the arena.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "node/admin/admin_int.h"

#define MAX_METHOD 16
#define MAX_TARGET 8192

static int is_tchar(unsigned char c) {
    if (isalnum(c)) return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int fail(int *status, const char **why, int st, const char *msg) {
    *status = st;
    *why = msg;
    return BS_EPROTO;
}

/* Finds the end of the head: returns the offset just past the empty line,
 * 0 when not found within `lim` bytes.  Lines end with LF; an empty line
 * is LF or CR LF right after an LF. */
static size_t head_end(const uint8_t *p, size_t len, size_t start) {
    for (size_t i = start; i < len; i++) {
        if (p[i] != '\n') continue;
        if (i + 1 < len && p[i + 1] == '\n') return i + 2;
        if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n') return i + 3;
    }
    return 0;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int bs__http_unescape(const char *s, size_t n, bool plus_space, bs_arena *a,
                      const char **out) {
    char *d = bs_arena_alloc(a, n + 1);
    if (!d) return BS_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3) return BS_EINVAL; /* fewer than two hex digits */
            int h = hexval((unsigned char)s[i + 1]),
                l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) return BS_EINVAL;
            c = (char)(h * 16 + l);
            if (c == 0) return BS_EINVAL;
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        } else if (c == 0) {
            return BS_EINVAL;
        }
        d[j++] = c;
    }
    d[j] = 0;
    *out = d;
    return 0;
}

/* Case-insensitive search of a comma-separated token list for `tok`. */
static int list_has(const char *v, const char *tok) {
    size_t tl = strlen(tok);
    const char *s = v;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - s) == tl && strncasecmp(s, tok, tl) == 0) return 1;
        s = e;
    }
    return 0;
}

/* The request line q..le (without its line end): method, target (path
 * unescaped, query kept raw) and version into out.  0, BS_EPROTO (status,
 * why set) or BS_ENOMEM. */
static int parse_request_line(const uint8_t *q, const uint8_t *le, bs_arena *a,
                              bs__http_req *out, int *status, const char **why) {
    for (const uint8_t *c = q; c < le; c++)
        if (*c < 0x20 || *c == 0x7f)
            return fail(status, why, 400,
                        "control character in the request line");
    const uint8_t *sp1 = memchr(q, ' ', (size_t)(le - q));
    if (!sp1 || sp1 == q)
        return fail(status, why, 400, "malformed request line");
    if (sp1 - q > MAX_METHOD) return fail(status, why, 400, "method too long");
    for (const uint8_t *c = q; c < sp1; c++)
        if (!is_tchar(*c))
            return fail(status, why, 400, "bad character in the method");
    const uint8_t *tg = sp1 + 1;
    const uint8_t *sp2 = memchr(tg, ' ', (size_t)(le - tg));
    if (!sp2 || sp2 == tg)
        return fail(status, why, 400, "malformed request line");
    if (sp2 - tg > MAX_TARGET)
        return fail(status, why, 400, "request target too long");
    const uint8_t *ver = sp2 + 1;
    if (le - ver != 8 || memcmp(ver, "HTTP/", 5) != 0 || !isdigit(ver[5]) ||
        ver[6] != '.' || !isdigit(ver[7]))
        return fail(status, why, 400, "malformed HTTP version");
    if (ver[5] != '1')
        return fail(status, why, 505, "only HTTP/1.x is supported");
    out->minor = ver[7] == '0' ? 0 : 1;
    if (*tg != '/')
        return fail(status, why, 400, "request target must start with '/'");
    for (const uint8_t *c = tg; c < sp2; c++)
        if (*c > 0x7e || *c == '#')
            return fail(status, why, 400,
                        "bad character in the request target");
    char *method = bs_arena_strndup(a, (const char *)q, (size_t)(sp1 - q));
    if (!method) return BS_ENOMEM;
    out->method = method;
    const uint8_t *qm = memchr(tg, '?', (size_t)(sp2 - tg));
    const uint8_t *pe = qm ? qm : sp2;
    int rc = bs__http_unescape((const char *)tg, (size_t)(pe - tg), false, a,
                               &out->path);
    if (rc == BS_ENOMEM) return rc;
    if (rc) return fail(status, why, 400, "bad percent-escape in the path");
    out->query =
        qm ? bs_arena_strndup(a, (const char *)qm + 1, (size_t)(sp2 - qm - 1))
           : bs_arena_strndup(a, "", 0);
    return out->query ? 0 : BS_ENOMEM;
}

/* What the field lines say about framing and the connection. */
typedef struct fields {
    int n_host, have_cl, have_te, conn_close, conn_keep;
    uint64_t cl;
} fields;

/* Content-Length's value into *cl (UINT64_MAX when it overflows).
 * 0 or BS_EPROTO. */
static int content_length(const char *val, uint64_t *cl, int *status,
                          const char **why) {
    if (!*val) return fail(status, why, 400, "bad Content-Length");
    uint64_t n = 0;
    for (const char *c = val; *c; c++) {
        if (!isdigit((unsigned char)*c))
            return fail(status, why, 400, "bad Content-Length");
        if (n > (UINT64_MAX - 9) / 10) {
            n = UINT64_MAX;
            break;
        }
        n = n * 10 + (uint64_t)(*c - '0');
    }
    *cl = n;
    return 0;
}

/* Notes what one field (name already lower case) means for framing. */
static int note_field(const char *name, const char *val, fields *fs,
                      bs__http_req *out, int *status, const char **why) {
    if (strcmp(name, "host") == 0) {
        fs->n_host++;
    } else if (strcmp(name, "content-length") == 0) {
        uint64_t n;
        if (content_length(val, &n, status, why)) return BS_EPROTO;
        if (fs->have_cl && n != fs->cl)
            return fail(status, why, 400, "conflicting Content-Length");
        fs->have_cl = 1;
        fs->cl = n;
    } else if (strcmp(name, "transfer-encoding") == 0) {
        fs->have_te = 1;
    } else if (strcmp(name, "connection") == 0) {
        if (list_has(val, "close")) fs->conn_close = 1;
        if (list_has(val, "keep-alive")) fs->conn_keep = 1;
    } else if (strcmp(name, "expect") == 0) {
        if (strcasecmp(val, "100-continue") == 0) out->expect_continue = true;
    }
    return 0;
}

/* The field lines from q up to the empty line before end into
 * out->headers, and what they mean into fs.  0, BS_EPROTO or BS_ENOMEM. */
static int parse_fields(const uint8_t *q, const uint8_t *end, bs_arena *a,
                        bs__http_req *out, fields *fs, int *status,
                        const char **why) {
    bs_admin_header *hs = bs_arena_alloc(a, sizeof *hs * BS_ADMIN_MAX_HEADERS);
    if (!hs) return BS_ENOMEM;
    out->headers = hs;
    size_t nh = 0;
    for (;;) {
        const uint8_t *eol = memchr(q, '\n', (size_t)(end - q));
        const uint8_t *le = eol;
        if (le > q && le[-1] == '\r') le--;
        if (le == q) break; /* the empty line */
        if (*q == ' ' || *q == '\t')
            return fail(status, why, 400,
                        "obsolete line folding is not accepted");
        if (nh == BS_ADMIN_MAX_HEADERS)
            return fail(status, why, 431, "too many header fields");
        const uint8_t *colon = q;
        while (colon < le && is_tchar(*colon))
            colon++;
        if (colon == q || colon == le || *colon != ':')
            return fail(status, why, 400, "malformed header field");
        const uint8_t *v = colon + 1, *ve = le;
        for (const uint8_t *c = v; c < ve; c++)
            if ((*c < 0x20 && *c != '\t') || *c == 0x7f)
                return fail(status, why, 400,
                            "control character in a header field");
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        char *name = bs_arena_strndup(a, (const char *)q, (size_t)(colon - q));
        char *val = bs_arena_strndup(a, (const char *)v, (size_t)(ve - v));
        if (!name || !val) return BS_ENOMEM;
        for (char *c = name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        hs[nh].name = name;
        hs[nh].value = val;
        nh++;
        int rc = note_field(name, val, fs, out, status, why);
        if (rc) return rc;
        q = eol + 1;
    }
    out->n_headers = nh;
    return 0;
}

/* Skips leading empty lines (RFC 9112 2.2: SHOULD ignore at least one)
 * into *start.  0, BS_EAGAIN or BS_EPROTO. */
static int skip_empty_lines(const uint8_t *p, size_t len, size_t *start,
                            int *status, const char **why) {
    size_t i = 0;
    while (i < len && (p[i] == '\r' || p[i] == '\n')) {
        if (p[i] == '\r' && (i + 1 >= len || p[i + 1] != '\n')) {
            if (i + 1 >= len) return BS_EAGAIN;
            return fail(status, why, 400, "bare CR before the request line");
        }
        i += p[i] == '\r' ? 2 : 1;
        if (i > BS_ADMIN_MAX_HEAD)
            return fail(status, why, 431, "request header section too large");
    }
    *start = i;
    return 0;
}

int bs__http_parse(const uint8_t *p, size_t len, size_t max_body, bs_arena *a,
                   bs__http_req *out, size_t *consumed, int *status,
                   const char **why) {
    memset(out, 0, sizeof *out);
    *consumed = 0;
    *status = 0;
    *why = "";
    if (max_body == 0) max_body = BS_ADMIN_MAX_BODY;
    size_t start;
    int rc = skip_empty_lines(p, len, &start, status, why);
    if (rc) return rc;
    size_t lim =
        len < start + BS_ADMIN_MAX_HEAD ? len : start + BS_ADMIN_MAX_HEAD;
    size_t hend = head_end(p, lim, start);
    if (hend == 0) {
        if (lim - start >= BS_ADMIN_MAX_HEAD)
            return fail(status, why, 431, "request header section too large");
        return BS_EAGAIN;
    }
    const uint8_t *q = p + start, *end = p + hend;
    const uint8_t *eol = memchr(q, '\n', (size_t)(end - q));
    const uint8_t *le = eol; /* line end without CR */
    if (le > q && le[-1] == '\r') le--;
    if ((rc = parse_request_line(q, le, a, out, status, why))) return rc;
    fields fs;
    memset(&fs, 0, sizeof fs);
    if ((rc = parse_fields(eol + 1, end, a, out, &fs, status, why))) return rc;
    if (fs.have_te)
        return fail(status, why, 501, "Transfer-Encoding is not supported");
    if (out->minor == 1 && fs.n_host != 1)
        return fail(status, why, 400,
                    fs.n_host ? "more than one Host header"
                              : "missing Host header");
    if (fs.n_host > 1)
        return fail(status, why, 400, "more than one Host header");
    if (fs.cl > max_body)
        return fail(status, why, 413, "request body too large");
    out->keep_alive =
        out->minor == 1 ? !fs.conn_close : (fs.conn_keep && !fs.conn_close);
    size_t need = hend + (size_t)fs.cl;
    if (len < need) {
        *consumed = need;
        return BS_EAGAIN;
    }
    if (fs.cl) {
        uint8_t *body = bs_arena_memdup(a, p + hend, (size_t)fs.cl);
        if (!body) return BS_ENOMEM;
        out->body = body;
        out->body_len = (size_t)fs.cl;
    }
    *consumed = need;
    return 0;
}

const char *bs_admin_status_text(int status) {
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

int bs__http_write_response(bs_buf *out, int status, const char *content_type,
                            const char *extra_headers, bool keep_alive,
                            const uint8_t *body, size_t body_len) {
    int rc = bs_buf_appendf(out,
                            "HTTP/1.1 %d %s\r\nServer: basalt-admin\r\n"
                            "Content-Type: %s\r\nContent-Length: %zu\r\n"
                            "Connection: %s\r\n%s\r\n",
                            status, bs_admin_status_text(status),
                            content_type ? content_type : "application/json",
                            body_len, keep_alive ? "keep-alive" : "close",
                            extra_headers ? extra_headers : "");
    if (rc) return rc;
    return body_len ? bs_buf_append(out, body, body_len) : 0;
}

int bs__admin_status_for(int rc) {
    switch (rc) {
    case BS_ENOTFOUND: return 404;
    case BS_EINVAL:
    case BS_ESYNTAX: return 400;
    case BS_ENOTSUP: return 501;
    case BS_EUNAVAIL:
    case BS_EBUSY: return 503;
    default: return 500;
    }
}

/* ------------------------------------------------------------------ */
/* Request accessors                                                   */
/* ------------------------------------------------------------------ */

const char *bs_admin_header_get(const bs_admin_request *r, const char *name) {
    for (size_t i = 0; i < r->n_headers; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

int bs_admin_query_param(const bs_admin_request *r, const char *name,
                         const char **out) {
    const char *s = r->query ? r->query : "";
    size_t nl = strlen(name);
    while (*s) {
        const char *e = strchr(s, '&');
        if (!e) e = s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(e - s));
        const char *ke = eq ? eq : e;
        const char *k = NULL;
        int rc = bs__http_unescape(s, (size_t)(ke - s), true, r->arena, &k);
        if (rc) return rc;
        if (strlen(k) == nl && memcmp(k, name, nl) == 0) {
            if (!eq) {
                *out = bs_arena_strndup(r->arena, "", 0);
                return *out ? 0 : BS_ENOMEM;
            }
            return bs__http_unescape(eq + 1, (size_t)(e - eq - 1), true,
                                     r->arena, out);
        }
        s = *e ? e + 1 : e;
    }
    return BS_ENOTFOUND;
}
