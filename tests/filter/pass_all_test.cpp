// filter/pass_all.hpp: Replicator's default filter stage hands every event on unchanged.
#include "replicator/filter/pass_all.hpp"

#include <catch2/catch.hpp>

using namespace replicator;

TEST_CASE("PassAllFilter keeps every event, as it is") {
  constexpr PassAllFilter f;
  const ChangeEvent begin = BeginEvent{};
  const ChangeEvent abort = StreamAbortEvent{Lsn{1}, 2, 3};
  CHECK(f.apply(begin) == &begin);
  CHECK(f.apply(abort) == &abort);
  STATIC_REQUIRE(std::is_empty_v<PassAllFilter>);  // no state: the stage costs nothing
}
