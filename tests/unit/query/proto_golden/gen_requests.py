#!/usr/bin/python3
"""Writes golden request frames encoded by the REAL python driver.

Run with Debian's python3-cassandra (/usr/lib/python3/dist-packages):
    /usr/bin/python3 tests/unit/query/proto_golden/gen_requests.py
It (re)creates the *.bin files beside this script; test_proto.c decodes
each one with the C server-side decoder and checks every field, so the
values below must match the expectations there.
"""
import os
import sys

from cassandra import ConsistencyLevel
from cassandra.protocol import (AuthResponseMessage, BatchMessage,
                                ExecuteMessage, OptionsMessage,
                                PrepareMessage, ProtocolHandler,
                                QueryMessage, RegisterMessage,
                                StartupMessage, _UNSET_VALUE)
from cassandra.query import BatchType

HERE = os.path.dirname(os.path.abspath(__file__))


def frame(msg, stream, version=4):
    return ProtocolHandler.encode_message(msg, stream, version, None, False)


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
    print("%-22s %5d bytes" % (name, len(data)))


def main():
    write("startup.bin", frame(StartupMessage(
        cqlversion="3.4.5",
        options={"COMPRESSION": "lz4", "DRIVER_NAME": "DataStax Python Driver",
                 "DRIVER_VERSION": "3.25.0"}), 1))
    write("startup_v5.bin", frame(StartupMessage(cqlversion="3.4.5", options={}), 7, 5))
    write("startup_v3.bin", frame(StartupMessage(cqlversion="3.4.5", options={}), 9, 3))
    write("options.bin", frame(OptionsMessage(), 0))

    q = QueryMessage("SELECT * FROM ks.t WHERE k = 'x'", ConsistencyLevel.LOCAL_QUORUM,
                     serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
                     fetch_size=100, paging_state=b"\x01\x02\x03",
                     timestamp=1234567890123456)
    write("query.bin", frame(q, 5))

    # The driver inlines SimpleStatement parameters, but its encoder writes
    # positional values whenever query_params is set: use that for QUERY
    # with values (int 42, null, not set, text).
    qv = QueryMessage("INSERT INTO ks.t (a, b, c, d) VALUES (?, ?, ?, ?)",
                      ConsistencyLevel.ONE)
    qv.query_params = [b"\x00\x00\x00\x2a", None, _UNSET_VALUE,
                       "h\u00e9llo".encode("utf-8")]
    qv.custom_payload = {"k1": b"v1"}
    write("query_values.bin", frame(qv, 6))

    ex = ExecuteMessage(b"\xde\xad\xbe\xef\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b",
                        [b"\x00\x00\x00\x07", b"", None],
                        ConsistencyLevel.QUORUM, fetch_size=5000,
                        skip_meta=True, timestamp=42)
    write("execute.bin", frame(ex, 300))

    b = BatchMessage(BatchType.UNLOGGED,
                     [(False, "INSERT INTO ks.t (k, v) VALUES (?, ?)", [b"a", None]),
                      (True, b"\x01\x02", [b"xyz"]),
                      (False, "DELETE FROM ks.t WHERE k = 'z'", [])],
                     ConsistencyLevel.TWO,
                     serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
                     timestamp=1700000000000000)
    write("batch.bin", frame(b, 11))

    write("register.bin", frame(RegisterMessage(
        ["TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE"]), 2))
    write("prepare.bin", frame(PrepareMessage("INSERT INTO ks.t (k, v) VALUES (?, ?)"), 3))
    write("auth_response.bin", frame(AuthResponseMessage(b"\x00cassandra\x00cassandra"), 4))
    return 0


if __name__ == "__main__":
    sys.exit(main())
