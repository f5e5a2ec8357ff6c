// PostgreSQL's own spelling of a few values, built from this library's formatters, so the value
// fuzzers can check round trips (parse -> format -> parse) and text / binary agreement.
//   pg_timestamp_text(t, true) == "2026-11-25 16:30:51.000000+00";  pg_date_text(d) == "0044-03-15 BC"
//   numeric_send("-12.3400")  // numeric_send's bytes, for decode_numeric_binary
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "replicator/values/types.hpp"

namespace replicator::fuzz {

// The types the value fuzzers pick by a nibble of their input (the same tables for text and binary,
// so their seeds mean the same type in both).
inline constexpr values::Oid kIntTypes[] = {values::oid::int2, values::oid::int4, values::oid::int8, values::oid::oid_};
inline constexpr values::Oid kFloatTypes[] = {values::oid::float4, values::oid::float8};
inline constexpr values::Oid kArrayTypes[16] = {
    values::oid::int4_array,    values::oid::int2_array,      values::oid::int8_array,        values::oid::text_array,
    values::oid::varchar_array, values::oid::bool_array,      values::oid::float4_array,      values::oid::float8_array,
    values::oid::numeric_array, values::oid::timestamp_array, values::oid::timestamptz_array, values::oid::date_array,
    values::oid::uuid_array,    values::oid::bytea_array,     values::oid::json_array,        values::oid::jsonb_array,
};

// "-0043-03-15..." (astronomical year, as format_timestamp / PgDate print it) -> "0044-03-15..." + " BC".
inline std::string pg_date_from_astronomical(std::string_view iso, std::string_view rest_suffix = {}) {
  const bool negative = !iso.empty() && iso[0] == '-';
  if (negative) iso.remove_prefix(1);
  const auto dash = iso.find('-');
  std::int64_t year = 0;
  for (char c : iso.substr(0, dash)) year = year * 10 + (c - '0');
  if (negative) year = -year;
  const bool bc = year <= 0;
  std::string out;
  values::detail::put_digits(out, bc ? 1 - year : year, 4);
  out.append(iso.substr(dash));
  out.append(rest_suffix);
  if (bc) out.append(" BC");
  return out;
}

// timestamp(tz) output with DateStyle ISO and TimeZone UTC (always six fraction digits).
inline std::string pg_timestamp_text(PgTimestamp t, bool with_tz) {
  std::string iso = values::format_timestamp(t, false);
  if (values::is_infinite(t)) return iso;
  iso[iso.find('T')] = ' ';
  return pg_date_from_astronomical(iso, with_tz ? "+00" : "");
}

inline std::string pg_date_text(values::PgDate d) {
  const std::string iso = d.to_string();
  if (d.is_infinite()) return iso;
  return pg_date_from_astronomical(iso);
}

// numeric_send of numeric_out's text ("-12.3400", "NaN", ...); nullopt for text numeric_out would
// not print (leading zeros) or that does not fit numeric_send's int16 fields.
inline std::optional<std::vector<std::byte>> numeric_send(std::string_view s) {
  std::vector<std::byte> out;
  auto u16 = [&](std::uint16_t v) {
    out.push_back(static_cast<std::byte>(v >> 8));
    out.push_back(static_cast<std::byte>(v & 0xFF));
  };
  auto header = [&](std::size_t ndigits, std::int64_t weight, std::uint16_t sign, std::size_t dscale) {
    u16(static_cast<std::uint16_t>(ndigits));
    u16(static_cast<std::uint16_t>(static_cast<std::int16_t>(weight)));
    u16(sign);
    u16(static_cast<std::uint16_t>(dscale));
  };
  if (s == "NaN" || s == "Infinity" || s == "-Infinity") {
    header(0, 0, s == "NaN" ? 0xC000 : s == "Infinity" ? 0xD000 : 0xF000, 0);
    return out;
  }
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) s.remove_prefix(1);
  const auto point = s.find('.');
  const std::string_view int_part = s.substr(0, point);
  const std::string_view frac_part = point == std::string_view::npos ? std::string_view{} : s.substr(point + 1);
  if (int_part.empty() || (int_part.size() > 1 && int_part[0] == '0')) return std::nullopt;
  // Base-10000 digits aligned on the decimal point; an integer part of 0 has no digits (weight -1).
  std::string aligned;
  if (int_part != "0") aligned.append((4 - int_part.size() % 4) % 4, '0').append(int_part);
  const std::int64_t weight = static_cast<std::int64_t>(aligned.size() / 4) - 1;
  aligned.append(frac_part).append((4 - frac_part.size() % 4) % 4, '0');
  const std::size_t ndigits = aligned.size() / 4;
  if (ndigits > 0x7FFF || frac_part.size() > 0x7FFF || weight > 0x7FFF) return std::nullopt;
  header(ndigits, weight, negative ? 0x4000 : 0x0000, frac_part.size());
  for (std::size_t i = 0; i < aligned.size(); i += 4) {
    std::uint16_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) v = static_cast<std::uint16_t>(v * 10 + (aligned[i + k] - '0'));
    u16(v);
  }
  return out;
}

inline std::string hex_lower(std::span<const std::byte> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    out.push_back(digits[std::to_integer<unsigned>(b) >> 4]);
    out.push_back(digits[std::to_integer<unsigned>(b) & 0xF]);
  }
  return out;
}

}  // namespace replicator::fuzz
