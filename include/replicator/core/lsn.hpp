// Lsn: a WAL position, a strong type over uint64 with PostgreSQL's "X/Y" text form.
//   auto lsn = Lsn::parse("16/B374D848");   // Result<Lsn>
//   lsn->to_string() == "16/B374D848";  (*lsn + 8) > *lsn;
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

#include "replicator/core/error.hpp"

namespace replicator {

class Lsn {
 public:
  constexpr Lsn() noexcept = default;
  constexpr explicit Lsn(std::uint64_t value) noexcept : value_(value) {}

  // 0/0 is InvalidXLogRecPtr on the server.
  static constexpr Lsn invalid() noexcept { return Lsn{}; }
  [[nodiscard]] constexpr bool is_valid() const noexcept { return value_ != 0; }
  [[nodiscard]] constexpr std::uint64_t value() const noexcept { return value_; }

  // Accepts what the server's pg_lsn input accepts: 1-8 hex digits, '/', 1-8 hex digits (either case).
  [[nodiscard]] static constexpr Result<Lsn> parse(std::string_view text) noexcept {
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) return Error{Errc::bad_lsn_text, text.size(), "LSN '/'"};
    std::uint64_t hi = 0;
    std::uint64_t lo = 0;
    if (!parse_half(text.substr(0, slash), hi)) return Error{Errc::bad_lsn_text, 0, "LSN high half"};
    if (!parse_half(text.substr(slash + 1), lo)) return Error{Errc::bad_lsn_text, slash + 1, "LSN low half"};
    return Lsn{(hi << 32) | lo};
  }

  // Upper-case hex without leading zeros, as the server prints it. Max 17 characters.
  struct Text {
    std::array<char, 18> chars{};
    std::uint8_t size = 0;
    [[nodiscard]] constexpr std::string_view view() const noexcept { return {chars.data(), size}; }
  };
  [[nodiscard]] constexpr Text format() const noexcept {
    Text out;
    append_hex(out, static_cast<std::uint32_t>(value_ >> 32));
    out.chars[out.size++] = '/';
    append_hex(out, static_cast<std::uint32_t>(value_));
    return out;
  }
  [[nodiscard]] std::string to_string() const { return std::string(format().view()); }

  friend constexpr auto operator<=>(Lsn, Lsn) noexcept = default;

  // Arithmetic with byte offsets. Wraps like the uint64 it is; callers stay far from 2^64.
  friend constexpr Lsn operator+(Lsn lsn, std::uint64_t bytes) noexcept { return Lsn{lsn.value_ + bytes}; }
  friend constexpr Lsn operator-(Lsn lsn, std::uint64_t bytes) noexcept { return Lsn{lsn.value_ - bytes}; }
  constexpr Lsn& operator+=(std::uint64_t bytes) noexcept {
    value_ += bytes;
    return *this;
  }
  // Distance in bytes; negative when `b` is ahead of `a`.
  friend constexpr std::int64_t operator-(Lsn a, Lsn b) noexcept {
    return static_cast<std::int64_t>(a.value_ - b.value_);
  }

  friend std::ostream& operator<<(std::ostream& os, Lsn lsn) { return os << lsn.format().view(); }

 private:
  static constexpr bool parse_half(std::string_view s, std::uint64_t& out) noexcept {
    if (s.empty() || s.size() > 8) return false;
    std::uint64_t v = 0;
    for (char c : s) {
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else return false;
      v = (v << 4) | static_cast<std::uint64_t>(d);
    }
    out = v;
    return true;
  }
  static constexpr void append_hex(Text& out, std::uint32_t v) noexcept {
    constexpr char digits[] = "0123456789ABCDEF";
    int shift = 28;
    while (shift > 0 && ((v >> shift) & 0xF) == 0) shift -= 4;
    for (; shift >= 0; shift -= 4) out.chars[out.size++] = digits[(v >> shift) & 0xF];
  }

  std::uint64_t value_ = 0;
};

}  // namespace replicator

template <>
struct std::hash<replicator::Lsn> {
  std::size_t operator()(replicator::Lsn lsn) const noexcept { return std::hash<std::uint64_t>{}(lsn.value()); }
};
