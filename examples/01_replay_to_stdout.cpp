// 01: the whole pipeline over a captured stream file: replay -> decode -> batch per transaction ->
// JSON lines on stdout. The same Replicator runs live with LibpqTransport (see 07_live_postgres.cpp).
//   bazel run //examples:01_replay_to_stdout -- tests/data/basic.stream
#include <atomic>
#include <cstdio>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/json_lines.hpp"
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
  Replicator r(std::move(*transport), PgOutputEventDecoder{}, TransactionBatcher{}, MemoryPositionStore{},
               JsonLinesSink::to_stdout());
  std::atomic<bool> stop{false};
  if (auto st = r.run(stop); !st) {
    std::fprintf(stderr, "error: %s\n", st.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "%llu events in %llu batches, confirmed up to %s\n",
               static_cast<unsigned long long>(r.stats().events_written),
               static_cast<unsigned long long>(r.stats().batches), r.flushed_lsn().to_string().c_str());
  return 0;
}
