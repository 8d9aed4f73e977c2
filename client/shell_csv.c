/*
 * shell_csv.c - RFC 4180 CSV for COPY TO / COPY FROM.
 *
 * Writing: a field is quoted ("...", with " doubled) when it contains the
 * delimiter, a double quote, CR or LF, starts or ends with a blank, or is
 * the empty string.  A null is the empty unquoted field.  So the pair
 * (text, quoted?) read back tells null ("" unquoted) from the empty
 * string ("\"\"") and every value survives a round trip.
 *
 * Reading: a small state machine over getc_unlocked():
 *
 *   FIELD_START --'"'--> QUOTED --'"'--> QUOTE_IN_QUOTED --'"'--> QUOTED
 *        |                 ^  (any other byte, CR/LF too: kept)   |
 *        |                 +--------------------------------------+
 *        +--other--> UNQUOTED (until delimiter / CR / LF / EOF)
 *   QUOTE_IN_QUOTED then expects the delimiter, CR, LF or EOF; anything
 *   else is a malformed record (BS_ESYNTAX with its line number).
 *
 * Fields are collected NUL-separated in one buffer whose offsets are
 * turned into pointers once the record is complete (the buffer may move
 * while it grows).  Lines with nothing on them are skipped.
 */
#include <stdlib.h>
#include <string.h>

#include "client/shell.h"
#include "common/error.h"

int bs_shell_csv_field(bs_buf *out, const char *s, size_t len, int is_null,
                       char delim) {
    if (is_null) return 0;
    int q = len == 0 || s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' ||
            s[len - 1] == '\t';
    for (size_t i = 0; i < len && !q; i++)
        if (s[i] == delim || s[i] == '"' || s[i] == '\n' || s[i] == '\r') q = 1;
    if (!q) return bs_buf_append(out, s, len);
    if (bs_buf_reserve(out, len + 2)) return BS_ENOMEM;
    if (bs_buf_append_u8(out, '"')) return BS_ENOMEM;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') {
            if (bs_buf_append(out, s + run, i + 1 - run)) return BS_ENOMEM;
            if (bs_buf_append_u8(out, '"')) return BS_ENOMEM;
            run = i + 1;
        }
    }
    if (bs_buf_append(out, s + run, len - run)) return BS_ENOMEM;
    return bs_buf_append_u8(out, '"');
}

struct bs_shell_csv {
    FILE *f;
    char delim;
    long line; /* lines read so far */
    bs_buf text;
    size_t *offs; /* field start offsets in text */
    size_t *lens;
    uint8_t *quoted;
    char **ptrs;
    size_t n, cap;
};

int bs_shell_csv_open(FILE *f, char delim, bs_shell_csv **out) {
    bs_shell_csv *r = calloc(1, sizeof *r);
    if (!r) return BS_ENOMEM;
    r->f = f;
    r->delim = delim;
    bs_buf_init(&r->text);
    *out = r;
    return 0;
}

void bs_shell_csv_close(bs_shell_csv *r) {
    if (!r) return;
    bs_buf_free(&r->text);
    free(r->offs);
    free(r->lens);
    free(r->quoted);
    free(r->ptrs);
    free(r);
}

static int begin_field(bs_shell_csv *r) {
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        size_t *o = realloc(r->offs, nc * sizeof *o);
        if (!o) return BS_ENOMEM;
        r->offs = o;
        size_t *l = realloc(r->lens, nc * sizeof *l);
        if (!l) return BS_ENOMEM;
        r->lens = l;
        uint8_t *q = realloc(r->quoted, nc);
        if (!q) return BS_ENOMEM;
        r->quoted = q;
        char **p = realloc(r->ptrs, nc * sizeof *p);
        if (!p) return BS_ENOMEM;
        r->ptrs = p;
        r->cap = nc;
    }
    r->offs[r->n] = r->text.len;
    r->quoted[r->n] = 0;
    r->n++;
    return 0;
}

static int end_field(bs_shell_csv *r) {
    r->lens[r->n - 1] = r->text.len - r->offs[r->n - 1];
    return bs_buf_append_u8(&r->text, 0);
}

enum { FIELD_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED };

int bs_shell_csv_next(bs_shell_csv *r, size_t *n, char ***fields, size_t **lens,
                      uint8_t **quoted, long *line) {
    for (;;) {
        r->n = 0;
        r->text.len = 0;
        int st = FIELD_START, c, any = 0;
        long start_line = r->line + 1;
        if (begin_field(r)) return BS_ENOMEM;
        for (;;) {
            c = getc_unlocked(r->f);
            if (c == EOF) break;
            any = 1;
            if (st == QUOTED) {
                if (c == '"')
                    st = QUOTE_IN_QUOTED;
                else {
                    if (c == '\n') r->line++;
                    if (bs_buf_append_u8(&r->text, (uint8_t)c))
                        return BS_ENOMEM;
                }
                continue;
            }
            if (st == QUOTE_IN_QUOTED && c == '"') {
                if (bs_buf_append_u8(&r->text, '"')) return BS_ENOMEM;
                st = QUOTED;
                continue;
            }
            if (c == r->delim) {
                if (end_field(r) || begin_field(r)) return BS_ENOMEM;
                st = FIELD_START;
                continue;
            }
            if (c == '\r') {
                int d = getc_unlocked(r->f);
                if (d != '\n' && d != EOF) ungetc(d, r->f);
                c = '\n';
            }
            if (c == '\n') {
                r->line++;
                break;
            }
            if (st == QUOTE_IN_QUOTED) {
                if (line) *line = r->line + 1;
                /* skip the rest of the bad line so a caller may go on */
                while ((c = getc_unlocked(r->f)) != EOF && c != '\n') {
                }
                r->line++;
                return BS_ESYNTAX;
            }
            if (st == FIELD_START && c == '"') {
                st = QUOTED;
                r->quoted[r->n - 1] = 1;
                continue;
            }
            st = UNQUOTED;
            if (bs_buf_append_u8(&r->text, (uint8_t)c)) return BS_ENOMEM;
        }
        if (st == QUOTED) {
            if (line) *line = start_line;
            return BS_ESYNTAX; /* end of input inside quotes */
        }
        if (!any) return 0;
        if (end_field(r)) return BS_ENOMEM;
        if (r->n == 1 && r->lens[0] == 0 && !r->quoted[0]) {
            if (c == EOF) return 0;
            continue; /* blank line */
        }
        for (size_t i = 0; i < r->n; i++)
            r->ptrs[i] = (char *)r->text.data + r->offs[i];
        *n = r->n;
        *fields = r->ptrs;
        *lens = r->lens;
        *quoted = r->quoted;
        if (line) *line = start_line;
        return 1;
    }
}
