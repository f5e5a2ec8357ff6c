// Zero-copy views of pgoutput tuple data and relation columns. They point into the receive buffer:
// a view must not outlive the bytes it was decoded from.
//   for (ColumnValueView v : insert.new_tuple) if (v.kind == ColumnKind::text) use(v.text());
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <span>
#include <string_view>

#include "replicator/change/row.hpp"

namespace replicator::pgoutput {

using replicator::ColumnKind;
using replicator::ColumnValueView;
using replicator::TupleView;
namespace detail {
using replicator::detail::load_be32;
}  // namespace detail

// One column of a Relation message.
struct RelationColumnView {
  std::uint8_t flags = 0;  // 1 = part of the replica identity key
  std::string_view name{};
  std::uint32_t type_oid = 0;
  std::int32_t type_modifier = -1;
  [[nodiscard]] bool is_key() const noexcept { return (flags & 1) != 0; }
};

// The columns of a Relation message (validated by the decoder).
class RelationColumnsView {
 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = RelationColumnView;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = RelationColumnView;

    iterator() = default;
    iterator(const std::byte* p, std::uint16_t index) noexcept : p_(p), index_(index) {}
    RelationColumnView operator*() const noexcept {
      RelationColumnView c;
      c.flags = static_cast<std::uint8_t>(*p_);
      const char* name = reinterpret_cast<const char*>(p_ + 1);
      c.name = std::string_view(name);  // NUL-terminated: validated
      const std::byte* q = p_ + 1 + c.name.size() + 1;
      c.type_oid = detail::load_be32(q);
      c.type_modifier = static_cast<std::int32_t>(detail::load_be32(q + 4));
      return c;
    }
    iterator& operator++() noexcept {
      const char* name = reinterpret_cast<const char*>(p_ + 1);
      p_ += 1 + std::strlen(name) + 1 + 8;
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

  RelationColumnsView() = default;
  RelationColumnsView(std::span<const std::byte> bytes, std::uint16_t count) noexcept : bytes_(bytes), count_(count) {}
  [[nodiscard]] std::uint16_t size() const noexcept { return count_; }
  [[nodiscard]] iterator begin() const noexcept { return {bytes_.data(), 0}; }
  [[nodiscard]] iterator end() const noexcept { return {nullptr, count_}; }

 private:
  std::span<const std::byte> bytes_{};
  std::uint16_t count_ = 0;
};

// The relation OIDs of a Truncate message.
class OidListView {
 public:
  OidListView() = default;
  OidListView(std::span<const std::byte> bytes) noexcept : bytes_(bytes) {}
  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size() / 4; }
  [[nodiscard]] std::uint32_t operator[](std::size_t i) const noexcept {
    return detail::load_be32(bytes_.data() + 4 * i);
  }

  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::uint32_t;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = std::uint32_t;
    iterator() = default;
    explicit iterator(const std::byte* p) noexcept : p_(p) {}
    std::uint32_t operator*() const noexcept { return detail::load_be32(p_); }
    iterator& operator++() noexcept {
      p_ += 4;
      return *this;
    }
    iterator operator++(int) noexcept {
      auto o = *this;
      p_ += 4;
      return o;
    }
    friend bool operator==(const iterator&, const iterator&) noexcept = default;

   private:
    const std::byte* p_ = nullptr;
  };
  [[nodiscard]] iterator begin() const noexcept { return iterator{bytes_.data()}; }
  [[nodiscard]] iterator end() const noexcept { return iterator{bytes_.data() + size() * 4}; }

 private:
  std::span<const std::byte> bytes_{};
};

}  // namespace replicator::pgoutput
