"""
test_shell.py - basalt-shell against a real basaltd.

Interactive tests drive the shell in a terminal: a private tmux server
(its own socket in a temporary directory, so nothing is shared with other
tmux users) runs the shell in a pane; keys go in with send-keys and the
screen comes back with capture-pane.  Every wait polls the pane for the
expected text with a deadline; nothing sleeps for a fixed time to "let
things settle".  tearDown kills the tmux server, the harness kills the
basaltd it started.

Non-interactive tests run the shell as a subprocess (-e, -f, a pipe) and
check output, stderr and exit status.

The shell binary: --shell PATH, else $BASALT_SHELL, else
<basaltd's build dir>/../client/basalt-shell.

  python3 tests/integration/test_shell.py --basaltd build/node/basaltd \
      --shell build/client/basalt-shell
"""

import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SHELL = os.environ.get("BASALT_SHELL", "")


def _pop_shell_arg():
    global SHELL
    if "--shell" in sys.argv:
        i = sys.argv.index("--shell")
        SHELL = os.path.abspath(sys.argv[i + 1])
        del sys.argv[i:i + 2]


def _find_shell():
    if SHELL:
        return SHELL
    if harness.BASALTD:
        cand = os.path.join(os.path.dirname(os.path.dirname(harness.BASALTD)),
                            "client", "basalt-shell")
        if os.access(cand, os.X_OK):
            return cand
    raise AssertionError("basalt-shell not found beside basaltd "
                         "(build the basalt-shell target or pass --shell PATH)")


class Tmux(object):
    """A shell running in a pane of a private tmux server."""

    def __init__(self, argv, home, width=250, height=60):
        self.dir = tempfile.mkdtemp(prefix="basalt-shell-tmux-")
        self.sock = os.path.join(self.dir, "tmux.sock")
        self.width = width
        cmd = " ".join(_q(a) for a in ["env", "HOME=" + home, "TERM=xterm"] + argv)
        # keep the pane after the shell exits so its exit status can be
        # read; Ctrl-C goes to the whole foreground process group, this
        # sh included, which must outlive it (a trap, unlike an ignored
        # signal, is not inherited by the shell under test)
        script = "trap : INT; %s; echo \"[shell exited $?]\"; sleep 600" % cmd
        self._tmux("new-session", "-d", "-s", "t", "-x", str(width),
                   "-y", str(height), "sh", "-c", script)
        self._tmux("set-option", "-t", "t", "history-limit", "20000")

    def _tmux(self, *args):
        return subprocess.run(["tmux", "-S", self.sock] + list(args),
                              check=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE).stdout.decode("utf-8", "replace")

    def type(self, text):
        # tmux's own parser treats a trailing ';' as a command separator
        self._tmux("send-keys", "-t", "t", "-l", text.replace(";", "\\;"))

    def key(self, *keys):
        self._tmux("send-keys", "-t", "t", *keys)

    def line(self, text):
        self.type(text)
        self.key("Enter")

    def screen(self, history=True):
        args = ["capture-pane", "-p", "-J", "-t", "t"]
        if history:
            args += ["-S", "-20000"]
        return self._tmux(*args)

    def wait_for(self, pattern, timeout=15.0, history=True, count=1):
        """Polls the pane until `pattern` (a regex) occurs `count` times;
        returns the screen."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.screen(history)
            if len(re.findall(pattern, s, re.M)) >= count:
                return s
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %r; screen:\n%s"
                                     % (pattern, s[-4000:]))
            time.sleep(0.05)

    def kill(self):
        try:
            subprocess.run(["tmux", "-S", self.sock, "kill-server"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _q(s):
    return "'" + s.replace("'", "'\\''") + "'"


class ShellTest(harness.NodeTestCase):
    keyspace = "ks"

    @classmethod
    def setUpClass(cls):
        cls.shell = _find_shell()
        if not shutil.which("tmux"):  # a broken setup, not a reason to pass
            raise AssertionError("tmux is not installed (scripts/install-deps installs it)")
        super(ShellTest, cls).setUpClass()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="basalt-shell-test-")
        self.tm = None

    def tearDown(self):
        if self.tm:
            self.tm.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def base_argv(self):
        return [self.shell, "--host", self.node.host, "--port", str(self.node.port)]

    def run_shell(self, args, stdin=None, timeout=120):
        p = subprocess.run(self.base_argv() + args, input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8")

    def start_tmux(self, extra=()):
        self.tm = Tmux(self.base_argv() + list(extra), self.tmp)
        self.tm.wait_for(r"^basalt(:\w+)?> ")
        return self.tm

    # ------------------------------------------------------ interactive

    def test_type_statements_and_complete_table_name(self):
        self.session.execute("DROP TABLE IF EXISTS ks.users")
        tm = self.start_tmux()
        # a statement over two lines: the continuation prompt appears
        tm.line("CREATE TABLE ks.users (id int PRIMARY KEY,")
        tm.wait_for(r"^   \.\.\. ")
        tm.line("name text, tags set<text>);")
        tm.wait_for(r"^basalt> ", count=2)
        tm.line("USE ks;")
        tm.wait_for(r"^basalt:ks> ")
        tm.line("INSERT INTO users (id, name, tags) VALUES (7, 'Ann', {'b', 'a'});")
        tm.wait_for(r"^basalt:ks> ", count=2)
        # TAB completes the table name (the only one starting with "us")
        tm.type("SELECT * FROM us")
        tm.key("Tab")
        tm.wait_for(r"SELECT \* FROM users $")
        tm.line("WHERE id = 7;")
        s = tm.wait_for(r"^\(1 rows\)")
        self.assertRegex(s, r"(?m)^ id \| name \| tags\s*$")
        self.assertRegex(s, r"(?m)^----\+------\+------------$")
        self.assertRegex(s, r"(?m)^  7 \|  Ann \| \{'a', 'b'\}$")
        # column completion after WHERE, keyword completion in lower case
        tm.type("SELECT name FROM users WHERE i")
        tm.key("Tab")
        tm.wait_for(r"WHERE id $")
        tm.key("C-u")
        # EXPAND ON: vertical records
        tm.line("EXPAND ON")
        tm.wait_for(r"Now Expanded output is enabled")
        tm.line("SELECT * FROM users;")
        s = tm.wait_for(r"^\(1 rows\)", count=2)
        self.assertIn("@ Row 1\n------+------------\n id   | 7\n name | Ann\n tags | {'a', 'b'}\n", s)
        tm.line("EXPAND OFF")
        tm.wait_for(r"Disabled Expanded output")
        # errors as cqlsh shows them, the shell carries on
        tm.line("SELECT * FORM users;")
        tm.wait_for(r"SyntaxException: line 1:9 mismatched input 'FORM' expecting FROM")
        tm.line("SELECT * FROM nosuch;")
        tm.wait_for(r'InvalidRequest: Error from server: code=2200 \[Invalid query\] '
                    r'message="unconfigured table nosuch"')
        tm.line("CONSISTENCY QUORUM")
        tm.wait_for(r"Consistency level set to QUORUM\.")
        tm.line("EXIT")
        tm.wait_for(r"\[shell exited 0\]")
        # history persisted in ~/.basalt_history
        with open(os.path.join(self.tmp, ".basalt_history"), "rb") as f:
            hist = f.read().decode("utf-8", "replace")
        self.assertIn("CONSISTENCY", hist)
        self.assertIn("FROM\\040users\\040WHERE\\040id\\040=\\0407", hist)

    def test_ctrl_c_drops_input_and_ctrl_d_exits(self):
        tm = self.start_tmux()
        # half a line: Ctrl-C drops it and gives a fresh prompt
        tm.type("SELECT nonsense FROM")
        tm.key("C-c")
        tm.wait_for(r"^basalt> ", count=2)
        # half a statement over two lines: Ctrl-C drops both lines
        tm.line("SELECT release_version")
        tm.wait_for(r"^   \.\.\. ")
        tm.key("C-c")
        tm.wait_for(r"^basalt> ", count=3)
        # the shell is still connected and nothing of the dropped text
        # is left over to run with the next statement
        tm.line("SELECT cluster_name FROM system.local;")
        s = tm.wait_for(r"^\(1 rows\)")
        self.assertNotIn("SyntaxException", s)
        self.assertNotIn("nonsense", s.split("SELECT cluster_name")[1])
        # Ctrl-D on an empty line exits with status 0
        tm.wait_for(r"^basalt> ", count=4)
        tm.key("C-d")
        tm.wait_for(r"\[shell exited 0\]")

    def test_ctrl_c_stops_copy_from(self):
        n = 1000000
        self.session.execute("DROP TABLE IF EXISTS ks.cc")
        self.session.execute("CREATE TABLE ks.cc (k int PRIMARY KEY, v text)")
        src = os.path.join(self.tmp, "cc.csv")
        with open(src, "w") as f:
            f.writelines("%d,v%d\n" % (i, i) for i in range(n))
        tm = self.start_tmux(["-k", "ks"])
        tm.line("COPY cc (k, v) FROM '%s';" % src)
        # the first progress line (after ~1 s), then Ctrl-C
        tm.wait_for(r"Processed: \d+ rows", timeout=60)
        tm.key("C-c")
        s = tm.wait_for(r"Aborted by Ctrl-C after \d+ rows", timeout=60)
        done = int(re.search(r"Aborted by Ctrl-C after (\d+) rows", s).group(1))
        self.assertIn("%d rows imported" % done, s)
        self.assertGreater(done, 0)
        self.assertLess(done, n)
        # the shell goes on, and every row it counted is there: COPY
        # stopped sending and waited for the answers of what it had sent
        tm.wait_for(r"^basalt:ks> ", count=2)
        tm.line("SELECT k FROM cc WHERE k = 0;")
        tm.wait_for(r"^\(1 rows\)")
        got = sum(1 for _ in self.session.execute("SELECT k FROM ks.cc"))
        self.assertEqual(got, done)
        tm.line("EXIT")
        tm.wait_for(r"\[shell exited 0\]")

    def test_paging_with_more(self):
        self.session.execute("DROP TABLE IF EXISTS ks.nums")
        self.session.execute("CREATE TABLE ks.nums (k int, c int, v text, PRIMARY KEY (k, c))")
        ins = self.session.prepare("INSERT INTO ks.nums (k, c, v) VALUES (0, ?, ?)")
        for i in range(1, 251):
            self.session.execute(ins, (i, "v%03d" % i))
        tm = self.start_tmux(["-k", "ks"])
        tm.line("PAGING")
        tm.wait_for(r"Page size: 100")
        tm.line("SELECT c, v FROM nums;")
        s = tm.wait_for(r"^---MORE---")
        rows = re.findall(r"(?m)^ +(\d+) \| v\d{3}$", s)
        self.assertEqual([int(r) for r in rows], list(range(1, 101)))
        self.assertNotIn("(250 rows)", s)
        tm.key("Enter")
        s = tm.wait_for(r"^---MORE---", count=2)
        rows = re.findall(r"(?m)^ +(\d+) \| v\d{3}$", s)
        self.assertEqual([int(r) for r in rows], list(range(1, 201)))
        tm.key("Enter")
        s = tm.wait_for(r"^\(250 rows\)")
        rows = re.findall(r"(?m)^ +(\d+) \| v\d{3}$", s)
        self.assertEqual([int(r) for r in rows], list(range(1, 251)))
        # each page has its own header
        self.assertEqual(len(re.findall(r"(?m)^ c +\| v$", s)), 3)
        # Ctrl-C at ---MORE--- stops the paging at the rows shown; the
        # shell goes on
        tm.line("SELECT c, v FROM nums WHERE k = 0 AND c > 0;")
        tm.wait_for(r"^---MORE---", count=3)
        tm.key("C-c")
        s = tm.wait_for(r"^\(100 rows\)")
        tm.wait_for(r"^basalt:ks> ", count=4)
        self.assertEqual(s.count("---MORE---"), 3)
        # PAGING OFF: everything at once
        tm.line("PAGING OFF")
        tm.wait_for(r"Disabled Query paging")
        tm.line("SELECT c, v FROM nums WHERE k = 0 AND c > 100;")
        s = tm.wait_for(r"^\(150 rows\)")
        self.assertEqual(s.count("---MORE---"), 3)
        tm.line("QUIT")
        tm.wait_for(r"\[shell exited 0\]")

    def test_describe_and_recreate(self):
        self.session.execute("DROP TABLE IF EXISTS ks.ev")
        self.session.execute(
            "CREATE TABLE ks.ev (\"Src\" text, b int, kind text, ts timestamp, "
            "val map<text, int>, st int static, l frozen<list<tuple<int, text>>>, "
            "PRIMARY KEY ((\"Src\", b), kind, ts)) "
            "WITH CLUSTERING ORDER BY (kind ASC, ts DESC) AND comment = 'it''s' "
            "AND gc_grace_seconds = 100 AND default_time_to_live = 3600 "
            "AND caching = {'keys': 'NONE', 'rows_per_partition': '10'}")
        tm = self.start_tmux(["-k", "ks"])

        def describe(n):
            tm.line("DESCRIBE TABLE ev")
            # DESCRIBE's output starts at the beginning of a line (the
            # statement typed back in follows a prompt)
            block = r"(?ms)^CREATE TABLE ks\.ev \(.*?;$"
            s = tm.wait_for(block, count=n)
            return re.findall(block, s)[n - 1]

        before = describe(1)
        self.assertIn('PRIMARY KEY (("Src", b), kind, ts)', before)
        self.assertIn("WITH CLUSTERING ORDER BY (kind ASC, ts DESC)", before)
        self.assertIn("st int static,", before)
        self.assertIn("AND comment = 'it''s'", before)
        self.assertIn("AND default_time_to_live = 3600", before)
        self.assertIn("AND caching = {'keys': 'NONE', 'rows_per_partition': '10'}", before)
        tm.line("DROP TABLE ev;")
        tm.wait_for(r"^basalt:ks> ", count=3)
        tm.line("DESCRIBE TABLE ev")
        tm.wait_for(r"'ev' not found in keyspace 'ks'")
        # run the printed CQL back, line by line as a person pastes it
        for ln in before.split("\n"):
            tm.line(ln)
        tm.wait_for(r"^basalt:ks> ", count=5)
        after = describe(2)
        self.assertEqual(before, after)
        tm.key("C-d")  # end of input leaves the shell too
        tm.wait_for(r"\[shell exited 0\]")
        # the recreated table works
        self.session.execute("INSERT INTO ks.ev (\"Src\", b, kind, ts, st) "
                             "VALUES ('s', 1, 'k', 0, 5)")
        self.assertEqual(self.session.execute(
            "SELECT st FROM ks.ev WHERE \"Src\" = 's' AND b = 1").one().st, 5)

    # --------------------------------------------------- non-interactive

    def test_execute_file_pipe_and_exit_codes(self):
        rc, out, err = self.run_shell(["-e", "CREATE TABLE IF NOT EXISTS ks.kv (k text PRIMARY KEY, v int);"
                                             "INSERT INTO ks.kv (k, v) VALUES ('a', 1);"
                                             "SELECT * FROM ks.kv WHERE k = 'a';"])
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("\n k | v\n---+---\n a | 1\n\n(1 rows)\n", out)
        rc, out, err = self.run_shell(["-e", "SELECT * FROM ks.missing"])
        self.assertEqual(rc, 2)
        self.assertIn('InvalidRequest: Error from server: code=2200 [Invalid query] '
                      'message="unconfigured table missing"', err)
        rc, out, err = self.run_shell(["-e", "SELEC 1"])
        self.assertEqual(rc, 2)
        self.assertRegex(err, r"^SyntaxException: line 1:0 ")
        # -f: a multi-line script with comments, a batch and a shell command
        script = os.path.join(self.tmp, "s.cql")
        with open(script, "w") as f:
            f.write("-- setup\nUSE ks;\nBEGIN BATCH\n"
                    "  INSERT INTO kv (k, v) VALUES ('b', 2);\n"
                    "  INSERT INTO kv (k, v) VALUES ('c;', 3);\n"
                    "APPLY BATCH;\n/* block; comment */\n"
                    "CONSISTENCY\n"
                    "SELECT k, v FROM kv\n WHERE k IN ('b', 'c;');\n")
        rc, out, err = self.run_shell(["-f", script])
        self.assertEqual((rc, err), (0, ""))
        self.assertIn("Current consistency level is ONE.", out)
        self.assertIn("  b | 2\n", out)
        self.assertIn(" c; | 3\n", out)
        self.assertIn("(2 rows)", out)
        # a failing statement in the middle: the rest still runs, status 2
        with open(script, "w") as f:
            f.write("INSERT INTO ks.kv (k, v) VALUES ('d', 'x');\n"
                    "SELECT v FROM ks.kv WHERE k = 'a';\n")
        rc, out, err = self.run_shell(["-f", script])
        self.assertEqual(rc, 2)
        self.assertIn("InvalidRequest: Error from server: code=2200", err)
        self.assertIn("(1 rows)", out)
        # statements from a pipe, SOURCE inside
        rc, out, err = self.run_shell([], stdin=("SOURCE '%s'\nDESCRIBE KEYSPACES\n" % script).encode())
        self.assertEqual(rc, 2)
        self.assertRegex(out, r"\bks\b.*\bsystem_schema\b")
        rc, out, err = self.run_shell(["-k", "ks"], stdin=b"SELECT count(*) FROM kv;\n")
        self.assertEqual((rc, err), (0, ""))
        self.assertRegex(out, r"(?m)^ +3$")
        # usage and connection errors: status 1
        rc, out, err = self.run_shell(["-f", os.path.join(self.tmp, "nope.cql")])
        self.assertEqual(rc, 1)
        self.assertIn("Could not open", err)
        rc, out, err = self.run_shell(["-k", "nosuchks", "-e", "SELECT 1"])
        self.assertEqual(rc, 1)
        self.assertIn("Keyspace 'nosuchks' does not exist", err)
        p = subprocess.run([self.shell, "--host", self.node.host, "--port", "1", "-e", "x"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"Connection error", p.stderr)

    def test_copy_round_trip_100k(self):
        n = 100000
        self.session.execute("DROP TABLE IF EXISTS ks.big")
        self.session.execute(
            "CREATE TABLE ks.big (p int, c int, t text, d double, ts timestamp, "
            "u uuid, b blob, l list<text>, m map<text, int>, dec decimal, "
            "PRIMARY KEY (p, c))")
        # the initial data: a CSV loaded with COPY FROM (tricky text included)
        rnd = random.Random(42)
        src = os.path.join(self.tmp, "src.csv")
        with open(src, "w", newline="") as f:
            for i in range(n):
                t = rnd.choice(["plain", "with, comma", 'say "hi"', "two\nlines", "", "é ü 日本"])
                t = '"' + t.replace('"', '""') + '"' if t != "plain" else t
                d = repr(rnd.uniform(-1e6, 1e6)) if i % 10 else ""
                f.write("%d,%d,%s,%s,%s,%s,0x%s,\"['x''%d', 'y']\",\"{'k': %d}\",%d.%02d\n" % (
                    i % 1000, i, t, d, 1500000000000 + i * 1000,
                    "%08x-0000-4000-8000-%012x" % (i, i), "%06x" % i, i, i, i, i % 100))
        rc, out, err = self.run_shell(["-e", "COPY ks.big (p, c, t, d, ts, u, b, l, m, dec) "
                                             "FROM '%s'" % src])
        self.assertEqual((rc, err), (0, ""), out)
        self.assertIn("%d rows imported" % n, out)

        def checksum():
            rc, out, err = self.run_shell(["-e", "SELECT * FROM ks.big"])
            self.assertEqual((rc, err), (0, ""))
            self.assertIn("(%d rows)" % n, out)
            return hashlib.sha256(out.encode()).hexdigest()

        before = checksum()
        exp = os.path.join(self.tmp, "export.csv")
        rc, out, err = self.run_shell(["-e", "COPY ks.big TO '%s' WITH HEADER = true" % exp])
        self.assertEqual((rc, err), (0, ""))
        m = re.search(r"(\d+) rows exported to 1 files in ([\d.]+) seconds \((\d+) rows/s\)", out)
        self.assertIsNotNone(m, out)
        self.assertEqual(int(m.group(1)), n)
        sys.stderr.write("\n  COPY TO:   %s rows in %s s (%s rows/s)\n" % m.groups())
        with open(exp) as f:
            self.assertEqual(f.readline(), "p,c,b,d,dec,l,m,t,ts,u\n")
        rc, out, err = self.run_shell(["-e", "TRUNCATE ks.big; SELECT count(*) FROM ks.big"])
        self.assertEqual((rc, err), (0, ""))
        self.assertRegex(out, r"(?m)^ +0$")
        rc, out, err = self.run_shell(["-e", "COPY ks.big FROM '%s' WITH HEADER = true" % exp])
        self.assertEqual((rc, err), (0, ""))
        m = re.search(r"(\d+) rows imported from 1 files in ([\d.]+) seconds "
                      r"\(0 skipped; (\d+) rows/s\)", out)
        self.assertIsNotNone(m, out)
        self.assertEqual(int(m.group(1)), n)
        sys.stderr.write("  COPY FROM: %s rows in %s s (%s rows/s)\n" % m.groups())
        self.assertEqual(checksum(), before)
        # spot check through another client
        r = self.session.execute("SELECT t, l, m FROM ks.big WHERE p = 3 AND c = 3").one()
        self.assertEqual((r.l, r.m), (["x'3", "y"], {"k": 3}))

    def test_copy_from_bad_records(self):
        self.session.execute("CREATE TABLE IF NOT EXISTS ks.small (k int PRIMARY KEY, v int)")
        path = os.path.join(self.tmp, "bad.csv")
        with open(path, "w") as f:
            f.write("1,10\nx,20\n3\n4,40\n\"5\"x,50\n")
        rc, out, err = self.run_shell(["-e", "COPY ks.small FROM '%s'" % path])
        self.assertEqual(rc, 2)
        self.assertIn("2 rows imported from 1 files", out)
        self.assertIn("(3 skipped;", out)
        self.assertIn("line 2: column k: ", err)
        self.assertIn("line 3: expected 2 values, got 1", err)
        self.assertIn("malformed CSV record at line 5", err)
        got = sorted(tuple(r) for r in self.session.execute("SELECT k, v FROM ks.small"))
        self.assertEqual(got, [(1, 10), (4, 40)])


if __name__ == "__main__":
    _pop_shell_arg()
    harness.main()
