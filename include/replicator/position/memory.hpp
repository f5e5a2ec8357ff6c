// MemoryPositionStore: keeps the position in memory. For tests, replays and temporary slots
// (where nothing survives a restart anyway).
//   MemoryPositionStore store;  store.save(pos);  auto p = store.load();  // optional<Position>
#pragma once

#include <cstddef>
#include <optional>

#include "replicator/core/error.hpp"
#include "replicator/position/position.hpp"

namespace replicator {

class MemoryPositionStore {
 public:
  MemoryPositionStore() = default;
  explicit MemoryPositionStore(Position initial) : position_(std::move(initial)) {}

  [[nodiscard]] Result<std::optional<Position>, ReplicationError> load() const { return position_; }
  Status save(const Position& p) {
    position_ = p;
    ++saves_;
    return ok_status();
  }

  [[nodiscard]] const std::optional<Position>& position() const noexcept { return position_; }
  [[nodiscard]] std::size_t saves() const noexcept { return saves_; }

 private:
  std::optional<Position> position_;
  std::size_t saves_ = 0;
};

}  // namespace replicator
