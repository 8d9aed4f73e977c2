/*
 * fuzz_config.c - libFuzzer driver for node/config.c.
 *
 * Each input is loaded as YAML text with bs_config_load_string().  When
 * it loads, the effective config is dumped and loaded again, and the two
 * must be equal (the dump -> load round trip is an oracle, not just "no
 * crash").  The same bytes, split at newlines, are also fed to
 * bs_config_apply_args() as an argv, to cover the flag parser.
 * Seed corpus: tests/fuzz/config/ (conf/basalt.yaml and variants).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "node/config.h"

static void roundtrip(const bs_config *c) {
    bs_buf b = BS_BUF_INIT;
    if (bs_config_dump(c, &b) != 0) abort();
    bs_config d;
    bs_config_init(&d);
    char err[512];
    if (bs_config_load_string((const char *)b.data, b.len, "dump", &d, err,
                              sizeof err) != 0) {
        fprintf(stderr, "dump does not load: %s\n%.*s\n", err, (int)b.len,
                (const char *)b.data);
        abort();
    }
    if (!bs_config_equal(c, &d)) {
        fprintf(stderr, "dump round trip differs:\n%.*s\n", (int)b.len,
                (const char *)b.data);
        abort();
    }
    bs_config_free(&d);
    bs_buf_free(&b);
}

static void args(const uint8_t *data, size_t size) {
    if (size > 4096) return;
    char *copy = malloc(size + 1);
    char *argv[65];
    int argc = 0;
    if (!copy) return;
    memcpy(copy, data, size);
    copy[size] = '\0';
    argv[argc++] = "basaltd";
    char *p = copy;
    while (argc < 64 && p) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        argv[argc++] = p;
        p = nl ? nl + 1 : NULL;
    }
    argv[argc] = NULL;
    bs_config c;
    bs_config_init(&c);
    char err[512];
    if (bs_config_apply_args(&c, argc, argv, err, sizeof err) == 0)
        roundtrip(&c);
    bs_config_free(&c);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bs_config c;
    bs_config_init(&c);
    char err[512];
    if (bs_config_load_string((const char *)data, size, "fuzz.yaml", &c, err,
                              sizeof err) == 0)
        roundtrip(&c);
    bs_config_free(&c);
    args(data, size);
    return 0;
}
