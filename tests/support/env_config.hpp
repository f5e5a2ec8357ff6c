// The ConnectionConfig of the server scripts/with_postgres.sh started (PGHOST, PGPORT, PGDATABASE,
// PGUSER), for tests of the live transport, slots, snapshot and pipeline. Fails the test without one.
//   LibpqTransport t(replicator::test::env_config(), options);
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "replicator/pg/connection.hpp"
#include "tests/support/pg.hpp"

namespace replicator::test {

inline ConnectionConfig env_config() {
  REQUIRE(have_server());
  ConnectionConfig cfg;
  cfg.host = env_or("PGHOST");
  cfg.port = static_cast<std::uint16_t>(std::stoi(env_or("PGPORT")));
  cfg.dbname = env_or("PGDATABASE", "postgres");
  cfg.user = env_or("PGUSER", "postgres");
  return cfg;
}

}  // namespace replicator::test
