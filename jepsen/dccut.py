"""
dccut.py - the dc-cutoff scenario: a two-DC cluster on the emulated WAN
(wan.py), dc2 cut off from dc1 (and from the clients, which sit in dc1)
for --cut seconds while clients in dc1 keep writing and reading.

    jepsen/run dc-cutoff --dcs 3,3 --cut 60 --seed 7

Keyspace jepsen, NetworkTopologyStrategy {dc1: n1, dc2: n2} with n1, n2 the
DC sizes (1..3 each): every node holds every row, so per-node checksums of
the table must be equal once the DCs have converged.  Table
jepsen.dccut (k bigint PRIMARY KEY, w int, v int): every write inserts a
key nobody wrote before.

Clients (threads in the host namespace, which is on dc1's segment; each
bound to one dc1 node, like a DC-aware driver with no remote hosts):
  local workers  LOCAL_QUORUM insert of a new key, then a LOCAL_QUORUM
                 read of a key this worker had acknowledged (must be there)
  each worker    EACH_QUORUM insert of a new key (own key range)

Timeline: --pre s of load; cut dc2 (nft drop at the router, both ways);
--cut s; heal; --post s of load; stop.  Then: wait until every node sees
every node Up, wait until no hints are pending (GET /hints on every node; at most
--hint-timeout s), `basalt-admin repair jepsen` on every node in turn
(--repair-nodes one: node 1 only), then per-node checksums
(GET /checksum?keyspace=jepsen&table=dccut, what `basalt-admin checksum`
prints) retried until equal or --converge-timeout, and a LOCAL_QUORUM
read of the whole table through one node of each DC.

Verdict (results.json, "valid"):
  - every LOCAL_QUORUM operation of the run succeeded (cut or not), and
    every LOCAL_QUORUM read found its key;
  - no EACH_QUORUM write invoked after the cut and completed before the
    heal was acknowledged, at least one failed during the cut, and every
    one that failed then failed with Unavailable or a timeout;
  - after the heal: the repairs succeeded, the per-node checksums are all
    equal, and every acknowledged write (LOCAL_QUORUM or EACH_QUORUM) is
    in the final read of each DC (lost = []).

Store: jepsen/store/dc-cutoff/<UTC time>-s<seed>/ with history.jsonl,
final.json, results.json, summary.txt, n<i>/basaltd.log and wanproxy.log.
Exit status: 0 valid, 1 invalid, 2 the run itself failed.
"""

import argparse
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import db as dbmod        # noqa: E402
import net as netmod      # noqa: E402
import wan                # noqa: E402
from runner import Client, _default_basaltd   # noqa: E402
from workloads import _classify               # noqa: E402

KS, TABLE = "jepsen", "dccut"
EACH_BASE = 1 << 40      # the EACH_QUORUM worker's keys start here


def _default_admin():
    for b in ("build", "build-jepsen", "build-lead"):
        p = os.path.join(ROOT, b, "client", "basalt-admin")
        if os.path.exists(p):
            return p
    return os.path.join(ROOT, "build", "client", "basalt-admin")


class DcCut(object):
    def __init__(self, a):
        self.a = a
        self.hist = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.clients = []
        self.t0 = time.monotonic_ns()
        self.acked = {"LOCAL_QUORUM": set(), "EACH_QUORUM": set()}

    def now(self):
        return time.monotonic_ns() - self.t0

    def record(self, op):
        op = dict(op)
        op["time"] = self.now()
        with self.lock:
            self.hist.append(op)
        return op

    # the workload ------------------------------------------------------------
    def _op(self, proc, client, f, cl_name, key, cql, check=None):
        from cassandra import ConsistencyLevel as CL
        self.record({"process": proc, "type": "invoke", "f": f, "cl": cl_name, "value": key,
                     "node": client.node})
        try:
            rows = client.execute(cql, getattr(CL, cl_name))
            t, err = "ok", None
            if check is not None and not check(rows):
                t, err = "fail", "key %d not found" % key
        except Exception as e:
            t, err = _classify(e)
            client.close()
        op = {"process": proc, "type": t, "f": f, "cl": cl_name, "value": key,
              "node": client.node}
        if err:
            op["error"] = err
        self.record(op)
        return t

    def local_worker(self, w, client, rng):
        proc, seq, mine = w, 0, []
        try:
            while not self.stop_ev.is_set():
                seq += 1
                key = w * (1 << 32) + seq
                t = self._op(proc, client, "write", "LOCAL_QUORUM", key,
                             "INSERT INTO %s.%s (k, w, v) VALUES (%d, %d, %d)"
                             % (KS, TABLE, key, w, seq))
                if t == "ok":
                    mine.append(key)
                    with self.lock:
                        self.acked["LOCAL_QUORUM"].add(key)
                elif t == "info":
                    proc += 100
                if mine:
                    k = rng.choice(mine)
                    t = self._op(proc, client, "read", "LOCAL_QUORUM", k,
                                 "SELECT k FROM %s.%s WHERE k = %d" % (KS, TABLE, k),
                                 check=lambda rows, k=k: any(r.k == k for r in rows))
                    if t == "info":
                        proc += 100
                self.stop_ev.wait(self.a.delay_between)
        except Exception as e:
            self.record({"process": proc, "type": "info", "f": "worker-crash",
                         "value": "%s: %s" % (type(e).__name__, e)})

    def each_worker(self, w, client):
        proc, seq = w, 0
        try:
            while not self.stop_ev.is_set():
                seq += 1
                key = EACH_BASE + w * (1 << 32) + seq
                t = self._op(proc, client, "write", "EACH_QUORUM", key,
                             "INSERT INTO %s.%s (k, w, v) VALUES (%d, %d, %d)"
                             % (KS, TABLE, key, w, seq))
                if t == "ok":
                    with self.lock:
                        self.acked["EACH_QUORUM"].add(key)
                else:
                    if t == "info":
                        proc += 100
                    self.stop_ev.wait(0.2)
                self.stop_ev.wait(self.a.delay_between)
        except Exception as e:
            self.record({"process": proc, "type": "info", "f": "worker-crash",
                         "value": "%s: %s" % (type(e).__name__, e)})

    # set-up --------------------------------------------------------------------
    def schema(self):
        from cassandra import ConsistencyLevel as CL
        rf = ", ".join("'dc%d': %d" % (d, n) for d, n in enumerate(self.a.dcs, 1))
        stmts = ["CREATE KEYSPACE IF NOT EXISTS %s WITH replication = {'class': "
                 "'NetworkTopologyStrategy', %s}" % (KS, rf),
                 "CREATE TABLE IF NOT EXISTS %s.%s (k bigint PRIMARY KEY, w int, v int)"
                 % (KS, TABLE)]
        c = self.readers[1]
        for s in stmts:
            deadline = time.time() + 60
            while True:
                try:
                    c.execute(s, CL.ONE, timeout=20)
                    break
                except Exception:
                    c.close()
                    if time.time() > deadline:
                        raise
                    time.sleep(1)
        deadline = time.time() + 60
        for i, r in sorted(self.readers.items()):
            while True:
                try:
                    r.execute("SELECT k FROM %s.%s LIMIT 1" % (KS, TABLE), CL.LOCAL_ONE)
                    break
                except Exception:
                    r.close()
                    if time.time() > deadline:
                        raise RuntimeError("node %d never saw table %s" % (i, TABLE))
                    time.sleep(0.5)

    # after the heal ------------------------------------------------------------
    def wait_hints(self, fin):
        """Waits up to --hint-timeout for every node's pending hints to
        reach 0; repair follows either way (the pending count is kept)."""
        t = time.time()
        first = hints = self.db.pending_hints()
        while hints and time.time() - t < self.a.hint_timeout:
            time.sleep(1)
            hints = self.db.pending_hints()
        fin["hints"] = {"pending_at_heal_end": first, "pending_after_wait": hints,
                        "waited_s": round(time.time() - t, 1)}
        print("dc-cutoff: hints pending %s -> %s after %.1f s"
              % (first, hints, time.time() - t), flush=True)

    def repair(self, fin):
        out = {}
        t = time.time()
        nodes = sorted(self.db.nodes.items())
        if self.a.repair_nodes == "one":
            nodes = nodes[:1]
        for i, n in nodes:
            argv = [self.a.basalt_admin, "-h", n.ip, "-t", "120",
                    "--token-file", os.path.join(n.data, "admin_token"), "repair", KS]
            # a repair whose range failed (exit 1) is run again once, as an
            # operator would; both attempts are kept
            for attempt in (1, 2):
                try:
                    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, timeout=300)
                    res = {"rc": r.returncode, "output": r.stdout[-600:]}
                except subprocess.TimeoutExpired:
                    res = {"rc": None, "output": "basalt-admin repair timed out"}
                if attempt == 2:
                    res["first_attempt"] = out[str(i)]
                out[str(i)] = res
                if res["rc"] == 0:
                    break
        fin["repair"] = {"nodes": out, "seconds": round(time.time() - t, 1)}
        print("dc-cutoff: basalt-admin repair %s on node(s) %s: exit %s in %.1f s"
              % (KS, ",".join(out), ",".join(str(v["rc"]) for v in out.values()),
                 time.time() - t), flush=True)
        self.record({"process": "nemesis", "type": "info", "f": "repair",
                     "value": {k: v["rc"] for k, v in out.items()}})

    def checksums(self):
        """{node address: checksum or error} from GET /checksum on node 1."""
        doc = self.db.nodes[1].admin("/checksum?keyspace=%s&table=%s" % (KS, TABLE),
                                     timeout=120)
        out = {}
        for t in doc.get("tables", []):
            for nd in t.get("nodes", []):
                out[nd.get("address")] = nd.get("checksum") or ("error: %s" % nd.get("error"))
        return out

    def converge(self, fin):
        deadline = time.time() + self.a.converge_timeout
        attempts = 0
        while True:
            attempts += 1
            try:
                sums = self.checksums()
                err = None
            except Exception as e:
                sums, err = {}, "%s: %s" % (type(e).__name__, e)
            agree = (err is None and len(sums) == len(self.db.nodes) and
                     len(set(sums.values())) == 1 and
                     not any(str(v).startswith("error") for v in sums.values()))
            if agree or time.time() > deadline:
                break
            time.sleep(2)
        fin["convergence"] = {"agree": agree, "attempts": attempts, "checksums": sums,
                              "error": err}
        # every row as each DC sees it
        from cassandra import ConsistencyLevel as CL
        fin["reads"] = {}
        for d in range(1, len(self.a.dcs) + 1):
            i = self.net.nodes_in(d)[0]
            r = self.readers[i]
            for _ in range(5):
                try:
                    rows = r.execute("SELECT k FROM %s.%s" % (KS, TABLE), CL.LOCAL_QUORUM,
                                     timeout=60)
                    fin["reads"]["dc%d" % d] = sorted(x.k for x in rows)
                    break
                except Exception as e:
                    fin.setdefault("read_errors", {})["dc%d" % d] = "%s: %s" % (
                        type(e).__name__, str(e)[:200])
                    r.close()
                    time.sleep(1)

    def rtt(self):
        """CQL OPTIONS round trips client -> first dc2 node (a few tries:
        a loaded machine can miss a 3 s connect)."""
        for k in range(3):
            try:
                return wan.cql_rtt(self.net.ip(self.net.nodes_in(2)[0]), n=3, timeout=5)
            except OSError:
                if k == 2:
                    raise
                time.sleep(1)

    # the verdict ---------------------------------------------------------------
    def check(self, fin):
        res = {}
        cut_at, heal_at = self.cut_at, self.heal_at
        inv = {}
        local = {"ok": 0, "fail": 0, "info": 0}
        local_bad = []
        each = {"before": {}, "cut": {}, "after": {}}
        each_ok_in_cut = []
        each_odd = []       # failed during the cut, but not as Unavailable or a timeout
        for op in self.hist:
            if op["process"] == "nemesis" or op["f"] == "worker-crash":
                continue
            if op["type"] == "invoke":
                inv[op["process"]] = op
                continue
            start = inv.pop(op["process"])["time"]
            if op["cl"] == "LOCAL_QUORUM":
                local[op["type"]] += 1
                if op["type"] != "ok" and len(local_bad) < 20:
                    local_bad.append(op)
            else:
                phase = ("cut" if start >= cut_at and op["time"] <= heal_at else
                         "before" if op["time"] < cut_at else "after")
                each[phase][op["type"]] = each[phase].get(op["type"], 0) + 1
                if phase == "cut" and op["type"] == "ok":
                    each_ok_in_cut.append(op)
                if phase == "cut" and op["type"] != "ok" and not any(
                        w in op.get("error", "") for w in ("Unavailable", "Timeout",
                                                           "timed out")):
                    each_odd.append(op)
        res["local_quorum"] = local
        res["local_quorum_not_ok"] = local_bad
        res["each_quorum"] = each
        res["each_quorum_ok_during_cut"] = each_ok_in_cut[:20]
        res["each_quorum_other_errors_during_cut"] = each_odd[:20]
        acked = self.acked["LOCAL_QUORUM"] | self.acked["EACH_QUORUM"]
        res["acknowledged_writes"] = {k: len(v) for k, v in self.acked.items()}
        res["lost"] = {}
        for dc, keys in sorted(fin.get("reads", {}).items()):
            res["lost"][dc] = sorted(acked - set(keys))[:100]
        res["final_reads"] = {dc: len(v) for dc, v in fin.get("reads", {}).items()}
        res["repair_ok"] = all(v.get("rc") == 0 for v in fin["repair"]["nodes"].values())
        res["convergence"] = fin["convergence"]["agree"]
        res["crashes"] = [o for o in self.hist if o.get("f") == "worker-crash"][:5]
        res["valid"] = bool(
            local["ok"] > 0 and local["fail"] == 0 and local["info"] == 0 and
            not each_ok_in_cut and not each_odd and
            each["cut"].get("fail", 0) + each["cut"].get("info", 0) > 0 and
            len(fin.get("reads", {})) == len(self.a.dcs) and
            not any(res["lost"].values()) and res["repair_ok"] and res["convergence"] and
            not res["crashes"])
        return res

    # the run -------------------------------------------------------------------
    def load(self):
        a = self.a
        threads = []
        dc1 = self.net.nodes_in(1)
        for w in range(a.concurrency):
            i = dc1[w % len(dc1)]
            c = Client(i, self.net.ip(i), a.op_timeout)
            self.clients.append(c)
            threads.append(threading.Thread(target=self.local_worker,
                                            args=(w, c, random.Random(a.seed * 31 + w)),
                                            daemon=True))
        w = a.concurrency
        c = Client(dc1[0], self.net.ip(dc1[0]), a.op_timeout)
        self.clients.append(c)
        threads.append(threading.Thread(target=self.each_worker, args=(w, c), daemon=True))
        for t in threads:
            t.start()
        self.stop_ev.wait(a.pre)
        self.net.cut(2)
        self.cut_at = self.now()
        self.record({"process": "nemesis", "type": "info", "f": "cut", "value": "dc2"})
        print("dc-cutoff: dc2 cut off for %g s" % a.cut, flush=True)
        self.stop_ev.wait(a.cut)
        self.heal_at = self.now()
        self.net.heal()
        self.record({"process": "nemesis", "type": "info", "f": "heal", "value": "dc2"})
        print("dc-cutoff: healed", flush=True)
        self.stop_ev.wait(a.post)
        self.stop_ev.set()
        for t in threads:
            t.join(timeout=30)
        for c in self.clients:
            c.close()

    def main(self):
        a = self.a
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        self.dir = os.path.join(a.store, "dc-cutoff", stamp + "-s%d" % a.seed)
        os.makedirs(self.dir, exist_ok=True)
        latest = os.path.join(a.store, "dc-cutoff", "latest")
        try:
            if os.path.islink(latest):
                os.unlink(latest)
            os.symlink(os.path.basename(self.dir), latest)
        except OSError:
            pass
        logging.basicConfig(filename=os.path.join(self.dir, "driver.log"), level=logging.WARNING)
        print("jepsen: dc-cutoff dcs=%s seed=%d cut=%ss store=%s"
              % (",".join(map(str, a.dcs)), a.seed, a.cut, self.dir), flush=True)
        self.net = wan.WanNet(a.dcs, self.dir, delay_ms=a.wan_delay, jitter_ms=a.jitter,
                              rate=a.rate, hint=os.getpid() + a.seed, seed=a.seed)
        self.db = None
        self.readers = {}
        summary = {"test": "dc-cutoff", "seed": a.seed, "dcs": a.dcs, "cut_s": a.cut,
                   "delay_ms": a.wan_delay, "jitter_ms": a.jitter}
        status = 2
        try:
            self.net.setup()
            summary["subnet"] = "198.18.%d.0/24" % self.net.subnet
            self.db = dbmod.DB(self.net, a.basaltd, self.dir, seed=a.seed, extra_args=[
                "--storage-memtable-size", "1MiB", "--storage-block-cache-size", "1MiB"])
            self.db.start_all()
            if not self.db.wait_all_up(120):
                raise RuntimeError("the cluster did not see every node Up in 120 s")
            rtt = self.rtt()
            summary["rtt_ms_client_to_dc2"] = [round(x, 1) for x in rtt]
            print("dc-cutoff: measured RTT client -> dc2 (CQL OPTIONS): %s ms"
                  % " ".join("%.1f" % x for x in rtt), flush=True)
            self.readers = {i: Client(i, self.net.ip(i), 10.0) for i in self.db.nodes}
            self.schema()
            self.load()
            fin = {"all_up": self.db.wait_all_up(120)}
            self.wait_hints(fin)
            self.repair(fin)
            self.converge(fin)
            res = self.check(fin)
            self.write_json("final.json", fin)
            self.write_json("results.json", res)
            summary["results"] = {k: v for k, v in res.items() if k != "lost"}
            summary["lost"] = {k: len(v) for k, v in res["lost"].items()}
            summary["valid"] = res["valid"]
            status = 0 if res["valid"] else 1
        except BaseException as e:
            import traceback
            summary["error"] = "%s: %s" % (type(e).__name__, e)
            summary["traceback"] = traceback.format_exc()[-3000:]
            print("jepsen: run failed: %s" % summary["error"], file=sys.stderr, flush=True)
            if isinstance(e, KeyboardInterrupt):
                status = 130
        finally:
            for sg in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sg, signal.SIG_IGN)
            self.stop_ev.set()
            for c in self.clients + list(self.readers.values()):
                c.close()
            if self.db is not None:
                self.db.kill_all()
            self.net.teardown()
            self.write_history()
            self.write_summary(summary)
            if self.db is not None and not a.keep_data:
                for n in self.db.nodes.values():
                    shutil.rmtree(n.data, ignore_errors=True)
        return status

    def write_json(self, name, obj):
        with open(os.path.join(self.dir, name), "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True, default=str)

    def write_history(self):
        with open(os.path.join(self.dir, "history.jsonl"), "w") as f:
            with self.lock:
                for op in self.hist:
                    f.write(json.dumps(op, sort_keys=True, default=str) + "\n")

    def write_summary(self, s):
        self.write_json("summary.json", s)
        lines = ["test      dc-cutoff", "seed      %d" % s["seed"], "store     %s" % self.dir,
                 "dcs       %s, one-way delay %s ms +- %s" % (s["dcs"], s["delay_ms"],
                                                             s["jitter_ms"])]
        if "rtt_ms_client_to_dc2" in s:
            lines.append("rtt       %s ms (client -> dc2)" % s["rtt_ms_client_to_dc2"])
        if "error" in s:
            lines.append("RESULT    ERROR %s" % s["error"])
        else:
            r = s["results"]
            lines += ["local     LOCAL_QUORUM %s" % r["local_quorum"],
                      "each      EACH_QUORUM %s" % r["each_quorum"],
                      "acked     %s" % r["acknowledged_writes"],
                      "lost      %s" % s["lost"],
                      "repair    %s" % ("ok" if r["repair_ok"] else "FAILED"),
                      "converged %s" % r["convergence"],
                      "RESULT    %s" % ("VALID" if s.get("valid") else "INVALID")]
        txt = "\n".join(lines) + "\n"
        with open(os.path.join(self.dir, "summary.txt"), "w") as f:
            f.write(txt)
        print(txt, end="", flush=True)


def _sig(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None):
    p = argparse.ArgumentParser(prog="jepsen/run dc-cutoff",
                                description="dc2 cut off under load (see jepsen/dccut.py)")
    p.add_argument("--dcs", default="3,3", help="nodes per DC, e.g. 3,3 or 2,2 (1..3 each)")
    p.add_argument("--cut", type=float, default=60, help="seconds dc2 stays cut off")
    p.add_argument("--pre", type=float, default=10, help="seconds of load before the cut")
    p.add_argument("--post", type=float, default=10, help="seconds of load after the heal")
    p.add_argument("--delay", dest="wan_delay", type=float, default=20,
                   help="one-way inter-DC delay (ms)")
    p.add_argument("--jitter", type=float, default=2, help="+- jitter (ms)")
    p.add_argument("--rate", default=None, help="tbf rate per DC link, e.g. 100mbit")
    p.add_argument("--concurrency", type=int, default=3, help="LOCAL_QUORUM workers")
    p.add_argument("--delay-between", type=float, default=0.01, help="pause between ops (s)")
    p.add_argument("--op-timeout", type=float, default=5.0)
    p.add_argument("--hint-timeout", type=float, default=120,
                   help="longest wait for pending hints to drain before the repair (s)")
    p.add_argument("--repair-nodes", choices=("all", "one"), default="all",
                   help="`basalt-admin repair jepsen` on every node in turn, or on node 1 "
                        "only (enough here: every node replicates every range)")
    p.add_argument("--converge-timeout", type=float, default=60)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--basaltd", default=os.environ.get("BASALTD") or _default_basaltd())
    p.add_argument("--basalt-admin", default=os.environ.get("BASALT_ADMIN") or _default_admin())
    p.add_argument("--store", default=os.path.join(HERE, "store"))
    p.add_argument("--keep-data", action="store_true")
    a = p.parse_args(argv)
    a.dcs = [int(x) for x in a.dcs.split(",")]
    if len(a.dcs) != 2 or not all(1 <= n <= 3 for n in a.dcs):
        p.error("--dcs: two DCs of 1..3 nodes")
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 31)
    ok, why = wan.available()
    if not ok:
        print("jepsen: cannot run: %s" % why, file=sys.stderr)
        return 2
    netmod.cleanup_stale()
    for x in (a.basaltd, a.basalt_admin):
        if not os.access(x, os.X_OK):
            print("jepsen: no %s (build it or pass --basaltd / --basalt-admin)" % x,
                  file=sys.stderr)
            return 2
    a.basaltd = os.path.abspath(a.basaltd)
    a.basalt_admin = os.path.abspath(a.basalt_admin)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _sig)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return DcCut(a).main()


if __name__ == "__main__":
    sys.exit(main())
