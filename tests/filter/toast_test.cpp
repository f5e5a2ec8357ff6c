// filter/toast.hpp: the unchanged-TOAST policy names (config values) and their round trip.
#include "replicator/filter/toast.hpp"

#include <catch2/catch.hpp>

using namespace replicator;

TEST_CASE("ToastPolicy names parse and print back; an unknown one names the choices") {
  for (ToastPolicy p : {ToastPolicy::marker, ToastPolicy::omit, ToastPolicy::from_old}) {
    auto parsed = parse_toast_policy(to_string(p));
    REQUIRE(parsed);
    CHECK(*parsed == p);
  }
  auto bad = parse_toast_policy("keep");
  REQUIRE_FALSE(bad);
  CHECK_FALSE(bad.error().retryable());
  CHECK_THAT(bad.error().message, Catch::Contains("'keep'") && Catch::Contains("marker, omit or from_old"));
}
