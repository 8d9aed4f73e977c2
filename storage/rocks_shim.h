/*
 * rocks_shim.h - RocksDB 7.8 features missing from its C API, written in
 * C++ (rocks_shim.cc).  storage/ internal.
 */
#ifndef BS_STORAGE_ROCKS_SHIM_H
#define BS_STORAGE_ROCKS_SHIM_H

#include <stddef.h>

#include <rocksdb/c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Receives RocksDB's WARN (2), ERROR (3) and FATAL (4) log lines; msg is
 * borrowed for the call.  Called on RocksDB's threads. */
typedef void (*bs__rocks_log_cb)(int level, const char *msg);

/* Makes the database opened with options o write its info log to
 * dir/LOG (rotated at 16 MiB into LOG.old) through a writer that ignores
 * its own I/O errors, at RocksDB info log level `level` (0 DEBUG .. 4
 * FATAL), passing WARN and above to cb.  dir is copied. */
void bs__rocks_set_logger(rocksdb_options_t *o, const char *dir, int level,
                          bs__rocks_log_cb cb);

/* DB::Resume(): clears a background error (a failed WAL or flush write)
 * once the cause is gone, so writes go on without a restart.  0, or -1
 * with RocksDB's reason in msg (cap bytes). */
int bs__rocks_resume(rocksdb_t *db, char *msg, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
