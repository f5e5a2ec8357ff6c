// core/error.hpp: decode errors with their offset and field, ReplicationError's two kinds, Result.
#include "replicator/core/error.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace replicator;

TEST_CASE("Error names its code, field and offset") {
  const Error e{Errc::truncated, 17, "Insert.new_tuple"};
  CHECK(e.describe().find("truncated") != std::string::npos);
  CHECK(e.describe().find("Insert.new_tuple") != std::string::npos);
  CHECK(e.describe().find("17") != std::string::npos);
  CHECK(to_string(Errc::bad_lsn_text) == "malformed LSN");
  CHECK(Error{Errc::truncated, 17, "x"} == Error{Errc::truncated, 17, "x"});
}

TEST_CASE("ReplicationError is fatal or retryable and keeps the decode error") {
  const auto f = ReplicationError::fatal("no such slot", "42704");
  CHECK_FALSE(f.retryable());
  CHECK(f.sqlstate == "42704");
  CHECK_FALSE(f.decode_error);
  const auto r = ReplicationError::retry("connection lost");
  CHECK(r.retryable());
  const auto d = ReplicationError::decoding(Error{Errc::unknown_message, 3, "tag"}, "bad message: ");
  CHECK_FALSE(d.retryable());
  REQUIRE(d.decode_error);
  CHECK(d.decode_error->code == Errc::unknown_message);
  CHECK(d.decode_error->offset == 3);
  CHECK(d.message.rfind("bad message: ", 0) == 0);
}

TEST_CASE("Result holds a value or an error") {
  Result<int> good = 5;
  REQUIRE(good);
  CHECK(*good == 5);
  Result<int> bad = Error{Errc::negative_length, 0, "n"};
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::negative_length);
  Status ok = ok_status();
  CHECK(ok);
  Status failed = ReplicationError::retry("later");
  REQUIRE_FALSE(failed);
  CHECK(failed.error().retryable());
}
