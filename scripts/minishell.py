#!/usr/bin/python3
"""A minimal CQL prompt over Debian's python3-cassandra driver.

Stop-gap used by ./scripts/quickstart until the C basalt-shell (client/)
exists.  Statements end with ';'.  EXIT or Ctrl-D quits.
Usage: minishell.py [HOST] [PORT] [-e STATEMENT]
"""
import sys

from cassandra.cluster import Cluster
from cassandra.query import SimpleStatement


def show(rows):
    cols = list(rows.column_names or [])
    data = [[("null" if v is None else str(v)) for v in r] for r in rows]
    if not cols:
        return
    w = [max([len(c)] + [len(d[i]) for d in data]) for i, c in enumerate(cols)]
    print(" " + " | ".join(c.rjust(w[i]) for i, c in enumerate(cols)))
    print("-" + "-+-".join("-" * x for x in w) + "-")
    for d in data:
        print(" " + " | ".join(v.rjust(w[i]) for i, v in enumerate(d)))
    print("\n(%d rows)" % len(data))


def run(session, stmt):
    try:
        res = session.execute(SimpleStatement(stmt, fetch_size=None))
        if res.column_names:
            show(res)
    except Exception as e:  # show the server's error like cqlsh does
        print("%s: %s" % (type(e).__name__, e))
        return False
    return True


def main():
    args = [a for a in sys.argv[1:]]
    stmt = None
    if "-e" in args:
        i = args.index("-e")
        stmt = args[i + 1]
        del args[i:i + 2]
    host = args[0] if args else "127.0.0.1"
    port = int(args[1]) if len(args) > 1 else 9042
    cluster = Cluster([host], port=port, protocol_version=4)
    session = cluster.connect()
    if stmt is not None:
        ok = run(session, stmt)
        cluster.shutdown()
        sys.exit(0 if ok else 1)
    print("Connected to %s at %s:%d (Basalt). Statements end with ';'. EXIT to quit."
          % (cluster.metadata.cluster_name, host, port))
    buf = ""
    while True:
        try:
            line = input("basalt> " if not buf else "   ...> ")
        except EOFError:
            break
        if not buf and line.strip().rstrip(";").upper() in ("EXIT", "QUIT"):
            break
        buf += line + "\n"
        if buf.strip().endswith(";"):
            run(session, buf.strip())
            buf = ""
    cluster.shutdown()


if __name__ == "__main__":
    main()
