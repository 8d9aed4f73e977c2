/*
 * shell_render.c - result tables as cqlsh prints them.
 *
 * A grid holds already formatted cells (bs_value_format output): all
 * cell bytes in one growing buffer, and per cell an (offset, length)
 * pair, row after row, so a page of 5,000 rows costs two allocations.
 *
 * Table form (cqlsh's print_formatted_result):
 *
 *    pk | name  | score         <- names left-aligned, line right-trimmed
 *   ----+-------+-------        <- '-' * width joined by "-+-", framed by '-'
 *     1 | alice |    10         <- values right-aligned
 *
 * Column widths are the display widths (terminal columns: UTF-8 decoded,
 * East Asian wide characters 2, combining marks 0) of the widest name or
 * value in the grid -- i.e. per page when the caller renders page by page,
 * as cqlsh does.
 *
 * Expanded form (EXPAND ON, cqlsh's print_formatted_result_vertically):
 *
 *   @ Row 1
 *   ------+-------
 *    pk   | 1
 *    name | alice
 *   (blank line)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "client/shell.h"
#include "common/error.h"
#include "common/utf8.h"
#include "query/proto.h"

struct bs_shell_grid {
    size_t ncols;
    char **names;
    bs_buf data;
    size_t *cells; /* 2 per cell: offset, length */
    size_t ncells, capcells;
};

int bs_shell_grid_new(size_t ncols, const char *const *names,
                      bs_shell_grid **out) {
    bs_shell_grid *g = calloc(1, sizeof *g);
    if (!g) return BS_ENOMEM;
    g->ncols = ncols;
    g->names = calloc(ncols ? ncols : 1, sizeof *g->names);
    if (!g->names) {
        free(g);
        return BS_ENOMEM;
    }
    for (size_t i = 0; i < ncols; i++) {
        g->names[i] = strdup(names[i] ? names[i] : "");
        if (!g->names[i]) {
            bs_shell_grid_free(g);
            return BS_ENOMEM;
        }
    }
    bs_buf_init(&g->data);
    *out = g;
    return 0;
}

void bs_shell_grid_free(bs_shell_grid *g) {
    if (!g) return;
    for (size_t i = 0; i < g->ncols; i++)
        free(g->names[i]);
    free(g->names);
    bs_buf_free(&g->data);
    free(g->cells);
    free(g);
}

int bs_shell_grid_add_row(bs_shell_grid *g, const char *const *cells,
                          const size_t *lens) {
    if (g->ncells + g->ncols > g->capcells) {
        size_t nc = g->capcells ? g->capcells * 2 : 64 * (g->ncols + 1);
        while (nc < g->ncells + g->ncols)
            nc *= 2;
        size_t *n = realloc(g->cells, nc * 2 * sizeof *n);
        if (!n) return BS_ENOMEM;
        g->cells = n;
        g->capcells = nc;
    }
    size_t mark = g->data.len;
    for (size_t i = 0; i < g->ncols; i++) {
        g->cells[2 * (g->ncells + i)] = g->data.len;
        g->cells[2 * (g->ncells + i) + 1] = lens[i];
        if (bs_buf_append(&g->data, cells[i], lens[i])) {
            g->data.len = mark;
            return BS_ENOMEM;
        }
    }
    g->ncells += g->ncols;
    return 0;
}

size_t bs_shell_grid_rows(const bs_shell_grid *g) {
    return g->ncols ? g->ncells / g->ncols : 0;
}

void bs_shell_grid_clear(bs_shell_grid *g) {
    g->ncells = 0;
    g->data.len = 0;
}

size_t bs_shell_display_width(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t w = 0, i = 0;
    while (i < len) {
        uint32_t v;
        size_t n = bs_utf8_decode(u + i, len - i, &v);
        long cp = n ? (long)v : -1; /* an invalid byte counts as one */
        i += n ? n : 1;
        if (cp < 0x80) {
            w += 1; /* ASCII and invalid bytes */
            continue;
        }
        int cw = wcwidth((wchar_t)cp);
        if (cw < 0) {
            /* not printable in this locale: guess from the block */
            cw = (cp >= 0x1100 && cp <= 0x115F) ||
                         (cp >= 0x2E80 && cp <= 0xA4CF) ||
                         (cp >= 0xAC00 && cp <= 0xD7A3) ||
                         (cp >= 0xF900 && cp <= 0xFAFF) ||
                         (cp >= 0xFF00 && cp <= 0xFF60) ||
                         (cp >= 0x1F300 && cp <= 0x1FAFF) ||
                         (cp >= 0x20000 && cp <= 0x3FFFD)
                     ? 2
                     : 1;
            if (cp >= 0x300 && cp <= 0x36F) cw = 0;
        }
        w += (size_t)cw;
    }
    return w;
}

static int pad(bs_buf *out, char c, size_t n) {
    uint8_t *p = bs_buf_extend(out, n);
    if (!p && n) return BS_ENOMEM;
    memset(p, c, n);
    return 0;
}

static const char *cell(const bs_shell_grid *g, size_t row, size_t col,
                        size_t *len) {
    size_t k = 2 * (row * g->ncols + col);
    *len = g->cells[k + 1];
    return (const char *)g->data.data + g->cells[k];
}

static int render_table(const bs_shell_grid *g, int header, bs_buf *out) {
    size_t nrows = bs_shell_grid_rows(g);
    size_t *w = calloc(g->ncols ? g->ncols : 1, sizeof *w);
    size_t *cw = malloc((g->ncells ? g->ncells : 1) * sizeof *cw);
    int rc = BS_ENOMEM;
    if (!w || !cw) goto done;
    for (size_t c = 0; c < g->ncols; c++)
        w[c] = bs_shell_display_width(g->names[c], strlen(g->names[c]));
    for (size_t r = 0; r < nrows; r++)
        for (size_t c = 0; c < g->ncols; c++) {
            size_t l;
            const char *s = cell(g, r, c, &l);
            cw[r * g->ncols + c] = bs_shell_display_width(s, l);
            if (cw[r * g->ncols + c] > w[c]) w[c] = cw[r * g->ncols + c];
        }
    if (header) {
        size_t start = out->len;
        if (bs_buf_append_u8(out, ' ')) goto done;
        for (size_t c = 0; c < g->ncols; c++) {
            size_t nl = strlen(g->names[c]);
            if (c && bs_buf_append_str(out, " | ")) goto done;
            if (bs_buf_append(out, g->names[c], nl)) goto done;
            if (pad(out, ' ', w[c] - bs_shell_display_width(g->names[c], nl)))
                goto done;
        }
        while (out->len > start && out->data[out->len - 1] == ' ')
            out->len--;
        if (bs_buf_append_u8(out, '\n')) goto done;
        if (bs_buf_append_u8(out, '-')) goto done;
        for (size_t c = 0; c < g->ncols; c++) {
            if (c && bs_buf_append_str(out, "-+-")) goto done;
            if (pad(out, '-', w[c])) goto done;
        }
        if (bs_buf_append_str(out, "-\n")) goto done;
    }
    for (size_t r = 0; r < nrows; r++) {
        if (bs_buf_append_u8(out, ' ')) goto done;
        for (size_t c = 0; c < g->ncols; c++) {
            size_t l;
            const char *s = cell(g, r, c, &l);
            if (c && bs_buf_append_str(out, " | ")) goto done;
            if (pad(out, ' ', w[c] - cw[r * g->ncols + c])) goto done;
            if (bs_buf_append(out, s, l)) goto done;
        }
        if (bs_buf_append_u8(out, '\n')) goto done;
    }
    rc = 0;
done:
    free(w);
    free(cw);
    return rc;
}

static int render_expanded(const bs_shell_grid *g, size_t first_row,
                           bs_buf *out) {
    size_t nrows = bs_shell_grid_rows(g);
    size_t mn = 0, mv = 0;
    for (size_t c = 0; c < g->ncols; c++) {
        size_t w = bs_shell_display_width(g->names[c], strlen(g->names[c]));
        if (w > mn) mn = w;
    }
    for (size_t r = 0; r < nrows; r++)
        for (size_t c = 0; c < g->ncols; c++) {
            size_t l;
            const char *s = cell(g, r, c, &l);
            size_t w = bs_shell_display_width(s, l);
            if (w > mv) mv = w;
        }
    for (size_t r = 0; r < nrows; r++) {
        if (bs_buf_appendf(out, "@ Row %zu\n-", first_row + r + 1))
            return BS_ENOMEM;
        if (pad(out, '-', mn) || bs_buf_append_str(out, "-+-") ||
            pad(out, '-', mv) || bs_buf_append_str(out, "-\n"))
            return BS_ENOMEM;
        for (size_t c = 0; c < g->ncols; c++) {
            size_t nl = strlen(g->names[c]), l;
            const char *s = cell(g, r, c, &l);
            if (bs_buf_append_u8(out, ' ') ||
                bs_buf_append(out, g->names[c], nl) ||
                pad(out, ' ', mn - bs_shell_display_width(g->names[c], nl)) ||
                bs_buf_append_str(out, " | ") || bs_buf_append(out, s, l) ||
                bs_buf_append_u8(out, '\n'))
                return BS_ENOMEM;
        }
        if (bs_buf_append_u8(out, '\n')) return BS_ENOMEM;
    }
    return 0;
}

int bs_shell_grid_render(const bs_shell_grid *g, int expand, int header,
                         size_t first_row, bs_buf *out) {
    if (expand) return render_expanded(g, first_row, out);
    return render_table(g, header, out);
}

/* --------------------------------------------------------------- errors */

/* The python driver's summary of each server error code, which cqlsh
 * shows between brackets. */
static const char *error_summary(int32_t code) {
    switch (code) {
    case BS_PROTO_ERR_SERVER: return "Server error";
    case BS_PROTO_ERR_PROTOCOL: return "Protocol error";
    case BS_PROTO_ERR_BAD_CREDENTIALS: return "Bad credentials";
    case BS_PROTO_ERR_UNAVAILABLE: return "Unavailable exception";
    case BS_PROTO_ERR_OVERLOADED: return "Coordinator node overloaded";
    case BS_PROTO_ERR_IS_BOOTSTRAPPING:
        return "Coordinator node is bootstrapping";
    case BS_PROTO_ERR_TRUNCATE: return "Error during truncate";
    case BS_PROTO_ERR_WRITE_TIMEOUT:
    case BS_PROTO_ERR_READ_TIMEOUT:
        return "Coordinator node timed out waiting for replica nodes' "
               "responses";
    case BS_PROTO_ERR_READ_FAILURE: return "Replica(s) failed to execute read";
    case BS_PROTO_ERR_FUNCTION_FAILURE: return "User Defined Function failure";
    case BS_PROTO_ERR_WRITE_FAILURE:
        return "Replica(s) failed to execute write";
    case BS_PROTO_ERR_SYNTAX: return "Syntax error in CQL query";
    case BS_PROTO_ERR_UNAUTHORIZED: return "Unauthorized";
    case BS_PROTO_ERR_INVALID: return "Invalid query";
    case BS_PROTO_ERR_CONFIG:
        return "Query invalid because of configuration issue";
    case BS_PROTO_ERR_ALREADY_EXISTS: return "Already exists";
    case BS_PROTO_ERR_UNPREPARED: return "Unprepared query";
    default: return "Unknown error";
    }
}

void bs_shell_format_error(const bs_client_error *e, int rc, char *buf,
                           size_t buflen) {
    if (!buflen) return;
    int code = e && e->code ? e->code : rc;
    if (code == BS_CLIENT_ESERVER && e) {
        const char *cls = bs_client_error_class(e->server_code);
        if (e->server_code == BS_PROTO_ERR_SYNTAX) {
            snprintf(buf, buflen, "%s: %s", cls, e->message);
            return;
        }
        int n = snprintf(buf, buflen,
                         "%s: Error from server: code=%04x [%s] message=\"%s\"",
                         cls, (unsigned)e->server_code,
                         error_summary(e->server_code), e->message);
        if (n < 0 || (size_t)n >= buflen) return;
        const char *cl = bs_proto_consistency_name(e->cl);
        switch (e->server_code) {
        case BS_PROTO_ERR_UNAVAILABLE:
            snprintf(buf + n, buflen - (size_t)n,
                     " info={'consistency': '%s', 'required_replicas': %d, "
                     "'alive_replicas': %d}",
                     cl ? cl : "?", (int)e->required, (int)e->alive);
            break;
        case BS_PROTO_ERR_WRITE_TIMEOUT:
        case BS_PROTO_ERR_READ_TIMEOUT:
            snprintf(buf + n, buflen - (size_t)n,
                     " info={'consistency': '%s', 'required_responses': %d, "
                     "'received_responses': %d}",
                     cl ? cl : "?", (int)e->blockfor, (int)e->received);
            break;
        default: break;
        }
        return;
    }
    const char *cls;
    switch (code) {
    case BS_CLIENT_ENOHOST: cls = "NoHostAvailable"; break;
    case BS_CLIENT_ETIMEOUT: cls = "OperationTimedOut"; break;
    case BS_CLIENT_ECONNREFUSED:
    case BS_CLIENT_ECONNTIMEOUT:
    case BS_CLIENT_ECONNLOST:
    case BS_CLIENT_ECLOSED: cls = "ConnectionException"; break;
    case BS_CLIENT_EPROTO: cls = "ProtocolException"; break;
    default: cls = "Error"; break;
    }
    const char *msg =
        e && e->message[0] ? e->message : bs_client_strerror(code);
    if (e && e->host[0])
        snprintf(buf, buflen, "%s: ('%s', {'%s': '%s'})", cls,
                 code == BS_CLIENT_ENOHOST
                     ? "Unable to complete the operation against any hosts"
                     : bs_client_strerror(code),
                 e->host, msg);
    else
        snprintf(buf, buflen, "%s: %s", cls, msg);
}
