// Parsers for the text output of PostgreSQL's common types (what pgoutput sends with binary=false),
// assuming the server defaults DateStyle=ISO and bytea_output=hex (escape is read too).
//   values::parse_timestamp_text("2026-11-25 16:30:51.5+01", true)  // -> PgTimestamp (UTC micros)
//   values::parse_array_text("{{1,2},{3,NULL}}")                      // -> dims {2,2}, raw elements
// Every parser checks the whole input and returns a ValueError (malformed / out_of_range), never UB.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "replicator/core/timestamp.hpp"
#include "replicator/values/types.hpp"

namespace replicator::values {

namespace detail {
inline ValueError bad(Oid type, std::string_view what) { return ValueError{ValueErrc::malformed, type, what}; }
constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
// Reads exactly `n` digits at s[pos...]; advances pos.
inline bool fixed_digits(std::string_view s, std::size_t& pos, std::size_t n, std::int64_t& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_digit(s[pos + i])) return false;
    out = out * 10 + (s[pos + i] - '0');
  }
  pos += n;
  return true;
}
}  // namespace detail

// boolout: "t" / "f".
inline ValueResult<bool> parse_bool_text(std::string_view s) {
  if (s == "t" || s == "true") return true;
  if (s == "f" || s == "false") return false;
  return detail::bad(oid::bool_, "expected t or f");
}

// int2 / int4 / int8 / oid output: optional '-', decimal digits.
inline ValueResult<std::int64_t> parse_int_text(std::string_view s, Oid type = oid::int8) {
  std::int64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  // Syntax first: from_chars reports overflow before looking past the digits ("99999999999999999999x").
  if (s.empty() || r.ptr != s.data() + s.size() || (r.ec != std::errc{} && r.ec != std::errc::result_out_of_range))
    return detail::bad(type, "integer");
  if (r.ec == std::errc::result_out_of_range) return ValueError{ValueErrc::out_of_range, type, "integer"};
  return v;
}

// float4 / float8 output: digits with optional exponent, "NaN", "Infinity", "-Infinity".
inline ValueResult<double> parse_float_text(std::string_view s, Oid type = oid::float8) {
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s == "Infinity") return std::numeric_limits<double>::infinity();
  if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  double v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc{} || r.ptr != s.data() + s.size() || s.empty()) return detail::bad(type, "float");
  return v;
}

// numeric_out: "-12.3400", "NaN", "Infinity", "-Infinity" (never an exponent). Returned as is.
inline ValueResult<std::string> parse_numeric_text(std::string_view s) {
  if (s == "NaN" || s == "Infinity" || s == "-Infinity") return std::string(s);
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  const std::size_t int_start = i;
  while (i < s.size() && detail::is_digit(s[i])) ++i;
  if (i == int_start) return detail::bad(oid::numeric, "numeric");
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t frac = i;
    while (i < s.size() && detail::is_digit(s[i])) ++i;
    if (i == frac) return detail::bad(oid::numeric, "numeric");
  }
  if (i != s.size()) return detail::bad(oid::numeric, "numeric");
  return std::string(s);
}

// timestamp / timestamptz output with DateStyle ISO: "2026-11-25 16:30:51.123456[+05:30][ BC]",
// "infinity", "-infinity". A timestamptz's offset is applied, giving UTC; a timestamp is taken as is.
inline ValueResult<PgTimestamp> parse_timestamp_text(std::string_view s, bool with_tz) {
  const Oid type = with_tz ? oid::timestamptz : oid::timestamp;
  if (s == "infinity") return kTimestampInfinity;
  if (s == "-infinity") return kTimestampMinusInfinity;
  bool bc = false;
  if (s.size() > 3 && s.substr(s.size() - 3) == " BC") {
    bc = true;
    s.remove_suffix(3);
  }
  std::size_t pos = 0;
  std::int64_t year = 0;
  const std::size_t year_start = pos;
  while (pos < s.size() && detail::is_digit(s[pos]) && pos - year_start < 7) year = year * 10 + (s[pos++] - '0');
  std::int64_t mon = 0, day = 0, hh = 0, mm = 0, ss = 0;
  if (pos - year_start < 4 || pos >= s.size() || s[pos++] != '-' || !detail::fixed_digits(s, pos, 2, mon) ||
      pos >= s.size() || s[pos++] != '-' || !detail::fixed_digits(s, pos, 2, day) || pos >= s.size() ||
      s[pos++] != ' ' || !detail::fixed_digits(s, pos, 2, hh) || pos >= s.size() || s[pos++] != ':' ||
      !detail::fixed_digits(s, pos, 2, mm) || pos >= s.size() || s[pos++] != ':' ||
      !detail::fixed_digits(s, pos, 2, ss))
    return detail::bad(type, "expected ISO timestamp YYYY-MM-DD HH:MM:SS");
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 24 || mm > 59 || ss > 60 || year == 0)
    return detail::bad(type, "timestamp field out of range");
  std::int64_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < s.size() && detail::is_digit(s[pos])) {
      if (n >= 6) return detail::bad(type, "more than 6 fractional digits");
      frac = frac * 10 + (s[pos++] - '0');
      ++n;
    }
    if (n == 0) return detail::bad(type, "empty fraction");
    for (; n < 6; ++n) frac *= 10;
  }
  std::int64_t offset_secs = 0;
  if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    if (!with_tz) return detail::bad(type, "time zone offset on a timestamp without time zone");
    const bool neg = s[pos++] == '-';
    std::int64_t oh = 0, om = 0, os = 0;
    if (!detail::fixed_digits(s, pos, 2, oh)) return detail::bad(type, "time zone offset");
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!detail::fixed_digits(s, pos, 2, om)) return detail::bad(type, "time zone offset");
      if (pos < s.size() && s[pos] == ':') {
        ++pos;
        if (!detail::fixed_digits(s, pos, 2, os)) return detail::bad(type, "time zone offset");
      }
    }
    offset_secs = (oh * 3600 + om * 60 + os) * (neg ? -1 : 1);
  } else if (with_tz) {
    return detail::bad(type, "timestamptz without a time zone offset");
  }
  if (pos != s.size()) return detail::bad(type, "trailing characters");
  if (bc) year = 1 - year;  // 1 BC is astronomical year 0
  const std::int64_t days =
      detail::days_from_civil(year, static_cast<unsigned>(mon), static_cast<unsigned>(day)) - detail::kDays1970To2000;
  const std::int64_t secs = hh * 3600 + mm * 60 + ss - offset_secs;
  // PostgreSQL's range: [4714-11-24 00:00:00 BC, 294277-01-01 00:00:00) in microseconds since
  // 2000-01-01 (MIN_TIMESTAMP, END_TIMESTAMP). The day bound keeps days * kMicrosPerDay in int64;
  // the time of day and offset are added with an overflow check.
  constexpr std::int64_t kMinTimestamp = -211'813'488'000'000'000;
  constexpr std::int64_t kEndTimestamp = 9'223'371'331'200'000'000;
  constexpr std::int64_t kMaxDays = std::numeric_limits<std::int64_t>::max() / detail::kMicrosPerDay;
  std::int64_t us = 0;
  if (days > kMaxDays || days < -kMaxDays ||
      __builtin_add_overflow(days * detail::kMicrosPerDay, secs * 1'000'000 + frac, &us) || us < kMinTimestamp ||
      us >= kEndTimestamp)
    return ValueError{ValueErrc::out_of_range, type, "timestamp"};
  return PgTimestamp{us};
}

// date output with DateStyle ISO: "2026-11-25", "0044-03-15 BC", "infinity", "-infinity".
inline ValueResult<PgDate> parse_date_text(std::string_view s) {
  if (s == "infinity") return PgDate::infinity();
  if (s == "-infinity") return PgDate::minus_infinity();
  bool bc = false;
  if (s.size() > 3 && s.substr(s.size() - 3) == " BC") {
    bc = true;
    s.remove_suffix(3);
  }
  std::size_t pos = 0;
  std::int64_t year = 0, mon = 0, day = 0;
  while (pos < s.size() && detail::is_digit(s[pos]) && pos < 8) year = year * 10 + (s[pos++] - '0');
  if (pos < 4 || pos >= s.size() || s[pos++] != '-' || !detail::fixed_digits(s, pos, 2, mon) || pos >= s.size() ||
      s[pos++] != '-' || !detail::fixed_digits(s, pos, 2, day) || pos != s.size())
    return detail::bad(oid::date, "expected ISO date YYYY-MM-DD");
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || year == 0) return detail::bad(oid::date, "date field out of range");
  if (bc) year = 1 - year;
  const std::int64_t days =
      detail::days_from_civil(year, static_cast<unsigned>(mon), static_cast<unsigned>(day)) - detail::kDays1970To2000;
  if (days >= std::numeric_limits<std::int32_t>::max() || days <= std::numeric_limits<std::int32_t>::min())
    return ValueError{ValueErrc::out_of_range, oid::date, "date"};
  return PgDate{static_cast<std::int32_t>(days)};
}

// uuid_out: 8-4-4-4-12 hex digits. Returned in lower case.
inline ValueResult<std::string> parse_uuid_text(std::string_view s) {
  if (s.size() != 36) return detail::bad(oid::uuid, "uuid must be 36 characters");
  std::string out(s);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? out[i] != '-' : detail::hex_value(out[i]) < 0) return detail::bad(oid::uuid, "uuid");
    if (out[i] >= 'A' && out[i] <= 'F') out[i] = static_cast<char>(out[i] - 'A' + 'a');
  }
  return out;
}

// byteaout: "\x0a0b" (hex, the default) or the escape format ("ab\000\\").
inline ValueResult<std::vector<std::byte>> parse_bytea_text(std::string_view s) {
  std::vector<std::byte> out;
  if (s.size() >= 2 && s[0] == '\\' && s[1] == 'x') {
    if ((s.size() - 2) % 2 != 0) return detail::bad(oid::bytea, "odd number of hex digits");
    out.reserve((s.size() - 2) / 2);
    for (std::size_t i = 2; i < s.size(); i += 2) {
      const int hi = detail::hex_value(s[i]), lo = detail::hex_value(s[i + 1]);
      if (hi < 0 || lo < 0) return detail::bad(oid::bytea, "hex digit");
      out.push_back(static_cast<std::byte>(hi * 16 + lo));
    }
    return out;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(static_cast<std::byte>(s[i]));
    } else if (i + 1 < s.size() && s[i + 1] == '\\') {
      out.push_back(static_cast<std::byte>('\\'));
      ++i;
    } else if (i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
               s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(static_cast<std::byte>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      return detail::bad(oid::bytea, "bad escape");
    }
  }
  return out;
}

// An array literal split into its structure and raw element texts (quotes and backslashes
// removed; still in the element type's text form). NULL elements are std::nullopt.
struct RawArray {
  std::vector<std::int32_t> dims;
  std::vector<std::int32_t> lower_bounds;
  std::vector<std::optional<std::string>> elements;
};

// array_out: "{1,2,NULL}", "{{a,\"b c\"},{d,e}}", "[0:1]={x,y}", "{}". Delimiter ',' (every
// built-in type but box). Checks that sub-arrays are rectangular.
inline ValueResult<RawArray> parse_array_text(std::string_view s, Oid array_type = 0) {
  auto bad = [&](std::string_view what) { return detail::bad(array_type, what); };
  RawArray out;
  std::size_t pos = 0;
  std::vector<std::int32_t> decl_lb, decl_ub;
  if (pos < s.size() && s[pos] == '[') {  // dimension decoration
    while (pos < s.size() && s[pos] == '[') {
      ++pos;
      auto read_int = [&](std::int32_t& v) {
        const auto r = std::from_chars(s.data() + pos, s.data() + s.size(), v);
        if (r.ec != std::errc{}) return false;
        pos = static_cast<std::size_t>(r.ptr - s.data());
        return true;
      };
      std::int32_t lb = 0, ub = 0;
      if (!read_int(lb) || pos >= s.size() || s[pos++] != ':' || !read_int(ub) || pos >= s.size() || s[pos++] != ']')
        return bad("array dimension decoration");
      if (ub < lb) return bad("array upper bound below lower bound");
      decl_lb.push_back(lb);
      decl_ub.push_back(ub);
    }
    if (pos >= s.size() || s[pos++] != '=') return bad("array dimension decoration without '='");
  }
  if (pos >= s.size() || s[pos] != '{') return bad("array literal must start with '{'");
  constexpr std::size_t kMaxDims = 6;  // PostgreSQL's MAXDIM
  std::vector<std::int32_t> counts;    // elements seen at each open level
  std::vector<std::int32_t> dims;      // established size of each level (-1 unknown)
  std::size_t depth = 0;
  std::size_t leaf_depth = 0;  // depth where elements live (0: not yet known)
  bool expect_item = true;     // after '{' or ','
  bool empty_top = false;
  while (pos < s.size()) {
    const char c = s[pos];
    if (c == '{') {
      if (!expect_item) return bad("missing ',' in array");
      if (leaf_depth != 0 && depth >= leaf_depth) return bad("array nesting differs between elements");
      if (++depth > kMaxDims) return bad("more than 6 array dimensions");
      if (counts.size() < depth) {
        counts.push_back(0);
        dims.push_back(-1);
      }
      counts[depth - 1] = 0;
      ++pos;
      expect_item = true;
      continue;
    }
    if (c == '}') {
      if (depth == 0) return bad("unbalanced '}'");
      const bool empty = counts[depth - 1] == 0;
      if (empty) {
        if (!(depth == 1 && leaf_depth == 0)) return bad("empty sub-array");
        empty_top = true;
      } else if (expect_item) {
        return bad("trailing ',' in array");
      }
      if (!empty_top) {
        if (dims[depth - 1] == -1) dims[depth - 1] = counts[depth - 1];
        else if (dims[depth - 1] != counts[depth - 1]) return bad("sub-arrays of different sizes");
      }
      --depth;
      ++pos;
      if (depth == 0) break;
      ++counts[depth - 1];
      expect_item = false;
      continue;
    }
    if (c == ',') {
      if (expect_item || depth == 0) return bad("unexpected ',' in array");
      ++pos;
      expect_item = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++pos;
      continue;
    }
    // An element.
    if (!expect_item) return bad("missing ',' in array");
    if (leaf_depth == 0) leaf_depth = depth;
    else if (leaf_depth != depth) return bad("array nesting differs between elements");
    if (empty_top) return bad("elements after an empty array");
    std::string value;
    bool quoted = false;
    if (c == '"') {
      quoted = true;
      ++pos;
      bool closed = false;
      while (pos < s.size()) {
        char ch = s[pos++];
        if (ch == '\\') {
          if (pos >= s.size()) return bad("backslash at end of array");
          value.push_back(s[pos++]);
        } else if (ch == '"') {
          closed = true;
          break;
        } else {
          value.push_back(ch);
        }
      }
      if (!closed) return bad("unterminated quoted array element");
    } else {
      std::size_t trailing_ws_from = 0;  // unquoted: trailing whitespace is dropped
      while (pos < s.size() && s[pos] != ',' && s[pos] != '}' && s[pos] != '{' && s[pos] != '"') {
        char ch = s[pos++];
        if (ch == '\\') {
          if (pos >= s.size()) return bad("backslash at end of array");
          value.push_back(s[pos++]);
          trailing_ws_from = value.size();
        } else {
          value.push_back(ch);
          if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') trailing_ws_from = value.size();
        }
      }
      value.resize(trailing_ws_from);
      if (value.empty()) return bad("empty unquoted array element");
    }
    const bool is_null = !quoted && value.size() == 4 && (value[0] | 0x20) == 'n' && (value[1] | 0x20) == 'u' &&
                         (value[2] | 0x20) == 'l' && (value[3] | 0x20) == 'l';
    if (is_null) out.elements.emplace_back(std::nullopt);
    else out.elements.emplace_back(std::move(value));
    ++counts[depth - 1];
    expect_item = false;
  }
  if (depth != 0) return bad("unterminated array literal");
  while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' || s[pos] == '\n' || s[pos] == '\r')) ++pos;
  if (pos != s.size()) return bad("characters after the array literal");
  if (empty_top) {
    if (!decl_lb.empty()) return bad("dimension decoration on an empty array");
    return out;
  }
  out.dims.assign(dims.begin(), dims.begin() + static_cast<std::ptrdiff_t>(leaf_depth));
  if (!decl_lb.empty()) {
    if (decl_lb.size() != out.dims.size()) return bad("decoration dimensions differ from the literal");
    for (std::size_t d = 0; d < decl_lb.size(); ++d)
      if (static_cast<std::int64_t>(decl_ub[d]) - decl_lb[d] + 1 != out.dims[d])
        return bad("decoration bounds differ from the literal");
    out.lower_bounds = decl_lb;
  } else {
    out.lower_bounds.assign(out.dims.size(), 1);
  }
  return out;
}

}  // namespace replicator::values
