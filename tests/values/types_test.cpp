// values/types.hpp: error descriptions name the code, detail and type; infinities and dates print
// as PostgreSQL prints them.
#include "replicator/values/types.hpp"

#include <catch2/catch.hpp>

using namespace replicator;
using namespace replicator::values;

TEST_CASE("ValueError::describe and the unchanged TOAST code") {
  const ValueError e{ValueErrc::unchanged_toast, oid::text, "bio"};
  CHECK(e.describe() == "value is an unchanged TOAST value the server did not send (bio) [type OID 25]");
}

TEST_CASE("timestamps and dates format as PostgreSQL prints them") {
  CHECK(is_infinite(kTimestampInfinity));
  CHECK(is_infinite(kTimestampMinusInfinity));
  CHECK(format_timestamp(kTimestampInfinity, true) == "infinity");
  CHECK(PgDate{0}.to_string() == "2000-01-01");
}
