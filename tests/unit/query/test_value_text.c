/*
 * test_value_text.c - literal conversion, text parsing and formatting
 * (query/value_literal.c, value_format.c, value_time.c, value_num.c):
 * exact bytes for each accepted form, Cassandra's error messages, and
 * literal -> bytes -> text -> bytes round trips for every type.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "query/value.h"

static bs_type *T(const char *s) {
    bs_type *t = NULL;
    char err[128];
    ck_assert_msg(bs_value_type_parse(s, strlen(s), &t, err, sizeof err) == 0,
                  "%s: %s", s, err);
    return t;
}

static char g_hex[4096];
static char g_err[512];
static int g_rc;

static const char *hexof(const uint8_t *p, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 3 < sizeof g_hex; i++)
        k += (size_t)snprintf(g_hex + k, sizeof g_hex - k, "%02x", p[i]);
    g_hex[k] = 0;
    return g_hex;
}

/* Literal -> hex of the bytes ("" on error; g_rc / g_err tell why). */
static const char *L(const char *type, bs_lit_kind kind, const char *text) {
    bs_type *t = T(type);
    bs_literal lit = {kind, text, strlen(text)};
    bs_buf b = BS_BUF_INIT;
    g_err[0] = 0;
    g_rc = bs_value_from_literal(t, &lit, "x", &b, g_err, sizeof g_err);
    if (g_rc) ck_assert_uint_eq(b.len, 0); /* nothing half-written */
    hexof(b.data, b.len);
    bs_buf_free(&b);
    bs_type_free(t);
    return g_hex;
}

#define LIT_OK(type, kind, text, want)                                         \
    do {                                                                       \
        const char *got_ = L(type, kind, text);                                \
        ck_assert_msg(g_rc == 0, "%s '%s': rc %d %s", type, text, g_rc,        \
                      g_err);                                                  \
        ck_assert_msg(strcmp(got_, want) == 0, "%s '%s': got %s want %s",      \
                      type, text, got_, want);                                 \
    } while (0)

#define LIT_ERR(type, kind, text, code, msg)                                   \
    do {                                                                       \
        L(type, kind, text);                                                   \
        ck_assert_msg(g_rc == (code), "%s '%s': rc %d want %d (%s)", type,     \
                      text, g_rc, code, g_err);                                \
        ck_assert_msg(strstr(g_err, msg) != NULL, "%s '%s': '%s' lacks '%s'",  \
                      type, text, g_err, msg);                                 \
    } while (0)

START_TEST(integer_literals_and_ranges) {
    LIT_OK("tinyint", BS_LIT_INTEGER, "127", "7f");
    LIT_OK("tinyint", BS_LIT_INTEGER, "-128", "80");
    LIT_ERR("tinyint", BS_LIT_INTEGER, "128", BS_ERANGE,
            "Unable to make byte from '128'");
    LIT_ERR("tinyint", BS_LIT_INTEGER, "-129", BS_ERANGE, "from '-129'");
    LIT_OK("smallint", BS_LIT_INTEGER, "-2", "fffe");
    LIT_ERR("smallint", BS_LIT_INTEGER, "32768", BS_ERANGE,
            "Unable to make short");
    LIT_OK("int", BS_LIT_INTEGER, "-2147483648", "80000000");
    LIT_OK("int", BS_LIT_INTEGER, "2147483647", "7fffffff");
    LIT_ERR("int", BS_LIT_INTEGER, "2147483648", BS_ERANGE,
            "Unable to make int from '2147483648'");
    LIT_OK("bigint", BS_LIT_INTEGER, "-9223372036854775808",
           "8000000000000000");
    LIT_ERR("bigint", BS_LIT_INTEGER, "9223372036854775808", BS_ERANGE,
            "Unable to make long");
    LIT_ERR("bigint", BS_LIT_INTEGER, "99999999999999999999999", BS_ERANGE,
            "Unable to make long");
    LIT_ERR("int", BS_LIT_FLOAT, "3.5", BS_ETYPE,
            "Invalid FLOAT constant (3.5) for \"x\" of type int");
    LIT_ERR("int", BS_LIT_STRING, "42", BS_ETYPE,
            "Invalid STRING constant (42) for \"x\" of type int");
    LIT_ERR("bigint", BS_LIT_BOOL, "true", BS_ETYPE,
            "Invalid BOOLEAN constant");
    /* varint: arbitrary precision two's complement, minimal length */
    LIT_OK("varint", BS_LIT_INTEGER, "0", "00");
    LIT_OK("varint", BS_LIT_INTEGER, "127", "7f");
    LIT_OK("varint", BS_LIT_INTEGER, "128", "0080");
    LIT_OK("varint", BS_LIT_INTEGER, "-1", "ff");
    LIT_OK("varint", BS_LIT_INTEGER, "-128", "80");
    LIT_OK("varint", BS_LIT_INTEGER, "-129", "ff7f");
    LIT_OK("varint", BS_LIT_INTEGER, "0007", "07");
    LIT_OK("varint", BS_LIT_INTEGER, "18446744073709551616",
           "010000000000000000");
    LIT_OK("varint", BS_LIT_INTEGER, "-18446744073709551616",
           "ff0000000000000000");
    LIT_OK("varint", BS_LIT_INTEGER, "123456789012345678901234567890",
           "018ee90ff6c373e0ee4e3f0ad2");
    LIT_OK("varint", BS_LIT_INTEGER, "-123456789012345678901234567890",
           "fe7116f0093c8c1f11b1c0f52e");
    LIT_ERR("varint", BS_LIT_FLOAT, "1.5", BS_ETYPE, "Invalid FLOAT constant");
}
END_TEST

START_TEST(decimal_float_bool_blob_literals) {
    LIT_OK("decimal", BS_LIT_FLOAT, "1.50",
           "0000000200"
           "96");
    LIT_OK("decimal", BS_LIT_FLOAT, "1.5", "000000010f");
    LIT_OK("decimal", BS_LIT_INTEGER, "42", "000000002a");
    LIT_OK("decimal", BS_LIT_FLOAT, "1e3", "fffffffd01");
    LIT_OK("decimal", BS_LIT_FLOAT, "-0.001", "00000003ff");
    LIT_OK("decimal", BS_LIT_FLOAT, "0.0", "0000000100");
    LIT_OK("decimal", BS_LIT_FLOAT, "1.5E-2", "000000030f");
    LIT_ERR("decimal", BS_LIT_FLOAT, "NaN", BS_EINVAL,
            "unable to make BigDecimal from 'NaN'");
    LIT_OK("float", BS_LIT_FLOAT, "1.5", "3fc00000");
    LIT_OK("float", BS_LIT_INTEGER, "3", "40400000");
    LIT_OK("float", BS_LIT_FLOAT, "NaN", "7fc00000");
    LIT_OK("float", BS_LIT_FLOAT, "-Infinity", "ff800000");
    LIT_OK("float", BS_LIT_FLOAT, "-0.0", "80000000");
    LIT_OK("double", BS_LIT_FLOAT, "0.1", "3fb999999999999a");
    LIT_OK("double", BS_LIT_FLOAT, "Infinity", "7ff0000000000000");
    LIT_OK("double", BS_LIT_FLOAT, "-2e10", "c212a05f20000000");
    LIT_ERR("double", BS_LIT_FLOAT, "0x1p3", BS_EINVAL,
            "Unable to make double");
    LIT_ERR("double", BS_LIT_FLOAT, "inf", BS_EINVAL, "Unable to make double");
    LIT_OK("boolean", BS_LIT_BOOL, "true", "01");
    LIT_OK("boolean", BS_LIT_BOOL, "false", "00");
    LIT_ERR("boolean", BS_LIT_STRING, "true", BS_ETYPE,
            "Invalid STRING constant");
    LIT_OK("blob", BS_LIT_HEX, "CAFE", "cafe");
    LIT_OK("blob", BS_LIT_HEX, "", "");
    LIT_ERR("blob", BS_LIT_HEX, "CAF", BS_EINVAL,
            "cannot parse '0xCAF' as hex bytes");
    LIT_ERR("blob", BS_LIT_STRING, "cafe", BS_ETYPE,
            "Invalid STRING constant (cafe)");
    LIT_OK("text", BS_LIT_STRING, "it's", "69742773");
    LIT_OK("varchar", BS_LIT_STRING, "h\xc3\xa9", "68c3a9");
    LIT_ERR("text", BS_LIT_STRING, "\xff", BS_EINVAL, "Invalid UTF-8");
    LIT_OK("ascii", BS_LIT_STRING, "abc", "616263");
    LIT_ERR("ascii", BS_LIT_STRING, "h\xc3\xa9", BS_EINVAL,
            "Invalid ASCII character in string literal");
    LIT_ERR("text", BS_LIT_INTEGER, "1", BS_ETYPE,
            "Invalid INTEGER constant (1)");
    LIT_ERR("int", BS_LIT_NULL, "null", BS_ETYPE, "null");
    LIT_ERR("list<int>", BS_LIT_STRING, "[1]", BS_ETYPE,
            "for \"x\" of type list<int>");
}
END_TEST

START_TEST(uuid_inet_literals) {
    LIT_OK("uuid", BS_LIT_UUID, "550e8400-e29b-41d4-a716-446655440000",
           "550e8400e29b41d4a716446655440000");
    LIT_OK("uuid", BS_LIT_STRING, "550E8400-E29B-41D4-A716-446655440000",
           "550e8400e29b41d4a716446655440000");
    LIT_ERR("uuid", BS_LIT_STRING, "550e8400", BS_EINVAL,
            "Unable to make UUID from '550e8400'");
    LIT_OK("timeuuid", BS_LIT_UUID, "e8a3d2c0-2d79-11eb-adc1-0242ac120002",
           "e8a3d2c02d7911ebadc10242ac120002");
    LIT_ERR("timeuuid", BS_LIT_UUID, "550e8400-e29b-41d4-a716-446655440000",
            BS_EINVAL, "Invalid version for TimeUUID type.");
    LIT_OK("inet", BS_LIT_STRING, "127.0.0.1", "7f000001");
    LIT_OK("inet", BS_LIT_STRING, "::1", "00000000000000000000000000000001");
    LIT_OK("inet", BS_LIT_STRING, "2001:db8::ff00:42:8329",
           "20010db8000000000000ff0000428329");
    LIT_ERR("inet", BS_LIT_STRING, "localhost", BS_EINVAL,
            "Unable to make inet address from 'localhost'");
    LIT_ERR("inet", BS_LIT_STRING, "1.2.3.256", BS_EINVAL, "inet address");
}
END_TEST

static int64_t ts(const char *s) {
    int64_t v = 0;
    g_rc = bs_value_parse_timestamp(s, strlen(s), &v);
    return v;
}

START_TEST(timestamp_forms) {
    ck_assert_int_eq(ts("2020-01-01"), 1577836800000LL);
    ck_assert_int_eq(g_rc, 0);
    ck_assert_int_eq(ts("2020-01-01 10:00"), 1577872800000LL);
    ck_assert_int_eq(ts("2020-01-01 10:00:00"), 1577872800000LL);
    ck_assert_int_eq(ts("2020-01-01T10:00:00.123Z"), 1577872800123LL);
    ck_assert_int_eq(ts("2020-01-01T10:00:00.1Z"), 1577872800100LL);
    ck_assert_int_eq(ts("2020-01-01 10:00:00+0000"), 1577872800000LL);
    ck_assert_int_eq(ts("2020-01-01 10:00:00-0800"), 1577901600000LL);
    ck_assert_int_eq(ts("2020-01-01 10:00:00.123+01:00"), 1577869200123LL);
    ck_assert_int_eq(ts("2020-01-01 10:00:00.123456+0000"), 1577872800123LL);
    ck_assert_int_eq(ts("1969-12-31 23:59:59.999Z"), -1);
    ck_assert_int_eq(ts("1577836800000"), 1577836800000LL);
    ck_assert_int_eq(ts("-5"), -5);
    ck_assert_int_eq(ts("0001-01-01"), -62135596800000LL);
    ck_assert_int_eq(g_rc, 0);
    ts("2020-13-01");
    ck_assert_int_eq(g_rc, BS_EINVAL);
    ts("2020-02-30");
    ck_assert_int_eq(g_rc, BS_EINVAL);
    ts("2020-01-01 25:00");
    ck_assert_int_eq(g_rc, BS_EINVAL);
    ts("2020-01-01 10:00:00 PST");
    ck_assert_int_eq(g_rc, BS_EINVAL);
    ts("99999999999999999999");
    ck_assert_int_eq(g_rc, BS_ERANGE);
    LIT_OK("timestamp", BS_LIT_STRING, "2020-01-01T10:00:00.123Z",
           "0000016f608c397b");
    LIT_OK("timestamp", BS_LIT_INTEGER, "1577836800000", "0000016f5e66e800");
    LIT_ERR("timestamp", BS_LIT_STRING, "yesterday", BS_EINVAL,
            "Unable to coerce 'yesterday' to a formatted date (long)");
}
END_TEST

START_TEST(date_and_time_forms) {
    LIT_OK("date", BS_LIT_STRING, "2020-01-01", "80004756"); /* 2^31 + 18262 */
    LIT_OK("date", BS_LIT_STRING, "1970-01-01", "80000000");
    LIT_OK("date", BS_LIT_STRING, "1969-12-31", "7fffffff");
    LIT_OK("date", BS_LIT_STRING, "-5877641-06-23", "00000000");
    LIT_OK("date", BS_LIT_STRING, "5881580-07-11", "ffffffff");
    LIT_ERR("date", BS_LIT_STRING, "5881580-07-12", BS_ERANGE,
            "is out of the supported range");
    LIT_ERR("date", BS_LIT_STRING, "-5877641-06-22", BS_ERANGE,
            "supported range");
    LIT_OK("date", BS_LIT_INTEGER, "0", "00000000");
    LIT_OK("date", BS_LIT_INTEGER, "4294967295", "ffffffff");
    LIT_ERR("date", BS_LIT_INTEGER, "4294967296", BS_ERANGE,
            "Unable to make unsigned int (for date) from: '4294967296'");
    LIT_ERR("date", BS_LIT_INTEGER, "-1", BS_ERANGE, "unsigned int (for date)");
    LIT_ERR("date", BS_LIT_STRING, "2020/01/01", BS_EINVAL,
            "Unable to coerce '2020/01/01' to a formatted date");
    LIT_OK("time", BS_LIT_STRING, "10:00:00.123456789", "000020bdee920d15");
    LIT_OK("time", BS_LIT_STRING, "00:00:00", "0000000000000000");
    LIT_OK("time", BS_LIT_STRING, "23:59:59.999999999", "00004e94914effff");
    LIT_OK("time", BS_LIT_STRING, "10:00:00.5", "000020be0503a500"); /* .5 s */
    LIT_OK("time", BS_LIT_INTEGER, "5", "0000000000000005");
    LIT_ERR("time", BS_LIT_STRING, "24:00:00", BS_ERANGE, "out of bounds");
    LIT_ERR("time", BS_LIT_STRING, "10:61:00", BS_ERANGE, "out of bounds");
    LIT_ERR("time", BS_LIT_STRING, "10:00", BS_EINVAL,
            "Unable to coerce '10:00' to a formatted time (long)");
    LIT_ERR("time", BS_LIT_INTEGER, "86400000000000", BS_ERANGE,
            "Unable to make long (for time) from: '86400000000000'");
}
END_TEST

static void dur_ok(const char *s, int32_t m, int32_t d, int64_t ns) {
    int32_t gm = 99, gd = 99;
    int64_t gns = 99;
    int rc = bs_value_parse_duration(s, strlen(s), &gm, &gd, &gns);
    ck_assert_msg(rc == 0, "'%s' rc %d", s, rc);
    ck_assert_msg(gm == m && gd == d && gns == ns, "'%s' -> %d %d %lld", s, gm,
                  gd, (long long)gns);
}

static void dur_bad(const char *s) {
    int32_t m, d;
    int64_t ns;
    ck_assert_msg(bs_value_parse_duration(s, strlen(s), &m, &d, &ns) ==
                      BS_EINVAL,
                  "'%s' accepted", s);
}

START_TEST(duration_forms) {
    dur_ok("1h30m", 0, 0, 5400000000000LL);
    dur_ok("1y2mo3w4d5h6m7s8ms9us10ns", 14, 25, 18367008009010LL);
    dur_ok("1Y2MO", 14, 0, 0);
    dur_ok("7\xc2\xb5s", 0, 0, 7000);
    dur_ok("0s", 0, 0, 0);
    dur_ok("-5s", 0, 0, -5000000000LL);
    dur_ok("P1Y2M3DT4H5M6S", 14, 3, 14706000000000LL);
    dur_ok("P1D", 0, 1, 0);
    dur_ok("PT1M", 0, 0, 60000000000LL);
    dur_ok("-P1D", 0, -1, 0);
    dur_ok("P2W", 0, 14, 0);
    dur_ok("P0001-02-03T04:05:06", 14, 3, 14706000000000LL);
    dur_ok("-P0001-02-03T04:05:06", -14, -3, -14706000000000LL);
    dur_bad("");
    dur_bad("-");
    dur_bad("1x");
    dur_bad("h");
    dur_bad("1");
    dur_bad("P1H");
    dur_bad("P1M1Y");
    dur_bad("P1-02-03T04:05:06");
    dur_bad("3000000000mo");           /* months overflow int32 */
    dur_bad("99999999999999999999ns"); /* overflow */
    LIT_OK("duration", BS_LIT_DURATION, "1h30m",
           "0000fc09d29229e000"); /* nanos 5.4e12 */
    LIT_ERR("duration", BS_LIT_STRING, "1x", BS_EINVAL,
            "Unable to convert '1x' to a duration");
}
END_TEST

/* format helper: type, value hex -> text */
static char g_txt[4096];
static const char *F(const char *type, const char *hex, int style) {
    bs_type *t = T(type);
    uint8_t b[1024];
    size_t n = 0;
    for (const char *c = hex; c[0] && c[1]; c += 2) {
        unsigned v;
        sscanf(c, "%2x", &v);
        b[n++] = (uint8_t)v;
    }
    bs_buf o = BS_BUF_INIT;
    int rc = style == 0   ? bs_value_format(t, b, n, 0, &o)
             : style == 1 ? bs_value_format(t, b, n, BS_VALUE_FMT_EXACT, &o)
             : style == 2 ? bs_value_format_cql(t, b, n, &o)
             : style == 3 ? bs_value_format_json(t, b, n, &o)
                          : bs_value_format(t, b, n, BS_VALUE_FMT_ESCAPE, &o);
    ck_assert_msg(rc == 0, "format %s %s: %d", type, hex, rc);
    snprintf(g_txt, sizeof g_txt, "%.*s", (int)o.len,
             o.data ? (char *)o.data : "");
    bs_buf_free(&o);
    bs_type_free(t);
    return g_txt;
}

START_TEST(display_format_like_cqlsh) {
    ck_assert_str_eq(F("int", "0000002a", 0), "42");
    ck_assert_str_eq(F("tinyint", "ff", 0), "-1");
    ck_assert_str_eq(F("bigint", "8000000000000000", 0),
                     "-9223372036854775808");
    ck_assert_str_eq(F("varint", "fe7116f0093c8c1f11b1c0f52e", 0),
                     "-123456789012345678901234567890");
    ck_assert_str_eq(F("decimal",
                       "0000000200"
                       "96",
                       0),
                     "1.50");
    ck_assert_str_eq(F("decimal", "fffffffd01", 0), "1E+3");
    ck_assert_str_eq(F("decimal", "0000000901", 0), "1E-9");
    ck_assert_str_eq(F("decimal", "00000006ff", 0), "-0.000001");
    ck_assert_str_eq(F("decimal", "0000000000", 0), "0");
    ck_assert_str_eq(F("decimal", "000000037b", 0), "0.123");
    ck_assert_str_eq(F("float", "3fc00000", 0), "1.5");
    ck_assert_str_eq(F("float", "40490fd0", 0), "3.14159");
    ck_assert_str_eq(F("float", "60ad78ec", 0), "1e+20");
    ck_assert_str_eq(F("float", "7fc00000", 0), "NaN");
    ck_assert_str_eq(F("float", "ff800000", 0), "-Infinity");
    ck_assert_str_eq(F("double", "3fb999999999999a", 0), "0.1");
    ck_assert_str_eq(F("double", "40fe240c9fbe76c9", 0), "123456.789000000004");
    ck_assert_str_eq(F("double", "40fe240c9fbe76c9", 1), "123456.789");
    ck_assert_str_eq(F("boolean", "01", 0), "True");
    ck_assert_str_eq(F("boolean", "00", 0), "False");
    ck_assert_str_eq(F("timestamp", "0000016f608c397b", 0),
                     "2020-01-01 10:00:00.123000+0000");
    ck_assert_str_eq(F("timestamp", "ffffffffffffffff", 0),
                     "1969-12-31 23:59:59.999000+0000");
    ck_assert_str_eq(F("date", "80004756", 0), "2020-01-01");
    ck_assert_str_eq(F("date", "00000000", 0), "-2147483648");
    ck_assert_str_eq(F("date", "00000000", 1), "0");
    ck_assert_str_eq(F("time", "000020bdee920d15", 0), "10:00:00.123456789");
    ck_assert_str_eq(F("uuid", "550e8400e29b41d4a716446655440000", 0),
                     "550e8400-e29b-41d4-a716-446655440000");
    ck_assert_str_eq(F("inet", "7f000001", 0), "127.0.0.1");
    ck_assert_str_eq(F("inet", "00000000000000000000000000000001", 0), "::1");
    ck_assert_str_eq(F("blob", "cafe", 0), "0xcafe");
    ck_assert_str_eq(F("blob", "", 0), "0x");
    ck_assert_str_eq(F("text", "69742773", 0), "it's");
    ck_assert_str_eq(F("text", "610a5c", 4), "a\\n\\\\");
    ck_assert_str_eq(F("duration", "0000fc09d29229e000", 0), "1h30m");
    ck_assert_str_eq(F("duration", "1c32fc2168cdf9d664", 0),
                     "1y2mo25d5h6m7s8ms9us10ns");
    ck_assert_str_eq(F("duration", "000000", 0), "0s");
    ck_assert_str_eq(F("duration", "000009", 0), "-5ns");
    /* collections */
    ck_assert_str_eq(
        F("list<int>", "00000002000000040000000100000004ffffffff", 0),
        "[1, -1]");
    ck_assert_str_eq(F("set<text>", "0000000200000001610000000462272763", 0),
                     "{'a', 'b''''c'}");
    ck_assert_str_eq(
        F("map<text, int>", "00000001000000016100000004000000ff", 0),
        "{'a': 255}");
    ck_assert_str_eq(F("list<int>", "00000000", 0), "[]");
    ck_assert_str_eq(F("set<timestamp>", "00000001000000080000016f608c397b", 0),
                     "{'2020-01-01 10:00:00.123000+0000'}");
    ck_assert_str_eq(F("tuple<int, text, int>", "0000000400000001ffffffff", 0),
                     "(1, null)");
    ck_assert_str_eq(F("list<inet>", "00000001000000047f000001", 0),
                     "['127.0.0.1']");
    ck_assert_str_eq(F("list<date>", "000000010000000480004756", 0),
                     "[2020-01-01]");
}
END_TEST

START_TEST(cql_and_json_formats) {
    ck_assert_str_eq(F("text", "69742773", 2), "'it''s'");
    ck_assert_str_eq(F("timestamp", "0000016f608c397b", 2),
                     "'2020-01-01T10:00:00.123Z'");
    ck_assert_str_eq(F("date", "80004756", 2), "'2020-01-01'");
    ck_assert_str_eq(F("date", "00000000", 2), "0");
    ck_assert_str_eq(F("time", "000020bdee920d15", 2), "'10:00:00.123456789'");
    ck_assert_str_eq(F("boolean", "01", 2), "true");
    ck_assert_str_eq(F("float", "7fc00000", 2), "NaN");
    ck_assert_str_eq(F("float", "40490fd0", 2), "3.14159");
    ck_assert_str_eq(F("double", "3fb999999999999a", 2), "0.1");
    ck_assert_str_eq(F("inet", "7f000001", 2), "'127.0.0.1'");
    ck_assert_str_eq(F("duration", "0000fc09d29229e000", 2), "1h30m");
    ck_assert_str_eq(
        F("map<text, frozen<list<int>>>",
          "000000010000000161000000140000000200000004000000010000000400000002",
          2),
        "{'a': [1, 2]}");

    ck_assert_str_eq(F("text", "61220a", 3), "\"a\\\"\\n\"");
    ck_assert_str_eq(F("int", "0000002a", 3), "42");
    ck_assert_str_eq(F("float", "3fc00000", 3), "1.5");
    ck_assert_str_eq(F("double", "4415af1d78b58c40", 3), "1.0E20");
    ck_assert_str_eq(F("double", "3ee4f8b588e368f1", 3), "1.0E-5");
    ck_assert_str_eq(F("double", "4059000000000000", 3), "100.0");
    ck_assert_str_eq(F("double", "3f50624dd2f1a9fc", 3), "0.001");
    ck_assert_str_eq(F("float", "7fc00000", 3), "\"NaN\"");
    ck_assert_str_eq(F("timestamp", "0000016f608c397b", 3),
                     "\"2020-01-01 10:00:00.123Z\"");
    ck_assert_str_eq(F("blob", "cafe", 3), "\"0xcafe\"");
    ck_assert_str_eq(F("boolean", "00", 3), "false");
    ck_assert_str_eq(
        F("map<int, text>", "00000001000000040000000100000001 61", 3),
        "{\"1\": \"a\"}");
    ck_assert_str_eq(F("map<int, text>",
                       "000000010000000400000001000000016"
                       "1",
                       3),
                     "{\"1\": \"a\"}");
    ck_assert_str_eq(F("set<int>",
                       "00000001000000040000000"
                       "1",
                       3),
                     "[1]");
    ck_assert_str_eq(F("tuple<int, text>",
                       "00000004000000"
                       "01ffffffff",
                       3),
                     "[1, null]");
}
END_TEST

/* Builds a UDT type point {x int, "Label" text, tags set<text>} */
static bs_type *udt_type(void) {
    bs_type *u = bs_type_new(BS_TYPE_UDT);
    u->name = strdup("point");
    u->frozen = 1;
    bs_type_add_param(u, bs_type_new(BS_TYPE_INT), "x");
    bs_type_add_param(u, bs_type_new(BS_TYPE_VARCHAR), "Label");
    bs_type *s =
        bs_type_new_coll(BS_TYPE_SET, bs_type_new(BS_TYPE_VARCHAR), NULL);
    s->frozen = 1;
    bs_type_add_param(u, s, "tags");
    return u;
}

START_TEST(udt_format_and_parse) {
    bs_type *u = udt_type();
    const char *txt = "{x: 3, \"Label\": 'p', tags: {'b', 'a'}}";
    bs_buf b = BS_BUF_INIT, o = BS_BUF_INIT, b2 = BS_BUF_INIT;
    char err[256] = "";
    ck_assert_msg(
        bs_value_parse_text(u, txt, strlen(txt), 0, &b, err, sizeof err) == 0,
        "%s", err);
    ck_assert_int_eq(bs_value_validate(u, b.data, b.len, NULL, 0), 0);
    ck_assert_int_eq(bs_value_format(u, b.data, b.len, 0, &o), 0);
    ck_assert_int_eq(bs_buf_append_u8(&o, 0), 0);
    ck_assert_str_eq((char *)o.data,
                     "{x: 3, \"Label\": 'p', tags: {'a', 'b'}}");
    bs_buf_reset(&o);
    ck_assert_int_eq(bs_value_format_json(u, b.data, b.len, &o), 0);
    ck_assert_int_eq(bs_buf_append_u8(&o, 0), 0);
    ck_assert_str_eq((char *)o.data,
                     "{\"x\": 3, \"Label\": \"p\", \"tags\": [\"a\", \"b\"]}");
    /* missing fields: a gap becomes null, trailing ones are omitted */
    const char *txt2 = "{\"Label\": 'q'}";
    ck_assert_int_eq(
        bs_value_parse_text(u, txt2, strlen(txt2), 0, &b2, err, sizeof err), 0);
    ck_assert_str_eq(hexof(b2.data, b2.len), "ffffffff0000000171");
    bs_buf_reset(&o);
    ck_assert_int_eq(bs_value_format(u, b2.data, b2.len, 0, &o), 0);
    ck_assert_int_eq(bs_buf_append_u8(&o, 0), 0);
    ck_assert_str_eq((char *)o.data, "{x: null, \"Label\": 'q'}");
    const char *bad = "{y: 1}";
    bs_buf_reset(&b2);
    ck_assert_int_eq(
        bs_value_parse_text(u, bad, strlen(bad), 0, &b2, err, sizeof err),
        BS_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "unknown field"));
    bs_buf_free(&b);
    bs_buf_free(&b2);
    bs_buf_free(&o);
    bs_type_free(u);
}
END_TEST

START_TEST(parse_text_sorts_sets_and_reports_errors) {
    bs_type *t = T("set<int>");
    bs_buf b = BS_BUF_INIT;
    char err[256] = "";
    const char *s = " { 3, -1 ,3, 2 } ";
    ck_assert_int_eq(
        bs_value_parse_text(t, s, strlen(s), 0, &b, err, sizeof err), 0);
    ck_assert_str_eq(
        hexof(b.data, b.len),
        "0000000300000004ffffffff00000004000000020000000400000003");
    bs_buf_reset(&b);
    s = "{1, x}";
    ck_assert_int_eq(
        bs_value_parse_text(t, s, strlen(s), 0, &b, err, sizeof err),
        BS_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "Unable to make int from 'x'"));
    ck_assert_ptr_nonnull(strstr(err, "offset 4"));
    ck_assert_uint_eq(b.len, 0);
    s = "{1, 2";
    ck_assert_int_eq(
        bs_value_parse_text(t, s, strlen(s), 0, &b, err, sizeof err),
        BS_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "expected '}'"));
    s = "{1, null}";
    ck_assert_int_eq(
        bs_value_parse_text(t, s, strlen(s), 0, &b, err, sizeof err),
        BS_EINVAL);
    ck_assert_ptr_nonnull(
        strstr(err, "null is not supported inside collections"));
    s = "{1} x";
    ck_assert_int_eq(
        bs_value_parse_text(t, s, strlen(s), 0, &b, err, sizeof err),
        BS_EINVAL);
    bs_type_free(t);
    /* time map keys keep their colons */
    t = T("map<time, inet>");
    s = "{10:00:00.000000001: '::1', 00:00:01.000000000: 10.0.0.1}";
    ck_assert_msg(
        bs_value_parse_text(t, s, strlen(s), 0, &b, err, sizeof err) == 0, "%s",
        err);
    bs_buf o = BS_BUF_INIT;
    ck_assert_int_eq(bs_value_format(t, b.data, b.len, 0, &o), 0);
    ck_assert_int_eq(bs_buf_append_u8(&o, 0), 0);
    ck_assert_str_eq(
        (char *)o.data,
        "{00:00:01.000000000: '10.0.0.1', 10:00:00.000000001: '::1'}");
    bs_buf_free(&o);
    bs_buf_free(&b);
    bs_type_free(t);
}
END_TEST

/* literal -> bytes -> format (exact, display, cql) -> parse_text -> same */
static void roundtrip(const char *type, bs_lit_kind kind, const char *text,
                      int display_exact) {
    bs_type *t = T(type);
    bs_literal lit = {kind, text, strlen(text)};
    bs_buf v = BS_BUF_INIT;
    char err[256] = "";
    ck_assert_msg(bs_value_from_literal(t, &lit, "c", &v, err, sizeof err) == 0,
                  "%s %s: %s", type, text, err);
    for (int style = 0; style < 3; style++) {
        if (style == 0 && !display_exact) continue;
        bs_buf txt = BS_BUF_INIT, back = BS_BUF_INIT;
        int rc = style == 0   ? bs_value_format(t, v.data, v.len, 0, &txt)
                 : style == 1 ? bs_value_format(t, v.data, v.len,
                                                BS_VALUE_FMT_EXACT, &txt)
                              : bs_value_format_cql(t, v.data, v.len, &txt);
        ck_assert_int_eq(rc, 0);
        rc = bs_value_parse_text(t, (char *)txt.data, txt.len,
                                 style == 2 ? BS_VALUE_PARSE_CQL : 0, &back,
                                 err, sizeof err);
        ck_assert_msg(rc == 0, "%s %s style %d: '%.*s' -> %s", type, text,
                      style, (int)txt.len, (char *)txt.data, err);
        ck_assert_msg(back.len == v.len &&
                          (!v.len || memcmp(back.data, v.data, v.len) == 0),
                      "%s %s style %d: '%.*s' parsed to different bytes", type,
                      text, style, (int)txt.len, (char *)txt.data);
        bs_buf_free(&txt);
        bs_buf_free(&back);
    }
    bs_buf_free(&v);
    bs_type_free(t);
}

START_TEST(roundtrip_every_scalar_type) {
    roundtrip("ascii", BS_LIT_STRING, "it's, {a}: [b]", 1);
    roundtrip("text", BS_LIT_STRING, "h\xc3\xa9llo 'w' \xf0\x9f\x98\x80", 1);
    roundtrip("text", BS_LIT_STRING, "", 1);
    roundtrip("text", BS_LIT_STRING, "  padded  ", 1);
    roundtrip("blob", BS_LIT_HEX, "00ff10", 1);
    roundtrip("blob", BS_LIT_HEX, "", 1);
    roundtrip("boolean", BS_LIT_BOOL, "true", 1);
    roundtrip("boolean", BS_LIT_BOOL, "false", 1);
    roundtrip("tinyint", BS_LIT_INTEGER, "-128", 1);
    roundtrip("smallint", BS_LIT_INTEGER, "32767", 1);
    roundtrip("int", BS_LIT_INTEGER, "-2147483648", 1);
    roundtrip("bigint", BS_LIT_INTEGER, "9223372036854775807", 1);
    roundtrip("counter", BS_LIT_INTEGER, "-3", 1);
    roundtrip("varint", BS_LIT_INTEGER, "-123456789012345678901234567890", 1);
    roundtrip("varint", BS_LIT_INTEGER, "0", 1);
    roundtrip("decimal", BS_LIT_FLOAT, "1.50", 1);
    roundtrip("decimal", BS_LIT_FLOAT, "-1e-10", 1);
    roundtrip("decimal", BS_LIT_FLOAT, "1e3", 1);
    roundtrip("decimal", BS_LIT_FLOAT, "123456789012345678901234567890.123", 1);
    roundtrip("float", BS_LIT_FLOAT, "1.5", 1);
    roundtrip("float", BS_LIT_FLOAT, "3.14159274", 0);
    roundtrip("float", BS_LIT_FLOAT, "-0.0", 1);
    roundtrip("float", BS_LIT_FLOAT, "NaN", 1);
    roundtrip("float", BS_LIT_FLOAT, "-Infinity", 1);
    roundtrip("float", BS_LIT_FLOAT, "1e-45", 0);
    roundtrip("double", BS_LIT_FLOAT, "0.1", 1);
    roundtrip("double", BS_LIT_FLOAT, "123456.789", 0);
    roundtrip("double", BS_LIT_FLOAT, "1.7976931348623157e308", 0);
    roundtrip("double", BS_LIT_FLOAT, "4.9e-324", 0);
    roundtrip("timestamp", BS_LIT_STRING, "2020-01-01T10:00:00.123Z", 1);
    roundtrip("timestamp", BS_LIT_INTEGER, "-1", 1);
    roundtrip("timestamp", BS_LIT_INTEGER, "-9223372036854775808", 1);
    roundtrip("timestamp", BS_LIT_INTEGER, "253402300800000",
              1); /* year 10000 */
    roundtrip("date", BS_LIT_STRING, "2020-02-29", 1);
    roundtrip("date", BS_LIT_INTEGER, "0", 0);
    roundtrip("date", BS_LIT_INTEGER, "4294967295", 0);
    roundtrip("time", BS_LIT_STRING, "23:59:59.999999999", 1);
    roundtrip("time", BS_LIT_INTEGER, "0", 1);
    roundtrip("uuid", BS_LIT_UUID, "550e8400-e29b-41d4-a716-446655440000", 1);
    roundtrip("timeuuid", BS_LIT_UUID, "e8a3d2c0-2d79-11eb-adc1-0242ac120002",
              1);
    roundtrip("inet", BS_LIT_STRING, "192.168.1.1", 1);
    roundtrip("inet", BS_LIT_STRING, "2001:db8::1", 1);
    roundtrip("duration", BS_LIT_DURATION, "1y2mo3w4d5h6m7s8ms9us10ns", 1);
    roundtrip("duration", BS_LIT_DURATION, "-P1D", 1);
    roundtrip("duration", BS_LIT_DURATION, "0s", 1);
    roundtrip("duration", BS_LIT_DURATION, "9223372036854775807ns", 1);
    /* INT64_MIN ns prints as -2562047h47m16s854ms775us808ns */
    roundtrip("duration", BS_LIT_DURATION, "-2562047h47m16s854ms775us808ns", 1);
    roundtrip("duration", BS_LIT_DURATION, "-178956970y8mo",
              1); /* INT32_MIN mo */
}
END_TEST

static void roundtrip_text(const char *type, const char *text,
                           const char *want) {
    bs_type *t = T(type);
    bs_buf v = BS_BUF_INIT;
    char err[256] = "";
    ck_assert_msg(
        bs_value_parse_text(t, text, strlen(text), 0, &v, err, sizeof err) == 0,
        "%s '%s': %s", type, text, err);
    ck_assert_int_eq(bs_value_validate(t, v.data, v.len, err, sizeof err), 0);
    for (int style = 0; style < 3; style++) {
        bs_buf txt = BS_BUF_INIT, back = BS_BUF_INIT;
        int rc = style == 0   ? bs_value_format(t, v.data, v.len, 0, &txt)
                 : style == 1 ? bs_value_format(t, v.data, v.len,
                                                BS_VALUE_FMT_EXACT, &txt)
                              : bs_value_format_cql(t, v.data, v.len, &txt);
        ck_assert_int_eq(rc, 0);
        if (style == 0 && want)
            ck_assert_msg(txt.len == strlen(want) &&
                              memcmp(txt.data, want, txt.len) == 0,
                          "%s: '%.*s' want '%s'", type, (int)txt.len,
                          (char *)txt.data, want);
        /* cqlsh's display precision is lossy for floats by design */
        if (style == 0 && (strstr(type, "float") || strstr(type, "double"))) {
            bs_buf_free(&txt);
            continue;
        }
        rc = bs_value_parse_text(t, (char *)txt.data, txt.len,
                                 style == 2 ? BS_VALUE_PARSE_CQL : 0, &back,
                                 err, sizeof err);
        ck_assert_msg(rc == 0, "%s style %d '%.*s': %s", type, style,
                      (int)txt.len, (char *)txt.data, err);
        ck_assert_msg(back.len == v.len &&
                          (!v.len || memcmp(back.data, v.data, v.len) == 0),
                      "%s style %d '%.*s' differs", type, style, (int)txt.len,
                      (char *)txt.data);
        bs_buf_free(&txt);
        bs_buf_free(&back);
    }
    bs_buf_free(&v);
    bs_type_free(t);
}

START_TEST(roundtrip_collections) {
    roundtrip_text("list<text>", "['a', 'it''s', '', 'x, y]']",
                   "['a', 'it''s', '', 'x, y]']");
    roundtrip_text("set<int>", "{3, 1, 2}", "{1, 2, 3}");
    roundtrip_text("map<text, int>", "{'b': 2, 'a': 1}", "{'a': 1, 'b': 2}");
    roundtrip_text("map<int, frozen<list<text>>>", "{1: ['x'], 0: []}",
                   "{0: [], 1: ['x']}");
    roundtrip_text("list<frozen<tuple<int, text, blob>>>",
                   "[(1, 'a', 0xff), (2, null, null), (3)]",
                   "[(1, 'a', 0xff), (2, null, null), (3)]");
    roundtrip_text("set<timestamp>", "{'2020-01-01 10:00:00.000000+0000', 0}",
                   "{'1970-01-01 00:00:00.000000+0000', '2020-01-01 "
                   "10:00:00.000000+0000'}");
    roundtrip_text("list<date>", "[2020-01-01, '1970-01-01']",
                   "[2020-01-01, 1970-01-01]");
    roundtrip_text("list<time>", "[10:00:00.5]", "[10:00:00.500000000]");
    roundtrip_text("set<uuid>", "{550e8400-e29b-41d4-a716-446655440000}", NULL);
    roundtrip_text("list<inet>", "['::1', 127.0.0.1]", "['::1', '127.0.0.1']");
    roundtrip_text("list<duration>", "[1h30m, -2d]", "[1h30m, -2d]");
    roundtrip_text("list<boolean>", "[true, False]", "[True, False]");
    roundtrip_text("list<double>", "[0.1, NaN, -Infinity, 1e300]", NULL);
    roundtrip_text("list<float>", "[3.14159274, 1e-45]", NULL);
    roundtrip_text("list<decimal>", "[1.50, 1E+3, -0.000001]",
                   "[1.50, 1E+3, -0.000001]");
    roundtrip_text("list<varint>", "[-123456789012345678901234567890]", NULL);
    roundtrip_text("frozen<map<frozen<set<int>>, frozen<map<text, text>>>>",
                   "{{2, 1}: {'k': 'v'}, {}: {}}",
                   "{{}: {}, {1, 2}: {'k': 'v'}}");
    roundtrip_text("tuple<int, frozen<list<int>>>", "(1, [2, 3])",
                   "(1, [2, 3])");
    roundtrip_text("list<text>", "[]", "[]");
}
END_TEST

START_TEST(parse_text_top_level_rules) {
    bs_type *t = T("text");
    bs_buf b = BS_BUF_INIT;
    char err[128];
    /* display form: verbatim, even with quotes and spaces */
    ck_assert_int_eq(bs_value_parse_text(t, " 'x' ", 5, 0, &b, err, sizeof err),
                     0);
    ck_assert_uint_eq(b.len, 5);
    bs_buf_reset(&b);
    /* CQL form: quoted */
    ck_assert_int_eq(bs_value_parse_text(t, " 'x''y' ", 8, BS_VALUE_PARSE_CQL,
                                         &b, err, sizeof err),
                     0);
    ck_assert_str_eq(hexof(b.data, b.len), "782779");
    bs_type_free(t);
    bs_buf_reset(&b);
    t = T("int");
    ck_assert_int_eq(bs_value_parse_text(t, " 42 ", 4, 0, &b, err, sizeof err),
                     0);
    ck_assert_str_eq(hexof(b.data, b.len), "0000002a");
    bs_buf_reset(&b);
    ck_assert_int_eq(bs_value_parse_text(t, "", 0, 0, &b, err, sizeof err),
                     BS_EINVAL);
    ck_assert_int_eq(bs_value_parse_text(t, "4 2", 3, 0, &b, err, sizeof err),
                     BS_EINVAL);
    bs_type_free(t);
    t = T("date");
    ck_assert_int_eq(
        bs_value_parse_text(t, "'2020-01-01'", 12, 0, &b, err, sizeof err), 0);
    ck_assert_str_eq(hexof(b.data, b.len), "80004756");
    bs_type_free(t);
    bs_buf_free(&b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("query_value_text");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, integer_literals_and_ranges);
    tcase_add_test(tc, decimal_float_bool_blob_literals);
    tcase_add_test(tc, uuid_inet_literals);
    tcase_add_test(tc, timestamp_forms);
    tcase_add_test(tc, date_and_time_forms);
    tcase_add_test(tc, duration_forms);
    tcase_add_test(tc, display_format_like_cqlsh);
    tcase_add_test(tc, cql_and_json_formats);
    tcase_add_test(tc, udt_format_and_parse);
    tcase_add_test(tc, parse_text_sorts_sets_and_reports_errors);
    tcase_add_test(tc, roundtrip_every_scalar_type);
    tcase_add_test(tc, roundtrip_collections);
    tcase_add_test(tc, parse_text_top_level_rules);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
