// Every decoder of values/binary.hpp. The first byte picks the decoder (low nibble mod 9: int,
// bool, float, numeric, timestamp, date, uuid, jsonb, array) and the type OID it is given (high
// nibble: index into kIntTypes, kFloatTypes, kArrayTypes; timestamp: even without, odd with time
// zone); the rest is the value's bytes. Besides "no crash": what is accepted, and its value,
// against the byte layout; errors carry the right code and type; array elements lie inside the
// input and re-encode to exactly the input; each value's text form parses back with
// values/text.hpp to the same value (timestamps: within PostgreSQL's range, what a server sends).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
using replicator::fuzz::within;
using Bytes = std::span<const std::byte>;

namespace {

// PostgreSQL's timestamp range (MIN_TIMESTAMP: 4714-11-24 BC, END_TIMESTAMP: 294277-01-01 UTC).
constexpr std::int64_t kMinTimestamp = -211'813'488'000'000'000;
constexpr std::int64_t kEndTimestamp = 9'223'371'331'200'000'000;

std::uint64_t be(Bytes b, std::size_t at, std::size_t n) {
  std::uint64_t x = 0;
  for (std::size_t i = 0; i < n; ++i) x = (x << 8) | std::to_integer<std::uint64_t>(b[at + i]);
  return x;
}
void put_be32(std::vector<std::byte>& out, std::uint32_t x) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::byte>((x >> shift) & 0xFF));
}

void check_error(const v::ValueError& e, v::Oid type) {
  require(e.type_oid == type, "error names another type OID");
  require(e.code == v::ValueErrc::malformed, "unexpected error code", v::to_string(e.code));
  require(!e.detail.empty(), "error without detail");
}

void fuzz_int(Bytes b, v::Oid type) {
  const auto r = v::decode_int_binary(b, type);
  require(r.has_value() == (b.size() == 2 || b.size() == 4 || b.size() == 8), "integer width accepted wrongly");
  if (!r) return check_error(r.error(), type);
  const std::uint64_t raw = be(b, 0, b.size());
  std::int64_t expected = static_cast<std::int64_t>(raw);
  if (b.size() == 2) expected = static_cast<std::int16_t>(raw);
  if (b.size() == 4) expected = type == v::oid::oid_ ? static_cast<std::int64_t>(raw) : static_cast<std::int32_t>(raw);
  require(*r == expected, "integer value");
  const auto text = v::parse_int_text(std::to_string(*r), type);
  require(text && *text == *r, "integer text form does not parse back");
}

void fuzz_bool(Bytes b) {
  const auto r = v::decode_bool_binary(b);
  require(r.has_value() == (b.size() == 1 && std::to_integer<unsigned>(b[0]) <= 1), "bool accepted wrongly");
  if (!r) return check_error(r.error(), v::oid::bool_);
  require(*r == (b[0] == std::byte{1}), "bool value");
}

void fuzz_float(Bytes b, v::Oid type) {
  const auto r = v::decode_float_binary(b, type);
  require(r.has_value() == (b.size() == 4 || b.size() == 8), "float width accepted wrongly");
  if (!r) return check_error(r.error(), type);
  const bool narrow = b.size() == 4;
  if (std::isnan(*r)) {
    require(narrow ? std::isnan(std::bit_cast<float>(static_cast<std::uint32_t>(be(b, 0, 4))))
                   : std::isnan(std::bit_cast<double>(be(b, 0, 8))),
            "NaN from a non-NaN");
  } else if (narrow) {
    require(std::bit_cast<std::uint32_t>(static_cast<float>(*r)) == be(b, 0, 4), "float4 bits changed");
  } else {
    require(std::bit_cast<std::uint64_t>(*r) == be(b, 0, 8), "float8 bits changed");
  }
  const std::string text = v::TypedValueView::format_double(*r, narrow);
  const auto again = v::parse_float_text(text, type);
  require(again.has_value(), "float text form does not parse", text);
  require(std::isnan(*r) ? std::isnan(*again)
          : narrow       ? static_cast<float>(*again) == static_cast<float>(*r)
                         : *again == *r && std::signbit(*again) == std::signbit(*r),
          "float text form parses to another value", text);
}

void fuzz_numeric(Bytes b) {
  const auto r = v::decode_numeric_binary(b);
  if (!r) return check_error(r.error(), v::oid::numeric);
  // Oracle for what was accepted: header, length, sign, digits (not checked for special values).
  require(b.size() >= 8, "numeric shorter than its header");
  const auto ndigits = static_cast<std::int16_t>(be(b, 0, 2));
  const auto sign = static_cast<std::uint16_t>(be(b, 4, 2));
  const auto dscale = static_cast<std::int16_t>(be(b, 6, 2));
  require(ndigits >= 0 && dscale >= 0 && b.size() == 8 + 2 * static_cast<std::size_t>(ndigits), "numeric length");
  if (sign == 0xC000 || sign == 0xD000 || sign == 0xF000) {
    require(*r == (sign == 0xC000 ? "NaN" : sign == 0xD000 ? "Infinity" : "-Infinity"), "numeric special value");
  } else {
    require(sign == 0 || sign == 0x4000, "numeric sign");
    for (std::size_t i = 0; i < static_cast<std::size_t>(ndigits); ++i)
      require(be(b, 8 + 2 * i, 2) <= 9999, "numeric digit");
    require(r->starts_with('-') == (sign == 0x4000), "numeric sign lost");
    const auto point = r->find('.');
    require((point == std::string::npos ? 0 : r->size() - point - 1) == static_cast<std::size_t>(dscale),
            "numeric scale differs from dscale");
  }
  const auto text = v::parse_numeric_text(*r);
  require(text && *text == *r, "numeric text form does not parse", *r);
  // Re-encoding the text and decoding again gives the same text (nullopt: leading zero digits).
  if (const auto send = replicator::fuzz::numeric_send(*r)) {
    const auto again = v::decode_numeric_binary(*send);
    require(again && *again == *r, "numeric re-encoded differs", *r);
  }
}

void fuzz_timestamp(Bytes b, v::Oid type) {
  const auto r = v::decode_timestamp_binary(b, type);
  require(r.has_value() == (b.size() == 8), "timestamp width accepted wrongly");
  if (!r) return check_error(r.error(), type);
  require(static_cast<std::uint64_t>(r->micros_since_2000()) == be(b, 0, 8), "timestamp value");
  const std::int64_t us = r->micros_since_2000();
  if (!v::is_infinite(*r) && (us < kMinTimestamp || us >= kEndTimestamp)) return;  // the server never sends it
  const bool with_tz = type == v::oid::timestamptz;
  const std::string text = replicator::fuzz::pg_timestamp_text(*r, with_tz);
  const auto again = v::parse_timestamp_text(text, with_tz);
  require(again && *again == *r, "timestamp text form parses to another value", text);
}

void fuzz_date(Bytes b) {
  const auto r = v::decode_date_binary(b);
  require(r.has_value() == (b.size() == 4), "date width accepted wrongly");
  if (!r) return check_error(r.error(), v::oid::date);
  require(static_cast<std::uint32_t>(r->days_since_2000) == be(b, 0, 4), "date value");
  const std::string text = replicator::fuzz::pg_date_text(*r);
  const auto again = v::parse_date_text(text);
  require(again && *again == *r, "date text form parses to another value", text);
}

void fuzz_uuid(Bytes b) {
  const auto r = v::decode_uuid_binary(b);
  require(r.has_value() == (b.size() == 16), "uuid width accepted wrongly");
  if (!r) return check_error(r.error(), v::oid::uuid);
  std::string expected = replicator::fuzz::hex_lower(b);
  for (std::size_t at : {8, 13, 18, 23}) expected.insert(at, 1, '-');
  require(*r == expected, "uuid text");
  const auto text = v::parse_uuid_text(*r);
  require(text && *text == *r, "uuid text form does not parse back");
}

void fuzz_jsonb(Bytes b) {
  const auto r = v::decode_jsonb_binary(b);
  require(r.has_value() == (!b.empty() && b[0] == std::byte{1}), "jsonb version accepted wrongly");
  if (!r) return check_error(r.error(), v::oid::jsonb);
  require(r->size() == b.size() - 1 && (r->empty() || r->data() == reinterpret_cast<const char*>(b.data()) + 1),
          "jsonb text is not a view of the bytes after the version");
}

void fuzz_array(Bytes b, v::Oid type) {
  const auto r = v::decode_array_binary(b, type);
  const v::TypedValueView typed(replicator::ColumnValueView{replicator::ColumnKind::binary, b}, type);
  const auto typed_array = typed.as_array();
  if (!r) {
    require(!typed_array, "as_array accepts what decode_array_binary rejects");
    return check_error(r.error(), type);
  }
  require(r->dims.size() <= 6 && r->lower_bounds.size() == r->dims.size(), "array header shape");
  std::uint64_t count = r->dims.empty() ? 0 : 1;
  for (auto n : r->dims) {
    require(n > 0, "dimension below 1");
    count *= static_cast<std::uint64_t>(n);
    if (count > r->elements.size()) break;  // (no overflow: the element count bounds it)
  }
  require(count == r->elements.size(), "element count differs from the product of the dimensions");
  // Re-encode from what was decoded: array_send's layout gives back exactly the input.
  const auto flags = static_cast<std::uint32_t>(be(b, 4, 4));
  std::vector<std::byte> encoded;
  put_be32(encoded, static_cast<std::uint32_t>(r->dims.size()));
  put_be32(encoded, flags);
  put_be32(encoded, r->element_type);
  for (std::size_t d = 0; d < r->dims.size(); ++d) {
    put_be32(encoded, static_cast<std::uint32_t>(r->dims[d]));
    put_be32(encoded, static_cast<std::uint32_t>(r->lower_bounds[d]));
  }
  for (const auto& e : r->elements) {
    if (!e) {
      require(flags == 1, "NULL element without the null flag");
      put_be32(encoded, 0xFFFFFFFFu);
      continue;
    }
    require(within(b, e->data(), e->size()), "array element outside the input");
    put_be32(encoded, static_cast<std::uint32_t>(e->size()));
    encoded.insert(encoded.end(), e->begin(), e->end());
  }
  require(encoded.size() == b.size() && std::equal(encoded.begin(), encoded.end(), b.begin()),
          "array re-encoded differs from the input");
  if (!typed_array) return;  // wrong element type, or an element its decoder rejects
  require(typed_array->dims == r->dims && typed_array->lower_bounds == r->lower_bounds &&
              typed_array->elements.size() == r->elements.size(),
          "as_array's shape differs from decode_array_binary's");
  // The text form of the array parses back to the same elements (text and binary agree).
  const std::string text = typed_array->to_string();
  const auto parsed = v::parse_array_text(text, type);
  require(parsed && parsed->dims == r->dims && parsed->lower_bounds == r->lower_bounds &&
              parsed->elements == typed_array->elements,
          "array text form parses to another array", text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned decoder = (data[0] & 0x0F) % 9;
  const unsigned variant = data[0] >> 4;
  const Bytes b(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  switch (decoder) {
    case 0: fuzz_int(b, kIntTypes[variant % 4]); break;
    case 1: fuzz_bool(b); break;
    case 2: fuzz_float(b, kFloatTypes[variant % 2]); break;
    case 3: fuzz_numeric(b); break;
    case 4: fuzz_timestamp(b, variant % 2 == 0 ? v::oid::timestamp : v::oid::timestamptz); break;
    case 5: fuzz_date(b); break;
    case 6: fuzz_uuid(b); break;
    case 7: fuzz_jsonb(b); break;
    case 8: fuzz_array(b, kArrayTypes[variant]); break;
  }
  return 0;
}
