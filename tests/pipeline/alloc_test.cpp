// Steady state of the whole loop allocates nothing per message: decode, filter, batch (arena chunks
// and event vectors reused), sink, position save, status update. Counted with a replaced global
// operator new.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/callback.hpp"
#include "tests/support/policies.hpp"
#include "tests/support/counting_allocator.hpp"

using namespace replicator;
using namespace replicator::test;
using namespace std::chrono_literals;

TEST_CASE("the Replicator loop does not allocate per message in steady state") {
  const std::vector<wire::Col> cols = {{"id", 23, true}, {"name", 25, false}, {"note", 25, false}};
  ScriptedTransport t;
  t.wal(0x100, wire::relation(1, "public", "t", cols));
  const int kTxns = 400, kRows = 10;
  std::size_t messages = 1;
  for (int i = 0; i < kTxns; ++i) {
    const std::uint64_t base = 0x100000 + static_cast<std::uint64_t>(i) * 0x1000;
    t.wal(base, wire::begin(base + 0x800, static_cast<std::uint32_t>(1000 + i)));
    for (int r = 0; r < kRows; ++r)
      t.wal(base + 0x10 * (r + 1), wire::insert(1, {std::to_string(i * kRows + r), "name " + std::to_string(r),
                                                    std::string(static_cast<std::size_t>(50 + (r * 37) % 200), 'n')}));
    t.wal(base + 0x800, wire::commit(base + 0x800, base + 0x808));
    messages += 2 + kRows;
    if (i % 50 == 0) t.keepalive(base + 0x900, true);
  }
  t.statuses.reserve(100000);  // the test transport's own records must not count
  t.reserve_receive_buffer(1 << 16);
  std::size_t rows = 0;
  auto count_rows = [&rows](const Batch& b) { rows += b.rows(); };
  Replicator r(std::move(t), PgOutputEventDecoder{}, CombinedBatcher{ByLimits{.max_rows = 100}}, MemoryPositionStore{},
               CallbackSink(count_rows), ReplicatorOptions{.status_interval = 0ms});
  REQUIRE(r.start());
  // Warm up: vectors, arena chunks and the receive buffer reach their working size.
  std::size_t polled = 0;
  while (polled < messages / 4) {
    REQUIRE(r.run_once(0ms));
    ++polled;
  }
  const std::size_t before = test::heap_allocations();
  const std::size_t rows_before = rows;
  while (!r.transport().done()) REQUIRE(r.run_once(0ms));
  const std::size_t allocations = test::heap_allocations() - before;
  INFO("allocations in steady state: " << allocations << " for " << (rows - rows_before) << " rows");
  CHECK(rows - rows_before > 2000);
  CHECK(allocations == 0);
  REQUIRE(r.shutdown());
  CHECK(rows == static_cast<std::size_t>(kTxns * kRows));
}
