// Lsn against the real server's pg_lsn: text round-trips and arithmetic agree.
#include <catch2/catch.hpp>

#include <string>

#include "replicator/core/lsn.hpp"
#include "tests/support/pg.hpp"

using replicator::Lsn;
using replicator::test::PgSession;

TEST_CASE("Lsn round-trips the server's pg_lsn text") {
  if (!replicator::test::have_server()) {
    WARN("PGHOST/PGPORT not set: skipped (run under scripts/with_postgres.sh)");
    return;
  }
  PgSession db;
  std::vector<std::string> texts;
  for (const char* sql :
       {"SELECT pg_current_wal_lsn()::text", "SELECT pg_current_wal_insert_lsn()::text",
        "SELECT pg_current_wal_flush_lsn()::text", "SELECT '0/0'::pg_lsn::text", "SELECT '16/b374d848'::pg_lsn::text",
        "SELECT 'FFFFFFFF/FFFFFFFF'::pg_lsn::text", "SELECT '1/0'::pg_lsn::text", "SELECT '0/A'::pg_lsn::text"}) {
    auto t = db.scalar(sql);
    REQUIRE(t);
    texts.push_back(*t);
  }
  for (const auto& text : texts) {
    INFO(text);
    auto lsn = Lsn::parse(text);
    REQUIRE(lsn);
    CHECK(lsn->to_string() == text);
  }
  // Lower-case input parses; the server and we print the same upper-case form.
  CHECK(Lsn::parse("16/b374d848")->to_string() == texts[4]);
  CHECK(texts[4] == "16/B374D848");

  // Arithmetic agrees with the server's pg_lsn + numeric and pg_wal_lsn_diff.
  const std::string cur = texts[0];
  const auto plus = db.scalar("SELECT ('" + cur + "'::pg_lsn + 4294967296 + 17)::text");
  REQUIRE(plus);
  CHECK((*Lsn::parse(cur) + 4294967313ull).to_string() == *plus);
  const auto diff = db.scalar("SELECT pg_wal_lsn_diff('" + *plus + "', '" + cur + "')::text");
  REQUIRE(diff);
  CHECK(std::to_string(*Lsn::parse(*plus) - *Lsn::parse(cur)) == *diff);
  const auto cmp = db.scalar("SELECT ('" + cur + "'::pg_lsn < '" + *plus + "'::pg_lsn)::text");
  CHECK(cmp == std::optional<std::string>("true"));
  CHECK(*Lsn::parse(cur) < *Lsn::parse(*plus));
}
