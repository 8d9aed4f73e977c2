/*
 * admin_repair.h - basalt-admin's renderers for POST /repair and
 * GET /checksum (shapes in node/admin/repair_admin.h).  Same conventions as
 * admin_fmt.h: append to out; 0, BS_ENOMEM or BS_EPROTO.
 */
#ifndef BS_CLIENT_ADMIN_REPAIR_H
#define BS_CLIENT_ADMIN_REPAIR_H

#include "client/admin_json.h"
#include "common/buf.h"

/* The session report; *failed_ranges gets ranges_failed (exit status). */
int bs_admin_fmt_repair(const bs_json *doc, bs_buf *out,
                        int64_t *failed_ranges);
/* One line per (table, node) and a verdict per table; *mismatched gets
 * the number of tables whose live nodes disagree. */
int bs_admin_fmt_checksum(const bs_json *doc, bs_buf *out, int64_t *mismatched);

#endif
