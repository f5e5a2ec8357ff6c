// 02: writing your own transport. A TransportPolicy has three members:
//   Status start(Lsn)                                     begin (again) at a position
//   Result<TransportEvent, ReplicationError> poll(ms)     the next WalMessage / Keepalive / Idle / EndOfStream
//   Status send_status(const StandbyStatus&)              where the consumer is durable
// This one serves pgoutput messages kept in memory (e.g. received from a message queue) and
// remembers what was confirmed. A WalMessage's payload only has to stay valid until the next poll().
#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/callback.hpp"
#include "pgoutput_bytes.hpp"

using namespace replicator;

class InMemoryTransport {
 public:
  struct Message {
    Lsn lsn;
    std::vector<std::byte> payload;
  };
  explicit InMemoryTransport(std::vector<Message> messages) : messages_(std::move(messages)) {}

  Status start(Lsn from) {
    next_ = 0;
    // Like the server: skip what was confirmed (a real source would skip whole transactions).
    while (next_ < messages_.size() && from.is_valid() && messages_[next_].lsn < from) ++next_;
    return ok_status();
  }
  Result<TransportEvent, ReplicationError> poll(std::chrono::milliseconds) {
    if (next_ == messages_.size()) return TransportEvent{EndOfStream{}};
    const Message& m = messages_[next_++];
    return TransportEvent{WalMessage{m.lsn, m.lsn, PgTimestamp{}, m.payload}};
  }
  Status send_status(const StandbyStatus& s) {
    confirmed_ = s.flushed;
    return ok_status();
  }
  [[nodiscard]] Lsn confirmed() const { return confirmed_; }

 private:
  std::vector<Message> messages_;
  std::size_t next_ = 0;
  Lsn confirmed_;
};
static_assert(TransportPolicy<InMemoryTransport>);

int main() {
  using namespace examples::pgoutput_bytes;
  std::vector<InMemoryTransport::Message> msgs = {
      {Lsn{0x100}, relation(1, "public", "orders", {"id", "item"})},
      {Lsn{0x110}, begin(0x200, 501)},
      {Lsn{0x120}, insert(1, {"1", "apple"})},
      {Lsn{0x130}, insert(1, {"2", "pear"})},
      {Lsn{0x140}, commit(0x200, 0x208)},
  };
  int rows = 0;
  Replicator r(InMemoryTransport(std::move(msgs)), PgOutputEventDecoder{}, TransactionBatcher{}, MemoryPositionStore{},
               CallbackSink([&](const ChangeEvent& e) {
                 if (const auto* row = std::get_if<RowChangeView>(&e)) {
                   ++rows;
                   std::printf("%s %s id=%s item=%s\n", std::string(to_string(row->op)).c_str(),
                               row->relation->qualified_name().c_str(), std::string(*row->new_text("id")).c_str(),
                               std::string(*row->new_text("item")).c_str());
                 }
               }));
  std::atomic<bool> stop{false};
  if (auto st = r.run(stop); !st) {
    std::fprintf(stderr, "error: %s\n", st.error().message.c_str());
    return 1;
  }
  std::printf("confirmed %s\n", r.transport().confirmed().to_string().c_str());
  return rows == 2 && r.transport().confirmed() == Lsn{0x208} ? 0 : 1;
}
