// values/text.hpp at its edges: integer syntax checked before range, and timestamps held to
// PostgreSQL's range [4714-11-24 BC, 294277-01-01) without overflow (the fuzz findings, as cases).
#include "replicator/values/text.hpp"

#include <catch2/catch.hpp>

#include "replicator/values/types.hpp"

using namespace replicator;
using namespace replicator::values;

TEST_CASE("parse_int_text: junk after too many digits is malformed, a clean overflow is out_of_range") {
  CHECK(*parse_int_text("-9223372036854775808") == std::numeric_limits<std::int64_t>::min());
  auto overflow = parse_int_text("99999999999999999999");
  REQUIRE_FALSE(overflow);
  CHECK(overflow.error().code == ValueErrc::out_of_range);
  auto junk = parse_int_text("123456789012345678901x");
  REQUIRE_FALSE(junk);
  CHECK(junk.error().code == ValueErrc::malformed);
  CHECK(parse_int_text("").error().code == ValueErrc::malformed);
}

TEST_CASE("parse_timestamp_text: PostgreSQL's range exactly; beyond it out_of_range, never infinity") {
  // END_TIMESTAMP - 1 and MIN_TIMESTAMP, in microseconds since 2000-01-01.
  auto last = parse_timestamp_text("294276-12-31 23:59:59.999999", false);
  REQUIRE(last);
  CHECK(last->micros_since_2000() == 9'223'371'331'199'999'999);
  auto first = parse_timestamp_text("4714-11-24 00:00:00 BC", false);
  REQUIRE(first);
  CHECK(first->micros_since_2000() == -211'813'488'000'000'000);
  for (const char* s : {"294277-01-01 00:00:00", "294277-01-09 04:00:54.775807", "294278-01-01 00:00:00",
                        "4714-11-23 23:59:59 BC", "9999999-01-01 00:00:00"}) {
    INFO(s);
    auto r = parse_timestamp_text(s, false);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ValueErrc::out_of_range);
  }
  auto tz = parse_timestamp_text("294276-12-31 23:59:59+00", true);
  REQUIRE(tz);
  CHECK_FALSE(is_infinite(*tz));
  CHECK(parse_timestamp_text("294276-12-31 23:00:00-05", true).error().code == ValueErrc::out_of_range);
  CHECK(*parse_timestamp_text("infinity", false) == kTimestampInfinity);
}
