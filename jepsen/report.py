"""report.py - a Markdown table of jepsen runs from their summary.json files.

    /usr/bin/python3 jepsen/report.py [STORE_DIR] [--latest]

One row per run (or per test with --latest): test, seed, time, ops
acknowledged / indeterminate / failed (a conditional write that was
not applied is not counted as failed), faults, the checker's key figures
and the verdict.  docs/JEPSEN.md's results table is made with it."""
import glob
import json
import os
import sys


def row(s):
    ops = s.get("ops", {})
    ok = sum(v for k, v in ops.items() if k.endswith(":ok"))
    info = sum(v for k, v in ops.items() if k.endswith(":info"))
    fail = sum(v for k, v in ops.items() if k.endswith(":fail"))
    r = s.get("results", {})
    figs = []
    for cl in ("QUORUM", "ALL"):
        d = r.get(cl)
        if isinstance(d, dict) and "lost" in d:
            figs.append("%s lost=%d" % (cl, len(d["lost"]) if isinstance(d["lost"], list) else d["lost"]))
            if "unexpected" in d:
                figs.append("unexpected=%d" % len(d["unexpected"]))
            if "resurrected" in d:
                figs.append("resurrected=%d" % len(d["resurrected"]))
    if "stale_reads" in r:
        figs.append("stale=%d final_wrong=%d" % (r["stale_reads"], len(r.get("final_wrong", []))))
    if "linearizable_keys" in r:
        figs.append("linearizable keys %d/%d (%d ops, %d not applied), final SERIAL=QUORUM=ALL %s"
                    % (r["linearizable_keys"], r.get("keys", 0),
                       sum(v for k, v in r.get("ops", {}).items()
                           if k.endswith(":ok") or k.endswith(":not-applied")),
                       sum(v for k, v in ops.items() if k.endswith(":not-applied")),
                       "yes" if not r.get("final_mismatch") else "NO"))
    if "convergence" in r:
        figs.append("converged=%s" % r["convergence"])
    verdict = "ERROR" if "error" in s else ("valid" if s.get("valid") else "INVALID")
    extra = " (wipe %s)" % s["wipe"] if s.get("wipe") else ""
    return "| %s%s | %s | %gs | %d / %d / %d | %d | %s | %s |" % (
        s["test"], extra, s["seed"], s["time_s"], ok, info, fail, len(s.get("faults", [])),
        ", ".join(figs), verdict)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    store = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "store")
    if "--latest" in sys.argv:
        files = sorted(glob.glob(os.path.join(store, "*", "latest", "summary.json")))
    else:
        files = sorted(glob.glob(os.path.join(store, "*", "2*", "summary.json")))
    print("| test | seed | time | ok / info / fail ops | faults | checker | result |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for f in files:
        with open(f) as fh:
            print(row(json.load(fh)))


if __name__ == "__main__":
    main()
