// End to end against the real PostgreSQL: tables + publication + slot, the Replicator over
// LibpqTransport with a file position store, inserts / updates / deletes / truncates across
// tables and types (and a transaction large enough to be streamed). Every change arrives once and
// in order; a restart resumes from the stored position without loss; a failing sink flush does
// not move the slot; the server's confirmed_flush_lsn never passes what the sink made durable.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>
#include <set>
#include <thread>
#include <unistd.h>

#include "replicator/live.hpp"
#include "replicator/sink/callback.hpp"
#include "tests/support/env_config.hpp"
#include "tests/support/pg.hpp"

using namespace replicator;
using replicator::test::env_config;
using namespace std::chrono_literals;
using test::CleanupSql;
using test::PgSession;
using test::unique_name;

namespace {

// One row change as the sink saw it, owned.
struct Row {
  std::string op;                                            // insert / update / delete / truncate
  std::string table;                                         // unqualified
  std::string key;                                           // first column of the row (new, or old for deletes)
  std::map<std::string, std::optional<std::string>> values;  // new tuple
  Xid xid = 0;
  Lsn commit_end;  // end LSN of its transaction (from the commit that followed)
};

// Sink state shared with the test: what was written and what is durable.
struct Recorder {
  std::vector<Row> written;
  std::vector<Row> durable;
  Lsn durable_end;                     // last commit end LSN made durable
  std::set<Xid> durable_xids;          // transactions durable in the sink
  int fail_flushes = 0;                // the next N flushes fail (and lose what was written)
  std::vector<std::size_t> open_rows;  // rows of the transaction being written, to stamp its end

  Status on_event(const ChangeEvent& e) {
    if (const auto* r = std::get_if<RowChangeView>(&e)) {
      Row row;
      row.op = std::string(to_string(r->op));
      row.table = r->relation->name;
      row.xid = r->txn.xid;
      const TupleView& t = r->row();
      if (!t.empty()) row.key = t[0].is_null() ? "NULL" : std::string(t[0].text());
      std::size_t i = 0;
      for (ColumnValueView v : r->new_tuple) {
        const auto& name = r->relation->columns[i++].name;
        row.values[name] = v.is_null() ? std::nullopt : std::optional<std::string>(std::string(v.text()));
      }
      open_rows.push_back(written.size());
      written.push_back(std::move(row));
    } else if (const auto* t = std::get_if<TruncateEventView>(&e)) {
      for (const RelationInfo* rel : t->relations) {
        Row row;
        row.op = "truncate";
        row.table = rel->name;
        row.xid = t->txn.xid;
        open_rows.push_back(written.size());
        written.push_back(std::move(row));
      }
    } else if (const auto* c = std::get_if<CommitEvent>(&e)) {
      for (auto i : open_rows) written[i].commit_end = c->end_lsn;
      open_rows.clear();
    }
    return ok_status();
  }
  Status flush() {
    if (fail_flushes > 0) {
      --fail_flushes;
      written.resize(durable.size());
      open_rows.clear();
      return ReplicationError::retry("test sink: flush failed");
    }
    for (std::size_t i = durable.size(); i < written.size(); ++i) {
      durable.push_back(written[i]);
      durable_xids.insert(written[i].xid);
      if (written[i].commit_end > durable_end) durable_end = written[i].commit_end;
    }
    return ok_status();
  }
};

struct EventFn {
  Recorder* r;
  Status operator()(const ChangeEvent& e) const { return r->on_event(e); }
};
struct FlushFn {
  Recorder* r;
  Status operator()() const { return r->flush(); }
};
using TestSink = CallbackSink<EventFn, FlushFn>;
using TestReplicator = LiveReplicator<TestSink, TransactionBatcher, FilePositionStore>;

// A workload transaction: its xid and an LSN at or after its commit record's end.
struct Committed {
  Xid xid = 0;
  Lsn after;
  std::size_t rows = 0;
};

struct Fixture {
  PgSession db;
  std::string a = unique_name("e2e_a");
  std::string b = unique_name("e2e_b");
  std::string pub = unique_name("e2e_pub");
  std::string other = unique_name("e2e_unpublished");
  std::string slot = unique_name("e2e_slot");
  std::string pos_file;
  CleanupSql drop_slot{"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" +
                       slot + "'"};
  CleanupSql drop_pub{"DROP PUBLICATION IF EXISTS " + pub};
  CleanupSql drop_a{"DROP TABLE IF EXISTS " + a};
  CleanupSql drop_b{"DROP TABLE IF EXISTS " + b};
  CleanupSql drop_other{"DROP TABLE IF EXISTS " + other};
  std::vector<Committed> committed;

  Fixture() {
    db.exec("CREATE TABLE " + a +
            " (id int PRIMARY KEY, name text, amount numeric(10,2), at timestamptz, doc jsonb, flag bool)");
    db.exec("CREATE TABLE " + b + " (id bigint PRIMARY KEY, data bytea, tags text[])");
    db.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + a + ", " + b);
    db.exec("CREATE TABLE " + other + " (id int, v text)");
    const char* tmp = std::getenv("TEST_TMPDIR");
    pos_file = std::string(tmp ? tmp : "/tmp") + "/" + slot + ".pos";
    ::unlink(pos_file.c_str());
  }

  // Runs statements in one transaction and records its xid and an LSN past its commit.
  void txn(const std::vector<std::string>& statements, std::size_t rows) {
    db.exec("BEGIN");
    const auto xid = db.scalar("SELECT txid_current()");
    for (const auto& s : statements) db.exec(s);
    db.exec("COMMIT");
    const auto after = db.scalar("SELECT pg_current_wal_insert_lsn()::text");
    committed.push_back({static_cast<Xid>(std::stoul(*xid)), Lsn::parse(*after).value(), rows});
  }

  TestReplicator make(Recorder& rec, std::chrono::milliseconds silence_timeout = 120s) {
    LibpqTransportOptions o;
    o.silence_timeout = silence_timeout;  // half of it: ask the server for a keepalive
    o.slot_name = slot;
    o.publication_names = {pub};
    o.proto_version = 2;
    o.streaming = StreamingMode::on;
    return TestReplicator(LibpqTransport(env_config(), o), PgOutputEventDecoder{}, TransactionBatcher{},
                          FilePositionStore(pos_file), TestSink(EventFn{&rec}, FlushFn{&rec}),
                          ReplicatorOptions{.slot_name = slot, .status_interval = 200ms});
  }

  // The previous process's walsender may hold the slot for a moment after it went away (55006,
  // retryable): retry like the program does.
  Status start(TestReplicator& r) { return test::start_retrying(r); }

  Lsn confirmed_flush() {
    auto v = db.scalar("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '" + slot + "'");
    return v ? Lsn::parse(*v).value() : Lsn{};
  }

  // Every workload transaction the server may skip (committed before confirmed_flush_lsn) must be
  // durable in the sink.
  void check_confirmed_not_ahead(const Recorder& rec) {
    const Lsn confirmed = confirmed_flush();
    for (const auto& c : committed) {
      if (c.after <= confirmed) {
        INFO("transaction " << c.xid << " ended before confirmed_flush_lsn " << confirmed);
        CHECK(rec.durable_xids.count(c.xid) == 1);
      }
    }
  }

  // Polls until `rows` durable rows are in the sink or 60 s pass; checks the server's position
  // after every step.
  Status run_until(TestReplicator& r, const Recorder& rec, std::size_t rows) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    int steps = 0;
    while (rec.durable.size() < rows && std::chrono::steady_clock::now() < deadline) {
      auto more = r.run_once(100ms);
      if (!more) return more.error();
      if (++steps % 10 == 0) check_confirmed_not_ahead(rec);
    }
    check_confirmed_not_ahead(rec);
    return ok_status();
  }
};

std::vector<std::string> keys(const std::vector<Row>& rows, std::size_t from = 0) {
  std::vector<std::string> out;
  for (std::size_t i = from; i < rows.size(); ++i) out.push_back(rows[i].op + ":" + rows[i].table + ":" + rows[i].key);
  return out;
}

}  // namespace

TEST_CASE("live: every change once and in order; restart without loss; failing flush holds the slot") {
  Fixture f;
  Recorder rec;
  const std::string& a = f.a;
  const std::string& b = f.b;

  // --- run 1 -------------------------------------------------------------------------------------
  auto r1 = f.make(rec);
  REQUIRE(f.start(r1));  // creates the slot: changes from here on are streamed
  f.txn({"INSERT INTO " + a + " VALUES (1, 'alice', 12.50, '2024-02-29 12:34:56.789+00', '{\"k\": [1, 2]}', true)",
         "INSERT INTO " + a + " VALUES (2, 'bob', NULL, NULL, NULL, false)"},
        2);
  f.txn({"UPDATE " + a + " SET name = 'alice2', amount = -1 WHERE id = 1"}, 1);
  f.txn({"INSERT INTO " + b + " VALUES (10, '\\xdeadbeef', ARRAY['x','y z'])",
         "INSERT INTO " + b + " VALUES (11, NULL, '{}')", "DELETE FROM " + a + " WHERE id = 2"},
        3);
  f.txn({"TRUNCATE " + b}, 1);
  f.txn({"INSERT INTO " + a + " SELECT g, 'bulk', g, now(), NULL, NULL FROM generate_series(100, 2099) g"}, 2000);
  std::size_t expected = 0;
  for (const auto& c : f.committed) expected += c.rows;
  REQUIRE(f.run_until(r1, rec, expected));
  REQUIRE(rec.durable.size() == expected);

  // Order and content.
  auto k = keys(rec.durable);
  CHECK(std::vector<std::string>(k.begin(), k.begin() + 7) ==
        std::vector<std::string>{"insert:" + a + ":1", "insert:" + a + ":2", "update:" + a + ":1",
                                 "insert:" + b + ":10", "insert:" + b + ":11", "delete:" + a + ":2",
                                 "truncate:" + b + ":"});
  CHECK(rec.durable[0].values["amount"] == "12.50");
  CHECK(rec.durable[0].values["at"] == "2024-02-29 12:34:56.789+00");
  CHECK(rec.durable[0].values["doc"] == "{\"k\": [1, 2]}");
  CHECK(rec.durable[0].values["flag"] == "t");
  CHECK(rec.durable[1].values["amount"] == std::nullopt);
  CHECK(rec.durable[2].values["name"] == "alice2");
  CHECK(rec.durable[3].values["data"] == "\\xdeadbeef");
  CHECK(rec.durable[3].values["tags"] == "{x,\"y z\"}");
  for (std::size_t i = 7; i < rec.durable.size(); ++i) CHECK(rec.durable[i].key == std::to_string(100 + i - 7));
  // One transaction per workload transaction, each with its own xid, in commit order.
  std::vector<Xid> xids;
  for (const auto& row : rec.durable)
    if (xids.empty() || xids.back() != row.xid) xids.push_back(row.xid);
  std::vector<Xid> want;
  for (const auto& c : f.committed) want.push_back(c.xid);
  CHECK(xids == want);

  REQUIRE(r1.shutdown());
  const Lsn stored = FilePositionStore(f.pos_file).load().value()->lsn;
  CHECK(stored >= rec.durable_end);
  CHECK(f.confirmed_flush() >= rec.durable_end);  // the final status update reached the server
  CHECK(f.confirmed_flush() <= stored);

  // --- run 2: resume from the stored position ------------------------------------------------------
  const std::size_t before = rec.durable.size();
  f.txn({"INSERT INTO " + a + " VALUES (3, 'carol', 3, NULL, NULL, NULL)"}, 1);
  f.txn({"UPDATE " + a + " SET flag = true WHERE id = 3", "DELETE FROM " + a + " WHERE id = 1"}, 2);
  auto r2 = f.make(rec);
  REQUIRE(f.start(r2));
  CHECK(r2.stored_position()->lsn == stored);
  REQUIRE(f.run_until(r2, rec, before + 3));
  CHECK(keys(rec.durable, before) ==
        std::vector<std::string>{"insert:" + a + ":3", "update:" + a + ":3", "delete:" + a + ":1"});
  REQUIRE(r2.shutdown());

  // --- run 3: the sink fails; nothing moves; a fresh process gets everything -------------------------
  const Lsn confirmed_before = f.confirmed_flush();
  const std::size_t before3 = rec.durable.size();
  f.txn({"INSERT INTO " + a + " VALUES (4, 'dave', 4, NULL, NULL, NULL)"}, 1);
  f.txn({"INSERT INTO " + a + " VALUES (5, 'erin', 5, NULL, NULL, NULL)"}, 1);
  {
    rec.fail_flushes = 1;
    auto r3 = f.make(rec);
    REQUIRE(f.start(r3));
    Status st = ok_status();
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (st && std::chrono::steady_clock::now() < deadline) {
      auto more = r3.run_once(100ms);
      if (!more) st = more.error();
    }
    REQUIRE_FALSE(st);
    CHECK_THAT(st.error().message, Catch::Contains("flush failed"));
    // The failed transaction is not durable, so the server must still be before it.
    CHECK(rec.durable_xids.count(f.committed[f.committed.size() - 2].xid) == 0);
    f.check_confirmed_not_ahead(rec);
    CHECK(f.confirmed_flush() >= confirmed_before);
    // r3 is dropped without shutdown, like a crashed process.
  }
  auto r4 = f.make(rec);
  REQUIRE(f.start(r4));
  REQUIRE(f.run_until(r4, rec, before3 + 2));
  CHECK(keys(rec.durable, before3) == std::vector<std::string>{"insert:" + a + ":4", "insert:" + a + ":5"});
  REQUIRE(r4.shutdown());
  f.check_confirmed_not_ahead(rec);
  STATIC_REQUIRE(TransportPolicy<LibpqTransport>);
  STATIC_REQUIRE(PositionStorePolicy<PostgresPositionStore>);

  // --- run 5: only unpublished tables change; keepalives still move the slot -----------------------
  const std::size_t before5 = rec.durable.size();
  const Lsn before_writes = Lsn::parse(*f.db.scalar("SELECT pg_current_wal_insert_lsn()::text")).value();
  for (int i = 0; i < 5; ++i) f.db.exec("INSERT INTO " + f.other + " SELECT g, 'x' FROM generate_series(1, 100) g");
  {
    auto r5 = f.make(rec, 2s);  // asks for a keepalive after 1 s of silence
    REQUIRE(f.start(r5));
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (f.confirmed_flush() <= before_writes && std::chrono::steady_clock::now() < deadline) {
      REQUIRE(r5.run_once(100ms));
    }
    CHECK(f.confirmed_flush() > before_writes);  // the slot did not stay pinned
    CHECK(rec.durable.size() == before5);        // and nothing was delivered for it
    REQUIRE(r5.shutdown());
    CHECK(FilePositionStore(f.pos_file).load().value()->lsn > before_writes);
  }

  // Exactly once over all runs: no row twice.
  std::set<std::pair<Xid, std::string>> seen;
  for (const auto& row : rec.durable) CHECK(seen.insert({row.xid, row.op + row.table + row.key}).second);
}
