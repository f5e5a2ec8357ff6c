#include "replicator/pgoutput/relation_cache.hpp"

#include <catch2/catch.hpp>
#include <cstddef>
#include <string>
#include <vector>

#include "replicator/pgoutput/decoder.hpp"
#include "tests/support/policies.hpp"

using namespace replicator::pgoutput;

namespace {
// A Relation message: oid 16385, schema, name, identity 'd', columns (the first is the key).
std::vector<std::byte> relation_bytes(const std::string& schema, const std::string& name,
                                      const std::vector<std::pair<std::string, std::uint32_t>>& cols) {
  std::vector<replicator::test::wire::Col> c;
  for (std::size_t i = 0; i < cols.size(); ++i) c.push_back({cols[i].first, cols[i].second, i == 0});
  return replicator::test::wire::relation(16385, schema, name, c);
}
RelationView view_of(const std::vector<std::byte>& bytes) {
  auto m = decode_message(bytes, false);
  REQUIRE(m);
  return std::get<RelationView>(*m);
}
}  // namespace

TEST_CASE("RelationCache copies Relation messages and keeps old versions until released") {
  RelationCache cache;
  const auto v1 = relation_bytes("public", "t", {{"id", 23}, {"name", 25}});
  auto [info, change] = cache.apply(view_of(v1));
  CHECK(change == RelationChange::added);
  REQUIRE(info == cache.find(16385));
  CHECK(info->qualified_name() == "public.t");
  REQUIRE(info->columns.size() == 2);
  CHECK(info->columns[0].is_key);
  CHECK(info->columns[1].name == "name");
  CHECK(info->columns[1].type_oid == 25);
  CHECK(info->columns[1].type_modifier == -1);

  // The server re-sends the same definition per transaction: no new version.
  auto [same, same_change] = cache.apply(view_of(v1));
  CHECK(same_change == RelationChange::unchanged);
  CHECK(same == info);

  // A changed definition: a new version; the old pointer stays valid until release_retired().
  const auto v2 = relation_bytes("public", "t", {{"id", 23}, {"name", 25}, {"added", 20}});
  auto [changed, what] = cache.apply(view_of(v2));
  CHECK(what == RelationChange::changed);
  CHECK(changed != info);
  CHECK(changed->version > info->version);
  CHECK(info->columns.size() == 2);  // still readable
  CHECK(cache.find(16385)->columns.size() == 3);
  cache.release_retired();
  CHECK(cache.size() == 1);
}

TEST_CASE("RelationCache names an empty namespace pg_catalog and records types") {
  RelationCache cache;
  auto [info, change] = cache.apply(view_of(relation_bytes("", "pg_thing", {{"a", 23}})));
  CHECK(info->schema == "pg_catalog");
  CHECK(cache.find(99) == nullptr);

  TypeView type;
  type.oid = 16400;
  type.schema = "public";
  type.name = "mood";
  cache.apply(type);
  REQUIRE(cache.find_type(16400) != nullptr);
  CHECK(cache.find_type(16400)->name == "mood");
  CHECK(cache.find_type(1) == nullptr);
  const Oid oid = info->oid;
  cache.clear();  // frees every definition: `info` is no longer valid
  CHECK(cache.find(oid) == nullptr);
  CHECK(cache.find_type(16400) == nullptr);
}
