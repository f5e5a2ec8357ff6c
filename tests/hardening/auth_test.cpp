// Passwords and privileges against a private cluster that demands scram-sha-256 over TCP:
// the right password streams and the wrong (or a missing) one is one fatal line (exit 1) with the
// password nowhere in stdout, stderr or the server log; the least-privilege role of
// docs/least_privilege.md (LOGIN REPLICATION, SELECT on the published tables, objects made by
// their owner beforehand) snapshots and streams; a role without REPLICATION is told so; and the
// connection failures only a private server can produce are classified (shutdown: retryable).
#include <signal.h>

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "replicator/transport/libpq.hpp"
#include "tests/support/private_cluster.hpp"
#include "tests/hardening/support.hpp"

using namespace std::chrono_literals;
using namespace replicator;
using namespace replicator::test;

namespace {

// Distinctive strings, so a leak anywhere is found by a plain search.
const std::string kPassword = "Pw-right-7f3c9e-XyZzY";
const std::string kWrongPassword = "Pw-wrong-51b2aa-QwErT";

// The DBA's setup from docs/least_privilege.md, run by the superuser (the table owner).
struct ScramServer {
  std::unique_ptr<PrivateCluster> pg;
  ScramServer() {
    PrivateClusterOptions o;
    o.conf = {"password_encryption = 'scram-sha-256'"};
    // One line covers the replication connection too: a logical one (replication=database) is
    // matched by database name; the `replication` keyword is for physical replication only.
    o.hba = {"host all all 127.0.0.1/32 scram-sha-256"};
    pg = std::make_unique<PrivateCluster>(o);
    pg->sql("CREATE DATABASE app");
    pg->sql("CREATE SCHEMA sales", "app");
    pg->sql("CREATE TABLE sales.orders (id int PRIMARY KEY, note text)", "app");
    pg->sql("INSERT INTO sales.orders VALUES (1, 'existing_row')", "app");
    pg->sql("CREATE PUBLICATION cdc_pub FOR TABLE sales.orders", "app");
    // The least-privilege role: no superuser, owns nothing, may not create anything.
    pg->sql("CREATE ROLE cdc_reader LOGIN REPLICATION PASSWORD '" + kPassword + "'");
    pg->sql("GRANT CONNECT ON DATABASE app TO cdc_reader");
    pg->sql("GRANT USAGE ON SCHEMA sales TO cdc_reader", "app");
    pg->sql("GRANT SELECT ON sales.orders TO cdc_reader", "app");
    pg->sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC", "app");
    // position_store: postgresql without CREATE anywhere: the owner makes the table beforehand.
    pg->sql(
        "CREATE TABLE sales.replicator_positions (slot_name text PRIMARY KEY, lsn pg_lsn NOT NULL, "
        "timeline bigint NOT NULL, system_id numeric(20,0) NOT NULL, saved_at timestamptz NOT NULL)",
        "app");
    pg->sql("GRANT SELECT, INSERT, UPDATE ON sales.replicator_positions TO cdc_reader", "app");
    // The same without REPLICATION, and one with REPLICATION but without SELECT.
    pg->sql("CREATE ROLE no_repl LOGIN PASSWORD '" + kPassword + "'");
    pg->sql("GRANT SELECT ON sales.orders TO no_repl", "app");
    pg->sql("GRANT USAGE ON SCHEMA sales TO no_repl", "app");
    pg->sql("CREATE ROLE no_select LOGIN REPLICATION PASSWORD '" + kPassword + "'");
  }
};

ScramServer& server() {
  static ScramServer s;
  return s;
}

Target as(const std::string& user, const std::string& password) {
  Target t;
  t.host = server().pg->host();
  t.port = server().pg->port();
  t.dbname = "app";
  t.user = user;
  t.password = password;
  return t;
}

bool active(const std::string& slot) {
  return server().pg->sql("SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = '" + slot + "'",
                          "app") == "1";
}

void drop_slot(const std::string& slot) {
  server().pg->sql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot +
                   "'");
}

// Neither password appears in the program's output or log, nor in the server log.
void check_no_password(const std::string& out, const std::string& err) {
  for (const auto& pw : {kPassword, kWrongPassword}) {
    CHECK(out.find(pw) == std::string::npos);
    CHECK(err.find(pw) == std::string::npos);
    CHECK(server().pg->log().find(pw) == std::string::npos);
  }
}

// Runs the program until it streams, inserts a row, waits for it, stops it; returns stdout, stderr.
std::pair<std::string, std::string> stream_one(const Target& t, const std::string& slot, const std::string& extra,
                                               const std::string& marker, const std::vector<std::string>& env = {}) {
  const std::string dir = scratch_dir("auth_stream");
  write_file(dir + "/c.yaml", program_config(t, slot, "cdc_pub", extra));
  Child child({program_path(), "--config", dir + "/c.yaml", "--log-level=debug"}, dir + "/out", dir + "/err", env);
  const bool up = wait_until([&] { return active(slot) || !child.running(); }, 30s) && child.running();
  INFO(read_file(dir + "/err"));
  REQUIRE(up);
  server().pg->sql("INSERT INTO sales.orders VALUES (" + std::to_string(100 + static_cast<int>(marker.size())) + ", '" +
                       marker + "') ON CONFLICT (id) DO UPDATE SET note = excluded.note",
                   "app");
  REQUIRE(wait_until([&] { return read_file(dir + "/out").find(marker) != std::string::npos; }, 30s));
  child.signal(SIGTERM);
  CHECK(child.wait_exit(20s) == 0);
  return {read_file(dir + "/out"), read_file(dir + "/err")};
}

}  // namespace

TEST_CASE("scram-sha-256: the right password streams; the password is never printed") {
  const std::string slot = unique_name("scram_ok");
  SECTION("from the config file, with the initial snapshot (least-privilege role)") {
    const auto [out, err] = stream_one(as("cdc_reader", kPassword), slot, "", "streamed_with_scram");
    CHECK(out.find("existing_row") != std::string::npos);  // the snapshot read the table as cdc_reader
    CHECK(error_lines(err).empty());
    check_no_password(out, err);
  }
  SECTION("position_store postgresql in a table the owner created (no CREATE privilege anywhere)") {
    const auto [out, err] =
        stream_one(as("cdc_reader", kPassword), slot,
                   "position_store: postgresql\nposition_table: sales.replicator_positions\n", "position_in_table");
    CHECK(error_lines(err).empty());
    CHECK(server().pg->sql("SELECT count(*) FROM sales.replicator_positions WHERE slot_name = '" + slot + "'", "app") ==
          "1");
    check_no_password(out, err);
  }
  SECTION("from REPLICATOR_POSTGRESQL_PASSWORD") {
    const auto [out, err] = stream_one(as("cdc_reader", ""), slot, "snapshot_mode: never\n", "password_from_env",
                                       {"REPLICATOR_POSTGRESQL_PASSWORD=" + kPassword});
    check_no_password(out, err);
  }
  SECTION("from PGPASSWORD") {
    const auto [out, err] = stream_one(as("cdc_reader", ""), slot, "snapshot_mode: never\n", "password_from_pgpassword",
                                       {"PGPASSWORD=" + kPassword});
    check_no_password(out, err);
  }
  drop_slot(slot);
}

TEST_CASE("scram-sha-256: a wrong or missing password is one fatal line, exit 1, nothing leaked") {
  const std::string slot = unique_name("scram_bad");
  const std::string dir = scratch_dir("auth_bad");
  SECTION("wrong password in the file") {
    const auto r = run_program(program_config(as("cdc_reader", kWrongPassword), slot, "cdc_pub"), dir);
    INFO(r.err);
    CHECK(r.code == 1);
    const auto errors = error_lines(r.err);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Contains("password authentication failed") && Catch::Contains("sqlstate=28P01") &&
                              Catch::Contains("cdc_reader"));
    CHECK(lines_with(r.err, "level=warn").empty());  // fatal at once: no retry
    check_no_password(r.out, r.err);
  }
  SECTION("wrong password from the environment, at debug level") {
    const std::string cfg = dir + "/env.yaml";
    write_file(cfg, program_config(as("cdc_reader", ""), slot, "cdc_pub"));
    Child child({program_path(), "--config", cfg, "--log-level=debug"}, dir + "/env.out", dir + "/env.err",
                {"REPLICATOR_POSTGRESQL_PASSWORD=" + kWrongPassword});
    CHECK(child.wait_exit(30s) == 1);
    const std::string err = read_file(dir + "/env.err");
    INFO(err);
    CHECK(error_lines(err).size() == 1);
    check_no_password(read_file(dir + "/env.out"), err);
  }
  SECTION("no password at all: fatal, says to set one") {
    const auto r = run_program(program_config(as("cdc_reader", ""), slot, "cdc_pub"), dir);
    INFO(r.err);
    CHECK(r.code == 1);
    const auto errors = error_lines(r.err);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Contains("set a password"));
  }
  CHECK(server().pg->sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "'") == "0");
}

TEST_CASE("privileges: without REPLICATION is fatal and says so; SELECT is needed by the snapshot only") {
  const std::string slot = unique_name("priv");
  const std::string dir = scratch_dir("auth_priv");
  SECTION("a role without REPLICATION") {
    const auto r = run_program(program_config(as("no_repl", kPassword), slot, "cdc_pub"), dir);
    INFO(r.err);
    CHECK(r.code == 1);
    const auto errors = error_lines(r.err);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Contains("sqlstate=42501") && Catch::Contains("REPLICATION"));
    check_no_password(r.out, r.err);
  }
  SECTION("a REPLICATION role without SELECT: the initial snapshot is refused (fatal 42501)") {
    const auto r = run_program(program_config(as("no_select", kPassword), slot, "cdc_pub"), dir);
    INFO(r.err);
    CHECK(r.code == 1);
    const auto errors = error_lines(r.err);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Contains("sqlstate=42501") && Catch::Contains("permission denied"));
    CHECK(server().pg->sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "'") == "0");
  }
  SECTION("a REPLICATION role without SELECT streams with snapshot_mode: never (pgoutput checks no table privilege)") {
    const auto [out, err] = stream_one(as("no_select", kPassword), slot, "snapshot_mode: never\n", "no_select_streams");
    CHECK(error_lines(err).empty());
  }
  drop_slot(slot);
}

TEST_CASE("connection failures only a private server shows: shutdown is retryable, auth is fatal") {
  SECTION("transport level: wrong password 28P01 fatal, the password scrubbed from the message") {
    ConnectionConfig c;
    c.host = server().pg->host();
    c.port = server().pg->port();
    c.dbname = "app";
    c.user = "cdc_reader";
    c.password = kWrongPassword;
    for (auto kind : {ConnectionKind::normal, ConnectionKind::replication}) {
      auto conn = PgConnection::connect(c, kind);
      REQUIRE_FALSE(conn);
      CHECK_FALSE(conn.error().retryable());
      CHECK(conn.error().sqlstate == "28P01");
      CHECK(conn.error().message.find(kWrongPassword) == std::string::npos);
    }
  }
  SECTION("a fast shutdown under an open connection: retryable; after restart, connects again") {
    PrivateCluster pg;
    ConnectionConfig c;
    c.host = pg.host();
    c.port = pg.port();
    c.dbname = "postgres";
    c.user = "postgres";
    c.connect_timeout_s = 5;
    auto normal = PgConnection::connect(c, ConnectionKind::normal);
    REQUIRE(normal);
    auto repl = PgConnection::connect(c, ConnectionKind::replication);
    REQUIRE(repl);
    pg.stop("fast");
    auto q = normal->exec("SELECT 1", "query after shutdown");
    REQUIRE_FALSE(q);
    CHECK(q.error().retryable());
    auto id = identify_system(*repl);
    REQUIRE_FALSE(id);
    CHECK(id.error().retryable());
    auto refused = PgConnection::connect(c, ConnectionKind::replication);  // nothing listens now
    REQUIRE_FALSE(refused);
    CHECK(refused.error().retryable());
    pg.start();
    auto again = PgConnection::connect(c, ConnectionKind::replication);
    if (!again) FAIL(again.error().message);
  }
}
