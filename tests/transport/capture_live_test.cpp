// The capture and decode programs against the real server: capture a small workload from a slot,
// replay it, and check the JSON lines; decode must stop with an offset on a truncated file.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "replicator/format/pgoutput_json.hpp"
#include "replicator/pgoutput/decoder.hpp"
#include "replicator/transport/replay.hpp"
#include "tests/data/corpus.hpp"
#include "tests/support/pg.hpp"

using namespace replicator;
using replicator::test::CleanupSql;
using replicator::test::PgSession;
using replicator::test::unique_name;

namespace {

std::string tmpdir() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t ? t : "/tmp";
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

// Runs a command line; returns its exit status.
int run(const std::string& cmd) {
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string conninfo() {
  using replicator::test::env_or;
  return "host=" + env_or("PGHOST") + " port=" + env_or("PGPORT") + " user=" + env_or("PGUSER", "postgres") +
         " dbname=" + env_or("PGDATABASE", "postgres");
}

}  // namespace

TEST_CASE("capture records a live stream that replays and decodes to the expected JSON") {
  if (!replicator::test::have_server()) {
    WARN("PGHOST/PGPORT not set: skipped (run under scripts/with_postgres.sh)");
    return;
  }
  PgSession db;
  const std::string table = unique_name("replay_cap");
  const std::string pub = unique_name("replay_pub");
  const std::string slot = unique_name("replay_slot");
  CleanupSql drop_table("DROP TABLE IF EXISTS " + db.quote_ident(table));
  CleanupSql drop_pub("DROP PUBLICATION IF EXISTS " + db.quote_ident(pub));
  CleanupSql drop_slot("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = " +
                       db.quote_literal(slot));
  db.exec("CREATE TABLE " + db.quote_ident(table) + " (id int PRIMARY KEY, v text)");
  db.exec("CREATE PUBLICATION " + db.quote_ident(pub) + " FOR TABLE " + db.quote_ident(table));
  db.exec("SELECT pg_create_logical_replication_slot(" + db.quote_literal(slot) + ", 'pgoutput')");
  db.exec("INSERT INTO " + db.quote_ident(table) + " VALUES (1, 'one'), (2, NULL), (3, E'tab\\there \"q\" é')");
  db.exec("UPDATE " + db.quote_ident(table) + " SET v = 'uno' WHERE id = 1");
  db.exec("DELETE FROM " + db.quote_ident(table) + " WHERE id = 2");
  const auto end = db.scalar("SELECT pg_current_wal_lsn()::text");
  REQUIRE(end);

  const std::string capture = replicator::test::runfile("tools/capture");
  const std::string decode = replicator::test::runfile("tools/decode");
  const std::string file = tmpdir() + "/" + slot + ".stream";
  const std::string cmd = capture + " --dbname " + shell_quote(conninfo()) + " --slot " + shell_quote(slot) +
                          " --option proto_version=1 --option publication_names=" + shell_quote(pub) + " --end-lsn " +
                          *end + " --idle-timeout-ms 5000 --output " + shell_quote(file);
  REQUIRE(run(cmd) == 0);

  // Replay + decode + format in-process.
  auto t = transport::ReplayTransport::open(file);
  REQUIRE(t);
  REQUIRE(t->start(Lsn::invalid()));
  pgoutput::PgOutputDecoder decoder;
  format::JsonMessageFormatter fmt;
  std::string lines;
  Lsn last_commit_end;
  while (true) {
    auto ev = t->poll(std::chrono::milliseconds(0));
    REQUIRE(ev);
    if (std::holds_alternative<EndOfStream>(*ev)) break;
    const auto& w = std::get<WalMessage>(*ev);
    auto m = decoder.decode(w.payload, w.offset);
    REQUIRE(m);
    if (const auto* c = std::get_if<pgoutput::CommitView>(&*m)) last_commit_end = c->end_lsn;
    REQUIRE(fmt.append(lines, w.wal_start, *m, w.offset));
    lines += '\n';
  }
  CHECK_THAT(lines,
             Catch::Contains("\"schema\":\"public\",\"table\":\"" + table + "\",\"new\":{\"id\":\"1\",\"v\":\"one\"}"));
  CHECK_THAT(lines, Catch::Contains("\"new\":{\"id\":\"2\",\"v\":null}"));
  CHECK_THAT(lines, Catch::Contains("\"new\":{\"id\":\"3\",\"v\":\"tab\\there \\\"q\\\" é\"}"));
  CHECK_THAT(lines, Catch::Contains("{\"op\":\"update\""));
  CHECK_THAT(lines, Catch::Contains("\"new\":{\"id\":\"1\",\"v\":\"uno\"}"));
  CHECK_THAT(lines, Catch::Contains("{\"op\":\"delete\""));
  CHECK_THAT(lines, Catch::Contains("\"key\":{\"id\":\"2\"}"));
  REQUIRE(last_commit_end.is_valid());

  // The decode program prints the same lines.
  const std::string out = tmpdir() + "/" + slot + ".jsonl";
  REQUIRE(run(decode + " " + shell_quote(file) + " > " + shell_quote(out)) == 0);
  CHECK(slurp(out) == lines);

  // capture confirmed what it wrote: the slot moved to the last commit.
  const auto confirmed = db.scalar("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = " +
                                   db.quote_literal(slot));
  REQUIRE(confirmed);
  CHECK(*Lsn::parse(*confirmed) >= last_commit_end);

  // A truncated file: decode prints what came before and fails with the offset.
  const std::string whole = slurp(file);
  const std::string cut = tmpdir() + "/" + slot + ".cut.stream";
  {
    std::ofstream o(cut, std::ios::binary);
    o.write(whole.data(), static_cast<std::streamsize>(whole.size() - 3));
  }
  const std::string err = tmpdir() + "/" + slot + ".err";
  CHECK(run(decode + " " + shell_quote(cut) + " > " + shell_quote(out) + " 2> " + shell_quote(err)) == 1);
  const std::string partial = slurp(out);
  CHECK(partial.size() < lines.size());
  CHECK(lines.compare(0, partial.size(), partial) == 0);
  CHECK(std::count(partial.begin(), partial.end(), '\n') == std::count(lines.begin(), lines.end(), '\n') - 1);
  CHECK_THAT(slurp(err), Catch::Contains("truncated frame at offset"));
}

TEST_CASE("capture creates a slot, stops when idle and reports errors clearly") {
  if (!replicator::test::have_server()) {
    WARN("PGHOST/PGPORT not set: skipped (run under scripts/with_postgres.sh)");
    return;
  }
  PgSession db;
  const std::string slot = unique_name("replay_newslot");
  const std::string pub = unique_name("replay_pub");
  CleanupSql drop_slot("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = " +
                       db.quote_literal(slot));
  CleanupSql drop_pub("DROP PUBLICATION IF EXISTS " + db.quote_ident(pub));
  db.exec("CREATE PUBLICATION " + db.quote_ident(pub));
  const std::string capture = replicator::test::runfile("tools/capture");
  const std::string file = tmpdir() + "/" + slot + ".stream";
  const std::string base = capture + " --dbname " + shell_quote(conninfo()) + " --slot " + shell_quote(slot) +
                           " --option proto_version=1 --option publication_names=" + shell_quote(pub) +
                           " --idle-timeout-ms 300 --output " + shell_quote(file);
  REQUIRE(run(base + " --create-slot --two-phase") == 0);
  CHECK(slurp(file).empty());
  CHECK(db.scalar("SELECT two_phase::text FROM pg_replication_slots WHERE slot_name = " + db.quote_literal(slot)) ==
        std::optional<std::string>("true"));
  // Creating it again fails: non-zero exit with the server's message.
  const std::string err = tmpdir() + "/" + slot + ".err";
  CHECK(run(base + " --create-slot 2> " + shell_quote(err)) == 1);
  CHECK_THAT(slurp(err),
             Catch::Contains("capture: creating the replication slot") && Catch::Contains("already exists"));
  // Bad arguments.
  CHECK(run(capture + " --slot x --output /dev/null 2> " + shell_quote(err)) == 1);
  CHECK_THAT(slurp(err), Catch::Contains("--dbname is required"));
  CHECK(run(base + " --option nonsense=1 2> " + shell_quote(err)) == 1);
  CHECK_THAT(slurp(err), Catch::Contains("unknown --option key: nonsense"));
  // A temporary slot lives only as long as the capture.
  const std::string tmp_slot = unique_name("replay_tmpslot");
  REQUIRE(run(capture + " --dbname " + shell_quote(conninfo()) + " --slot " + tmp_slot +
              " --create-slot --temporary --option proto_version=1 --option publication_names=" + shell_quote(pub) +
              " --idle-timeout-ms 200 --output " + shell_quote(file)) == 0);
  CHECK_FALSE(db.scalar("SELECT slot_name FROM pg_replication_slots WHERE slot_name = " + db.quote_literal(tmp_slot)));
}
