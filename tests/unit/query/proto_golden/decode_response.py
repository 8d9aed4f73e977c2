#!/usr/bin/python3
"""Decodes response frames with the REAL python driver and prints them.

Usage: decode_response.py FRAME_FILE...
Each file holds one complete response frame (header + body) written by
the C encoder (test_proto_interop.c).  For each, one line is printed:
    <file basename>: <canonical description>
using only what the driver's own decoder (cassandra.protocol) produced,
so the C test can compare it with what it encoded.  Exit status 1 when
the driver fails to decode a frame.
"""
import os
import struct
import sys

from cassandra.protocol import (AuthenticateMessage, ErrorMessage, EventMessage,
                                ProtocolHandler, ReadyMessage, ResultMessage,
                                SupportedMessage)


def typename(t):
    return t.cql_parameterized_type()


def describe(msg):
    if isinstance(msg, ErrorMessage):
        info = msg.info
        if isinstance(info, dict):
            info = ",".join("%s=%r" % (k, info[k]) for k in sorted(info))
        return "%s code=0x%04x msg=%r info=%s" % (type(msg).__name__, msg.code, msg.message, info)
    if isinstance(msg, ReadyMessage):
        return "READY"
    if isinstance(msg, AuthenticateMessage):
        return "AUTHENTICATE %s" % msg.authenticator
    if isinstance(msg, SupportedMessage):
        # the driver pops CQL_VERSION (KeyError if a server omits it)
        opts = msg.options
        return "SUPPORTED cql_versions=%s %s" % (
            ",".join(msg.cql_versions),
            ";".join("%s=%s" % (k, ",".join(opts[k])) for k in sorted(opts)))
    if isinstance(msg, EventMessage):
        args = msg.event_args
        return "EVENT %s %s" % (msg.event_type,
                                ",".join("%s=%s" % (k, args[k]) for k in sorted(args)))
    if isinstance(msg, ResultMessage):
        k = msg.kind
        if k == 1:
            return "RESULT void"
        if k == 2:
            cols = ",".join("%s.%s.%s:%s" % (c[0], c[1], c[2], typename(c[3]))
                            for c in msg.column_metadata)
            rows = [list(r) for r in msg.parsed_rows]
            return "RESULT rows cols=[%s] rows=%r paging=%r" % (cols, rows, msg.paging_state)
        if k == 3:
            return "RESULT set_keyspace %s" % msg.new_keyspace
        if k == 4:
            binds = ",".join("%s.%s.%s:%s" % (c.keyspace_name, c.table_name, c.name, typename(c.type))
                             for c in msg.bind_metadata)
            res = ",".join("%s:%s" % (c[2], typename(c[3])) for c in (msg.column_metadata or []))
            return "RESULT prepared id=%s binds=[%s] pk=%r result=[%s]" % (
                msg.query_id.hex(), binds, msg.pk_indexes, res)
        if k == 5:
            ev = msg.schema_change_event
            return "RESULT schema_change " + ",".join("%s=%s" % (x, ev[x]) for x in sorted(ev))
    return "OTHER %r" % (msg,)


def main(argv):
    status = 0
    for path in argv[1:]:
        with open(path, "rb") as f:
            data = f.read()
        version = data[0] & 0x7f
        flags, stream, opcode, length = struct.unpack(">BhBi", data[1:9])
        body = data[9:9 + length]
        name = os.path.basename(path)
        try:
            msg = ProtocolHandler.decode_message(version, {}, stream, flags, opcode, body,
                                                 None, None)
            extra = ""
            if msg.trace_id:
                extra += " trace=%s" % msg.trace_id
            if msg.warnings:
                extra += " warnings=%r" % msg.warnings
            if msg.custom_payload:
                extra += " payload=%r" % msg.custom_payload
            print("%s: v%d stream=%d %s%s" % (name, version, stream, describe(msg), extra))
        except Exception as e:  # report, keep going
            print("%s: DECODE FAILED %s: %s" % (name, type(e).__name__, e))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
