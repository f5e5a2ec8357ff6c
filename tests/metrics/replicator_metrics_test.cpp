// metrics/replicator_metrics.hpp over a Replicator with a scripted stream: changes by table and op,
// messages, bytes, batches and save histograms, LSN gauges and lag, errors and reconnects, the
// observer callbacks that were set before still run, and `promtool check metrics` accepts it all.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "replicator/batch/batcher.hpp"
#include "replicator/metrics/replicator_metrics.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "metrics_support.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;
using namespace replicator::test;
using replicator::metrics::ReplicatorMetrics;

namespace {
const std::vector<wire::Col> kCols = {{"id", 23, true}, {"v", 25, false}};

using R = Replicator<ScriptedTransport, PgOutputEventDecoder, TransactionBatcher, MemoryPositionStore, RecordingSink>;

ScriptedTransport workload() {
  ScriptedTransport t;
  t.wal(0x100, wire::relation(1, "public", "t", kCols))
      .wal(0x110, wire::relation(2, "app", "we\"ird", kCols))
      .wal(0x120, wire::begin(0x200, 1, 1'000'000))
      .wal(0x130, wire::insert(1, {"1", "a"}))
      .wal(0x140, wire::insert(1, {"2", "b"}))
      .wal(0x150, wire::update(1, 0, {}, {"1", "c"}))
      .wal(0x160, wire::insert(2, {"1", "x"}))
      .wal(0x170, wire::truncate({1, 2}, 0))
      .wal(0x180, wire::commit(0x200, 0x208, 1'000'000))
      .keepalive(0x300)  // nothing in flight: confirmed moves to the server's WAL end
      .keepalive(0x300, true);
  return t;
}

std::string sample(const std::string& text, const std::string& series) {
  const auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return "(absent)";
  const auto start = at + series.size() + 2;
  return text.substr(start, text.find('\n', start) - start);
}

std::string promtool_check(const std::string& text) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return replicator::test::promtool_check(tmp ? tmp : "/tmp", text);
}
}  // namespace

TEST_CASE("ReplicatorMetrics counts what the Replicator did", "[metrics]") {
  R r(workload(), PgOutputEventDecoder{}, TransactionBatcher{}, MemoryPositionStore{}, RecordingSink{});
  int progressed_before = 0;
  r.observer().progressed = [&] { ++progressed_before; };
  ReplicatorMetrics m("test");
  m.attach(r);
  REQUIRE(r.start());
  while (!r.transport().done()) {
    auto more = r.run_once(std::chrono::milliseconds(1));
    if (!more) FAIL(more.error().message);
    r.observer().progressed();
  }
  CHECK(progressed_before > 0);  // chained, not replaced
  const std::string text = m.expose();
  CHECK(sample(text, "replicator_changes_total{table=\"public.t\",op=\"insert\"}") == "2");
  CHECK(sample(text, "replicator_changes_total{table=\"public.t\",op=\"update\"}") == "1");
  CHECK(sample(text, "replicator_changes_total{table=\"public.t\",op=\"truncate\"}") == "1");
  CHECK(sample(text, "replicator_changes_total{table=\"app.we\\\"ird\",op=\"insert\"}") == "1");
  CHECK(sample(text, "replicator_messages_total") == "9");
  CHECK(sample(text, "replicator_batches_total") == "1");
  CHECK(sample(text, "replicator_batch_changes_count") == "1");
  CHECK(sample(text, "replicator_batch_changes_bucket{le=\"10\"}") == "1");
  CHECK(sample(text, "replicator_sink_flush_seconds_count") == "1");
  CHECK(sample(text, "replicator_position_save_seconds_count") != "0");
  CHECK(sample(text, "replicator_confirmed_lsn") == std::to_string(0x300));
  CHECK(sample(text, "replicator_server_wal_lsn") == std::to_string(0x300));
  CHECK(sample(text, "replicator_lag_bytes") == "0");
  CHECK(sample(text, "replicator_last_commit_timestamp_seconds") == "946684801");  // 2000-01-01 + 1 s
  CHECK(std::stoull(sample(text, "replicator_bytes_received_total")) > 50);
  CHECK(sample(text, "replicator_build_info{version=\"test\"}") == "1");
  CHECK(promtool_check(text) == "");
}

TEST_CASE("a save that fails for now counts, as a retryable error, and the stream goes on", "[metrics]") {
  FlakyStore store;
  store.fail_all = true;
  Replicator<ScriptedTransport, PgOutputEventDecoder, TransactionBatcher, FlakyStore, RecordingSink> r(
      workload(), PgOutputEventDecoder{}, TransactionBatcher{}, std::move(store), RecordingSink{});
  ReplicatorMetrics m;
  m.attach(r);
  REQUIRE(r.start());
  while (!r.transport().done()) {
    auto more = r.run_once(std::chrono::milliseconds(1));
    if (!more) FAIL(more.error().message);
  }
  m.sample(r);
  const std::string text = m.expose();
  CHECK(sample(text, "replicator_position_save_failures_total") == "1");  // the next try waits the backoff
  CHECK(sample(text, "replicator_errors_total{class=\"retryable\",sqlstate=\"none\"}") == "1");
  CHECK(sample(text, "replicator_events_written_total") != "0");
  CHECK(sample(text, "replicator_confirmed_lsn") == "0");
  CHECK(promtool_check(text) == "");
}

TEST_CASE("lag while a transaction is not yet confirmed", "[metrics]") {
  ScriptedTransport t;
  t.wal(0x100, wire::relation(1, "public", "t", kCols))
      .wal(0x120, wire::begin(0x900, 1))
      .wal(0x130, wire::insert(1, {"1", "a"}));
  t.keepalive(0x1000);
  R r(std::move(t), PgOutputEventDecoder{}, TransactionBatcher{}, MemoryPositionStore{}, RecordingSink{});
  ReplicatorMetrics m;
  m.attach(r);
  REQUIRE(r.start());
  for (int i = 0; i < 4; ++i) {
    REQUIRE(r.run_once(std::chrono::milliseconds(1)));
    r.observer().progressed();
  }
  const std::string text = m.expose();
  CHECK(sample(text, "replicator_confirmed_lsn") == "0");
  CHECK(sample(text, "replicator_lag_bytes") == "0");                       // nothing confirmed yet: unknown, not 4096
  CHECK(sample(text, "replicator_received_lsn") == std::to_string(0x130));  // the keepalive's end waits for the commit
}

TEST_CASE("retryable errors count by class, sqlstate and reason; state follows", "[metrics]") {
  ScriptedTransport t = workload();
  t.fail_nth_poll(3);
  ReplicatorOptions o;
  o.reconnect =
      BackoffOptions{std::chrono::milliseconds(1), std::chrono::milliseconds(2), 2.0, std::chrono::milliseconds(0)};
  R r(std::move(t), PgOutputEventDecoder{}, TransactionBatcher{}, MemoryPositionStore{}, RecordingSink{}, o);
  ReplicatorMetrics m;
  m.attach(r);
  bool was_ready = false, ready_while_retrying = true;
  r.observer().started = [&, inner = r.observer().started] {
    inner();
    was_ready = m.ready();
  };
  r.observer().retrying = [&, inner = r.observer().retrying](const ReplicationError& e, std::string_view d, int a,
                                                             std::chrono::milliseconds delay) {
    inner(e, d, a, delay);
    ready_while_retrying = m.ready();
  };
  std::atomic<bool> stop{false};
  r.observer().progressed = [&, inner = r.observer().progressed] {
    inner();
    if (r.transport().done()) stop = true;
  };
  auto st = r.run(stop);
  if (!st) FAIL(st.error().message);
  CHECK(was_ready);
  CHECK_FALSE(ready_while_retrying);
  CHECK(m.ready());
  m.record_error(ReplicationError::fatal("permission denied", "42501"));
  const std::string text = m.expose();
  CHECK(sample(text, "replicator_errors_total{class=\"retryable\",sqlstate=\"none\"}") == "1");
  CHECK(sample(text, "replicator_errors_total{class=\"fatal\",sqlstate=\"42501\"}") == "1");
  CHECK(sample(text, "replicator_reconnects_total{reason=\"replication\"}") == "1");
  CHECK(sample(text, "replicator_connected") == "1");
  CHECK(promtool_check(text) == "");
}

TEST_CASE("slot health and snapshot gauges", "[metrics]") {
  ReplicatorMetrics m;
  m.record_slot(123456, std::nullopt, "extended", true, true);
  m.record_snapshot(1000, 2, 3);
  m.record_heartbeat(true);
  std::string text = m.expose();
  CHECK(sample(text, "replicator_slot_retained_wal_bytes") == "123456");
  CHECK(sample(text, "replicator_slot_safe_wal_size_bytes") == "+Inf");
  CHECK(sample(text, "replicator_slot_wal_status{status=\"extended\"}") == "1");
  CHECK(sample(text, "replicator_slot_wal_status{status=\"reserved\"}") == "0");
  CHECK(sample(text, "replicator_slot_active") == "1");
  CHECK(sample(text, "replicator_slot_retained_wal_warning") == "1");
  CHECK(sample(text, "replicator_snapshot_rows_total") == "1000");
  CHECK(sample(text, "replicator_snapshot_tables_done") == "2");
  CHECK(sample(text, "replicator_heartbeats_total") == "1");
  m.record_slot(1, 4096, "reserved", false, false);
  text = m.expose();
  CHECK(sample(text, "replicator_slot_safe_wal_size_bytes") == "4096");
  CHECK(sample(text, "replicator_slot_wal_status{status=\"extended\"}") == "0");
  CHECK(promtool_check(text) == "");
}
