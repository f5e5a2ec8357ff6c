// Arena, Batch and the batching policies: limits, whole transactions, streamed transactions held
// until Stream Commit and dropped on (sub)transaction abort, storage reuse.
#include <catch2/catch.hpp>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;
using namespace replicator::test;
using namespace std::chrono_literals;

TEST_CASE("Arena: stable chunks, oversize values, reuse through the pool") {
  auto pool = std::make_shared<ChunkPool>(1024);
  Arena a(pool);
  std::string small(100, 'x');
  auto s1 = a.copy(std::string_view(small));
  std::vector<std::string_view> kept;
  for (int i = 0; i < 50; ++i) kept.push_back(a.copy(std::string_view(small)));
  std::string big(5000, 'y');
  auto b = a.copy(std::string_view(big));
  CHECK(s1 == small);
  for (auto k : kept) CHECK(k == small);  // earlier copies did not move
  CHECK(b == big);
  CHECK(a.bytes_used() == 51 * 100 + 5000);
  const auto chunks = a.chunk_count();
  a.clear();
  CHECK(pool->free_chunks() == chunks - 1);  // the oversize chunk is freed, the others pooled
  CHECK(a.bytes_used() == 0);
  Arena other(pool);
  other.copy(std::string_view(small));
  CHECK(pool->free_chunks() == chunks - 2);  // taken from the pool, not allocated
  const std::uint64_t nums[] = {1, 2, 3};
  auto arr = other.copy_array(std::span<const std::uint64_t>(nums));
  CHECK(reinterpret_cast<std::uintptr_t>(arr.data()) % alignof(std::uint64_t) == 0);
  CHECK(arr[2] == 3);
}

namespace {

const std::vector<wire::Col> kCols = {{"id", 23, true}, {"v", 25, false}};

// Decodes payloads (at increasing LSNs) into a batcher; collects flushed batches.
template <class Batcher>
struct Pipe {
  explicit Pipe(Batcher b) : batcher(std::move(b)) {}
  PgOutputEventDecoder decoder;
  Batcher batcher;
  std::uint64_t lsn = 0x1000;
  std::vector<std::vector<SeenEvent>> flushed;
  std::vector<Lsn> confirms;
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point{} + 1h;

  void feed(const Bytes& payload) {
    WalMessage m{Lsn{lsn}, Lsn{lsn}, PgTimestamp{}, payload, 0};
    lsn += 0x10;
    auto st = decoder.decode(m, [&](const ChangeEvent& e) { return batcher.add(e, now); });
    REQUIRE(st);
    // The payload buffer dies here: scribble on it so a view kept by the batch would show.
    auto& mut = const_cast<Bytes&>(payload);
    std::fill(mut.begin(), mut.end(), std::byte{0xEE});
  }
  bool maybe_flush() {
    if (!batcher.ready(now)) return false;
    flush();
    return true;
  }
  void flush() {
    std::vector<SeenEvent> evs;
    for (const auto& e : batcher.batch().events()) evs.push_back(see(e));
    flushed.push_back(std::move(evs));
    confirms.push_back(batcher.batch().confirm_lsn());
    batcher.release();
  }
  // One transaction of n inserts with ids from `first`.
  void txn(std::uint32_t xid, int first, int n) {
    Bytes b = wire::begin(0x100000 + xid * 0x100, xid);
    feed(b);
    for (int i = 0; i < n; ++i) {
      Bytes ins = wire::insert(1, {std::to_string(first + i), "v"});
      feed(ins);
      maybe_flush_mid = maybe_flush_mid || batcher.ready(now);
    }
    Bytes c = wire::commit(0x100000 + xid * 0x100, 0x100000 + xid * 0x100 + 8);
    feed(c);
  }
  void relation() {
    Bytes r = wire::relation(1, "public", "t", kCols);
    feed(r);
  }
  bool maybe_flush_mid = false;
};

std::vector<std::string> ids(const std::vector<SeenEvent>& evs) {
  std::vector<std::string> out;
  for (const auto& e : evs)
    if (e.kind == "insert" || e.kind == "update" || e.kind == "delete") out.push_back(e.id);
  return out;
}
}  // namespace

TEST_CASE("TransactionBatcher: one batch per commit, confirm = its end LSN") {
  Pipe<TransactionBatcher> p{TransactionBatcher{}};
  p.relation();
  p.txn(1, 1, 3);
  CHECK_FALSE(p.maybe_flush_mid);  // never ready inside a transaction
  REQUIRE(p.maybe_flush());
  p.txn(2, 4, 2);
  REQUIRE(p.maybe_flush());
  REQUIRE(p.flushed.size() == 2);
  CHECK(ids(p.flushed[0]) == std::vector<std::string>{"1", "2", "3"});
  CHECK(p.flushed[0].front().kind == "begin");
  CHECK(p.flushed[0].back().kind == "commit");
  CHECK(p.confirms[0] == Lsn{0x100108});
  CHECK(p.confirms[1] == Lsn{0x100208});
  CHECK_FALSE(p.batcher.in_flight());
}

TEST_CASE("CountBatcher: flushes at the first commit past the limit, never inside a transaction") {
  Pipe<CountBatcher> p{CountBatcher{ByCount{5}}};
  p.relation();
  p.txn(1, 1, 3);
  CHECK_FALSE(p.maybe_flush());  // 3 < 5
  p.txn(2, 4, 10);
  CHECK_FALSE(p.maybe_flush_mid);
  REQUIRE(p.maybe_flush());  // 13 rows: both transactions, whole
  CHECK(ids(p.flushed[0]).size() == 13);
  CHECK(p.confirms[0] == Lsn{0x100208});
}

TEST_CASE("BytesBatcher and TimeBatcher") {
  SECTION("bytes") {
    Pipe<BytesBatcher> p{BytesBatcher{ByBytes{20}}};
    p.relation();
    p.txn(1, 1, 1);  // "1" + "v" = 2 bytes
    CHECK_FALSE(p.maybe_flush());
    p.txn(2, 100, 8);  // 8 * 4 more
    CHECK(p.maybe_flush());
  }
  SECTION("age") {
    Pipe<TimeBatcher> p{TimeBatcher{ByAge{100ms}}};
    p.relation();
    p.txn(1, 1, 1);
    CHECK_FALSE(p.maybe_flush());
    p.now += 99ms;
    CHECK_FALSE(p.maybe_flush());
    p.now += 1ms;
    CHECK(p.maybe_flush());
    p.now += 1s;
    CHECK_FALSE(p.maybe_flush());  // nothing new since
  }
}

TEST_CASE("CombinedBatcher: any limit") {
  Pipe<CombinedBatcher> p{CombinedBatcher{ByLimits{.max_rows = 100, .max_age = 50ms}}};
  p.relation();
  p.txn(1, 1, 2);
  CHECK_FALSE(p.maybe_flush());
  p.now += 50ms;
  CHECK(p.maybe_flush());
  p.txn(2, 1, 150);
  CHECK(p.maybe_flush());  // rows
}

TEST_CASE("split_transactions lets a batch end inside a transaction; confirm stays at the last commit") {
  Pipe<CountBatcher> p{CountBatcher{ByCount{4}, BatcherOptions{.split_transactions = true}}};
  p.relation();
  p.txn(1, 1, 2);  // 2 rows, commit end 0x100108
  Bytes b = wire::begin(0x100200, 2);
  p.feed(b);
  for (int i = 0; i < 3; ++i) {
    Bytes ins = wire::insert(1, {std::to_string(10 + i), "v"});
    p.feed(ins);
  }
  REQUIRE(p.maybe_flush());  // 5 rows, mid-transaction
  CHECK(p.confirms[0] == Lsn{0x100108});
  CHECK(p.batcher.in_flight());  // the open transaction
  Bytes c = wire::commit(0x100200, 0x100208);
  p.feed(c);
  p.flush();
  CHECK(p.flushed[1].size() == 1);  // just the commit
  CHECK(p.confirms[1] == Lsn{0x100208});
}

TEST_CASE("transactions whose rows were all filtered move the position without events") {
  TransactionBatcher b;
  const auto now = std::chrono::steady_clock::now();
  REQUIRE(b.add(ChangeEvent{BeginEvent{Lsn{1}, TxnContext{5, 5, Lsn{0x50}, {}, false}}}, now));
  CHECK(b.in_flight());
  REQUIRE(b.add(ChangeEvent{CommitEvent{Lsn{2}, TxnContext{5, 5, Lsn{0x50}, {}, false}, Lsn{0x58}}}, now));
  CHECK(b.ready(now));
  CHECK(b.batch().empty());
  CHECK(b.batch().confirm_lsn() == Lsn{0x58});
  CHECK_FALSE(b.in_flight());
  b.release();
  SECTION("unless asked to keep them") {
    TransactionBatcher k{ByTransactions{1}, BatcherOptions{.keep_empty_transactions = true}};
    REQUIRE(k.add(ChangeEvent{BeginEvent{Lsn{1}, TxnContext{5, 5, Lsn{0x50}, {}, false}}}, now));
    REQUIRE(k.add(ChangeEvent{CommitEvent{Lsn{2}, TxnContext{5, 5, Lsn{0x50}, {}, false}, Lsn{0x58}}}, now));
    CHECK(k.batch().size() == 2);
  }
}

TEST_CASE("streamed transactions are held until Stream Commit and dropped on abort") {
  Pipe<TransactionBatcher> p{TransactionBatcher{}};
  auto feed = [&](Bytes b) { p.feed(b); };
  // Transaction 900 streams in two blocks, interleaved with 950 which aborts, and a normal one.
  feed(wire::stream_start(900, true));
  feed(wire::relation(1, "public", "t", kCols, 900));
  feed(wire::insert(1, {"1", "a"}, 900));
  feed(wire::insert(1, {"2", "sub"}, 901));  // subtransaction 901
  feed(wire::stream_stop());
  feed(wire::stream_start(950, true));
  feed(wire::insert(1, {"50", "x"}, 950));
  feed(wire::stream_stop());
  CHECK(p.batcher.streamed_transactions() == 2);
  CHECK(p.batcher.in_flight());
  CHECK_FALSE(p.maybe_flush());  // nothing committed yet
  p.txn(3, 100, 1);              // a normal transaction commits meanwhile
  REQUIRE(p.maybe_flush());
  CHECK(ids(p.flushed[0]) == std::vector<std::string>{"100"});
  feed(wire::stream_start(900, false));
  feed(wire::insert(1, {"3", "sub2"}, 902));
  feed(wire::insert(1, {"4", "b"}, 900));
  feed(wire::stream_stop());
  feed(wire::stream_abort(950, 950));  // whole transaction
  feed(wire::stream_abort(900, 901));  // subtransaction 901 rolled back
  CHECK(p.batcher.streamed_transactions() == 1);
  feed(wire::stream_commit(900, 0x9000, 0x9008, 77));
  REQUIRE(p.maybe_flush());
  const auto& evs = p.flushed[1];
  CHECK(ids(evs) == std::vector<std::string>{"1", "3", "4"});
  CHECK(evs.front().kind == "begin");
  CHECK(evs.back().kind == "commit");
  for (const auto& e : evs) CHECK(e.commit_lsn == Lsn{0x9000});  // stamped at Stream Commit
  CHECK(p.confirms[1] == Lsn{0x9008});
  CHECK_FALSE(p.batcher.in_flight());
}

TEST_CASE("reset() drops everything not released") {
  Pipe<CountBatcher> p{CountBatcher{ByCount{1000}}};
  p.relation();
  p.txn(1, 1, 3);
  p.feed(wire::stream_start(900, true));
  p.feed(wire::insert(1, {"1", "a"}, 900));
  p.feed(wire::stream_stop());
  Bytes b = wire::begin(0x50000, 4);
  p.feed(b);
  CHECK(p.batcher.in_flight());
  p.batcher.reset();
  CHECK_FALSE(p.batcher.in_flight());
  CHECK(p.batcher.batch().empty());
  CHECK(p.batcher.streamed_transactions() == 0);
}

TEST_CASE("out-of-order events are errors, not crashes") {
  TransactionBatcher b;
  const auto now = std::chrono::steady_clock::now();
  RelationInfo rel;
  auto st = b.add(ChangeEvent{RowChangeView{ChangeOp::insert, Lsn{1}, {}, &rel, OldTupleKind::none, {}, {}}}, now);
  REQUIRE_FALSE(st);
  CHECK_THAT(st.error().message, Catch::Contains("outside a transaction"));
  REQUIRE_FALSE(b.add(ChangeEvent{CommitEvent{Lsn{2}, {}, Lsn{3}}}, now));
  REQUIRE(b.add(ChangeEvent{BeginEvent{Lsn{1}, {}}}, now));
  REQUIRE_FALSE(b.add(ChangeEvent{BeginEvent{Lsn{1}, {}}}, now));
}

TEST_CASE("steady state reuses storage: the pool stops growing") {
  Pipe<TransactionBatcher> p{TransactionBatcher{ByTransactions{1}, BatcherOptions{.chunk_size = 4096}}};
  p.relation();
  std::string big(1000, 'z');
  std::size_t chunks_after_warmup = 0;
  for (std::uint32_t t = 1; t <= 200; ++t) {
    Bytes b = wire::begin(0x100000 + t * 0x100, t);
    p.feed(b);
    for (int i = 0; i < 10; ++i) {
      Bytes ins = wire::insert(1, {std::to_string(i), big});
      p.feed(ins);
    }
    Bytes c = wire::commit(0x100000 + t * 0x100, 0x100000 + t * 0x100 + 8);
    p.feed(c);
    REQUIRE(p.maybe_flush());
    if (t == 10) chunks_after_warmup = p.batcher.batch().pool()->free_chunks();
  }
  CHECK(p.batcher.batch().pool()->free_chunks() == chunks_after_warmup);
  CHECK(chunks_after_warmup > 0);
}
