// Batching policies: BasicBatcher<Trigger> gathers whole transactions into a Batch and says when to
// flush it; the Trigger decides "enough" (count, bytes, age, transactions, or any of several).
//   TransactionBatcher b;                             // one batch per committed transaction
//   CombinedBatcher c(ByLimits{.max_rows = 10000, .max_age = std::chrono::seconds(1)});
//   b.add(event, now);  if (b.ready(now)) { sink.write(b.batch()); ...; b.release(); }
// A normal transaction is held aside until its Commit and then moved into the batch whole, so a
// flushed batch always ends at a commit (unless BatcherOptions::split_transactions). Streamed
// transactions (protocol 2+) are held per xid until Stream Commit and dropped on Stream Abort,
// including the changes of an aborted subtransaction. Prepared transactions (two_phase) are held
// until COMMIT PREPARED and dropped on ROLLBACK PREPARED; confirm_limit() keeps the confirmed
// position at the oldest held PREPARE so the server sends it again after a restart.
// Memory stays bounded: past BatcherOptions::memory_limit_bytes the largest waiting transaction
// moves to a spill file (batch/spill.hpp); at its commit it is handed on in pieces through
// refill(), and only the piece holding the commit moves the position (docs/large_transactions.md).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "replicator/batch/batch.hpp"
#include "replicator/batch/spill.hpp"
#include "replicator/change/event.hpp"
#include "replicator/change/transaction_unit.hpp"
#include "replicator/core/error.hpp"

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
  // Bytes the transactions waiting for their commit (open, streamed, prepared) may hold in memory
  // together. Past it the largest one moves to a spill file and is read back in pieces of about a
  // quarter of this at commit. 0: never spill. Counted are value bytes and event structs; the
  // process peaks at about 2.5x this (vector growth, arena chunk slack) plus ~15 MB, so 4 MiB keeps
  // the program near 27 MB through the live benchmark's backlog at the same rate as 16 MiB (69 MB).
  std::size_t memory_limit_bytes = 4 * 1024 * 1024;
  std::string spill_directory{};  // where spill files go (empty: $TMPDIR, else /tmp)
};

template <class Trigger>
class BasicBatcher {
 public:
  explicit BasicBatcher(Trigger trigger = {}, BatcherOptions options = {})
      : trigger_(std::move(trigger)),
        options_(options),
        pool_(std::make_shared<ChunkPool>(options.chunk_size)),
        batch_(pool_),
        open_{Batch(pool_), std::nullopt, {}} {}

  // Copies the event into owned storage. Errors: events out of transaction order.
  Status add(const ChangeEvent& event, SteadyClock::time_point now) {
    if (!drains_.empty()) {
      return ReplicationError::fatal(
          "batcher: a spilled transaction is still being handed on (call refill() after release() until it returns "
          "false)");
    }
    return std::visit([&](const auto& ev) { return on(ev, event, now); }, event);
  }

  // The batch should be flushed now (always while a spilled transaction is being handed on).
  [[nodiscard]] bool ready(SteadyClock::time_point now) const noexcept {
    if (!drains_.empty()) return true;
    if (!has_content()) return false;
    return trigger_(stats(now));
  }

  // After release(): loads the next piece of a committed transaction that was spilled to disk into
  // batch(). True when there is something new to write; call again until false. add() refuses
  // events until the spilled transaction is fully handed on (order would break).
  Result<bool, ReplicationError> refill() {
    if (drains_.empty()) return false;
    Drain& d = drains_.front();
    const std::size_t from = batch_.size();
    const std::size_t piece = std::max<std::size_t>(options_.memory_limit_bytes / 4, 64 * 1024);
    auto more = d.file.read_into(batch_, piece, std::max<std::size_t>(1024, piece / 128), d.aborted);
    if (!more) return more.error();
    if (d.stamp) batch_.stamp_commit(d.commit.txn.commit_lsn, d.commit.txn.commit_time, from);
    if (!*more) {  // the whole transaction is out: its commit moves the position
      batch_.append(ChangeEvent{d.commit});
      close_spill(d.file);
      drains_.pop_front();
    }
    return true;
  }

  // The highest position that may be confirmed while prepared transactions are held: the oldest
  // held PREPARE (invalid: no limit). Confirming past it would make the server skip it on restart.
  [[nodiscard]] Lsn confirm_limit() const noexcept {
    Lsn limit;
    for (const auto& p : prepared_) {
      if (!p.txn.spill && p.txn.events.rows() == 0) continue;  // nothing to lose
      if (!limit.is_valid() || p.prepare_lsn < limit) limit = p.prepare_lsn;
    }
    return limit;
  }

  // Complete transactions (and, with split_transactions, the open one so far).
  [[nodiscard]] const Batch& batch() const noexcept { return batch_; }

  // The batch was written and is durable: empty it (storage kept).
  void release() noexcept {
    batch_.clear();
    started_ = false;
    open_begin_index_ = kFlushed;  // split_transactions: the open transaction's Begin went out already
  }

  // Something is buffered that is not yet durable: an open, streamed or prepared transaction, a
  // spilled one being handed on, or events.
  [[nodiscard]] bool in_flight() const noexcept {
    return open_active_ || !streams_.empty() || !batch_.empty() || !prepared_.empty() || !drains_.empty();
  }

  // After a reconnect: drop everything not yet released (the server sends it again, prepared
  // transactions included: the confirmed position never passed their PREPARE).
  void reset() noexcept {
    batch_.clear();
    drop(open_);
    open_active_ = false;
    open_prepared_ = false;
    for (auto& s : streams_) drop(s.txn);
    streams_.clear();
    for (auto& p : prepared_) drop(p.txn);
    prepared_.clear();
    for (auto& d : drains_) close_spill(d.file);
    drains_.clear();
    held_bytes_ = 0;
    started_ = false;
  }

  [[nodiscard]] BatchStats stats(SteadyClock::time_point now) const noexcept {
    return {batch_.rows(), batch_.bytes(), batch_.transactions(),
            started_ ? now - started_at_ : SteadyClock::duration{}};
  }
  [[nodiscard]] std::size_t streamed_transactions() const noexcept { return streams_.size(); }
  [[nodiscard]] std::size_t prepared_transactions() const noexcept { return prepared_.size(); }
  [[nodiscard]] bool in_transaction() const noexcept { return open_active_; }
  // Estimated bytes the waiting transactions hold in memory (spilled ones count 0).
  [[nodiscard]] std::size_t held_bytes() const noexcept { return held_bytes_; }
  [[nodiscard]] const SpillStats& spill_stats() const noexcept { return spill_stats_; }
  // COMMIT PREPARED for a GID that was not held (e.g. its PREPARE was confirmed by an earlier
  // consumer of the slot): only the position moved.
  [[nodiscard]] std::uint64_t unknown_commit_prepared() const noexcept { return unknown_commit_prepared_; }
  [[nodiscard]] const Trigger& trigger() const noexcept { return trigger_; }
  [[nodiscard]] const BatcherOptions& options() const noexcept { return options_; }

 private:
  static constexpr std::size_t kFlushed = std::numeric_limits<std::size_t>::max();

  // A transaction waiting for its commit: in memory, or (past the memory limit) in a spill file.
  struct Pending {
    Batch events;
    std::optional<SpillFile> spill;  // once set, every event of the transaction is in it
    std::vector<Xid> aborted;        // aborted subtransactions: skipped when the spill is read back
  };
  struct Stream {
    Xid xid = 0;
    Pending txn;
  };
  struct Prepared {
    std::string gid;
    Xid xid = 0;
    Lsn prepare_lsn;
    Pending txn;
  };
  // A committed spilled transaction being handed on by refill().
  struct Drain {
    SpillFile file;
    std::vector<Xid> aborted;
    CommitEvent commit;
    bool stamp = false;  // fill in commit LSN / time (streamed and prepared transactions)
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
    Stream s{xid, Pending{spare(), std::nullopt, {}}};
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
    drop(it->txn);
    streams_.erase(it);
  }
  Prepared* find_prepared(std::string_view gid) noexcept {
    for (auto& p : prepared_)
      if (p.gid == gid) return &p;
    return nullptr;
  }
  void erase_prepared(const Prepared* p) { prepared_.erase(prepared_.begin() + (p - prepared_.data())); }

  // --- memory accounting and spilling
  static std::size_t memory_of(const Pending& p) noexcept {
    return p.spill ? 0 : p.events.bytes() + p.events.size() * sizeof(ChangeEvent);
  }
  void close_spill(SpillFile& f) noexcept {
    spill_stats_.bytes += f.bytes();
    if (spill_stats_.files_open > 0) --spill_stats_.files_open;
  }
  // Forgets a waiting transaction (aborted, rolled back, or after a reconnect).
  void drop(Pending& p) noexcept {
    held_bytes_ -= std::min(held_bytes_, memory_of(p));
    if (p.spill) {
      close_spill(*p.spill);
      p.spill.reset();
    }
    p.aborted.clear();
    p.events.clear();
    if (p.events.pool() == nullptr) p.events = Batch(pool_);
  }
  // Takes `p` out of the accounting (it is moving to the batch or to the drain queue).
  void release_memory(const Pending& p) noexcept { held_bytes_ -= std::min(held_bytes_, memory_of(p)); }

  Status append(Pending& p, const ChangeEvent& e) {
    if (p.spill) {
      ++spill_stats_.events;
      return p.spill->append(e);
    }
    const std::size_t before = memory_of(p);
    p.events.append(e);
    held_bytes_ += memory_of(p) - before;
    if (options_.memory_limit_bytes != 0 && held_bytes_ > options_.memory_limit_bytes) return spill_largest();
    return ok_status();
  }
  // Moves the largest in-memory waiting transaction to a spill file (PostgreSQL's reorder buffer
  // picks its victim the same way).
  Status spill_largest() {
    Pending* victim = nullptr;
    auto consider = [&](Pending& p) {
      if (!p.spill && (victim == nullptr || memory_of(p) > memory_of(*victim))) victim = &p;
    };
    if (open_active_) consider(open_);
    for (auto& s : streams_) consider(s.txn);
    for (auto& p : prepared_) consider(p.txn);
    if (victim == nullptr || victim->events.empty()) return ok_status();
    auto file = SpillFile::create(options_.spill_directory);
    if (!file) return file.error();
    if (auto st = file->append_all(victim->events); !st) return st;
    ++spill_stats_.transactions;
    ++spill_stats_.files_open;
    spill_stats_.events += victim->events.size();
    held_bytes_ -= std::min(held_bytes_, memory_of(*victim));
    victim->spill.emplace(std::move(*file));
    victim->events = Batch(pool_);  // frees the event vector; the arena's chunks go back to the pool
    return ok_status();
  }

  // Where a transactional event goes: its stream, the open transaction, or (split) the batch.
  // Which unit an event belongs to and whether it ends it: change/transaction_unit.hpp.
  Result<Pending*, ReplicationError> target(const TxnUnitStep& unit, Lsn lsn, const char* what) {
    if (unit.streamed) return &stream(unit.xid).txn;
    if (!open_active_) return out_of_order(what, lsn).error();
    return options_.split_transactions && !open_prepared_ ? nullptr : &open_;
  }

  Status on(const BeginEvent& ev, const ChangeEvent& e, SteadyClock::time_point now) {
    if (const TxnUnitStep unit = transaction_unit(ev); unit.streamed) {
      drop_stream(unit.xid);  // a first segment again: the server restarted this transaction
      return append(stream(unit.xid).txn, e);
    }
    if (open_active_) return out_of_order("Begin inside a transaction", ev.lsn);
    open_active_ = true;
    open_prepared_ = false;
    if (options_.split_transactions) {
      touch(now);
      open_begin_index_ = batch_.size();
      batch_.append(e);
      return ok_status();
    }
    return append(open_, e);
  }

  Status on(const CommitEvent& ev, const ChangeEvent&, SteadyClock::time_point now) {
    if (const TxnUnitStep unit = transaction_unit(ev); unit.streamed) {
      Stream* s = find_stream(unit.xid);
      if (s == nullptr) {  // nothing was streamed for it (all filtered): only the position moves
        touch(now);
        batch_.note_commit(ev.end_lsn);
        return ok_status();
      }
      auto st = finish(s->txn, ev, true, now);
      drop_stream(unit.xid);
      return st;
    }
    if (!open_active_ || open_prepared_) return out_of_order("Commit outside a transaction", ev.lsn);
    open_active_ = false;
    touch(now);
    if (options_.split_transactions) {
      const bool empty = open_begin_index_ != kFlushed && batch_.size() == open_begin_index_ + 1;
      if (empty && !options_.keep_empty_transactions) {
        batch_.truncate(open_begin_index_);
        batch_.note_commit(ev.end_lsn);
      } else {
        batch_.append(ChangeEvent{ev});
      }
      return ok_status();
    }
    return finish(open_, ev, false, now);
  }

  // Moves a complete transaction into the batch, or (spilled) queues it for refill().
  // `stamp`: fill in the commit LSN and time (streamed and prepared transactions learn them last).
  Status finish(Pending& txn, const CommitEvent& commit, bool stamp, SteadyClock::time_point now) {
    touch(now);
    release_memory(txn);
    if (txn.spill) {
      auto st = txn.spill->finish_writing();
      drains_.push_back(Drain{std::move(*txn.spill), std::move(txn.aborted), commit, stamp});
      txn.spill.reset();
      txn.aborted.clear();
      txn.events = Batch(pool_);
      return st;
    }
    if (txn.events.rows() == 0 && !options_.keep_empty_transactions) {
      txn.events.clear();
      batch_.note_commit(commit.end_lsn);
      return ok_status();
    }
    if (stamp) txn.events.stamp_commit(commit.txn.commit_lsn, commit.txn.commit_time);
    txn.events.append(ChangeEvent{commit});
    batch_.splice(txn.events);
    txn.events.clear();
    return ok_status();
  }

  Status on(const StreamAbortEvent& ev, const ChangeEvent&, SteadyClock::time_point) {
    const TxnUnitStep unit = transaction_unit(ev);
    if (unit.role == TxnRole::ends) {
      drop_stream(unit.xid);
    } else if (Stream* s = find_stream(unit.xid)) {
      const Xid sub = ev.subxid;
      if (s->txn.spill) {
        s->txn.aborted.push_back(sub);  // the spilled events are skipped when read back
      } else {
        const std::size_t before = memory_of(s->txn);
        s->txn.events.erase_if(
            [sub](const ChangeEvent& x) { return !std::holds_alternative<BeginEvent>(x) && txn_of(x).xid == sub; });
        held_bytes_ -= std::min(held_bytes_, before - std::min(before, memory_of(s->txn)));
      }
    }
    return ok_status();
  }

  Status on(const TwoPhaseEvent& ev, const ChangeEvent&, SteadyClock::time_point now) {
    switch (ev.kind) {
      case TwoPhaseKind::begin_prepare: {
        if (open_active_) return out_of_order("Begin Prepare inside a transaction", ev.lsn);
        open_active_ = true;
        open_prepared_ = true;  // held until COMMIT PREPARED, even with split_transactions
        return append(open_, ChangeEvent{BeginEvent{ev.lsn, ev.txn}});
      }
      case TwoPhaseKind::prepare: {
        Pending txn{Batch(pool_), std::nullopt, {}};
        if (const TxnUnitStep unit = transaction_unit(ev); unit.streamed) {
          if (Stream* s = find_stream(unit.xid)) {
            txn = std::move(s->txn);
            streams_.erase(streams_.begin() + (s - streams_.data()));
          }
        } else {
          if (!open_active_ || !open_prepared_) return out_of_order("Prepare outside a prepared transaction", ev.lsn);
          open_active_ = false;
          open_prepared_ = false;
          txn = std::move(open_);
          open_ = Pending{spare(), std::nullopt, {}};
        }
        if (Prepared* old = find_prepared(ev.gid)) {  // the same GID again: the newer one counts
          drop(old->txn);
          erase_prepared(old);
        }
        prepared_.push_back(Prepared{std::string(ev.gid), ev.txn.xid, ev.prepare_lsn, std::move(txn)});
        return ok_status();
      }
      case TwoPhaseKind::commit_prepared: {
        Prepared* p = find_prepared(ev.gid);
        if (p == nullptr) {
          ++unknown_commit_prepared_;
          touch(now);
          batch_.note_commit(ev.end_lsn);
          return ok_status();
        }
        auto st = finish(p->txn, CommitEvent{ev.lsn, ev.txn, ev.end_lsn}, true, now);
        drop(p->txn);
        erase_prepared(p);
        return st;
      }
      case TwoPhaseKind::rollback_prepared: {
        if (Prepared* p = find_prepared(ev.gid)) {
          drop(p->txn);
          erase_prepared(p);
        }
        touch(now);
        batch_.note_commit(ev.end_lsn);  // nothing to write; the position may move past it
        return ok_status();
      }
    }
    return ok_status();
  }

  Status on(const MessageEventView& ev, const ChangeEvent& e, SteadyClock::time_point now) {
    const TxnUnitStep unit = transaction_unit(ev);
    if (unit.role == TxnRole::own) {  // not part of any transaction: goes out as is
      touch(now);
      batch_.append(e);
      return ok_status();
    }
    return add_to_txn(unit, ev.lsn, e, now, "transactional Message outside a transaction");
  }
  Status on(const RowChangeView& ev, const ChangeEvent& e, SteadyClock::time_point now) {
    return add_to_txn(transaction_unit(ev), ev.lsn, e, now, "row change outside a transaction");
  }
  Status on(const TruncateEventView& ev, const ChangeEvent& e, SteadyClock::time_point now) {
    return add_to_txn(transaction_unit(ev), ev.lsn, e, now, "Truncate outside a transaction");
  }
  Status on(const SchemaChangeEvent& ev, const ChangeEvent& e, SteadyClock::time_point now) {
    const TxnUnitStep unit = transaction_unit(ev);
    if (!unit.streamed && !open_active_) {  // tolerated outside a transaction: goes out as is
      touch(now);
      batch_.append(e);
      return ok_status();
    }
    return add_to_txn(unit, ev.lsn, e, now, "schema change outside a transaction");
  }

  Status add_to_txn(const TxnUnitStep& unit, Lsn lsn, const ChangeEvent& e, SteadyClock::time_point now,
                    const char* what) {
    auto t = target(unit, lsn, what);
    if (!t) return t.error();
    if (*t == nullptr) {  // split_transactions: straight into the batch
      touch(now);
      batch_.append(e);
      return ok_status();
    }
    return append(**t, e);
  }

  Trigger trigger_;
  BatcherOptions options_;
  std::shared_ptr<ChunkPool> pool_;
  Batch batch_;
  Pending open_;  // the open normal or prepared transaction (normal ones: not with split_transactions)
  bool open_active_ = false;
  bool open_prepared_ = false;        // the open transaction began with Begin Prepare
  std::size_t open_begin_index_ = 0;  // split_transactions: where the open transaction's Begin is
  std::vector<Stream> streams_;       // streamed transactions in progress, usually 0-2
  std::vector<Prepared> prepared_;    // prepared transactions waiting for COMMIT / ROLLBACK PREPARED
  std::deque<Drain> drains_;          // committed spilled transactions being handed on
  std::size_t held_bytes_ = 0;        // memory_of() summed over open_, streams_, prepared_
  SpillStats spill_stats_;
  std::uint64_t unknown_commit_prepared_ = 0;
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
