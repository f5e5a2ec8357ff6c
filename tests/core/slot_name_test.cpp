// The one slot name rule: what the server accepts, and the words each problem is reported with.
#include "replicator/core/slot_name.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace replicator;

TEST_CASE("slot names: 1-63 of a-z, 0-9, _") {
  STATIC_REQUIRE(is_valid_slot_name("cdc_slot_1"));
  CHECK(is_valid_slot_name(std::string(63, 'a')));
  CHECK(slot_name_problem("") == SlotNameProblem::empty);
  CHECK(slot_name_problem(std::string(64, 'a')) == SlotNameProblem::too_long);
  for (const char* bad : {"Upper", "with-dash", "with space", "quote\"", "semi;colon", "dot.ted", "caf\xc3\xa9"}) {
    INFO(bad);
    CHECK(slot_name_problem(bad) == SlotNameProblem::bad_character);
  }
  CHECK(slot_name_problem(std::string("nul\0byte", 8)) == SlotNameProblem::bad_character);
  CHECK(describe(SlotNameProblem::too_long) == "it is longer than 63 characters");
  CHECK(describe(SlotNameProblem::bad_character) == "use only lower-case letters, digits and underscores");
}
