// What to do with an unchanged TOAST column (kind 'u': a large value an UPDATE did not touch, so
// the server did not send it). Never a silent NULL: a marker, leave the column out, or take the
// value from the old row when REPLICA IDENTITY FULL sent one (falling back to the marker).
//   auto p = parse_toast_policy("from_old");   // marker | omit | from_old
//   ResolvedValue v = resolve_new_value(row, i, ToastPolicy::from_old);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"

namespace replicator {

enum class ToastPolicy : std::uint8_t {
  marker,    // keep the column, flagged as unchanged (JSON {"unchanged_toast":true}, Debezium's placeholder)
  omit,      // leave the column out of that row change
  from_old,  // the old row's value when REPLICA IDENTITY FULL sent it; otherwise the marker
};

constexpr std::string_view to_string(ToastPolicy p) noexcept {
  switch (p) {
    case ToastPolicy::marker: return "marker";
    case ToastPolicy::omit: return "omit";
    case ToastPolicy::from_old: return "from_old";
  }
  return "marker";
}

inline Result<ToastPolicy, ReplicationError> parse_toast_policy(std::string_view s) {
  if (s == "marker") return ToastPolicy::marker;
  if (s == "omit") return ToastPolicy::omit;
  if (s == "from_old") return ToastPolicy::from_old;
  return ReplicationError::fatal("unknown unchanged TOAST policy '" + std::string(s) +
                                 "' (expected marker, omit or from_old)");
}

// One column of a row change's new tuple after the policy.
struct ResolvedValue {
  enum class State : std::uint8_t { value, marker, omitted };
  State state = State::value;
  ColumnValueView value{};  // the value (possibly the old row's); for marker: the 'u' column
  bool from_old = false;    // filled from the old row (ToastPolicy::from_old)
};

// Column i (relation order) of `row`'s new tuple under `policy`. For a delete (no new tuple) the
// old tuple's column is returned as is.
inline ResolvedValue resolve_new_value(const RowChangeView& row, std::uint16_t i, ToastPolicy policy) noexcept {
  const TupleView& t = row.row();
  if (i >= t.size()) return {ResolvedValue::State::omitted, {}, false};
  const ColumnValueView v = t[i];
  if (!v.is_unchanged_toast()) return {ResolvedValue::State::value, v, false};
  switch (policy) {
    case ToastPolicy::marker: return {ResolvedValue::State::marker, v, false};
    case ToastPolicy::omit: return {ResolvedValue::State::omitted, v, false};
    case ToastPolicy::from_old:
      if (row.op != ChangeOp::delete_ && row.old_kind == OldTupleKind::full && i < row.old_tuple.size()) {
        const ColumnValueView old = row.old_tuple[i];
        if (!old.is_unchanged_toast()) return {ResolvedValue::State::value, old, true};
      }
      return {ResolvedValue::State::marker, v, false};
  }
  return {ResolvedValue::State::marker, v, false};
}

}  // namespace replicator
