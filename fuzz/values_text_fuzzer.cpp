// Every parser of values/text.hpp. The first byte picks the parser (low nibble mod 10: bool, int,
// float, numeric, timestamp, timestamptz, date, uuid, bytea, array) and the type OID it is given
// (high nibble: index into kIntTypes, kFloatTypes, kArrayTypes); the rest is the text. Besides
// "no crash": oracles for bool, int, numeric and uuid syntax; errors carry the right code and type;
// round trips through the library's formatters (format_double, format_timestamp, PgDate::to_string,
// ArrayValue::to_string); a finite timestamp or date is never +-infinity; numeric and uuid agree
// with the binary decoders.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_input.hpp"
#include "replicator/values/binary.hpp"
#include "replicator/values/text.hpp"
#include "replicator/values/value.hpp"
#include "value_forms.hpp"

namespace v = replicator::values;
using replicator::fuzz::kArrayTypes;
using replicator::fuzz::kFloatTypes;
using replicator::fuzz::kIntTypes;
using replicator::fuzz::require;

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return v::detail::hex_value(c) >= 0; }

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

void check_error(const v::ValueError& e, v::Oid type, bool may_be_out_of_range) {
  require(e.type_oid == type, "error names another type OID");
  require(e.code == v::ValueErrc::malformed || (may_be_out_of_range && e.code == v::ValueErrc::out_of_range),
          "unexpected error code", v::to_string(e.code));
  require(!e.detail.empty(), "error without detail");
}

void fuzz_bool(std::string_view s) {
  const auto r = v::parse_bool_text(s);
  const bool is_true = s == "t" || s == "true";
  require(r.has_value() == (is_true || s == "f" || s == "false"), "bool accepted or rejected wrongly");
  if (!r) return check_error(r.error(), v::oid::bool_, false);
  require(*r == is_true, "bool value");
  const auto again = v::parse_bool_text(*r ? "t" : "f");
  require(again && *again == *r, "bool round trip");
}

// Oracle: optional '-', then one or more digits; out_of_range when that does not fit int64.
void fuzz_int(std::string_view s, v::Oid type) {
  const bool negative = !s.empty() && s[0] == '-';
  const std::string_view digits = s.substr(negative ? 1 : 0);
  bool syntax = !digits.empty();
  bool overflow = false;
  std::uint64_t magnitude = 0;
  for (char c : digits) {
    if (!is_digit(c)) {
      syntax = false;
      break;
    }
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (magnitude > (std::numeric_limits<std::uint64_t>::max() - d) / 10) overflow = true;
    else magnitude = magnitude * 10 + d;
  }
  constexpr std::uint64_t kMaxMagnitude = std::uint64_t{1} << 63;  // of a negative int64
  const bool fits = !overflow && (negative ? magnitude <= kMaxMagnitude : magnitude < kMaxMagnitude);
  const auto r = v::parse_int_text(s, type);
  if (!syntax) {
    require(!r && r.error().code == v::ValueErrc::malformed, "integer syntax accepted or wrong code");
  } else if (!fits) {
    require(!r && r.error().code == v::ValueErrc::out_of_range, "integer range accepted or wrong code");
  } else {
    const std::int64_t expected =
        negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
    require(r && *r == expected, "integer value");
  }
  if (!r) return check_error(r.error(), type, true);
  const auto again = v::parse_int_text(std::to_string(*r), type);
  require(again && *again == *r, "integer round trip");
}

void fuzz_float(std::string_view s, v::Oid type) {
  const auto r = v::parse_float_text(s, type);
  if (!r) return check_error(r.error(), type, false);
  const bool float4 = type == v::oid::float4;
  const std::string text = v::TypedValueView::format_double(*r, float4);
  const auto again = v::parse_float_text(text, type);
  require(again.has_value(), "format_double's text does not parse", text);
  if (std::isnan(*r)) {
    require(std::isnan(*again), "NaN round trip", text);
  } else if (float4 && std::fabs(*r) <= std::numeric_limits<float>::max()) {
    require(static_cast<float>(*again) == static_cast<float>(*r), "float4 round trip", text);
  } else {
    require(*again == *r && std::signbit(*again) == std::signbit(*r), "float8 round trip", text);
  }
}

// Oracle: NaN, Infinity, -Infinity or -?digits[.digits]; returned unchanged.
void fuzz_numeric(std::string_view s) {
  const auto r = v::parse_numeric_text(s);
  bool valid = s == "NaN" || s == "Infinity" || s == "-Infinity";
  if (!valid) {
    std::string_view rest = s.substr(!s.empty() && s[0] == '-' ? 1 : 0);
    const auto point = rest.find('.');
    auto all_digits = [](std::string_view d) {
      for (char c : d)
        if (!is_digit(c)) return false;
      return !d.empty();
    };
    valid =
        all_digits(rest.substr(0, point)) && (point == std::string_view::npos || all_digits(rest.substr(point + 1)));
  }
  require(r.has_value() == valid, "numeric accepted or rejected wrongly");
  if (!r) return check_error(r.error(), v::oid::numeric, false);
  require(*r == s, "numeric text changed");
  if (const auto send = replicator::fuzz::numeric_send(s)) {
    const auto decoded = v::decode_numeric_binary(*send);
    require(decoded && *decoded == s, "numeric text and binary forms disagree", decoded ? *decoded : "(error)");
  }
}

void fuzz_timestamp(std::string_view s, bool with_tz) {
  const v::Oid type = with_tz ? v::oid::timestamptz : v::oid::timestamp;
  const auto r = v::parse_timestamp_text(s, with_tz);
  if (!r) return check_error(r.error(), type, true);
  require(v::is_infinite(*r) == (s == "infinity" || s == "-infinity"), "a finite timestamp parsed as +-infinity");
  const std::string text = replicator::fuzz::pg_timestamp_text(*r, with_tz);
  const auto again = v::parse_timestamp_text(text, with_tz);
  require(again && *again == *r, "timestamp round trip", text);
}

void fuzz_date(std::string_view s) {
  const auto r = v::parse_date_text(s);
  if (!r) return check_error(r.error(), v::oid::date, true);
  require(r->is_infinite() == (s == "infinity" || s == "-infinity"), "a finite date parsed as +-infinity");
  const std::string text = replicator::fuzz::pg_date_text(*r);
  const auto again = v::parse_date_text(text);
  require(again && *again == *r, "date round trip", text);
}

// Oracle: 8-4-4-4-12 hex digits; lower-cased; agrees with decode_uuid_binary of the same 16 bytes.
void fuzz_uuid(std::string_view s) {
  bool valid = s.size() == 36;
  std::string lower;
  std::vector<std::byte> bytes;
  for (std::size_t i = 0; valid && i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    valid = dash ? s[i] == '-' : is_hex(s[i]);
    lower.push_back(s[i] >= 'A' && s[i] <= 'F' ? static_cast<char>(s[i] - 'A' + 'a') : s[i]);
  }
  const auto r = v::parse_uuid_text(s);
  require(r.has_value() == valid, "uuid accepted or rejected wrongly");
  if (!r) return check_error(r.error(), v::oid::uuid, false);
  require(*r == lower, "uuid not lower-cased as is");
  for (std::size_t i = 0; i < lower.size(); ++i) {
    if (lower[i] == '-') continue;
    bytes.push_back(static_cast<std::byte>(v::detail::hex_value(lower[i]) * 16 + v::detail::hex_value(lower[i + 1])));
    ++i;
  }
  const auto binary = v::decode_uuid_binary(bytes);
  require(binary && *binary == *r, "uuid text and binary forms disagree");
}

void fuzz_bytea(std::string_view s) {
  const auto r = v::parse_bytea_text(s);
  if (s.starts_with("\\x")) {
    bool valid = s.size() % 2 == 0;
    for (std::size_t i = 2; valid && i < s.size(); ++i) valid = is_hex(s[i]);
    require(r.has_value() == valid, "hex bytea accepted or rejected wrongly");
  }
  if (!r) return check_error(r.error(), v::oid::bytea, false);
  // Hex form, by TypedValueView::as_text (the library's bytea formatter).
  const v::TypedValueView typed(replicator::ColumnValueView{replicator::ColumnKind::text, bytes_of(s)}, v::oid::bytea);
  const auto hex = typed.as_text();
  require(hex && *hex == "\\x" + replicator::fuzz::hex_lower(*r), "bytea as_text is not its hex form");
  const auto from_hex = v::parse_bytea_text(*hex);
  require(from_hex && *from_hex == *r, "bytea hex round trip");
  // Escape form as byteaout prints it with bytea_output = escape.
  std::string escaped;
  for (std::byte b : *r) {
    const auto c = std::to_integer<unsigned>(b);
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c >= 0x20 && c < 0x7F) {
      escaped.push_back(static_cast<char>(c));
    } else {
      escaped += {'\\', static_cast<char>('0' + (c >> 6)), static_cast<char>('0' + ((c >> 3) & 7)),
                  static_cast<char>('0' + (c & 7))};
    }
  }
  const auto from_escape = v::parse_bytea_text(escaped);
  require(from_escape && *from_escape == *r, "bytea escape round trip", escaped);
}

void fuzz_array(std::string_view s, v::Oid type) {
  const auto r = v::parse_array_text(s, type);
  const v::TypedValueView typed(replicator::ColumnValueView{replicator::ColumnKind::text, bytes_of(s)}, type);
  const auto typed_array = typed.as_array();
  if (!r) {
    require(!typed_array, "as_array accepts what parse_array_text rejects");
    return check_error(r.error(), type, false);
  }
  require(r->dims.size() <= 6, "more than 6 dimensions");
  require(r->lower_bounds.size() == r->dims.size(), "one lower bound per dimension");
  std::uint64_t count = r->dims.empty() ? 0 : 1;
  for (auto n : r->dims) {
    require(n > 0, "dimension below 1");
    count *= static_cast<std::uint64_t>(n);
    if (count > r->elements.size()) break;  // (no overflow: the element count bounds it)
  }
  require(count == r->elements.size(), "element count differs from the product of the dimensions");
  const v::ArrayValue value{0, r->dims, r->lower_bounds, r->elements};
  const std::string text = value.to_string();
  const auto again = v::parse_array_text(text, type);
  require(again && again->dims == r->dims && again->lower_bounds == r->lower_bounds && again->elements == r->elements,
          "array round trip", text);
  if (!typed_array) return;  // an element is not valid text of the element type
  require(typed_array->dims == r->dims && typed_array->lower_bounds == r->lower_bounds &&
              typed_array->elements.size() == r->elements.size(),
          "as_array's shape differs from parse_array_text's");
  for (std::size_t i = 0; i < r->elements.size(); ++i)
    require(typed_array->elements[i].has_value() == r->elements[i].has_value(), "as_array moved a NULL");
  const std::string typed_text = typed_array->to_string();
  const auto typed_again = v::parse_array_text(typed_text, type);
  require(typed_again && typed_again->elements == typed_array->elements && typed_again->dims == r->dims,
          "normalised array round trip", typed_text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned parser = (data[0] & 0x0F) % 10;
  const unsigned variant = data[0] >> 4;
  const std::string_view s(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (parser) {
    case 0: fuzz_bool(s); break;
    case 1: fuzz_int(s, kIntTypes[variant % 4]); break;
    case 2: fuzz_float(s, kFloatTypes[variant % 2]); break;
    case 3: fuzz_numeric(s); break;
    case 4: fuzz_timestamp(s, false); break;
    case 5: fuzz_timestamp(s, true); break;
    case 6: fuzz_date(s); break;
    case 7: fuzz_uuid(s); break;
    case 8: fuzz_bytea(s); break;
    case 9: fuzz_array(s, kArrayTypes[variant]); break;
  }
  return 0;
}
