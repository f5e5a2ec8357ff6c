// Bounds-checked big-endian reader over a byte span. Internal: users never include this.
// Errors are sticky: the first failed read records (code, offset, field) and every later read
// returns zeros, so a decoder checks once at the end instead of after every field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "replicator/core/error.hpp"

namespace replicator::detail {

class ByteReader {
 public:
  constexpr explicit ByteReader(std::span<const std::byte> bytes, std::size_t base_offset = 0) noexcept
      : data_(bytes.data()), size_(bytes.size()), base_(base_offset) {}

  [[nodiscard]] bool ok() const noexcept { return !failed_; }
  [[nodiscard]] const Error& error() const noexcept { return error_; }
  [[nodiscard]] std::size_t offset() const noexcept { return base_ + pos_; }
  [[nodiscard]] std::size_t position() const noexcept { return pos_; }
  [[nodiscard]] std::size_t remaining() const noexcept { return size_ - pos_; }
  [[nodiscard]] const std::byte* cursor() const noexcept { return data_ + pos_; }

  void fail(Errc code, std::string_view field) noexcept { fail_at(code, pos_, field); }
  void fail_at(Errc code, std::size_t pos, std::string_view field) noexcept {
    if (failed_) return;
    failed_ = true;
    error_ = Error{code, base_ + pos, field};
  }

  std::uint8_t u8(std::string_view field) noexcept {
    if (!need(1, field)) return 0;
    return static_cast<std::uint8_t>(data_[pos_++]);
  }
  std::uint16_t u16(std::string_view field) noexcept {
    if (!need(2, field)) return 0;
    std::uint16_t v = static_cast<std::uint16_t>((load(0) << 8) | load(1));
    pos_ += 2;
    return v;
  }
  std::uint32_t u32(std::string_view field) noexcept {
    if (!need(4, field)) return 0;
    std::uint32_t v;
    std::memcpy(&v, data_ + pos_, 4);
    pos_ += 4;
    return __builtin_bswap32(v);
  }
  std::uint64_t u64(std::string_view field) noexcept {
    if (!need(8, field)) return 0;
    std::uint64_t v;
    std::memcpy(&v, data_ + pos_, 8);
    pos_ += 8;
    return __builtin_bswap64(v);
  }
  std::int16_t i16(std::string_view field) noexcept { return static_cast<std::int16_t>(u16(field)); }
  std::int32_t i32(std::string_view field) noexcept { return static_cast<std::int32_t>(u32(field)); }
  std::int64_t i64(std::string_view field) noexcept { return static_cast<std::int64_t>(u64(field)); }

  // A NUL-terminated string; the view excludes the NUL.
  std::string_view cstring(std::string_view field) noexcept {
    if (failed_) return {};
    const void* nul = size_ > pos_ ? std::memchr(data_ + pos_, 0, size_ - pos_) : nullptr;
    if (nul == nullptr) {
      fail(size_ > pos_ ? Errc::unterminated_string : Errc::truncated, field);
      return {};
    }
    const auto len = static_cast<std::size_t>(static_cast<const std::byte*>(nul) - (data_ + pos_));
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len + 1;
    return s;
  }

  std::span<const std::byte> bytes(std::size_t n, std::string_view field) noexcept {
    if (!need(n, field)) return {};
    std::span<const std::byte> s(data_ + pos_, n);
    pos_ += n;
    return s;
  }

  void skip(std::size_t n, std::string_view field) noexcept {
    if (need(n, field)) pos_ += n;
  }

  // After the last field: anything left is an error (the message declared less than it sent).
  void expect_end(std::string_view field) noexcept {
    if (!failed_ && pos_ != size_) fail(Errc::trailing_bytes, field);
  }

 private:
  bool need(std::size_t n, std::string_view field) noexcept {
    if (failed_) return false;
    if (size_ - pos_ < n) {
      fail(Errc::truncated, field);
      return false;
    }
    return true;
  }
  [[nodiscard]] unsigned load(std::size_t i) const noexcept {
    return static_cast<unsigned>(static_cast<std::uint8_t>(data_[pos_ + i]));
  }

  const std::byte* data_;
  std::size_t size_;
  std::size_t base_;
  std::size_t pos_ = 0;
  bool failed_ = false;
  Error error_{};
};

}  // namespace replicator::detail
