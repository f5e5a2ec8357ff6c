// Initial snapshot against the real PostgreSQL: exported snapshot + COPY + stream from the consistent
// point (no gap, no duplicate under concurrent writes), parallel tables, quoted identifiers, NULLs,
// unicode, binary COPY, publication column lists and row filters, and the restart rules.
#include "replicator/snapshot/snapshot.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "replicator/live.hpp"
#include "tests/support/env_config.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/tcp_relay.hpp"

using namespace replicator;
using replicator::test::env_config;
using namespace replicator::snapshot;
using namespace std::chrono_literals;
using test::CleanupSql;
using test::PgSession;
using test::unique_name;

namespace {

using Values = std::map<std::string, std::optional<std::string>>;

struct Seen {
  std::string op;
  std::string schema;
  std::string table;
  Values values;           // new tuple (old tuple for deletes), by column name
  std::string raw_first;   // first column's raw bytes (binary checks)
  std::vector<bool> keys;  // relation key flags
  Lsn lsn;
  Lsn commit_lsn;
};

// Records every row event it is given; shared by the snapshot's workers (under their sink mutex)
// and, later, the Replicator.
struct Recorder {
  std::mutex m;
  std::vector<Seen> rows;
  int flushes = 0;
  bool sentinel = false;  // an insert whose first column is -1 was written
};

struct RecordingSink {
  Recorder* rec;
  Status write(const Batch& batch) {
    std::lock_guard lock(rec->m);
    for (const ChangeEvent& e : batch.events()) {
      const auto* r = std::get_if<RowChangeView>(&e);
      if (r == nullptr) continue;
      Seen s;
      s.op = std::string(to_string(r->op));
      s.schema = r->relation->schema;
      s.table = r->relation->name;
      s.lsn = r->lsn;
      s.commit_lsn = r->txn.commit_lsn;
      const TupleView& t = r->row();
      std::size_t i = 0;
      for (ColumnValueView v : t) {
        const auto& name = r->relation->columns[i++].name;
        if (i == 1) s.raw_first = std::string(v.text());
        s.values[name] = v.is_null() ? std::nullopt : std::optional<std::string>(std::string(v.text()));
      }
      for (const auto& c : r->relation->columns) s.keys.push_back(c.is_key);
      if (s.op == "insert" && s.raw_first == "-1") rec->sentinel = true;
      rec->rows.push_back(std::move(s));
    }
    return ok_status();
  }
  Status flush() {
    std::lock_guard lock(rec->m);
    ++rec->flushes;
    return ok_status();
  }
};
static_assert(SinkPolicy<RecordingSink>);

std::vector<Seen> rows_of(Recorder& rec, const std::string& table) {
  std::lock_guard lock(rec.m);
  std::vector<Seen> out;
  for (const auto& s : rec.rows)
    if (s.table == table) out.push_back(s);
  return out;
}

SnapshotOptions options(const std::string& slot, const std::string& pub) {
  SnapshotOptions o;
  o.slot_name = slot;
  o.publication_names = {pub};
  o.progress_interval = 50ms;
  return o;
}

std::string drop_slot_sql(const std::string& slot) {
  return "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" + slot + "'";
}

bool slot_exists(const PgSession& db, const std::string& slot) {
  return db.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "'").value_or("0") == "1";
}

}  // namespace

TEST_CASE("concurrent writes across the snapshot boundary: every row exactly once, final state matches") {
  PgSession db;
  const std::string table = unique_name("snap_conc");
  const std::string pub = unique_name("snap_conc_pub");
  const std::string slot = unique_name("snap_conc");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + table + "; " +
                     drop_slot_sql(slot));
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, v text)");
  db.exec("INSERT INTO " + table + " SELECT g, 'initial ' || g FROM generate_series(1, 20000) g");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);

  // A writer that commits small transactions (insert, update, delete) until told to stop.
  std::atomic<bool> stop_writer{false};
  std::atomic<int> commits{0};
  std::thread writer([&] {
    PgSession w;
    std::mt19937 rng(42);
    int next_id = 20001;
    while (!stop_writer.load()) {
      const int pick = static_cast<int>(rng() % 3);
      const int id = 1 + static_cast<int>(rng() % static_cast<unsigned>(next_id - 1));
      if (pick == 0) {
        w.exec("INSERT INTO " + table + " VALUES (" + std::to_string(next_id++) + ", 'inserted')");
      } else if (pick == 1) {
        w.exec("UPDATE " + table + " SET v = 'updated " + std::to_string(commits.load()) +
               "' WHERE id = " + std::to_string(id));
      } else {
        w.exec("DELETE FROM " + table + " WHERE id = " + std::to_string(id));
      }
      ++commits;
    }
  });
  while (commits.load() < 20) std::this_thread::sleep_for(1ms);  // the writer is going

  Recorder rec;
  RecordingSink sink{&rec};
  MemoryPositionStore store;
  std::atomic<bool> stop{false};
  const int before = commits.load();
  auto report = run_initial_snapshot(env_config(), options(slot, pub), store, sink, stop);
  if (!report) FAIL(report.error().message);
  const int during = commits.load() - before;
  std::this_thread::sleep_for(100ms);
  stop_writer = true;
  writer.join();
  REQUIRE(report->outcome == SnapshotOutcome::completed);
  CHECK(report->tables == 1);
  REQUIRE(store.position());
  CHECK(store.position()->lsn == report->consistent_point);
  CHECK(store.position()->slot == slot);
  CHECK(during > 0);  // the writer committed while the snapshot ran
  const std::size_t reads = rows_of(rec, table).size();
  CHECK(reads == report->rows);
  for (const auto& s : rows_of(rec, table)) {
    CHECK(s.op == "read");
    CHECK(s.lsn == report->consistent_point);
  }

  // A sentinel written after the writer stopped ends the stream check.
  db.exec("INSERT INTO " + table + " VALUES (-1, 'sentinel')");
  LibpqTransportOptions to;
  to.slot_name = slot;
  to.publication_names = {pub};
  to.create_slot = false;
  LiveReplicator<RecordingSink, TransactionBatcher, MemoryPositionStore> r(
      LibpqTransport(env_config(), to), PgOutputEventDecoder{}, TransactionBatcher{}, std::move(store),
      RecordingSink{&rec}, ReplicatorOptions{.slot_name = slot, .status_interval = 200ms});
  REQUIRE(r.start());
  auto sentinel_seen = [&] {
    std::lock_guard lock(rec.m);
    return rec.sentinel;
  };
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!sentinel_seen() && std::chrono::steady_clock::now() < deadline) REQUIRE(r.run_once(100ms));
  INFO("rows recorded: " << rows_of(rec, table).size() << ", reads: " << reads << ", commits: " << commits.load()
                         << ", messages: " << r.stats().messages << ", events: " << r.stats().events);
  REQUIRE(sentinel_seen());
  (void)r.shutdown();

  // Replay: a read or insert of a row already present, or an update/delete of an absent one, is a
  // duplicate or a gap.
  std::map<std::string, std::optional<std::string>> state;
  std::size_t streamed = 0;
  for (const auto& s : rows_of(rec, table)) {
    const std::string id = *s.values.at("id");
    INFO(s.op << " id=" << id);
    if (s.op == "read" || s.op == "insert") {
      CHECK(state.count(id) == 0);
      state[id] = s.values.at("v");
    } else if (s.op == "update") {
      CHECK(state.count(id) == 1);
      state[id] = s.values.at("v");
    } else if (s.op == "delete") {
      CHECK(state.count(id) == 1);
      state.erase(id);
    }
    if (s.op != "read") {
      ++streamed;
      // A change may sit before the consistent point in WAL (its transaction began earlier); its
      // commit is what the slot streams after it.
      CHECK(s.commit_lsn >= report->consistent_point);
    }
  }
  CHECK(streamed > 0);
  std::map<std::string, std::optional<std::string>> actual;
  for (const auto& row : db.query("SELECT id::text, v FROM " + table)) actual[*row[0]] = row[1];
  CHECK(state.size() == actual.size());
  CHECK(state == actual);
}

TEST_CASE("several tables in parallel; quoted identifiers, NULLs, unicode and escapes survive exactly") {
  PgSession db;
  const std::string schema = "My Schema " + unique_name("s");
  const std::string qs = db.quote_ident(schema);
  const std::string pub = unique_name("snap_par_pub");
  const std::string slot = unique_name("snap_par");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP SCHEMA IF EXISTS " + qs + " CASCADE; " +
                     drop_slot_sql(slot));
  db.exec("CREATE SCHEMA " + qs);
  db.exec("CREATE TABLE " + qs +
          ".\"Order Items\" (\"Item ID\" int PRIMARY KEY, \"note \"\"quoted\"\"\" text, "
          "price numeric(10,2), tags text[], doc jsonb, raw bytea, at timestamptz)");
  db.exec("INSERT INTO " + qs +
          ".\"Order Items\" VALUES "
          "(1, 'plain', 1.50, '{a,b}', '{\"k\": \"v\"}', '\\x00ff', '2024-01-02 03:04:05+00'), "
          "(2, NULL, NULL, NULL, NULL, NULL, NULL), "
          "(3, E'tab\\there\\nnewline \\\\ backslash', 0, '{\"with space\",NULL}', '[]', '', 'infinity'), "
          "(4, '日本語 ✓ émoji 🎉', -3.25, '{}', '\"só\"', 'abc', '1999-12-31 23:59:59.999999+00'), "
          "(5, '', 0.01, '{\"\"}', 'null', '\\x5c4e', NULL)");
  std::vector<std::string> others;
  for (int i = 0; i < 3; ++i) {
    others.push_back(unique_name("snap_par_t" + std::to_string(i)));
    db.exec("CREATE TABLE " + qs + "." + others.back() + " (id bigint PRIMARY KEY, n int)");
    db.exec("INSERT INTO " + qs + "." + others.back() + " SELECT g, g * " + std::to_string(i) +
            " FROM generate_series(1, " + std::to_string(3000 * (i + 1)) + ") g");
  }
  db.exec("ANALYZE " + qs + "." + others[2]);
  if (db.server_version() >= 150000) {
    db.exec("CREATE PUBLICATION " + pub + " FOR TABLES IN SCHEMA " + qs);
  } else {  // 14 publishes tables one by one
    std::string list = qs + ".\"Order Items\"";
    for (const auto& t : others) list += ", " + qs + "." + t;
    db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + list);
  }

  Recorder rec;
  RecordingSink sink{&rec};
  MemoryPositionStore store;
  std::atomic<bool> stop{false};
  auto o = options(slot, pub);
  o.parallelism = 3;
  o.batch_rows = 500;
  std::vector<SnapshotProgress> progress;
  o.on_progress = [&](const SnapshotProgress& p) { progress.push_back(p); };
  std::mutex done_m;
  std::map<std::string, std::uint64_t> done;
  o.on_table_done = [&](const SnapshotTable& t, std::uint64_t rows) {
    std::lock_guard lock(done_m);
    done[t.relation.name] = rows;
  };
  auto report = run_initial_snapshot(env_config(), o, store, sink, stop);
  if (!report) FAIL(report.error().message);
  REQUIRE(report->outcome == SnapshotOutcome::completed);
  CHECK(report->tables == 4);
  CHECK(report->rows == 5 + 3000 + 6000 + 9000);
  CHECK(done.size() == 4);
  CHECK(done["Order Items"] == 5);
  REQUIRE_FALSE(progress.empty());
  CHECK(progress.back().finished);
  CHECK(progress.back().tables_done == 4);
  CHECK(progress.back().rows_done == report->rows);
  CHECK(rec.flushes >= 1);

  for (int i = 0; i < 3; ++i) {
    const auto rows = rows_of(rec, others[static_cast<std::size_t>(i)]);
    REQUIRE(rows.size() == static_cast<std::size_t>(3000 * (i + 1)));
    std::set<std::string> ids;
    for (const auto& s : rows) {
      CHECK(s.schema == schema);
      ids.insert(*s.values.at("id"));
      CHECK(*s.values.at("n") == std::to_string(std::stoll(*s.values.at("id")) * i));
    }
    CHECK(ids.size() == rows.size());
  }
  // Values are the server's own text output, byte for byte.
  const auto items = rows_of(rec, "Order Items");
  REQUIRE(items.size() == 5);
  const auto expected = db.query("SELECT * FROM " + qs + ".\"Order Items\" ORDER BY 1");
  const std::vector<std::string> cols = {"Item ID", "note \"quoted\"", "price", "tags", "doc", "raw", "at"};
  for (const auto& want : expected) {
    const Seen* got = nullptr;
    for (const auto& s : items)
      if (s.values.at("Item ID") == want[0]) got = &s;
    REQUIRE(got != nullptr);
    CHECK(got->schema == schema);
    for (std::size_t c = 0; c < cols.size(); ++c) {
      INFO("column " << cols[c] << " of row " << *want[0]);
      CHECK(got->values.at(cols[c]) == want[c]);
    }
    CHECK(got->keys == std::vector<bool>{true, false, false, false, false, false, false});
  }
}

TEST_CASE("binary COPY gives the types' send format; column lists and row filters of the publication apply") {
  PgSession db;
  const std::string table = unique_name("snap_bin");
  const std::string pub = unique_name("snap_bin_pub");
  const std::string slot = unique_name("snap_bin");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + table + "; " +
                     drop_slot_sql(slot));
  db.exec("CREATE TABLE " + table +
          " (id int PRIMARY KEY, secret text, v text, gen int GENERATED ALWAYS AS (id * 2) STORED)");
  db.exec("INSERT INTO " + table +
          " SELECT g, 'hidden', CASE WHEN g % 2 = 0 THEN NULL ELSE 'v' || g END "
          "FROM generate_series(1, 10) g");
  // Column lists and row filters are PostgreSQL 15's: on 14 the whole table is copied.
  const bool filters = db.server_version() >= 150000;
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table + (filters ? " (id, v) WHERE (id > 4)" : ""));

  Recorder rec;
  RecordingSink sink{&rec};
  MemoryPositionStore store;
  std::atomic<bool> stop{false};
  auto o = options(slot, pub);
  o.format = CopyFormat::binary;
  auto report = run_initial_snapshot(env_config(), o, store, sink, stop);
  if (!report) FAIL(report.error().message);
  const auto rows = rows_of(rec, table);
  REQUIRE(rows.size() == (filters ? 6u : 10u));  // ids 5..10 where the row filter applies
  for (const auto& s : rows) {
    // Only the published columns, never the generated one (pgoutput does not send it before 18's option).
    CHECK(s.values.size() == (filters ? 2u : 3u));
    CHECK(s.values.count("secret") == (filters ? 0u : 1u));
    CHECK(s.values.count("gen") == 0);
    REQUIRE(s.raw_first.size() == 4);  // int4 send format: 4 bytes big-endian
    const int id = (static_cast<unsigned char>(s.raw_first[2]) << 8) | static_cast<unsigned char>(s.raw_first[3]);
    CHECK(id > (filters ? 4 : 0));
    if (id % 2 == 0) CHECK_FALSE(s.values.at("v"));
    else CHECK(s.values.at("v") == "v" + std::to_string(id));
  }
}

TEST_CASE("generated columns: copied and streamed exactly where the publication publishes them (18+)") {
  PgSession db;
  const int version = db.server_version();
  const std::string table = unique_name("snap_gen");
  const std::string pub = unique_name("snap_gen_pub");
  const std::string slot = unique_name("snap_gen");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + table + "; " +
                     drop_slot_sql(slot));
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY, gen int GENERATED ALWAYS AS (id * 2) STORED)");
  db.exec("INSERT INTO " + table + " (id) SELECT g FROM generate_series(1, 3) g");
  const std::string create =
      "CREATE PUBLICATION " + pub + " FOR TABLE " + table + " WITH (publish_generated_columns = stored)";
  if (version < 180000) {
    // Older servers do not know the option: nothing to copy differently, the stream never sends them.
    CHECK_THROWS_WITH(db.exec(create), Catch::Contains("publish_generated_columns"));
    return;
  }
  db.exec(create);
  Recorder rec;
  MemoryPositionStore store;
  std::atomic<bool> stop{false};
  RecordingSink snapshot_sink{&rec};
  auto report = run_initial_snapshot(env_config(), options(slot, pub), store, snapshot_sink, stop);
  if (!report) FAIL(report.error().message);
  REQUIRE(report->outcome == SnapshotOutcome::completed);

  db.exec("INSERT INTO " + table + " (id) VALUES (-1)");  // the sentinel: gen = -2
  LibpqTransportOptions to;
  to.slot_name = slot;
  to.publication_names = {pub};
  to.create_slot = false;
  LiveReplicator<RecordingSink, TransactionBatcher, MemoryPositionStore> r(
      LibpqTransport(env_config(), to), PgOutputEventDecoder{}, TransactionBatcher{}, std::move(store),
      RecordingSink{&rec}, ReplicatorOptions{.slot_name = slot, .status_interval = 200ms});
  REQUIRE(r.start());
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!rec.sentinel && std::chrono::steady_clock::now() < deadline) REQUIRE(r.run_once(100ms));
  (void)r.shutdown();
  const auto rows = rows_of(rec, table);
  REQUIRE(rows.size() == 4);  // three reads, then the insert
  for (const auto& s : rows) {
    INFO(s.op << " id=" << *s.values.at("id"));
    REQUIRE(s.values.count("gen") == 1);
    CHECK(s.values.at("gen") == std::to_string(std::stoi(*s.values.at("id")) * 2));
  }
  CHECK(rows.back().op == "insert");
}

TEST_CASE("restart rules: interrupted snapshot is redone, completed one is not, never refuses a gap") {
  PgSession db;
  const std::string table = unique_name("snap_rst");
  const std::string pub = unique_name("snap_rst_pub");
  const std::string slot = unique_name("snap_rst");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + table + "; " +
                     drop_slot_sql(slot));
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY)");
  db.exec("INSERT INTO " + table + " SELECT generate_series(1, 50000)");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  const auto cfg = env_config();

  // 1. A stop request mid-copy: an error, the new slot is dropped, the marker stays.
  MemoryPositionStore store;
  {
    Recorder rec;
    RecordingSink sink{&rec};
    std::atomic<bool> stop{false};
    auto o = options(slot, pub);
    o.batch_rows = 100;
    o.on_table_done = [&](const SnapshotTable&, std::uint64_t) {};
    std::thread stopper([&] {
      while (rows_of(rec, table).empty()) std::this_thread::sleep_for(1ms);
      stop = true;
    });
    auto report = run_initial_snapshot(cfg, o, store, sink, stop);
    stopper.join();
    REQUIRE_FALSE(report);
    CHECK(report.error().message.find("interrupted") != std::string::npos);
    CHECK(rows_of(rec, table).size() < 50000);
    REQUIRE(store.position());
    CHECK(is_snapshot_marker(*store.position()));
    CHECK_FALSE(slot_exists(db, slot));
  }
  // 2. mode never with the marker: a fatal error (streaming would leave a gap).
  {
    Recorder rec;
    RecordingSink sink{&rec};
    std::atomic<bool> stop{false};
    auto o = options(slot, pub);
    o.mode = SnapshotMode::never;
    auto report = run_initial_snapshot(cfg, o, store, sink, stop);
    REQUIRE_FALSE(report);
    CHECK_FALSE(report.error().retryable());
    CHECK(report.error().message.find("interrupted") != std::string::npos);
  }
  // 3. A slot left behind by a killed snapshot (marker + slot): dropped and redone completely.
  db.exec("SELECT pg_create_logical_replication_slot('" + slot + "', 'pgoutput')");
  {
    Recorder rec;
    RecordingSink sink{&rec};
    std::atomic<bool> stop{false};
    auto report = run_initial_snapshot(cfg, options(slot, pub), store, sink, stop);
    if (!report) FAIL(report.error().message);
    CHECK(report->outcome == SnapshotOutcome::completed);
    CHECK(report->restarted);
    CHECK(rows_of(rec, table).size() == 50000);
    REQUIRE(store.position());
    CHECK(store.position()->lsn == report->consistent_point);
    CHECK(slot_exists(db, slot));
  }
  // 4. Completed: a second run copies nothing and keeps the slot.
  {
    Recorder rec;
    RecordingSink sink{&rec};
    std::atomic<bool> stop{false};
    const Position before = *store.position();
    auto report = run_initial_snapshot(cfg, options(slot, pub), store, sink, stop);
    if (!report) FAIL(report.error().message);
    CHECK(report->outcome == SnapshotOutcome::skipped);
    CHECK(rec.rows.empty());
    CHECK(*store.position() == before);
  }
  // 5. A missing publication is refused before any slot is made.
  {
    db.exec(drop_slot_sql(slot));
    Recorder rec;
    RecordingSink sink{&rec};
    std::atomic<bool> stop{false};
    MemoryPositionStore fresh;
    auto report = run_initial_snapshot(cfg, options(slot, unique_name("no_such_pub")), fresh, sink, stop);
    REQUIRE_FALSE(report);
    CHECK(report.error().message.find("does not exist") != std::string::npos);
    CHECK_FALSE(slot_exists(db, slot));
  }
}

TEST_CASE("snapshot options and mode names are checked") {
  CHECK(parse_snapshot_mode("initial").value() == SnapshotMode::initial);
  CHECK(parse_snapshot_mode("never").value() == SnapshotMode::never);
  CHECK(parse_snapshot_mode("initial_only").value() == SnapshotMode::initial_only);
  CHECK_FALSE(parse_snapshot_mode("always"));
  SnapshotOptions o;
  o.slot_name = "ok";
  o.publication_names = {"p"};
  CHECK(validate_snapshot_options(o));
  o.parallelism = 0;
  CHECK_FALSE(validate_snapshot_options(o));
  o.parallelism = 2;
  o.slot_name = "Bad Name";
  CHECK_FALSE(validate_snapshot_options(o));
  SnapshotTable t;
  t.relation.schema = "My \"Schema\"";
  t.relation.name = "Order Items";
  t.relation.columns.push_back({"Item ID", 23, -1, true});
  t.row_filter = "(\"Item ID\" > 1)";
  CHECK(t.copy_sql(CopyFormat::text) ==
        "COPY (SELECT \"Item ID\" FROM ONLY \"My \"\"Schema\"\"\".\"Order Items\" WHERE (\"Item ID\" > 1)) TO STDOUT");
  t.partitioned = true;
  t.row_filter.clear();
  CHECK(t.copy_sql(CopyFormat::binary) ==
        "COPY (SELECT \"Item ID\" FROM \"My \"\"Schema\"\"\".\"Order Items\") TO STDOUT WITH (FORMAT binary)");
}

TEST_CASE("the snapshot marker round-trips through the file and PostgreSQL position stores") {
  const std::string slot = unique_name("snap_marker");
  const Position marker{Lsn{}, 1, slot, 7300000000000000001ULL, std::chrono::system_clock::now()};
  {
    const char* tmp = std::getenv("TEST_TMPDIR");
    FilePositionStore store(std::string(tmp ? tmp : "/tmp") + "/" + slot + ".pos");
    REQUIRE(store.save(marker));
    auto loaded = store.load();
    REQUIRE(loaded);
    REQUIRE(loaded->has_value());
    CHECK(is_snapshot_marker(**loaded));
    CHECK((*loaded)->slot == slot);
  }
  {
    PgSession db;
    const std::string table = unique_name("snap_marker_pos");
    CleanupSql cleanup("DROP TABLE IF EXISTS " + table);
    PostgresPositionStore store(env_config(), slot, {.schema = "public", .table = table});
    REQUIRE(store.save(marker));
    auto loaded = store.load();
    REQUIRE(loaded);
    REQUIRE(loaded->has_value());
    CHECK(is_snapshot_marker(**loaded));
    CHECK((*loaded)->system_id == marker.system_id);
  }
}

TEST_CASE("a stop while the snapshot waits for a table lock ends promptly (COPY on 14-15, the listing on 16+)") {
  PgSession db;
  const std::string table = unique_name("snap_lock");
  const std::string pub = unique_name("snap_lock_pub");
  const std::string slot = unique_name("snap_lock");
  CleanupSql cleanup("DROP PUBLICATION IF EXISTS " + pub + "; DROP TABLE IF EXISTS " + table + "; " +
                     drop_slot_sql(slot));
  db.exec("CREATE TABLE " + table + " (id int PRIMARY KEY)");
  db.exec("INSERT INTO " + table + " VALUES (1)");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);

  PgSession locker;
  Recorder rec;
  RecordingSink sink{&rec};
  MemoryPositionStore store;
  std::atomic<bool> stop{false};
  auto o = options(slot, pub);
  // Once the slot exists (an earlier lock would hold up its creation), block the table.
  o.on_copy_start = [&](Lsn, std::string_view) {
    locker.exec("BEGIN; LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE");
  };
  std::thread stopper([&] {
    std::this_thread::sleep_for(700ms);
    stop = true;
  });
  const auto started = std::chrono::steady_clock::now();
  auto report = run_initial_snapshot(env_config(), o, store, sink, stop);
  const auto took = std::chrono::steady_clock::now() - started;
  stopper.join();
  locker.exec("ROLLBACK");
  REQUIRE_FALSE(report);
  CHECK(report.error().message.find("interrupted") != std::string::npos);
  CHECK(took < 5s);
  CHECK(rec.rows.empty());
  CHECK(is_snapshot_marker(*store.position()));
  CHECK_FALSE(slot_exists(db, slot));
}

TEST_CASE("with reconnect set, a snapshot cut mid-copy is retried and completes; every row arrives") {
  PgSession db;
  const std::string table = unique_name("snap_cut");
  const std::string pub = unique_name("pub_snap_cut");
  const std::string slot = unique_name("slot_snap_cut");
  db.exec("CREATE TABLE " + table + " (id int primary key, v text)");
  CleanupSql drop_table("DROP TABLE IF EXISTS " + table);
  db.exec("INSERT INTO " + table + " SELECT g, repeat('x', 40) FROM generate_series(1, 3000) g");
  db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  CleanupSql drop_pub("DROP PUBLICATION IF EXISTS " + pub);
  CleanupSql drop_slot(drop_slot_sql(slot));

  // Through a relay that closes the connection carrying the 60,000th byte sent to the client:
  // inside the COPY of ~150 kB, after the slot was created and the marker saved.
  ConnectionConfig cfg = env_config();
  test::TcpRelay relay(cfg.host.empty() ? "127.0.0.1" : cfg.host, cfg.port);
  cfg.host = "127.0.0.1";
  cfg.port = relay.port();
  relay.cut_after(test::TcpRelay::Direction::server_to_client, 60'000);

  SnapshotOptions o = options(slot, pub);
  o.parallelism = 1;
  o.reconnect = BackoffOptions{.initial = 10ms, .max = 50ms, .multiplier = 2.0, .reset_after = 1h};
  std::vector<std::string> retries;
  o.on_retry = [&](const ReplicationError& e, int attempt, std::chrono::milliseconds) {
    CHECK(e.retryable());
    retries.push_back(std::to_string(attempt) + ": " + e.message);
  };
  Recorder rec;
  RecordingSink sink{&rec};
  MemoryPositionStore store;
  std::atomic<bool> stop{false};
  auto report = run_initial_snapshot(cfg, o, store, sink, stop);
  if (!report) FAIL(report.error().message);
  CHECK(relay.cut_fired());
  INFO(retries.size() << " retries");
  REQUIRE(retries.size() == 1);
  REQUIRE(report->outcome == SnapshotOutcome::completed);
  CHECK(report->rows == 3000);
  REQUIRE(store.position());
  CHECK(store.position()->lsn == report->consistent_point);
  // At-least-once: the cut attempt's rows may come again, but every row is there, and the last
  // attempt's rows all carry its consistent point.
  std::set<std::string> ids;
  std::size_t at_consistent_point = 0;
  for (const auto& s : rows_of(rec, table)) {
    ids.insert(s.raw_first);
    if (s.lsn == report->consistent_point) ++at_consistent_point;
  }
  CHECK(ids.size() == 3000);
  CHECK(at_consistent_point == 3000);
}
