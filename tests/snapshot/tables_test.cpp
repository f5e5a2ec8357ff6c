// snapshot/tables.hpp against the server: the published columns the snapshot copies. Generated
// columns are left out, except stored ones on 18+ where the publication publishes them.
#include "replicator/snapshot/tables.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "replicator/pg/connection.hpp"
#include "tests/support/env_config.hpp"
#include "tests/support/pg.hpp"

using namespace replicator;
using replicator::test::CleanupSql;
using replicator::test::PgSession;
using replicator::test::unique_name;

TEST_CASE("list_snapshot_tables lists a generated column only where the publication publishes it") {
  PgSession db;
  const std::string table = unique_name("tables_gen");
  const std::string pub = unique_name("pub_tables_gen");
  db.exec("CREATE TABLE " + table + " (id int primary key, v text, gen int GENERATED ALWAYS AS (id * 2) STORED)");
  CleanupSql drop_table("DROP TABLE IF EXISTS " + table);
  const bool v18 = db.server_version() >= 180000;
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table +
          (v18 ? " WITH (publish_generated_columns = stored)" : ""));
  CleanupSql drop_pub("DROP PUBLICATION IF EXISTS " + pub);

  auto conn = PgConnection::connect(test::env_config(), ConnectionKind::normal);
  REQUIRE(conn);
  const std::vector<std::string> pubs = {pub};
  auto tables = snapshot::list_snapshot_tables(*conn, pubs);
  if (!tables) FAIL(tables.error().message);
  REQUIRE(tables->size() == 1);
  std::vector<std::string> columns;
  for (const auto& c : (*tables)[0].relation.columns) columns.push_back(c.name);
  CHECK(columns == (v18 ? std::vector<std::string>{"id", "v", "gen"} : std::vector<std::string>{"id", "v"}));
  CHECK((*tables)[0].relation.columns[0].is_key);
}
