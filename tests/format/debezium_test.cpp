// format/debezium.hpp on hand-made values: base64, ZonedTimestamp text, value mapping of the
// special values, and random bytes (a value or a typed error, never a crash; run under ASan).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "replicator/format/debezium.hpp"

using namespace replicator;
using namespace replicator::values;

namespace {
std::string value_json(std::string_view text, Oid type, std::int32_t typmod = -1) {
  TypedValueView v{ColumnValueView{ColumnKind::text, std::as_bytes(std::span(text.data(), text.size()))}, type};
  std::string out;
  auto st = format::append_debezium_value(out, v, typmod, "__debezium_unavailable_value");
  return st ? out : "<error: " + st.error().message + ">";
}
}  // namespace

TEST_CASE("base64 and ZonedTimestamp") {
  auto b64 = [](std::string_view s) {
    std::string out;
    format::detail::append_base64(out, std::as_bytes(std::span(s.data(), s.size())));
    return out;
  };
  CHECK(b64("").empty());
  CHECK(b64("f") == "Zg==");
  CHECK(b64("fo") == "Zm8=");
  CHECK(b64("foo") == "Zm9v");
  CHECK(b64("foobar") == "Zm9vYmFy");
  auto zoned = [](PgTimestamp t) {
    std::string out;
    format::detail::append_zoned_timestamp(out, t);
    return out;
  };
  CHECK(zoned(PgTimestamp{0}) == "\"2000-01-01T00:00:00Z\"");
  CHECK(zoned(PgTimestamp{1'500'000}) == "\"2000-01-01T00:00:01.5Z\"");
  CHECK(zoned(kTimestampInfinity) == "\"infinity\"");
  CHECK(format::detail::unix_micros(PgTimestamp{std::numeric_limits<std::int64_t>::max() - 5}) ==
        std::numeric_limits<std::int64_t>::max());
  CHECK(format::detail::unix_millis(PgTimestamp::from_unix_micros(-1)) == -1);
}

TEST_CASE("value mapping of special values") {
  CHECK(value_json("NaN", oid::float8) == "\"NaN\"");
  CHECK(value_json("-Infinity", oid::float4) == "\"-Infinity\"");
  CHECK(value_json("1.5", oid::float8) == "1.5");
  CHECK(value_json("NaN", oid::numeric) == "null");  // decimal.handling.mode=precise cannot carry NaN
  CHECK(value_json("1970-01-02", oid::date) == "1");
  CHECK(value_json("infinity", oid::date) == "2147483647");
  CHECK(value_json("1970-01-01 00:00:01.5", oid::timestamp) == "1500000");
  CHECK(value_json("1970-01-01 00:00:01.5", oid::timestamp, 3) == "1500");
  CHECK(value_json("infinity", oid::timestamp) == "9223372036825200000");  // the JDBC driver's infinity
  CHECK(value_json("-infinity", oid::timestamptz) == "\"-infinity\"");
  CHECK(value_json("{{1,NULL},{3,4}}", oid::int4_array) == "[[1,null],[3,4]]");
  CHECK(value_json("{}", oid::text_array) == "[]");
  CHECK(value_json("{\"\\\\x01\"}", oid::bytea_array) == "[\"AQ==\"]");
  CHECK(value_json("{\"a\": 1}", oid::jsonb) == "\"{\\\"a\\\": 1}\"");
  CHECK(value_json("(1,2)", 600).rfind("{\"x\":1.0,\"y\":2.0,\"wkb\":", 0) == 0);
  CHECK(value_json("x", oid::int4).rfind("<error", 0) == 0);
}

TEST_CASE("random bytes through the Debezium value mapping") {
  std::uint64_t s = 0x2545F4914F6CDD1Dull;
  auto next = [&] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  const Oid types[] = {oid::bool_,     oid::int2,        oid::int8,       oid::float4, oid::numeric,
                       oid::timestamp, oid::timestamptz, oid::date,       oid::uuid,   oid::jsonb,
                       oid::bytea,     oid::int4_array,  oid::date_array, 600};
  std::size_t failures = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<std::byte> bytes(next() % 40);
    for (auto& b : bytes) b = static_cast<std::byte>(next());
    const bool binary = next() % 2 == 0;
    TypedValueView v{ColumnValueView{binary ? ColumnKind::binary : ColumnKind::text, bytes},
                     types[next() % std::size(types)]};
    std::string out;
    if (!format::append_debezium_value(out, v, static_cast<std::int32_t>(next() % 8) - 1, "u")) ++failures;
  }
  CHECK(failures > 0);
}

TEST_CASE("snapshot reads, messages and a truncate of two tables") {
  RelationInfo a, b;
  a.schema = b.schema = "s";
  a.name = "a";
  b.name = "b";
  a.columns = {{"id", oid::int4, -1, true}};
  const std::vector<std::byte> tuple{std::byte{'t'}, std::byte{0}, std::byte{0},
                                     std::byte{0},   std::byte{1}, std::byte{'5'}};
  DebeziumOptions o;
  o.server_name = "srv";
  o.database = "db";
  o.now_ms = [] { return std::int64_t{42}; };
  o.transaction_metadata = true;
  DebeziumFormatter fmt(o);
  std::string out;
  RowChangeView read{ChangeOp::read, Lsn{}, {}, &a, OldTupleKind::none, {}, TupleView(tuple, 1)};
  REQUIRE(fmt.lines(out, ChangeEvent{read}));
  CHECK(out ==
        "{\"before\":null,\"after\":{\"id\":5},\"source\":{\"version\":\"replicator\",\"connector\":\"postgresql\","
        "\"name\":\"srv\",\"ts_ms\":42,\"snapshot\":\"true\",\"db\":\"db\",\"sequence\":\"[null,\\\"0\\\"]\","
        "\"schema\":\"s\",\"table\":\"a\",\"txId\":null,\"lsn\":null,\"xmin\":null},\"op\":\"r\",\"ts_ms\":42,"
        "\"transaction\":null}\n");
  out.clear();
  const TxnContext txn{9, 9, Lsn{0x100}, PgTimestamp::from_unix_micros(5'000), false};
  REQUIRE(fmt.lines(out, ChangeEvent{BeginEvent{Lsn{0x10}, txn}}));
  const RelationInfo* both[] = {&a, &b};
  REQUIRE(fmt.lines(out, ChangeEvent{TruncateEventView{Lsn{0x20}, txn, both, false, false}}));
  const std::string_view hi = "hi";
  REQUIRE(fmt.lines(out, ChangeEvent{MessageEventView{Lsn{0x30}, Lsn{0x30}, txn, true, "pfx",
                                                      std::as_bytes(std::span(hi.data(), hi.size()))}}));
  REQUIRE(fmt.lines(out, ChangeEvent{CommitEvent{Lsn{0x40}, txn, Lsn{0x140}}}));
  const auto first_nl = out.find('\n');
  const std::string l1 = out.substr(0, first_nl);
  CHECK(l1.find("\"ts_ms\":5,\"snapshot\":\"false\"") != std::string::npos);
  CHECK(l1.find("\"table\":\"a\",\"txId\":9,\"lsn\":32,") != std::string::npos);
  CHECK(
      l1.find(
          "\"op\":\"t\",\"ts_ms\":42,\"transaction\":{\"id\":\"9\",\"total_order\":1,\"data_collection_order\":1}}") !=
      std::string::npos);
  CHECK(out.find("\"table\":\"b\"") != std::string::npos);
  CHECK(out.find("\"op\":\"m\",\"ts_ms\":42,\"message\":{\"prefix\":\"pfx\",\"content\":\"aGk=\"}}\n") !=
        std::string::npos);
  // After the commit, the next change's sequence names that commit's LSN (0x100 = 256).
  out.clear();
  RowChangeView ins{
      ChangeOp::insert,   Lsn{0x200}, TxnContext{10, 10, Lsn{0x300}, PgTimestamp{}, false}, &a, OldTupleKind::none, {},
      TupleView(tuple, 1)};
  REQUIRE(fmt.lines(out, ChangeEvent{ins}));
  CHECK(out.find("\"sequence\":\"[\\\"256\\\",\\\"512\\\"]\"") != std::string::npos);
}
