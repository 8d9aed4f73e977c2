"""
workloads.py - what the clients do, the final reads after heal, and the
checkers that judge the history.

Every workload has:
  schema()             CQL statements creating its table in keyspace jepsen
  op(w, rng)           the next operation (f, value) of worker state w
  invoke(c, f, value)  runs it through client c: (type, value, error)
                       type is "ok", "fail" (definitely not applied:
                       Unavailable, InvalidRequest) or "info" (unknown:
                       timeouts, lost connections)
  final(reader)        reads after heal (per CL) -> dict saved in the store
  check(history, fin)  -> dict with "valid": True/False and the evidence

Consistency: every write and read during the run is QUORUM, RF=3.  Final
reads are done at ONE through every node (convergence), then QUORUM, then
ALL (both must show every acknowledged write).

Timestamps: the set workload lets the coordinator assign write timestamps
(its clock includes the node's clock_skew_us).  The register and delete
workloads send USING TIMESTAMP so the checker knows every write's
timestamp: register uses "wall clock + the coordinating node's current
clock_skew_us" (what that coordinator would have assigned, so clock skew
still reorders writes exactly as server timestamps would); delete uses the
runner's clock, strictly increasing, so a delete always carries a later
timestamp than the insert it follows - any row that comes back after an
acknowledged delete is then a real resurrection, not LWW doing its job.
"""

import bisect
import itertools
import threading
import time

from cassandra import ConsistencyLevel as CL

KS = "jepsen"
NPART = 16


class Clock(object):
    """Strictly increasing microsecond timestamps (process-wide)."""
    def __init__(self):
        self.lock = threading.Lock()
        self.last = 0

    def now_us(self, skew=0):
        with self.lock:
            t = int(time.time() * 1e6) + skew
            if t <= self.last and skew == 0:
                t = self.last + 1
            if skew == 0:
                self.last = t
            return t


CLOCK = Clock()


def _classify(exc):
    """Maps a driver exception to (type, short error text)."""
    name = type(exc).__name__
    msg = "%s: %s" % (name, str(exc)[:200])
    if name in ("Unavailable", "InvalidRequest", "SyntaxException", "Unauthorized"):
        return "fail", msg
    if name == "NoHostAvailable":
        # nothing was sent when no connection could be used; if a request
        # was written before the connection died the driver reports
        # ConnectionShutdown/OperationTimedOut instead.
        errs = getattr(exc, "errors", {}) or {}
        if all(type(e).__name__ in ("Unavailable", "ConnectionRefusedError",
                                    "OSError", "ConnectionException") for e in errs.values()):
            return "fail", msg
        return "info", msg
    return "info", msg


def _rows_by_partition(session, table, cols, cl, parts=range(NPART), timeout=6.0):
    """Reads every partition of table at cl -> {part: rows} or raises."""
    from cassandra.query import SimpleStatement
    out = {}
    for p in parts:
        st = SimpleStatement("SELECT %s FROM %s.%s WHERE part = %d" % (cols, KS, table, p),
                             consistency_level=cl)
        out[p] = list(session.execute(st, timeout=timeout))
    return out


# ---------------------------------------------------------------------------
# set: unique inserts; every acknowledged insert must survive.
# ---------------------------------------------------------------------------
class SetWorkload(object):
    name = "set"
    table = "sets"

    def __init__(self):
        self.counter = itertools.count()
        self.lock = threading.Lock()

    def schema(self):
        return ["CREATE TABLE IF NOT EXISTS %s.sets (part int, elem int, PRIMARY KEY (part, elem))" % KS]

    def op(self, w, rng):
        with self.lock:
            return "add", next(self.counter)

    def invoke(self, c, f, v):
        try:
            c.execute("INSERT INTO %s.sets (part, elem) VALUES (%d, %d)" % (KS, v % NPART, v), CL.QUORUM)
            return "ok", v, None
        except Exception as e:
            t, m = _classify(e)
            return t, v, m

    def snapshot(self, session, cl, parts=range(NPART)):
        rows = _rows_by_partition(session, "sets", "elem", cl, parts)
        return sorted(r.elem for p in rows for r in rows[p])

    def check(self, history, fin):
        attempted, acked, info, failed = set(), set(), set(), set()
        for op in history:
            if op["f"] != "add":
                continue
            if op["type"] == "invoke":
                attempted.add(op["value"])
            elif op["type"] == "ok":
                acked.add(op["value"])
            elif op["type"] == "info":
                info.add(op["value"])
            elif op["type"] == "fail":
                failed.add(op["value"])
        res = {"attempted": len(attempted), "acknowledged": len(acked),
               "indeterminate": len(info), "failed": len(failed), "valid": True}
        for cl in ("QUORUM", "ALL"):
            snap = fin.get("reads", {}).get(cl)
            if snap is None:
                res["valid"] = False
                res[cl] = {"error": fin.get("errors", {}).get(cl, "final read failed")}
                continue
            got = set(snap)
            lost = sorted(acked - got)
            unexpected = sorted(got - attempted)
            res[cl] = {"read": len(got), "lost_count": len(lost), "lost": lost,
                       "unexpected_count": len(unexpected), "unexpected": unexpected,
                       "recovered_indeterminate": len(got & info),
                       "failed_but_present": len(got & failed)}
            if lost or unexpected:
                res["valid"] = False
        return res


# ---------------------------------------------------------------------------
# register: LWW registers; every read a real, not stale, monotonic version;
# final values right at QUORUM and ALL (see check()).
# ---------------------------------------------------------------------------
class RegisterWorkload(object):
    name = "register"
    table = "registers"
    NKEYS = 8

    def __init__(self, skew_of):
        self.counter = itertools.count(1)
        self.lock = threading.Lock()
        self.skew_of = skew_of   # node index -> current clock_skew_us

    def schema(self):
        return ["CREATE TABLE IF NOT EXISTS %s.registers (part int, k int, v int, PRIMARY KEY (part, k))" % KS]

    def op(self, w, rng):
        k = rng.randrange(self.NKEYS)
        if rng.random() < 0.5:
            with self.lock:
                v = next(self.counter)
            return "write", [k, v, None]
        return "read", [k, None, None]

    def invoke(self, c, f, val):
        k, v, _ = val
        try:
            if f == "write":
                ts = CLOCK.now_us(self.skew_of(c.node)) if self.skew_of(c.node) else CLOCK.now_us()
                val = [k, v, ts]
                c.execute("INSERT INTO %s.registers (part, k, v) VALUES (%d, %d, %d) USING TIMESTAMP %d"
                          % (KS, k % NPART, k, v, ts), CL.QUORUM)
                return "ok", val, None
            rows = list(c.execute("SELECT v, WRITETIME(v) AS wt FROM %s.registers WHERE part = %d AND k = %d"
                                  % (KS, k % NPART, k), CL.QUORUM))
            if rows:
                return "ok", [k, rows[0].v, rows[0].wt], None
            return "ok", [k, None, None], None
        except Exception as e:
            t, m = _classify(e)
            if f == "read":
                t = "fail"   # a read that failed changed nothing
            return t, val, m

    def snapshot(self, session, cl, parts=range(NPART)):
        rows = _rows_by_partition(session, "registers", "k, v, WRITETIME(v) AS wt", cl, parts)
        return sorted([r.k, r.v, r.wt] for p in rows for r in rows[p])

    def check(self, history, fin):
        """The LWW register checker (see the module notes and
        docs/JEPSEN.md).  Order of versions: (timestamp, value), which is
        LWW's order (a timestamp tie goes to the greater value; values
        are positive ints, so their big-endian bytes order like numbers).

        Every ok read r of key k returning version x (None = no row) must
        satisfy, with t_inv / t_ok its invocation and completion times:
          R1 real: x is None or x = (ts, v) of a write of k with value v
             and timestamp ts that was not definitely failed ("fail":
             Unavailable, nothing written) and was invoked before r
             completed (no value from the future, no value never written,
             no value under a timestamp it was not written with);
          R2 not stale: x >= every write of k acknowledged before t_inv
             (QUORUM write and QUORUM read sets share a replica, and LWW
             keeps the highest version);
          R3 monotonic: x >= every read of k that completed before t_inv
             (blocking read repair leaves a quorum holding what a QUORUM
             read returned, so a later QUORUM read cannot go back).
        Anything else is legal: a read concurrent with writes may return
        any of them that is not below those bounds, including a write that
        later fails to be acknowledged (info) and a write whose timestamp
        is below a concurrent one (clock skew).  This is deliberately not
        max-register linearizability: a QUORUM read samples its replicas
        at different instants, so it may return a write w invoked after
        a higher write w' was acknowledged as long as w' was acknowledged
        after the read began; no leaderless LWW store promises more.

        The final reads after heal (QUORUM, then ALL) are checked as reads
        invoked after every operation of the run completed, ALL also after
        the QUORUM read: each key must hold a real version (R1) no lower
        than any acknowledged write or any read of the run (R2, R3)."""
        writes = {}      # (k, ts, v) -> type of the write's completion
        inv_at = {}      # v -> invoke time of the write of v
        ok_writes = {}   # k -> [(complete_time, version)]
        reads = []       # (k, version or None, t_inv, t_ok, process)
        pending = {}
        for op in history:
            if op["process"] == "nemesis":
                continue
            if op["type"] == "invoke":
                pending[op["process"]] = op
                if op["f"] == "write":
                    inv_at[op["value"][1]] = op["time"]
                continue
            inv = pending.pop(op["process"], None)
            if op["f"] == "write":
                k, v, ts = op["value"]
                writes[(k, ts, v)] = op["type"]
                if op["type"] == "ok":
                    ok_writes.setdefault(k, []).append((op["time"], (ts, v)))
            elif op["f"] == "read" and op["type"] == "ok" and inv is not None:
                k, v, wt = op["value"]
                reads.append((k, None if v is None else (wt, v), inv["time"], op["time"],
                              op["process"]))
        for k in ok_writes:
            ok_writes[k].sort()

        def prefix(entries, label):
            """(times, running maximum with its reason) of (time, version)
            entries sorted by time."""
            times, best, cur = [], [], None
            for (tc, x) in entries:
                if x is not None and (cur is None or x > cur[0]):
                    cur = (x, "%s at %d" % (label, tc))
                times.append(tc)
                best.append(cur)
            return times, best

        # reads of each key sorted by completion, for R3
        by_done = {}
        for (k, x, ti, tc, p) in reads:
            by_done.setdefault(k, []).append((tc, x))
        for k in by_done:
            by_done[k].sort(key=lambda e: e[0])
        w_idx = {k: prefix(v, "write acknowledged") for k, v in ok_writes.items()}

        def floor_at(k, t, r_idx):
            """Highest version a read of k invoked at t must reach, and why:
            the best write acknowledged and read completed before t."""
            best = None
            for times, run in (w_idx.get(k, ((), ())), r_idx.get(k, ((), ()))):
                i = bisect.bisect_left(times, t)
                if i and run[i - 1] is not None and (best is None or run[i - 1][0] > best[0]):
                    best = run[i - 1]
            return best if best is not None else (None, None)

        def judge(k, x, t_inv, t_ok, r_idx):
            if x is not None:
                ts, v = x
                typ = writes.get((k, ts, v))
                if typ is None:
                    return {"rule": "R1", "why": "no write of key %d with value %s and timestamp %s"
                            % (k, v, ts)}
                if typ == "fail":
                    return {"rule": "R1", "why": "value of a write that failed (not applied)"}
                if t_ok is not None and inv_at.get(v, t_ok) > t_ok:
                    return {"rule": "R1", "why": "write invoked after the read completed"}
            need, why = floor_at(k, t_inv, r_idx)
            if need is not None and (x is None or x < need):
                return {"rule": "R2" if why.startswith("write") else "R3",
                        "expected_at_least": list(need), "because": why}
            return None

        r_idx = {k: prefix(v, "read completed") for k, v in by_done.items()}
        stale, impossible, nonmono = [], [], []
        for (k, x, ti, tc, p) in reads:
            bad = judge(k, x, ti, tc, r_idx)
            if bad is None:
                continue
            bad.update({"key": k, "read": list(x) if x else None, "read_invoked": ti,
                        "read_completed": tc, "process": p})
            {"R1": impossible, "R2": stale, "R3": nonmono}[bad["rule"]].append(bad)
        res = {"writes": len(writes), "acknowledged_writes": sum(len(v) for v in ok_writes.values()),
               "reads": len(reads),
               "stale_reads": len(stale), "stale": stale[:20],
               "impossible_reads": len(impossible), "impossible": impossible[:20],
               "nonmonotonic_reads": len(nonmono), "nonmonotonic": nonmono[:20],
               "valid": not (stale or impossible or nonmono)}
        end = max([op["time"] for op in history] + [0]) + 1
        done = {k: list(v) for k, v in by_done.items()}
        res["final_wrong"] = []
        for cl in ("QUORUM", "ALL"):
            snap = fin.get("reads", {}).get(cl)
            if snap is None:
                res["valid"] = False
                res[cl] = {"error": fin.get("errors", {}).get(cl, "final read failed")}
                continue
            final = {k: (wt, v) for k, v, wt in snap}
            bad = []
            d_idx = {kk: prefix(v, "read completed") for kk, v in done.items()}
            for k in sorted(set(range(self.NKEYS)) | set(final)):
                x = final.get(k)
                b = judge(k, x, end, None, d_idx)
                if b is not None:
                    b.update({"key": k, "final": list(x) if x else None, "cl": cl})
                    bad.append(b)
            for k, x in final.items():
                done.setdefault(k, []).append((end, x))
            end += 1
            res[cl] = {"keys": len(final), "wrong": len(bad)}
            res["final_wrong"] += bad
            if bad:
                res["valid"] = False
        return res


# ---------------------------------------------------------------------------
# cas-register: compare-and-set registers through lightweight transactions;
# every key's history must be linearizable (linear.py).
# ---------------------------------------------------------------------------
class CasRegisterWorkload(object):
    """Per key (one row of jepsen.cas; key k in partition k % 16, so the
    keys in use at once sit in different Paxos partitions): reads at
    SERIAL; writes as `UPDATE .. IF EXISTS` or `INSERT .. IF NOT EXISTS`;
    compare-and-set as `UPDATE .. SET v = new WHERE .. IF v = old`; all
    conditional writes at serial consistency SERIAL, commit at QUORUM.
    Values are 0..4 (a small domain, as in Jepsen's cas-register, keeps
    the search small).  Keys are independent registers: `SLOTS` keys are
    in use at a time and every `PERIOD` seconds the workers move on to
    fresh keys, so each key's history stays short (an indeterminate
    operation stays concurrent with everything after it on its key) --
    Jepsen's independent keys.

    History values: [key, arg, result].  A conditional write the server
    did not apply is type "fail" with "applied": False and result = the
    current value it returned ("?" if it returned none); any other fail
    (Unavailable, refused) did not happen; timeouts are "info".
    After heal the runner reads every key at SERIAL (process "final"),
    and those reads are checked as the last operations of each key."""
    name = "cas-register"
    table = "cas"
    SLOTS = 3
    PERIOD = 10.0
    DOMAIN = 5

    def __init__(self):
        self.t0 = None
        self.lock = threading.Lock()
        self.max_key = -1

    def schema(self):
        return ["CREATE TABLE IF NOT EXISTS %s.cas (part int, k int, v int, PRIMARY KEY (part, k))" % KS]

    def op(self, w, rng):
        now = time.monotonic()
        with self.lock:
            if self.t0 is None:
                self.t0 = now
            k = int((now - self.t0) / self.PERIOD) * self.SLOTS + rng.randrange(self.SLOTS)
            self.max_key = max(self.max_key, k)
        r = rng.random()
        if r < 0.4:
            return "read", [k, None, None]
        if r < 0.6:
            return rng.choice(["insert", "update"]), [k, rng.randrange(self.DOMAIN), None]
        return "cas", [k, [rng.randrange(self.DOMAIN), rng.randrange(self.DOMAIN)], None]

    def invoke(self, c, f, val):
        """-> (type, value, error); a not-applied write returns type
        "fail" and error None (the runner records "applied": False)."""
        k, arg, _ = val
        where = "WHERE part = %d AND k = %d" % (k % NPART, k)
        try:
            if f == "read":
                rows = list(c.execute("SELECT v FROM %s.cas %s" % (KS, where), CL.SERIAL))
                return "ok", [k, None, rows[0].v if rows else None], None
            if f == "insert":
                cql = ("INSERT INTO %s.cas (part, k, v) VALUES (%d, %d, %d) IF NOT EXISTS"
                       % (KS, k % NPART, k, arg))
            elif f == "update":
                cql = "UPDATE %s.cas SET v = %d %s IF EXISTS" % (KS, arg, where)
            else:
                cql = "UPDATE %s.cas SET v = %d %s IF v = %d" % (KS, arg[1], where, arg[0])
            rs = c.execute(cql, CL.QUORUM, serial=CL.SERIAL)
            if rs.was_applied:
                return "ok", [k, arg, None], None
            return "fail", [k, arg, self._current(f, rs)], None
        except Exception as e:
            t, m = _classify(e)
            if f == "read":
                t = "fail"   # a read that failed changed nothing
            return t, [k, arg, None], m

    @staticmethod
    def _current(f, rs):
        """The current value a not-applied conditional write returned:
        UPDATE .. IF EXISTS fails only on a missing row (None); otherwise
        the row's v if the server sent the column, else unknown."""
        if f == "update":
            return None
        rows = list(rs.current_rows) if hasattr(rs, "current_rows") else []
        if rows and "v" in rows[0]._fields:
            return rows[0].v
        return "?"

    def final_ops(self):
        """Reads the runner makes after heal, recorded in the history."""
        return [("read", [k, None, None]) for k in range(self.max_key + 1)]

    def snapshot(self, session, cl, parts=range(NPART)):
        rows = _rows_by_partition(session, "cas", "k, v", cl, parts)
        return sorted([r.k, r.v] for p in rows for r in rows[p])

    def check(self, history, fin):
        import linear
        counts = {}
        for op in history:
            if op["process"] != "nemesis" and op["type"] != "invoke":
                key = "%s:%s" % (op["f"], "not-applied" if op.get("applied") is False else op["type"])
                counts[key] = counts.get(key, 0) + 1
        by_key = linear.ops_from_history(history)
        res = {"keys": len(by_key), "ops": counts, "nonlinearizable": [], "undecided": [],
               "linearizable_keys": 0, "valid": True}
        for k in sorted(by_key):
            r = linear.check(by_key[k])
            if r["valid"]:
                res["linearizable_keys"] += 1
                continue
            r["key"] = k
            r["explanation"] = linear.explain(r)
            res["undecided" if r["valid"] is None else "nonlinearizable"].append(r)
        acked = sum(v for kk, v in counts.items() if kk.endswith(":ok"))
        if acked == 0:
            res["error"] = "no operation was acknowledged"
        # after heal and the SERIAL reads nothing is in flight: QUORUM and
        # ALL must agree with the last SERIAL read of every key
        last = {}
        for op in history:
            if op["process"] == "final" and op["type"] == "ok":
                last[op["value"][0]] = op["value"][2]
        res["final_serial_reads"] = len(last)
        res["final_mismatch"] = []
        for cl in ("QUORUM", "ALL"):
            snap = fin.get("reads", {}).get(cl)
            if snap is None:
                res[cl] = {"error": fin.get("errors", {}).get(cl, "final read failed")}
                res["valid"] = False
                continue
            got = {k: v for k, v in snap}
            bad = [{"key": k, "serial": v, cl: got.get(k)} for k, v in sorted(last.items())
                   if got.get(k) != v]
            res[cl] = {"keys": len(got), "differ_from_serial": len(bad)}
            res["final_mismatch"] += bad[:20]
        res["final_serial_missing"] = sorted(set(by_key) - set(last))
        if (res["nonlinearizable"] or res["undecided"] or res["final_mismatch"] or
                "error" in res or res["final_serial_missing"]):
            res["valid"] = False
        return res


# ---------------------------------------------------------------------------
# delete: insert then delete unique rows; deleted rows never come back.
# ---------------------------------------------------------------------------
class DeleteWorkload(object):
    name = "delete"
    table = "dels"

    def __init__(self):
        self.counter = itertools.count()
        self.lock = threading.Lock()

    def schema(self):
        return ["CREATE TABLE IF NOT EXISTS %s.dels (part int, k int, v int, PRIMARY KEY (part, k))" % KS]

    def op(self, w, rng):
        live = w.setdefault("live", [])
        dead = w.setdefault("dead", [])
        r = rng.random()
        if live and r < 0.4:
            return "delete", live.pop(rng.randrange(len(live)))
        if dead and r < 0.6:
            return "read", dead[rng.randrange(len(dead))]
        with self.lock:
            return "insert", next(self.counter)

    def after(self, w, f, v, t):
        if f == "insert" and t == "ok":
            w.setdefault("live", []).append(v)
        elif f == "delete" and t == "ok":
            w.setdefault("dead", []).append(v)

    def invoke(self, c, f, k):
        try:
            ts = CLOCK.now_us()
            if f == "insert":
                c.execute("INSERT INTO %s.dels (part, k, v) VALUES (%d, %d, 1) USING TIMESTAMP %d"
                          % (KS, k % NPART, k, ts), CL.QUORUM)
                return "ok", k, None
            if f == "delete":
                c.execute("DELETE FROM %s.dels USING TIMESTAMP %d WHERE part = %d AND k = %d"
                          % (KS, ts, k % NPART, k), CL.QUORUM)
                return "ok", k, None
            rows = list(c.execute("SELECT k FROM %s.dels WHERE part = %d AND k = %d"
                                  % (KS, k % NPART, k), CL.QUORUM))
            return "ok", [k, bool(rows)], None
        except Exception as e:
            t, m = _classify(e)
            if f == "read":
                t = "fail"
            return t, (k if f != "read" else [k, None]), m

    def snapshot(self, session, cl, parts=range(NPART)):
        rows = _rows_by_partition(session, "dels", "k", cl, parts)
        return sorted(r.k for p in rows for r in rows[p])

    def check(self, history, fin):
        inserted_ok, delete_invoked = set(), set()
        seen_after_delete = []
        pending = {}
        del_done = {}
        for op in history:
            if op["type"] == "invoke":
                pending[op["process"]] = op
                if op["f"] == "delete":
                    delete_invoked.add(op["value"])
                continue
            inv = pending.pop(op["process"], None)
            if op["type"] != "ok":
                continue
            if op["f"] == "insert":
                inserted_ok.add(op["value"])
            elif op["f"] == "delete":
                del_done[op["value"]] = op["time"]
            elif op["f"] == "read" and inv is not None:
                k, present = op["value"]
                if present and k in del_done and del_done[k] < inv["time"]:
                    seen_after_delete.append({"key": k, "read_invoked": inv["time"],
                                              "delete_acknowledged": del_done[k]})
        res = {"inserted": len(inserted_ok), "deleted": len(del_done),
               "resurrected_during_run": seen_after_delete[:20],
               "valid": not seen_after_delete}
        for cl in ("QUORUM", "ALL"):
            snap = fin.get("reads", {}).get(cl)
            if snap is None:
                res["valid"] = False
                res[cl] = {"error": fin.get("errors", {}).get(cl, "final read failed")}
                continue
            got = set(snap)
            resurrected = sorted(got & set(del_done))
            lost = sorted(inserted_ok - delete_invoked - got)
            res[cl] = {"read": len(got), "resurrected": resurrected, "lost": lost}
            if resurrected or lost:
                res["valid"] = False
        return res


# ---------------------------------------------------------------------------
# counter: increments of counter columns; reads and final values bounded by
# the acknowledged and the possibly-applied increments.
# ---------------------------------------------------------------------------
class CounterWorkload(object):
    """Positive increments (1..5) of NKEYS counters at QUORUM, and QUORUM
    reads.  An increment that timed out ("info") may or may not have been
    applied (Basalt and the driver never retry it); one that failed
    (Unavailable) was not.  With positive deltas, for every ok read of key
    k invoked at t_inv and completed at t_ok:
      C1 lower bound: value >= the sum of the increments of k acknowledged
         before t_inv (QUORUM increment and QUORUM read share a replica,
         which holds the leader's new shard; shards merge by highest
         clock), and >= every read of k completed before t_inv (blocking
         read repair leaves a quorum at least that high);
      C2 upper bound: value <= the sum of the increments of k invoked
         before t_ok that did not fail.
    Final values (QUORUM, then ALL, after heal) lie within [all
    acknowledged, all acknowledged + all indeterminate]."""
    name = "counter"
    table = "counters"
    NKEYS = 8

    def schema(self):
        return ["CREATE TABLE IF NOT EXISTS %s.counters (part int, k int, n counter, "
                "PRIMARY KEY (part, k))" % KS]

    def op(self, w, rng):
        k = rng.randrange(self.NKEYS)
        if rng.random() < 0.7:
            return "add", [k, rng.randint(1, 5)]
        return "read", [k, None]

    def invoke(self, c, f, val):
        k, d = val
        try:
            if f == "add":
                c.execute("UPDATE %s.counters SET n = n + %d WHERE part = %d AND k = %d"
                          % (KS, d, k % NPART, k), CL.QUORUM)
                return "ok", val, None
            rows = list(c.execute("SELECT n FROM %s.counters WHERE part = %d AND k = %d"
                                  % (KS, k % NPART, k), CL.QUORUM))
            return "ok", [k, rows[0].n if rows else 0], None
        except Exception as e:
            t, m = _classify(e)
            if f == "read":
                t = "fail"
            return t, val, m

    def snapshot(self, session, cl, parts=range(NPART)):
        rows = _rows_by_partition(session, "counters", "k, n", cl, parts)
        return sorted([r.k, r.n] for p in rows for r in rows[p])

    def check(self, history, fin):
        adds = []        # (k, delta, t_inv, t_done, type)
        reads = []       # (k, value, t_inv, t_ok)
        pending = {}
        for op in history:
            if op["process"] == "nemesis":
                continue
            if op["type"] == "invoke":
                pending[op["process"]] = op
                continue
            inv = pending.pop(op["process"], None)
            if inv is None:
                continue
            if op["f"] == "add":
                adds.append((op["value"][0], op["value"][1], inv["time"], op["time"], op["type"]))
            elif op["f"] == "read" and op["type"] == "ok":
                reads.append((op["value"][0], op["value"][1], inv["time"], op["time"]))
        for p, inv in pending.items():  # never completed: indeterminate
            if inv["f"] == "add":
                adds.append((inv["value"][0], inv["value"][1], inv["time"], None, "info"))
        bad = []
        for (k, v, ti, tc) in reads:
            lo = sum(d for (kk, d, _, td, typ) in adds
                     if kk == k and typ == "ok" and td is not None and td < ti)
            why = "increments acknowledged before the read"
            prior = [x for (kk, x, _, t2) in reads if kk == k and t2 < ti]
            if prior and max(prior) > lo:
                lo, why = max(prior), "a read that completed before this one"
            hi = sum(d for (kk, d, ta, _, typ) in adds if kk == k and typ != "fail" and ta < tc)
            if v < lo or v > hi:
                bad.append({"key": k, "read": v, "at_least": lo, "because": why, "at_most": hi,
                            "read_invoked": ti, "read_completed": tc})
        acked, maybe = {}, {}
        for (k, d, _, _, typ) in adds:
            if typ == "ok":
                acked[k] = acked.get(k, 0) + d
            elif typ == "info":
                maybe[k] = maybe.get(k, 0) + d
        res = {"increments": len(adds), "acknowledged": sum(1 for a in adds if a[4] == "ok"),
               "indeterminate": sum(1 for a in adds if a[4] == "info"), "reads": len(reads),
               "bad_reads": len(bad), "bad": bad[:20], "valid": not bad, "final_wrong": []}
        for cl in ("QUORUM", "ALL"):
            snap = fin.get("reads", {}).get(cl)
            if snap is None:
                res["valid"] = False
                res[cl] = {"error": fin.get("errors", {}).get(cl, "final read failed")}
                continue
            final = {k: n for k, n in snap}
            wrong = []
            for k in sorted(set(acked) | set(maybe) | set(final)):
                got, lo = final.get(k, 0), acked.get(k, 0)
                hi = lo + maybe.get(k, 0)
                if not lo <= got <= hi:
                    wrong.append({"key": k, "final": got, "acknowledged": lo, "at_most": hi,
                                  "cl": cl})
            res[cl] = {"keys": len(final), "wrong": len(wrong),
                       "sum": sum(final.values()), "acknowledged_sum": sum(acked.values()),
                       "indeterminate_sum": sum(maybe.values())}
            res["final_wrong"] += wrong
            if wrong:
                res["valid"] = False
        return res


# ---------------------------------------------------------------------------
# ingest: InfluxDB line protocol through the time-series HTTP endpoint;
# every acknowledged point must be returned by the final queries.
# ---------------------------------------------------------------------------
class IngestWorkload(object):
    """Batches of 1..20 points, measurement `jep`, POSTed with
    consistency=quorum to a random node's /write (port 8086,
    docs/TIMESERIES.md); database `jepsen` (the keyspace the runner
    repairs), created with CREATE DATABASE ... WITH REPLICATION rf.

    Point id i (unique, from 1) is the line
        jep,c=<worker>,s=<0..3> v=<i>i,b=<batch's first id>i <T0 + i*1000>
    so it is identified by its series and timestamp, and its field values
    are known.  Answers (node/ts/ts_write.c, node/coord/coord_write.c):
      204                     ok: every point of the batch acknowledged
      503 / 429 (Unavailable, overloaded: refused before anything is
      sent), 404, a 400 that is not a partial write, connection refused
                              fail: nothing written
      500 (timeout, write failure), a 400 "partial write", any other
      answer, client timeout or a connection lost after sending
                              info: each point may or may not be stored
    A setup point (id 0, c=setup) written through node 1 before the run
    creates the table and both columns, so no schema change happens under
    faults (docs/TIMESERIES.md: concurrent schema changes of a new
    measurement can lose one version).

    Final reads, after heal and repair: the table read through CQL at
    QUORUM and ALL (`_series`, `time`, v, b), and `SELECT * FROM jep`
    through the InfluxDB endpoint of every node (InfluxQL reads at ONE).
    Every view must hold every acknowledged point with its exact series,
    time and fields (`lost`, `wrong`), no point that was never attempted
    (`unexpected`), no id twice (`duplicates`), and no point of a batch
    refused outright (`failed_but_present`); indeterminate points may be
    present or absent (`indeterminate_present` / `_absent`)."""
    name = "ingest"
    table = "jep"
    per_partition = False   # no (part int) partitions: converge per node
    DB = KS
    NSERIES = 4
    MAXBATCH = 20
    PORT = 8086

    def __init__(self, ip_of=None, nodes=5, timeout=5.0, rf=3):
        self.counter = itertools.count(1)
        self.lock = threading.Lock()
        self.ip_of = ip_of
        self.nodes = nodes
        self.timeout = timeout
        self.rf = rf
        self.t0 = (int(time.time()) - 3600) * 1000000000   # ns; ids 1 us apart

    def schema(self):
        return []

    # ---- HTTP ----
    def _http(self, node, method, path, body=None, timeout=None):
        """-> (status, body text); raises OSError (incl. timeouts)."""
        import http.client
        conn = http.client.HTTPConnection(self.ip_of(node), self.PORT,
                                          timeout=timeout or self.timeout)
        try:
            hdr = {"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else {}
            conn.request(method, path, body=body, headers=hdr)
            r = conn.getresponse()
            return r.status, r.read().decode(errors="replace")
        finally:
            conn.close()

    def query(self, node, q, timeout=30.0, method="GET"):
        """InfluxQL through node -> parsed JSON; raises on any error."""
        import json
        from urllib.parse import urlencode
        args = urlencode({"db": self.DB, "q": q, "epoch": "ns"})
        if method == "POST":
            st, txt = self._http(node, "POST", "/query", body=args, timeout=timeout)
        else:
            st, txt = self._http(node, "GET", "/query?" + args, timeout=timeout)
        if st != 200:
            raise RuntimeError("HTTP %d: %s" % (st, txt[:300]))
        d = json.loads(txt)
        for r in d.get("results", []):
            if "error" in r:
                raise RuntimeError("query error: %s" % r["error"])
        return d

    def line(self, pid, series, ts, batch):
        return "jep,%s v=%di,b=%di %d" % (series, pid, batch, ts)

    def setup(self, run):
        """CREATE DATABASE and the setup point through node 1 (retried)."""
        deadline = time.time() + 30
        while True:
            try:
                self.query(1, "CREATE DATABASE %s WITH REPLICATION %d" % (self.DB, self.rf),
                           method="POST")
                st, txt = self._http(1, "POST", "/write?db=%s&consistency=all" % self.DB,
                                     body=self.line(0, "c=setup,s=0", self.t0, 0), timeout=10)
                if st != 204:
                    raise RuntimeError("setup write: HTTP %d %s" % (st, txt[:200]))
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        run.record({"process": "setup", "type": "invoke", "f": "write",
                    "value": {"node": 1, "points": [[0, "c=setup,s=0", self.t0]]}, "node": 1})
        run.record({"process": "setup", "type": "ok", "f": "write",
                    "value": {"node": 1, "points": [[0, "c=setup,s=0", self.t0]]}, "node": 1})

    # ---- operations ----
    def op(self, w, rng):
        n = rng.randint(1, self.MAXBATCH)
        with self.lock:
            ids = [next(self.counter) for _ in range(n)]
        worker = w.get("worker", 0)
        pts = [[i, "c=%d,s=%d" % (worker, rng.randrange(self.NSERIES)), self.t0 + i * 1000]
               for i in ids]
        return "write", {"node": rng.randint(1, self.nodes), "points": pts}

    @staticmethod
    def classify(status, text):
        """(type, error) of a /write answer."""
        if status == 204:
            return "ok", None
        err = "HTTP %d: %s" % (status, text[:200])
        if status in (503, 429, 404):
            return "fail", err
        if status == 400 and "partial write" not in text:
            return "fail", err
        return "info", err

    def invoke(self, c, f, val):
        pts = val["points"]
        body = "\n".join(self.line(i, s, t, pts[0][0]) for i, s, t in pts) + "\n"
        try:
            st, txt = self._http(val["node"], "POST",
                                 "/write?db=%s&consistency=quorum" % self.DB, body=body.encode())
        except ConnectionRefusedError as e:
            return "fail", val, "ConnectionRefusedError: %s" % e   # nothing sent
        except Exception as e:
            return "info", val, "%s: %s" % (type(e).__name__, str(e)[:200])
        t, err = self.classify(st, txt)
        return t, val, err

    # ---- final reads ----
    def snapshot(self, session, cl, parts=None):
        """The whole table through CQL at cl -> sorted [series, time, v, b]
        (series without the measurement: "c=..,s=..")."""
        from cassandra.query import SimpleStatement
        st = SimpleStatement('SELECT "_series", "time", v, b FROM %s.%s' % (self.DB, self.table),
                             consistency_level=cl, fetch_size=5000)
        rows = session.execute(st, timeout=30)
        return sorted([r[0].split(",", 1)[1], r[1], r[2], r[3]] for r in rows)

    def final_http(self, nodes):
        """SELECT * FROM jep through every node -> ({node: rows}, {node: error})."""
        out, errs = {}, {}
        for i in nodes:
            for attempt in range(3):
                try:
                    d = self.query(i, "SELECT * FROM jep", timeout=60)
                    rows = []
                    for r in d["results"]:
                        for se in r.get("series", []):
                            cols = se["columns"]
                            for v in se["values"]:
                                x = dict(zip(cols, v))
                                rows.append(["c=%s,s=%s" % (x.get("c"), x.get("s")), x["time"],
                                             x.get("v"), x.get("b")])
                    out[str(i)] = sorted(rows)
                    errs.pop(str(i), None)
                    break
                except Exception as e:
                    errs[str(i)] = "%s: %s" % (type(e).__name__, str(e)[:300])
                    time.sleep(1)
        return out, errs

    def check(self, history, fin):
        attempted = {}          # id -> (series, time, batch)
        status = {}             # id -> ok / info / fail
        pending = {}
        for op in history:
            if op["process"] == "nemesis" or op["f"] != "write":
                continue
            if op["type"] == "invoke":
                pending[op["process"]] = op
                pts = op["value"]["points"]
                for i, s, t in pts:
                    attempted[i] = (s, t, pts[0][0])
                continue
            pending.pop(op["process"], None)
            for i, s, t in op["value"]["points"]:
                status[i] = op["type"]
        for p, inv in pending.items():   # never completed: indeterminate
            for i, s, t in inv["value"]["points"]:
                status.setdefault(i, "info")
        acked = {i for i, t in status.items() if t == "ok"}
        info = {i for i, t in status.items() if t == "info"}
        failed = {i for i, t in status.items() if t == "fail"}
        res = {"points": {"attempted": len(attempted), "acknowledged": len(acked),
                          "indeterminate": len(info), "failed": len(failed)},
               "batches": {t: sum(1 for op in history if op["process"] != "nemesis"
                                  and op["f"] == "write" and op["type"] == t)
                           for t in ("ok", "info", "fail")},
               "valid": True}
        if not acked:
            res["valid"] = False
            res["error"] = "no point was acknowledged"
        views = [(cl, fin.get("reads", {}).get(cl), fin.get("errors", {}).get(cl))
                 for cl in ("QUORUM", "ALL")]
        http = fin.get("http", {})
        for node in sorted(set(http) | set(fin.get("http_errors", {})), key=str):
            views.append(("HTTP@n%s" % node, http.get(node), fin.get("http_errors", {}).get(node)))
        if not any(v[0].startswith("HTTP") for v in views):
            views.append(("HTTP", None, "no query through the InfluxDB endpoint"))
        for name, rows, err in views:
            if rows is None:
                res["valid"] = False
                res[name] = {"error": err or "final read failed"}
                continue
            seen, dup, wrong, unexpected = {}, [], [], []
            for series, t, v, b in rows:
                if not isinstance(v, int) or v not in attempted:
                    unexpected.append([series, t, v, b])
                    continue
                if v in seen:
                    dup.append(v)
                seen[v] = True
                s0, t0, b0 = attempted[v]
                if (series, t, b) != (s0, t0, b0):
                    wrong.append({"id": v, "got": [series, t, v, b], "want": [s0, t0, v, b0]})
            got = set(seen)
            lost = sorted(acked - got)
            fbp = sorted(got & failed)
            res[name] = {"read": len(rows), "lost_count": len(lost), "lost": lost,
                         "unexpected_count": len(unexpected), "unexpected": unexpected[:50],
                         "duplicates": len(dup), "wrong_count": len(wrong), "wrong": wrong[:20],
                         "indeterminate_present": len(got & info),
                         "indeterminate_absent": len(info - got),
                         "failed_but_present": len(fbp)}
            if lost or unexpected or dup or wrong or fbp:
                res["valid"] = False
        return res


WORKLOADS = {"set": SetWorkload, "register": RegisterWorkload, "delete": DeleteWorkload,
             "counter": CounterWorkload, "ingest": IngestWorkload}
