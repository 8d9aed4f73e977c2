"""cleanup.py - removes namespaces/veths left by jepsen runs whose runner
process no longer exists (see net.cleanup_stale).  Safe to run any time:
runs in progress are left alone."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import net  # noqa: E402

if __name__ == "__main__":
    done = net.cleanup_stale()
    print("cleaned subnets: %s" % (done or "none"))
