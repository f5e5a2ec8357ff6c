// ColumnValueView: one column of a row as the server sent it (NULL, unchanged TOAST, text or
// binary bytes): what decoders produce and values/value.hpp reads.
//   if (v.kind == ColumnKind::text) use(v.text());
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace replicator {

// The kind byte of one column in TupleData.
enum class ColumnKind : char {
  null = 'n',
  unchanged_toast = 'u',  // a TOASTed value the UPDATE did not change: the server did not send it
  text = 't',
  binary = 'b',
};

struct ColumnValueView {
  ColumnKind kind = ColumnKind::null;
  std::span<const std::byte> bytes{};  // empty for null and unchanged_toast

  [[nodiscard]] bool is_null() const noexcept { return kind == ColumnKind::null; }
  [[nodiscard]] bool is_unchanged_toast() const noexcept { return kind == ColumnKind::unchanged_toast; }
  [[nodiscard]] std::string_view text() const noexcept {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
};

}  // namespace replicator
