"""
runner.py - one Jepsen-style test run against a 5-node basaltd cluster in
network namespaces (see net.py, db.py, nemesis.py, workloads.py).

    jepsen/run --workload set --nemesis partition --time 60 --seed 7

Phases:
  1. network: namespaces, bridge, veths (net.Net.setup)
  2. cluster: 5 basaltd, seed first; wait until every node sees all Up;
     keyspace jepsen (SimpleStrategy, RF=3) and the workload's table
  3. run: `--concurrency` client workers (threads; worker w talks only to
     node w % 5 + 1) issue QUORUM operations for --time seconds while the
     nemesis injects faults from the seeded schedule
  4. heal: nemesis.final_heal(); optional test-only --wipe N (kill -9
     node N, delete its data directory, restart it with the same tokens:
     the writes it held are gone and no repair runs); wait until all Up;
     wait for hint delivery (admin GET /hints when the node has it, else
     --settle seconds); anti-entropy repair of keyspace jepsen on every
     node (admin POST /repair; --no-repair skips it)
  5. final reads: convergence (every node at ONE agrees, retried for up to
     --converge-timeout s), the workload's own final operations if it has
     any (cas-register: a SERIAL read of every key, recorded in the
     history as process "final"), then QUORUM and ALL snapshots
  6. check, then write the store directory:
       jepsen/store/<workload>-<nemesis>/<UTC time>/
         history.jsonl  one JSON object per op: process, type
                        (invoke/ok/fail/info), f, value, time (ns since
                        start), node, error
         final.json     the final reads;  results.json  checker output
         summary.txt    human summary;    n<i>/basaltd.log  node logs
       (and a "latest" symlink beside the runs)

Teardown is in a finally block (and SIGINT/SIGTERM/SIGHUP become
SystemExit so it runs): nodes are killed, namespaces and veths deleted,
data directories removed (logs kept) unless --keep-data.

Exit status: 0 valid, 1 the checker found a violation, 2 the run itself
failed (set-up error, cluster did not come up, ...).
"""

import argparse
import json
import logging
import os
import random
import shutil
import signal
import sys
import threading
import time
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import net as netmod        # noqa: E402
import db as dbmod          # noqa: E402
import nemesis as nemmod    # noqa: E402
import workloads as wl      # noqa: E402


# every workload by --workload name (cas-register is kept apart from
# workloads.WORKLOADS, which other branches extend)
WORKLOADS = dict(wl.WORKLOADS, **{"cas-register": wl.CasRegisterWorkload})


def _default_basaltd():
    root = os.path.dirname(HERE)
    for b in ("build", "build-jepsen", "build-lead"):
        p = os.path.join(root, b, "node", "basaltd")
        if os.path.exists(p):
            return p
    return os.path.join(root, "build", "node", "basaltd")


class Client(object):
    """One driver Cluster/Session bound to a single node (whitelist)."""
    def __init__(self, node_index, ip, timeout):
        self.node = node_index
        self.ip = ip
        self.timeout = timeout
        self.cluster = None
        self.session = None

    def connect(self):
        from cassandra.cluster import Cluster
        from cassandra.policies import WhiteListRoundRobinPolicy, ConstantReconnectionPolicy
        c = Cluster([self.ip], protocol_version=4, connect_timeout=3,
                    control_connection_timeout=3,
                    load_balancing_policy=WhiteListRoundRobinPolicy([self.ip]),
                    reconnection_policy=ConstantReconnectionPolicy(0.5),
                    idle_heartbeat_interval=2)
        try:
            self.session = c.connect()
        except Exception:
            c.shutdown()
            raise
        self.cluster = c

    def execute(self, cql, cl, timeout=None, serial=None):
        from cassandra.query import SimpleStatement
        if self.session is None:
            self.connect()
        st = SimpleStatement(cql, consistency_level=cl)
        if serial is not None:
            st.serial_consistency_level = serial
        return self.session.execute(st, timeout=timeout or self.timeout)

    def close(self):
        if self.cluster is not None:
            try:
                self.cluster.shutdown()
            except Exception:
                pass
        self.cluster = self.session = None


class Run(object):
    def __init__(self, a):
        self.a = a
        self.t0 = None
        self.hist = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.clients = []

    def record(self, op):
        op = dict(op)
        op["time"] = time.monotonic_ns() - self.t0
        with self.lock:
            self.hist.append(op)
        return op

    def worker(self, w, client, rng):
        a = self.a
        proc = w
        state = {"worker": w}
        try:
            while not self.stop_ev.is_set():
                f, v = self.wl.op(state, rng)
                self.record({"process": proc, "type": "invoke", "f": f, "value": v,
                             "node": client.node})
                t, val, err = self.wl.invoke(client, f, v)
                c = {"process": proc, "type": t, "f": f, "value": val, "node": client.node}
                if err:
                    c["error"] = err
                elif t == "fail":
                    c["applied"] = False   # a conditional write whose condition was false
                self.record(c)
                if hasattr(self.wl, "after"):
                    self.wl.after(state, f, v, t)
                if t == "info":
                    # the process may still have a request in flight: like
                    # Jepsen, continue as a new process
                    proc += a.concurrency
                    client.close()
                if t != "ok" and err:
                    self.stop_ev.wait(0.2)
                self.stop_ev.wait(a.delay)
        except Exception as e:  # a bug in the runner: surface it
            self.record({"process": proc, "type": "info", "f": "worker-crash",
                         "value": "%s: %s" % (type(e).__name__, e)})

    def snapshot(self, node_order, cl, attempts=6, parts=range(wl.NPART)):
        last = None
        for k in range(attempts):
            i = node_order[k % len(node_order)]
            c = self.readers[i]
            try:
                if c.session is None:
                    c.connect()
                return self.wl.snapshot(c.session, cl, parts), None
            except Exception as e:
                last = "%s via node %d: %s" % (type(e).__name__, i, str(e)[:300])
                c.close()
                time.sleep(1)
        return None, last

    def replicas_of(self):
        """{partition: [node indices of its replicas]} from the driver's
        token map (Murmur3, the same the nodes use); None if unknown."""
        import struct
        if getattr(self.wl, "per_partition", True) is False:
            return None
        by_ip = {self.net.ip(i): i for i in self.db.nodes}
        for r in self.readers.values():
            try:
                if r.session is None:
                    r.connect()
                meta = r.cluster.metadata
                meta.token_map.rebuild_keyspace(wl.KS, build_if_absent=True)
                out = {}
                for p in range(wl.NPART):
                    hs = meta.get_replicas(wl.KS, struct.pack(">i", p))
                    out[p] = sorted(by_ip[h.address] for h in hs if h.address in by_ip)
                if all(len(v) == min(self.a.rf, self.a.nodes) for v in out.values()):
                    return out
            except Exception:
                r.close()
        return None

    def converge(self, fin):
        """Every replica of every partition, read locally (CL ONE through
        that replica as coordinator: the local replica is read first), must
        hold the same rows; compared by a SHA-1 per replica and partition.
        Without a token map, every node's ONE view of the whole table is
        compared instead.  Retried until --converge-timeout (hints)."""
        import hashlib
        from cassandra import ConsistencyLevel as CL
        reps = self.replicas_of()
        deadline = time.time() + self.a.converge_timeout
        attempt = 0
        while True:
            attempt += 1
            errs, diff, sums = {}, [], {}
            groups = reps or {"all": sorted(self.db.nodes)}
            for p, nodes in sorted(groups.items(), key=lambda kv: str(kv[0])):
                views = {}
                for i in nodes:
                    parts = [p] if reps else range(wl.NPART)
                    snap, err = self.snapshot([i], CL.ONE, attempts=2, parts=parts)
                    if snap is None:
                        errs["%s@%d" % (p, i)] = err
                    else:
                        views[i] = snap
                        sums.setdefault(str(p), {})[str(i)] = hashlib.sha1(
                            json.dumps(snap).encode()).hexdigest()[:12]
                if len({json.dumps(v) for v in views.values()}) > 1:
                    base_i = min(views)
                    base = set(json.dumps(x) for x in views[base_i])
                    for i, v in sorted(views.items()):
                        s = set(json.dumps(x) for x in v)
                        if s != base:
                            diff.append({"partition": p, "node": i, "vs_node": base_i,
                                         "missing": sorted(base - s)[:50],
                                         "extra": sorted(s - base)[:50]})
            agree = not errs and not diff
            if agree or time.time() > deadline:
                break
            time.sleep(2)
        fin["convergence"] = {"agree": agree, "attempts": attempt, "errors": errs,
                              "mode": "per-replica" if reps else "per-node",
                              "replicas": {str(k): v for k, v in (reps or {}).items()},
                              "checksums": sums, "differences": diff}

    def final_ops(self):
        """The workload's reads after heal (cas-register: every key at
        SERIAL), recorded in the history as process "final"; each is
        retried through the next node until it succeeds (6 attempts)."""
        order = sorted(self.readers)
        for f, v in self.wl.final_ops():
            for attempt in range(6):
                c = self.readers[order[attempt % len(order)]]
                self.record({"process": "final", "type": "invoke", "f": f, "value": v,
                             "node": c.node})
                t, val, err = self.wl.invoke(c, f, v)
                done = {"process": "final", "type": t, "f": f, "value": val, "node": c.node}
                if err:
                    done["error"] = err
                self.record(done)
                if t == "ok":
                    break
                c.close()
                time.sleep(1)

    def repair(self, fin):
        """Anti-entropy repair of keyspace jepsen on every node in turn
        (admin POST /repair, what `basalt-admin repair jepsen` sends).
        A node without the route is recorded, not an error of the run."""
        import urllib.error
        out = {}
        t = time.time()
        for i, n in sorted(self.db.nodes.items()):
            try:
                out[str(i)] = n.admin("/repair?keyspace=%s" % wl.KS, method="POST", timeout=120)
            except urllib.error.HTTPError as e:
                body = e.read().decode(errors="replace")[:300]
                out[str(i)] = {"http_status": e.code, "error": body}
            except Exception as e:
                out[str(i)] = {"error": "%s: %s" % (type(e).__name__, e)}
        fin["repair"] = {"nodes": out, "seconds": round(time.time() - t, 1)}
        self.record({"process": "nemesis", "type": "info", "f": "repair",
                     "value": {k: (v.get("http_status", "error")
                                   if isinstance(v, dict) and v.get("error") else "ok")
                               for k, v in out.items()}})

    def wipe(self, i):
        """Test-only: lose node i's data (kill -9, delete its data dir,
        restart with the same tokens and auto_bootstrap false: a disk lost
        under a node that comes back claiming its ranges, not a join - a
        bootstrap would stream the data back and prove nothing)."""
        n = self.db.nodes[i]
        ring = self.db.nodes[1 if i != 1 else 2].admin("/ring")
        toks = [e["token"] for e in ring.get("ring", []) if e.get("address") == n.ip]
        n.kill()
        shutil.rmtree(n.data, ignore_errors=True)
        extra = ["--initial-token", ",".join(toks), "--num-tokens", str(len(toks)),
                 "--auto-bootstrap", "false"] if toks else []
        saved = list(self.db.extra_args)
        self.db.extra_args = saved + extra
        try:
            n.start(wait=True)
        finally:
            self.db.extra_args = saved
        self.record({"process": "nemesis", "type": "info", "f": "wipe",
                     "value": {"node": i, "tokens": len(toks)}})

    def main(self):
        a = self.a
        rng = random.Random(a.seed)
        names = nemmod.parse(a.nemesis)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        test = "%s-%s" % (a.workload, a.nemesis.replace(",", "+"))
        self.dir = os.path.join(a.store, test, stamp + "-s%d" % a.seed)
        os.makedirs(self.dir, exist_ok=True)
        latest = os.path.join(a.store, test, "latest")
        try:
            if os.path.islink(latest):
                os.unlink(latest)
            os.symlink(os.path.basename(self.dir), latest)
        except OSError:
            pass
        logging.basicConfig(filename=os.path.join(self.dir, "driver.log"), level=logging.WARNING)
        print("jepsen: %s seed=%d time=%ss store=%s" % (test, a.seed, a.time, self.dir), flush=True)

        self.net = netmod.Net(a.nodes, hint=os.getpid() + a.seed)
        self.db = None
        summary = {"test": test, "seed": a.seed, "time_s": a.time, "nodes": a.nodes,
                   "workload": a.workload, "nemesis": a.nemesis, "wipe": a.wipe}
        status = 2
        try:
            self.net.setup()
            summary["subnet"] = "198.18.%d.0/24" % self.net.subnet
            self.db = dbmod.DB(self.net, a.basaltd, self.dir, restart_gate=a.restart_gate, seed=a.seed)
            self.t0 = time.monotonic_ns()
            self.db.start_all()
            if not self.db.wait_all_up(60):
                raise RuntimeError("cluster did not converge to 5 Up nodes in 60 s")
            skew = lambda i: self.db.nodes[i].skew_us   # noqa: E731
            if a.workload == "register":
                self.wl = wl.RegisterWorkload(skew)
            elif a.workload == "ingest":
                self.wl = wl.IngestWorkload(self.net.ip, a.nodes, a.op_timeout, a.rf)
            else:
                self.wl = WORKLOADS[a.workload]()
            self.readers = {i: wl_client(i, self.net.ip(i), 8.0) for i in self.db.nodes}
            self.setup_schema()

            # run
            self.record({"process": "nemesis", "type": "info", "f": "run", "value": a.time})
            nem = nemmod.Nemesis(names, self.net, self.db, random.Random(rng.random()),
                                 self.record, interval=a.interval)
            threads = []
            for w in range(a.concurrency):
                node = w % a.nodes + 1
                c = wl_client(node, self.net.ip(node), a.op_timeout)
                self.clients.append(c)
                t = threading.Thread(target=self.worker, args=(w, c, random.Random(rng.random())),
                                     daemon=True)
                threads.append(t)
            nem.start(a.time)
            for t in threads:
                t.start()
            self.stop_ev.wait(a.time)
            self.stop_ev.set()
            for t in threads:
                t.join(timeout=30)
            nem.stop()
            for c in self.clients:
                c.close()

            # heal
            nem.final_heal()
            if a.wipe:
                self.wipe(a.wipe)
            fin = {"reads": {}, "errors": {}}
            fin["all_up"] = self.db.wait_all_up(60)
            t = time.time()
            hints = self.db.pending_hints()
            if hints is None:
                time.sleep(a.settle)
                fin["hints"] = "unknown (no /hints); waited %ss" % a.settle
            else:
                while hints and time.time() - t < 60:
                    time.sleep(1)
                    hints = self.db.pending_hints() or 0
                fin["hints"] = {"pending_after_wait": hints, "waited_s": round(time.time() - t, 1)}
            for r in self.readers.values():
                r.close()
            if a.repair:
                self.repair(fin)
            self.converge(fin)
            if hasattr(self.wl, "final_ops"):
                self.final_ops()
            if a.workload == "delete":
                for n in self.db.nodes.values():
                    for path in ("/flush", "/compact"):
                        try:
                            n.admin(path, method="POST", timeout=30)
                        except Exception as e:
                            fin.setdefault("compact_errors", []).append("%d %s: %s" % (n.i, path, e))
            from cassandra import ConsistencyLevel as CL
            order = list(range(1, a.nodes + 1))
            for name, cl in (("QUORUM", CL.QUORUM), ("ALL", CL.ALL)):
                snap, err = self.snapshot(order, cl)
                if snap is None:
                    fin["errors"][name] = err
                else:
                    fin["reads"][name] = snap
            if hasattr(self.wl, "final_http"):
                fin["http"], fin["http_errors"] = self.wl.final_http(sorted(self.db.nodes))
            res = self.wl.check(self.hist, fin)
            res["convergence"] = fin["convergence"]["agree"]
            if "repair" in fin:
                res["repair"] = {k: ("failed: %s" % str(v["error"])[:120]
                                     if isinstance(v, dict) and v.get("error") else "ok")
                                 for k, v in fin["repair"]["nodes"].items()}
            if not fin["convergence"]["agree"]:
                res["valid"] = False
            if nem.error:
                res["valid"] = False
                res["nemesis_error"] = nem.error
            crashes = [o for o in self.hist if o.get("f") == "worker-crash"]
            if crashes:
                res["valid"] = False
                res["worker_crashes"] = crashes[:5]
            self.write_json("final.json", fin)
            self.write_json("results.json", res)
            summary["valid"] = res["valid"]
            summary["results"] = res
            status = 0 if res["valid"] else 1
        except BaseException as e:
            import traceback
            summary["error"] = "%s: %s" % (type(e).__name__, e)
            summary["traceback"] = traceback.format_exc()[-3000:]
            print("jepsen: run failed: %s" % summary["error"], file=sys.stderr, flush=True)
            if isinstance(e, KeyboardInterrupt):
                status = 130
        finally:
            # a second Ctrl-C / SIGTERM must not cut the teardown short
            for sg in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sg, signal.SIG_IGN)
            for c in self.clients + list(getattr(self, "readers", {}).values()):
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

    def setup_schema(self):
        from cassandra import ConsistencyLevel as CL
        stmts = ["CREATE KEYSPACE IF NOT EXISTS %s WITH replication = "
                 "{'class': 'SimpleStrategy', 'replication_factor': %d}" % (wl.KS, self.a.rf)]
        if hasattr(self.wl, "setup"):
            # the workload creates its keyspace itself (ingest: CREATE
            # DATABASE ... WITH REPLICATION rf through the InfluxDB endpoint)
            self.wl.setup(self)
            stmts = []
        stmts += self.wl.schema()
        c = self.readers[1]
        for s in stmts:
            deadline = time.time() + 30
            while True:
                try:
                    c.execute(s, CL.ONE, timeout=15)
                    break
                except Exception:
                    c.close()
                    if time.time() > deadline:
                        raise
                    time.sleep(1)
        # every node must know the table before the run starts
        deadline = time.time() + 30
        for i, r in self.readers.items():
            while True:
                try:
                    r.execute("SELECT * FROM %s.%s LIMIT 1" % (wl.KS, self.wl.table), CL.ONE)
                    break
                except Exception:
                    r.close()
                    if time.time() > deadline:
                        raise RuntimeError("node %d never saw table %s" % (i, self.wl.table))
                    time.sleep(0.5)

    def write_json(self, name, obj):
        with open(os.path.join(self.dir, name), "w") as f:
            json.dump(obj, f, indent=1, sort_keys=True, default=str)

    def write_history(self):
        with open(os.path.join(self.dir, "history.jsonl"), "w") as f:
            with self.lock:
                for op in self.hist:
                    f.write(json.dumps(op, sort_keys=True, default=str) + "\n")

    def write_summary(self, s):
        ops = {}
        for op in self.hist:
            if op["process"] == "nemesis" or op["type"] == "invoke":
                continue
            k = "%s:%s" % (op["f"], "not-applied" if op.get("applied") is False else op["type"])
            ops[k] = ops.get(k, 0) + 1
        s["ops"] = ops
        if self.db is not None:
            s["restart_ready_waits"] = {str(n.i): n.ready_waits for n in self.db.nodes.values()}
        s["faults"] = [op["value"] for op in self.hist
                       if op["process"] == "nemesis" and op["f"] in ("start", "wipe")]
        self.write_json("summary.json", s)
        lines = ["test      %s" % s["test"], "seed      %d" % s["seed"],
                 "store     %s" % self.dir,
                 "ops       %s" % " ".join("%s=%d" % kv for kv in sorted(ops.items())),
                 "faults    %d" % len(s["faults"])]
        if "error" in s:
            lines.append("RESULT    ERROR %s" % s["error"])
        else:
            r = s["results"]
            if isinstance(r.get("points"), dict):
                lines.append("points    %s" % " ".join("%s=%s" % kv for kv in sorted(r["points"].items())))
            for cl in ["QUORUM", "ALL"] + sorted(k for k in r if k.startswith("HTTP")):
                if isinstance(r.get(cl), dict):
                    d = r[cl]
                    # ingest gives each list's length as *_count too:
                    # print that once
                    lines.append("%-9s %s" % (cl, " ".join(
                        "%s=%s" % (k, (v if not isinstance(v, list) else len(v)))
                        for k, v in sorted(d.items())
                        if not ("points" in r and k + "_count" in d))))
                    if d.get("lost"):
                        lines.append("LOST      %s" % d["lost"][:200])
            for k in ("stale_reads", "impossible_reads", "nonmonotonic_reads", "final_wrong",
                      "resurrected_during_run", "linearizable_keys", "final_mismatch",
                      "final_serial_missing", "acknowledged", "indeterminate", "bad_reads",
                      "error"):
                if k in r:
                    lines.append("%s %s" % (k, r[k] if not isinstance(r[k], list) else r[k][:10]))
            for bad in r.get("nonlinearizable", [])[:5] + r.get("undecided", [])[:5]:
                lines.append("key %s    %s" % (bad["key"], bad["explanation"]))
            if "repair" in r:
                lines.append("repair    %s" % " ".join("n%s=%s" % kv for kv in sorted(r["repair"].items())))
            lines.append("converged %s" % r.get("convergence"))
            lines.append("RESULT    %s" % ("VALID" if s.get("valid") else "INVALID"))
        txt = "\n".join(lines) + "\n"
        with open(os.path.join(self.dir, "summary.txt"), "w") as f:
            f.write(txt)
        print(txt, end="", flush=True)


def wl_client(i, ip, timeout):
    return Client(i, ip, timeout)


def _sig(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None):
    p = argparse.ArgumentParser(prog="jepsen/run", description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", choices=sorted(WORKLOADS), default="set")
    p.add_argument("--nemesis", default="partition",
                   help="comma-separated: %s, mixed" % ", ".join(nemmod.ALL))
    p.add_argument("--time", type=float, default=60, help="seconds of workload")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--interval", type=float, default=8, help="seconds per fault / quiet period")
    p.add_argument("--concurrency", type=int, default=5)
    p.add_argument("--delay", type=float, default=0.02, help="pause between a worker's ops (s)")
    p.add_argument("--op-timeout", type=float, default=5.0, help="client-side request timeout (s)")
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--rf", type=int, default=3)
    p.add_argument("--settle", type=float, default=10, help="wait for hints when /hints is absent (s)")
    p.add_argument("--converge-timeout", type=float, default=30)
    p.add_argument("--wipe", type=int, default=0,
                   help="TEST ONLY: after heal, delete node N's data dir (proves the checker sees loss)")
    p.add_argument("--basaltd", default=os.environ.get("BASALTD") or _default_basaltd())
    p.add_argument("--store", default=os.path.join(HERE, "store"))
    p.add_argument("--keep-data", action="store_true")
    p.add_argument("--no-repair", dest="repair", action="store_false",
                   help="skip the anti-entropy repair after heal (convergence then "
                        "relies on hints and read repair alone)")
    p.add_argument("--restart-gate", dest="restart_gate", action="store_true",
                   help="keep clients away from a restarting node until it knows the "
                        "ring (works around finding F1 on basaltd before 85ef340)")
    p.add_argument("--no-restart-gate", dest="restart_gate", action="store_false",
                   help="the default: clients reach a restarted node as soon as it "
                        "accepts connections")
    a = p.parse_args(argv)
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 31)
    ok, why = netmod.available()
    if not ok:
        print("jepsen: cannot run: %s" % why, file=sys.stderr)
        return 2
    netmod.cleanup_stale()
    if not os.access(a.basaltd, os.X_OK):
        print("jepsen: no basaltd at %s (build it or pass --basaltd)" % a.basaltd, file=sys.stderr)
        return 2
    a.basaltd = os.path.abspath(a.basaltd)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _sig)
    # jepsen/run starts us with `&` from a script, and bash makes such a
    # background command ignore SIGINT; Python then leaves it ignored, and
    # Ctrl-C did nothing at all.  Ctrl-C is KeyboardInterrupt: the run
    # stops, tears down and exits 130.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return Run(a).main()


if __name__ == "__main__":
    sys.exit(main())
