// values/: text parsers, binary decoders and TypedValueView on hand-made bytes (the real-server
// comparison of both wire forms is values_pg_test.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "replicator/change/event.hpp"
#include "replicator/values/value.hpp"

using namespace replicator;
using namespace replicator::values;

namespace {
std::vector<std::byte> be(std::initializer_list<int> bytes) {
  std::vector<std::byte> v;
  for (int b : bytes) v.push_back(static_cast<std::byte>(b));
  return v;
}
TypedValueView bin(const std::vector<std::byte>& b, Oid type) { return {ColumnValueView{ColumnKind::binary, b}, type}; }
TypedValueView txt(std::string_view s, Oid type) {
  return {ColumnValueView{ColumnKind::text, std::as_bytes(std::span(s.data(), s.size()))}, type};
}
}  // namespace

TEST_CASE("integers: text and binary, widths checked") {
  const auto i2 = be({0x80, 0x00});
  CHECK(*bin(i2, oid::int2).as_int64() == -32768);
  const auto i4 = be({0xFF, 0xFF, 0xFF, 0xFE});
  CHECK(*bin(i4, oid::int4).as_int64() == -2);
  const auto i8 = be({0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
  CHECK(*bin(i8, oid::int8).as_int64() == std::numeric_limits<std::int64_t>::max());
  CHECK(bin(i4, oid::int8).as_int64().error().code == ValueErrc::malformed);  // 4 bytes for an int8
  CHECK(*txt("-9223372036854775808", oid::int8).as_int64() == std::numeric_limits<std::int64_t>::min());
  CHECK(txt("12x", oid::int4).as_int64().error().code == ValueErrc::malformed);
  CHECK(txt("99999999999999999999", oid::int8).as_int64().error().code == ValueErrc::out_of_range);
  CHECK(txt("70000", oid::int4).value<std::int16_t>().error().code == ValueErrc::out_of_range);
  CHECK(*txt("70000", oid::int4).value<std::int32_t>() == 70000);
  CHECK(txt("1", oid::text).as_int64().error().code == ValueErrc::wrong_type);
}

TEST_CASE("NULL, unchanged TOAST and optional") {
  TypedValueView null{ColumnValueView{ColumnKind::null, {}}, oid::int4};
  CHECK(null.as_int64().error().code == ValueErrc::null_value);
  CHECK(*null.value<std::optional<std::int64_t>>() == std::nullopt);
  TypedValueView toast{ColumnValueView{ColumnKind::unchanged_toast, {}}, oid::text};
  CHECK(toast.as_text().error().code == ValueErrc::unchanged_toast);
  CHECK(toast.value<std::optional<std::string>>().error().code == ValueErrc::unchanged_toast);
}

TEST_CASE("bool and floats") {
  CHECK(*bin(be({1}), oid::bool_).as_bool());
  CHECK_FALSE(*txt("f", oid::bool_).as_bool());
  CHECK(bin(be({2}), oid::bool_).as_bool().error().code == ValueErrc::malformed);
  CHECK(*bin(be({0x3F, 0xC0, 0, 0}), oid::float4).as_double() == 1.5);
  CHECK(std::isnan(*txt("NaN", oid::float8).as_double()));
  CHECK(*txt("-Infinity", oid::float8).as_double() == -std::numeric_limits<double>::infinity());
  CHECK(*txt("0.1", oid::float4).as_text() == "0.1");
  CHECK(*bin(be({0x3F, 0xB9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9A}), oid::float8).as_text() == "0.1");
}

TEST_CASE("numeric binary: digits, weight, scale and specials") {
  // 12345.6789: ndigits 3, weight 1, sign +, dscale 4, digits 1 2345 6789
  const auto a = be({0, 3, 0, 1, 0, 0, 0, 4, 0x00, 0x01, 0x09, 0x29, 0x1A, 0x85});
  CHECK(*bin(a, oid::numeric).as_numeric_string() == "12345.6789");
  // -0.000123 (dscale 6): ndigits 2, weight -1, digits 0001 2300
  const auto b = be({0, 2, 0xFF, 0xFF, 0x40, 0x00, 0, 6, 0x00, 0x01, 0x08, 0xFC});
  CHECK(*bin(b, oid::numeric).as_numeric_string() == "-0.000123");
  // 1000000 (1 00 0000): ndigits 1, weight 1, digit 100 -> "100" "0000"
  const auto c = be({0, 1, 0, 1, 0, 0, 0, 0, 0x00, 0x64});
  CHECK(*bin(c, oid::numeric).as_numeric_string() == "1000000");
  const auto zero = be({0, 0, 0, 0, 0, 0, 0, 2});
  CHECK(*bin(zero, oid::numeric).as_numeric_string() == "0.00");
  CHECK(*bin(be({0, 0, 0, 0, 0xC0, 0, 0, 0}), oid::numeric).as_numeric_string() == "NaN");
  CHECK(*bin(be({0, 0, 0, 0, 0xD0, 0, 0, 0}), oid::numeric).as_numeric_string() == "Infinity");
  CHECK(*bin(be({0, 0, 0, 0, 0xF0, 0, 0, 0}), oid::numeric).as_numeric_string() == "-Infinity");
  CHECK(bin(be({0, 0, 0, 0, 0x12, 0, 0, 0}), oid::numeric).as_numeric_string().error().code == ValueErrc::malformed);
  CHECK(bin(be({0, 2, 0, 0, 0, 0, 0, 0, 0, 1}), oid::numeric).as_numeric_string().error().code == ValueErrc::malformed);
  CHECK(bin(be({0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10}), oid::numeric).as_numeric_string().error().code ==
        ValueErrc::malformed);  // digit 10000
  CHECK(*txt("-1.50", oid::numeric).as_numeric_string() == "-1.50");
  CHECK(txt("1e5", oid::numeric).as_numeric_string().error().code == ValueErrc::malformed);
  CHECK(*txt("2.5", oid::numeric).as_double() == 2.5);
}

TEST_CASE("timestamps and dates") {
  const auto zero = be({0, 0, 0, 0, 0, 0, 0, 0});
  CHECK(*bin(zero, oid::timestamptz).as_text() == "2000-01-01T00:00:00.000000Z");
  CHECK(*bin(zero, oid::timestamp).as_text() == "2000-01-01T00:00:00.000000");
  const auto inf = be({0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
  CHECK(*bin(inf, oid::timestamptz).as_timestamp() == kTimestampInfinity);
  CHECK(*bin(inf, oid::timestamp).as_text() == "infinity");
  CHECK(*txt("-infinity", oid::timestamp).as_timestamp() == kTimestampMinusInfinity);
  auto t = txt("2026-11-25 16:30:51.123456+05:30", oid::timestamptz).as_text();
  REQUIRE(t);
  CHECK(*t == "2026-11-25T11:00:51.123456Z");
  CHECK(*txt("1999-12-31 23:59:59.5-01", oid::timestamptz).as_text() == "2000-01-01T00:59:59.500000Z");
  CHECK(*txt("0044-03-15 12:00:00 BC", oid::timestamp).as_text() == "-0043-03-15T12:00:00.000000");
  CHECK(txt("2026-11-25 16:30:51", oid::timestamptz).as_timestamp().error().code == ValueErrc::malformed);
  CHECK(txt("11/25/2026 16:30:51", oid::timestamp).as_timestamp().error().code == ValueErrc::malformed);
  CHECK(txt("2026-13-25 16:30:51", oid::timestamp).as_timestamp().error().code == ValueErrc::malformed);
  CHECK(*txt("294276-12-31 23:59:59.999999", oid::timestamp).as_text() == "294276-12-31T23:59:59.999999");

  CHECK(bin(be({0, 0, 0, 1}), oid::date).as_date()->to_string() == "2000-01-02");
  CHECK(bin(be({0x7F, 0xFF, 0xFF, 0xFF}), oid::date).as_date()->to_string() == "infinity");
  CHECK(bin(be({0x80, 0, 0, 0}), oid::date).as_date()->to_string() == "-infinity");
  CHECK(*txt("2026-11-25", oid::date).as_text() == "2026-11-25");
  CHECK(txt("2026-11-25", oid::date).as_date()->days_since_2000 == 9825);
  CHECK(*txt("4713-11-24 BC", oid::date).as_text() == "-4712-11-24");
  CHECK(txt("2026-11", oid::date).as_date().error().code == ValueErrc::malformed);
}

TEST_CASE("uuid, jsonb, bytea") {
  const auto u = be({0xA0, 0xEE, 0xBC, 0x99, 0x9C, 0x0B, 0x4E, 0xF8, 0xBB, 0x6D, 0x6B, 0xB9, 0xBD, 0x38, 0x0A, 0x11});
  CHECK(*bin(u, oid::uuid).as_uuid() == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  CHECK(*txt("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", oid::uuid).as_uuid() == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  CHECK(txt("a0eebc99", oid::uuid).as_uuid().error().code == ValueErrc::malformed);
  CHECK(bin(be({1, 2}), oid::uuid).as_uuid().error().code == ValueErrc::malformed);

  const auto j = be({1, '{', '}'});
  CHECK(*bin(j, oid::jsonb).as_json() == "{}");
  CHECK(bin(be({2, '{', '}'}), oid::jsonb).as_json().error().code == ValueErrc::malformed);
  CHECK(*txt("{\"a\": 1}", oid::jsonb).as_text() == "{\"a\": 1}");

  CHECK(*txt("\\x00ff", oid::bytea).as_bytes() == be({0, 0xFF}));
  CHECK(*txt("a\\000\\\\b", oid::bytea).as_bytes() == be({'a', 0, '\\', 'b'}));
  CHECK(*bin(be({0, 0xFF}), oid::bytea).as_text() == "\\x00ff");
  CHECK(txt("\\x0", oid::bytea).as_bytes().error().code == ValueErrc::malformed);
  CHECK(txt("\\q", oid::bytea).as_bytes().error().code == ValueErrc::malformed);
}

TEST_CASE("arrays: text literal and binary form agree") {
  auto a = txt("{1,NULL,3}", oid::int4_array).as_array();
  REQUIRE(a);
  CHECK(a->dims == std::vector<std::int32_t>{3});
  CHECK(a->elements[1] == std::nullopt);
  CHECK(a->to_string() == "{1,NULL,3}");
  // Binary of the same: ndim 1, flags 1, int4, dim 3 lb 1, elements.
  const auto b = be({0, 0, 0, 1, 0, 0, 0, 1, 0,    0,    0,    23,   0, 0, 0, 3, 0, 0, 0, 1,  //
                     0, 0, 0, 4, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 4, 0, 0, 0, 3});
  auto ab = bin(b, oid::int4_array).as_array();
  REQUIRE(ab);
  CHECK(*ab == *a);

  auto m = txt("[0:1][1:2]={{5,6},{7,8}}", oid::int4_array).as_array();
  REQUIRE(m);
  CHECK(m->dims == std::vector<std::int32_t>{2, 2});
  CHECK(m->lower_bounds == std::vector<std::int32_t>{0, 1});
  CHECK(m->to_string() == "[0:1][1:2]={{5,6},{7,8}}");

  auto s = txt(R"({"a b","",NULL,"q\"uote","NULL",plain})", oid::text_array).as_array();
  REQUIRE(s);
  CHECK(s->elements == std::vector<std::optional<std::string>>{"a b", "", std::nullopt, "q\"uote", "NULL", "plain"});
  CHECK(s->to_string() == R"({"a b","",NULL,"q\"uote","NULL",plain})");
  CHECK(txt("{}", oid::text_array).as_array()->to_string() == "{}");

  CHECK(txt("{{1,2},{3}}", oid::int4_array).as_array().error().code == ValueErrc::malformed);
  CHECK(txt("{1,{2}}", oid::int4_array).as_array().error().code == ValueErrc::malformed);
  CHECK(txt("{1,2", oid::int4_array).as_array().error().code == ValueErrc::malformed);
  CHECK(txt("{1,x}", oid::int4_array).as_array().error().code == ValueErrc::malformed);  // element not an int
  CHECK(txt("{1,2}", oid::int4).as_array().error().code == ValueErrc::wrong_type);
  // Truncated / lying binary headers.
  CHECK(bin(be({0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 23}), oid::int4_array).as_array().error().code ==
        ValueErrc::malformed);
  auto lying = b;
  lying[15] = std::byte{0x7F};  // 127 elements declared
  CHECK(bin(lying, oid::int4_array).as_array().error().code == ValueErrc::malformed);
  auto wrong_elem = b;
  wrong_elem[11] = std::byte{25};
  CHECK(bin(wrong_elem, oid::int4_array).as_array().error().code == ValueErrc::malformed);
}

TEST_CASE("binary values of unknown types are a typed error, text ones pass through") {
  CHECK(bin(be({1, 2, 3}), 600 /* point */).as_text().error().code == ValueErrc::unsupported_type);
  CHECK(*txt("(1,2)", 600).as_text() == "(1,2)");
  CHECK(*bin(be({'h', 'i'}), oid::text).as_text() == "hi");
}

TEST_CASE("RowChangeView::value<T> reads the row's tuple by column name") {
  RelationInfo rel;
  rel.schema = "public";
  rel.name = "t";
  rel.columns = {{"id", oid::int8, -1, true}, {"note", oid::text, -1, false}};
  // Tuple bytes: 't' len "42", 'n'.
  const auto tuple = be({'t', 0, 0, 0, 2, '4', '2', 'n'});
  RowChangeView row{ChangeOp::insert, Lsn{1}, {}, &rel, OldTupleKind::none, {}, TupleView(tuple, 2)};
  CHECK(*row.value<std::int64_t>("id") == 42);
  CHECK(*row.value<std::optional<std::string>>("note") == std::nullopt);
  CHECK(row.value<std::string>("note").error().code == ValueErrc::null_value);
  CHECK(row.value<std::int64_t>("missing").error().code == ValueErrc::missing_column);
  CHECK(row.old<std::int64_t>("id").error().code == ValueErrc::missing_column);
  CHECK(row.typed_new("id")->type_oid() == oid::int8);
}

TEST_CASE("random bytes into every accessor: a value or a typed error, never a crash") {
  // Deterministic xorshift; run under ASan/UBSan by scripts/test.sh.
  std::uint64_t s = 0x9E3779B97F4A7C15ull;
  auto next = [&] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  const Oid types[] = {oid::bool_,         oid::int2,
                       oid::int4,          oid::int8,
                       oid::float4,        oid::float8,
                       oid::numeric,       oid::timestamp,
                       oid::timestamptz,   oid::date,
                       oid::uuid,          oid::jsonb,
                       oid::bytea,         oid::int4_array,
                       oid::text_array,    oid::timestamptz_array,
                       oid::numeric_array, 600};
  const char alphabet[] = "0123456789-+:. {}\",\\NULLTZBCinfityNa[]=xX";
  std::size_t ok = 0, errors = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    const Oid type = types[next() % std::size(types)];
    const std::size_t len = next() % 48;
    std::vector<std::byte> bytes(len);
    const bool text = next() % 2 == 0;
    for (auto& b : bytes)
      b = text ? static_cast<std::byte>(alphabet[next() % (sizeof alphabet - 1)]) : static_cast<std::byte>(next());
    // Binary arrays: start from a plausible header so the element walk gets exercised too.
    if (!text && element_type_of(type) != 0 && len >= 12 && next() % 2 == 0) {
      const std::uint32_t elem = element_type_of(type);
      const std::uint8_t hdr[12] = {
          0, 0, 0, 1, 0, 0, 0, 1, 0, 0, static_cast<std::uint8_t>(elem >> 8), static_cast<std::uint8_t>(elem)};
      for (int i = 0; i < 12; ++i) bytes[i] = static_cast<std::byte>(hdr[i]);
    }
    TypedValueView v{ColumnValueView{text ? ColumnKind::text : ColumnKind::binary, bytes}, type};
    auto t = v.as_text();
    (t ? ok : errors) += 1;
    (void)v.as_array();
    (void)v.as_double();
    (void)v.as_timestamp();
  }
  CHECK(ok + errors == 20000);
  CHECK(errors > 0);
}
