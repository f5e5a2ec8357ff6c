// Position: what a position store keeps per slot: the confirmed LSN plus where it came from
// (timeline, slot, system id) so a restart can refuse to resume against the wrong cluster.
//   Position p{Lsn{0x16B3748}, 1, "my_slot", 7300000000000000000ULL, std::chrono::system_clock::now()};
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/core/slot_name.hpp"

namespace replicator {

struct Position {
  Lsn lsn;                     // durable in the sink: the server may free WAL before it
  std::uint32_t timeline = 0;  // 0: unknown
  std::string slot;
  std::uint64_t system_id = 0;  // IDENTIFY_SYSTEM's systemid; 0: unknown
  std::chrono::system_clock::time_point saved_at{};

  friend bool operator==(const Position&, const Position&) = default;
};

}  // namespace replicator
