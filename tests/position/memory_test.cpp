#include "replicator/position/memory.hpp"

#include <catch2/catch.hpp>

#include "replicator/concepts.hpp"

using namespace replicator;

TEST_CASE("MemoryPositionStore round-trips a position and counts saves") {
  STATIC_REQUIRE(PositionStorePolicy<MemoryPositionStore>);
  MemoryPositionStore store;
  auto empty = store.load();
  REQUIRE(empty);
  CHECK_FALSE(empty->has_value());

  Position p{Lsn{0x16B3748}, 1, "slot_a", 7712174631567174073ull, {}};
  REQUIRE(store.save(p));
  auto loaded = store.load();
  REQUIRE(loaded);
  REQUIRE(loaded->has_value());
  CHECK(**loaded == p);
  CHECK(store.saves() == 1);

  MemoryPositionStore seeded(p);
  CHECK(seeded.position() == p);
  CHECK(seeded.saves() == 0);
}
