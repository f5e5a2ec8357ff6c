// position/position.hpp: what a store keeps per slot.
#include "replicator/position/position.hpp"

#include <catch2/catch.hpp>

using namespace replicator;

TEST_CASE("Position compares every field") {
  const auto t = std::chrono::system_clock::time_point{} + std::chrono::seconds(5);
  const Position a{Lsn{0x16B3748}, 1, "my_slot", 7300000000000000000ULL, t};
  Position b = a;
  CHECK(a == b);
  b.timeline = 2;
  CHECK_FALSE(a == b);
  b = a;
  b.system_id = 1;
  CHECK_FALSE(a == b);
  const Position none{};
  CHECK_FALSE(none.lsn.is_valid());
  CHECK(none.timeline == 0);
  CHECK(none.system_id == 0);
}
