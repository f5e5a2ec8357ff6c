// Batch: change events copied out of the receive buffer into owned, reusable storage, plus the
// position to confirm once the batch is durable (the end LSN of its last commit).
//   Batch b;  b.append(event);               // deep copy: tuples, prefixes, relation lists
//   for (const ChangeEvent& e : b.events()) ...;  b.confirm_lsn();  b.clear();  // storage kept
#pragma once

#include <algorithm>
#include <cstddef>
#include <memory>
#include <span>
#include <utility>
#include <variant>
#include <vector>

#include "replicator/batch/arena.hpp"
#include "replicator/change/event.hpp"
#include "replicator/core/lsn.hpp"

namespace replicator {

class Batch {
 public:
  Batch() = default;
  explicit Batch(std::shared_ptr<ChunkPool> pool) : arena_(std::move(pool)) {}
  Batch(Batch&&) noexcept = default;
  Batch& operator=(Batch&&) noexcept = default;

  [[nodiscard]] std::span<const ChangeEvent> events() const noexcept { return events_; }
  [[nodiscard]] auto begin() const noexcept { return events_.begin(); }
  [[nodiscard]] auto end() const noexcept { return events_.end(); }
  [[nodiscard]] std::size_t size() const noexcept { return events_.size(); }
  [[nodiscard]] bool empty() const noexcept { return events_.empty(); }
  // Data events: rows, truncates, logical messages (not begin/commit/schema changes).
  [[nodiscard]] std::size_t rows() const noexcept { return rows_; }
  // Bytes of values, prefixes and contents copied into this batch.
  [[nodiscard]] std::size_t bytes() const noexcept { return arena_.bytes_used(); }
  // Commits in this batch, including transactions whose events were all filtered out.
  [[nodiscard]] std::size_t transactions() const noexcept { return transactions_; }
  // End LSN of the last commit in this batch: the position to confirm once it is durable.
  // Invalid when the batch holds no commit.
  [[nodiscard]] Lsn confirm_lsn() const noexcept { return confirm_lsn_; }

  // Deep-copies `event` into this batch's storage and returns the copy.
  const ChangeEvent& append(const ChangeEvent& event) {
    ChangeEvent& e = events_.emplace_back(event);
    std::visit([this](auto& ev) { own(ev); }, e);
    return e;
  }

  // Records a commit without events (a transaction whose changes were all filtered out).
  void note_commit(Lsn end_lsn) noexcept {
    ++transactions_;
    if (end_lsn > confirm_lsn_) confirm_lsn_ = end_lsn;
  }

  // Fills in the commit LSN and time of a streamed (or prepared) transaction once it commits;
  // `from`: only the events from that index on (a spilled transaction read back into a batch).
  void stamp_commit(Lsn commit_lsn, PgTimestamp commit_time, std::size_t from = 0) noexcept {
    for (std::size_t i = from; i < events_.size(); ++i) {
      ChangeEvent& e = events_[i];
      std::visit(
          [&](auto& ev) {
            if constexpr (requires { ev.txn; }) {
              ev.txn.commit_lsn = commit_lsn;
              ev.txn.commit_time = commit_time;
            }
          },
          e);
    }
  }

  // Drops events matching `pred` (their bytes stay in the arena until clear()).
  template <class Pred>
  std::size_t erase_if(Pred pred) {
    const std::size_t before = events_.size();
    std::erase_if(events_, pred);
    recount();
    return before - events_.size();
  }
  // Drops the events after the first n.
  void truncate(std::size_t n) {
    if (n < events_.size()) {
      events_.resize(n);
      recount();
    }
  }

  // Moves `other`'s events and storage to the end of this batch; `other` ends up empty.
  void splice(Batch& other) {
    if (events_.empty() && other.events_.capacity() > events_.capacity()) {
      std::swap(events_, other.events_);  // a big transaction: take its vector instead of copying it
    } else {
      events_.insert(events_.end(), other.events_.begin(), other.events_.end());
    }
    other.events_.clear();
    arena_.splice(other.arena_);
    rows_ += std::exchange(other.rows_, 0);
    transactions_ += std::exchange(other.transactions_, 0);
    if (other.confirm_lsn_ > confirm_lsn_) confirm_lsn_ = other.confirm_lsn_;
    other.confirm_lsn_ = Lsn{};
  }

  // Empties the batch; storage (vector capacity, arena chunks) is kept for reuse.
  void clear() noexcept {
    events_.clear();
    arena_.clear();
    rows_ = 0;
    transactions_ = 0;
    confirm_lsn_ = Lsn{};
  }

  [[nodiscard]] const std::shared_ptr<ChunkPool>& pool() const noexcept { return arena_.pool(); }

 private:
  static bool is_data(const ChangeEvent& e) noexcept {
    return std::holds_alternative<RowChangeView>(e) || std::holds_alternative<TruncateEventView>(e) ||
           std::holds_alternative<MessageEventView>(e);
  }
  void recount() noexcept {
    rows_ = static_cast<std::size_t>(std::count_if(events_.begin(), events_.end(), is_data));
    transactions_ = 0;
    confirm_lsn_ = Lsn{};
    for (const ChangeEvent& e : events_) {
      if (const auto* c = std::get_if<CommitEvent>(&e)) note_commit(c->end_lsn);
    }
  }

  TupleView copy_tuple(const TupleView& t) {
    if (t.empty() && t.bytes().empty()) return t;
    return TupleView(arena_.copy(t.bytes()), t.size());
  }
  void own(RowChangeView& ev) {
    ev.old_tuple = copy_tuple(ev.old_tuple);
    ev.new_tuple = copy_tuple(ev.new_tuple);
    ++rows_;
  }
  void own(TruncateEventView& ev) {
    ev.relations = arena_.copy_array(ev.relations);
    ++rows_;
  }
  void own(MessageEventView& ev) {
    ev.prefix = arena_.copy(ev.prefix);
    ev.content = arena_.copy(ev.content);
    ++rows_;
  }
  void own(CommitEvent& ev) noexcept { note_commit(ev.end_lsn); }
  void own(BeginEvent&) noexcept {}
  void own(SchemaChangeEvent&) noexcept {}
  void own(StreamAbortEvent&) noexcept {}
  void own(TwoPhaseEvent& ev) { ev.gid = arena_.copy(ev.gid); }

  std::vector<ChangeEvent> events_;
  Arena arena_;
  std::size_t rows_ = 0;
  std::size_t transactions_ = 0;
  Lsn confirm_lsn_;
};

}  // namespace replicator
