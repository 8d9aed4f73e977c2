"""
influx_ref.py - InfluxDB 1.6 (Debian's `influxd`) as the reference the
time-series endpoint is compared with.

RefInflux starts its own influxd with a config and data directory of its
own in a temporary directory, on a loopback address picked like the
harness picks node addresses (never 127.0.0.1:8086, where a quickstart
node would be), and removes everything on stop(), at exit, and when the
test process dies (PDEATHSIG).  A test that needs the reference fails
(never skips) when influxd is missing: scripts/install-deps installs it.
"""
import atexit
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import harness

INFLUXD = os.environ.get("INFLUXD", "/usr/bin/influxd")

_LIVE = []


class RefInflux(object):
    def __init__(self):
        if not os.access(INFLUXD, os.X_OK):
            raise AssertionError("influxd not found at %s: run scripts/install-deps" % INFLUXD)
        self.host = harness._pick_host()
        self.port = harness._free_port(self.host)
        self.rpc_port = harness._free_port(self.host)
        self.base = tempfile.mkdtemp(prefix="basalt-influx-%d-" % os.getpid())
        self.proc = None
        conf = os.path.join(self.base, "influxdb.conf")
        with open(conf, "w") as f:
            f.write('reporting-disabled = true\n'
                    'bind-address = "%s:%d"\n'
                    '[meta]\n  dir = "%s/meta"\n'
                    '[data]\n  dir = "%s/data"\n  wal-dir = "%s/wal"\n'
                    '  query-log-enabled = false\n'
                    '[http]\n  bind-address = "%s:%d"\n  log-enabled = false\n'
                    '[monitor]\n  store-enabled = false\n'
                    '[continuous_queries]\n  enabled = false\n'
                    % (self.host, self.rpc_port, self.base, self.base, self.base,
                       self.host, self.port))
        self.conf = conf
        _LIVE.append(self)

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def start(self, timeout=30.0):
        log = open(os.path.join(self.base, "influxd.log"), "ab")
        self.proc = subprocess.Popen([INFLUXD, "-config", self.conf], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=harness._pdeathsig, close_fds=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("influxd exited at start: %s" % self.log_tail())
            try:
                urllib.request.urlopen(self.url + "/ping", timeout=1).read()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("influxd did not answer /ping: %s" % self.log_tail())
                time.sleep(0.1)

    def log_tail(self):
        try:
            with open(os.path.join(self.base, "influxd.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)
        if self in _LIVE:
            _LIVE.remove(self)


@atexit.register
def _cleanup():
    for r in list(_LIVE):
        r.stop()


def http(base, method, path, params=None, body=None, headers=None):
    """(status, parsed JSON or raw text, headers) of one request."""
    url = base + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, data, hdrs = r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        status, data, hdrs = e.code, e.read(), dict(e.headers)
    try:
        return status, json.loads(data) if data else None, hdrs
    except ValueError:
        return status, data.decode("utf-8", "replace"), hdrs


def query(base, q, db=None, **extra):
    params = {"q": q}
    if db:
        params["db"] = db
    params.update(extra)
    return http(base, "POST", "/query", params)
