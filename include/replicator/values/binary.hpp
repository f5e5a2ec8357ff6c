// Decoders for the binary (send/recv) form of PostgreSQL's common types, what pgoutput sends with
// binary=true: int2/4/8 and float4/8 big-endian, bool 1 byte, numeric (ndigits, weight, sign,
// dscale, base-10000 digits), timestamp(tz) int64 µs since 2000, date int32 days since 2000, uuid
// 16 bytes, jsonb version 1 + text, bytea / text raw, arrays (ndim, flags, element type, dims,
// lower bounds, length-prefixed elements).
//   values::decode_numeric_binary(bytes)  // -> "12.3400", "NaN", "Infinity"
// Every decoder checks lengths and ranges first and returns a ValueError, never reads past the span.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "replicator/core/timestamp.hpp"
#include "replicator/values/types.hpp"

namespace replicator::values {

using Bytes = std::span<const std::byte>;

namespace detail {
inline std::uint64_t load_be(const std::byte* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}
inline ValueError bad_binary(Oid type, std::string_view what) { return ValueError{ValueErrc::malformed, type, what}; }
}  // namespace detail

// int2send / int4send / int8send / oidsend: the width comes from the byte count (2, 4 or 8).
inline ValueResult<std::int64_t> decode_int_binary(Bytes b, Oid type = oid::int8) {
  switch (b.size()) {
    case 2: return static_cast<std::int64_t>(static_cast<std::int16_t>(detail::load_be(b.data(), 2)));
    case 4:
      if (type == oid::oid_) return static_cast<std::int64_t>(static_cast<std::uint32_t>(detail::load_be(b.data(), 4)));
      return static_cast<std::int64_t>(static_cast<std::int32_t>(detail::load_be(b.data(), 4)));
    case 8: return static_cast<std::int64_t>(detail::load_be(b.data(), 8));
  }
  return detail::bad_binary(type, "integer must be 2, 4 or 8 bytes");
}

inline ValueResult<bool> decode_bool_binary(Bytes b) {
  if (b.size() != 1) return detail::bad_binary(oid::bool_, "bool must be 1 byte");
  const auto v = static_cast<std::uint8_t>(b[0]);
  if (v > 1) return detail::bad_binary(oid::bool_, "bool byte must be 0 or 1");
  return v == 1;
}

// float4send / float8send: IEEE 754 big-endian.
inline ValueResult<double> decode_float_binary(Bytes b, Oid type = oid::float8) {
  if (b.size() == 4)
    return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(detail::load_be(b.data(), 4))));
  if (b.size() == 8) return std::bit_cast<double>(detail::load_be(b.data(), 8));
  return detail::bad_binary(type, "float must be 4 or 8 bytes");
}

// numeric_send -> numeric_out's text: "-12.3400" (dscale digits after the point), "NaN",
// "Infinity", "-Infinity".
inline ValueResult<std::string> decode_numeric_binary(Bytes b) {
  constexpr Oid t = oid::numeric;
  if (b.size() < 8) return detail::bad_binary(t, "numeric header is 8 bytes");
  const auto ndigits = static_cast<std::int16_t>(detail::load_be(b.data(), 2));
  const auto weight = static_cast<std::int16_t>(detail::load_be(b.data() + 2, 2));
  const auto sign = static_cast<std::uint16_t>(detail::load_be(b.data() + 4, 2));
  const auto dscale = static_cast<std::int16_t>(detail::load_be(b.data() + 6, 2));
  if (ndigits < 0 || dscale < 0) return detail::bad_binary(t, "negative numeric digit count or scale");
  if (b.size() != 8 + 2 * static_cast<std::size_t>(ndigits)) return detail::bad_binary(t, "numeric length");
  switch (sign) {
    case 0xC000: return std::string("NaN");
    case 0xD000: return std::string("Infinity");
    case 0xF000: return std::string("-Infinity");
    case 0x0000:
    case 0x4000: break;
    default: return detail::bad_binary(t, "numeric sign");
  }
  std::vector<std::uint16_t> digits(static_cast<std::size_t>(ndigits));
  for (std::size_t i = 0; i < digits.size(); ++i) {
    digits[i] = static_cast<std::uint16_t>(detail::load_be(b.data() + 8 + 2 * i, 2));
    if (digits[i] > 9999) return detail::bad_binary(t, "numeric digit above 9999");
  }
  auto digit = [&](std::int64_t i) -> unsigned {
    return i >= 0 && i < ndigits ? digits[static_cast<std::size_t>(i)] : 0;
  };
  std::string out;
  if (sign == 0x4000) out.push_back('-');
  if (weight < 0) {
    out.push_back('0');
  } else {
    for (std::int64_t d = 0; d <= weight; ++d) {
      const unsigned v = digit(d);
      if (d == 0) out += std::to_string(v);
      else values::detail::put_digits(out, v, 4);
    }
  }
  if (dscale > 0) {
    out.push_back('.');
    std::string frac;
    for (std::int64_t d = static_cast<std::int64_t>(weight) + 1; static_cast<std::int64_t>(frac.size()) < dscale; ++d)
      values::detail::put_digits(frac, digit(d), 4);
    frac.resize(static_cast<std::size_t>(dscale));
    out += frac;
  }
  return out;
}

// timestamp_send / timestamptz_send: int64 µs since 2000-01-01 (UTC for timestamptz).
inline ValueResult<PgTimestamp> decode_timestamp_binary(Bytes b, Oid type = oid::timestamptz) {
  if (b.size() != 8) return detail::bad_binary(type, "timestamp must be 8 bytes");
  return PgTimestamp{static_cast<std::int64_t>(detail::load_be(b.data(), 8))};
}

// date_send: int32 days since 2000-01-01.
inline ValueResult<PgDate> decode_date_binary(Bytes b) {
  if (b.size() != 4) return detail::bad_binary(oid::date, "date must be 4 bytes");
  return PgDate{static_cast<std::int32_t>(detail::load_be(b.data(), 4))};
}

// uuid_send: 16 bytes -> "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
inline ValueResult<std::string> decode_uuid_binary(Bytes b) {
  if (b.size() != 16) return detail::bad_binary(oid::uuid, "uuid must be 16 bytes");
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    const auto v = static_cast<unsigned>(b[i]);
    out.push_back(hex[v >> 4]);
    out.push_back(hex[v & 0xF]);
  }
  return out;
}

// jsonb_send: version byte 1, then jsonb_out's text.
inline ValueResult<std::string_view> decode_jsonb_binary(Bytes b) {
  if (b.empty() || static_cast<std::uint8_t>(b[0]) != 1)
    return detail::bad_binary(oid::jsonb, "jsonb version must be 1");
  return std::string_view(reinterpret_cast<const char*>(b.data() + 1), b.size() - 1);
}

// An array_send value split into its header and the raw binary element values (views into `b`).
struct RawBinaryArray {
  Oid element_type = 0;
  std::vector<std::int32_t> dims;
  std::vector<std::int32_t> lower_bounds;
  std::vector<std::optional<Bytes>> elements;  // nullopt: NULL
};

inline ValueResult<RawBinaryArray> decode_array_binary(Bytes b, Oid array_type = 0) {
  auto bad = [&](std::string_view what) { return detail::bad_binary(array_type, what); };
  if (b.size() < 12) return bad("array header is 12 bytes");
  const auto ndim = static_cast<std::int32_t>(detail::load_be(b.data(), 4));
  const auto flags = static_cast<std::int32_t>(detail::load_be(b.data() + 4, 4));
  RawBinaryArray out;
  out.element_type = static_cast<Oid>(detail::load_be(b.data() + 8, 4));
  if (ndim < 0 || ndim > 6) return bad("array must have 0 to 6 dimensions");
  if (flags != 0 && flags != 1) return bad("array flags must be 0 or 1");
  const std::size_t header = 12 + 8 * static_cast<std::size_t>(ndim);
  if (b.size() < header) return bad("array dimensions truncated");
  std::uint64_t count = ndim == 0 ? 0 : 1;
  for (std::int32_t d = 0; d < ndim; ++d) {
    const auto n = static_cast<std::int32_t>(detail::load_be(b.data() + 12 + 8 * d, 4));
    const auto lb = static_cast<std::int32_t>(detail::load_be(b.data() + 16 + 8 * d, 4));
    if (n <= 0) return bad("array dimension must be positive");
    // As array_recv: the upper bound (lower + length - 1) must be an int4 too.
    if (static_cast<std::int64_t>(lb) + n - 1 > std::numeric_limits<std::int32_t>::max())
      return bad("array upper bound exceeds the int4 range");
    count *= static_cast<std::uint64_t>(n);
    if (count > b.size()) return bad("more array elements than bytes");  // each takes at least 4
    out.dims.push_back(n);
    out.lower_bounds.push_back(lb);
  }
  std::size_t pos = header;
  out.elements.reserve(static_cast<std::size_t>(count));
  for (std::uint64_t i = 0; i < count; ++i) {
    if (b.size() - pos < 4) return bad("array element length truncated");
    const auto len = static_cast<std::int32_t>(detail::load_be(b.data() + pos, 4));
    pos += 4;
    if (len == -1) {
      if (flags == 0) return bad("NULL element in an array without the null flag");
      out.elements.emplace_back(std::nullopt);
      continue;
    }
    if (len < 0 || static_cast<std::size_t>(len) > b.size() - pos) return bad("array element length");
    out.elements.emplace_back(b.subspan(pos, static_cast<std::size_t>(len)));
    pos += static_cast<std::size_t>(len);
  }
  if (pos != b.size()) return bad("bytes after the last array element");
  return out;
}

}  // namespace replicator::values
