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
  CHECK(format::detail::zoned_timestamp(PgTimestamp{0}) == "2000-01-01T00:00:00Z");
  CHECK(format::detail::zoned_timestamp(PgTimestamp{1'500'000}) == "2000-01-01T00:00:01.5Z");
  CHECK(format::detail::zoned_timestamp(kTimestampInfinity) == "infinity");
  CHECK(format::detail::unix_micros(PgTimestamp{std::numeric_limits<std::int64_t>::max() - 5}) ==
        std::numeric_limits<std::int64_t>::max());
  CHECK(format::detail::unix_millis(PgTimestamp::from_unix_micros(-1)) == -1);
}

TEST_CASE("value mapping of special values") {
  CHECK(value_json("NaN", oid::float8) == "\"NaN\"");
  CHECK(value_json("-Infinity", oid::float4) == "\"-Infinity\"");
  CHECK(value_json("1.5", oid::float8) == "1.5");
  CHECK(value_json("NaN", oid::numeric) == "\"NaN\"");
  CHECK(value_json("1970-01-02", oid::date) == "1");
  CHECK(value_json("infinity", oid::date) == "2147483647");
  CHECK(value_json("1970-01-01 00:00:01.5", oid::timestamp) == "1500000");
  CHECK(value_json("1970-01-01 00:00:01.5", oid::timestamp, 3) == "1500");
  CHECK(value_json("infinity", oid::timestamp) == "9223372036854775807");
  CHECK(value_json("-infinity", oid::timestamptz) == "\"-infinity\"");
  CHECK(value_json("{{1,NULL},{3,4}}", oid::int4_array) == "[[1,null],[3,4]]");
  CHECK(value_json("{}", oid::text_array) == "[]");
  CHECK(value_json("{\"\\\\x01\"}", oid::bytea_array) == "[\"AQ==\"]");
  CHECK(value_json("{\"a\": 1}", oid::jsonb) == "\"{\\\"a\\\": 1}\"");
  CHECK(value_json("(1,2)", 600) == "\"(1,2)\"");
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
  const Oid types[] = {oid::bool_, oid::int2, oid::int8, oid::float4, oid::numeric, oid::timestamp, oid::timestamptz,
                       oid::date, oid::uuid, oid::jsonb, oid::bytea, oid::int4_array, oid::date_array, 600};
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
