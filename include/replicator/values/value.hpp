// TypedValueView: one column value with its type, decoded on request from either wire form (text
// with binary=false, send/recv with binary=true) into the same C++ value and the same normalised text.
//   TypedValueView v = *row.typed_new("amount");        // or row.value<std::int64_t>("id")
//   v.as_numeric_string();  // "12.50" in both modes     v.as_timestamp();  // PgTimestamp (UTC)
// A view: it points into the tuple's bytes, like ColumnValueView. Accessors return ValueResult<T>
// (NULL, unchanged TOAST, a wrong type or malformed bytes are typed errors, never UB).
#pragma once

#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "replicator/core/timestamp.hpp"
#include "replicator/values/binary.hpp"
#include "replicator/values/column_value.hpp"
#include "replicator/values/text.hpp"
#include "replicator/values/types.hpp"

namespace replicator::values {

class TypedValueView {
 public:
  constexpr TypedValueView() noexcept = default;
  constexpr TypedValueView(ColumnValueView value, Oid type_oid) noexcept : value_(value), type_(type_oid) {}

  [[nodiscard]] constexpr Oid type_oid() const noexcept { return type_; }
  [[nodiscard]] constexpr ColumnValueView raw() const noexcept { return value_; }
  [[nodiscard]] constexpr bool is_null() const noexcept { return value_.kind == ColumnKind::null; }
  [[nodiscard]] constexpr bool is_unchanged_toast() const noexcept {
    return value_.kind == ColumnKind::unchanged_toast;
  }
  [[nodiscard]] constexpr bool is_binary() const noexcept { return value_.kind == ColumnKind::binary; }

  // bool.
  [[nodiscard]] ValueResult<bool> as_bool() const {
    if (auto e = check({oid::bool_})) return *e;
    return is_binary() ? decode_bool_binary(value_.bytes) : parse_bool_text(value_.text());
  }
  // int2 / int4 / int8 / oid.
  [[nodiscard]] ValueResult<std::int64_t> as_int64() const {
    if (auto e = check({oid::int2, oid::int4, oid::int8, oid::oid_})) return *e;
    if (!is_binary()) return parse_int_text(value_.text(), type_);
    const std::size_t want = type_ == oid::int2 ? 2 : type_ == oid::int8 ? 8 : 4;
    if (value_.bytes.size() != want)
      return ValueError{ValueErrc::malformed, type_, "integer width differs from its type"};
    return decode_int_binary(value_.bytes, type_);
  }
  // float4 / float8 (NaN and ±Infinity included), and any integer or numeric converted to double.
  [[nodiscard]] ValueResult<double> as_double() const {
    if (type_ == oid::float4 || type_ == oid::float8) {
      if (auto e = check({type_})) return *e;
      return is_binary() ? decode_float_binary(value_.bytes, type_) : parse_float_text(value_.text(), type_);
    }
    if (type_ == oid::numeric) {
      auto s = as_numeric_string();
      if (!s) return s.error();
      return parse_float_text(*s, oid::numeric);
    }
    auto i = as_int64();
    if (!i) return i.error();
    return static_cast<double>(*i);
  }
  // numeric (and integers) as numeric_out's exact text: "-12.3400", "NaN", "Infinity", "-Infinity".
  [[nodiscard]] ValueResult<std::string> as_numeric_string() const {
    if (type_ == oid::int2 || type_ == oid::int4 || type_ == oid::int8) {
      auto i = as_int64();
      if (!i) return i.error();
      return std::to_string(*i);
    }
    if (auto e = check({oid::numeric})) return *e;
    return is_binary() ? decode_numeric_binary(value_.bytes) : parse_numeric_text(value_.text());
  }
  // timestamp / timestamptz as µs since 2000 (timestamptz in UTC; timestamp as written, no zone).
  // 'infinity' / '-infinity' are kTimestampInfinity / kTimestampMinusInfinity.
  [[nodiscard]] ValueResult<PgTimestamp> as_timestamp() const {
    if (auto e = check({oid::timestamp, oid::timestamptz})) return *e;
    return is_binary() ? decode_timestamp_binary(value_.bytes, type_)
                       : parse_timestamp_text(value_.text(), type_ == oid::timestamptz);
  }
  [[nodiscard]] ValueResult<PgDate> as_date() const {
    if (auto e = check({oid::date})) return *e;
    return is_binary() ? decode_date_binary(value_.bytes) : parse_date_text(value_.text());
  }
  // Lower-case "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".
  [[nodiscard]] ValueResult<std::string> as_uuid() const {
    if (auto e = check({oid::uuid})) return *e;
    return is_binary() ? decode_uuid_binary(value_.bytes) : parse_uuid_text(value_.text());
  }
  // bytea's bytes.
  [[nodiscard]] ValueResult<std::vector<std::byte>> as_bytes() const {
    if (auto e = check({oid::bytea})) return *e;
    if (is_binary()) return std::vector<std::byte>(value_.bytes.begin(), value_.bytes.end());
    return parse_bytea_text(value_.text());
  }
  // json / jsonb text as the server prints it (jsonb: normalised by the server in both modes).
  [[nodiscard]] ValueResult<std::string> as_json() const {
    if (auto e = check({oid::json, oid::jsonb})) return *e;
    if (type_ == oid::jsonb && is_binary()) {
      auto t = decode_jsonb_binary(value_.bytes);
      if (!t) return t.error();
      return std::string(*t);
    }
    return std::string(value_.text());
  }
  // A built-in array type; elements in their normalised text (as_text of each element).
  [[nodiscard]] ValueResult<ArrayValue> as_array() const {
    const Oid elem = element_type_of(type_);
    if (elem == 0) return ValueError{ValueErrc::wrong_type, type_, "not a known array type"};
    if (auto e = check({type_})) return *e;
    ArrayValue out;
    out.element_type = elem;
    if (is_binary()) {
      auto raw = decode_array_binary(value_.bytes, type_);
      if (!raw) return raw.error();
      if (raw->element_type != elem)
        return ValueError{ValueErrc::malformed, type_, "array element type differs from its column type"};
      out.dims = std::move(raw->dims);
      out.lower_bounds = std::move(raw->lower_bounds);
      out.elements.reserve(raw->elements.size());
      for (const auto& e : raw->elements) {
        if (!e) {
          out.elements.emplace_back(std::nullopt);
          continue;
        }
        auto t = TypedValueView(ColumnValueView{ColumnKind::binary, *e}, elem).as_text();
        if (!t) return t.error();
        out.elements.emplace_back(std::move(*t));
      }
      return out;
    }
    auto raw = parse_array_text(value_.text(), type_);
    if (!raw) return raw.error();
    out.dims = std::move(raw->dims);
    out.lower_bounds = std::move(raw->lower_bounds);
    out.elements.reserve(raw->elements.size());
    for (auto& e : raw->elements) {
      if (!e) {
        out.elements.emplace_back(std::nullopt);
        continue;
      }
      const std::string_view sv = *e;
      auto t = TypedValueView(ColumnValueView{ColumnKind::text, std::as_bytes(std::span(sv.data(), sv.size()))}, elem)
                   .as_text();
      if (!t) return t.error();
      out.elements.emplace_back(std::move(*t));
    }
    return out;
  }

  // The value as text that is the same whichever wire form it came in:
  //   integers, numeric, bool (t/f), text types, json/jsonb, uuid: PostgreSQL's own text output;
  //   float4/8: shortest round-trip digits ("1.5", "1e+100", "NaN", "Infinity");
  //   timestamp "2026-11-25T16:30:51.000000", timestamptz the same in UTC with "Z", date "2026-11-25";
  //   bytea "\x0102"; arrays PostgreSQL's array literal of normalised elements.
  // Text-mode values of other types are returned as sent; binary ones give unsupported_type.
  [[nodiscard]] ValueResult<std::string> as_text() const {
    if (auto e = check_present()) return *e;
    switch (type_) {
      case oid::bool_: {
        auto v = as_bool();
        if (!v) return v.error();
        return std::string(*v ? "t" : "f");
      }
      case oid::int2:
      case oid::int4:
      case oid::int8:
      case oid::oid_: {
        auto v = as_int64();
        if (!v) return v.error();
        return std::to_string(*v);
      }
      case oid::float4:
      case oid::float8: {
        auto v = as_double();
        if (!v) return v.error();
        return format_double(*v, type_ == oid::float4);
      }
      case oid::numeric: return as_numeric_string();
      case oid::timestamp:
      case oid::timestamptz: {
        auto v = as_timestamp();
        if (!v) return v.error();
        return format_timestamp(*v, type_ == oid::timestamptz);
      }
      case oid::date: {
        auto v = as_date();
        if (!v) return v.error();
        return v->to_string();
      }
      case oid::uuid: return as_uuid();
      case oid::json:
      case oid::jsonb: return as_json();
      case oid::bytea: {
        auto v = as_bytes();
        if (!v) return v.error();
        static constexpr char hex[] = "0123456789abcdef";
        std::string s = "\\x";
        for (std::byte b : *v) {
          s.push_back(hex[static_cast<unsigned>(b) >> 4]);
          s.push_back(hex[static_cast<unsigned>(b) & 0xF]);
        }
        return s;
      }
      default: break;
    }
    if (element_type_of(type_) != 0) {
      auto a = as_array();
      if (!a) return a.error();
      return a->to_string();
    }
    if (!is_binary() || is_textual(type_)) return std::string(value_.text());
    return ValueError{ValueErrc::unsupported_type, type_, "no binary decoder for this type; stream with binary=false"};
  }

  // Typed access by C++ type: bool, std::int16_t, std::int32_t, std::int64_t, float, double,
  // std::string (as_text), PgTimestamp, PgDate, std::vector<std::byte> (bytea), ArrayValue;
  // std::optional<T> of any of those turns NULL into std::nullopt instead of an error.
  template <class T>
  [[nodiscard]] ValueResult<T> value() const {
    if constexpr (is_optional<T>::value) {
      if (is_null()) return T{std::nullopt};
      auto v = value<typename T::value_type>();
      if (!v) return v.error();
      return T{std::move(*v)};
    } else if constexpr (std::is_same_v<T, bool>) {
      return as_bool();
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
      return as_int64();
    } else if constexpr (std::is_same_v<T, std::int16_t> || std::is_same_v<T, std::int32_t>) {
      auto v = as_int64();
      if (!v) return v.error();
      if (*v < std::numeric_limits<T>::min() || *v > std::numeric_limits<T>::max())
        return ValueError{ValueErrc::out_of_range, type_, "integer does not fit the requested type"};
      return static_cast<T>(*v);
    } else if constexpr (std::is_same_v<T, double>) {
      return as_double();
    } else if constexpr (std::is_same_v<T, float>) {
      auto v = as_double();
      if (!v) return v.error();
      if (*v == *v && (*v > std::numeric_limits<float>::max() || *v < -std::numeric_limits<float>::max()) &&
          *v != std::numeric_limits<double>::infinity() && *v != -std::numeric_limits<double>::infinity())
        return ValueError{ValueErrc::out_of_range, type_, "does not fit a float"};
      return static_cast<float>(*v);
    } else if constexpr (std::is_same_v<T, std::string>) {
      return as_text();
    } else if constexpr (std::is_same_v<T, PgTimestamp>) {
      return as_timestamp();
    } else if constexpr (std::is_same_v<T, PgDate>) {
      return as_date();
    } else if constexpr (std::is_same_v<T, std::vector<std::byte>>) {
      return as_bytes();
    } else if constexpr (std::is_same_v<T, ArrayValue>) {
      return as_array();
    } else {
      static_assert(sizeof(T) == 0, "TypedValueView::value<T>: unsupported T (see the list above)");
    }
  }

  // Shortest text that reads back to the same value (std::to_chars), with PostgreSQL's spellings
  // of the special values.
  static std::string format_double(double v, bool as_float4 = false) {
    if (v != v) return "NaN";
    if (v == std::numeric_limits<double>::infinity()) return "Infinity";
    if (v == -std::numeric_limits<double>::infinity()) return "-Infinity";
    char buf[64];
    if (v > std::numeric_limits<float>::max() || v < -std::numeric_limits<float>::max()) as_float4 = false;
    const auto r = as_float4 ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v))
                             : std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, static_cast<std::size_t>(r.ptr - buf));
  }

 private:
  template <class T>
  struct is_optional : std::false_type {};
  template <class T>
  struct is_optional<std::optional<T>> : std::true_type {};

  [[nodiscard]] std::optional<ValueError> check_present() const {
    if (is_null()) return ValueError{ValueErrc::null_value, type_, {}};
    if (is_unchanged_toast()) return ValueError{ValueErrc::unchanged_toast, type_, {}};
    return std::nullopt;
  }
  [[nodiscard]] std::optional<ValueError> check(std::initializer_list<Oid> accepted) const {
    if (auto e = check_present()) return e;
    for (Oid o : accepted)
      if (o == type_) return std::nullopt;
    return ValueError{ValueErrc::wrong_type, type_, {}};
  }

  ColumnValueView value_{};
  Oid type_ = 0;
};

}  // namespace replicator::values

namespace replicator {
using values::ArrayValue;
using values::PgDate;
using values::TypedValueView;
using values::ValueErrc;
using values::ValueError;
using values::ValueResult;
}  // namespace replicator
