// What ReplicatorMetrics costs the replication loop: the same Replicator over a scripted stream
// (transactions of 100 inserts into 4 tables, a null sink), with the metrics attached (the
// observer chain, stats sampled after every poll, changes counted by table and op per batch) and
// without. CPU time per message; the ratio is the overhead.
//   bazel run -c opt --config=opt //bench:metrics_bench
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>

#include "replicator/batch/batcher.hpp"
#include "replicator/metrics/replicator_metrics.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;
using namespace replicator::test;

namespace {

struct NullSink {
  std::size_t events = 0;
  Status write(const Batch& b) {
    events += b.size();
    return ok_status();
  }
  Status flush() { return ok_status(); }
};

ScriptedTransport script() {
  ScriptedTransport t;
  const std::vector<wire::Col> cols = {{"id", 23, true}, {"v", 25, false}, {"n", 23, false}};
  std::uint64_t lsn = 0x1000;
  for (std::uint32_t oid = 1; oid <= 4; ++oid)
    t.wal(lsn++, wire::relation(oid, "public", "t" + std::to_string(oid), cols));
  for (int x = 0; x < 200; ++x) {
    const std::uint64_t end = lsn + 200;
    t.wal(lsn++, wire::begin(end, static_cast<std::uint32_t>(1000 + x), 1'000'000 + x));
    for (int r = 0; r < 100; ++r)
      t.wal(lsn++, wire::insert(1 + static_cast<std::uint32_t>(x % 4), {std::to_string(r), "some text value", "42"}));
    t.wal(lsn, wire::commit(end, end + 8, 1'000'000 + x));
    lsn = end + 16;
  }
  return t;
}

using R = Replicator<ScriptedTransport, PgOutputEventDecoder, TransactionBatcher, MemoryPositionStore, NullSink>;

void Loop(benchmark::State& state) {
  const bool with_metrics = state.range(0) != 0;
  R r(script(), PgOutputEventDecoder{}, TransactionBatcher{}, MemoryPositionStore{}, NullSink{});
  metrics::ReplicatorMetrics m("bench");
  if (with_metrics) m.attach(r);
  if (!r.start()) state.SkipWithError("start failed");
  const auto& progressed = r.observer().progressed;
  std::int64_t messages = 0;
  for (auto _ : state) {
    auto more = r.run_once(std::chrono::milliseconds(0));
    if (!more) {
      state.SkipWithError(more.error().message.c_str());
      break;
    }
    if (progressed) progressed();  // what run() does after each poll
    if (r.transport().done()) r.transport().rewind();
    ++messages;
  }
  state.SetItemsProcessed(messages);
  benchmark::DoNotOptimize(r.sink().events);
}

}  // namespace

BENCHMARK(Loop)->Arg(0)->Arg(1)->ArgName("metrics")->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK_MAIN();
