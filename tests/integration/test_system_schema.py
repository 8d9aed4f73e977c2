"""
test_system_schema.py - the system tables drivers read have exactly
Cassandra 4.0's columns (names, types, key kinds).

Expected data: the table definitions of apache/cassandra's cassandra-4.0
branch, src/java/org/apache/cassandra/schema/SchemaKeyspace.java
(system_schema.*) and db/SystemKeyspace.java (system.local, peers,
peers_v2), written out below.  Drivers select columns by name (gocql's
KeyspaceMetadata names 20 columns of system_schema.views even when it is
empty), so a missing column fails them with "Undefined column name".

Checked two ways through the python driver: the Rows metadata of
SELECT * (names and wire types; frozen does not travel), and Basalt's own
system_schema.columns rows for those tables (kind, position, declared
type with frozen).  Every table also answers SELECT * (empty ones too),
and a user table's row in system_schema.tables fills the 4.0 defaults.
"""
import re

import harness

PK, CK, R = "partition_key", "clustering", "regular"
FM = "frozen<map<text, text>>"

# name -> [(column, type, kind)], kinds with their position where keyed
C40 = {
    "system_schema.keyspaces": [
        ("keyspace_name", "text", PK), ("durable_writes", "boolean", R),
        ("replication", FM, R)],
    "system_schema.tables": [
        ("keyspace_name", "text", PK), ("table_name", "text", CK),
        ("bloom_filter_fp_chance", "double", R), ("caching", FM, R),
        ("comment", "text", R), ("compaction", FM, R), ("compression", FM, R),
        ("crc_check_chance", "double", R), ("dclocal_read_repair_chance", "double", R),
        ("default_time_to_live", "int", R), ("extensions", "frozen<map<text, blob>>", R),
        ("flags", "frozen<set<text>>", R), ("gc_grace_seconds", "int", R),
        ("id", "uuid", R), ("max_index_interval", "int", R),
        ("memtable_flush_period_in_ms", "int", R), ("min_index_interval", "int", R),
        ("read_repair_chance", "double", R), ("speculative_retry", "text", R),
        ("additional_write_policy", "text", R), ("cdc", "boolean", R),
        ("read_repair", "text", R)],
    "system_schema.columns": [
        ("keyspace_name", "text", PK), ("table_name", "text", CK),
        ("column_name", "text", CK), ("clustering_order", "text", R),
        ("column_name_bytes", "blob", R), ("kind", "text", R),
        ("position", "int", R), ("type", "text", R)],
    "system_schema.dropped_columns": [
        ("keyspace_name", "text", PK), ("table_name", "text", CK),
        ("column_name", "text", CK), ("dropped_time", "timestamp", R),
        ("kind", "text", R), ("type", "text", R)],
    "system_schema.triggers": [
        ("keyspace_name", "text", PK), ("table_name", "text", CK),
        ("trigger_name", "text", CK), ("options", FM, R)],
    "system_schema.views": [
        ("keyspace_name", "text", PK), ("view_name", "text", CK),
        ("base_table_id", "uuid", R), ("base_table_name", "text", R),
        ("where_clause", "text", R), ("bloom_filter_fp_chance", "double", R),
        ("caching", FM, R), ("comment", "text", R), ("compaction", FM, R),
        ("compression", FM, R), ("crc_check_chance", "double", R),
        ("dclocal_read_repair_chance", "double", R), ("default_time_to_live", "int", R),
        ("extensions", "frozen<map<text, blob>>", R), ("gc_grace_seconds", "int", R),
        ("id", "uuid", R), ("include_all_columns", "boolean", R),
        ("max_index_interval", "int", R), ("memtable_flush_period_in_ms", "int", R),
        ("min_index_interval", "int", R), ("read_repair_chance", "double", R),
        ("speculative_retry", "text", R), ("additional_write_policy", "text", R),
        ("cdc", "boolean", R), ("read_repair", "text", R)],
    "system_schema.indexes": [
        ("keyspace_name", "text", PK), ("table_name", "text", CK),
        ("index_name", "text", CK), ("kind", "text", R), ("options", FM, R)],
    "system_schema.types": [
        ("keyspace_name", "text", PK), ("type_name", "text", CK),
        ("field_names", "frozen<list<text>>", R), ("field_types", "frozen<list<text>>", R)],
    "system_schema.functions": [
        ("keyspace_name", "text", PK), ("function_name", "text", CK),
        ("argument_types", "frozen<list<text>>", CK),
        ("argument_names", "frozen<list<text>>", R), ("body", "text", R),
        ("language", "text", R), ("return_type", "text", R),
        ("called_on_null_input", "boolean", R)],
    "system_schema.aggregates": [
        ("keyspace_name", "text", PK), ("aggregate_name", "text", CK),
        ("argument_types", "frozen<list<text>>", CK), ("final_func", "text", R),
        ("initcond", "text", R), ("return_type", "text", R),
        ("state_func", "text", R), ("state_type", "text", R)],
    "system.local": [
        ("key", "text", PK), ("bootstrapped", "text", R),
        ("broadcast_address", "inet", R), ("broadcast_port", "int", R),
        ("cluster_name", "text", R), ("cql_version", "text", R),
        ("data_center", "text", R), ("gossip_generation", "int", R),
        ("host_id", "uuid", R), ("listen_address", "inet", R),
        ("listen_port", "int", R), ("native_protocol_version", "text", R),
        ("partitioner", "text", R), ("rack", "text", R),
        ("release_version", "text", R), ("rpc_address", "inet", R),
        ("rpc_port", "int", R), ("schema_version", "uuid", R),
        ("tokens", "set<text>", R), ("truncated_at", "map<uuid, blob>", R)],
    "system.peers": [
        ("peer", "inet", PK), ("data_center", "text", R), ("host_id", "uuid", R),
        ("preferred_ip", "inet", R), ("rack", "text", R),
        ("release_version", "text", R), ("rpc_address", "inet", R),
        ("schema_version", "uuid", R), ("tokens", "set<text>", R)],
    "system.peers_v2": [
        ("peer", "inet", PK), ("peer_port", "int", CK), ("data_center", "text", R),
        ("host_id", "uuid", R), ("preferred_ip", "inet", R),
        ("preferred_port", "int", R), ("rack", "text", R),
        ("release_version", "text", R), ("native_address", "inet", R),
        ("native_port", "int", R), ("schema_version", "uuid", R),
        ("tokens", "set<text>", R)],
}


def wire(t):
    """The type as it travels: no frozen<>, and text is the varchar id
    (0x000D), which the python driver names varchar."""
    t = re.sub(r"\btext\b", "varchar", t)
    while "frozen<" in t:
        i = t.index("frozen<")
        depth, j = 0, i + 7
        while True:
            if t[j] == "<":
                depth += 1
            elif t[j] == ">":
                if depth == 0:
                    break
                depth -= 1
            j += 1
        t = t[:i] + t[i + 7:j] + t[j + 1:]
    return t


class SystemSchemaTest(harness.NodeTestCase):
    keyspace = "sk"

    def test_01_rows_metadata_matches_cassandra_40(self):
        for table, cols in sorted(C40.items()):
            rs = self.session.execute("SELECT * FROM %s" % table)
            got = sorted(zip(rs.column_names,
                             (t.cql_parameterized_type() for t in rs.column_types)))
            want = sorted((n, wire(t)) for n, t, _ in cols)
            self.assertEqual(got, want, table)

    def test_02_schema_columns_rows_match_cassandra_40(self):
        for table, cols in sorted(C40.items()):
            ks, name = table.split(".")
            rows = self.session.execute(
                "SELECT column_name, type, kind, position FROM system_schema.columns "
                "WHERE keyspace_name = %s AND table_name = %s", (ks, name))
            got = sorted((r.column_name, r.type, r.kind) for r in rows)
            self.assertEqual(got, sorted(cols), table)
            # key positions follow the declaration order of the key
            keyed = [(n, k) for n, _, k in cols if k != R]
            pos = {r.column_name: r.position for r in self.session.execute(
                "SELECT column_name, position FROM system_schema.columns "
                "WHERE keyspace_name = %s AND table_name = %s", (ks, name))}
            for kind in (PK, CK):
                names = [n for n, k in keyed if k == kind]
                self.assertEqual([pos[n] for n in names], list(range(len(names))), table)

    def test_03_user_table_row_has_40_defaults(self):
        s = self.session
        s.execute("CREATE TABLE t (k int PRIMARY KEY, v text)")
        r = s.execute("SELECT * FROM system_schema.tables WHERE keyspace_name = 'sk' "
                      "AND table_name = 't'").one()
        self.assertEqual((r.additional_write_policy, r.read_repair, r.cdc),
                         ("99p", "BLOCKING", False))
        self.assertEqual(r.flags, {"compound"})
        self.assertEqual(r.speculative_retry, "99p")
        # no views in Basalt: the table is empty but has every column
        self.assertEqual(list(s.execute("SELECT * FROM system_schema.views")), [])


if __name__ == "__main__":
    harness.main()
