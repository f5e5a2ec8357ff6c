// TupleView: the columns of one row, as a zero-copy view of the compact encoding every decoder
// produces (per column a kind byte, then for text and binary a big-endian Int32 length and the
// bytes: pgoutput's TupleData layout, which the snapshot and the batch arena use too). A view must
// not outlive the bytes it points into.
//   for (ColumnValueView v : row.new_tuple) if (v.kind == ColumnKind::text) use(v.text());
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <span>

#include "replicator/values/column_value.hpp"

namespace replicator {

namespace detail {
inline std::uint32_t load_be32(const std::byte* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
}  // namespace detail

// The columns of one tuple. The decoder validated every kind and length before making this view,
// so iteration does no checks of its own.
class TupleView {
 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = ColumnValueView;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = ColumnValueView;

    iterator() = default;
    iterator(const std::byte* p, std::uint16_t index) noexcept : p_(p), index_(index) {}

    ColumnValueView operator*() const noexcept {
      const auto kind = static_cast<ColumnKind>(static_cast<char>(*p_));
      if (kind == ColumnKind::text || kind == ColumnKind::binary) {
        const std::uint32_t len = detail::load_be32(p_ + 1);
        return {kind, {p_ + 5, len}};
      }
      return {kind, {}};
    }
    iterator& operator++() noexcept {
      const auto kind = static_cast<ColumnKind>(static_cast<char>(*p_));
      p_ += (kind == ColumnKind::text || kind == ColumnKind::binary) ? 5 + detail::load_be32(p_ + 1) : 1;
      ++index_;
      return *this;
    }
    iterator operator++(int) noexcept {
      auto old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.index_ == b.index_; }

   private:
    const std::byte* p_ = nullptr;
    std::uint16_t index_ = 0;
  };

  TupleView() = default;
  TupleView(std::span<const std::byte> columns, std::uint16_t count) noexcept : columns_(columns), count_(count) {}

  [[nodiscard]] std::uint16_t size() const noexcept { return count_; }
  [[nodiscard]] bool empty() const noexcept { return count_ == 0; }
  [[nodiscard]] iterator begin() const noexcept { return {columns_.data(), 0}; }
  [[nodiscard]] iterator end() const noexcept { return {nullptr, count_}; }
  // The raw column bytes (after the Int16 count), e.g. for copying a tuple out of the buffer.
  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return columns_; }

  // O(n) positional access; prefer iteration.
  [[nodiscard]] ColumnValueView operator[](std::uint16_t i) const noexcept {
    auto it = begin();
    for (std::uint16_t k = 0; k < i; ++k) ++it;
    return *it;
  }

 private:
  std::span<const std::byte> columns_{};
  std::uint16_t count_ = 0;
};

}  // namespace replicator
