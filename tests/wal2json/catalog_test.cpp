// Where the wal2json decoder gets table definitions: the RelationCatalogPolicy concept both ways,
// StaticRelationCatalog, and PgRelationCatalog against the server (key flags as pgoutput sets
// them per replica identity, quoted names, a missing table, dropped and generated columns).
#include <catch2/catch.hpp>

#include "replicator/wal2json/catalog.hpp"
#include "replicator/wal2json/pg_catalog.hpp"
#include "tests/support/env_config.hpp"
#include "tests/support/pg.hpp"

using namespace replicator;
using namespace replicator::wal2json;

namespace {
struct NoLookup {};
struct WrongLookup {
  std::optional<RelationInfo> lookup(std::string_view, std::string_view) { return std::nullopt; }
};

std::string keys(const RelationInfo& r) {
  std::string s;
  for (const auto& c : r.columns) s += c.name + (c.is_key ? "* " : " ");
  return s;
}
}  // namespace

TEST_CASE("RelationCatalogPolicy: lookup(schema, table) returning a Result") {
  STATIC_REQUIRE(RelationCatalogPolicy<StaticRelationCatalog>);
  STATIC_REQUIRE(RelationCatalogPolicy<PgRelationCatalog>);
  STATIC_REQUIRE_FALSE(RelationCatalogPolicy<NoLookup>);
  STATIC_REQUIRE_FALSE(RelationCatalogPolicy<WrongLookup>);
}

TEST_CASE("StaticRelationCatalog finds by schema and name") {
  RelationInfo r;
  r.schema = "s";
  r.name = "t";
  StaticRelationCatalog c({r});
  auto found = c.lookup("s", "t");
  REQUIRE(found);
  REQUIRE(found->has_value());
  CHECK((*found)->name == "t");
  CHECK_FALSE(c.lookup("t", "s")->has_value());
  CHECK(c.lookups() == 2);
}

TEST_CASE("PgRelationCatalog reads definitions as pgoutput's Relation message has them", "[live]") {
  test::PgSession db;
  const std::string s = test::unique_name("cat");
  db.exec("CREATE SCHEMA \"" + s + " x\"");
  test::CleanupSql cleanup("DROP SCHEMA IF EXISTS \"" + s + " x\" CASCADE");
  const std::string q = "\"" + s + " x\".";
  db.exec("CREATE TABLE " + q +
          "\"d \"\"q\"\"\" (a int, b varchar(7), c int, g int GENERATED ALWAYS AS (a * 2) STORED, "
          "PRIMARY KEY (c, a))");
  db.exec("ALTER TABLE " + q + "\"d \"\"q\"\"\" ADD COLUMN gone int");
  db.exec("ALTER TABLE " + q + "\"d \"\"q\"\"\" DROP COLUMN gone");
  db.exec("CREATE TABLE " + q + "f (a int, b text)");
  db.exec("ALTER TABLE " + q + "f REPLICA IDENTITY FULL");
  db.exec("CREATE TABLE " + q + "i (a int NOT NULL, b text NOT NULL)");
  db.exec("CREATE UNIQUE INDEX ON " + q + "i (b)");
  db.exec("ALTER TABLE " + q + "i REPLICA IDENTITY USING INDEX i_b_idx");
  db.exec("CREATE TABLE " + q + "n (a int PRIMARY KEY)");
  db.exec("ALTER TABLE " + q + "n REPLICA IDENTITY NOTHING");

  PgRelationCatalog c(test::env_config());
  auto d = c.lookup(s + " x", "d \"q\"");
  REQUIRE(d);
  REQUIRE(d->has_value());
  CHECK((*d)->replica_identity == ReplicaIdentity::default_);
  CHECK(keys(**d) == "a* b c* ");  // generated and dropped columns left out, as pgoutput 15 does
  CHECK((*d)->columns[1].type_oid == 1043);
  CHECK((*d)->columns[1].type_modifier == 11);
  CHECK((*d)->oid != 0);
  CHECK(keys(**c.lookup(s + " x", "f")) == "a* b* ");
  CHECK((*c.lookup(s + " x", "f"))->replica_identity == ReplicaIdentity::full);
  CHECK(keys(**c.lookup(s + " x", "i")) == "a b* ");
  CHECK(keys(**c.lookup(s + " x", "n")) == "a ");
  CHECK_FALSE(c.lookup(s + " x", "missing")->has_value());
}
