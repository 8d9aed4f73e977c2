/*
 * admin_fmt.h - basalt-admin's renderers: JSON documents of the admin
 * REST API (node/admin/admin.h documents their shape) to nodetool-style text.
 *
 * Each function appends to `out` and returns 0, BS_ENOMEM, or
 * BS_EPROTO when the document lacks a field it needs (a server of
 * another version, or not a Basalt admin API at all).
 */
#ifndef BS_CLIENT_ADMIN_FMT_H
#define BS_CLIENT_ADMIN_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/admin_json.h"
#include "common/buf.h"

/* Cassandra's file-size style: "123 bytes", "1.5 KiB", "2.25 MiB"
 * (at most two decimals, trailing zeros dropped); "?" when bytes < 0. */
void bs_admin_fmt_size(int64_t bytes, char *out, size_t cap);

int bs_admin_fmt_status(const bs_json *doc, bs_buf *out);
int bs_admin_fmt_ring(const bs_json *doc, bs_buf *out);
int bs_admin_fmt_info(const bs_json *doc, bool tokens, bool config,
                      bs_buf *out);
int bs_admin_fmt_gossipinfo(const bs_json *doc, bs_buf *out);
int bs_admin_fmt_describecluster(const bs_json *doc, bs_buf *out);
int bs_admin_fmt_version(const bs_json *doc, bs_buf *out);
/* GET /hints: one line per target with its pending hints. */
int bs_admin_fmt_hints(const bs_json *doc, bs_buf *out);

#endif
