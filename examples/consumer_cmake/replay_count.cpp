// Counts the change events of a captured stream file (tests/data/*.stream) with the header-only
// toolkit: ReplayTransport -> pgoutput decoder -> per-transaction batches -> a counting sink.
//   replay_count tests/data/basic.stream   # prints "events=N inserts=N batches=N confirmed=X/Y"
// The same program as in the other consumer example; scripts/test_consumers.sh keeps them equal.
#include <atomic>
#include <cstdio>
#include <variant>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/callback.hpp"
#include "replicator/transport/replay.hpp"

using namespace replicator;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FILE.stream\n", argv[0]);
    return 2;
  }
  auto transport = transport::ReplayTransport::open(argv[1]);
  if (!transport) {
    std::fprintf(stderr, "%s\n", transport.error().message.c_str());
    return 1;
  }
  unsigned long long inserts = 0;
  auto count = [&](const ChangeEvent& e) {
    if (const auto* row = std::get_if<RowChangeView>(&e); row != nullptr && row->op == ChangeOp::insert) ++inserts;
  };
  Replicator r(std::move(*transport), PgOutputEventDecoder{}, TransactionBatcher{}, MemoryPositionStore{},
               CallbackSink(count));
  std::atomic<bool> stop{false};
  if (auto st = r.run(stop); !st) {
    std::fprintf(stderr, "error: %s\n", st.error().message.c_str());
    return 1;
  }
  std::printf("events=%llu inserts=%llu batches=%llu confirmed=%s\n",
              static_cast<unsigned long long>(r.stats().events_written), inserts,
              static_cast<unsigned long long>(r.stats().batches), r.flushed_lsn().to_string().c_str());
  return 0;
}
