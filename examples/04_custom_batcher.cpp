// 04: writing your own batcher. Two ways:
//  (a) the easy one: BasicBatcher<YourTrigger>, where the trigger sees BatchStats (rows, bytes,
//      transactions, age) and says "flush". Whole transactions, streaming and aborts are handled.
//  (b) the whole BatchPolicy: add(event, now) / ready(now) / batch() / release() / in_flight() /
//      reset(), storing events in a Batch (which copies them out of the receive buffer).
// (b) here flushes when the application asks for it, by emitting a transactional logical message
// with prefix "flush" (SELECT pg_logical_emit_message(true, 'flush', '')) - a batch per business step.
#include <atomic>
#include <cstdio>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/callback.hpp"
#include "pgoutput_bytes.hpp"

using namespace replicator;

// (a) Flush at 1000 rows, or after 10 transactions when they are small.
struct RowsOrSmallTransactions {
  bool operator()(const BatchStats& s) const { return s.rows >= 1000 || (s.transactions >= 10 && s.rows < 100); }
};
using MyBatcher = BasicBatcher<RowsOrSmallTransactions>;
static_assert(BatchPolicy<MyBatcher>);

// (b) A complete policy. Keeps the open transaction aside and moves it into the batch at Commit, so
// a batch never ends inside a transaction. Streamed (protocol 2+) transactions are refused here:
// BasicBatcher shows how to hold them until Stream Commit.
class MarkerBatcher {
 public:
  Status add(const ChangeEvent& e, std::chrono::steady_clock::time_point) {
    if (txn_of(e).streamed) return ReplicationError::fatal("MarkerBatcher: start replication with streaming off");
    if (std::holds_alternative<BeginEvent>(e)) {
      open_.clear();
      in_txn_ = true;
    }
    if (const auto* m = std::get_if<MessageEventView>(&e); m && m->prefix == "flush") {
      flush_requested_ = true;  // a marker, not data: not kept
      return ok_status();
    }
    if (!in_txn_) {  // non-transactional messages go straight into the batch
      batch_.append(e);
      return ok_status();
    }
    open_.append(e);
    if (std::holds_alternative<CommitEvent>(e)) {
      batch_.splice(open_);  // also records the commit's end LSN as the position to confirm
      in_txn_ = false;
      ready_ = flush_requested_;
      flush_requested_ = false;
    }
    return ok_status();
  }
  bool ready(std::chrono::steady_clock::time_point) const { return ready_; }
  const Batch& batch() const { return batch_; }
  void release() {
    batch_.clear();
    ready_ = false;
  }
  bool in_flight() const { return in_txn_ || !batch_.empty(); }
  void reset() {
    batch_.clear();
    open_.clear();
    in_txn_ = ready_ = flush_requested_ = false;
  }

 private:
  std::shared_ptr<ChunkPool> pool_ = std::make_shared<ChunkPool>();  // both batches reuse the same chunks
  Batch batch_{pool_};
  Batch open_{pool_};
  bool in_txn_ = false, ready_ = false, flush_requested_ = false;
};
static_assert(BatchPolicy<MarkerBatcher>);

std::vector<std::byte> marker() {  // pg_logical_emit_message(true, 'flush', '')
  std::vector<std::byte> b{std::byte{'M'}, std::byte{1}};
  examples::pgoutput_bytes::put(b, 0x300, 8);
  examples::pgoutput_bytes::put_str(b, "flush", true);
  examples::pgoutput_bytes::put(b, 0, 4);
  return b;
}

int main() {
  using namespace examples::pgoutput_bytes;
  struct Msg {
    std::uint64_t lsn;
    std::vector<std::byte> bytes;
  };
  std::vector<Msg> script = {{0x100, relation(1, "public", "step", {"id", "what"})},
                             {0x110, begin(0x200, 1)},
                             {0x120, insert(1, {"1", "reserve"})},
                             {0x130, commit(0x200, 0x208)},
                             {0x210, begin(0x300, 2)},
                             {0x220, insert(1, {"2", "pay"})},
                             {0x230, marker()},
                             {0x240, commit(0x300, 0x308)},
                             {0x310, begin(0x400, 3)},
                             {0x320, insert(1, {"3", "ship"})},
                             {0x330, commit(0x400, 0x408)}};
  std::size_t next = 0;
  struct ScriptTransport {
    std::vector<Msg>* script;
    std::size_t* next;
    Status start(Lsn) { return ok_status(); }
    Result<TransportEvent, ReplicationError> poll(std::chrono::milliseconds) {
      if (*next == script->size()) return TransportEvent{EndOfStream{}};
      const Msg& m = (*script)[(*next)++];
      return TransportEvent{WalMessage{Lsn{m.lsn}, Lsn{m.lsn}, PgTimestamp{}, m.bytes}};
    }
    Status send_status(const StandbyStatus&) { return ok_status(); }
  };
  std::vector<std::size_t> batch_sizes;
  Replicator r(ScriptTransport{&script, &next}, PgOutputEventDecoder{}, MarkerBatcher{}, MemoryPositionStore{},
               CallbackSink([&](const Batch& b) {
                 batch_sizes.push_back(b.rows());
                 std::printf("batch: %zu rows, confirm %s\n", b.rows(), b.confirm_lsn().to_string().c_str());
               }));
  std::atomic<bool> stop{false};
  if (auto st = r.run(stop); !st) {
    std::fprintf(stderr, "error: %s\n", st.error().message.c_str());
    return 1;
  }
  // Transactions 1+2 up to the marker, then 3 at shutdown.
  return batch_sizes == std::vector<std::size_t>{2, 1} ? 0 : 1;
}
