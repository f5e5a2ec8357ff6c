// PassAllFilter: Replicator's default filter stage. Every event passes unchanged; apply() is an
// inline identity, so a pipeline without filtering pays nothing for the stage.
//   Replicator<T, D, B, S, K> r(...);                     // PassAllFilter
//   Replicator<T, D, B, S, K, ChangeFilter> f(..., options, std::move(change_filter));
#pragma once

#include "replicator/change/event.hpp"

namespace replicator {

struct PassAllFilter {
  [[nodiscard]] constexpr const ChangeEvent* apply(const ChangeEvent& event) const noexcept { return &event; }
};

}  // namespace replicator
