"""
linear.py - linearizability checker for a single compare-and-set register
(the Wing & Gong search with Lowe's memoization, "WGL", as Knossos' linear
checker does it), used by the cas-register workload (workloads.py).

A history is a list of operations on ONE register.  Each operation has an
invocation time and, if it completed, a return time; `Op` fields:

  f        "read" | "write" | "cas" | "insert" | "update"
  arg      write/insert/update: the value written; cas: (old, new);
           read: unused
  applied  True   the operation took effect (read: returned `result`)
           False  a conditional write the server said it did NOT apply
                  (its condition was false when it was linearized); it
                  still has a linearization point, where the condition was
                  false, and `result` (when known) is the value the server
                  returned as current
           None   indeterminate ("info": timeout, lost connection): it may
                  have taken effect at any instant after its invocation,
                  or never; it has no return time
  result   read: the value read (None = no row); not-applied conditional
           write: the current value the server returned, or UNKNOWN

The register's state is its value (None = no row).  Model:
  read r            state == r
  write v           state := v
  cas (o, n)        applied: state == o, state := n
                    not applied: state != o (and state == result if known)
  insert v          (INSERT ... IF NOT EXISTS) applied: state is None,
                    state := v; not applied: state is not None
  update v          (UPDATE ... IF EXISTS) applied: state is not None,
                    state := v; not applied: state is None
An indeterminate conditional write only ever takes its "applied" branch:
its "not applied" branch changes nothing and is the same as never taking
effect, which the search allows anyway.

Search (Lowe, "Testing for linearizability", 2017): the call and return
events, sorted by time, form a doubly linked list.  Walking it, a call
event's operation may be linearized now if the model allows it from the
current state and the configuration (set of linearized ops as a bitset,
state) was not explored before; it is then lifted out of the list and the
walk restarts from the head.  Reaching a return event means that
operation was not linearized before it returned: backtrack.  The history
is linearizable when every operation that completed is linearized
(indeterminate ones have no return event, so they never force a
backtrack).  Memoizing (bitset, state) makes the search polynomial for the
small value domains the workload uses.

On failure `check` explains: the operation whose return could not be
reached in the configuration that got furthest through the history, the
states the register could have held just before it (candidate states),
and the operations completed just before it.
"""

import collections

UNKNOWN = "?"
INVALID = object()

Op = collections.namedtuple("Op", "id f arg applied result call ret process index")


def step(state, op):
    """The state after op, or INVALID if op cannot happen in state."""
    f, applied = op.f, op.applied
    if f == "read":
        return state if state == op.result else INVALID
    if f == "write":
        return op.arg
    if f == "cas":
        old, new = op.arg
        if applied is False:
            if state == old or (op.result != UNKNOWN and state != op.result):
                return INVALID
            return state
        return new if state == old else INVALID
    if f in ("insert", "update"):
        exists = state is not None
        if applied is False:
            if f == "insert":
                if not exists or (op.result != UNKNOWN and state != op.result):
                    return INVALID
                return state
            return state if not exists else INVALID
        if exists == (f == "update"):
            return op.arg
        return INVALID
    raise ValueError("unknown operation %r" % (f,))


def describe(op):
    if op is None:
        return None
    d = {"process": op.process, "f": op.f, "invoked": op.call,
         "completed": op.ret, "index": op.index}
    if op.f == "read":
        d["read"] = op.result
    else:
        d["arg"] = list(op.arg) if isinstance(op.arg, tuple) else op.arg
        d["applied"] = op.applied
        if op.applied is False:
            d["current_returned"] = op.result
    return d


def check(ops, init=None, max_steps=5000000):
    """WGL search over ops (a list of Op, ids 0..n-1 in any order).
    Returns {"valid": True|False|None, ...}; None = gave up after
    max_steps (undecided)."""
    ops = sorted(ops, key=lambda o: o.id)
    n = len(ops)
    # events: (time, 0=call/1=return, op id); at equal times a call sorts
    # before a return (the two operations are then taken as concurrent)
    evs = []
    for o in ops:
        evs.append((o.call, 0, o.id))
        if o.ret is not None:
            evs.append((o.ret, 1, o.id))
    evs.sort()
    m = len(evs)
    END = m + 1
    # list positions 1..m; 0 = head
    nxt = list(range(1, m + 2)) + [END]
    prv = [0] + list(range(0, m)) + [m]
    kind = [0] * (m + 2)
    oid = [0] * (m + 2)
    callpos = [0] * n
    retpos = [None] * n
    for i, (t, k, o) in enumerate(evs, 1):
        kind[i], oid[i] = k, o
        if k == 0:
            callpos[o] = i
        else:
            retpos[o] = i

    def unlink(x):
        nxt[prv[x]] = nxt[x]
        prv[nxt[x]] = prv[x]

    def relink(x):
        nxt[prv[x]] = x
        prv[nxt[x]] = x

    remaining = sum(1 for o in ops if o.ret is not None)
    state, lin = init, 0
    stack, seen = [], set()
    best_pos, best_states, best_done = -1, set(), 0
    steps = 0
    e = nxt[0]
    while remaining:
        steps += 1
        if steps > max_steps:
            return {"valid": None, "ops": n, "steps": steps,
                    "error": "gave up after %d search steps" % max_steps}
        if e == END:   # cannot happen: a pending return is always ahead
            break
        o = oid[e]
        if kind[e] == 0:
            ns = step(state, ops[o])
            if ns is not INVALID:
                nl = lin | (1 << o)
                key = (nl, ns)
                if key not in seen:
                    seen.add(key)
                    stack.append((e, state))
                    state, lin = ns, nl
                    unlink(e)
                    if retpos[o] is not None:
                        unlink(retpos[o])
                        remaining -= 1
                    e = nxt[0]
                    continue
            e = nxt[e]
            continue
        # the return of an operation not yet linearized: dead end
        if e > best_pos:
            best_pos, best_states, best_done = e, {state}, len(stack)
        elif e == best_pos:
            best_states.add(state)
        if not stack:
            break
        e, state = stack.pop()
        o = oid[e]
        lin &= ~(1 << o)
        if retpos[o] is not None:
            relink(retpos[o])
            remaining += 1
        relink(e)
        e = nxt[e]
    if not remaining:
        return {"valid": True, "ops": n, "steps": steps, "configurations": len(seen)}
    bad = ops[oid[best_pos]]
    before = sorted((o for o in ops if o.ret is not None and o.ret < bad.ret),
                    key=lambda o: o.ret)[-6:]
    concurrent = [o for o in ops if o.call < bad.ret and (o.ret is None or o.ret > bad.call)
                  and o.id != bad.id]
    return {"valid": False, "ops": n, "steps": steps, "configurations": len(seen),
            "op": describe(bad),
            "candidate_states": sorted(best_states, key=lambda s: (s is None, str(s))),
            "linearized_before": best_done,
            "completed_just_before": [describe(o) for o in before],
            "concurrent": [describe(o) for o in concurrent[:10]]}


def explain(res):
    """One human line for a check() result."""
    if res.get("valid"):
        return "linearizable (%d ops)" % res["ops"]
    if res.get("valid") is None:
        return "undecided: %s" % res.get("error")
    op = res["op"]
    what = ("read %r" % (op["read"],) if op["f"] == "read" else
            "%s %r %s" % (op["f"], op["arg"], "applied" if op["applied"] else
                          "not applied (current %r)" % (op.get("current_returned"),)))
    return ("not linearizable: %s by process %s (invoked %s, completed %s) cannot be "
            "linearized; the register could only hold %s there"
            % (what, op["process"], op["invoked"], op["completed"],
               " or ".join(repr(s) for s in res["candidate_states"])))


def ops_from_history(history):
    """Pairs the invocations and completions of a cas-register history
    (jepsen/runner.py format) into {key: [Op]}.

    Ops: {"process", "type": invoke|ok|fail|info, "f", "value": [k, arg,
    result], "time"}; a completion of type "fail" with "applied": False is
    a conditional write the server did not apply (value[2] = the current
    value it returned, "?" if none); any other "fail" definitely did not
    happen and is dropped, as are reads that did not complete ok.  An
    invocation without completion is indeterminate."""
    pending = {}
    by_key = {}
    for idx, h in enumerate(history):
        if h.get("process") == "nemesis" or h.get("f") not in (
                "read", "write", "cas", "insert", "update"):
            continue
        if h["type"] == "invoke":
            pending[h["process"]] = (idx, h)
            continue
        got = pending.pop(h["process"], None)
        if got is None:
            continue
        _add(by_key, got, h)
    for got in pending.values():
        _add(by_key, got, None)
    out = {}
    for k, lst in by_key.items():
        out[k] = [o._replace(id=i) for i, o in enumerate(sorted(lst, key=lambda o: o.call))]
    return out


def _add(by_key, got, done):
    idx, inv = got
    k, arg = inv["value"][0], inv["value"][1]
    if isinstance(arg, list):
        arg = tuple(arg)
    f = inv["f"]
    typ = done["type"] if done else "info"
    if typ == "ok":
        applied, result, ret = True, (done["value"][2] if f == "read" else None), done["time"]
    elif typ == "fail" and done.get("applied") is False and f != "read":
        applied, result, ret = False, done["value"][2], done["time"]
    elif typ == "fail" or f == "read":
        return   # definitely did not happen / a read that returned nothing
    else:
        applied, result, ret = None, None, None
    by_key.setdefault(k, []).append(Op(0, f, arg, applied, result, inv["time"], ret,
                                       inv["process"], idx))
