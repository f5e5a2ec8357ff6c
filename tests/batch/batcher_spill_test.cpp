// BasicBatcher past its memory limit, driven through Replicator<...>: streamed, normal and prepared
// transactions spill to a file and come back in pieces at commit, in order, with the confirmed
// position moving only with the commit; (sub)transaction aborts and ROLLBACK PREPARED drop what was
// spilled; a held prepared transaction caps the confirmed position at its PREPARE.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/replicator.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;
using namespace replicator::test;
using namespace std::chrono_literals;

namespace {

const std::vector<wire::Col> kCols = {{"id", 23, true}, {"v", 25, false}};
const std::string kPad(200, 'p');  // ~200 bytes per row: 64 kB holds ~250 rows

// Two-phase messages as PostgreSQL 15 writes them.
Bytes begin_prepare(std::uint64_t prepare_lsn, std::uint64_t end_lsn, std::uint32_t xid, std::string_view gid) {
  return wire::Writer('b').u64(prepare_lsn).u64(end_lsn).u64(1000).u32(xid).cstr(gid).take();
}
Bytes prepare(char tag, std::uint64_t prepare_lsn, std::uint64_t end_lsn, std::uint32_t xid, std::string_view gid) {
  return wire::Writer(tag).u8(0).u64(prepare_lsn).u64(end_lsn).u64(1000).u32(xid).cstr(gid).take();
}
Bytes commit_prepared(std::uint64_t commit_lsn, std::uint64_t end_lsn, std::uint32_t xid, std::string_view gid) {
  return wire::Writer('K').u8(0).u64(commit_lsn).u64(end_lsn).u64(3000).u32(xid).cstr(gid).take();
}
Bytes rollback_prepared(std::uint64_t prepare_end, std::uint64_t rollback_end, std::uint32_t xid,
                        std::string_view gid) {
  return wire::Writer('r').u8(0).u64(prepare_end).u64(rollback_end).u64(1000).u64(3000).u32(xid).cstr(gid).take();
}

// A script builder that hands out increasing WAL positions.
struct Script {
  ScriptedTransport t;
  std::uint64_t lsn = 0x10000;
  Script() { put(wire::relation(1, "public", "t", kCols)); }
  std::uint64_t put(Bytes b) {
    const std::uint64_t at = lsn;
    t.wal(at, std::move(b));
    lsn += 0x100;
    return at;
  }
  void rows(int from, int to, std::optional<std::uint32_t> sx = std::nullopt) {
    for (int i = from; i < to; ++i) put(wire::insert(1, {std::to_string(i), kPad}, sx));
  }
  // A normal transaction of rows [from, to); returns its commit end LSN.
  std::uint64_t txn(std::uint32_t xid, int from, int to) {
    const std::uint64_t commit_at = lsn + static_cast<std::uint64_t>(to - from + 1) * 0x100;
    put(wire::begin(commit_at, xid));
    rows(from, to);
    put(wire::commit(commit_at, commit_at + 8));
    return commit_at + 8;
  }
};

BatcherOptions spilling(std::size_t limit = 64 * 1024) {
  BatcherOptions o;
  o.memory_limit_bytes = limit;
  return o;
}

using R = Replicator<ScriptedTransport, PgOutputEventDecoder, TransactionBatcher, FlakyStore, RecordingSink>;

R make(Script& s, BatcherOptions o = spilling()) {
  return R(std::move(s.t), PgOutputEventDecoder{}, TransactionBatcher(ByTransactions{}, o), FlakyStore{},
           RecordingSink{});
}

// Runs until the script is consumed; checks that no save ever passes what the sink made durable.
// `strict` off: the last step only moves the position (nothing written for it).
void drain(R& r, bool strict = true) {
  if (strict) r.position_store().on_save = [&](const Position& p) { CHECK(p.lsn <= r.sink().durable_commit_end); };
  if (r.transport().starts.empty()) REQUIRE(r.start());
  while (!r.transport().done()) REQUIRE(r.run_once(0ms));
  REQUIRE(r.run_once(0ms));
}

std::vector<std::string> ids(const std::vector<SeenEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events)
    if (e.kind == "insert") out.push_back(e.id);
  return out;
}
std::vector<std::string> range(int from, int to, int skip_mod = 0, int skip_rem = -1) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i)
    if (skip_mod == 0 || i % skip_mod != skip_rem) out.push_back(std::to_string(i));
  return out;
}
Lsn saved(R& r) { return r.position_store().position ? r.position_store().position->lsn : Lsn{}; }

}  // namespace

TEST_CASE("a streamed transaction past the memory limit spills and goes out in pieces at Stream Commit") {
  Script s;
  const auto before = s.txn(500, 0, 3);
  s.put(wire::stream_start(600, true));
  s.rows(1000, 3000, 600);
  s.put(wire::stream_stop());
  const auto other = s.txn(501, 10, 12);  // commits while the streamed one is open
  s.put(wire::stream_start(600, false));
  s.rows(3000, 5000, 600);
  s.put(wire::stream_stop());
  const std::uint64_t commit_lsn = s.lsn;
  s.put(wire::stream_commit(600, commit_lsn, commit_lsn + 8));
  R r = make(s);
  r.position_store().on_save = [&](const Position& p) { CHECK(p.lsn <= r.sink().durable_commit_end); };
  REQUIRE(r.start());
  // Until Stream Commit nothing of the streamed transaction reaches the sink.
  while (!r.transport().done()) {
    REQUIRE(r.run_once(0ms));
    if (r.batcher().spill_stats().transactions == 1 && r.batcher().streamed_transactions() == 1) {
      CHECK(r.batcher().held_bytes() <= 64 * 1024);
      for (const auto& e : r.sink().written) CHECK(e.xid != 600);
    }
  }
  REQUIRE(r.run_once(0ms));
  CHECK(r.batcher().spill_stats().transactions == 1);
  CHECK(r.batcher().spill_stats().events >= 4000);
  CHECK(r.batcher().spill_stats().bytes > 4000 * 200);
  CHECK(r.batcher().spill_stats().files_open == 0);
  std::vector<std::string> want = range(0, 3);
  for (auto& x : range(10, 12)) want.push_back(x);
  for (auto& x : range(1000, 5000)) want.push_back(x);
  CHECK(ids(r.sink().durable) == want);
  // Pieces: the streamed transaction took several writes; only the last holds its commit.
  CHECK(r.sink().write_calls > 4);
  CHECK(r.sink().durable.back().kind == "commit");
  CHECK(r.sink().durable.back().end_lsn == Lsn{commit_lsn + 8});
  for (const auto& e : r.sink().durable)
    if (e.xid == 600) CHECK(e.commit_lsn == Lsn{commit_lsn});  // stamped as they came back
  CHECK(saved(r) == Lsn{commit_lsn + 8});
  CHECK(before < other);
  CHECK_FALSE(r.batcher().in_flight());
}

TEST_CASE("Stream Abort drops a spilled transaction, and a spilled subtransaction's rows") {
  Script s;
  // Subtransaction 701 of 700 writes every fifth row, then is rolled back to its savepoint.
  s.put(wire::stream_start(700, true));
  for (int i = 0; i < 2000; ++i) s.put(wire::insert(1, {std::to_string(i), kPad}, i % 5 == 0 ? 701u : 700u));
  s.put(wire::stream_stop());
  s.put(wire::stream_abort(700, 701));
  // A second streamed transaction is spilled and then aborted as a whole.
  s.put(wire::stream_start(800, true));
  s.rows(5000, 7000, 800);
  s.put(wire::stream_stop());
  s.put(wire::stream_abort(800, 800));
  s.put(wire::stream_start(700, false));
  s.rows(2000, 2100, 700);
  s.put(wire::stream_stop());
  const std::uint64_t commit_lsn = s.lsn;
  s.put(wire::stream_commit(700, commit_lsn, commit_lsn + 8));
  R r = make(s);
  drain(r);
  CHECK(r.batcher().spill_stats().transactions == 2);
  CHECK(r.batcher().spill_stats().files_open == 0);
  auto want = range(0, 2000, 5, 0);
  for (auto& x : range(2000, 2100)) want.push_back(x);
  CHECK(ids(r.sink().durable) == want);  // nothing of 800, nothing of subtransaction 701
  CHECK(saved(r) == Lsn{commit_lsn + 8});
}

TEST_CASE("a huge normal transaction (streaming off) spills too; the position moves only at its commit") {
  Script s;
  const auto first = s.txn(900, 0, 2);
  const auto big = s.txn(901, 100, 3100);
  R r = make(s);
  std::vector<Lsn> saves;
  r.position_store().on_save = [&](const Position& p) {
    saves.push_back(p.lsn);
    CHECK(p.lsn <= r.sink().durable_commit_end);
  };
  REQUIRE(r.start());
  while (!r.transport().done()) REQUIRE(r.run_once(0ms));
  REQUIRE(r.run_once(0ms));
  CHECK(r.batcher().spill_stats().transactions == 1);
  auto want = range(0, 2);
  for (auto& x : range(100, 3100)) want.push_back(x);
  CHECK(ids(r.sink().durable) == want);
  CHECK(saves == std::vector<Lsn>{Lsn{first}, Lsn{big}});  // never a position inside the big one
}

TEST_CASE("memory limit 0 never spills") {
  Script s;
  s.txn(950, 0, 3000);
  R r = make(s, spilling(0));
  drain(r);
  CHECK(r.batcher().spill_stats().transactions == 0);
  CHECK(ids(r.sink().durable).size() == 3000);
}

TEST_CASE("a sink failure while a spilled transaction goes out: nothing confirmed past it, resent in full") {
  Script s;
  const auto big = s.txn(960, 0, 3000);
  R r = make(s);
  r.sink().fail_write_at = 3;  // the middle of the spilled transaction
  REQUIRE(r.start());
  Status failed = ok_status();
  while (!r.transport().done()) {
    auto more = r.run_once(0ms);
    if (!more) {
      failed = more.error();
      break;
    }
  }
  REQUIRE_FALSE(failed);
  CHECK(r.flushed_lsn() < Lsn{big});
  CHECK_FALSE(r.position_store().position);
  REQUIRE(r.recover());  // drops the rest of the spill; the server would resend from the start
  CHECK(r.batcher().spill_stats().files_open == 0);
  CHECK_FALSE(r.batcher().in_flight());
}

TEST_CASE("two-phase: held until COMMIT PREPARED, dropped on ROLLBACK PREPARED, position capped at the PREPARE") {
  Script s;
  // Prepared transaction 'g1' (xid 1000).
  const std::uint64_t prep1 = s.lsn + 0x400;
  s.put(begin_prepare(prep1, prep1 + 8, 1000, "g1"));
  s.rows(1, 3);
  s.put(prepare('P', prep1, prep1 + 8, 1000, "g1"));
  // Prepared transaction 'g2' (xid 1001), rolled back later.
  const std::uint64_t prep2 = s.lsn + 0x300;
  s.put(begin_prepare(prep2, prep2 + 8, 1001, "g2"));
  s.rows(50, 51);
  s.put(prepare('P', prep2, prep2 + 8, 1001, "g2"));
  // A normal transaction commits after both PREPAREs.
  const auto normal = s.txn(1002, 100, 101);
  const std::uint64_t rb = s.lsn;
  s.put(rollback_prepared(prep2 + 8, rb + 8, 1001, "g2"));
  const std::uint64_t cp = s.lsn;
  s.put(commit_prepared(cp, cp + 8, 1000, "g1"));

  R r = make(s);
  r.position_store().on_save = [&](const Position& p) { CHECK(p.lsn <= r.sink().durable_commit_end); };
  REQUIRE(r.start());
  bool checked_cap = false;
  while (!r.transport().done()) {
    REQUIRE(r.run_once(0ms));
    if (!checked_cap && ids(r.sink().durable) == std::vector<std::string>{"100"}) {
      // The normal transaction is written, but the position stays at the oldest held PREPARE.
      checked_cap = true;
      CHECK(r.batcher().prepared_transactions() == 2);
      CHECK(r.batcher().confirm_limit() == Lsn{prep1});
      CHECK(saved(r) == Lsn{prep1});
      CHECK(r.transport().last_flushed() <= Lsn{prep1});
    }
  }
  REQUIRE(r.run_once(0ms));
  CHECK(checked_cap);
  CHECK(ids(r.sink().durable) == std::vector<std::string>{"100", "1", "2"});  // never 50
  CHECK(r.batcher().prepared_transactions() == 0);
  CHECK(saved(r) == Lsn{cp + 8});
  // The committed prepared transaction reaches sinks as begin, rows, commit (commit LSN stamped).
  const auto& d = r.sink().durable;
  auto it = std::find_if(d.begin(), d.end(), [](const SeenEvent& e) { return e.xid == 1000; });
  REQUIRE(it != d.end());
  CHECK(it->kind == "begin");
  CHECK(d.back().kind == "commit");
  CHECK(d.back().end_lsn == Lsn{cp + 8});
  for (const auto& e : d)
    if (e.xid == 1000) CHECK(e.commit_lsn == Lsn{cp});
  CHECK(normal > prep1);
}

TEST_CASE("two-phase: Stream Prepare, spilled prepared transactions, COMMIT PREPARED of an unknown GID") {
  Script s;
  // Streamed and prepared (Stream Prepare), big enough to spill.
  s.put(wire::stream_start(1100, true));
  s.rows(0, 1500, 1100);
  s.put(wire::stream_stop());
  const std::uint64_t prep = s.lsn;
  s.put(prepare('p', prep, prep + 8, 1100, "streamed-gid"));
  // A normal prepared transaction that spills.
  const std::uint64_t prep2 = s.lsn + 0x100 * 2001;
  s.put(begin_prepare(prep2, prep2 + 8, 1101, "big-gid"));
  s.rows(5000, 7000);
  s.put(prepare('P', prep2, prep2 + 8, 1101, "big-gid"));
  const std::uint64_t cp1 = s.lsn;
  s.put(commit_prepared(cp1, cp1 + 8, 1101, "big-gid"));
  const std::uint64_t cp2 = s.lsn;
  s.put(commit_prepared(cp2, cp2 + 8, 1100, "streamed-gid"));
  const std::uint64_t cp3 = s.lsn;
  s.put(commit_prepared(cp3, cp3 + 8, 1200, "never-seen"));
  R r = make(s);
  drain(r, false);
  CHECK(r.batcher().spill_stats().transactions == 2);
  CHECK(r.batcher().spill_stats().files_open == 0);
  auto want = range(5000, 7000);
  for (auto& x : range(0, 1500)) want.push_back(x);
  CHECK(ids(r.sink().durable) == want);
  CHECK(r.batcher().unknown_commit_prepared() == 1);
  CHECK(saved(r) == Lsn{cp3 + 8});
}

TEST_CASE("add() refuses events while a spilled transaction is not fully handed on") {
  TransactionBatcher b(ByTransactions{}, spilling(4096));
  PgOutputEventDecoder d;
  const auto now = std::chrono::steady_clock::now();
  std::uint64_t lsn = 0x100;
  auto feed = [&](Bytes p) {
    WalMessage m{Lsn{lsn}, Lsn{lsn}, PgTimestamp{}, p, 0};
    lsn += 0x10;
    return d.decode(m, [&](const ChangeEvent& e) { return b.add(e, now); });
  };
  REQUIRE(feed(wire::relation(1, "public", "t", kCols)));
  REQUIRE(feed(wire::begin(0x9000, 5)));
  for (int i = 0; i < 100; ++i) REQUIRE(feed(wire::insert(1, {std::to_string(i), kPad})));
  REQUIRE(feed(wire::commit(0x9000, 0x9008)));
  CHECK(b.spill_stats().transactions == 1);
  CHECK(b.ready(now));
  auto refused = feed(wire::begin(0x9100, 6));
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains("refill"));
  std::size_t rows = 0;
  Lsn confirm;
  for (;;) {
    rows += b.batch().rows();
    if (b.batch().confirm_lsn().is_valid()) confirm = b.batch().confirm_lsn();
    b.release();
    auto more = b.refill();
    REQUIRE(more);
    if (!*more) break;
  }
  CHECK(rows == 100);
  CHECK(confirm == Lsn{0x9008});
  CHECK_FALSE(b.in_flight());
}
