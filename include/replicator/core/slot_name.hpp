// Replication slot names as the server accepts them (ReplicationSlotValidateName): 1-63 characters
// of a-z, 0-9 and '_'. The one copy of the rule: the transport checks it before any SQL is sent (so
// a name can never inject anything), the position stores before writing one, the program's config
// before starting.
//   if (auto p = slot_name_problem(name); p != SlotNameProblem::none) error(describe(p));
#pragma once

#include <cstddef>
#include <string_view>

namespace replicator {

inline constexpr std::size_t kMaxSlotNameLength = 63;

enum class SlotNameProblem : unsigned char { none, empty, too_long, bad_character };

[[nodiscard]] constexpr SlotNameProblem slot_name_problem(std::string_view name) noexcept {
  if (name.empty()) return SlotNameProblem::empty;
  if (name.size() > kMaxSlotNameLength) return SlotNameProblem::too_long;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return SlotNameProblem::bad_character;
  }
  return SlotNameProblem::none;
}

[[nodiscard]] constexpr bool is_valid_slot_name(std::string_view name) noexcept {
  return slot_name_problem(name) == SlotNameProblem::none;
}

// What is wrong, as the end of a sentence ("invalid slot name "X": <this>").
[[nodiscard]] constexpr std::string_view describe(SlotNameProblem p) noexcept {
  switch (p) {
    case SlotNameProblem::none: return "it is valid";
    case SlotNameProblem::empty: return "it is empty";
    case SlotNameProblem::too_long: return "it is longer than 63 characters";
    case SlotNameProblem::bad_character: return "use only lower-case letters, digits and underscores";
  }
  return "it is invalid";
}

}  // namespace replicator
