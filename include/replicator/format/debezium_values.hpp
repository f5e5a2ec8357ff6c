// Column values in the encoding of Debezium's PostgreSQL connector, as Kafka Connect's JSON
// converter prints them, under Debezium's handling modes (decimal, interval, binary, time
// precision, hstore). Reads both wire forms (text, and binary=true send formats for most types).
//   DebeziumValueModes m;  m.decimal = DecimalHandlingMode::string;
//   append_debezium_value(out, TypedValueView(raw, col.type_oid), resolve_debezium_type(cat, oid, typmod), m,
//   placeholder);
// Appends into `out`; scalar values allocate nothing (arrays and binary numerics do).
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "replicator/core/error.hpp"
#include "replicator/format/debezium_types.hpp"
#include "replicator/format/json.hpp"
#include "replicator/values/value.hpp"

namespace replicator::format {

// Debezium's decimal.handling.mode: Decimal / VariableScaleDecimal bytes, a double, or a string.
enum class DecimalHandlingMode : std::uint8_t { precise, double_, string };
// interval.handling.mode: MicroDuration (INT64 µs) or io.debezium.time.Interval (ISO 8601 string).
enum class IntervalHandlingMode : std::uint8_t { numeric, string };
// binary.handling.mode for bytea: BYTES (base64 through the JSON converter), or a string.
enum class BinaryHandlingMode : std::uint8_t { bytes, base64, base64_url_safe, hex };
// time.precision.mode.
enum class TimePrecisionMode : std::uint8_t { adaptive, adaptive_time_microseconds, connect };
// hstore.handling.mode: a JSON document in a string, or a MAP (a JSON object).
enum class HstoreHandlingMode : std::uint8_t { json, map };

// Defaults are Debezium's defaults.
struct DebeziumValueModes {
  DecimalHandlingMode decimal = DecimalHandlingMode::precise;
  IntervalHandlingMode interval = IntervalHandlingMode::numeric;
  BinaryHandlingMode binary = BinaryHandlingMode::bytes;
  TimePrecisionMode time_precision = TimePrecisionMode::adaptive;
  HstoreHandlingMode hstore = HstoreHandlingMode::json;
  int money_fraction_digits = 2;  // money.fraction.digits
};

namespace detail {

inline void append_base64(std::string& out, std::span<const std::byte> bytes, bool url_safe = false) {
  static constexpr char std_tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  static constexpr char url_tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const char* tbl = url_safe ? url_tbl : std_tbl;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned>(bytes[i]) << 16) | (static_cast<unsigned>(bytes[i + 1]) << 8) |
                       static_cast<unsigned>(bytes[i + 2]);
    out.push_back(tbl[(v >> 18) & 63]);
    out.push_back(tbl[(v >> 12) & 63]);
    out.push_back(tbl[(v >> 6) & 63]);
    out.push_back(tbl[v & 63]);
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned>(bytes[i + 1]) << 8;
    out.push_back(tbl[(v >> 18) & 63]);
    out.push_back(tbl[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? tbl[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
}
inline void append_base64(std::string& out, std::span<const std::uint8_t> bytes) {
  append_base64(out, std::as_bytes(bytes));
}

// bytea under binary.handling.mode, as a JSON string.
inline void append_binary(std::string& out, std::span<const std::byte> bytes, BinaryHandlingMode mode) {
  out.push_back('"');
  if (mode == BinaryHandlingMode::hex) {
    static constexpr char hex[] = "0123456789abcdef";
    for (std::byte b : bytes) {
      out.push_back(hex[static_cast<unsigned>(b) >> 4]);
      out.push_back(hex[static_cast<unsigned>(b) & 15]);
    }
  } else {
    append_base64(out, bytes, mode == BinaryHandlingMode::base64_url_safe);
  }
  out.push_back('"');
}

// Java's Double.toString / Float.toString (what the JSON converter's Jackson prints for FLOAT64 /
// FLOAT32): shortest digits; plain with at least one fraction digit for 1e-3 <= |v| < 1e7,
// else d.dddE[-]n. NaN / ±Infinity are JSON strings (Jackson's WRITE_NAN_AS_STRINGS default).
inline void append_java_double(std::string& out, double v, bool as_float) {
  if (std::isnan(v)) {
    out += "\"NaN\"";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    return;
  }
  if (v == 0) {
    out += std::signbit(v) ? "-0.0" : "0.0";
    return;
  }
  if (as_float && !(std::fabs(v) <= std::numeric_limits<float>::max())) as_float = false;  // text "1e300" in a float4
  char buf[64];
  const auto r = as_float ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v), std::chars_format::scientific)
                          : std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string_view s(buf, static_cast<std::size_t>(r.ptr - buf));
  std::size_t p = 0;
  if (s[p] == '-') {
    out.push_back('-');
    ++p;
  }
  const std::size_t e = s.find('e');
  if (e == std::string_view::npos || e + 1 >= s.size()) return void(out.append(s));  // not reached: finite values
  char digits[32];
  std::size_t nd = 0;
  for (std::size_t k = p; k < e; ++k)
    if (s[k] != '.') digits[nd++] = s[k];
  int exp = 0;
  std::from_chars(s.data() + e + (s[e + 1] == '+' ? 2 : 1), s.data() + s.size(), exp);
  const double a = std::fabs(as_float ? static_cast<double>(static_cast<float>(v)) : v);
  if (a >= 1e-3 && a < 1e7) {
    if (exp >= 0) {
      for (int k = 0; k <= exp; ++k) out.push_back(static_cast<std::size_t>(k) < nd ? digits[k] : '0');
      out.push_back('.');
      if (static_cast<std::size_t>(exp) + 1 < nd) out.append(digits + exp + 1, nd - static_cast<std::size_t>(exp) - 1);
      else out.push_back('0');
    } else {
      out += "0.";
      for (int k = -1; k > exp; --k) out.push_back('0');
      out.append(digits, nd);
    }
    return;
  }
  out.push_back(digits[0]);
  out.push_back('.');
  if (nd > 1) out.append(digits + 1, nd - 1);
  else out.push_back('0');
  out.push_back('E');
  append_int(out, exp);
}

// A decimal number's text split up: numeric_out's form ("-12.3400") or money's digits.
struct DecimalText {
  enum class Special : std::uint8_t { none, nan, pos_inf, neg_inf } special = Special::none;
  bool negative = false;
  std::string_view int_digits;   // no sign; "0" for |v| < 1
  std::string_view frac_digits;  // as written (trailing zeros kept)
};

inline bool parse_decimal_text(std::string_view s, DecimalText& d) {
  d = {};
  if (s == "NaN") return d.special = DecimalText::Special::nan, true;
  if (s == "Infinity") return d.special = DecimalText::Special::pos_inf, true;
  if (s == "-Infinity") return d.special = DecimalText::Special::neg_inf, true;
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') d.negative = true, ++i;
  const std::size_t a = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  if (i == a) return false;
  d.int_digits = s.substr(a, i - a);
  if (i < s.size() && s[i] == '.') {
    const std::size_t b = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    d.frac_digits = s.substr(b, i - b);
  }
  return i == s.size();
}

// base64 of the two's-complement big-endian bytes of the integer whose decimal digits are the
// concatenation of `parts` (Java's BigInteger.toByteArray: the fewest bytes that keep the sign),
// negated when `negative`. Leading zeros are fine.
inline void append_unscaled_base64(std::string& out, bool negative, std::initializer_list<std::string_view> parts,
                                   std::size_t pad_zeros = 0) {
  // Nine digits at a time into 32-bit limbs: numeric's largest values (131,072 digits before the
  // point) would take minutes digit by digit into bytes.
  thread_local std::vector<std::uint32_t> limbs;  // little-endian; reused, so no allocation once warm
  thread_local std::vector<std::uint8_t> mag;     // little-endian magnitude bytes
  limbs.clear();
  mag.clear();
  auto push = [](std::uint32_t multiplier, std::uint32_t add) {
    std::uint64_t carry = add;
    for (auto& l : limbs) {
      const std::uint64_t x = std::uint64_t{l} * multiplier + carry;
      l = static_cast<std::uint32_t>(x);
      carry = x >> 32;
    }
    if (carry != 0) limbs.push_back(static_cast<std::uint32_t>(carry));
  };
  std::uint32_t chunk = 0, scale = 1;
  auto digit = [&](unsigned d) {
    chunk = chunk * 10 + d;
    scale *= 10;
    if (scale == 1'000'000'000u) {
      push(scale, chunk);
      chunk = 0;
      scale = 1;
    }
  };
  for (std::string_view p : parts)
    for (char c : p) digit(static_cast<unsigned>(c - '0'));
  for (std::size_t k = 0; k < pad_zeros; ++k) digit(0);
  if (scale != 1) push(scale, chunk);
  for (std::uint32_t l : limbs)
    for (int b = 0; b < 4; ++b) mag.push_back(static_cast<std::uint8_t>(l >> (8 * b)));
  while (!mag.empty() && mag.back() == 0) mag.pop_back();
  const bool is_zero = mag.empty();
  if (negative && !is_zero) {  // two's complement: invert and add one
    unsigned carry = 1;
    for (auto& b : mag) {
      const unsigned x = static_cast<std::uint8_t>(~b) + carry;
      b = static_cast<std::uint8_t>(x & 0xFF);
      carry = x >> 8;
    }
    if ((mag.back() & 0x80) == 0) mag.push_back(0xFF);
    while (mag.size() > 1 && mag.back() == 0xFF && (mag[mag.size() - 2] & 0x80) != 0) mag.pop_back();
  } else if (is_zero || (mag.back() & 0x80) != 0) {
    mag.push_back(0);
  }
  // big-endian
  for (std::size_t i = 0, j = mag.size() - 1; i < j; ++i, --j) std::swap(mag[i], mag[j]);
  out.push_back('"');
  append_base64(out, std::span<const std::uint8_t>(mag.data(), mag.size()));
  out.push_back('"');
}

// Java's BigDecimal.toString of unscaled digits `digits` (no leading zeros but "0") and `scale`.
inline void append_big_decimal_string(std::string& out, bool negative, std::string_view digits, std::int64_t scale) {
  out.push_back('"');
  if (negative && digits != "0") out.push_back('-');
  const auto len = static_cast<std::int64_t>(digits.size());
  const std::int64_t adjusted = -scale + (len - 1);
  if (scale == 0) {
    out += digits;
  } else if (scale > 0 && adjusted >= -6) {
    if (len > scale) {
      out += digits.substr(0, static_cast<std::size_t>(len - scale));
      out.push_back('.');
      out += digits.substr(static_cast<std::size_t>(len - scale));
    } else {
      out += "0.";
      for (std::int64_t k = len; k < scale; ++k) out.push_back('0');
      out += digits;
    }
  } else {
    out.push_back(digits[0]);
    if (len > 1) {
      out.push_back('.');
      out += digits.substr(1);
    }
    out.push_back('E');
    if (adjusted >= 0) out.push_back('+');
    append_int(out, adjusted);
  }
  out.push_back('"');
}

// numeric(p,s) has typmod ((p << 16) | s) + 4; -1 means no precision and no scale.
constexpr int numeric_scale(std::int32_t typmod) noexcept { return typmod < 4 ? -1 : ((typmod - 4) & 0x7FF); }
constexpr int numeric_precision(std::int32_t typmod) noexcept {
  return typmod < 4 ? -1 : ((typmod - 4) >> 16) & 0xFFFF;
}

// A decimal value under decimal.handling.mode. `fixed_scale` < 0: numeric without a declared scale.
inline void append_decimal(std::string& out, const DecimalText& d, int fixed_scale, DecimalHandlingMode mode,
                           std::string_view text_for_double) {
  using S = DecimalText::Special;
  if (mode == DecimalHandlingMode::double_) {
    if (d.special == S::nan) return void(out += "\"NaN\"");
    if (d.special == S::pos_inf) return void(out += "\"Infinity\"");
    if (d.special == S::neg_inf) return void(out += "\"-Infinity\"");
    double v = 0;
    std::from_chars(text_for_double.data(), text_for_double.data() + text_for_double.size(), v);
    return append_java_double(out, v, false);
  }
  if (d.special != S::none) {
    // precise cannot carry NaN / Infinity (Debezium writes null); string: SpecialValueDecimal's names.
    if (mode == DecimalHandlingMode::precise) return void(out += "null");
    out += d.special == S::nan       ? "\"NAN\""
           : d.special == S::pos_inf ? "\"POSITIVE_INFINITY\""
                                     : "\"NEGATIVE_INFINITY\"";
    return;
  }
  std::string_view frac = d.frac_digits;
  std::size_t pad = 0;
  if (fixed_scale >= 0) {  // the server already rounded to the scale; pad if a value came shorter (money)
    if (frac.size() > static_cast<std::size_t>(fixed_scale))
      frac = frac.substr(0, static_cast<std::size_t>(fixed_scale));
    pad = static_cast<std::size_t>(fixed_scale) - frac.size();
  } else if (mode == DecimalHandlingMode::precise) {  // VariableScaleDecimal: trailing zeros stripped
    while (!frac.empty() && frac.back() == '0') frac.remove_suffix(1);
  }
  const std::int64_t scale = static_cast<std::int64_t>(frac.size() + pad);
  if (mode == DecimalHandlingMode::string) {
    // unscaled digits without leading zeros
    thread_local std::string digits;
    digits.clear();
    digits += d.int_digits;
    digits += frac;
    digits.append(pad, '0');
    std::size_t z = 0;
    while (z + 1 < digits.size() && digits[z] == '0') ++z;
    append_big_decimal_string(out, d.negative, std::string_view(digits).substr(z), scale);
    return;
  }
  if (fixed_scale >= 0) return append_unscaled_base64(out, d.negative, {d.int_digits, frac}, pad);
  out += "{\"scale\":";
  append_int(out, scale);
  out += ",\"value\":";
  append_unscaled_base64(out, d.negative, {d.int_digits, frac});
  out.push_back('}');
}

// ---- intervals ----
struct IntervalValue {
  std::int64_t months = 0, days = 0, micros = 0;
};

// interval_out with IntervalStyle postgres: "1 year 2 mons -3 days +04:05:06.78", "00:00:00", "-00:00:01.5".
inline bool parse_interval_text(std::string_view s, IntervalValue& v) {
  v = {};
  std::size_t i = 0;
  auto skip = [&] {
    while (i < s.size() && s[i] == ' ') ++i;
  };
  skip();
  if (s.empty()) return false;
  while (i < s.size()) {
    bool neg = false;
    std::size_t start = i;
    if (s[i] == '-' || s[i] == '+') neg = s[i++] == '-';
    std::int64_t n = 0;
    const std::size_t ds = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, s[i] - '0', &n)) return false;
      ++i;
    }
    if (i == ds) return false;
    if (i < s.size() && s[i] == ':') {  // [-]H+:MM:SS[.ffffff]
      i = start;
      if (s[i] == '-' || s[i] == '+') ++i;
      std::int64_t h = 0, m = 0, sec = 0, frac = 0;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (__builtin_mul_overflow(h, 10, &h) || __builtin_add_overflow(h, s[i] - '0', &h)) return false;
        ++i;
      }
      if (i + 6 > s.size() || s[i] != ':' || s[i + 3] != ':') return false;
      auto two = [&](std::size_t at, std::int64_t& out2) {
        if (s[at] < '0' || s[at] > '9' || s[at + 1] < '0' || s[at + 1] > '9') return false;
        out2 = (s[at] - '0') * 10 + (s[at + 1] - '0');
        return true;
      };
      if (!two(i + 1, m) || !two(i + 4, sec)) return false;
      i += 6;
      if (i < s.size() && s[i] == '.') {
        ++i;
        int nd = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
          if (nd < 6) frac = frac * 10 + (s[i] - '0'), ++nd;
          ++i;
        }
        for (; nd < 6; ++nd) frac *= 10;
      }
      std::int64_t us = 0;
      if (__builtin_mul_overflow(h, std::int64_t{3'600'000'000}, &us) ||
          __builtin_add_overflow(us, m * 60'000'000 + sec * 1'000'000 + frac, &us))
        return false;
      v.micros = neg ? -us : us;
      skip();
      if (i != s.size()) return false;
      return true;
    }
    if (neg) n = -n;
    skip();
    const std::size_t us = i;
    while (i < s.size() && s[i] >= 'a' && s[i] <= 'z') ++i;
    const std::string_view unit = s.substr(us, i - us);
    if (unit == "year" || unit == "years") v.months += n * 12;
    else if (unit == "mon" || unit == "mons") v.months += n;
    else if (unit == "day" || unit == "days") v.days += n;
    else return false;
    skip();
  }
  return true;
}

// interval_send: int64 µs, int32 days, int32 months.
inline bool decode_interval_binary(std::span<const std::byte> b, IntervalValue& v) {
  if (b.size() != 16) return false;
  v.micros = static_cast<std::int64_t>(values::detail::load_be(b.data(), 8));
  v.days = static_cast<std::int32_t>(values::detail::load_be(b.data() + 8, 4));
  v.months = static_cast<std::int32_t>(values::detail::load_be(b.data() + 12, 4));
  return true;
}

inline std::int64_t java_long_cast(double d) noexcept {
  if (std::isnan(d)) return 0;
  if (d >= 9.2233720368547758e18) return std::numeric_limits<std::int64_t>::max();
  if (d <= -9.2233720368547758e18) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(d);
}

// MicroDuration: years, months, days, hours, minutes, seconds as the JDBC driver's PGInterval
// splits them, then ((years * 12 + months) * 365.25 / 12 + days) ... in double, truncated to a long.
inline std::int64_t interval_micro_duration(const IntervalValue& v) {
  const std::int64_t years = v.months / 12, months = v.months % 12;
  const std::int64_t hours = v.micros / 3'600'000'000, minutes = v.micros / 60'000'000 % 60;
  const double seconds = static_cast<double>(v.micros % 60'000'000) / 1e6;
  const double days_per_month = 365.25 / 12.0;
  const double number_of_days = static_cast<double>(years * 12 + months) * days_per_month + static_cast<double>(v.days);
  const double number_of_seconds =
      (((number_of_days * 24 + static_cast<double>(hours)) * 60) + static_cast<double>(minutes)) * 60 + seconds;
  return java_long_cast(number_of_seconds * 1e6);
}

// io.debezium.time.Interval: P<years>Y<months>M<days>DT<hours>H<minutes>M<seconds>S, every part
// written, seconds without trailing zeros ("P1Y2M3DT4H5M6.78S", "P0Y0M0DT0H0M0S").
inline void append_interval_iso(std::string& out, const IntervalValue& v) {
  out += "\"P";
  append_int(out, v.months / 12);
  out.push_back('Y');
  append_int(out, v.months % 12);
  out.push_back('M');
  append_int(out, v.days);
  out += "DT";
  append_int(out, v.micros / 3'600'000'000);
  out.push_back('H');
  append_int(out, v.micros / 60'000'000 % 60);
  out.push_back('M');
  const std::int64_t us = v.micros % 60'000'000;
  if (us < 0) out.push_back('-');
  const std::int64_t a = us < 0 ? -us : us;
  append_int(out, a / 1'000'000);
  if (std::int64_t f = a % 1'000'000; f != 0) {
    int width = 6;
    while (f % 10 == 0) f /= 10, --width;
    out.push_back('.');
    values::detail::put_digits(out, f, width);
  }
  out += "S\"";
}

// ---- bits ----
// Little-endian bytes of a bit string ('0'/'1' text, first character the most significant bit):
// byte 0 holds the last 8 characters. Sized to `min_bytes`, grown to hold the highest set bit.
inline void append_bits_base64(std::string& out, std::string_view bits, std::size_t min_bytes) {
  thread_local std::vector<std::uint8_t> bytes;
  bytes.assign(std::max(min_bytes, (bits.size() + 7) / 8), 0);
  std::size_t highest = 0;
  for (std::size_t i = 0; i < bits.size(); ++i) {
    if (bits[bits.size() - 1 - i] == '1') {
      bytes[i / 8] |= static_cast<std::uint8_t>(1u << (i % 8));
      highest = i / 8 + 1;
    }
  }
  bytes.resize(std::max(min_bytes, highest));
  out.push_back('"');
  append_base64(out, std::span<const std::uint8_t>(bytes.data(), bytes.size()));
  out.push_back('"');
}

// bit_send: int32 bit count, then the bits packed most significant first. Written into `text`.
inline bool bits_binary_to_text(std::span<const std::byte> b, std::string& text) {
  if (b.size() < 4) return false;
  const auto n = static_cast<std::int32_t>(values::detail::load_be(b.data(), 4));
  if (n < 0 || b.size() - 4 != (static_cast<std::size_t>(n) + 7) / 8) return false;
  text.clear();
  for (std::int32_t i = 0; i < n; ++i)
    text.push_back((static_cast<unsigned>(b[4 + static_cast<std::size_t>(i / 8)]) >> (7 - i % 8)) & 1 ? '1' : '0');
  return true;
}

// ---- time / timetz ----
// "HH:MM:SS[.ffffff]" -> µs since midnight (24:00:00 allowed); advances pos.
inline bool parse_time_of_day(std::string_view s, std::size_t& pos, std::int64_t& us) {
  std::int64_t h = 0, m = 0, sec = 0;
  if (!values::detail::fixed_digits(s, pos, 2, h) || pos >= s.size() || s[pos++] != ':' ||
      !values::detail::fixed_digits(s, pos, 2, m) || pos >= s.size() || s[pos++] != ':' ||
      !values::detail::fixed_digits(s, pos, 2, sec))
    return false;
  std::int64_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int nd = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9' && nd < 6) frac = frac * 10 + (s[pos++] - '0'), ++nd;
    if (nd == 0) return false;
    for (; nd < 6; ++nd) frac *= 10;
  }
  if (h > 24 || m > 59 || sec > 60) return false;
  us = ((h * 60 + m) * 60 + sec) * 1'000'000 + frac;
  return us <= values::detail::kMicrosPerDay;
}

// ZonedTime: the UTC time of day, ISO-8601 with only the fraction digits needed and "Z".
inline void append_zoned_time(std::string& out, std::int64_t us) {
  out.push_back('"');
  const std::int64_t secs = us / 1'000'000;
  values::detail::put_digits(out, secs / 3600, 2);
  out.push_back(':');
  values::detail::put_digits(out, secs / 60 % 60, 2);
  out.push_back(':');
  values::detail::put_digits(out, secs % 60, 2);
  if (std::int64_t f = us % 1'000'000; f != 0) {
    int width = 6;
    while (f % 10 == 0) f /= 10, --width;
    out.push_back('.');
    values::detail::put_digits(out, f, width);
  }
  out += "Z\"";
}

// ---- hstore ----
// hstore_out: "k"=>"v", "k2"=>NULL (keys and values quoted, \" and \\ escaped). Calls
// on_pair(key, value, is_null) with the unescaped texts (in `scratch`-backed views).
template <class F>
bool parse_hstore_text(std::string_view s, F&& on_pair) {
  thread_local std::string key, val;
  std::size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
  };
  auto quoted = [&](std::string& out) {
    if (i >= s.size() || s[i] != '"') return false;
    ++i;
    out.clear();
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      out.push_back(s[i++]);
    }
    if (i >= s.size()) return false;
    ++i;
    return true;
  };
  ws();
  while (i < s.size()) {
    if (!quoted(key)) return false;
    if (s.substr(i, 2) != "=>") return false;
    i += 2;
    bool is_null = false;
    if (s.substr(i, 4) == "NULL") {
      is_null = true;
      i += 4;
    } else if (!quoted(val)) {
      return false;
    }
    on_pair(std::string_view(key), std::string_view(is_null ? std::string_view() : std::string_view(val)), is_null);
    ws();
  }
  return true;
}

// hstore_send: int32 count, then per pair int32 key length, key, int32 value length (-1 NULL), value.
template <class F>
bool decode_hstore_binary(std::span<const std::byte> b, F&& on_pair) {
  auto rd = [&](std::size_t& p, std::int32_t& v) {
    if (b.size() - p < 4) return false;
    v = static_cast<std::int32_t>(values::detail::load_be(b.data() + p, 4));
    p += 4;
    return true;
  };
  std::size_t p = 0;
  std::int32_t n = 0;
  if (!rd(p, n) || n < 0) return false;
  for (std::int32_t k = 0; k < n; ++k) {
    std::int32_t kl = 0, vl = 0;
    if (!rd(p, kl) || kl < 0 || b.size() - p < static_cast<std::size_t>(kl)) return false;
    const std::string_view key(reinterpret_cast<const char*>(b.data() + p), static_cast<std::size_t>(kl));
    p += static_cast<std::size_t>(kl);
    if (!rd(p, vl) || vl < -1 || (vl > 0 && b.size() - p < static_cast<std::size_t>(vl))) return false;
    std::string_view val;
    if (vl > 0) val = std::string_view(reinterpret_cast<const char*>(b.data() + p), static_cast<std::size_t>(vl));
    if (vl > 0) p += static_cast<std::size_t>(vl);
    on_pair(key, val, vl < 0);
  }
  return p == b.size();
}

// ---- network and pg_lsn send formats, written as their output functions print them ----
// inet_send / cidr_send: family (2 IPv4, 3 IPv6), bits, is_cidr, length, address bytes.
// inet prints /bits only when it is not the whole address; cidr always.
inline bool append_inet_binary(std::string& out, std::span<const std::byte> b, bool is_cidr) {
  if (b.size() < 4) return false;
  const unsigned family = static_cast<unsigned>(b[0]), bits = static_cast<unsigned>(b[1]),
                 len = static_cast<unsigned>(b[3]);
  const bool v4 = family == 2;
  if ((family != 2 && family != 3) || len != (v4 ? 4u : 16u) || b.size() != 4 + len || bits > len * 8) return false;
  auto at = [&](unsigned i) { return static_cast<unsigned>(b[4 + i]); };
  char buf[64];
  auto put = [&](const char* fmt, auto... a) {
    out.append(buf, static_cast<std::size_t>(std::snprintf(buf, sizeof buf, fmt, a...)));
  };
  out.push_back('"');
  if (v4) {
    put("%u.%u.%u.%u", at(0), at(1), at(2), at(3));
  } else {  // the longest run (2+) of zero words becomes "::"; ::a.b.c.d and ::ffff:a.b.c.d keep IPv4 form
    unsigned w[8];
    for (unsigned i = 0; i < 8; ++i) w[i] = at(2 * i) << 8 | at(2 * i + 1);
    int best = -1, best_len = 0, cur = -1, cur_len = 0;
    for (int i = 0; i < 8; ++i) {
      if (w[i] == 0) {
        if (cur < 0) cur = i, cur_len = 1;
        else ++cur_len;
        if (cur_len > best_len) best = cur, best_len = cur_len;
      } else {
        cur = -1;
      }
    }
    if (best_len < 2) best = -1;
    for (int i = 0; i < 8; ++i) {
      if (best >= 0 && i >= best && i < best + best_len) {
        if (i == best) out.push_back(':');
        continue;
      }
      if (i != 0) out.push_back(':');
      if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff))) {
        put("%u.%u.%u.%u", at(12), at(13), at(14), at(15));
        break;
      }
      put("%x", w[i]);
    }
    if (best >= 0 && best + best_len == 8) out.push_back(':');
  }
  if (is_cidr || bits != len * 8) put("/%u", bits);
  out.push_back('"');
  return true;
}

// range_send of the built-in ranges whose element text does not depend on session settings
// (int4range, int8range, numrange, daterange, tsrange), written as range_out prints it:
// "empty", or [lower,upper) with bounds quoted when range_out would quote them.
inline void append_pg_date_text(std::string& out, std::int64_t days_since_2000) {
  const auto c = values::detail::civil_from_days(days_since_2000 + values::detail::kDays1970To2000);
  const bool bc = c.y <= 0;
  values::detail::put_digits(out, bc ? 1 - c.y : c.y, 4);
  out.push_back('-');
  values::detail::put_digits(out, c.m, 2);
  out.push_back('-');
  values::detail::put_digits(out, c.d, 2);
  if (bc) out += " BC";
}
inline bool range_element_text(std::string& out, values::Oid range, std::span<const std::byte> b) {
  switch (range) {
    case dbz_oid::int4range:
    case dbz_oid::int8range: {
      if (b.size() != (range == dbz_oid::int4range ? 4u : 8u)) return false;
      auto v = values::decode_int_binary(b, range == dbz_oid::int4range ? values::oid::int4 : values::oid::int8);
      if (!v) return false;
      append_int(out, *v);
      return true;
    }
    case dbz_oid::numrange: {
      auto v = values::decode_numeric_binary(b);
      if (!v) return false;
      out += *v;
      return true;
    }
    case dbz_oid::daterange: {
      auto d = values::decode_date_binary(b);
      if (!d) return false;
      if (d->is_infinite()) out += d->days_since_2000 > 0 ? "infinity" : "-infinity";
      else append_pg_date_text(out, d->days_since_2000);
      return true;
    }
    case dbz_oid::tsrange: {
      auto t = values::decode_timestamp_binary(b, values::oid::timestamp);
      if (!t) return false;
      if (values::is_infinite(*t)) return out += *t == values::kTimestampInfinity ? "infinity" : "-infinity", true;
      const std::int64_t us = t->micros_since_2000();
      std::int64_t days = us / values::detail::kMicrosPerDay, rest = us % values::detail::kMicrosPerDay;
      if (rest < 0) rest += values::detail::kMicrosPerDay, --days;
      std::string date;
      append_pg_date_text(date, days);
      const bool bc = date.size() > 3 && date.compare(date.size() - 3, 3, " BC") == 0;
      if (bc) date.resize(date.size() - 3);
      out += date;
      out.push_back(' ');
      const std::int64_t secs = rest / 1'000'000;
      values::detail::put_digits(out, secs / 3600, 2);
      out.push_back(':');
      values::detail::put_digits(out, secs / 60 % 60, 2);
      out.push_back(':');
      values::detail::put_digits(out, secs % 60, 2);
      if (std::int64_t f = rest % 1'000'000; f != 0) {
        int width = 6;
        while (f % 10 == 0) f /= 10, --width;
        out.push_back('.');
        values::detail::put_digits(out, f, width);
      }
      if (bc) out += " BC";
      return true;
    }
  }
  return false;
}
inline bool append_range_binary(std::string& out, values::Oid range, std::span<const std::byte> b) {
  if (b.empty()) return false;
  const auto flags = static_cast<unsigned>(b[0]);
  std::string text;
  if (flags & 0x01) {
    text = "empty";
  } else {
    std::size_t p = 1;
    auto bound = [&](bool infinite) {
      if (infinite) return true;
      if (b.size() - p < 4) return false;
      const auto len = static_cast<std::int32_t>(values::detail::load_be(b.data() + p, 4));
      p += 4;
      if (len < 0 || b.size() - p < static_cast<std::size_t>(len)) return false;
      std::string elem;
      if (!range_element_text(elem, range, b.subspan(p, static_cast<std::size_t>(len)))) return false;
      p += static_cast<std::size_t>(len);
      bool quote = elem.empty();
      for (char c : elem)
        quote = quote || c == '"' || c == '\\' || c == '(' || c == ')' || c == '[' || c == ']' || c == ',' || c == ' ';
      if (quote) text.push_back('"');
      for (char c : elem) {
        if (c == '"' || c == '\\') text.push_back(c);
        text.push_back(c);
      }
      if (quote) text.push_back('"');
      return true;
    };
    text.push_back(flags & 0x02 ? '[' : '(');
    if (!bound(flags & 0x08)) return false;
    text.push_back(',');
    if (!bound(flags & 0x10)) return false;
    text.push_back(flags & 0x04 ? ']' : ')');
    if (p != b.size()) return false;
  }
  append_json_string(out, text);
  return true;
}

// macaddr_send / macaddr8_send: 6 / 8 bytes, printed xx:xx:...; pg_lsn_send: uint64, printed X/X.
inline bool append_other_binary(std::string& out, values::Oid type, std::span<const std::byte> b) {
  if (type == dbz_oid::inet || type == dbz_oid::cidr) return append_inet_binary(out, b, type == dbz_oid::cidr);
  if (type == dbz_oid::macaddr || type == dbz_oid::macaddr8) {
    if (b.size() != (type == dbz_oid::macaddr ? 6u : 8u)) return false;
    static constexpr char hex[] = "0123456789abcdef";
    out.push_back('"');
    for (std::size_t i = 0; i < b.size(); ++i) {
      if (i > 0) out.push_back(':');
      out.push_back(hex[static_cast<unsigned>(b[i]) >> 4]);
      out.push_back(hex[static_cast<unsigned>(b[i]) & 15]);
    }
    out.push_back('"');
    return true;
  }
  if (type == dbz_oid::int4range || type == dbz_oid::int8range || type == dbz_oid::numrange ||
      type == dbz_oid::daterange || type == dbz_oid::tsrange)
    return append_range_binary(out, type, b);
  if (type == dbz_oid::pg_lsn) {
    if (b.size() != 8) return false;
    const std::uint64_t v = values::detail::load_be(b.data(), 8);
    char buf[40];
    out.push_back('"');
    out.append(buf, static_cast<std::size_t>(std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(v >> 32),
                                                           static_cast<unsigned>(v & 0xFFFFFFFF))));
    out.push_back('"');
    return true;
  }
  return false;
}

inline ReplicationError bad_value(std::string_view what, values::Oid type) {
  return ReplicationError::fatal("debezium format: cannot decode a column value: " + std::string(what) + " [type OID " +
                                 std::to_string(type) + "]");
}

// The Unix-epoch helpers.
inline std::int64_t unix_micros(PgTimestamp t) noexcept {
  constexpr std::int64_t off = PgTimestamp::kUnixEpochOffsetMicros;
  const std::int64_t us = t.micros_since_2000();
  if (us > std::numeric_limits<std::int64_t>::max() - off) return std::numeric_limits<std::int64_t>::max();
  return us + off;
}
inline std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  return a >= 0 ? a / b : -((-(a + 1)) / b) - 1;
}
inline std::int64_t unix_millis(PgTimestamp t) noexcept { return floor_div(unix_micros(t), 1000); }

// Debezium's ZonedTimestamp text: ISO-8601 in UTC, fraction only as long as needed. Written in place.
inline void append_zoned_timestamp(std::string& out, PgTimestamp t) {
  out.push_back('"');
  if (t == values::kTimestampInfinity) {
    out += "infinity\"";
    return;
  }
  if (t == values::kTimestampMinusInfinity) {
    out += "-infinity\"";
    return;
  }
  const std::int64_t us = t.micros_since_2000();
  std::int64_t days = us / values::detail::kMicrosPerDay, rest = us % values::detail::kMicrosPerDay;
  if (rest < 0) rest += values::detail::kMicrosPerDay, --days;
  values::detail::put_date(out, days);
  out.push_back('T');
  const std::int64_t secs = rest / 1'000'000;
  values::detail::put_digits(out, secs / 3600, 2);
  out.push_back(':');
  values::detail::put_digits(out, secs / 60 % 60, 2);
  out.push_back(':');
  values::detail::put_digits(out, secs % 60, 2);
  if (std::int64_t f = rest % 1'000'000; f != 0) {
    int width = 6;
    while (f % 10 == 0) f /= 10, --width;
    out.push_back('.');
    values::detail::put_digits(out, f, width);
  }
  out += "Z\"";
}

// uuid_out's text (checked) or uuid_send's 16 bytes, as a lower-case JSON string.
inline bool append_uuid(std::string& out, std::string_view text, std::span<const std::byte> bytes, bool binary) {
  static constexpr char hex[] = "0123456789abcdef";
  if (binary) {
    if (bytes.size() != 16) return false;
    out.push_back('"');
    for (std::size_t i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
      out.push_back(hex[static_cast<unsigned>(bytes[i]) >> 4]);
      out.push_back(hex[static_cast<unsigned>(bytes[i]) & 15]);
    }
    out.push_back('"');
    return true;
  }
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < 36; ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : values::detail::hex_value(text[i]) < 0) return false;
  }
  out.push_back('"');
  for (char c : text) out.push_back(c >= 'A' && c <= 'F' ? static_cast<char>(c - 'A' + 'a') : c);
  out.push_back('"');
  return true;
}

}  // namespace detail

// One scalar (non-array) value of mapping `t`. NULL and unchanged TOAST are the caller's.
inline Status append_debezium_scalar(std::string& out, values::TypedValueView v, const DebeziumScalarType& t,
                                     const DebeziumValueModes& m) {
  namespace o = values::oid;
  using detail::bad_value;
  const values::Oid type = v.type_oid();
  const bool bin = v.is_binary();
  const std::string_view text = bin ? std::string_view() : v.raw().text();
  const auto bytes = v.raw().bytes;
  auto bad = [&](const values::ValueError& e) { return bad_value(e.describe(), type); };
  switch (t.kind) {
    case DebeziumKind::boolean: {
      if (type == dbz_oid::bit || type == dbz_oid::varbit) {  // bit(1): BOOLEAN
        thread_local std::string bits;
        if (bin) {
          if (!detail::bits_binary_to_text(bytes, bits)) return bad_value("bit", type);
        } else {
          bits.assign(text);
        }
        out += bits.find('1') != std::string::npos ? "true" : "false";
        return ok_status();
      }
      auto b = v.as_bool();
      if (!b) return bad(b.error());
      out += *b ? "true" : "false";
      return ok_status();
    }
    case DebeziumKind::bits: {  // io.debezium.data.Bits, little-endian; bit(n): ceil(n/8) bytes, varbit: content
      thread_local std::string bits;
      if (bin) {
        if (!detail::bits_binary_to_text(bytes, bits)) return bad_value("bit", type);
      } else {
        bits.assign(text);
        for (char c : bits)
          if (c != '0' && c != '1') return bad_value("bit", type);
      }
      const std::size_t min_bytes =
          type == dbz_oid::bit && t.typmod > 0 ? (static_cast<std::size_t>(t.typmod) + 7) / 8 : 0;
      detail::append_bits_base64(out, bits, min_bytes);
      return ok_status();
    }
    case DebeziumKind::int16:
    case DebeziumKind::int32:
    case DebeziumKind::int64: {
      auto i = v.as_int64();
      if (!i) return bad(i.error());
      detail::append_int(out, *i);
      return ok_status();
    }
    case DebeziumKind::float32:
    case DebeziumKind::float64: {
      auto d = v.as_double();
      if (!d) return bad(d.error());
      detail::append_java_double(out, *d, t.kind == DebeziumKind::float32);
      return ok_status();
    }
    case DebeziumKind::numeric: {
      detail::DecimalText d;
      std::string owned;  // binary numerics come through numeric_out's text
      std::string_view s = text;
      if (bin) {
        auto n = values::decode_numeric_binary(bytes);
        if (!n) return bad(n.error());
        owned = std::move(*n);
        s = owned;
      }
      if (!detail::parse_decimal_text(s, d)) return bad_value("numeric", type);
      detail::append_decimal(out, d, detail::numeric_scale(t.typmod), m.decimal, s);
      return ok_status();
    }
    case DebeziumKind::money: {  // Decimal with scale money.fraction.digits
      char buf[48];
      std::size_t n = 0;
      bool negative = false;
      if (bin) {
        if (bytes.size() != 8) return bad_value("money must be 8 bytes", type);
        const auto cents = static_cast<std::int64_t>(values::detail::load_be(bytes.data(), 8));
        negative = cents < 0;
        const std::uint64_t a = negative ? 0 - static_cast<std::uint64_t>(cents) : static_cast<std::uint64_t>(cents);
        char tmp[24];
        const auto r = std::to_chars(tmp, tmp + sizeof tmp, a);
        const auto len = static_cast<std::size_t>(r.ptr - tmp);
        const auto fd = static_cast<std::size_t>(std::clamp(m.money_fraction_digits, 0, 18));
        if (len <= fd) {  // 0.0ddd
          buf[n++] = '0';
          buf[n++] = '.';
          for (std::size_t k = len; k < fd; ++k) buf[n++] = '0';
          std::memcpy(buf + n, tmp, len);
          n += len;
        } else {
          std::memcpy(buf + n, tmp, len - fd);
          n += len - fd;
          if (fd > 0) buf[n++] = '.';
          std::memcpy(buf + n, tmp + len - fd, fd);
          n += fd;
        }
      } else {  // "$1,234.50", "-$1,234.50", "($1,234.50)": digits and the point, sign from '-' or '('
        for (char c : text) {
          if (c == '-' || c == '(') negative = true;
          else if ((c >= '0' && c <= '9') || c == '.') {
            if (n + 1 >= sizeof buf) return bad_value("money", type);
            buf[n++] = c;
          }
        }
      }
      detail::DecimalText d;
      if (!detail::parse_decimal_text(std::string_view(buf, n), d)) return bad_value("money", type);
      d.negative = negative;
      if (m.decimal == DecimalHandlingMode::string) {  // String.valueOf of the double Debezium reads
        double x = 0;
        std::from_chars(buf, buf + n, x);
        out.push_back('"');
        detail::append_java_double(out, negative ? -x : x, false);
        out.push_back('"');
        return ok_status();
      }
      char sbuf[50];
      std::size_t sn = 0;
      if (negative) sbuf[sn++] = '-';
      std::memcpy(sbuf + sn, buf, n);
      detail::append_decimal(out, d, m.money_fraction_digits, m.decimal, std::string_view(sbuf, sn + n));
      return ok_status();
    }
    case DebeziumKind::json: {
      if (bin && type == o::jsonb) {
        auto j = values::decode_jsonb_binary(bytes);
        if (!j) return bad(j.error());
        append_json_string(out, *j);
        return ok_status();
      }
      append_json_string(out, bin ? std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()) : text);
      return ok_status();
    }
    case DebeziumKind::uuid:
      if (!detail::append_uuid(out, text, bytes, bin)) return bad_value("uuid", type);
      return ok_status();
    case DebeziumKind::ltree: {  // ltree_send: version byte 1, then the text
      std::string_view s = text;
      if (bin) {
        if (bytes.empty() || static_cast<unsigned>(bytes[0]) != 1) return bad_value("ltree version", type);
        s = std::string_view(reinterpret_cast<const char*>(bytes.data() + 1), bytes.size() - 1);
      }
      append_json_string(out, s);
      return ok_status();
    }
    case DebeziumKind::date: {  // io.debezium.time.Date / Kafka Date: days since the Unix epoch
      auto d = v.as_date();
      if (!d) return bad(d.error());
      if (d->is_infinite()) detail::append_int(out, d->days_since_2000);
      else detail::append_int(out, static_cast<std::int64_t>(d->days_since_2000) + values::detail::kDays1970To2000);
      return ok_status();
    }
    case DebeziumKind::time: {
      std::int64_t us = 0;
      if (bin) {
        if (bytes.size() != 8) return bad_value("time must be 8 bytes", type);
        us = static_cast<std::int64_t>(values::detail::load_be(bytes.data(), 8));
      } else {
        std::size_t pos = 0;
        if (!detail::parse_time_of_day(text, pos, us) || pos != text.size()) return bad_value("time", type);
      }
      // adaptive: TIME(0-3) Time (ms, INT32), else MicroTime; adaptive_time_microseconds: MicroTime; connect: ms.
      const bool millis = m.time_precision == TimePrecisionMode::connect ||
                          (m.time_precision == TimePrecisionMode::adaptive && t.typmod >= 0 && t.typmod <= 3);
      detail::append_int(out, millis ? us / 1000 : us);
      return ok_status();
    }
    case DebeziumKind::timetz: {  // ZonedTime in UTC
      std::int64_t us = 0, zone_west = 0;
      if (bin) {
        if (bytes.size() != 12) return bad_value("timetz must be 12 bytes", type);
        us = static_cast<std::int64_t>(values::detail::load_be(bytes.data(), 8));
        zone_west = static_cast<std::int32_t>(values::detail::load_be(bytes.data() + 8, 4));
      } else {
        std::size_t pos = 0;
        if (!detail::parse_time_of_day(text, pos, us) || pos >= text.size() || (text[pos] != '+' && text[pos] != '-'))
          return bad_value("timetz", type);
        const bool neg = text[pos++] == '-';
        std::int64_t oh = 0, om = 0, os = 0;
        if (!values::detail::fixed_digits(text, pos, 2, oh)) return bad_value("timetz offset", type);
        if (pos < text.size() && text[pos] == ':' && (++pos, !values::detail::fixed_digits(text, pos, 2, om)))
          return bad_value("timetz offset", type);
        if (pos < text.size() && text[pos] == ':' && (++pos, !values::detail::fixed_digits(text, pos, 2, os)))
          return bad_value("timetz offset", type);
        if (pos != text.size()) return bad_value("timetz", type);
        zone_west = (oh * 3600 + om * 60 + os) * (neg ? 1 : -1);
      }
      std::int64_t utc = us + zone_west * 1'000'000;
      if (!(us == values::detail::kMicrosPerDay && zone_west == 0)) {  // 24:00:00+00 stays 24:00:00Z
        utc %= values::detail::kMicrosPerDay;
        if (utc < 0) utc += values::detail::kMicrosPerDay;
      }
      detail::append_zoned_time(out, utc);
      return ok_status();
    }
    case DebeziumKind::timestamp: {
      auto ts = v.as_timestamp();
      if (!ts) return bad(ts.error());
      // ±infinity: the JDBC driver's PGStatement.DATE_POSITIVE_INFINITY / DATE_NEGATIVE_INFINITY.
      if (*ts == values::kTimestampInfinity) return out += "9223372036825200000", ok_status();
      if (*ts == values::kTimestampMinusInfinity) return out += "-9223372036832400000", ok_status();
      const bool millis = m.time_precision == TimePrecisionMode::connect || (t.typmod >= 0 && t.typmod <= 3);
      detail::append_int(out, millis ? detail::unix_millis(*ts) : detail::unix_micros(*ts));
      return ok_status();
    }
    case DebeziumKind::timestamptz: {
      auto ts = v.as_timestamp();
      if (!ts) return bad(ts.error());
      detail::append_zoned_timestamp(out, *ts);
      return ok_status();
    }
    case DebeziumKind::interval: {
      detail::IntervalValue iv;
      if (bin ? !detail::decode_interval_binary(bytes, iv) : !detail::parse_interval_text(text, iv))
        return bad_value("interval", type);
      if (m.interval == IntervalHandlingMode::string) detail::append_interval_iso(out, iv);
      else detail::append_int(out, detail::interval_micro_duration(iv));
      return ok_status();
    }
    case DebeziumKind::bytea: {
      if (bin) {
        detail::append_binary(out, bytes, m.binary);
        return ok_status();
      }
      thread_local std::vector<std::byte> buf;  // hex form decoded here: reused, no allocation once warm
      buf.clear();
      if (text.size() >= 2 && text[0] == '\\' && text[1] == 'x' && text.size() % 2 == 0) {
        for (std::size_t i = 2; i < text.size(); i += 2) {
          const int hi = values::detail::hex_value(text[i]), lo = values::detail::hex_value(text[i + 1]);
          if (hi < 0 || lo < 0) return bad_value("bytea hex digit", type);
          buf.push_back(static_cast<std::byte>(hi * 16 + lo));
        }
      } else {  // bytea_output = escape
        auto b = values::parse_bytea_text(text);
        if (!b) return bad(b.error());
        buf = std::move(*b);
      }
      detail::append_binary(out, buf, m.binary);
      return ok_status();
    }
    case DebeziumKind::point: {  // io.debezium.data.geometry.Point {x, y, wkb, srid}
      double x = 0, y = 0;
      if (bin) {
        if (bytes.size() != 16) return bad_value("point must be 16 bytes", type);
        x = std::bit_cast<double>(values::detail::load_be(bytes.data(), 8));
        y = std::bit_cast<double>(values::detail::load_be(bytes.data() + 8, 8));
      } else {
        const std::size_t comma = text.find(',');
        if (text.size() < 5 || text.front() != '(' || text.back() != ')' || comma == std::string_view::npos)
          return bad_value("point", type);
        auto px = values::parse_float_text(text.substr(1, comma - 1));
        auto py = values::parse_float_text(text.substr(comma + 1, text.size() - comma - 2));
        if (!px || !py) return bad_value("point", type);
        x = *px;
        y = *py;
      }
      // WKB: byte order 1 (little-endian), type 1 (point), x, y.
      std::uint8_t wkb[21] = {1, 1, 0, 0, 0};
      const auto bx = std::bit_cast<std::uint64_t>(x), by = std::bit_cast<std::uint64_t>(y);
      for (int k = 0; k < 8; ++k) {
        wkb[5 + k] = static_cast<std::uint8_t>(bx >> (8 * k));
        wkb[13 + k] = static_cast<std::uint8_t>(by >> (8 * k));
      }
      out += "{\"x\":";
      detail::append_java_double(out, x, false);
      out += ",\"y\":";
      detail::append_java_double(out, y, false);
      out += ",\"wkb\":\"";
      detail::append_base64(out, std::span<const std::uint8_t>(wkb, sizeof wkb));
      out += "\",\"srid\":null}";
      return ok_status();
    }
    case DebeziumKind::hstore: {
      // json: a string holding {"k":"v","k2":null}; map: that object itself.
      thread_local std::string doc;
      doc.clear();
      doc.push_back('{');
      bool first = true;
      auto pair = [&](std::string_view k, std::string_view val, bool is_null) {
        if (!first) doc.push_back(',');
        first = false;
        append_json_string(doc, k);
        doc.push_back(':');
        if (is_null) doc += "null";
        else append_json_string(doc, val);
      };
      if (bin ? !detail::decode_hstore_binary(bytes, pair) : !detail::parse_hstore_text(text, pair))
        return bad_value("hstore", type);
      doc.push_back('}');
      if (m.hstore == HstoreHandlingMode::map) out += doc;
      else append_json_string(out, doc);
      return ok_status();
    }
    case DebeziumKind::xml:
    case DebeziumKind::enum_:
    case DebeziumKind::string: break;
  }
  // Strings: text types, xml, enums, network, ranges, geometric, unknown types: the server's text.
  // enum_send and citext's send are the text; other user types' send formats are not decoded.
  const bool text_send = t.kind == DebeziumKind::enum_ || (t.user_type != nullptr && t.user_type->name == "citext");
  if (!bin || values::is_textual(type) || text_send) {
    if (bin) append_json_string(out, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    else append_json_string(out, text);
    return ok_status();
  }
  auto s = v.as_text();  // a binary value of a built-in type with a decoder (e.g. uuid, dates)
  if (s) {
    append_json_string(out, *s);
    return ok_status();
  }
  if (s.error().code != values::ValueErrc::unsupported_type) return bad(s.error());
  if (type == dbz_oid::inet || type == dbz_oid::cidr || type == dbz_oid::macaddr || type == dbz_oid::macaddr8 ||
      type == dbz_oid::pg_lsn || type == dbz_oid::int4range || type == dbz_oid::int8range ||
      type == dbz_oid::numrange || type == dbz_oid::daterange || type == dbz_oid::tsrange) {
    if (!detail::append_other_binary(out, type, bytes)) return bad_value("network address, range or pg_lsn", type);
    return ok_status();
  }
  out.push_back('"');  // no decoder for this send format: its raw bytes, base64 (use binary=false)
  detail::append_base64(out, bytes);
  out.push_back('"');
  return ok_status();
}

// A column value: NULL, the unchanged-TOAST placeholder, a scalar, or a JSON array of elements
// (one level per dimension), each mapped like a column of the element type.
inline Status append_debezium_value(std::string& out, values::TypedValueView v, const DebeziumColumnType& t,
                                    const DebeziumValueModes& m, std::string_view unavailable) {
  if (v.is_null()) return out += "null", ok_status();
  if (v.is_unchanged_toast()) {
    append_json_string(out, unavailable);
    return ok_status();
  }
  if (!t.is_array) return append_debezium_scalar(out, values::TypedValueView(v.raw(), t.scalar.wire_oid), t.scalar, m);
  const values::Oid elem = t.scalar.wire_oid;
  std::vector<std::int32_t> dims;
  std::vector<values::TypedValueView> elements;
  std::vector<std::optional<std::string>> texts;  // text mode: unquoted element texts, alive for the views
  if (v.is_binary()) {
    auto a = values::decode_array_binary(v.raw().bytes, t.array_oid);
    if (!a) return detail::bad_value(a.error().describe(), t.array_oid);
    dims = a->dims;
    for (const auto& e : a->elements)
      elements.emplace_back(e ? ColumnValueView{ColumnKind::binary, *e} : ColumnValueView{ColumnKind::null, {}}, elem);
  } else {
    auto a = values::parse_array_text(v.raw().text(), t.array_oid);
    if (!a) return detail::bad_value(a.error().describe(), t.array_oid);
    dims = a->dims;
    texts = std::move(a->elements);
    for (const auto& e : texts)
      elements.emplace_back(e ? ColumnValueView{ColumnKind::text, std::as_bytes(std::span(e->data(), e->size()))}
                              : ColumnValueView{ColumnKind::null, {}},
                            elem);
  }
  std::size_t next = 0;
  DebeziumColumnType et;
  et.scalar = t.scalar;
  auto dim = [&](auto&& self, std::size_t d) -> Status {
    out.push_back('[');
    if (!dims.empty()) {
      for (std::int32_t k = 0; k < dims[d]; ++k) {
        if (k > 0) out.push_back(',');
        if (d + 1 < dims.size()) {
          if (auto st = self(self, d + 1); !st) return st;
        } else if (auto st = append_debezium_value(out, elements[next++], et, m, unavailable); !st) {
          return st;
        }
      }
    }
    out.push_back(']');
    return ok_status();
  };
  return dim(dim, 0);
}

}  // namespace replicator::format
