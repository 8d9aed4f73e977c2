/*
 * repair_admin.h - the admin REST routes of anti-entropy repair:
 *
 *   POST /repair[?keyspace=ks[&table=t]][&full=1][&pr=1][&range=a:b]
 *        runs a session (repair/session.h) and answers its report:
 *        {"session","started_ms","duration_ms","tables","ranges_compared",
 *         "ranges_in_sync","ranges_mismatched","ranges_failed",
 *         "leaves_mismatched","rows_differed","bytes_differed",
 *         "rows_streamed","bytes_streamed","streams","error"}
 *        (409 while another session runs)
 *   GET  /repair/history[?limit=N]   (default 20, newest first)
 *        this node's sessions from system.repair_history (bs_repair_history)
 *   GET  /checksum[?keyspace=ks[&table=t]]
 *        per-node checksum of each table (bs_repair_checksum)
 *   GET  /streamthroughput           {"stream_throughput_bytes": N}
 *   POST /streamthroughput?bytes=N   sets this node's outbound stream rate
 *        (bytes per second, 0 = unthrottled, at most 64 GiB; 400
 *        otherwise) for the streams running and to come, until a restart
 *        (nodetool setstreamthroughput); answers as GET
 *
 * The first three run on the admin server's thread pool (they block for
 * as long as the session or the tree builds take).
 */
#ifndef BS_NODE_REPAIR_ADMIN_H
#define BS_NODE_REPAIR_ADMIN_H

#include "node/admin/admin.h"
#include "repair/session.h"

/* Registers the routes; r must outlive the admin server.  0 or an error. */
int bs_repair_admin_install(bs_admin *a, bs_repair *r);

/* Parses "a:b" (two signed 64-bit tokens) into start and end.  0 or
 * BS_EINVAL. */
int bs_repair_parse_range(const char *s, int64_t *start, int64_t *end);

#endif
