// Vocabulary of typed column values: well-known type OIDs, the error an accessor returns, and the
// owned results that are not plain C++ types (PgDate, ArrayValue).
//   if (type_oid == values::oid::int8) ...;  values::PgDate d{0};  d.to_string() == "2000-01-01"
//   ValueResult<std::int64_t> r = typed.as_int64();  if (!r) log(r.error().describe());
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "replicator/core/error.hpp"
#include "replicator/core/timestamp.hpp"

namespace replicator::values {

using Oid = std::uint32_t;

// Built-in type OIDs (pg_type.dat); stable across PostgreSQL versions.
namespace oid {
inline constexpr Oid bool_ = 16, bytea = 17, name = 19, int8 = 20, int2 = 21, int4 = 23, text = 25, oid_ = 26,
                     json = 114, xml = 142, float4 = 700, float8 = 701, bpchar = 1042, varchar = 1043, date = 1082,
                     time = 1083, timestamp = 1114, timestamptz = 1184, numeric = 1700, uuid = 2950, jsonb = 3802;
// Arrays of the above.
inline constexpr Oid bool_array = 1000, bytea_array = 1001, name_array = 1003, int2_array = 1005, int4_array = 1007,
                     text_array = 1009, bpchar_array = 1014, varchar_array = 1015, int8_array = 1016,
                     float4_array = 1021, float8_array = 1022, oid_array = 1028, date_array = 1182,
                     timestamp_array = 1115, timestamptz_array = 1185, numeric_array = 1231, uuid_array = 2951,
                     json_array = 199, jsonb_array = 3807;
}  // namespace oid

// The element type of a built-in array type, or 0 when `array_type` is not one we know.
constexpr Oid element_type_of(Oid array_type) noexcept {
  switch (array_type) {
    case oid::bool_array: return oid::bool_;
    case oid::bytea_array: return oid::bytea;
    case oid::name_array: return oid::name;
    case oid::int2_array: return oid::int2;
    case oid::int4_array: return oid::int4;
    case oid::int8_array: return oid::int8;
    case oid::text_array: return oid::text;
    case oid::bpchar_array: return oid::bpchar;
    case oid::varchar_array: return oid::varchar;
    case oid::float4_array: return oid::float4;
    case oid::float8_array: return oid::float8;
    case oid::oid_array: return oid::oid_;
    case oid::date_array: return oid::date;
    case oid::timestamp_array: return oid::timestamp;
    case oid::timestamptz_array: return oid::timestamptz;
    case oid::numeric_array: return oid::numeric;
    case oid::uuid_array: return oid::uuid;
    case oid::json_array: return oid::json;
    case oid::jsonb_array: return oid::jsonb;
  }
  return 0;
}

// Types whose text and binary forms are both the raw characters (textsend / varcharsend ...).
constexpr bool is_textual(Oid type) noexcept {
  return type == oid::text || type == oid::varchar || type == oid::bpchar || type == oid::name || type == oid::json ||
         type == oid::xml;
}

enum class ValueErrc : std::uint8_t {
  null_value,        // the column is NULL (use value<std::optional<T>>() to accept it)
  unchanged_toast,   // the server did not send the value (unchanged TOAST): see filter/toast.hpp
  missing_column,    // no column of that name, or no such tuple (e.g. old values without an old tuple)
  wrong_type,        // the accessor does not apply to the column's type
  malformed,         // the bytes are not a valid text / binary form of the type
  out_of_range,      // valid, but does not fit the requested C++ type
  unsupported_type,  // a binary value of a type this library cannot decode
};

constexpr std::string_view to_string(ValueErrc c) noexcept {
  switch (c) {
    case ValueErrc::null_value: return "value is NULL";
    case ValueErrc::unchanged_toast: return "value is an unchanged TOAST value the server did not send";
    case ValueErrc::missing_column: return "no such column or tuple";
    case ValueErrc::wrong_type: return "accessor does not apply to this type";
    case ValueErrc::malformed: return "malformed value";
    case ValueErrc::out_of_range: return "value out of range";
    case ValueErrc::unsupported_type: return "binary value of an unsupported type";
  }
  return "value error";
}

// `detail` always points at a string literal (copying never allocates).
struct ValueError {
  ValueErrc code{};
  Oid type_oid = 0;
  std::string_view detail{};
  [[nodiscard]] std::string describe() const {
    std::string s(to_string(code));
    if (!detail.empty()) s.append(" (").append(detail).append(")");
    s.append(" [type OID ").append(std::to_string(type_oid)).append("]");
    return s;
  }
  friend bool operator==(const ValueError&, const ValueError&) = default;
};

template <class T>
using ValueResult = Result<T, ValueError>;

// timestamp / timestamptz 'infinity' and '-infinity' (PostgreSQL's DT_NOEND / DT_NOBEGIN).
inline constexpr PgTimestamp kTimestampInfinity{std::numeric_limits<std::int64_t>::max()};
inline constexpr PgTimestamp kTimestampMinusInfinity{std::numeric_limits<std::int64_t>::min()};
constexpr bool is_infinite(PgTimestamp t) noexcept { return t == kTimestampInfinity || t == kTimestampMinusInfinity; }

// Days since 2000-01-01 (date's wire form); INT32_MAX / INT32_MIN are 'infinity' / '-infinity'.
struct PgDate {
  std::int32_t days_since_2000 = 0;

  static constexpr PgDate infinity() noexcept { return {std::numeric_limits<std::int32_t>::max()}; }
  static constexpr PgDate minus_infinity() noexcept { return {std::numeric_limits<std::int32_t>::min()}; }
  [[nodiscard]] constexpr bool is_infinite() const noexcept {
    return days_since_2000 == infinity().days_since_2000 || days_since_2000 == minus_infinity().days_since_2000;
  }
  // "2026-11-25"; astronomical years ("-0043-03-15" is 44 BC); "infinity" / "-infinity".
  [[nodiscard]] std::string to_string() const;
  friend constexpr auto operator<=>(PgDate, PgDate) noexcept = default;
};

// An array value with its elements in the normalised text form of the element type
// (TypedValueView::as_text() of each element); std::nullopt for NULL elements. Row-major order.
struct ArrayValue {
  Oid element_type = 0;
  std::vector<std::int32_t> dims;          // empty for an empty array
  std::vector<std::int32_t> lower_bounds;  // one per dimension (1 unless the array says otherwise)
  std::vector<std::optional<std::string>> elements;

  // PostgreSQL's array literal of the elements: {1,2,NULL}, {{a,"b c"},{d,e}}, [0:1]={x,y}.
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const ArrayValue&, const ArrayValue&) = default;
};

namespace detail {

// Proleptic Gregorian calendar <-> days since 1970-01-01 (Howard Hinnant's algorithms).
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}
struct Civil {
  std::int64_t y;
  unsigned m, d;
};
constexpr Civil civil_from_days(std::int64_t z) noexcept {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}
inline constexpr std::int64_t kDays1970To2000 = 10957;
inline constexpr std::int64_t kMicrosPerDay = 86'400'000'000;

inline void put_digits(std::string& out, std::int64_t v, int width) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  for (int i = n; i < width; ++i) out.push_back('0');
  while (n > 0) out.push_back(buf[--n]);
}
inline void put_date(std::string& out, std::int64_t days_since_2000) {
  const Civil c = civil_from_days(days_since_2000 + kDays1970To2000);
  std::int64_t y = c.y;
  if (y < 0) {
    out.push_back('-');
    y = -y;
  }
  put_digits(out, y, 4);
  out.push_back('-');
  put_digits(out, c.m, 2);
  out.push_back('-');
  put_digits(out, c.d, 2);
}

}  // namespace detail

inline std::string PgDate::to_string() const {
  if (days_since_2000 == infinity().days_since_2000) return "infinity";
  if (days_since_2000 == minus_infinity().days_since_2000) return "-infinity";
  std::string s;
  detail::put_date(s, days_since_2000);
  return s;
}

// "2026-11-25T16:30:51.123456" plus "Z" when `utc` (timestamptz); "infinity" / "-infinity".
// Works on microseconds since 2000 directly, so the whole PostgreSQL range formats without overflow.
inline std::string format_timestamp(PgTimestamp t, bool utc) {
  if (t == kTimestampInfinity) return "infinity";
  if (t == kTimestampMinusInfinity) return "-infinity";
  const std::int64_t us = t.micros_since_2000();
  std::int64_t days = us / detail::kMicrosPerDay;
  std::int64_t rest = us % detail::kMicrosPerDay;
  if (rest < 0) {
    rest += detail::kMicrosPerDay;
    --days;
  }
  std::string s;
  detail::put_date(s, days);
  s.push_back('T');
  const std::int64_t secs = rest / 1'000'000;
  detail::put_digits(s, secs / 3600, 2);
  s.push_back(':');
  detail::put_digits(s, secs / 60 % 60, 2);
  s.push_back(':');
  detail::put_digits(s, secs % 60, 2);
  s.push_back('.');
  detail::put_digits(s, rest % 1'000'000, 6);
  if (utc) s.push_back('Z');
  return s;
}

namespace detail {
// Does an array element need double quotes in an array literal (array_out's rule)?
inline bool array_element_needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  if (s.size() == 4 && (s[0] == 'N' || s[0] == 'n') && (s[1] == 'U' || s[1] == 'u') && (s[2] == 'L' || s[2] == 'l') &&
      (s[3] == 'L' || s[3] == 'l'))
    return true;
  for (char c : s) {
    if (c == '"' || c == '\\' || c == '{' || c == '}' || c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
        c == '\v' || c == '\f')
      return true;
  }
  return false;
}
}  // namespace detail

inline std::string ArrayValue::to_string() const {
  std::string out;
  bool decorate = false;
  for (auto lb : lower_bounds) decorate = decorate || lb != 1;
  if (decorate) {
    for (std::size_t d = 0; d < dims.size(); ++d) {
      out.push_back('[');
      out += std::to_string(lower_bounds[d]);
      out.push_back(':');
      out += std::to_string(static_cast<std::int64_t>(lower_bounds[d]) + dims[d] - 1);
      out.push_back(']');
    }
    out.push_back('=');
  }
  for (auto n : dims)
    if (n <= 0) return out + "{}";
  if (dims.empty()) return out + "{}";
  // Walk the elements in row-major order, opening and closing braces at dimension boundaries.
  std::vector<std::int32_t> idx(dims.size(), 0);
  std::size_t e = 0;
  for (std::size_t d = 0; d < dims.size(); ++d) out.push_back('{');
  while (true) {
    if (e < elements.size()) {
      const auto& v = elements[e];
      if (!v) {
        out.append("NULL");
      } else if (detail::array_element_needs_quotes(*v)) {
        out.push_back('"');
        for (char c : *v) {
          if (c == '"' || c == '\\') out.push_back('\\');
          out.push_back(c);
        }
        out.push_back('"');
      } else {
        out.append(*v);
      }
    }
    ++e;
    std::size_t d = dims.size();
    while (d > 0) {
      --d;
      if (++idx[d] < dims[d]) break;
      idx[d] = 0;
      out.push_back('}');
      if (d == 0) return out;
    }
    out.push_back(',');
    for (std::size_t k = d + 1; k < dims.size(); ++k) out.push_back('{');
  }
}

}  // namespace replicator::values
