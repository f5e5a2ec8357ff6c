// Values written through SQL, decoded from the real server's pgoutput with binary=false and with
// binary=true (the same WAL, peeked twice): every typed accessor gives the same result in both
// modes, and the expected one.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "tests/values/peek.hpp"

using namespace replicator;
using namespace replicator::values;
using test::PeekSlot;
using test::PgSession;

namespace {

// column name -> normalised text (or "<null>" / "<error: ...>") for each row, in order.
using Snapshot = std::vector<std::map<std::string, std::string>>;

Snapshot normalised(const PeekSlot& slot, bool binary) {
  Snapshot out;
  slot.rows(binary, [&](const RowChangeView& r) {
    auto& row = out.emplace_back();
    for (const auto& c : r.relation->columns) {
      auto v = r.typed_new(c.name);
      REQUIRE(v);
      CHECK(v->is_binary() == (binary && !v->is_null()));
      if (v->is_null()) {
        row[c.name] = "<null>";
        continue;
      }
      auto t = v->as_text();
      row[c.name] = t ? *t : "<error: " + t.error().describe() + ">";
    }
  });
  return out;
}

}  // namespace

TEST_CASE("binary=true and binary=false give equal values for the common types") {
  REQUIRE(test::have_server());
  PgSession db;
  const std::string table = test::unique_name("vals");
  const std::string t = db.quote_ident(table);
  test::CleanupSql drop("DROP TABLE IF EXISTS " + t);
  db.exec("CREATE TABLE " + t +
          " (id int8 PRIMARY KEY, i2 int2, i4 int4, i8 int8, n numeric, n2 numeric(10,3), f4 float4, f8 float8,"
          " tx text, vc varchar(20), b bool, ts timestamp, tstz timestamptz, d date, u uuid, j jsonb, js json,"
          " by bytea, ai int[], at text[], am int[], ab bool[], an numeric[], ats timestamptz[])");
  PeekSlot slot(db, "FOR TABLE " + t);
  db.exec(
      "INSERT INTO " + t +
      " VALUES (1, 32767, -2147483648, 9223372036854775807, 12345.6789, 3.1, 1.5, 0.1,"
      " 'héllo wörld 日本 🎉', 'abc ', true, '2026-11-25 16:30:51.123456', '2026-11-25 16:30:51.123456+05:30',"
      " '2026-11-25', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{\"b\": [1, 2], \"a\": \"x\"}', '{\"b\":1,  \"a\":2}',"
      " '\\x00ff10', '{1,NULL,3}', '{\"a b\",\"\",NULL,\"q\\\"uote\",\"NULL\",\"日本\"}', '{{1,2},{3,4}}',"
      " '{t,f,NULL}', '{1.50,NaN,-Infinity}', '{\"2020-01-01 00:00:00+00\",infinity}')");
  db.exec("INSERT INTO " + t +
          " VALUES (2, -32768, 0, -9223372036854775808, 'NaN', -0.001, 'NaN', '-Infinity',"
          " '', '', false, 'infinity', '-infinity', 'infinity', '00000000-0000-0000-0000-000000000000', '[]', 'null',"
          " '\\x', '{}', '{}', '[0:1][-1:0]={{5,6},{7,8}}', '{}', '{}', '{}')");
  db.exec("INSERT INTO " + t +
          " (id, n, f4, f8, ts, tstz, d) VALUES (3, 'Infinity', 'Infinity', 1e300,"
          " '0044-03-15 12:00:00 BC', '1999-12-31 23:59:59.999999-01', '-infinity')");
  db.exec("INSERT INTO " + t +
          " (id, n, ts, d) VALUES (4, '-Infinity', '294276-12-31 23:59:59.999999', '4713-11-24 BC')");
  db.exec("INSERT INTO " + t + " (id, n) VALUES (5, -0.000123)");
  db.exec("INSERT INTO " + t + " (id) VALUES (6)");  // all NULL

  // timestamptz in text form follows the session's TimeZone: make it one with an odd offset.
  db.exec("SET TimeZone = 'Asia/Kolkata'");
  const Snapshot text_mode = normalised(slot, false);
  const Snapshot binary_mode = normalised(slot, true);
  REQUIRE(text_mode.size() == 6);
  REQUIRE(binary_mode.size() == 6);
  for (std::size_t i = 0; i < text_mode.size(); ++i) {
    for (const auto& [col, text] : text_mode[i]) {
      INFO("row " << i + 1 << " column " << col);
      CHECK(text.rfind("<error", 0) == std::string::npos);
      CHECK(binary_mode[i].at(col) == text);
    }
  }

  const auto& r1 = binary_mode[0];
  CHECK(r1.at("i8") == "9223372036854775807");
  CHECK(r1.at("n") == "12345.6789");
  CHECK(r1.at("n2") == "3.100");
  CHECK(r1.at("f4") == "1.5");
  CHECK(r1.at("f8") == "0.1");
  CHECK(r1.at("tx") == "héllo wörld 日本 🎉");
  CHECK(r1.at("vc") == "abc ");
  CHECK(r1.at("b") == "t");
  CHECK(r1.at("ts") == "2026-11-25T16:30:51.123456");
  CHECK(r1.at("tstz") == "2026-11-25T11:00:51.123456Z");
  CHECK(r1.at("d") == "2026-11-25");
  CHECK(r1.at("u") == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  CHECK(r1.at("j") == "{\"a\": \"x\", \"b\": [1, 2]}");  // jsonb: the server's normal form
  CHECK(r1.at("js") == "{\"b\":1,  \"a\":2}");           // json: as written
  CHECK(r1.at("by") == "\\x00ff10");
  CHECK(r1.at("ai") == "{1,NULL,3}");
  CHECK(r1.at("at") == "{\"a b\",\"\",NULL,\"q\\\"uote\",\"NULL\",日本}");
  CHECK(r1.at("am") == "{{1,2},{3,4}}");
  CHECK(r1.at("ab") == "{t,f,NULL}");
  CHECK(r1.at("an") == "{1.50,NaN,-Infinity}");
  CHECK(r1.at("ats") == "{2020-01-01T00:00:00.000000Z,infinity}");
  const auto& r2 = binary_mode[1];
  CHECK(r2.at("n") == "NaN");
  CHECK(r2.at("n2") == "-0.001");
  CHECK(r2.at("f4") == "NaN");
  CHECK(r2.at("f8") == "-Infinity");
  CHECK(r2.at("tx").empty());
  CHECK(r2.at("ts") == "infinity");
  CHECK(r2.at("tstz") == "-infinity");
  CHECK(r2.at("d") == "infinity");
  CHECK(r2.at("j") == "[]");
  CHECK(r2.at("by") == "\\x");
  CHECK(r2.at("ai") == "{}");
  CHECK(r2.at("am") == "[0:1][-1:0]={{5,6},{7,8}}");
  const auto& r3 = binary_mode[2];
  CHECK(r3.at("n") == "Infinity");
  CHECK(r3.at("f4") == "Infinity");
  CHECK(r3.at("f8") == "1e+300");
  CHECK(r3.at("ts") == "-0043-03-15T12:00:00.000000");
  CHECK(r3.at("tstz") == "2000-01-01T00:59:59.999999Z");
  CHECK(r3.at("d") == "-infinity");
  CHECK(binary_mode[3].at("n") == "-Infinity");
  CHECK(binary_mode[3].at("ts") == "294276-12-31T23:59:59.999999");
  CHECK(binary_mode[3].at("d") == "-4712-11-24");
  CHECK(binary_mode[4].at("n") == "-0.000123");
  CHECK(binary_mode[5].at("ai") == "<null>");
}

TEST_CASE("typed accessors on the change event, in both modes") {
  REQUIRE(test::have_server());
  PgSession db;
  const std::string table = test::unique_name("vacc");
  const std::string t = db.quote_ident(table);
  test::CleanupSql drop("DROP TABLE IF EXISTS " + t);
  db.exec(
      "CREATE TABLE " + t +
      " (id int4 PRIMARY KEY, big int8, small int2, ok bool, amount numeric(12,2),"
      " ratio float8, at timestamptz, day date, ref uuid, doc jsonb, raw bytea, tags text[], grid int[], note text)");
  PeekSlot slot(db, "FOR TABLE " + t);
  db.exec("INSERT INTO " + t +
          " VALUES (7, -5000000000, -12, false, 99.5, 'NaN', '2000-01-01 00:00:01+00',"
          " '2000-01-03', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"k\": [true, null]}', '\\xdeadbeef',"
          " '{x,NULL,\"y z\"}', '{{1,NULL},{3,4}}', NULL)");
  for (bool binary : {false, true}) {
    INFO("binary=" << binary);
    int seen = 0;
    slot.rows(binary, [&](const RowChangeView& r) {
      ++seen;
      CHECK(*r.value<std::int32_t>("id") == 7);
      CHECK(*r.value<std::int64_t>("big") == -5000000000);
      CHECK(*r.value<std::int16_t>("small") == -12);
      CHECK(r.value<std::int32_t>("big").error().code == ValueErrc::out_of_range);
      CHECK(*r.value<bool>("ok") == false);
      CHECK(*r.typed_new("amount")->as_numeric_string() == "99.50");
      CHECK(*r.value<double>("amount") == 99.5);
      CHECK(std::isnan(*r.value<double>("ratio")));
      CHECK(r.value<PgTimestamp>("at")->micros_since_2000() == 1'000'000);
      CHECK(r.value<PgDate>("day")->days_since_2000 == 2);
      CHECK(*r.typed_new("ref")->as_uuid() == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
      CHECK(*r.typed_new("doc")->as_json() == "{\"k\": [true, null]}");
      const std::vector<std::byte> dead{std::byte{0xde}, std::byte{0xad}, std::byte{0xbe}, std::byte{0xef}};
      CHECK(*r.value<std::vector<std::byte>>("raw") == dead);
      auto tags = r.value<ArrayValue>("tags");
      REQUIRE(tags);
      CHECK(tags->elements == std::vector<std::optional<std::string>>{"x", std::nullopt, "y z"});
      auto grid = r.value<ArrayValue>("grid");
      REQUIRE(grid);
      CHECK(grid->dims == std::vector<std::int32_t>{2, 2});
      CHECK(grid->elements[1] == std::nullopt);
      CHECK(*grid->elements[3] == "4");
      CHECK(*r.value<std::optional<std::string>>("note") == std::nullopt);
      CHECK(r.value<std::string>("note").error().code == ValueErrc::null_value);
      CHECK(r.value<bool>("id").error().code == ValueErrc::wrong_type);
    });
    CHECK(seen == 1);
  }
}

TEST_CASE("a DateStyle the parser does not read is a typed error, not a wrong value") {
  REQUIRE(test::have_server());
  PgSession db;
  const std::string table = test::unique_name("vstyle");
  const std::string t = db.quote_ident(table);
  test::CleanupSql drop("DROP TABLE IF EXISTS " + t);
  db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, d date)");
  PeekSlot slot(db, "FOR TABLE " + t);
  db.exec("INSERT INTO " + t + " VALUES (1, '2026-11-25')");
  db.exec("SET DateStyle = 'SQL, DMY'");
  int seen = 0;
  slot.rows(false, [&](const RowChangeView& r) {
    ++seen;
    CHECK(r.value<PgDate>("d").error().code == ValueErrc::malformed);
  });
  slot.rows(true, [&](const RowChangeView& r) { CHECK(r.value<PgDate>("d")->to_string() == "2026-11-25"); });
  CHECK(seen == 1);
}
