"""
powerloss_cut.py - turns a directory tree that a SIGKILLed process left in
the page cache into what a power loss would have left on disk, from the
journal that powerloss_preload.c wrote (record layout: see that file).

    powerloss_cut.py ROOT JOURNAL      (or: import powerloss_cut; cut(...))

Replay, in journal order, keeping per path
  durable  bytes known to be on disk (O: size at first open, C: 0,
           S: size at fsync/fdatasync; moves with the file on rename);
  pending  names not yet durable: created (C) or renamed to (R) since the
           last fsync of the directory that holds them (D).
Then, in this order:
  1. undo every rename whose directories were not fsync'd after it
     (newest first): the file goes back to its old name, and the file it
     replaced comes back from the preload's backup copy;
  2. delete every file whose creation never became durable;
  3. truncate every file the process touched to its durable length.
sync()/syncfs() (A) makes everything so far durable.  Files the process
never opened are left alone.  A record of kind X (an operation the model
does not cover) makes cut() raise: a gap in the model must not pass.
"""
import os
import shutil
import sys


class ModelGap(Exception):
    pass


def cut(root, journal):
    """Applies the cut to root; returns a report dict (what was cut)."""
    durable = {}     # path -> durable size
    last_close = {}  # path -> size at close
    pending = set()  # paths whose name is not durable
    renames = []     # dicts: src, dst, backup, old_durable, dirs
    with open(journal, "rb") as f:
        lines = f.read().decode("utf-8", "surrogateescape").split("\n")
    for ln in lines:
        if not ln:
            continue
        r = ln.split("\t")
        k = r[0]
        if k == "O":
            durable.setdefault(r[2], int(r[1]))
        elif k == "C":
            durable[r[1]] = 0
            pending.add(r[1])
        elif k == "S":
            durable[r[2]] = int(r[1])
        elif k == "K":
            last_close[r[2]] = int(r[1])
        elif k == "D":
            d = r[1]
            pending = {p for p in pending if os.path.dirname(p) != d}
            for rn in renames:
                rn["dirs"].discard(d)
            renames = [rn for rn in renames if rn["dirs"]]
        elif k == "R":
            bk, src, dst = r[1], r[2], r[3]
            renames.append({"src": src, "dst": dst, "backup": None if bk == "-" else bk,
                            "old_durable": durable.get(dst),
                            "src_pending": src in pending,
                            "dirs": {os.path.dirname(src), os.path.dirname(dst)}})
            durable[dst] = durable.pop(src, 0)
            if src in last_close:
                last_close[dst] = last_close.pop(src)
            pending.discard(src)
            pending.add(dst)
        elif k == "U":
            p = r[1]
            durable.pop(p, None)
            last_close.pop(p, None)
            pending.discard(p)
            renames = [rn for rn in renames if rn["dst"] != p]
        elif k == "A":
            pending.clear()
            renames = []
            durable.update(last_close)
        elif k == "X":
            raise ModelGap("%s: %s" % (r[1], r[2] if len(r) > 2 else ""))
        else:
            raise ValueError("bad journal record %r" % ln)
    # a renamed-to name is pending only while its rename is
    for rn in renames:
        pending.discard(rn["dst"])
    rep = {"renames_undone": [], "removed": [], "truncated": {}, "bytes_dropped": 0}
    # 1. undo renames, newest first
    for rn in reversed(renames):
        src, dst = rn["src"], rn["dst"]
        if os.path.exists(dst):
            os.rename(dst, src)
        durable[src] = durable.pop(dst, 0)
        if rn["src_pending"]:
            pending.add(src)
        if rn["backup"] and os.path.exists(rn["backup"]):
            shutil.copyfile(rn["backup"], dst)
            if rn["old_durable"] is not None:
                durable[dst] = rn["old_durable"]
            else:
                durable[dst] = os.path.getsize(dst)
        rep["renames_undone"].append([dst, src])
    # 2. names never made durable
    for p in sorted(pending):
        if os.path.isfile(p):
            rep["bytes_dropped"] += os.path.getsize(p)
            os.unlink(p)
            rep["removed"].append(p)
        durable.pop(p, None)
    # 3. data never made durable
    for p, n in sorted(durable.items()):
        if not os.path.isfile(p):
            continue
        size = os.path.getsize(p)
        if size > n:
            with open(p, "r+b") as f:
                f.truncate(n)
            rep["truncated"][p] = [size, n]
            rep["bytes_dropped"] += size - n
    return rep


if __name__ == "__main__":
    import json
    if len(sys.argv) != 3:
        sys.exit("usage: powerloss_cut.py ROOT JOURNAL")
    print(json.dumps(cut(sys.argv[1], sys.argv[2]), indent=1))
