"""
wanproxy.py - the transparent TCP delay proxy of the emulated WAN (wan.py).

Runs inside the router namespace.  nftables there redirects every TCP
connection between two data centres to this process's port; for each one
it reads the original destination (getsockopt SO_ORIGINAL_DST), connects
onward to it, and copies bytes both ways.  Every chunk read from one side
is written to the other side `delay_ms` +- `jitter_ms` (uniform) later; a
chunk is never written before the one read before it, so the byte stream
keeps its order and a jittered chunk only holds back those behind it.

Delay, jitter and the buffer limit come from a JSON file (--config),
re-read on SIGHUP: the test bed changes the delay of a running cluster
without breaking its connections (chunks already queued keep their time).

    {"delay_ms": 50, "jitter_ms": 2, "max_buffer": 4194304}

Back-pressure: while more than max_buffer bytes of one direction wait in
the queue, the proxy stops reading that side (TCP flow control then slows
the sender), so a slow or cut link does not grow the proxy's memory.

On SIGUSR1 it writes {"seq": n, "delivered_bytes": {address: bytes}} to
--stats: the bytes it delivered to each peer address, i.e. into that
peer's DC (payload bytes, without TCP/IP headers).

The log (stdout) has one line per connection: "conn SRC -> DST" when it
is accepted, "fail SRC -> DST: why" when the onward connect fails, so a
test can see which connections crossed the WAN.  Bandwidth is not limited
here: tbf on the router's links to each DC does that (wan.py).
"""

import argparse
import asyncio
import collections
import json
import os
import random
import signal
import socket
import struct
import sys

SO_ORIGINAL_DST = 80


class Config(object):
    def __init__(self, path):
        self.path = path
        self.delay = 0.0
        self.jitter = 0.0
        self.max_buffer = 4 << 20
        self.load()

    def load(self):
        with open(self.path) as f:
            c = json.load(f)
        self.delay = max(0.0, float(c.get("delay_ms", 0)) / 1000.0)
        self.jitter = max(0.0, float(c.get("jitter_ms", 0)) / 1000.0)
        self.max_buffer = int(c.get("max_buffer", self.max_buffer))
        print("config delay_ms=%g jitter_ms=%g" % (self.delay * 1000, self.jitter * 1000),
              flush=True)


def original_dst(sock):
    raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port = struct.unpack_from("!H", raw, 2)[0]
    ip = socket.inet_ntoa(raw[4:8])
    return ip, port


# bytes written to each peer address (i.e. delivered into that peer's DC),
# dumped as JSON to --stats on SIGUSR1
DELIVERED = collections.Counter()


class Direction(object):
    """One direction of a proxied connection: reader -> delay queue -> writer."""
    def __init__(self, cfg, reader, writer, rng):
        peer = writer.get_extra_info("peername")
        self.to = peer[0] if peer else "?"
        self.cfg = cfg
        self.reader = reader
        self.writer = writer
        self.rng = rng
        self.q = collections.deque()
        self.queued = 0
        self.last_due = 0.0
        self.wake = asyncio.Event()
        self.room = asyncio.Event()
        self.room.set()
        self.eof = False

    def due(self, now):
        d = self.cfg.delay
        if self.cfg.jitter:
            d = max(0.0, d + self.rng.uniform(-self.cfg.jitter, self.cfg.jitter))
        # never before the chunk ahead of it: the stream keeps its order
        self.last_due = max(now + d, self.last_due)
        return self.last_due

    async def read_loop(self):
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self.room.wait()
                data = await self.reader.read(65536)
                if not data:
                    break
                self.q.append((self.due(loop.time()), data))
                self.queued += len(data)
                if self.queued > self.cfg.max_buffer:
                    self.room.clear()
                self.wake.set()
        finally:
            self.eof = True
            self.wake.set()

    async def write_loop(self):
        loop = asyncio.get_running_loop()
        while True:
            if not self.q:
                if self.eof:
                    break
                self.wake.clear()
                await self.wake.wait()
                continue
            due, data = self.q[0]
            # asyncio may wake a timer a clock tick early: never deliver early
            while due - loop.time() > 0:
                await asyncio.sleep(due - loop.time())
            self.q.popleft()
            self.queued -= len(data)
            if self.queued <= self.cfg.max_buffer:
                self.room.set()
            self.writer.write(data)
            DELIVERED[self.to] += len(data)
            await self.writer.drain()
        if self.writer.can_write_eof():
            self.writer.write_eof()


async def _close(w):
    try:
        w.close()
        await w.wait_closed()
    except Exception:
        pass


async def handle(cfg, rng, reader, writer):
    sock = writer.get_extra_info("socket")
    peer = writer.get_extra_info("peername")
    src = "%s:%d" % (peer[0], peer[1]) if peer else "?"
    try:
        ip, port = original_dst(sock)
    except OSError as e:
        print("fail %s -> ?: no original destination (%s)" % (src, e), flush=True)
        await _close(writer)
        return
    dst = "%s:%d" % (ip, port)
    try:
        r2, w2 = await asyncio.wait_for(asyncio.open_connection(ip, port), 10)
    except (OSError, asyncio.TimeoutError) as e:
        print("fail %s -> %s: %s" % (src, dst, type(e).__name__), flush=True)
        await _close(writer)
        return
    print("conn %s -> %s" % (src, dst), flush=True)
    for s in (sock, w2.get_extra_info("socket")):
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
    dirs = [Direction(cfg, reader, w2, rng), Direction(cfg, r2, writer, rng)]
    tasks = [asyncio.ensure_future(t) for d in dirs for t in (d.read_loop(), d.write_loop())]
    try:
        # a reset or error on either side ends the whole connection; a clean
        # EOF only ends its direction (half-close is passed on)
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            if any(t.exception() is not None for t in done if not t.cancelled()):
                break
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await _close(writer)
        await _close(w2)


async def main_async(a):
    cfg = Config(a.config)
    rng = random.Random(a.seed)
    loop = asyncio.get_running_loop()

    def reload():
        try:
            cfg.load()
        except (OSError, ValueError) as e:
            print("config reload failed: %s" % e, flush=True)
    loop.add_signal_handler(signal.SIGHUP, reload)
    seq = [0]

    def dump():
        seq[0] += 1
        if a.stats:
            with open(a.stats + ".tmp", "w") as f:
                json.dump({"seq": seq[0], "delivered_bytes": dict(DELIVERED)}, f)
            os.rename(a.stats + ".tmp", a.stats)
    loop.add_signal_handler(signal.SIGUSR1, dump)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    srv = await asyncio.start_server(lambda r, w: handle(cfg, rng, r, w),
                                     "0.0.0.0", a.port, reuse_address=True, backlog=512)
    print("listening on %d" % a.port, flush=True)
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write("ready\n")
    async with srv:
        await stop.wait()


def main(argv=None):
    p = argparse.ArgumentParser(description="transparent TCP delay proxy (see wan.py)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ready-file", default=None)
    p.add_argument("--stats", default=None,
                   help="on SIGUSR1, write the bytes delivered to each peer address here")
    a = p.parse_args(argv)
    asyncio.run(main_async(a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
