/*
 * hints.h - hinted handoff: mutations kept for replicas that were down or
 * did not acknowledge a write in time, persisted in the node's store
 * (table "system.hints", so they survive restarts) and replayed to their
 * target once it is alive again.
 *
 * A hint is opaque bytes to this module (the coordinator stores the
 * complete HINT message payload: the mutations and the coordinator's
 * clock) plus its target host id and creation time.  Delivery goes
 * through a callback the coordinator supplies (repair/ knows nothing of
 * the network).
 *
 * Policy:
 *   - hints are created only while `enabled` (bs_hints_add otherwise
 *     refuses with BS_ENOTSUP);
 *   - a hint older than max_window_ms when it would be delivered is
 *     dropped instead (counted in dropped_expired);
 *   - a replay thread wakes every poll_ms, asks alive() about every
 *     target that has hints: 1 -> replays them oldest first, 0 -> waits,
 *     -1 (the target left the ring) -> drops them all;
 *   - delivery is throttled to throttle_bytes per second (0 = no limit;
 *     with a sender: for all targets together);
 *   - a failed delivery ends the pass for that target (it probably went
 *     down again); the hint stays and is retried on a later pass;
 *   - with a sender (bs_hints_set_sender) the replay thread pipelines: up
 *     to `window` hints (and about window_bytes) in flight per target,
 *     every live target served at once, each hint deleted only after its
 *     own acknowledgement (delivery stays at-least-once), so a pass is
 *     not bound to one hint per round trip.
 *
 * Threads: every function is thread-safe.  Callbacks run on the replay
 * thread (or on the caller's thread for bs_hints_replay_now) and may
 * block (delivery is a synchronous round trip).
 */
#ifndef BS_REPAIR_HINTS_H
#define BS_REPAIR_HINTS_H

#include <stddef.h>
#include <stdint.h>

#include "common/clock.h"
#include "common/uuid.h"
#include "storage/store.h"

typedef struct bs_hints bs_hints;

typedef struct bs_hints_opts {
    int enabled;              /* hinted_handoff_enabled; default 1 */
    uint64_t max_window_ms;   /* max_hint_window; default 3 h */
    uint64_t throttle_bytes;  /* per second; 0 = unthrottled; default 1 MiB */
    uint32_t poll_ms;         /* replay thread period; default 1000 */
    uint32_t page;            /* hints read per store read; default 128 */
    uint32_t window;          /* with a sender: hints in flight per
                                 target; default 64 (1 = one at a time) */
    uint64_t window_bytes;    /* ... and their payload bytes (soft); 1 MiB */
    bs_clock *clock;          /* borrowed; NULL = process clock */
} bs_hints_opts;

void bs_hints_opts_default(bs_hints_opts *o);

/* Delivers one hint to target; blocks until the target acknowledged
 * (return 0) or failed (any negative code). */
typedef int (*bs_hints_deliver_fn)(void *ud, const bs_uuid *target,
                                   const void *payload, size_t len);
/* Asynchronous delivery: sends one hint to target and returns 0, after
 * which done(cookie, status) runs exactly once, on any thread (status 0:
 * acknowledged); or returns an error, and done is never called.  payload
 * is borrowed for the call only. */
typedef void (*bs_hints_done_fn)(void *cookie, int status);
typedef int (*bs_hints_send_fn)(void *ud, const bs_uuid *target,
                                const void *payload, size_t len,
                                bs_hints_done_fn done, void *cookie);
/* 1 alive, 0 down (keep the hints), -1 no longer a member (drop them). */
typedef int (*bs_hints_alive_fn)(void *ud, const bs_uuid *target);

/* Opens (creating) table "system.hints" in `store` (borrowed; must
 * outlive the handle) and counts the hints already there.  opts NULL =
 * defaults.  0, BS_ENOMEM, or a store error. */
int bs_hints_open(bs_store *store, const bs_hints_opts *opts, bs_hints **out);
/* Starts the replay thread with these callbacks (ud is passed to both).
 * 0, BS_EEXIST (already started), BS_ENOMEM. */
int bs_hints_start(bs_hints *h, bs_hints_deliver_fn deliver,
                   bs_hints_alive_fn alive, void *ud);
/* Makes the replay thread deliver through send (same ud as start),
 * pipelined (see Policy).  Before bs_hints_start. */
void bs_hints_set_sender(bs_hints *h, bs_hints_send_fn send);
/* Stops the replay thread (waits for the delivery in progress), frees.
 * The store is left open.  NULL is a no-op. */
void bs_hints_close(bs_hints *h);

/* Stores a hint for target created at created_us (microseconds; 0 = the
 * clock's now).  payload copied.  0, BS_ENOTSUP (hints disabled),
 * BS_EINVAL (empty payload), a store error. */
int bs_hints_add(bs_hints *h, const bs_uuid *target, int64_t created_us,
                 const void *payload, size_t len);

/* Hints waiting for target. */
uint64_t bs_hints_pending(bs_hints *h, const bs_uuid *target);
/* Every target with hints and its count: up to cap entries (either array
 * may be NULL when cap is 0); *n = number of targets (may exceed cap). */
void bs_hints_targets(bs_hints *h, bs_uuid *targets, uint64_t *counts,
                      size_t cap, size_t *n);

/* One replay pass for target on the caller's thread, with `deliver`
 * (as the replay thread would do when alive() says 1).  *delivered (may
 * be NULL) = hints delivered.  0 when every hint was delivered or
 * dropped as expired; the delivery error otherwise. */
int bs_hints_replay_now(bs_hints *h, const bs_uuid *target,
                        bs_hints_deliver_fn deliver, void *ud,
                        uint64_t *delivered);
/* Deletes every hint of target (it left the cluster).  *dropped (may be
 * NULL) = how many. */
int bs_hints_drop(bs_hints *h, const bs_uuid *target, uint64_t *dropped);

typedef struct bs_hints_stats {
    uint64_t written;
    uint64_t replayed;
    uint64_t dropped_expired;
    uint64_t dropped_left;
    uint64_t delivery_failures;
    uint64_t pending;         /* all targets */
} bs_hints_stats;

void bs_hints_get_stats(bs_hints *h, bs_hints_stats *out);

#endif
