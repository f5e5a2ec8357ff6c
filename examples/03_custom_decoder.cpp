// 03: writing your own decoder. A DecoderPolicy turns one WalMessage into change events:
//   Status decode(const WalMessage&, Handler&& on_event)   call on_event(const ChangeEvent&) per event
//   void reset()                                           forget partial state after a reconnect
// Events are views: they only have to live during the on_event call (the batcher copies them).
// This decoder reads a toy line format instead of pgoutput ("B xid", "I table id value", "C end_lsn"),
// to show what a decoder for another source has to fill in: transaction context, relation, tuple.
#include <atomic>
#include <charconv>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "replicator/batch/batcher.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/callback.hpp"

using namespace replicator;

class LineDecoder {
 public:
  template <class Handler>
  Status decode(const WalMessage& m, Handler&& on_event) {
    const std::string_view line(reinterpret_cast<const char*>(m.payload.data()), m.payload.size());
    std::vector<std::string_view> f;
    for (std::size_t pos = 0; pos <= line.size();) {
      const auto sp = std::min(line.find(' ', pos), line.size());
      f.push_back(line.substr(pos, sp - pos));
      pos = sp + 1;
    }
    if (f[0] == "B" && f.size() == 2) {
      txn_ = TxnContext{number(f[1]), number(f[1]), {}, {}, false};
      return on_event(ChangeEvent{BeginEvent{m.wal_start, txn_}});
    }
    if (f[0] == "I" && f.size() == 4) {
      // A tuple in pgoutput's column layout ('t', big-endian length, bytes), built in scratch space
      // that stays valid until the next decode() - long enough for the batcher to copy it.
      tuple_.clear();
      for (std::string_view v : {f[2], f[3]}) {
        tuple_.push_back(std::byte{'t'});
        for (int shift = 24; shift >= 0; shift -= 8)
          tuple_.push_back(static_cast<std::byte>((v.size() >> shift) & 0xFF));
        for (char c : v) tuple_.push_back(static_cast<std::byte>(c));
      }
      RowChangeView row{ChangeOp::insert,    m.wal_start, txn_, &relation(f[1]), OldTupleKind::none, {},
                        TupleView(tuple_, 2)};
      return on_event(ChangeEvent{row});
    }
    if (f[0] == "C" && f.size() == 2) {
      return on_event(ChangeEvent{CommitEvent{m.wal_start, txn_, Lsn{number(f[1])}}});
    }
    return ReplicationError::fatal("line decoder: cannot parse '" + std::string(line) + "'");
  }
  void reset() { txn_ = {}; }

 private:
  static std::uint32_t number(std::string_view s) {
    std::uint32_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  }
  // Relation metadata must outlive the batches that point at it: keep it in stable storage.
  const RelationInfo& relation(std::string_view table) {
    auto& slot = relations_[std::string(table)];
    if (!slot) {
      slot = std::make_unique<RelationInfo>();
      slot->schema = "app";
      slot->name = std::string(table);
      slot->columns = {{"id", 25, -1, true}, {"value", 25, -1, false}};
    }
    return *slot;
  }

  TxnContext txn_;
  std::vector<std::byte> tuple_;
  std::map<std::string, std::unique_ptr<RelationInfo>> relations_;
};
static_assert(DecoderPolicy<LineDecoder>);

// Serves lines as WalMessages.
class LineTransport {
 public:
  explicit LineTransport(std::vector<std::string> lines) : lines_(std::move(lines)) {}
  Status start(Lsn) { return ok_status(); }
  Result<TransportEvent, ReplicationError> poll(std::chrono::milliseconds) {
    if (next_ == lines_.size()) return TransportEvent{EndOfStream{}};
    const std::string& l = lines_[next_++];
    return TransportEvent{WalMessage{Lsn{next_ * 0x10}, Lsn{next_ * 0x10}, PgTimestamp{},
                                     std::as_bytes(std::span<const char>(l.data(), l.size()))}};
  }
  Status send_status(const StandbyStatus&) { return ok_status(); }

 private:
  std::vector<std::string> lines_;
  std::size_t next_ = 0;
};

int main() {
  LineTransport t({"B 1", "I fruit 1 apple", "I fruit 2 pear", "C 4096", "B 2", "I veg 1 leek", "C 8192"});
  std::vector<std::string> seen;
  Replicator r(std::move(t), LineDecoder{}, TransactionBatcher{}, MemoryPositionStore{},
               CallbackSink([&](const ChangeEvent& e) {
                 if (const auto* row = std::get_if<RowChangeView>(&e)) {
                   seen.push_back(row->relation->qualified_name() + ":" + std::string(*row->new_text("value")));
                   std::printf("%s\n", seen.back().c_str());
                 }
               }));
  std::atomic<bool> stop{false};
  if (auto st = r.run(stop); !st) {
    std::fprintf(stderr, "error: %s\n", st.error().message.c_str());
    return 1;
  }
  std::printf("confirmed %s\n", r.flushed_lsn().to_string().c_str());
  return seen.size() == 3 && r.flushed_lsn() == Lsn{8192} ? 0 : 1;
}
