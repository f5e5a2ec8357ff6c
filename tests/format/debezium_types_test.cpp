// format/debezium_types.hpp: which of Debezium's mapping families a column falls into, from the
// Relation message's type oid and typmod plus the catalog rows for types defined after initdb
// (domains resolve to their base type, enums carry their labels, extension types go by name).
#include <catch2/catch.hpp>

#include "replicator/format/debezium_types.hpp"

using namespace replicator::format;
namespace oid = replicator::values::oid;
using K = DebeziumKind;

namespace {
DebeziumType domain(Oid id, Oid base, std::int32_t typmod = -1) {
  DebeziumType t;
  t.oid = id;
  t.kind = 'd';
  t.name = "d" + std::to_string(id);
  t.base_type = base;
  t.base_typmod = typmod;
  return t;
}
DebeziumType named(Oid id, char kind, std::string name, Oid element = 0) {
  DebeziumType t;
  t.oid = id;
  t.kind = kind;
  t.name = std::move(name);
  t.element_type = element;
  return t;
}
// numeric(10,2): ((10 << 16) | 2) + VARHDRSZ, as pg_attribute.atttypmod holds it.
constexpr std::int32_t kNumeric10_2 = ((10 << 16) | 2) + 4;
}  // namespace

TEST_CASE("Built-in types map to Debezium's families") {
  const DebeziumTypeCatalog none;
  auto kind = [&](Oid t, std::int32_t typmod = -1) { return resolve_debezium_type(none, t, typmod).scalar.kind; };
  CHECK(kind(oid::bool_) == K::boolean);
  CHECK(kind(oid::int2) == K::int16);
  CHECK(kind(oid::int4) == K::int32);
  CHECK(kind(oid::int8) == K::int64);
  CHECK(kind(oid::oid_) == K::int64);
  CHECK(kind(oid::float4) == K::float32);
  CHECK(kind(oid::float8) == K::float64);
  CHECK(kind(oid::numeric) == K::numeric);
  CHECK(kind(dbz_oid::money) == K::money);
  CHECK(kind(oid::json) == K::json);
  CHECK(kind(oid::jsonb) == K::json);
  CHECK(kind(oid::uuid) == K::uuid);
  CHECK(kind(oid::date) == K::date);
  CHECK(kind(oid::timestamptz) == K::timestamptz);
  CHECK(kind(dbz_oid::interval) == K::interval);
  CHECK(kind(oid::bytea) == K::bytea);
  CHECK(kind(dbz_oid::point) == K::point);
  // Text, network, ranges and the other geometric types are their text.
  CHECK(kind(oid::text) == K::string);
  CHECK(kind(dbz_oid::inet) == K::string);
  CHECK(kind(dbz_oid::int4range) == K::string);
  CHECK(kind(dbz_oid::polygon) == K::string);
  CHECK(kind(oid::numeric, kNumeric10_2) == K::numeric);
  CHECK(resolve_debezium_type(none, oid::numeric, kNumeric10_2).scalar.typmod == kNumeric10_2);
}

TEST_CASE("bit(1) is BOOLEAN, longer bit strings are Bits") {
  const DebeziumTypeCatalog none;
  auto kind = [&](Oid t, std::int32_t typmod) { return resolve_debezium_type(none, t, typmod).scalar.kind; };
  CHECK(kind(dbz_oid::bit, 1) == K::boolean);
  CHECK(kind(dbz_oid::bit, -1) == K::boolean);  // plain `bit` is bit(1)
  CHECK(kind(dbz_oid::bit, 16) == K::bits);
  CHECK(kind(dbz_oid::varbit, 1) == K::boolean);
  CHECK(kind(dbz_oid::varbit, -1) == K::bits);  // unbounded bit varying
  CHECK(kind(dbz_oid::varbit, 8) == K::bits);
}

TEST_CASE("Arrays map as their element, with the column's own oid kept") {
  const DebeziumTypeCatalog none;
  auto ints = resolve_debezium_type(none, oid::int4_array, -1);
  CHECK(ints.is_array);
  CHECK(ints.array_oid == oid::int4_array);
  CHECK(ints.scalar.kind == K::int32);
  auto intervals = resolve_debezium_type(none, 1187, -1);  // interval[]: only this mapping reads it
  CHECK(intervals.is_array);
  CHECK(intervals.scalar.kind == K::interval);
  CHECK(builtin_array_element(1561) == dbz_oid::bit);
  CHECK(builtin_array_element(oid::int4) == 0);
  CHECK_FALSE(resolve_debezium_type(none, oid::int4, -1).is_array);
}

TEST_CASE("Domains take their base type's mapping and modifier") {
  DebeziumTypeCatalog cat;
  cat.add(domain(20001, oid::int4));
  cat.add(domain(20002, oid::numeric, kNumeric10_2));
  cat.add(domain(20003, 20002));  // a domain over a domain
  cat.add(domain(20004, oid::int4_array));

  auto positive = resolve_debezium_type(cat, 20001, -1);
  CHECK(positive.scalar.kind == K::int32);
  CHECK(positive.scalar.wire_oid == oid::int4);  // the value arrives in the base type's form

  auto money_like = resolve_debezium_type(cat, 20003, -1);
  CHECK(money_like.scalar.kind == K::numeric);
  CHECK(money_like.scalar.typmod == kNumeric10_2);

  auto over_array = resolve_debezium_type(cat, 20004, -1);
  CHECK(over_array.is_array);
  CHECK(over_array.array_oid == oid::int4_array);
  CHECK(over_array.scalar.kind == K::int32);
}

TEST_CASE("Enums, hstore, ltree and other extension types") {
  DebeziumTypeCatalog cat;
  DebeziumType mood = named(20010, 'e', "mood");
  mood.enum_labels = {"sad", "ok", "happy"};
  cat.add(mood);
  cat.add(named(20011, 'b', "hstore"));
  cat.add(named(20012, 'b', "ltree"));
  cat.add(named(20013, 'b', "citext"));
  cat.add(named(20014, 'b', "_mood", 20010));  // the enum's array type

  auto e = resolve_debezium_type(cat, 20010, -1);
  CHECK(e.scalar.kind == K::enum_);
  REQUIRE(e.scalar.user_type != nullptr);
  CHECK(e.scalar.user_type->enum_labels.size() == 3);
  CHECK(resolve_debezium_type(cat, 20011, -1).scalar.kind == K::hstore);
  CHECK(resolve_debezium_type(cat, 20012, -1).scalar.kind == K::ltree);
  auto citext = resolve_debezium_type(cat, 20013, -1);
  CHECK(citext.scalar.kind == K::string);
  CHECK(citext.scalar.wire_oid == 20013);
  auto moods = resolve_debezium_type(cat, 20014, -1);
  CHECK(moods.is_array);
  CHECK(moods.scalar.kind == K::enum_);
}

TEST_CASE("An unknown user type is its text, and the catalog says it is missing") {
  DebeziumTypeCatalog cat;
  CHECK(cat.missing(30000));
  CHECK_FALSE(cat.missing(oid::int4));  // built in: never needs a row
  auto unknown = resolve_debezium_type(cat, 30000, -1);
  CHECK(unknown.scalar.kind == K::string);
  CHECK(unknown.scalar.user_type == nullptr);

  cat.add(named(30000, 'b', "first"));
  const DebeziumType* kept = cat.find(30000);
  cat.add(named(30000, 'b', "second"));  // added, never replaced: pointers stay valid
  CHECK(cat.find(30000) == kept);
  CHECK(kept->name == "first");
  CHECK(cat.size() == 1);
  CHECK_FALSE(cat.missing(30000));
}
