// Replicator<...>: the loop's order (write, flush, save, then confirm), failure injection in every
// policy, keepalive advancement, resume from the stored position, coalesced saves, and run()'s own
// recovery: retryable errors waited out with backoff and resumed from the confirmed position.
#include <catch2/catch.hpp>

#include <atomic>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "replicator/filter/change_filter.hpp"
#include "replicator/sink/callback.hpp"
#include "replicator/transport/frame.hpp"
#include "replicator/transport/replay.hpp"
#include "tests/support/failing_transport.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;
using namespace replicator::test;
using namespace std::chrono_literals;
using transport::ReplayTransport;
using FailingReplay = FailingPoll<ReplayTransport>;

namespace {

const std::vector<wire::Col> kCols = {{"id", 23, true}, {"v", 25, false}};

// Commit end LSN of transaction i (1-based) in the streams below.
constexpr std::uint64_t end_of(int i) { return 0x10000 + static_cast<std::uint64_t>(i) * 0x1000 + 8; }

// A stream of n transactions on table public.t, transaction i inserting id i (and i*100 when two rows).
Bytes stream_file(int n, int rows_per_txn = 1) {
  Bytes out;
  transport::FrameWriter w(out);
  std::uint64_t lsn = 0x10000;
  auto put = [&](const Bytes& b) {
    REQUIRE(w.write(Lsn{lsn}, std::span<const std::byte>(b)));
    lsn += 0x10;
  };
  put(wire::relation(1, "public", "t", kCols));
  for (int i = 1; i <= n; ++i) {
    lsn = 0x10000 + static_cast<std::uint64_t>(i) * 0x1000 - 0x800;
    put(wire::begin(end_of(i) - 8, static_cast<std::uint32_t>(700 + i)));
    for (int r = 0; r < rows_per_txn; ++r) put(wire::insert(1, {std::to_string(i * (r == 0 ? 1 : 100)), "v"}));
    put(wire::commit(end_of(i) - 8, end_of(i)));
  }
  return out;
}

std::vector<std::string> durable_ids(const RecordingSink& s) {
  std::vector<std::string> ids;
  for (const auto& e : s.durable)
    if (e.kind == "insert") ids.push_back(e.id);
  return ids;
}

// For the tests of recover() itself: run() returns the first error instead of reconnecting.
const ReplicatorOptions kManualRecovery{.reconnect = std::nullopt};

template <class Transport, class Batcher = TransactionBatcher, class Store = FlakyStore>
using R = Replicator<Transport, PgOutputEventDecoder, Batcher, Store, RecordingSink>;

// Every reported flush position must be one the store saved (or 0/0).
template <class T>
void check_statuses_saved(const std::vector<StandbyStatus>& statuses, const FlakyStore& store, const T&) {
  for (const auto& s : statuses) {
    if (!s.flushed.is_valid()) continue;
    CHECK(std::find(store.history.begin(), store.history.end(), s.flushed) != store.history.end());
  }
}

}  // namespace

TEST_CASE("run: every change once, in order; flushed = last durable commit") {
  R<ReplayTransport> r(ReplayTransport(stream_file(5)), PgOutputEventDecoder{}, TransactionBatcher{}, FlakyStore{},
                       RecordingSink{}, ReplicatorOptions{.slot_name = "s1"});
  // A save must never get ahead of what the sink made durable.
  r.position_store().on_save = [&](const Position& p) { CHECK(p.lsn <= r.sink().durable_commit_end); };
  std::atomic<bool> stop{false};
  auto st = r.run(stop);
  REQUIRE(st);
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"1", "2", "3", "4", "5"});
  CHECK(r.sink().durable.front().kind == "begin");
  CHECK(r.flushed_lsn() == Lsn{end_of(5)});
  REQUIRE(r.position_store().position);
  CHECK(r.position_store().position->lsn == Lsn{end_of(5)});
  CHECK(r.position_store().position->slot == "s1");
  CHECK(r.transport().last_flushed() == Lsn{end_of(5)});
  check_statuses_saved(r.transport().status_updates(), r.position_store(), 0);
  CHECK(r.stats().batches == 5);
  CHECK(r.stats().saves == 5);
}

TEST_CASE("a failing sink flush does not move the position; recover() resends without loss") {
  RecordingSink sink;
  sink.fail_flush_at = 3;  // the third transaction's flush fails
  R<ReplayTransport> r(ReplayTransport(stream_file(5)), PgOutputEventDecoder{}, TransactionBatcher{}, FlakyStore{},
                       std::move(sink), kManualRecovery);
  std::atomic<bool> stop{false};
  auto st = r.run(stop);
  REQUIRE_FALSE(st);
  CHECK(st.error().retryable());
  CHECK_THAT(st.error().message, Catch::Contains("flush"));
  CHECK(r.flushed_lsn() == Lsn{end_of(2)});
  CHECK(r.position_store().position->lsn == Lsn{end_of(2)});
  CHECK(r.transport().last_flushed() == Lsn{end_of(2)});  // never the failed batch's end
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"1", "2"});

  REQUIRE(r.recover());
  CHECK(r.transport().start_lsn() == Lsn{end_of(2)});
  REQUIRE(r.run(stop));
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"1", "2", "3", "4", "5"});
  CHECK(r.transport().last_flushed() == Lsn{end_of(5)});
  check_statuses_saved(r.transport().status_updates(), r.position_store(), 0);
}

TEST_CASE("a failing sink write does not move the position") {
  RecordingSink sink;
  sink.fail_write_at = 1;
  R<ReplayTransport> r(ReplayTransport(stream_file(2)), PgOutputEventDecoder{}, TransactionBatcher{}, FlakyStore{},
                       std::move(sink), kManualRecovery);
  std::atomic<bool> stop{false};
  REQUIRE_FALSE(r.run(stop));
  CHECK_FALSE(r.flushed_lsn().is_valid());
  CHECK_FALSE(r.position_store().position);
  CHECK(r.transport().last_flushed() == Lsn{});
  REQUIRE(r.recover());
  REQUIRE(r.run(stop));
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"1", "2"});
}

TEST_CASE("a failing position store does not move the confirmed position; changes repeat, none is lost") {
  FlakyStore store;
  store.fail_save_at = 3;
  R<ReplayTransport> r(ReplayTransport(stream_file(5)), PgOutputEventDecoder{}, TransactionBatcher{}, std::move(store),
                       RecordingSink{}, kManualRecovery);
  std::atomic<bool> stop{false};
  auto st = r.run(stop);
  REQUIRE_FALSE(st);
  CHECK_THAT(st.error().message, Catch::Contains("save"));
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"1", "2", "3"});  // the sink has 3 ...
  CHECK(r.flushed_lsn() == Lsn{end_of(2)});                                 // ... but only 2 are confirmed
  CHECK(r.transport().last_flushed() == Lsn{end_of(2)});

  REQUIRE(r.recover());
  REQUIRE(r.run(stop));
  // At-least-once: transaction 3 arrives again (it was after the last confirmed position).
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"1", "2", "3", "3", "4", "5"});
  CHECK(r.position_store().position->lsn == Lsn{end_of(5)});
  check_statuses_saved(r.transport().status_updates(), r.position_store(), 0);
}

TEST_CASE("a store that keeps failing never lets the slot move") {
  FlakyStore store;
  store.fail_all = true;
  R<ReplayTransport> r(ReplayTransport(stream_file(3)), PgOutputEventDecoder{}, TransactionBatcher{}, std::move(store),
                       RecordingSink{}, kManualRecovery);
  std::atomic<bool> stop{false};
  for (int attempt = 0; attempt < 3; ++attempt) {
    REQUIRE_FALSE(r.run(stop));
    CHECK(r.transport().last_flushed() == Lsn{});
    REQUIRE(r.recover());
  }
  CHECK(r.flushed_lsn() == Lsn{});
}

// run() with reconnects on: a store that fails for now is retried in place, not by reconnecting.
const ReplicatorOptions kQuickRetry{.reconnect = BackoffOptions{.initial = 1ms, .max = 2ms}};

TEST_CASE("run(): a save that fails for now is retried while the stream goes on; nothing repeats") {
  FlakyStore store;
  store.fail_save_at = 1;
  R<ReplayTransport> r(ReplayTransport(stream_file(5)), PgOutputEventDecoder{}, TransactionBatcher{}, std::move(store),
                       RecordingSink{}, kQuickRetry);
  int failures_seen = 0;
  r.observer().save_failed = [&](const ReplicationError& e, int attempt, std::chrono::milliseconds retry_in) {
    ++failures_seen;
    CHECK(e.retryable());
    CHECK(attempt == 1);
    CHECK(retry_in <= 2ms);
  };
  std::atomic<bool> stop{false};
  REQUIRE(r.run(stop));
  CHECK(failures_seen == 1);
  CHECK(r.stats().save_failures == 1);
  CHECK(r.stats().retries == 0);  // no reconnect, so nothing was sent twice
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"1", "2", "3", "4", "5"});
  CHECK(r.position_store().position->lsn == Lsn{end_of(5)});
  check_statuses_saved(r.transport().status_updates(), r.position_store(), 0);
}

TEST_CASE("run(): a store that never saves confirms nothing, and the final save's error is returned") {
  FlakyStore store;
  store.fail_all = true;
  R<ReplayTransport> r(ReplayTransport(stream_file(3)), PgOutputEventDecoder{}, TransactionBatcher{}, std::move(store),
                       RecordingSink{}, kQuickRetry);
  std::atomic<bool> stop{false};
  auto st = r.run(stop);
  REQUIRE_FALSE(st);
  CHECK_THAT(st.error().message, Catch::Contains("injected save failure"));
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"1", "2", "3"});
  CHECK(r.stats().save_failures >= 1);
  CHECK(r.flushed_lsn() == Lsn{});
  CHECK(r.transport().last_flushed() == Lsn{});
}

TEST_CASE("run(): a fatal save error stops the stream at once") {
  FlakyStore store;
  store.fail_save_at = 2;
  store.fail_fatal = true;
  R<ReplayTransport> r(ReplayTransport(stream_file(5)), PgOutputEventDecoder{}, TransactionBatcher{}, std::move(store),
                       RecordingSink{}, kQuickRetry);
  std::atomic<bool> stop{false};
  auto st = r.run(stop);
  REQUIRE_FALSE(st);
  CHECK_FALSE(st.error().retryable());
  CHECK(r.stats().save_failures == 0);
  CHECK(r.flushed_lsn() == Lsn{end_of(1)});
}

TEST_CASE("the transport failing its Nth poll: recover() and continue without loss") {
  FailingReplay t{ReplayTransport(stream_file(4, 2))};
  R<FailingReplay> r(std::move(t), PgOutputEventDecoder{}, TransactionBatcher{}, FlakyStore{}, RecordingSink{},
                     kManualRecovery);
  REQUIRE(r.start());
  r.transport().fail_nth_poll(8);  // inside transaction 2 or 3
  std::atomic<bool> stop{false};
  auto st = r.run(stop);
  REQUIRE_FALSE(st);
  CHECK(st.error().retryable());
  const Lsn confirmed = r.transport().last_flushed();
  REQUIRE(r.recover());
  CHECK(r.transport().start_lsn() == confirmed);
  REQUIRE(r.run(stop));
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"1", "100", "2", "200", "3", "300", "4", "400"});
}

TEST_CASE("a send_status failure surfaces, after the position was saved") {
  ScriptedTransport t;
  t.wal(0x100, wire::relation(1, "public", "t", kCols))
      .wal(0x110, wire::begin(0x200, 1))
      .wal(0x120, wire::insert(1, {"1", "a"}))
      .wal(0x130, wire::commit(0x200, 0x208))
      .end();
  t.fail_nth_status(1);
  R<ScriptedTransport, TransactionBatcher, MemoryPositionStore> r(std::move(t), PgOutputEventDecoder{},
                                                                  TransactionBatcher{}, MemoryPositionStore{},
                                                                  RecordingSink{}, kManualRecovery);
  std::atomic<bool> stop{false};
  REQUIRE_FALSE(r.run(stop));
  CHECK(r.position_store().position()->lsn == Lsn{0x208});  // saved: the sink had it durably
}

TEST_CASE("keepalives: answered at once; when idle the slot advances to the server's WAL end") {
  ScriptedTransport t;
  t.wal(0x100, wire::relation(1, "public", "t", kCols))
      .wal(0x110, wire::begin(0x200, 1))
      .wal(0x120, wire::insert(1, {"1", "a"}))
      .wal(0x130, wire::commit(0x200, 0x208))
      .keepalive(0x5000, true)
      .idle()
      .keepalive(0x6000, false)
      .end();
  R<ScriptedTransport> r(std::move(t), PgOutputEventDecoder{}, TransactionBatcher{}, FlakyStore{}, RecordingSink{});
  REQUIRE(r.start());
  for (int i = 0; i < 5; ++i) REQUIRE(r.run_once(0ms));
  // After the first keepalive: the commit was durable, nothing in flight -> 0/5000 saved and sent.
  CHECK(r.position_store().position->lsn == Lsn{0x5000});
  CHECK(r.transport().statuses.back().flushed == Lsn{0x5000});
  REQUIRE(r.run_once(0ms));  // idle
  REQUIRE(r.run_once(0ms));  // second keepalive: no reply requested, but still advances
  CHECK(r.flushed_lsn() == Lsn{0x6000});
  auto more = r.run_once(0ms);
  REQUIRE(more);
  CHECK_FALSE(*more);  // end of stream
}

TEST_CASE("keepalives do not advance past data still in flight") {
  ScriptedTransport t;
  t.wal(0x100, wire::relation(1, "public", "t", kCols))
      .wal(0x110, wire::begin(0x200, 1))
      .wal(0x120, wire::insert(1, {"1", "a"}))
      .wal(0x130, wire::commit(0x200, 0x208))
      .keepalive(0x5000, true)
      .wal(0x5010, wire::begin(0x6000, 2))  // a transaction left open
      .wal(0x5020, wire::insert(1, {"2", "a"}))
      .keepalive(0x7000, true)
      .end();
  R<ScriptedTransport, CountBatcher> r(std::move(t), PgOutputEventDecoder{}, CountBatcher{ByCount{1000}}, FlakyStore{},
                                       RecordingSink{});
  REQUIRE(r.start());
  for (int i = 0; i < 5; ++i) REQUIRE(r.run_once(0ms));
  // Transaction 1 sits in the (not yet full) batch: the keepalive is answered without advancing.
  CHECK(r.transport().statuses.size() == 1);
  CHECK(r.transport().statuses.back().flushed == Lsn{});
  for (int i = 0; i < 3; ++i) REQUIRE(r.run_once(0ms));
  CHECK(r.transport().statuses.back().flushed == Lsn{});  // open transaction 2: still in flight
  REQUIRE(r.shutdown());
  CHECK(r.flushed_lsn() == Lsn{0x208});  // the complete transaction only
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"1"});
}

TEST_CASE("filtered-out changes still advance the position") {
  ScriptedTransport t;
  t.wal(0x100, wire::relation(1, "public", "hidden", kCols))
      .wal(0x110, wire::begin(0x200, 1))
      .wal(0x120, wire::insert(1, {"1", "a"}))
      .wal(0x130, wire::commit(0x200, 0x208))
      .end();
  ChangeFilter filter;
  filter.tables.exclude = {"public.hidden"};
  Replicator<ScriptedTransport, PgOutputEventDecoder, TransactionBatcher, FlakyStore, RecordingSink, ChangeFilter> r(
      std::move(t), PgOutputEventDecoder{}, TransactionBatcher{}, FlakyStore{}, RecordingSink{}, {}, std::move(filter));
  std::atomic<bool> stop{false};
  REQUIRE(r.run(stop));
  CHECK(r.sink().durable.empty());
  CHECK(r.sink().write_calls == 0);
  CHECK(r.flushed_lsn() == Lsn{0x208});
  CHECK(r.stats().filtered == 1);
}

TEST_CASE("resume: start() loads the store and starts the transport there") {
  FlakyStore store;
  store.position = Position{Lsn{end_of(2)}, 1, "s1", 42, {}};
  R<ReplayTransport> r(ReplayTransport(stream_file(4)), PgOutputEventDecoder{}, TransactionBatcher{}, std::move(store),
                       RecordingSink{}, ReplicatorOptions{.slot_name = "s1", .system_id = 42});
  std::atomic<bool> stop{false};
  REQUIRE(r.run(stop));
  CHECK(r.transport().start_lsn() == Lsn{end_of(2)});
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"3", "4"});
  CHECK(r.position_store().position->system_id == 42);

  SECTION("a position of another slot is refused") {
    FlakyStore other;
    other.position = Position{Lsn{1}, 1, "other_slot", 0, {}};
    R<ReplayTransport> r2(ReplayTransport(stream_file(1)), PgOutputEventDecoder{}, TransactionBatcher{},
                          std::move(other), RecordingSink{}, ReplicatorOptions{.slot_name = "s1"});
    auto st = r2.start();
    REQUIRE_FALSE(st);
    CHECK_THAT(st.error().message, Catch::Contains("other_slot"));
    CHECK(r2.transport().start_count() == 0);
  }
  SECTION("a position from another cluster is refused") {
    FlakyStore other;
    other.position = Position{Lsn{1}, 1, "s1", 43, {}};
    R<ReplayTransport> r2(ReplayTransport(stream_file(1)), PgOutputEventDecoder{}, TransactionBatcher{},
                          std::move(other), RecordingSink{}, ReplicatorOptions{.slot_name = "s1", .system_id = 42});
    auto st = r2.start();
    REQUIRE_FALSE(st);
    CHECK_THAT(st.error().message, Catch::Contains("wrong cluster"));
  }
}

TEST_CASE("min_save_interval coalesces saves; shutdown saves the last one") {
  R<ReplayTransport> r(ReplayTransport(stream_file(5)), PgOutputEventDecoder{}, TransactionBatcher{}, FlakyStore{},
                       RecordingSink{}, ReplicatorOptions{.min_save_interval = 1h});
  std::atomic<bool> stop{false};
  REQUIRE(r.run(stop));
  CHECK(r.position_store().history == std::vector<Lsn>{Lsn{end_of(1)}, Lsn{end_of(5)}});
  CHECK(r.sink().flush_calls == 5);
  check_statuses_saved(r.transport().status_updates(), r.position_store(), 0);
}

TEST_CASE("status updates go out every status_interval even when idle") {
  ScriptedTransport t;
  for (int i = 0; i < 3; ++i) t.idle();
  R<ScriptedTransport> r(std::move(t), PgOutputEventDecoder{}, TransactionBatcher{}, FlakyStore{}, RecordingSink{},
                         ReplicatorOptions{.status_interval = 0ms});
  REQUIRE(r.start());
  for (int i = 0; i < 3; ++i) REQUIRE(r.run_once(0ms));
  CHECK(r.transport().statuses.size() == 3);
}

TEST_CASE("a stop request ends the loop with a clean shutdown") {
  ScriptedTransport t;
  t.wal(0x100, wire::relation(1, "public", "t", kCols)).wal(0x110, wire::begin(0x200, 1));
  R<ScriptedTransport> r(std::move(t), PgOutputEventDecoder{}, TransactionBatcher{}, FlakyStore{}, RecordingSink{});
  std::stop_source src;
  src.request_stop();
  REQUIRE(r.run(src.get_token()));
  CHECK(r.transport().starts.size() == 1);
  CHECK(r.transport().polls == 0);
  CHECK(r.transport().statuses.size() == 1);  // the final status update
}

TEST_CASE("a decode error is fatal and names the WAL position") {
  ScriptedTransport t;
  t.wal(0xABC, wire::Writer('Z').take());
  R<ScriptedTransport> r(std::move(t), PgOutputEventDecoder{}, TransactionBatcher{}, FlakyStore{}, RecordingSink{});
  std::atomic<bool> stop{false};
  auto st = r.run(stop);
  REQUIRE_FALSE(st);
  CHECK_FALSE(st.error().retryable());
  CHECK_THAT(st.error().message, Catch::Contains("0/ABC"));
  REQUIRE(st.error().decode_error);
  CHECK(st.error().decode_error->code == Errc::unknown_message);
  CHECK(st.error().decode_error->offset == 0);
}

TEST_CASE("captured streams through the whole Replicator with a callback sink") {
  auto t = ReplayTransport::open(runfile("tests/data/streaming.stream"));
  REQUIRE(t);
  std::size_t rows = 0;
  Lsn last_commit_end;
  auto sink = CallbackSink([&](const ChangeEvent& e) {
    if (std::holds_alternative<RowChangeView>(e)) ++rows;
    if (const auto* c = std::get_if<CommitEvent>(&e)) last_commit_end = c->end_lsn;
  });
  Replicator r(std::move(*t), PgOutputEventDecoder{}, CombinedBatcher{ByLimits{.max_rows = 100}}, MemoryPositionStore{},
               std::move(sink));
  std::atomic<bool> stop{false};
  REQUIRE(r.run(stop));
  CHECK(rows == 1302);
  CHECK(r.flushed_lsn() == last_commit_end);
}

namespace {
// A replayed stream that behaves like a live server: its end is the server ending COPY.
struct EndlessReplay : ReplayTransport {
  static constexpr bool endless_stream = true;
  using ReplayTransport::ReplayTransport;
};
static_assert(EndlessTransport<EndlessReplay> && !EndlessTransport<ReplayTransport>);

// Short delays, so the tests do not wait; the observer records what run() reports.
struct Recorded {
  std::vector<std::string> retries;  // "during:attempt:message"
  std::vector<Lsn> resumed;
  int started = 0;
  int progressed = 0;
};
ReplicatorOptions recovering(Recorded& rec) {
  ReplicatorOptions o;
  o.reconnect = BackoffOptions{.initial = 1ms, .max = 4ms, .multiplier = 2.0, .reset_after = 1h};
  o.observer.started = [&rec] { ++rec.started; };
  o.observer.retrying = [&rec](const ReplicationError& e, std::string_view during, int attempt,
                               std::chrono::milliseconds delay) {
    CHECK(e.retryable());
    CHECK(delay <= 4ms);
    rec.retries.push_back(std::string(during) + ":" + std::to_string(attempt) + ":" + e.message);
  };
  o.observer.resumed = [&rec](Lsn from) { rec.resumed.push_back(from); };
  o.observer.progressed = [&rec] { ++rec.progressed; };
  return o;
}
}  // namespace

TEST_CASE("run() waits out a retryable poll failure and resumes from the confirmed position") {
  Recorded rec;
  R<FailingReplay> r(FailingReplay(ReplayTransport(stream_file(4, 2))), PgOutputEventDecoder{}, TransactionBatcher{},
                     FlakyStore{}, RecordingSink{}, recovering(rec));
  REQUIRE(r.start());
  r.transport().fail_nth_poll(8);  // inside transaction 2 or 3
  std::atomic<bool> stop{false};
  REQUIRE(r.run(stop));
  // The open transaction was not confirmed: it came again whole, nothing else twice.
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"1", "100", "2", "200", "3", "300", "4", "400"});
  REQUIRE(rec.retries.size() == 1);
  CHECK_THAT(rec.retries[0], Catch::StartsWith("replication:1:") && Catch::Contains("injected"));
  REQUIRE(rec.resumed.size() == 1);
  CHECK(r.transport().start_lsn() == rec.resumed[0]);  // the second start: at the confirmed position
  CHECK(rec.resumed[0].is_valid());
  CHECK(r.stats().retries == 1);
  CHECK(r.stats().reconnects == 1);
  CHECK(rec.progressed > 0);
  CHECK(r.flushed_lsn() == Lsn{end_of(4)});
}

TEST_CASE("run() retries a failing start, then streams; each attempt reported") {
  Recorded rec;
  ScriptedTransport t;
  t.wal(0x100, wire::relation(1, "public", "t", kCols))
      .wal(0x110, wire::begin(0x200, 1))
      .wal(0x120, wire::insert(1, {"1", "a"}))
      .wal(0x130, wire::commit(0x200, 0x208))
      .end();
  t.fail_start(true);
  ReplicatorOptions o = recovering(rec);
  ScriptedTransport* transport = nullptr;
  auto count = o.observer.retrying;
  o.observer.retrying = [&](const ReplicationError& e, std::string_view during, int attempt,
                            std::chrono::milliseconds d) {
    count(e, during, attempt, d);
    if (attempt == 3) transport->fail_start(false);  // the server is back
  };
  R<ScriptedTransport> r(std::move(t), PgOutputEventDecoder{}, TransactionBatcher{}, FlakyStore{}, RecordingSink{}, o);
  transport = &r.transport();
  std::atomic<bool> stop{false};
  REQUIRE(r.run(stop));
  CHECK(rec.retries == std::vector<std::string>{"connecting:1:scripted: start failed",
                                                "connecting:2:scripted: start failed",
                                                "connecting:3:scripted: start failed"});
  CHECK(r.transport().starts.size() == 4);
  CHECK(rec.started == 1);
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"1"});
}

TEST_CASE("an endless transport's end of stream is a reason to reconnect, not to stop") {
  Recorded rec;
  ReplicatorOptions o = recovering(rec);
  std::atomic<bool> stop{false};
  o.observer.resumed = [&](Lsn from) {
    rec.resumed.push_back(from);
    if (rec.resumed.size() == 2) stop = true;  // the server "ended COPY" twice; enough
  };
  R<EndlessReplay> r(EndlessReplay(stream_file(3)), PgOutputEventDecoder{}, TransactionBatcher{}, FlakyStore{},
                     RecordingSink{}, o);
  REQUIRE(r.run(stop));
  REQUIRE(rec.retries.size() >= 2);
  CHECK_THAT(rec.retries[0], Catch::Contains("the server ended the replication stream"));
  // Each resume starts at the confirmed end: nothing is delivered twice.
  CHECK(rec.resumed == std::vector<Lsn>{Lsn{end_of(3)}, Lsn{end_of(3)}});
  CHECK(durable_ids(r.sink()) == std::vector<std::string>{"1", "2", "3"});
}

TEST_CASE("a stop while waiting to reconnect ends run() at once, keeping the confirmed position") {
  Recorded rec;
  ReplicatorOptions o = recovering(rec);
  o.reconnect = BackoffOptions{.initial = 1h, .max = 1h, .multiplier = 1.0, .reset_after = 1h};
  std::atomic<bool> stop{false};
  o.observer.retrying = [&](const ReplicationError&, std::string_view, int, std::chrono::milliseconds) { stop = true; };
  R<FailingReplay> r(FailingReplay(ReplayTransport(stream_file(4))), PgOutputEventDecoder{}, TransactionBatcher{},
                     FlakyStore{}, RecordingSink{}, o);
  REQUIRE(r.start());
  r.transport().fail_nth_poll(6);
  REQUIRE(r.run(stop));  // returns instead of sleeping an hour
  CHECK(r.stats().retries == 1);
  CHECK(r.stats().reconnects == 0);
  REQUIRE(r.position_store().position);
  CHECK(r.position_store().position->lsn == r.flushed_lsn());
  CHECK(r.transport().last_flushed() <= r.flushed_lsn());
}

TEST_CASE("a fatal error is returned at once, never retried") {
  Recorded rec;
  ScriptedTransport t;
  t.wal(0xABC, wire::Writer('Z').take());
  R<ScriptedTransport> r(std::move(t), PgOutputEventDecoder{}, TransactionBatcher{}, FlakyStore{}, RecordingSink{},
                         recovering(rec));
  std::atomic<bool> stop{false};
  auto st = r.run(stop);
  REQUIRE_FALSE(st);
  CHECK_FALSE(st.error().retryable());
  CHECK(rec.retries.empty());
  CHECK(r.transport().starts.size() == 1);
}
