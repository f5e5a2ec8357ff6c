// PgOutputEventDecoder: hand-made messages for each rule, then the captured server streams.
#include <catch2/catch.hpp>

#include <map>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/transport/replay.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;
using namespace replicator::test;

namespace {

const std::vector<wire::Col> kCols = {{"id", 23, true}, {"name", 25, false}};

// Decodes each payload as one WalMessage at lsn 0x1000 + 0x10*i; returns the events seen.
struct Run {
  PgOutputEventDecoder decoder;
  std::vector<SeenEvent> events;
  std::vector<ChangeEvent> raw;  // only valid inside the handler; kept for kinds
  std::optional<ReplicationError> error;

  Status feed(const Bytes& payload, std::uint64_t lsn) {
    WalMessage m{Lsn{lsn}, Lsn{lsn}, PgTimestamp{}, payload, 0};
    auto st = decoder.decode(m, [&](const ChangeEvent& e) -> Status {
      events.push_back(see(e));
      on_event(e);
      return ok_status();
    });
    if (!st) error = st.error();
    return st;
  }
  void feed_all(const std::vector<Bytes>& payloads) {
    std::uint64_t lsn = 0x1000;
    for (const auto& p : payloads) {
      if (!feed(p, lsn)) return;
      lsn += 0x10;
    }
  }
  std::function<void(const ChangeEvent&)> on_event = [](const ChangeEvent&) {};
  std::vector<std::string> kinds() const {
    std::vector<std::string> k;
    for (const auto& e : events) k.push_back(e.kind);
    return k;
  }
};

}  // namespace

TEST_CASE("a normal transaction becomes begin, rows, commit with its context") {
  Run run;
  std::vector<RowChangeView> rows;
  std::vector<std::string> texts;
  run.on_event = [&](const ChangeEvent& e) {
    if (const auto* r = std::get_if<RowChangeView>(&e)) {
      rows.push_back(*r);
      texts.push_back(std::string(r->row()[0].text()));
      CHECK(r->txn.xid == 740);
      CHECK(r->txn.top_xid == 740);
      CHECK(r->txn.commit_lsn == Lsn{0x5000});
      CHECK(r->txn.commit_time == PgTimestamp{1234});
      CHECK_FALSE(r->txn.streamed);
      CHECK(r->relation->qualified_name() == "public.accounts");
    }
  };
  run.feed_all({wire::relation(16384, "public", "accounts", kCols), wire::begin(0x5000, 740, 1234),
                wire::insert(16384, {"1", "a"}), wire::update(16384, 'K', {"1", std::nullopt}, {"2", "b"}),
                wire::delete_(16384, 'O', {"2", "b"}), wire::commit(0x5000, 0x5008, 1234)});
  REQUIRE_FALSE(run.error);
  CHECK(run.kinds() == std::vector<std::string>{"begin", "insert", "update", "delete", "commit"});
  CHECK(texts == std::vector<std::string>{"1", "2", "2"});
  CHECK(run.events[0].lsn == Lsn{0x1010});  // each event carries its message's WAL start
  CHECK(run.events[2].lsn == Lsn{0x1030});
  CHECK(run.events[4].end_lsn == Lsn{0x5008});
  CHECK(run.events[4].commit_lsn == Lsn{0x5000});
  REQUIRE(rows.size() == 3);
  CHECK(rows[1].old_kind == OldTupleKind::key);
  CHECK(rows[2].old_kind == OldTupleKind::full);
}

TEST_CASE("an empty schema name means pg_catalog, messages and truncates carry their data") {
  Run run;
  bool saw_truncate = false, saw_tx_message = false, saw_nontx_message = false;
  run.on_event = [&](const ChangeEvent& e) {
    if (const auto* t = std::get_if<TruncateEventView>(&e)) {
      saw_truncate = true;
      REQUIRE(t->relations.size() == 2);
      CHECK(t->relations[0]->qualified_name() == "public.a");
      CHECK(t->relations[1]->qualified_name() == "pg_catalog.b");
      CHECK(t->cascade);
      CHECK(t->restart_identity);
      CHECK(t->txn.xid == 9);
    }
    if (const auto* m = std::get_if<MessageEventView>(&e)) {
      if (m->transactional) {
        saw_tx_message = true;
        CHECK(m->txn.xid == 9);
        CHECK(m->prefix == "p");
        CHECK(m->message_lsn == Lsn{0x777});
      } else {
        saw_nontx_message = true;
        CHECK(m->content.size() == 3);
        CHECK_FALSE(m->txn.commit_lsn.is_valid());
      }
    }
  };
  run.feed_all({wire::relation(1, "public", "a", kCols), wire::relation(2, "", "b", kCols), wire::begin(0x9000, 9),
                wire::truncate({1, 2}, 3), wire::message(true, 0x777, "p", "hello"), wire::commit(0x9000, 0x9010),
                wire::message(false, 0x9100, "q", "abc")});
  REQUIRE_FALSE(run.error);
  CHECK(saw_truncate);
  CHECK(saw_tx_message);
  CHECK(saw_nontx_message);
}

TEST_CASE("a changed Relation becomes a schema change before the table's next row") {
  Run run;
  std::vector<std::pair<std::size_t, std::size_t>> schema_changes;  // old / new column counts
  std::vector<std::size_t> row_widths;
  run.on_event = [&](const ChangeEvent& e) {
    if (const auto* s = std::get_if<SchemaChangeEvent>(&e))
      schema_changes.emplace_back(s->old_relation->columns.size(), s->new_relation->columns.size());
    if (const auto* r = std::get_if<RowChangeView>(&e)) row_widths.push_back(r->relation->columns.size());
  };
  std::vector<wire::Col> wider = kCols;
  wider.push_back({"email", 25, false});
  run.feed_all({wire::relation(7, "public", "users", kCols), wire::begin(0x100, 1), wire::insert(7, {"1", "a"}),
                wire::commit(0x100, 0x108),
                // The same definition again: nothing to report.
                wire::relation(7, "public", "users", kCols), wire::begin(0x200, 2), wire::insert(7, {"2", "b"}),
                wire::commit(0x200, 0x208),
                // A column added (ALTER TABLE ... ADD COLUMN): reported once, before the next row.
                wire::relation(7, "public", "users", wider), wire::begin(0x300, 3), wire::insert(7, {"3", "c", "e"}),
                wire::insert(7, {"4", "d", "f"}), wire::commit(0x300, 0x308)});
  REQUIRE_FALSE(run.error);
  CHECK(run.kinds() == std::vector<std::string>{"begin", "insert", "commit", "begin", "insert", "commit", "begin",
                                                "schema_change", "insert", "insert", "commit"});
  REQUIRE(schema_changes.size() == 1);
  CHECK(schema_changes[0] == std::pair<std::size_t, std::size_t>{2, 3});
  CHECK(row_widths == std::vector<std::size_t>{2, 2, 3, 3});
  run.decoder.release_retired();  // nothing pending: frees the old definition
}

TEST_CASE("streamed changes carry the sent xid and the stream's xid, commit info at Stream Commit") {
  Run run;
  std::vector<TxnContext> contexts;
  run.on_event = [&](const ChangeEvent& e) { contexts.push_back(txn_of(e)); };
  run.feed_all({wire::stream_start(900, true), wire::relation(5, "public", "s", kCols, 900),
                wire::insert(5, {"1", "x"}, 900), wire::insert(5, {"2", "y"}, 901), wire::stream_stop(),
                wire::stream_abort(900, 901), wire::stream_commit(900, 0x7000, 0x7008, 55)});
  REQUIRE_FALSE(run.error);
  CHECK(run.kinds() == std::vector<std::string>{"begin", "insert", "insert", "stream_abort", "commit"});
  CHECK(contexts[0].streamed);
  CHECK(contexts[1].xid == 900);
  CHECK(contexts[2].xid == 901);  // a subtransaction's change
  CHECK(contexts[2].top_xid == 900);
  CHECK_FALSE(contexts[1].commit_lsn.is_valid());  // not known inside the stream
  CHECK(contexts[4].commit_lsn == Lsn{0x7000});
  CHECK(run.events[4].end_lsn == Lsn{0x7008});
}

TEST_CASE("protocol violations are typed errors naming the problem") {
  SECTION("a row for a relation never described") {
    Run run;
    run.feed_all({wire::begin(0x100, 1), wire::insert(99, {"1"})});
    REQUIRE(run.error);
    CHECK_THAT(run.error->message, Catch::Contains("relation OID 99"));
    CHECK_FALSE(run.error->retryable());
  }
  SECTION("a row outside a transaction") {
    Run run;
    run.feed_all({wire::relation(1, "public", "a", kCols), wire::insert(1, {"1", "a"})});
    REQUIRE(run.error);
    CHECK_THAT(run.error->message, Catch::Contains("outside a transaction"));
  }
  SECTION("a tuple narrower than its relation") {
    Run run;
    run.feed_all({wire::relation(1, "public", "a", kCols), wire::begin(0x100, 1), wire::insert(1, {"1"})});
    REQUIRE(run.error);
    CHECK_THAT(run.error->message, Catch::Contains("different width"));
  }
  SECTION("Begin inside a transaction") {
    Run run;
    run.feed_all({wire::begin(0x100, 1), wire::begin(0x200, 2)});
    REQUIRE(run.error);
  }
  SECTION("Commit without Begin") {
    Run run;
    run.feed_all({wire::commit(0x100, 0x108)});
    REQUIRE(run.error);
  }
  SECTION("a truncated message") {
    Run run;
    Bytes bad = wire::begin(0x100, 1);
    bad.resize(bad.size() - 2);
    run.feed_all({bad});
    REQUIRE(run.error);
    CHECK_THAT(run.error->message, Catch::Contains("truncated"));
  }
  SECTION("Prepare without Begin Prepare") {
    Run run;
    run.feed_all({wire::Writer('P').u8(0).u64(1).u64(2).u64(3).u32(4).cstr("gid").take()});
    REQUIRE(run.error);
    CHECK_THAT(run.error->message, Catch::Contains("Prepare outside a transaction"));
  }
}

TEST_CASE("reset() forgets a half-received transaction") {
  Run run;
  run.feed_all({wire::relation(1, "public", "a", kCols), wire::begin(0x100, 1), wire::insert(1, {"1", "a"})});
  REQUIRE_FALSE(run.error);
  CHECK(run.decoder.in_transaction());
  run.decoder.reset();
  CHECK_FALSE(run.decoder.in_transaction());
  REQUIRE(run.feed(wire::begin(0x200, 2), 0x2000));  // a new Begin is fine again
}

namespace {
// Replays a captured file through decoder + batcher; returns the released events.
struct CorpusResult {
  std::vector<SeenEvent> events;
  std::map<std::string, std::size_t> kinds;
  std::map<std::string, std::size_t> values;  // column "v" of t_stream rows
  std::optional<ReplicationError> error;
};

CorpusResult replay_file(const std::string& name) {
  CorpusResult out;
  auto t = transport::ReplayTransport::open(runfile("tests/data/" + name));
  REQUIRE(t);
  REQUIRE(t->start(Lsn{}));
  PgOutputEventDecoder decoder;
  TransactionBatcher batcher;
  const auto now = std::chrono::steady_clock::now();
  for (;;) {
    auto ev = t->poll(std::chrono::milliseconds(0));
    REQUIRE(ev);
    if (std::holds_alternative<EndOfStream>(*ev)) break;
    const auto* msg = std::get_if<WalMessage>(&*ev);
    if (msg == nullptr) continue;
    auto st = decoder.decode(*msg, [&](const ChangeEvent& e) { return batcher.add(e, now); });
    if (!st) {
      out.error = st.error();
      return out;
    }
    if (batcher.ready(now)) {
      for (const ChangeEvent& e : batcher.batch().events()) {
        out.events.push_back(see(e));
        ++out.kinds[out.events.back().kind];
        if (const auto* r = std::get_if<RowChangeView>(&e)) {
          REQUIRE(r->relation != nullptr);
          CHECK(r->txn.commit_lsn.is_valid());  // streamed ones were stamped at Stream Commit
          if (auto v = r->new_text("v")) ++out.values[std::string(*v)];
        }
      }
      batcher.release();
    }
  }
  CHECK_FALSE(batcher.in_flight());
  return out;
}
}  // namespace

TEST_CASE("captured basic.stream: every message decodes into events") {
  auto r = replay_file("basic.stream");
  REQUIRE_FALSE(r.error);
  CHECK(r.kinds["insert"] >= 10);
  CHECK(r.kinds["update"] >= 5);
  CHECK(r.kinds["delete"] >= 4);
  CHECK(r.kinds["truncate"] >= 2);
  CHECK(r.kinds["message"] == 2);
  CHECK(r.kinds["begin"] == r.kinds["commit"]);
}

TEST_CASE("captured binary.stream decodes") {
  auto r = replay_file("binary.stream");
  REQUIRE_FALSE(r.error);
  CHECK(r.kinds["insert"] == 2);
  CHECK(r.kinds["update"] == 1);
  CHECK(r.kinds["delete"] == 1);
}

TEST_CASE("captured streaming.stream: committed streamed rows arrive once, aborted ones never") {
  auto r = replay_file("streaming.stream");
  REQUIRE_FALSE(r.error);
  CHECK(r.values["x"] == 1000);
  CHECK(r.values["small"] == 1);
  CHECK(r.values["kept"] == 300);
  CHECK(r.values["after savepoint"] == 1);
  CHECK(r.values["rolled back"] == 0);
  CHECK(r.values["rolled back to savepoint"] == 0);
  CHECK(r.kinds["insert"] == 1302);
}

TEST_CASE("captured two_phase.stream: committed prepared rows arrive once, rolled back ones never") {
  auto r = replay_file("two_phase.stream");
  REQUIRE_FALSE(r.error);
  CHECK(r.values["p1"] == 1);
  CHECK(r.values["p2"] == 0);      // ROLLBACK PREPARED
  CHECK(r.values["big"] == 1000);  // Stream Prepare, then COMMIT PREPARED
  CHECK(r.kinds["begin"] == r.kinds["commit"]);
}
