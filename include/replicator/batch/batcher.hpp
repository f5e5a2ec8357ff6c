// Batching policies: BasicBatcher<Trigger> gathers whole transactions into a Batch and says when to
// flush it; the Trigger decides "enough" (count, bytes, age, transactions, or any of several).
//   TransactionBatcher b;                             // one batch per committed transaction
//   CombinedBatcher c(ByLimits{.max_rows = 10000, .max_age = std::chrono::seconds(1)});
//   b.add(event, now);  if (b.ready(now)) { sink.write(b.batch()); ...; b.release(); }
// A normal transaction is held aside until its Commit and then moved into the batch whole, so a
// flushed batch always ends at a commit (unless BatcherOptions::split_transactions). Streamed
// transactions (protocol 2+) are held per xid until Stream Commit and dropped on Stream Abort,
// including the changes of an aborted subtransaction.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "replicator/batch/batch.hpp"
#include "replicator/change.hpp"
#include "replicator/error.hpp"

namespace replicator {

using SteadyClock = std::chrono::steady_clock;

// What a trigger sees about the batch being built.
struct BatchStats {
  std::size_t rows = 0;          // data events (rows, truncates, messages)
  std::size_t bytes = 0;         // value bytes copied
  std::size_t transactions = 0;  // commits
  SteadyClock::duration age{};   // since the first thing went into the batch
};

struct ByCount {
  std::size_t max_rows = 1000;
  [[nodiscard]] bool operator()(const BatchStats& s) const noexcept { return s.rows >= max_rows; }
};
struct ByBytes {
  std::size_t max_bytes = 8 * 1024 * 1024;
  [[nodiscard]] bool operator()(const BatchStats& s) const noexcept { return s.bytes >= max_bytes; }
};
struct ByAge {
  SteadyClock::duration max_age = std::chrono::seconds(1);
  [[nodiscard]] bool operator()(const BatchStats& s) const noexcept { return s.age >= max_age; }
};
struct ByTransactions {
  std::size_t max_transactions = 1;
  [[nodiscard]] bool operator()(const BatchStats& s) const noexcept { return s.transactions >= max_transactions; }
};
// Flush when any limit is reached; unset limits never trigger.
struct ByLimits {
  std::size_t max_rows = std::numeric_limits<std::size_t>::max();
  std::size_t max_bytes = std::numeric_limits<std::size_t>::max();
  SteadyClock::duration max_age = SteadyClock::duration::max();
  std::size_t max_transactions = std::numeric_limits<std::size_t>::max();
  [[nodiscard]] bool operator()(const BatchStats& s) const noexcept {
    return s.rows >= max_rows || s.bytes >= max_bytes || s.age >= max_age || s.transactions >= max_transactions;
  }
};

struct BatcherOptions {
  // Let a batch end inside a (non-streamed) transaction. The confirmed position still only moves to
  // the last commit in the batch; after a restart the server re-sends the whole transaction.
  bool split_transactions = false;
  // Keep Begin/Commit of transactions whose changes were all filtered out (default: drop them,
  // only their end LSN moves the position).
  bool keep_empty_transactions = false;
  std::size_t chunk_size = ChunkPool::kDefaultChunkSize;
};

template <class Trigger>
class BasicBatcher {
 public:
  explicit BasicBatcher(Trigger trigger = {}, BatcherOptions options = {})
      : trigger_(std::move(trigger)),
        options_(options),
        pool_(std::make_shared<ChunkPool>(options.chunk_size)),
        batch_(pool_),
        open_(pool_) {}

  // Copies the event into owned storage. Errors: events out of transaction order.
  Status add(const ChangeEvent& event, SteadyClock::time_point now) {
    return std::visit([&](const auto& ev) { return on(ev, event, now); }, event);
  }

  // The batch should be flushed now.
  [[nodiscard]] bool ready(SteadyClock::time_point now) const noexcept {
    if (!has_content()) return false;
    return trigger_(stats(now));
  }

  // Complete transactions (and, with split_transactions, the open one so far).
  [[nodiscard]] const Batch& batch() const noexcept { return batch_; }

  // The batch was written and is durable: empty it (storage kept).
  void release() noexcept {
    batch_.clear();
    started_ = false;
    open_begin_index_ = kFlushed;  // split_transactions: the open transaction's Begin went out already
  }

  // Something is buffered that is not yet durable: an open or streamed transaction, or events.
  [[nodiscard]] bool in_flight() const noexcept { return open_active_ || !streams_.empty() || !batch_.empty(); }

  // After a reconnect: drop everything not yet released (the server sends it again).
  void reset() noexcept {
    batch_.clear();
    open_.clear();
    open_active_ = false;
    for (auto& s : streams_) recycle(std::move(s.events));
    streams_.clear();
    started_ = false;
  }

  [[nodiscard]] BatchStats stats(SteadyClock::time_point now) const noexcept {
    return {batch_.rows(), batch_.bytes(), batch_.transactions(), started_ ? now - started_at_ : SteadyClock::duration{}};
  }
  [[nodiscard]] std::size_t streamed_transactions() const noexcept { return streams_.size(); }
  [[nodiscard]] bool in_transaction() const noexcept { return open_active_; }
  [[nodiscard]] const Trigger& trigger() const noexcept { return trigger_; }
  [[nodiscard]] const BatcherOptions& options() const noexcept { return options_; }

 private:
  static constexpr std::size_t kFlushed = std::numeric_limits<std::size_t>::max();

  struct Stream {
    Xid xid = 0;
    Batch events;
  };

  [[nodiscard]] bool has_content() const noexcept { return !batch_.empty() || batch_.transactions() != 0; }
  void touch(SteadyClock::time_point now) noexcept {
    if (!started_) {
      started_ = true;
      started_at_ = now;
    }
  }

  static Status out_of_order(const char* what, Lsn lsn) {
    return ReplicationError::fatal(std::string("protocol violation: ") + what + " at WAL " + lsn.to_string());
  }

  Stream* find_stream(Xid xid) noexcept {
    for (auto& s : streams_)
      if (s.xid == xid) return &s;
    return nullptr;
  }
  Stream& stream(Xid xid) {
    if (Stream* s = find_stream(xid)) return *s;
    Stream s{xid, spare()};
    streams_.push_back(std::move(s));
    return streams_.back();
  }
  Batch spare() {
    if (spares_.empty()) return Batch(pool_);
    Batch b = std::move(spares_.back());
    spares_.pop_back();
    return b;
  }
  void recycle(Batch b) {
    b.clear();
    if (spares_.size() < 16) spares_.push_back(std::move(b));
  }
  void drop_stream(Xid xid) {
    auto it = std::find_if(streams_.begin(), streams_.end(), [xid](const Stream& s) { return s.xid == xid; });
    if (it == streams_.end()) return;
    recycle(std::move(it->events));
    streams_.erase(it);
  }

  // Where a transactional event goes: its stream, the open transaction, or (split) the batch.
  Result<Batch*, ReplicationError> target(const TxnContext& txn, Lsn lsn, const char* what) {
    if (txn.streamed) return &stream(txn.top_xid).events;
    if (!open_active_) return out_of_order(what, lsn).error();
    return options_.split_transactions ? &batch_ : &open_;
  }

  Status on(const BeginEvent& ev, const ChangeEvent& e, SteadyClock::time_point now) {
    if (ev.txn.streamed) {
      drop_stream(ev.txn.top_xid);  // a first segment again: the server restarted this transaction
      stream(ev.txn.top_xid).events.append(e);
      return ok_status();
    }
    if (open_active_) return out_of_order("Begin inside a transaction", ev.lsn);
    open_active_ = true;
    if (options_.split_transactions) {
      touch(now);
      open_begin_index_ = batch_.size();
      batch_.append(e);
    } else {
      open_.append(e);
    }
    return ok_status();
  }

  Status on(const CommitEvent& ev, const ChangeEvent& e, SteadyClock::time_point now) {
    if (ev.txn.streamed) {
      Stream* s = find_stream(ev.txn.top_xid);
      if (s == nullptr) {  // nothing was streamed for it (all filtered): only the position moves
        touch(now);
        batch_.note_commit(ev.end_lsn);
        return ok_status();
      }
      s->events.stamp_commit(ev.txn.commit_lsn, ev.txn.commit_time);
      finish(s->events, e, ev.end_lsn, now);
      drop_stream(ev.txn.top_xid);
      return ok_status();
    }
    if (!open_active_) return out_of_order("Commit outside a transaction", ev.lsn);
    open_active_ = false;
    touch(now);
    if (options_.split_transactions) {
      const bool empty = open_begin_index_ != kFlushed && batch_.size() == open_begin_index_ + 1;
      if (empty && !options_.keep_empty_transactions) {
        batch_.truncate(open_begin_index_);
        batch_.note_commit(ev.end_lsn);
      } else {
        batch_.append(e);
      }
      return ok_status();
    }
    finish(open_, e, ev.end_lsn, now);
    return ok_status();
  }

  // Moves a complete transaction into the batch.
  void finish(Batch& txn, const ChangeEvent& commit, Lsn end_lsn, SteadyClock::time_point now) {
    touch(now);
    if (txn.rows() == 0 && !options_.keep_empty_transactions) {
      txn.clear();
      batch_.note_commit(end_lsn);
      return;
    }
    txn.append(commit);
    batch_.splice(txn);
    txn.clear();
  }

  Status on(const StreamAbortEvent& ev, const ChangeEvent&, SteadyClock::time_point) {
    if (ev.whole_transaction()) {
      drop_stream(ev.xid);
    } else if (Stream* s = find_stream(ev.xid)) {
      const Xid sub = ev.subxid;
      s->events.erase_if([sub](const ChangeEvent& x) {
        return !std::holds_alternative<BeginEvent>(x) && txn_of(x).xid == sub;
      });
    }
    return ok_status();
  }

  Status on(const MessageEventView& ev, const ChangeEvent& e, SteadyClock::time_point now) {
    if (!ev.transactional && !ev.txn.streamed) {  // not part of any transaction: goes out as is
      touch(now);
      batch_.append(e);
      return ok_status();
    }
    return add_to_txn(ev.txn, ev.lsn, e, now, "transactional Message outside a transaction");
  }
  Status on(const RowChangeView& ev, const ChangeEvent& e, SteadyClock::time_point now) {
    return add_to_txn(ev.txn, ev.lsn, e, now, "row change outside a transaction");
  }
  Status on(const TruncateEventView& ev, const ChangeEvent& e, SteadyClock::time_point now) {
    return add_to_txn(ev.txn, ev.lsn, e, now, "Truncate outside a transaction");
  }
  Status on(const SchemaChangeEvent& ev, const ChangeEvent& e, SteadyClock::time_point now) {
    if (!ev.txn.streamed && !open_active_) {  // tolerated outside a transaction: goes out as is
      touch(now);
      batch_.append(e);
      return ok_status();
    }
    return add_to_txn(ev.txn, ev.lsn, e, now, "schema change outside a transaction");
  }

  Status add_to_txn(const TxnContext& txn, Lsn lsn, const ChangeEvent& e, SteadyClock::time_point now,
                    const char* what) {
    auto t = target(txn, lsn, what);
    if (!t) return t.error();
    if (*t == &batch_) touch(now);
    (*t)->append(e);
    return ok_status();
  }

  Trigger trigger_;
  BatcherOptions options_;
  std::shared_ptr<ChunkPool> pool_;
  Batch batch_;
  Batch open_;  // the open normal transaction (not used with split_transactions)
  bool open_active_ = false;
  std::size_t open_begin_index_ = 0;  // split_transactions: where the open transaction's Begin is
  std::vector<Stream> streams_;       // streamed transactions in progress, usually 0-2
  std::vector<Batch> spares_;
  bool started_ = false;
  SteadyClock::time_point started_at_{};
};

using CountBatcher = BasicBatcher<ByCount>;
using BytesBatcher = BasicBatcher<ByBytes>;
using TimeBatcher = BasicBatcher<ByAge>;
using TransactionBatcher = BasicBatcher<ByTransactions>;
using CombinedBatcher = BasicBatcher<ByLimits>;

}  // namespace replicator
