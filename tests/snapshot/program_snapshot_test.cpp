// The `replicator` program's initial snapshot against the real PostgreSQL: snapshot_mode initial
// (default), never and initial_only, and a snapshot killed mid-copy then restarted: complete,
// correct output with no gap.
#include <signal.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/program/process.hpp"
#include "tests/support/pg.hpp"

using namespace replicator::test;
using namespace std::chrono_literals;

namespace {

std::string config(const std::string& slot, const std::string& pub, const std::string& dir, const std::string& extra) {
  return "postgresql_host: " + yaml_quote(env_or("PGHOST", "127.0.0.1")) + "\n" +
         "postgresql_port: " + env_or("PGPORT", "5432") + "\n" +
         "postgresql_database: " + yaml_quote(env_or("PGDATABASE", "postgres")) + "\n" +
         "postgresql_user: " + yaml_quote(env_or("PGUSER", "postgres")) + "\n" + "postgresql_slot_name: " + slot +
         "\n" + "postgresql_publication_name: " + yaml_quote(pub) + "\n" +
         "status_interval_ms: 200\nbatch_max_delay_ms: 10\n"
         "position_store: file\nposition_file: " +
         dir + "/pos\n" + extra;
}

std::string scratch(const std::string& name) {
  const std::string dir = test_tmpdir() + "/" + unique_name(name);
  REQUIRE(std::system(("mkdir -p '" + dir + "'").c_str()) == 0);
  return dir;
}

std::string drop_slot_sql(const std::string& slot) {
  return "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot + "'";
}

bool slot_exists(const PgSession& db, const std::string& slot, bool active_only = false) {
  return db.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "'" +
                   (active_only ? " AND active" : ""))
             .value_or("0") == "1";
}

// One output line: op, table, and the "id" column (new tuple, or key for deletes).
struct Line {
  std::string op;
  std::string table;
  std::string id;
  std::string v;
};

std::string field(const std::string& line, const std::string& key, std::size_t from = 0) {
  const std::string pat = "\"" + key + "\":\"";
  const auto at = line.find(pat, from);
  if (at == std::string::npos) return {};
  const auto start = at + pat.size();
  const auto end = line.find('"', start);
  return line.substr(start, end - start);
}

std::vector<Line> rows_in(const std::string& path) {
  std::vector<Line> out;
  for (const auto& l : read_lines(path)) {
    Line r;
    r.op = field(l, "op");
    if (r.op != "read" && r.op != "insert" && r.op != "update" && r.op != "delete") continue;
    r.table = field(l, "table");
    const auto tuple = l.find(r.op == "delete" ? "\"key\":" : "\"new\":");
    r.id = field(l, "id", tuple == std::string::npos ? 0 : tuple);
    r.v = field(l, "v", tuple == std::string::npos ? 0 : tuple);
    out.push_back(r);
  }
  return out;
}

std::size_t count_op(const std::vector<Line>& rows, const std::string& op) {
  std::size_t n = 0;
  for (const auto& r : rows) n += r.op == op;
  return n;
}

// Waits until the program streams (the slot is active after the snapshot); false if it exits first.
// Also waits for the program's "streaming" log line: a slot is already active while
// CREATE_REPLICATION_SLOT waits for its consistent point, and a row committed then is not streamed.
bool wait_streaming(const PgSession& db, const std::string& slot, Child& child, const std::string& log_path,
                    std::chrono::milliseconds t = 30s) {
  return wait_until([&] { return slot_exists(db, slot, true) || !child.running(); }, t) &&
         wait_until([&] { return read_file(log_path).find("msg=streaming") != std::string::npos || !child.running(); },
                    t) &&
         child.running();
}

// Replays reads and changes for one table: a read/insert of a present row or an update/delete of
// an absent one is a duplicate or a gap. Returns id -> v.
std::map<std::string, std::string> replay(const std::vector<Line>& rows, const std::string& table) {
  std::map<std::string, std::string> state;
  for (const auto& r : rows) {
    if (r.table != table) continue;
    INFO(r.op << " " << r.id);
    if (r.op == "read" || r.op == "insert") {
      CHECK(state.count(r.id) == 0);
      state[r.id] = r.v;
    } else if (r.op == "update") {
      CHECK(state.count(r.id) == 1);
      state[r.id] = r.v;
    } else if (r.op == "delete") {
      CHECK(state.count(r.id) == 1);
      state.erase(r.id);
    }
  }
  return state;
}

std::map<std::string, std::string> table_state(const PgSession& db, const std::string& table) {
  std::map<std::string, std::string> out;
  for (const auto& row : db.query("SELECT id::text, v FROM " + table)) out[*row[0]] = row[1].value_or("");
  return out;
}

// The last 4 KiB of a file (cheap to poll on a big output).
std::string tail_of(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return {};
  const auto size = static_cast<std::streamoff>(f.tellg());
  const std::streamoff from = size > 4096 ? size - 4096 : 0;
  f.seekg(from);
  std::string out(static_cast<std::size_t>(size - from), '\0');
  f.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

std::size_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::size_t>(st.st_size) : 0;
}

// A table (id int PRIMARY KEY, v text) of `rows` rows, v = `value_sql` of g, and its publication;
// both dropped at the end with `slots`.
struct PublishedTable {
  std::string table, pub;
  CleanupSql cleanup;
  PublishedTable(PgSession& db, const std::string& name, int rows, const std::string& value_sql,
                 const std::vector<std::string>& slots)
      : table(unique_name(name)), pub(unique_name(name + "_pub")), cleanup(drop_sql(table, pub, slots)) {
    db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, v text)");
    db.exec("INSERT INTO " + table + " SELECT g, " + value_sql + " FROM generate_series(1, " + std::to_string(rows) +
            ") g");
    db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  }
  static std::string drop_sql(const std::string& table, const std::string& pub, const std::vector<std::string>& slots) {
    std::string sql = "DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + table;
    for (const auto& slot : slots) sql += "; " + drop_slot_sql(slot);
    return sql;
  }
};

}  // namespace

TEST_CASE("snapshot_mode initial (default): existing rows as reads, then changes; a restart streams only") {
  PgSession db;
  const std::string slot = unique_name("psnap_init");
  const PublishedTable published(db, "psnap_init", 3000, "'row ' || g", {slot});
  const std::string &table = published.table, &pub = published.pub;
  const std::string dir = scratch("psnap_init");
  write_file(dir + "/c.yaml", config(slot, pub, dir, ""));

  {
    Child child({program_path(), "--config", dir + "/c.yaml"}, dir + "/out1.jsonl", dir + "/err1.log");
    REQUIRE(wait_streaming(db, slot, child, dir + "/err1.log"));
    db.exec("INSERT INTO " + table + " VALUES (3001, 'new')");
    db.exec("UPDATE " + table + " SET v = 'changed' WHERE id = 1");
    db.exec("DELETE FROM " + table + " WHERE id = 2");
    REQUIRE(wait_until([&] { return rows_in(dir + "/out1.jsonl").size() >= 3003; }, 20s));
    child.signal(SIGTERM);
    REQUIRE(child.wait_exit(20s) == 0);
  }
  const auto rows = rows_in(dir + "/out1.jsonl");
  const std::string log = read_file(dir + "/err1.log");
  INFO(log);
  CHECK(rows.size() == 3003);
  CHECK(count_op(rows, "read") == 3000);
  CHECK(rows.back().op == "delete");
  CHECK(log.find("snapshot complete") != std::string::npos);
  CHECK(log.find("level=error") == std::string::npos);
  CHECK(replay(rows, table) == table_state(db, table));

  // Second run: the position is stored, so no snapshot, only what changed meanwhile.
  db.exec("INSERT INTO " + table + " VALUES (3002, 'while stopped')");
  {
    Child child({program_path(), "--config", dir + "/c.yaml"}, dir + "/out2.jsonl", dir + "/err2.log");
    REQUIRE(wait_until([&] { return !rows_in(dir + "/out2.jsonl").empty(); }, 20s));
    std::this_thread::sleep_for(300ms);
    child.signal(SIGINT);
    REQUIRE(child.wait_exit(20s) == 0);
  }
  const auto rows2 = rows_in(dir + "/out2.jsonl");
  REQUIRE(rows2.size() == 1);
  CHECK(rows2[0].op == "insert");
  CHECK(rows2[0].id == "3002");
  CHECK(read_file(dir + "/err2.log").find("no snapshot") != std::string::npos);
}

TEST_CASE("snapshot_mode never streams only; initial_only copies, exits 0, and a later run has no gap") {
  PgSession db;
  const std::string slot_never = unique_name("psnap_never");
  const std::string slot_only = unique_name("psnap_only");
  const PublishedTable published(db, "psnap_modes", 500, "'row ' || g", {slot_never, slot_only});
  const std::string &table = published.table, &pub = published.pub;

  // never: no read events at all.
  {
    const std::string dir = scratch("psnap_never");
    write_file(dir + "/c.yaml", config(slot_never, pub, dir, "snapshot_mode: never\n"));
    Child child({program_path(), "--config", dir + "/c.yaml"}, dir + "/out.jsonl", dir + "/err.log");
    REQUIRE(wait_streaming(db, slot_never, child, dir + "/err.log"));
    db.exec("INSERT INTO " + table + " VALUES (501, 'x')");
    REQUIRE(wait_until([&] { return !rows_in(dir + "/out.jsonl").empty(); }, 20s));
    std::this_thread::sleep_for(200ms);
    child.signal(SIGTERM);
    REQUIRE(child.wait_exit(20s) == 0);
    const auto rows = rows_in(dir + "/out.jsonl");
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].op == "insert");
    CHECK(count_op(rows, "read") == 0);
  }

  // initial_only: the copy, exit 0 by itself; the slot stays at the consistent point.
  const std::string dir = scratch("psnap_only");
  write_file(dir + "/c.yaml", config(slot_only, pub, dir, "snapshot_parallelism: 1\n"));
  {
    Child child({program_path(), "--config", dir + "/c.yaml", "--snapshot-mode=initial_only"}, dir + "/out1.jsonl",
                dir + "/err1.log");
    const int code = child.wait_exit(30s);
    INFO(read_file(dir + "/err1.log"));
    REQUIRE(code == 0);
  }
  const auto rows1 = rows_in(dir + "/out1.jsonl");
  CHECK(rows1.size() == 501);
  CHECK(count_op(rows1, "read") == 501);
  CHECK(slot_exists(db, slot_only));
  CHECK_FALSE(slot_exists(db, slot_only, true));
  CHECK(read_file(dir + "/pos").find("lsn=0/0\n") == std::string::npos);  // completion recorded

  // Changes between the runs come from the slot: nothing lost, nothing repeated.
  db.exec("INSERT INTO " + table + " VALUES (502, 'between')");
  db.exec("UPDATE " + table + " SET v = 'between' WHERE id = 10");
  {
    Child child({program_path(), "--config", dir + "/c.yaml"}, dir + "/out2.jsonl", dir + "/err2.log");
    REQUIRE(wait_until([&] { return rows_in(dir + "/out2.jsonl").size() >= 2; }, 20s));
    std::this_thread::sleep_for(300ms);
    child.signal(SIGTERM);
    REQUIRE(child.wait_exit(20s) == 0);
  }
  const auto rows2 = rows_in(dir + "/out2.jsonl");
  REQUIRE(rows2.size() == 2);
  CHECK(rows2[0].op == "insert");
  CHECK(rows2[1].op == "update");
  std::vector<Line> all = rows1;
  all.insert(all.end(), rows2.begin(), rows2.end());
  CHECK(replay(all, table) == table_state(db, table));

  // initial_only with postgresql_drop_slot_on_exit: a one-shot copy that leaves no slot.
  const std::string slot_once = unique_name("psnap_once");
  CleanupSql cleanup_once(drop_slot_sql(slot_once));
  const std::string dir3 = scratch("psnap_once");
  write_file(dir3 + "/c.yaml",
             config(slot_once, pub, dir3, "snapshot_mode: initial_only\npostgresql_drop_slot_on_exit: true\n"));
  {
    Child child({program_path(), "--config", dir3 + "/c.yaml"}, dir3 + "/out.jsonl", dir3 + "/err.log");
    const int code = child.wait_exit(30s);
    INFO(read_file(dir3 + "/err.log"));
    REQUIRE(code == 0);
  }
  CHECK(count_op(rows_in(dir3 + "/out.jsonl"), "read") == 502);
  CHECK_FALSE(slot_exists(db, slot_once));
}

TEST_CASE("a snapshot killed mid-copy is redone on restart: complete output, no gap") {
  PgSession db;
  const std::string slot = unique_name("psnap_kill");
  const PublishedTable published(db, "psnap_kill", 200000, "repeat('x', 100)", {slot});
  const std::string &table = published.table, &pub = published.pub;
  const std::string dir = scratch("psnap_kill");
  write_file(dir + "/c.yaml", config(slot, pub, dir, "snapshot_parallelism: 1\n"));

  // First run: SIGKILL as soon as the first rows reach the output.
  {
    Child child({program_path(), "--config", dir + "/c.yaml"}, dir + "/out1.jsonl", dir + "/err1.log");
    const auto end = std::chrono::steady_clock::now() + 30s;
    while (file_size(dir + "/out1.jsonl") == 0 && child.running() && std::chrono::steady_clock::now() < end)
      std::this_thread::sleep_for(1ms);
    child.signal(SIGKILL);
    child.wait_exit(10s);
  }
  const auto partial = rows_in(dir + "/out1.jsonl");
  INFO(read_file(dir + "/err1.log"));
  REQUIRE(partial.size() < 200000);                                       // killed mid-copy
  CHECK(read_file(dir + "/pos").find("lsn=0/0\n") != std::string::npos);  // the marker: not completed
  REQUIRE(slot_exists(db, slot));                                         // left behind by the kill

  // Changes while nothing runs: they must show up after the restart.
  db.exec("INSERT INTO " + table + " VALUES (200001, 'while down')");
  db.exec("UPDATE " + table + " SET v = 'while down' WHERE id = 7");
  db.exec("DELETE FROM " + table + " WHERE id = 8");

  {
    Child child({program_path(), "--config", dir + "/c.yaml"}, dir + "/out2.jsonl", dir + "/err2.log");
    REQUIRE(wait_streaming(db, slot, child, dir + "/err2.log", 40s));
    db.exec("INSERT INTO " + table + " VALUES (-1, 'after')");
    REQUIRE(wait_until([&] { return tail_of(dir + "/out2.jsonl").find("\"id\":\"-1\"") != std::string::npos; }, 30s));
    child.signal(SIGTERM);
    REQUIRE(child.wait_exit(20s) == 0);
  }
  const std::string log2 = read_file(dir + "/err2.log");
  INFO(log2);
  CHECK(log2.find("restarted=true") != std::string::npos);
  const auto rows = rows_in(dir + "/out2.jsonl");
  CHECK(count_op(rows, "read") == 200000);  // 200000 - 1 deleted + 1 inserted while down
  CHECK(replay(rows, table) == table_state(db, table));
}
