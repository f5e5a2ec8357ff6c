// Streams a slot's changes as JSON lines (libpq: replicator::libpq), like examples/07_live_postgres.cpp.
// Connection settings from the PG* environment; SIGINT/SIGTERM stop it cleanly.
//   PGHOST=127.0.0.1 live_tail my_slot my_publication /tmp/my_slot.pos
// The same program as in the other consumer example; scripts/test_consumers.sh keeps them equal.
#include <atomic>
#include <csignal>
#include <cstdio>

#include "replicator/live.hpp"

using namespace replicator;

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }
}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s SLOT PUBLICATION POSITION_FILE\n", argv[0]);
    return 2;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  LibpqTransportOptions topts;
  topts.slot_name = argv[1];
  topts.publication_names = {argv[2]};
  ReplicatorOptions ropts;
  ropts.slot_name = argv[1];
  JsonLinesReplicator r(LibpqTransport(ConnectionConfig{}, topts), PgOutputEventDecoder{}, TransactionBatcher{},
                        FilePositionStore(argv[3]), JsonLinesSink::to_stdout(), ropts);
  if (auto st = r.run(g_stop); !st) {
    std::fprintf(stderr, "error: %s\n", st.error().message.c_str());
    return 1;
  }
  return 0;
}
