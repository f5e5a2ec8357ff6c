// 07: live from PostgreSQL: JsonLinesReplicator = LibpqTransport + PgOutputEventDecoder +
// TransactionBatcher + FilePositionStore + JsonLinesSink. Connection settings come from the PG*
// environment variables; stops on SIGINT/SIGTERM (flush, save, final status update).
//   PGHOST=127.0.0.1 PGPORT=5432 bazel run //examples:07_live_postgres -- my_slot my_publication /tmp/my_slot.pos
// (the publication must exist: CREATE PUBLICATION my_publication FOR ALL TABLES;)
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
  topts.proto_version = 2;
  topts.streaming = StreamingMode::on;
  JsonLinesReplicator r(LibpqTransport(ConnectionConfig{}, topts), PgOutputEventDecoder{}, TransactionBatcher{},
                        FilePositionStore(argv[3]), JsonLinesSink::to_stdout(),
                        ReplicatorOptions{.slot_name = argv[1]});
  if (auto st = r.run(g_stop); !st) {
    std::fprintf(stderr, "error (%s): %s\n", st.error().retryable() ? "retryable" : "fatal",
                 st.error().message.c_str());
    return 1;
  }
  std::fprintf(stderr, "stopped at %s\n", r.flushed_lsn().to_string().c_str());
  return 0;
}
