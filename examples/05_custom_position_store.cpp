// 05: writing your own position store. A PositionStorePolicy has two members:
//   Result<std::optional<Position>, ReplicationError> load()   nullopt: nothing stored yet
//   Status save(const Position&)                               durable when it returns ok
// The Replicator saves only positions the sink has made durable and reports a position to the
// server only after save() succeeded, so a failing store holds the slot back instead of losing data.
// This one keeps positions in a key-value service (simulated by a map) under "replicator/<slot>".
#include <atomic>
#include <cstdio>
#include <map>
#include <string>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/callback.hpp"
#include "replicator/transport/replay.hpp"

using namespace replicator;

struct KeyValueService {  // stands in for etcd, Consul, Redis...
  std::map<std::string, std::string> data;
  int failures_left = 0;  // simulate an outage
};

class KeyValuePositionStore {
 public:
  KeyValuePositionStore(KeyValueService& kv, std::string slot) : kv_(&kv), key_("replicator/" + std::move(slot)) {}

  Result<std::optional<Position>, ReplicationError> load() {
    auto it = kv_->data.find(key_);
    if (it == kv_->data.end()) return std::optional<Position>{};
    auto lsn = Lsn::parse(it->second);
    if (!lsn) return ReplicationError::fatal("key " + key_ + " does not hold an LSN: '" + it->second + "'");
    Position p;
    p.lsn = *lsn;
    return std::optional<Position>{p};
  }
  Status save(const Position& p) {
    if (kv_->failures_left > 0) {
      --kv_->failures_left;
      return ReplicationError::retry("key-value service unavailable");  // retryable: try again later
    }
    kv_->data[key_] = p.lsn.to_string();
    return ok_status();
  }

 private:
  KeyValueService* kv_;
  std::string key_;
};
static_assert(PositionStorePolicy<KeyValuePositionStore>);

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FILE.stream\n", argv[0]);
    return 2;
  }
  KeyValueService kv;
  kv.failures_left = 1;  // the first save fails
  std::size_t rows = 0;
  auto make = [&] {
    auto t = transport::ReplayTransport::open(argv[1]);
    if (!t) std::exit(1);
    return Replicator(std::move(*t), PgOutputEventDecoder{}, TransactionBatcher{}, KeyValuePositionStore(kv, "demo"),
                      CallbackSink([&](const ChangeEvent& e) { rows += std::holds_alternative<RowChangeView>(e); }),
                      // Its own loop around recover(), to show it: run() returns the first error.
                      ReplicatorOptions{.slot_name = "demo", .reconnect = std::nullopt});
  };
  auto r = make();
  std::atomic<bool> stop{false};
  auto st = r.run(stop);
  std::printf("first run: %s; stored: %s\n", st ? "ok" : st.error().message.c_str(),
              kv.data.count("replicator/demo") ? kv.data["replicator/demo"].c_str() : "(nothing)");
  // A retryable error: recover() restarts from the confirmed position; at-least-once delivery.
  if (!st && st.error().retryable()) {
    if (auto rec = r.recover(); !rec) return 1;
    st = r.run(stop);
  }
  if (!st) return 1;
  std::printf("second run: ok; stored: %s; rows delivered (with repeats): %zu\n", kv.data["replicator/demo"].c_str(),
              rows);
  // A new process resumes from the stored position and gets nothing twice.
  rows = 0;
  auto again = make();
  if (!again.run(stop)) return 1;
  std::printf("restart: %zu rows after the stored position\n", rows);
  return rows == 0 ? 0 : 1;
}
