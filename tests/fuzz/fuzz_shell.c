/*
 * fuzz_shell.c - libFuzzer driver for basalt-shell's input parsers: the
 * statement splitter and command parser (client/shell_split.c) and COPY
 * FROM's CSV reader (client/shell_csv.c).
 *
 * The first byte picks the parser (even: splitter, odd: CSV), the rest is
 * the input.  Oracles, beyond "no crash":
 *   splitter  every COMPLETE statement lies inside the bytes it consumed,
 *             and consumption always moves forward; each statement goes
 *             through bs_shell_parse_cmd (any result but a crash is fine);
 *   CSV       every record read is written back with bs_shell_csv_field
 *             and read again: the same fields, byte for byte.
 * Seed corpus: tests/fuzz/shell/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/shell.h"
#include "common/buf.h"
#include "common/error.h"

static void split(const char *text, size_t len) {
    size_t pos = 0;
    while (pos < len) {
        size_t off, slen, consumed;
        int rc = bs_shell_next_stmt(text + pos, len - pos, 1, &off, &slen, &consumed);
        if (rc == BS_ENOMEM) return;
        if (rc < 0 || rc > BS_SHELL_STMT_PARTIAL) abort();
        if (rc != BS_SHELL_STMT_COMPLETE) break;
        if (consumed == 0 || consumed > len - pos || off + slen > consumed) abort();
        bs_shell_cmd cmd;
        char err[256];
        (void)bs_shell_parse_cmd(text + pos + off, slen, &cmd, err, sizeof err);
        pos += consumed;
    }
}

/* Reads every record of data; appends each re-encoded as CSV to out (when
 * out is not NULL) and its fields to got, one after another as
 * <len><bytes>.  0 at the end, 1 on a syntax error or allocation failure. */
static int read_all(const char *data, size_t len, bs_buf *out, bs_buf *got) {
    FILE *f = len ? fmemopen((void *)data, len, "r") : fopen("/dev/null", "r");
    if (!f) return 1;
    bs_shell_csv *r;
    if (bs_shell_csv_open(f, ',', &r)) {
        fclose(f);
        return 1;
    }
    int rc = 0;
    for (;;) {
        size_t n;
        char **fields;
        size_t *lens;
        uint8_t *quoted;
        long line;
        int k = bs_shell_csv_next(r, &n, &fields, &lens, &quoted, &line);
        if (k == 0) break;
        if (k != 1) {
            rc = 1;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            uint64_t l = lens[i];
            if (bs_buf_append(got, &l, sizeof l) || bs_buf_append(got, fields[i], lens[i]))
                abort();
            if (out) {
                if (i && bs_buf_append(out, ",", 1)) abort();
                if (bs_shell_csv_field(out, fields[i], lens[i], 0, ',')) abort();
            }
        }
        if (out && bs_buf_append(out, "\n", 1)) abort();
    }
    bs_shell_csv_close(r);
    fclose(f);
    return rc;
}

static void csv(const char *data, size_t len) {
    bs_buf again = BS_BUF_INIT, first = BS_BUF_INIT, second = BS_BUF_INIT;
    if (read_all(data, len, &again, &first) == 0) {
        /* what was read must read back the same once written */
        if (read_all((const char *)again.data, again.len, NULL, &second) != 0) abort();
        if (first.len != second.len ||
            (first.len && memcmp(first.data, second.data, first.len)))
            abort();
    }
    bs_buf_free(&again);
    bs_buf_free(&first);
    bs_buf_free(&second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0 || size > 1 << 16) return 0;
    if (data[0] & 1)
        csv((const char *)data + 1, size - 1);
    else
        split((const char *)data + 1, size - 1);
    return 0;
}
