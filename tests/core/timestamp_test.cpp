#include "replicator/core/timestamp.hpp"

#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>

using replicator::PgTimestamp;

TEST_CASE("PgTimestamp converts between the server's epoch and Unix time") {
  CHECK(PgTimestamp{0}.unix_micros() == PgTimestamp::kUnixEpochOffsetMicros);
  CHECK(PgTimestamp::from_unix_micros(0).micros_since_2000() == -PgTimestamp::kUnixEpochOffsetMicros);
  CHECK(PgTimestamp::from_unix_micros(1'764'088'251'123'456).unix_micros() == 1'764'088'251'123'456);
  CHECK(PgTimestamp::from_unix_micros(1'500).unix_millis() == 1);
  CHECK(PgTimestamp::from_unix_micros(-1'500).unix_millis() == -2);  // floor, not truncation
  CHECK(PgTimestamp{1} > PgTimestamp{0});
}

TEST_CASE("PgTimestamp formats ISO-8601 UTC with microseconds") {
  CHECK(PgTimestamp{0}.to_string() == "2000-01-01T00:00:00.000000Z");
  CHECK(PgTimestamp::from_unix_micros(0).to_string() == "1970-01-01T00:00:00.000000Z");
  CHECK(PgTimestamp::from_unix_micros(1'764'088'251'123'456).to_string() == "2025-11-25T16:30:51.123456Z");
  CHECK(PgTimestamp{-1}.to_string() == "1999-12-31T23:59:59.999999Z");
  // 2000-02-29 (leap day) at 12:00.
  CHECK(PgTimestamp{(59LL * 86400 + 12 * 3600) * 1'000'000}.to_string() == "2000-02-29T12:00:00.000000Z");
  STATIC_REQUIRE(PgTimestamp{0}.format_iso8601().view() == "2000-01-01T00:00:00.000000Z");
}

TEST_CASE("PgTimestamp does not overflow at the ends of the int64 range") {
  const PgTimestamp lo{std::numeric_limits<std::int64_t>::min()};
  const PgTimestamp hi{std::numeric_limits<std::int64_t>::max()};
  CHECK_FALSE(lo.to_string().empty());
  CHECK_FALSE(hi.to_string().empty());
  CHECK(lo.unix_micros() <= hi.unix_micros());
}
