// Position: what a position store keeps per slot: the confirmed LSN plus where it came from
// (timeline, slot, system id) so a restart can refuse to resume against the wrong cluster.
//   Position p{Lsn{0x16B3748}, 1, "my_slot", 7300000000000000000ULL, std::chrono::system_clock::now()};
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "replicator/error.hpp"
#include "replicator/lsn.hpp"

namespace replicator {

struct Position {
  Lsn lsn;                    // durable in the sink: the server may free WAL before it
  std::uint32_t timeline = 0;  // 0: unknown
  std::string slot;
  std::uint64_t system_id = 0;  // IDENTIFY_SYSTEM's systemid; 0: unknown
  std::chrono::system_clock::time_point saved_at{};

  friend bool operator==(const Position&, const Position&) = default;
};

namespace detail {
// Slot names as the server accepts them: 1-63 characters of [a-z0-9_]. Stores use this to refuse
// names that could not be real slots (and could break a file format or a log line).
constexpr bool plausible_slot_name(std::string_view slot) noexcept {
  if (slot.empty() || slot.size() > 63) return false;
  for (char c : slot)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}
}  // namespace detail

}  // namespace replicator
