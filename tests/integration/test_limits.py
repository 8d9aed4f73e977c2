"""
test_limits.py - the CQL transport's protective limits against a real
basaltd (issue 19, finding 3: "frames reserve memory before it arrives").

- 1,000 connections each announcing a 16 MiB frame (header only, then a
  few body bytes): the node's virtual memory stays bounded (read from
  /proc/PID/status; before the fix each announcement reserved 16 MiB,
  ~16 GB in all), and the node still answers.
- native_transport_max_concurrent_connections_per_ip: the connection over
  the limit gets OVERLOADED "Too many connections from ..." on its first
  frame; another client address is still served.
- native_transport_frame_timeout: a half-sent frame gets the connection
  closed by the node; a complete frame keeps it open.  So does a frame
  over native_transport_max_frame_size whose body (discarded as it
  arrives, after the ProtocolError) trickles in: before the fix the
  discarding connection never timed out.
- native_transport_startup_timeout: a connection that sends nothing, or
  only OPTIONS, is closed once the timeout passes without STARTUP; a
  started connection stays open.
- native_transport_max_request_data_in_flight: pipelined QUERYs over the
  budget are answered OVERLOADED naming the key, and the others succeed.
"""
import socket
import struct
import time
import unittest

import harness
from harness import Node

OP_ERROR, OP_STARTUP, OP_READY, OP_OPTIONS, OP_QUERY, OP_SUPPORTED, OP_RESULT = (
    0x00, 0x01, 0x02, 0x05, 0x07, 0x06, 0x08)
ERR_OVERLOADED = 0x1001


def frame(stream, opcode, body):
    return struct.pack(">BBhBI", 4, 0, stream, opcode, len(body)) + body


def startup_body():
    kv = [(b"CQL_VERSION", b"3.0.0")]
    out = struct.pack(">H", len(kv))
    for k, v in kv:
        out += struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v
    return out


def query_body(q):
    q = q.encode()
    return struct.pack(">I", len(q)) + q + struct.pack(">HB", 1, 0)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_frame(s):
    h = recv_exact(s, 9)
    _, _, stream, op, ln = struct.unpack(">BBhBI", h)
    return stream, op, recv_exact(s, ln)


def error_of(body):
    code = struct.unpack(">i", body[:4])[0]
    ln = struct.unpack(">H", body[4:6])[0]
    return code, body[6:6 + ln].decode()


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))


def closed_by_peer(s, timeout):
    """True once the peer closes s (EOF or reset) within timeout seconds."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


class LimitsTest(unittest.TestCase):
    def tearDown(self):
        for s in getattr(self, "socks", []):
            s.close()
        if getattr(self, "node", None):
            self.node.cleanup()

    def start(self, **extra):
        self.socks = []
        self.node = Node(extra=extra).start()
        return self.node

    def connect(self, source=None):
        s = socket.create_connection((self.node.host, self.node.port), 10,
                                     source_address=(source, 0) if source else None)
        self.socks.append(s)
        return s

    def started(self, source=None):
        s = self.connect(source)
        s.sendall(frame(1, OP_STARTUP, startup_body()))
        _, op, body = read_frame(s)
        self.assertEqual(op, OP_READY, body)
        return s

    def test_announced_frames_reserve_nothing(self):
        n = self.start(**{"native-transport-frame-timeout": "0ms"})
        pid = n.proc.pid
        self.started()  # warm: the loops have run once
        vm0 = vm_kib(pid, "VmSize")
        conns = 1000
        for _ in range(conns):
            s = self.connect()
            s.sendall(struct.pack(">BBhBI", 4, 0, 1, OP_QUERY, 16 << 20) + b"\0" * 16)
        # every connection's header has reached the node once a fresh
        # connection on each loop has been answered after them
        for _ in range(4):
            s = self.connect()
            s.sendall(frame(0, OP_OPTIONS, b""))
            _, op, _ = read_frame(s)
            self.assertEqual(op, OP_SUPPORTED)
        vm1, rss1 = vm_kib(pid, "VmSize"), vm_kib(pid, "VmRSS")
        grew_mib = (vm1 - vm0) / 1024.0
        print("VmSize %d -> %d KiB (+%.0f MiB) with %d connections announcing 16 MiB; "
              "VmRSS %d KiB" % (vm0, vm1, grew_mib, conns, rss1))
        # 16 MiB each would be 16,000 MiB; 64 KiB read buffers are 63 MiB
        self.assertLess(grew_mib, 1024, "announced frames reserved memory")
        self.assertTrue(n.alive())

    def test_connections_per_ip(self):
        self.start(**{"native-transport-max-concurrent-connections-per-ip": 3})
        here = self.node.host
        for _ in range(3):
            self.started(source=here)
        extra = self.connect(source=here)
        extra.sendall(frame(7, OP_OPTIONS, b""))
        stream, op, body = read_frame(extra)
        self.assertEqual((stream, op), (7, OP_ERROR))
        code, msg = error_of(body)
        self.assertEqual(code, ERR_OVERLOADED, msg)
        self.assertIn("Too many connections from %s" % here, msg)
        self.assertIn("native_transport_max_concurrent_connections_per_ip = 3", msg)
        self.assertTrue(closed_by_peer(extra, 30))
        # another client address is served
        other = harness._pick_host()
        self.started(source=other)
        # a closed connection frees its place
        self.socks[0].close()
        for _ in range(100):
            s = self.connect(source=here)
            s.sendall(frame(1, OP_STARTUP, startup_body()))
            _, op, body = read_frame(s)
            if op == OP_READY:
                break
            self.assertEqual(error_of(body)[0], ERR_OVERLOADED)
            time.sleep(0.05)
        self.assertEqual(op, OP_READY)

    def test_half_sent_frame_times_out(self):
        self.start(**{"native-transport-frame-timeout": "1000ms"})
        whole = self.started()
        half = self.started()
        body = query_body("SELECT release_version FROM system.local")
        f = frame(2, OP_QUERY, body)
        half.sendall(f[:len(f) - 5])
        self.assertTrue(closed_by_peer(half, 60), "a half-sent frame was kept")
        # the complete connection is still served
        whole.sendall(f)
        _, op, rbody = read_frame(whole)
        self.assertEqual(op, OP_RESULT, rbody)
        log = self.node.log()
        self.assertIn("not completed within 1000 ms", log)

    def test_connection_without_startup_times_out(self):
        self.start(**{"native-transport-startup-timeout": "1000ms"})
        whole = self.started()
        silent = self.connect()
        options_only = self.connect()
        options_only.sendall(frame(0, OP_OPTIONS, b""))
        _, op, _ = read_frame(options_only)
        self.assertEqual(op, OP_SUPPORTED)
        self.assertTrue(closed_by_peer(silent, 60), "a silent connection was kept")
        self.assertTrue(closed_by_peer(options_only, 60),
                        "a connection without STARTUP was kept")
        # the started connection is still served
        whole.sendall(frame(2, OP_QUERY, query_body("SELECT release_version FROM system.local")))
        _, op, rbody = read_frame(whole)
        self.assertEqual(op, OP_RESULT, rbody)
        log = self.node.log()
        self.assertIn("no STARTUP within 1000 ms (nothing received; "
                      "native_transport_startup_timeout)", log)
        self.assertIn("no STARTUP within 1000 ms (no STARTUP frame", log)

    def test_idle_connection_times_out(self):
        self.start(**{"native-transport-idle-timeout": "1000ms"})
        idle = self.started()
        self.assertTrue(closed_by_peer(idle, 60), "an idle started connection was kept")
        harness.wait_for(lambda: "native_transport_idle_timeout); closing it" in self.node.log(),
                         10, "idle close logged")
        # a new connection is served
        s = self.started()
        s.sendall(frame(2, OP_QUERY, query_body("SELECT release_version FROM system.local")))
        _, op, rbody = read_frame(s)
        self.assertEqual(op, OP_RESULT, rbody)

    def test_oversize_body_trickle_times_out(self):
        self.start(**{"native-transport-frame-timeout": "1000ms",
                      "native-transport-max-frame-size": "1MiB"})
        s = self.started()
        s.sendall(struct.pack(">BBhBI", 4, 0, 5, OP_QUERY, 2 << 20))
        stream, op, body = read_frame(s)
        self.assertEqual((stream, op), (5, OP_ERROR))
        self.assertIn("Request is too big", error_of(body)[1])
        # trickle the announced body: 64 bytes every 100 ms (about 6 KB of
        # 2 MiB in 10 s) until the node closes the connection
        s.settimeout(0.1)
        closed = False
        deadline = time.monotonic() + 30
        while not closed and time.monotonic() < deadline:
            try:
                s.sendall(b"\0" * 64)
                closed = s.recv(4096) == b""
            except socket.timeout:
                pass
            except (ConnectionResetError, BrokenPipeError):
                closed = True
        self.assertTrue(closed, "a trickled oversize body kept its connection for 30 s")
        self.assertIn("not completed within 1000 ms", self.node.log())
        self.assertTrue(self.node.alive())

    def test_request_bytes_in_flight(self):
        self.start(**{"native-transport-max-request-data-in-flight": "4KiB"})
        s = self.started()
        n = 64
        body = query_body("SELECT release_version FROM system.local WHERE key = 'local'" +
                          " " * 1500)
        s.sendall(b"".join(frame(i + 10, OP_QUERY, body) for i in range(n)))
        ok = over = 0
        msg = ""
        for _ in range(n):
            _, op, rbody = read_frame(s)
            if op == OP_RESULT:
                ok += 1
            else:
                self.assertEqual(op, OP_ERROR)
                code, msg = error_of(rbody)
                self.assertEqual(code, ERR_OVERLOADED, msg)
                over += 1
        print("%d answered, %d overloaded" % (ok, over))
        self.assertGreater(ok, 0)
        self.assertGreater(over, 0)
        self.assertIn("native_transport_max_request_data_in_flight", msg)
        # the connection is still usable afterwards
        s.sendall(frame(3, OP_QUERY, body))
        _, op, _ = read_frame(s)
        self.assertEqual(op, OP_RESULT)


if __name__ == "__main__":
    harness.main()
