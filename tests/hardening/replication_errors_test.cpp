// Replication-specific failures against real servers, each a clear, specific error and never a
// silent restart from the wrong place: WAL removed before the slot read it (slot invalidated), the
// slot dropped while streaming, a stored position from another cluster, from another timeline or
// ahead of the server's WAL; and a silent (frozen) walsender declared dead and reconnected.
#include <signal.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "replicator/position/file.hpp"
#include "replicator/transport/libpq.hpp"
#include "tests/support/private_cluster.hpp"
#include "tests/hardening/support.hpp"

using namespace std::chrono_literals;
using namespace replicator;
using namespace replicator::test;

namespace {

Target private_target(const PrivateCluster& pg) {
  Target t;
  t.host = pg.host();
  t.port = pg.port();
  return t;
}

ConnectionConfig connection(const Target& t) {
  ConnectionConfig c;
  c.host = t.host;
  c.port = static_cast<std::uint16_t>(t.port);
  c.dbname = t.dbname;
  c.user = t.user;
  c.password = t.password;
  c.connect_timeout_s = 5;
  return c;
}

// A program run in the background, stopped (SIGKILL) at scope end if still running.
struct Running {
  std::string out, err;
  Child child;
  Running(const std::string& yaml, const std::string& dir, const std::string& name)
      : out(dir + "/" + name + ".out"), err(dir + "/" + name + ".err"), child(args(yaml, dir, name), out, err) {}
  static std::vector<std::string> args(const std::string& yaml, const std::string& dir, const std::string& name) {
    write_file(dir + "/" + name + ".yaml", yaml);
    return {program_path(), "--config", dir + "/" + name + ".yaml"};
  }
  bool output_has(const std::string& needle) const { return read_file(out).find(needle) != std::string::npos; }
  std::string log() const { return read_file(err); }
};

void require_output(Running& r, const std::string& needle) {
  const bool seen = wait_until([&] { return r.output_has(needle) || !r.child.running(); }, 30s) && r.output_has(needle);
  INFO(r.log());
  REQUIRE(seen);
}

// Waits until the program streams from `slot` (changes committed before that are not in the slot).
// The log line matters too: a slot is already active while CREATE_REPLICATION_SLOT waits for its
// consistent point.
void require_streaming(Running& r, const std::function<bool()>& slot_active) {
  const bool active =
      wait_until([&] { return slot_active() || !r.child.running(); }, 30s) &&
      wait_until([&] { return r.log().find("msg=streaming") != std::string::npos || !r.child.running(); }, 30s) &&
      r.child.running();
  INFO(r.log());
  REQUIRE(active);
}

bool private_slot_active(const PrivateCluster& pg, const std::string& slot) {
  return pg.sql("SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = '" + slot + "'") == "1";
}

void require_clean_stop(Running& r) {
  r.child.signal(SIGTERM);
  INFO(r.log());
  REQUIRE(r.child.wait_exit(20s) == 0);
}

void table_and_publication(const PrivateCluster& pg, const std::string& table, const std::string& pub) {
  pg.sql("CREATE TABLE " + table + " (id int primary key, note text)");
  pg.sql("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
}

std::string wal_status(const PrivateCluster& pg, const std::string& slot) {
  return pg.sql("SELECT coalesce(wal_status, 'null') FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
}

// Makes the server throw away WAL `slot` still needs (max_slot_wal_keep_size = 1MB) until it is lost.
void lose_wal(const PrivateCluster& pg, const std::string& table, const std::string& slot) {
  for (int round = 0; round < 10 && wal_status(pg, slot) != "lost"; ++round) {
    pg.sql("INSERT INTO " + table + " SELECT g, 'filler' FROM generate_series(" + std::to_string(100 + round * 1000) +
           ", " + std::to_string(100 + round * 1000 + 500) + ") g");
    pg.sql("SELECT pg_switch_wal()");
    pg.sql("CHECKPOINT");
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE(wal_status(pg, slot) == "lost");
}

std::string invalidation_reason(const PrivateCluster& pg, const std::string& slot) {
  return pg.sql("SELECT coalesce(invalidation_reason, 'null') FROM pg_replication_slots WHERE slot_name = '" + slot +
                "'");
}

// The program started on an invalidated slot: exit 1 and one error line, which is returned.
std::string fatal_line_for(const PrivateCluster& pg, const std::string& slot, const std::string& pub) {
  const auto r = run_program(program_config(private_target(pg), slot, pub), scratch_dir("invalidated"));
  INFO(r.err);
  REQUIRE(r.code == 1);
  const auto errors = error_lines(r.err);
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0],
             Catch::Contains(slot) && Catch::Contains("sqlstate=55000") && Catch::Contains("Drop and re-create"));
  return errors[0];
}

const char* major_bin(const char* var) {
  const char* bin = std::getenv(var);
  INFO(var << " is exported by scripts/with_postgres.sh for every major scripts/install_pg_majors.sh installed");
  REQUIRE(bin != nullptr);
  return bin;
}

}  // namespace

TEST_CASE("WAL removed before the slot read it: the slot is invalidated and resuming is a fatal, specific error") {
  // max_slot_wal_keep_size below one segment: a checkpoint after a WAL switch removes what the
  // slots still need and invalidates them (wal_status = lost).
  PrivateClusterOptions options;
  options.conf = {"max_slot_wal_keep_size = 1MB", "wal_keep_size = 0"};
  PrivateCluster pg(options);
  const Target target = private_target(pg);
  const std::string table = unique_name("t");
  const std::string pub = unique_name("pub");
  table_and_publication(pg, table, pub);
  const std::string streaming_slot = unique_name("slot_active");
  const std::string idle_slot = unique_name("slot_idle");
  pg.sql("SELECT pg_create_logical_replication_slot('" + idle_slot + "', 'pgoutput')");
  const std::string dir = scratch_dir("walloss");

  Running r(program_config(target, streaming_slot, pub), dir, "active");
  require_streaming(r, [&] { return private_slot_active(pg, streaming_slot); });
  pg.sql("INSERT INTO " + table + " VALUES (1, 'before_loss')");
  require_output(r, "before_loss");

  // Freeze the program so its slot cannot advance, then make the server throw away WAL.
  r.child.signal(SIGSTOP);
  for (int round = 0; round < 10 && (wal_status(pg, streaming_slot) != "lost" || wal_status(pg, idle_slot) != "lost");
       ++round) {
    pg.sql("INSERT INTO " + table + " SELECT g, 'filler' FROM generate_series(" + std::to_string(100 + round * 1000) +
           ", " + std::to_string(100 + round * 1000 + 500) + ") g");
    pg.sql("SELECT pg_switch_wal()");
    pg.sql("CHECKPOINT");
    std::this_thread::sleep_for(100ms);
  }
  CHECK(wal_status(pg, idle_slot) == "lost");
  CHECK(wal_status(pg, streaming_slot) == "lost");
  r.child.signal(SIGCONT);

  SECTION("the streaming program loses its walsender, reconnects, and stops with exit 1 and one clear line") {
    INFO(r.log());
    REQUIRE(r.child.wait_exit(30s) == 1);
    const auto errors = error_lines(r.log());
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Contains("invalidated") && Catch::Contains("wal_status = lost") &&
                              Catch::Contains(streaming_slot) && Catch::Contains("sqlstate=55000"));
    // It did not silently replace the slot.
    CHECK(wal_status(pg, streaming_slot) == "lost");
  }
  SECTION("the transport refuses an invalidated slot at open(): fatal 55000, naming the slot") {
    LibpqTransportOptions o;
    o.slot_name = idle_slot;
    o.publication_names = {pub};
    LibpqTransport t(connection(target), o);
    auto st = t.start(Lsn{});
    REQUIRE_FALSE(st);
    CHECK_FALSE(st.error().retryable());
    CHECK(st.error().sqlstate == "55000");
    CHECK_THAT(st.error().message, Catch::Contains(idle_slot) && Catch::Contains("Drop and re-create"));
  }
}

TEST_CASE("17 and 18 name why a slot was invalidated (wal_removed; idle_timeout on 18) in the fatal line") {
  for (const char* var : {"REPLICATOR_PG17_BIN", "REPLICATOR_PG18_BIN"}) {
    INFO(var);
    PrivateClusterOptions options;
    options.bin = major_bin(var);
    options.conf = {"max_slot_wal_keep_size = 1MB", "wal_keep_size = 0"};
    PrivateCluster pg(options);
    const std::string table = unique_name("t");
    const std::string pub = unique_name("pub");
    table_and_publication(pg, table, pub);
    const std::string slot = unique_name("slot_walloss");
    pg.sql("SELECT pg_create_logical_replication_slot('" + slot + "', 'pgoutput')");
    lose_wal(pg, table, slot);
    CHECK(invalidation_reason(pg, slot) == "wal_removed");
    const std::string line = fatal_line_for(pg, slot, pub);
    CHECK_THAT(line, Catch::Contains("invalidation_reason = wal_removed") && Catch::Contains("max_slot_wal_keep_size"));
  }
}

TEST_CASE("a slot idle past idle_replication_slot_timeout on 18 is invalidated and the program says idle_timeout") {
  PrivateClusterOptions options;
  options.bin = major_bin("REPLICATOR_PG18_BIN");
  options.conf = {"idle_replication_slot_timeout = 1"};  // seconds; checked at each checkpoint
  PrivateCluster pg(options);
  const std::string table = unique_name("t");
  const std::string pub = unique_name("pub");
  table_and_publication(pg, table, pub);
  const std::string slot = unique_name("slot_idle");
  const std::string dir = scratch_dir("idle");
  {  // The program streams from the slot, then stops cleanly: the slot is idle from then on.
    Running r(program_config(private_target(pg), slot, pub), dir, "first");
    require_streaming(r, [&] { return private_slot_active(pg, slot); });
    pg.sql("INSERT INTO " + table + " VALUES (1, 'before_idle')");
    require_output(r, "before_idle");
    require_clean_stop(r);
  }
  for (int round = 0; round < 20 && invalidation_reason(pg, slot) != "idle_timeout"; ++round) {
    std::this_thread::sleep_for(500ms);
    pg.sql("CHECKPOINT");
  }
  REQUIRE(invalidation_reason(pg, slot) == "idle_timeout");
  const std::string line = fatal_line_for(pg, slot, pub);
  CHECK_THAT(line,
             Catch::Contains("invalidation_reason = idle_timeout") && Catch::Contains("idle_replication_slot_timeout"));
}

TEST_CASE("a PostgreSQL 13 server is refused at start with one line naming the supported majors") {
  PrivateClusterOptions options;
  options.bin = major_bin("REPLICATOR_PG13_BIN");
  PrivateCluster pg(options);
  const std::string table = unique_name("t");
  const std::string pub = unique_name("pub");
  table_and_publication(pg, table, pub);
  const std::string slot = unique_name("slot_13");
  const auto r = run_program(program_config(private_target(pg), slot, pub), scratch_dir("pg13"));
  INFO(r.err);
  CHECK(r.code == 1);
  const auto errors = error_lines(r.err);
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains("PostgreSQL 13") &&
                            Catch::Contains("is not supported as a replication source") &&
                            Catch::Contains("PostgreSQL 14 to 18"));
  // Refused before anything was created on the server.
  CHECK(pg.sql("SELECT count(*) FROM pg_replication_slots") == "0");
}

TEST_CASE("a slot dropped while streaming is a fatal error, never silently re-created") {
  const Target target = Target::shared();
  PgSession admin;
  const std::string table = unique_name("t");
  const std::string pub = unique_name("pub");
  const std::string slot = unique_name("slot_dropped");
  admin.exec("CREATE TABLE " + table + " (id int primary key, note text)");
  CleanupSql drop_table("DROP TABLE IF EXISTS " + table);
  admin.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  CleanupSql drop_pub("DROP PUBLICATION IF EXISTS " + pub);
  CleanupSql drop_slot(drop_slot_sql(slot));
  const std::string dir = scratch_dir("dropped");

  // reconnect_initial_ms long enough that the drop below lands between the kill and the reconnect.
  Running r(program_config(target, slot, pub, "reconnect_initial_ms: 1500\nreconnect_max_ms: 3000\n"), dir, "run");
  require_streaming(r, [&] { return slot_active(admin, slot); });
  admin.exec("INSERT INTO " + table + " VALUES (1, 'streamed_once')");
  require_output(r, "streamed_once");
  const std::string pid =
      admin.scalar("SELECT active_pid FROM pg_replication_slots WHERE slot_name = '" + slot + "'").value_or("");
  REQUIRE_FALSE(pid.empty());
  admin.exec("SELECT pg_terminate_backend(" + pid + ", 10000)");
  admin.exec("SELECT pg_drop_replication_slot('" + slot + "')");
  admin.exec("INSERT INTO " + table + " VALUES (2, 'would_be_lost')");

  INFO(r.log());
  REQUIRE(r.child.wait_exit(30s) == 1);
  const auto errors = error_lines(r.log());
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0], Catch::Contains(slot) && Catch::Contains("no longer exists"));
  CHECK_FALSE(slot_exists(admin, slot));  // not re-created at the current WAL position
  CHECK_FALSE(r.output_has("would_be_lost"));
}

TEST_CASE("a stored position from another cluster, another timeline or beyond the server's WAL is refused") {
  PrivateCluster pg;
  const Target a = private_target(pg);
  const std::string table = unique_name("t");
  const std::string pub = unique_name("pub");
  table_and_publication(pg, table, pub);
  const std::string slot = unique_name("slot_moved");
  const std::string dir = scratch_dir("moved");
  const std::string pos_file = dir + "/position";
  const std::string store = "position_store: file\nposition_file: " + pos_file + "\n";

  {  // Stream one change from cluster A and stop cleanly: the position file names A and timeline 1.
    Running r(program_config(a, slot, pub, store), dir, "first");
    require_streaming(r, [&] { return private_slot_active(pg, slot); });
    pg.sql("INSERT INTO " + table + " VALUES (1, 'on_cluster_a')");
    require_output(r, "on_cluster_a");
    require_clean_stop(r);
  }
  auto stored = FilePositionStore(pos_file).load();
  REQUIRE(stored);
  REQUIRE(stored->has_value());
  const Position saved = **stored;
  CHECK(std::to_string(saved.system_id) == pg.sql("SELECT system_identifier FROM pg_control_system()"));
  CHECK(saved.timeline == 1);

  SECTION("pointed at another cluster: exit 1, 'wrong cluster', nothing created there") {
    const Target b = Target::shared();
    PgSession admin;
    admin.exec("CREATE PUBLICATION " + pub + " FOR ALL TABLES");
    CleanupSql drop_pub("DROP PUBLICATION IF EXISTS " + pub);
    CleanupSql drop_slot(drop_slot_sql(slot));
    const auto run = run_program(program_config(b, slot, pub, store), dir);
    INFO(run.err);
    CHECK(run.code == 1);
    const auto errors = error_lines(run.err);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Contains("wrong cluster") && Catch::Contains(std::to_string(saved.system_id)));
    CHECK_FALSE(slot_exists(admin, slot));  // refused before the slot was created on the wrong server
  }
  SECTION("a position ahead of the server's WAL end (restored from a backup?): exit 1") {
    Position ahead = saved;
    ahead.lsn = Lsn{saved.lsn.value() + (std::uint64_t{1} << 36)};
    REQUIRE(FilePositionStore(pos_file).save(ahead));
    const auto run = run_program(program_config(a, slot, pub, store), dir);
    INFO(run.err);
    CHECK(run.code == 1);
    const auto errors = error_lines(run.err);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Contains("ahead of the server's WAL end") && Catch::Contains(ahead.lsn.to_string()));
  }
  SECTION("the server was promoted to a new timeline: exit 1, 'timeline changed', the slot untouched") {
    // Restart A as a standby of itself and promote it: timeline 2, the slot survives (as after a
    // restore from a file-level backup), so only the timeline check stands in the way.
    pg.stop("fast");
    pg.start_as_standby();
    pg.promote();
    REQUIRE(wait_until([&] { return pg.sql("SELECT pg_is_in_recovery()") == "f"; }, 30s));
    REQUIRE(pg.sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "'") == "1");
    const std::string confirmed =
        pg.sql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
    const auto run = run_program(program_config(a, slot, pub, store), dir);
    INFO(run.err);
    CHECK(run.code == 1);
    const auto errors = error_lines(run.err);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0],
               Catch::Contains("timeline changed") && Catch::Contains("timeline 2") && Catch::Contains("timeline 1"));
    CHECK(pg.sql("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '" + slot + "'") == confirmed);
  }
}

TEST_CASE("a replication connection silent longer than replication_timeout_ms is reconnected") {
  PrivateCluster pg;
  const Target target = private_target(pg);
  const std::string table = unique_name("t");
  const std::string pub = unique_name("pub");
  table_and_publication(pg, table, pub);
  const std::string slot = unique_name("slot_silent");
  const std::string dir = scratch_dir("silent");

  Running r(program_config(target, slot, pub, "replication_timeout_ms: 1000\n"), dir, "run");
  require_streaming(r, [&] { return private_slot_active(pg, slot); });
  pg.sql("INSERT INTO " + table + " VALUES (1, 'before_freeze')");
  require_output(r, "before_freeze");
  const std::string walsender = pg.sql("SELECT active_pid FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
  REQUIRE_FALSE(walsender.empty());

  // A frozen walsender sends nothing, not even keepalives: like a dead network or a hung server.
  pg.freeze(static_cast<pid_t>(std::stol(walsender)));
  REQUIRE(wait_until([&] { return r.log().find("no data or keepalive from the server") != std::string::npos; }, 15s));
  pg.sql("INSERT INTO " + table + " VALUES (2, 'while_frozen')");
  std::this_thread::sleep_for(500ms);  // the new connection meets the old walsender's slot: 55006, retried
  pg.resume();
  pg.sql("INSERT INTO " + table + " VALUES (3, 'after_thaw')");
  require_output(r, "while_frozen");
  require_output(r, "after_thaw");
  const std::string log = r.log();
  CHECK(lines_with(log, "level=warn").size() >= 1);
  CHECK(error_lines(log).empty());
  CHECK(pg.sql("SELECT active_pid FROM pg_replication_slots WHERE slot_name = '" + slot + "'") != walsender);
  require_clean_stop(r);
}
