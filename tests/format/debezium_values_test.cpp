// format/debezium_values.hpp's encoders on hand-made text and binary forms: Java's double text,
// BigDecimal text, unscaled two's-complement bytes, intervals, bits, money, time with zone,
// hstore, base64 variants, and the type resolution through a catalog (enum, domain, arrays);
// random bytes through every mapping (a value or a typed error, never a crash; run under ASan);
// and a row of scalar types formatted without heap allocation once warm. Replaces global operator
// new (allocation counting).
// Expected values follow Debezium's PostgreSQL connector documentation (rule beside each).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "replicator/format/debezium.hpp"
#include "replicator/format/debezium_schema.hpp"
#include "replicator/format/debezium_values.hpp"
#include "tests/support/counting_allocator.hpp"

using namespace replicator;
using namespace replicator::format;
namespace o = replicator::values::oid;

namespace {
std::vector<std::byte> be(std::initializer_list<unsigned> v) {
  std::vector<std::byte> out;
  for (unsigned x : v) out.push_back(static_cast<std::byte>(x));
  return out;
}
std::string value(std::string_view text, Oid type, std::int32_t typmod = -1, DebeziumValueModes m = {},
                  const DebeziumTypeCatalog& cat = DebeziumTypeCatalog{}) {
  values::TypedValueView v{ColumnValueView{ColumnKind::text, std::as_bytes(std::span(text.data(), text.size()))}, type};
  std::string out;
  auto st = append_debezium_value(out, v, resolve_debezium_type(cat, type, typmod), m, "__debezium_unavailable_value");
  return st ? out : "<error>";
}
std::string binary_value(const std::vector<std::byte>& bytes, Oid type, std::int32_t typmod = -1,
                         DebeziumValueModes m = {}) {
  values::TypedValueView v{ColumnValueView{ColumnKind::binary, bytes}, type};
  std::string out;
  auto st = append_debezium_value(out, v, resolve_debezium_type(DebeziumTypeCatalog{}, type, typmod), m, "u");
  return st ? out : "<error>";
}
}  // namespace

TEST_CASE("Java's Double.toString and Float.toString, as Jackson prints FLOAT64 / FLOAT32") {
  auto d = [](double v, bool f = false) {
    std::string out;
    format::detail::append_java_double(out, v, f);
    return out;
  };
  CHECK(d(1) == "1.0");
  CHECK(d(-2.5) == "-2.5");
  CHECK(d(0.001) == "0.001");
  CHECK(d(0.0001) == "1.0E-4");
  CHECK(d(9999999) == "9999999.0");
  CHECK(d(1e7) == "1.0E7");
  CHECK(d(123456789012.0) == "1.23456789012E11");
  CHECK(d(-0.0) == "-0.0");
  CHECK(d(0.1f, true) == "0.1");
  CHECK(d(std::numeric_limits<double>::quiet_NaN()) == "\"NaN\"");
  CHECK(d(-std::numeric_limits<double>::infinity()) == "\"-Infinity\"");
}

TEST_CASE("decimals - Decimal bytes, VariableScaleDecimal, BigDecimal text") {
  // precise numeric(p,s): base64 of BigInteger.toByteArray of the unscaled value
  CHECK(value("0.00", o::numeric, (10 << 16 | 2) + 4) == "\"AA==\"");
  CHECK(value("1.28", o::numeric, (10 << 16 | 2) + 4) == "\"AIA=\"");   // 128 needs a sign byte
  CHECK(value("-1.28", o::numeric, (10 << 16 | 2) + 4) == "\"gA==\"");  // -128 fits one byte
  CHECK(value("-1.29", o::numeric, (10 << 16 | 2) + 4) == "\"/38=\"");  // -129 = FF 7F
  // more than nine digits (the conversion works nine at a time)
  CHECK(value("18446744073709551616", o::numeric, (30 << 16) + 4) == "\"AQAAAAAAAAAA\"");  // 2^64
  CHECK(value("-9223372036854775808", o::numeric, (30 << 16) + 4) == "\"gAAAAAAAAAA=\"");  // -2^63
  CHECK(value("100000000000000000000", o::numeric, (30 << 16) + 4) == "\"BWvHXi1jEAAA\"");
  CHECK(value("-123456789012345678901234567", o::numeric, (30 << 16) + 4) == "\"meECDqcNV9NgtHk=\"");
  {
    // numeric's largest integer part, 131,072 digits (a fuzz input once took 13 s with half of it)
    const std::string big = value("1" + std::string(131071, '0'), o::numeric);
    CHECK(big.size() == std::string("{\"scale\":0,\"value\":\"\"}").size() + 72572);
    CHECK(big.find("\"AVqluazKWKkuc69v") != std::string::npos);
  }
  // numeric without scale: {"scale", "value"} with trailing zeros stripped
  CHECK(value("1.500", o::numeric) == "{\"scale\":1,\"value\":\"Dw==\"}");
  CHECK(value("100", o::numeric) == "{\"scale\":0,\"value\":\"ZA==\"}");
  CHECK(value("Infinity", o::numeric) == "null");
  DebeziumValueModes s;
  s.decimal = DecimalHandlingMode::string;  // BigDecimal.toString: scientific below 1E-6
  CHECK(value("0.0000001", o::numeric, -1, s) == "\"1E-7\"");
  CHECK(value("0.00000000", o::numeric, -1, s) == "\"0E-8\"");
  CHECK(value("-0.000001", o::numeric, -1, s) == "\"-0.000001\"");
  CHECK(value("-Infinity", o::numeric, -1, s) == "\"NEGATIVE_INFINITY\"");
  DebeziumValueModes dbl;
  dbl.decimal = DecimalHandlingMode::double_;
  CHECK(value("Infinity", o::numeric, -1, dbl) == "\"Infinity\"");
  CHECK(value("12.50", o::numeric, -1, dbl) == "12.5");
  // numeric_send (binary): ndigits 1, weight 0, sign 0x4000 (negative), dscale 2, digit 12 -> -12.00
  CHECK(binary_value(be({0, 1, 0, 0, 0x40, 0, 0, 2, 0, 12}), o::numeric, (5 << 16 | 2) + 4) == "\"+1A=\"");
  CHECK(value("12x", o::numeric) == "<error>");
}

TEST_CASE("money - text with currency symbols and grouping, and cash_send's int64 cents") {
  CHECK(value("$1,234.50", 790) == "\"AeI6\"");  // 123450 = 01 E2 3A -> Decimal scale 2
  CHECK(value("-$0.01", 790) == "\"/w==\"");
  CHECK(value("($0.01)", 790) == "\"/w==\"");
  CHECK(binary_value(be({0, 0, 0, 0, 0, 1, 0xE2, 0x3A}), 790) == "\"AeI6\"");  // 123450 cents
  DebeziumValueModes s;
  s.decimal = DecimalHandlingMode::string;
  CHECK(value("$1,234.50", 790, -1, s) == "\"1234.5\"");  // String.valueOf(double)
}

TEST_CASE("intervals - text and binary forms, MicroDuration and ISO 8601") {
  DebeziumValueModes iso;
  iso.interval = IntervalHandlingMode::string;
  CHECK(value("00:00:00", 1186) == "0");
  CHECK(value("00:00:00", 1186, -1, iso) == "\"P0Y0M0DT0H0M0S\"");
  CHECK(value("1 mon", 1186) == "2629800000000");  // 30.4375 days
  CHECK(value("50 days 03:00:00", 1186) == "4330800000000");
  CHECK(value("-00:00:01.5", 1186, -1, iso) == "\"P0Y0M0DT0H0M-1.5S\"");
  CHECK(value("1 year 2 mons 3 days 04:05:06.78", 1186, -1, iso) == "\"P1Y2M3DT4H5M6.78S\"");
  CHECK(value("3 days 2562047788:00:54.775807", 1186, -1, iso) == "\"P0Y0M3DT2562047788H0M54.775807S\"");
  // interval_send: µs, days, months
  CHECK(binary_value(be({0, 0, 0, 0, 0, 0x0F, 0x42, 0x40, 0, 0, 0, 2, 0, 0, 0, 13}), 1186, -1, iso) ==
        "\"P1Y1M2DT0H0M1S\"");
  CHECK(value("1 fortnight", 1186) == "<error>");
  CHECK(binary_value(be({0, 0}), 1186) == "<error>");
}

TEST_CASE("bits - little-endian bytes, bit(1) as boolean, bit_send") {
  CHECK(value("1", 1560, 1) == "true");
  CHECK(value("0", 1562, 1) == "false");
  CHECK(value("0000000000110010", 1560, 16) == "\"MgA=\"");  // 0x0032 -> 32 00
  CHECK(value("100000001", 1562, 33) == "\"AQE=\"");         // bit 8 and bit 0
  CHECK(binary_value(be({0, 0, 0, 16, 0x00, 0x32}), 1560, 16) == "\"MgA=\"");
  CHECK(binary_value(be({0, 0, 0, 3, 0xA0}), 1562, -1) == "\"BQ==\"");  // 101
  CHECK(binary_value(be({0, 0, 0, 9, 0xA0}), 1562, -1) == "<error>");   // 9 bits need 2 bytes
  CHECK(value("012", 1562, 5) == "<error>");
}

TEST_CASE("time, timetz, timestamps in the time precision modes") {
  DebeziumValueModes us, conn;
  us.time_precision = TimePrecisionMode::adaptive_time_microseconds;
  conn.time_precision = TimePrecisionMode::connect;
  CHECK(value("01:00:00.5", o::time) == "3600500000");
  CHECK(value("01:00:00.5", o::time, 2) == "3600500");
  CHECK(value("01:00:00.5", o::time, 2, us) == "3600500000");
  CHECK(value("01:00:00.5", o::time, -1, conn) == "3600500");
  CHECK(binary_value(be({0, 0, 0, 0, 0, 0, 0, 1}), o::time) == "1");
  CHECK(value("23:30:00-01", 1266) == "\"00:30:00Z\"");
  CHECK(value("00:00:00.000001+05:30", 1266) == "\"18:30:00.000001Z\"");
  CHECK(value("24:00:00+00", 1266) == "\"24:00:00Z\"");
  // timetz_send: µs, then the zone in seconds west of UTC (+02 is -7200)
  CHECK(binary_value(be({0, 0, 0, 6, 0xB4, 0x9D, 0x20, 0x00, 0xFF, 0xFF, 0xE3, 0xE0}), 1266) == "\"06:00:00Z\"");
  CHECK(value("1969-12-31 23:59:59.999", o::timestamp, 3) == "-1");  // floor to ms
  CHECK(value("1969-12-31 23:59:59.999999", o::timestamp, -1, conn) == "-1");
  CHECK(value("12:00", o::time) == "<error>");
}

TEST_CASE("bytea, point, hstore, strings") {
  DebeziumValueModes m;
  m.binary = BinaryHandlingMode::base64_url_safe;
  CHECK(value("\\xfbff", o::bytea) == "\"+/8=\"");
  CHECK(value("\\xfbff", o::bytea, -1, m) == "\"-_8=\"");
  m.binary = BinaryHandlingMode::hex;
  CHECK(value("\\xfbff", o::bytea, -1, m) == "\"fbff\"");
  CHECK(value("(-1e+300,0.25)", 600) ==
        "{\"x\":-1.0E300,\"y\":0.25,\"wkb\":\"AQEAAACcdQCIPOQ3/gAAAAAAANA/\",\"srid\":null}");
  CHECK(value("(1,2", 600) == "<error>");
  DebeziumTypeCatalog cat;
  cat.add({.oid = 20000,
           .kind = 'b',
           .name = "hstore",
           .base_type = 0,
           .base_typmod = -1,
           .element_type = 0,
           .enum_labels = {}});
  CHECK(value(R"("a b"=>"x\"y", "c"=>NULL)", 20000, -1, {}, cat) == R"("{\"a b\":\"x\\\"y\",\"c\":null}")");
  DebeziumValueModes map;
  map.hstore = HstoreHandlingMode::map;
  CHECK(value(R"("k"=>"v")", 20000, -1, map, cat) == R"({"k":"v"})");
  CHECK(value(R"("k"=>)", 20000, -1, map, cat) == "<error>");
  {  // hstore_send: 1 pair, "k" -> NULL
    const auto b = be({0, 0, 0, 1, 0, 0, 0, 1, 'k', 0xFF, 0xFF, 0xFF, 0xFF});
    values::TypedValueView v{ColumnValueView{ColumnKind::binary, b}, 20000};
    std::string out;
    REQUIRE(append_debezium_value(out, v, resolve_debezium_type(cat, 20000, -1), map, "u"));
    CHECK(out == R"({"k":null})");
  }
  CHECK(value("abc", 99999) == "\"abc\"");  // an unknown type: its text
  CHECK(value("{\"a\": 1}", o::jsonb) == "\"{\\\"a\\\": 1}\"");
}

TEST_CASE("catalog resolution - enums, domains over domains, arrays of enums; their schemas") {
  DebeziumTypeCatalog cat;
  cat.add({.oid = 30000,
           .kind = 'e',
           .name = "mood",
           .base_type = 0,
           .base_typmod = -1,
           .element_type = 0,
           .enum_labels = {"sad", "ok"}});
  cat.add({.oid = 30001,
           .kind = 'b',
           .name = "_mood",
           .base_type = 0,
           .base_typmod = -1,
           .element_type = 30000,
           .enum_labels = {}});
  cat.add({.oid = 30002,
           .kind = 'd',
           .name = "money2",
           .base_type = o::numeric,
           .base_typmod = (8 << 16 | 2) + 4,
           .element_type = 0,
           .enum_labels = {}});
  cat.add({.oid = 30003,
           .kind = 'd',
           .name = "money3",
           .base_type = 30002,
           .base_typmod = -1,
           .element_type = 0,
           .enum_labels = {}});
  const auto e = resolve_debezium_type(cat, 30000, -1);
  CHECK(e.scalar.kind == DebeziumKind::enum_);
  const auto a = resolve_debezium_type(cat, 30001, -1);
  CHECK(a.is_array);
  CHECK(a.scalar.kind == DebeziumKind::enum_);
  const auto d = resolve_debezium_type(cat, 30003, -1);
  CHECK(d.scalar.kind == DebeziumKind::numeric);
  CHECK(d.scalar.wire_oid == o::numeric);
  CHECK(d.scalar.typmod == (8 << 16 | 2) + 4);
  CHECK(value("1.28", 30003, -1, {}, cat) == "\"AIA=\"");
  std::string s;
  append_field_schema(s, a, {}, true, "moods");
  CHECK(s ==
        "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"optional\":true,\"name\":\"io.debezium.data.Enum\","
        "\"version\":1,\"parameters\":{\"allowed\":\"sad,ok\"}},\"optional\":true,\"field\":\"moods\"}");
  s.clear();
  append_field_schema(s, d, {}, false, "p");
  CHECK(s ==
        "{\"type\":\"bytes\",\"optional\":false,\"name\":\"org.apache.kafka.connect.data.Decimal\",\"version\":1,"
        "\"parameters\":{\"scale\":\"2\",\"connect.decimal.precision\":\"8\"},\"field\":\"p\"}");
  cat.add({.oid = 30004,
           .kind = 'd',
           .name = "ints",
           .base_type = o::int4_array,
           .base_typmod = -1,
           .element_type = 0,
           .enum_labels = {}});
  const auto da = resolve_debezium_type(cat, 30004, -1);  // a domain over int4[] is an array of INT32
  CHECK(da.is_array);
  CHECK(da.scalar.kind == DebeziumKind::int32);
  CHECK(value("{1,2}", 30004, -1, {}, cat) == "[1,2]");
  CHECK(cat.missing(40000));
  CHECK_FALSE(cat.missing(30000));
  CHECK_FALSE(cat.missing(o::int4));
}

TEST_CASE("random bytes through every Debezium mapping, text and binary") {
  DebeziumTypeCatalog cat;
  cat.add({.oid = 20000,
           .kind = 'b',
           .name = "hstore",
           .base_type = 0,
           .base_typmod = -1,
           .element_type = 0,
           .enum_labels = {}});
  cat.add({.oid = 20001,
           .kind = 'e',
           .name = "e",
           .base_type = 0,
           .base_typmod = -1,
           .element_type = 0,
           .enum_labels = {"a"}});
  cat.add({.oid = 20002,
           .kind = 'b',
           .name = "ltree",
           .base_type = 0,
           .base_typmod = -1,
           .element_type = 0,
           .enum_labels = {}});
  const std::pair<Oid, std::int32_t> types[] = {{o::bool_, -1},
                                                {1560, 1},
                                                {1560, 16},
                                                {1562, -1},
                                                {o::int2, -1},
                                                {o::int8, -1},
                                                {o::float4, -1},
                                                {o::float8, -1},
                                                {o::numeric, -1},
                                                {o::numeric, (10 << 16 | 2) + 4},
                                                {790, -1},
                                                {o::text, -1},
                                                {o::jsonb, -1},
                                                {o::uuid, -1},
                                                {o::date, -1},
                                                {o::time, 3},
                                                {1266, -1},
                                                {o::timestamp, -1},
                                                {o::timestamptz, -1},
                                                {1186, -1},
                                                {o::bytea, -1},
                                                {600, -1},
                                                {869, -1},
                                                {650, -1},
                                                {829, -1},
                                                {774, -1},
                                                {3220, -1},
                                                {20000, -1},
                                                {20001, -1},
                                                {20002, -1},
                                                {o::int4_array, -1},
                                                {o::numeric_array, -1},
                                                {1187, -1},
                                                {3904, -1}};
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  static constexpr char alphabet[] = "0123456789-+.:,()[]{}\"\\=> abcdefxINaf$";
  const DebeziumValueModes modes[] = {
      {},
      {DecimalHandlingMode::string, IntervalHandlingMode::string, BinaryHandlingMode::hex, TimePrecisionMode::connect,
       HstoreHandlingMode::map, 2}};
  std::size_t ok = 0, errors = 0;
  for (int iter = 0; iter < 40000; ++iter) {
    const auto [type, typmod] = types[next() % std::size(types)];
    std::vector<std::byte> bytes(next() % 24);
    const bool binary = next() % 2 == 0;
    for (auto& b : bytes)
      b = static_cast<std::byte>(binary ? next()
                                        : static_cast<unsigned char>(alphabet[next() % (sizeof alphabet - 1)]));
    values::TypedValueView v{ColumnValueView{binary ? ColumnKind::binary : ColumnKind::text, bytes}, type};
    std::string out;
    if (append_debezium_value(out, v, resolve_debezium_type(cat, type, typmod), modes[next() % 2], "u")) ++ok;
    else ++errors;
  }
  CHECK(ok > 0);
  CHECK(errors > 0);
}

TEST_CASE("a row of scalar types formats without heap allocation once warm") {
  RelationInfo rel;
  rel.oid = 5;
  rel.schema = "public";
  rel.name = "t";
  const std::vector<std::pair<Oid, std::string>> cols = {{o::int4, "7"},
                                                         {o::bool_, "t"},
                                                         {o::int8, "-9223372036854775808"},
                                                         {o::float8, "1.5e300"},
                                                         {o::numeric, "617283.945050"},
                                                         {790, "-$1,234.50"},
                                                         {o::text, "caf\xc3\xa9 \"x\""},
                                                         {o::timestamptz, "2024-05-01 12:00:00.5+02"},
                                                         {o::timestamp, "2024-05-01 10:00:00.123456"},
                                                         {o::date, "2024-02-29"},
                                                         {o::time, "23:59:59.999999"},
                                                         {1266, "10:15:30.5+02"},
                                                         {1186, "1 year 2 mons 3 days 04:05:06.78"},
                                                         {o::bytea, "\\x0001ff"},
                                                         {o::uuid, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"},
                                                         {o::jsonb, "{\"a\": [1, 2]}"},
                                                         {1560, "0000000000110010"},
                                                         {600, "(1.5,-2)"},
                                                         {869, "192.168.0.1/24"}};
  std::vector<std::byte> tuple;
  for (std::size_t i = 0; i < cols.size(); ++i) {
    rel.columns.push_back({"c" + std::to_string(i), cols[i].first, -1, i == 0});
    tuple.push_back(std::byte{'t'});
    const auto n = static_cast<std::uint32_t>(cols[i].second.size());
    for (int k = 3; k >= 0; --k) tuple.push_back(static_cast<std::byte>(n >> (8 * k)));
    for (char c : cols[i].second) tuple.push_back(static_cast<std::byte>(c));
  }
  for (bool schemas : {false, true}) {
    INFO("schemas=" << schemas);
    DebeziumOptions opts;
    opts.now_ms = [] { return std::int64_t{1}; };
    opts.schemas = schemas;
    opts.keys = schemas;
    DebeziumFormatter fmt(opts);
    RowChangeView row{ChangeOp::insert,
                      Lsn{0x10},
                      TxnContext{5, 5, Lsn{0x20}, PgTimestamp{1}, false},
                      &rel,
                      OldTupleKind::none,
                      {},
                      TupleView(tuple, cols.size())};
    std::string out;
    out.reserve(1 << 16);
    REQUIRE(fmt.lines(out, ChangeEvent{row}));  // warms the per-table cache and the scratch buffers
    out.clear();
    const auto before = replicator::test::heap_allocations();
    REQUIRE(fmt.lines(out, ChangeEvent{row}));
    CHECK(replicator::test::heap_allocations() == before);
    CHECK(out.find("\"c4\":{\"scale\":5,\"value\":\"Dl9MjQk=\"}") != std::string::npos);
    CHECK(out.find("\"c14\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"") != std::string::npos);
  }
}
