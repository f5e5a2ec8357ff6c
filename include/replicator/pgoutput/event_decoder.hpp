// PgOutputEventDecoder: the DecoderPolicy over pgoutput. Turns each WalMessage into change events
// (zero, one or two per message) with the transaction context and relation metadata attached.
//   PgOutputEventDecoder d;
//   Status s = d.decode(wal_message, [&](const ChangeEvent& e) -> Status { return batcher.add(e, now); });
// Events are views into the message's payload: copy what you keep before the next poll().
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"
#include "replicator/pgoutput/decoder.hpp"
#include "replicator/pgoutput/relation_cache.hpp"
#include "replicator/core/transport_event.hpp"

namespace replicator::pgoutput {

class PgOutputEventDecoder {
 public:
  // Calls on_event(const ChangeEvent&) -> Status for each event; stops at the first failure.
  template <class Handler>
  Status decode(const WalMessage& msg, Handler&& on_event) {
    auto decoded = decoder_.decode(msg.payload, msg.offset);
    if (!decoded) {
      return ReplicationError::decoding(
          decoded.error(), "pgoutput protocol error in message at WAL " + msg.wal_start.to_string() + ": ");
    }
    lsn_ = msg.wal_start;
    auto st = std::visit([&](const auto& m) { return on(m, on_event); }, *decoded);
    if (!st && msg.offset != 0) {
      // A replayed file: name the message's place in it (a WAL position alone does not find it).
      ReplicationError e = st.error();
      e.message += " (message at offset " + std::to_string(msg.offset) + ")";
      return e;
    }
    return st;
  }

  // After a reconnect: the server starts again from a transaction boundary.
  void reset() noexcept {
    decoder_.reset();
    in_txn_ = false;
    stream_xid_ = 0;
    streams_.clear();
  }

  // Frees relation definitions replaced by newer ones. Call only when no batch refers to them
  // (the Replicator does this when nothing is in flight).
  void release_retired() noexcept {
    if (pending_schema_.empty()) cache_.release_retired();
  }

  [[nodiscard]] const RelationCache& relations() const noexcept { return cache_; }
  [[nodiscard]] bool in_transaction() const noexcept { return in_txn_; }
  [[nodiscard]] bool in_stream() const noexcept { return decoder_.in_stream(); }

 private:
  struct PendingSchema {
    Oid oid = 0;
    const RelationInfo* old_relation = nullptr;
    const RelationInfo* new_relation = nullptr;
  };

  Status fail(std::string what) const {
    return ReplicationError::fatal("pgoutput protocol error at WAL " + lsn_.to_string() + ": " + std::move(what));
  }

  // Context for a transactional data message: its stream, or the open transaction.
  Result<TxnContext, ReplicationError> context(Xid sent_xid, const char* what) const {
    if (decoder_.in_stream()) return TxnContext{sent_xid, stream_xid_, Lsn{}, PgTimestamp{}, true};
    if (!in_txn_) return fail(std::string(what) + " outside a transaction").error();
    return txn_;
  }

  Result<const RelationInfo*, ReplicationError> relation(Oid oid, const char* what) const {
    const RelationInfo* rel = cache_.find(oid);
    if (rel == nullptr) {
      return fail(std::string(what) + " for relation OID " + std::to_string(oid) +
                  " that no Relation message described")
          .error();
    }
    return rel;
  }

  // Emits the schema change recorded for `oid`, if any, just before its next row.
  template <class Handler>
  Status flush_schema(Oid oid, const TxnContext& txn, Handler& on_event) {
    for (auto it = pending_schema_.begin(); it != pending_schema_.end(); ++it) {
      if (it->oid != oid) continue;
      SchemaChangeEvent ev{lsn_, txn, it->old_relation, it->new_relation};
      pending_schema_.erase(it);
      return on_event(ChangeEvent{ev});
    }
    return ok_status();
  }

  template <class Handler>
  Status row(ChangeOp op, Xid xid, Oid oid, OldTupleKind old_kind, TupleView old_tuple, TupleView new_tuple,
             const char* what, Handler& on_event) {
    auto txn = context(xid, what);
    if (!txn) return txn.error();
    auto rel = relation(oid, what);
    if (!rel) return rel.error();
    // The helpers index columns by the relation's order: a tuple of another width is corrupt.
    const std::size_t ncols = (*rel)->columns.size();
    if ((op != ChangeOp::delete_ && new_tuple.size() != ncols) ||
        (old_kind != OldTupleKind::none && old_tuple.size() != ncols)) {
      return fail(std::string(what) + " for " + (*rel)->qualified_name() +
                  " has a tuple of a different width than its " + std::to_string(ncols) + " columns");
    }
    if (!pending_schema_.empty()) {
      auto s = flush_schema(oid, *txn, on_event);
      if (!s) return s;
    }
    RowChangeView ev{op, lsn_, *txn, *rel, old_kind, old_tuple, new_tuple};
    return on_event(ChangeEvent{ev});
  }

  template <class H>
  Status on(const BeginView& m, H& on_event) {
    if (in_txn_ || decoder_.in_stream()) return fail("Begin inside a transaction");
    in_txn_ = true;
    txn_ = TxnContext{m.xid, m.xid, m.final_lsn, m.commit_time, false};
    return on_event(ChangeEvent{BeginEvent{lsn_, txn_}});
  }
  template <class H>
  Status on(const CommitView& m, H& on_event) {
    if (!in_txn_) return fail("Commit outside a transaction");
    in_txn_ = false;
    TxnContext t = txn_;
    t.commit_lsn = m.commit_lsn;
    t.commit_time = m.commit_time;
    return on_event(ChangeEvent{CommitEvent{lsn_, t, m.end_lsn}});
  }
  template <class H>
  Status on(const OriginView&, H&) {
    return ok_status();
  }
  template <class H>
  Status on(const RelationView& m, H&) {
    const RelationInfo* before = cache_.find(m.oid);
    auto [info, change] = cache_.apply(m);
    if (change != RelationChange::changed) return ok_status();
    for (auto& p : pending_schema_) {
      if (p.oid == m.oid) {  // changed again before any row: keep the oldest "before"
        p.new_relation = info;
        return ok_status();
      }
    }
    pending_schema_.push_back({m.oid, before, info});
    return ok_status();
  }
  template <class H>
  Status on(const TypeView& m, H&) {
    cache_.apply(m);
    return ok_status();
  }
  template <class H>
  Status on(const InsertView& m, H& on_event) {
    return row(ChangeOp::insert, m.xid, m.relation_oid, OldTupleKind::none, {}, m.new_tuple, "Insert", on_event);
  }
  template <class H>
  Status on(const UpdateView& m, H& on_event) {
    return row(ChangeOp::update, m.xid, m.relation_oid, m.old_kind, m.old_tuple, m.new_tuple, "Update", on_event);
  }
  template <class H>
  Status on(const DeleteView& m, H& on_event) {
    return row(ChangeOp::delete_, m.xid, m.relation_oid, m.old_kind, m.old_tuple, {}, "Delete", on_event);
  }
  template <class H>
  Status on(const TruncateView& m, H& on_event) {
    auto txn = context(m.xid, "Truncate");
    if (!txn) return txn.error();
    truncated_.clear();
    for (Oid oid : m.relation_oids) {
      auto rel = relation(oid, "Truncate");
      if (!rel) return rel.error();
      truncated_.push_back(*rel);
    }
    for (Oid oid : m.relation_oids) {
      if (pending_schema_.empty()) break;
      auto s = flush_schema(oid, *txn, on_event);
      if (!s) return s;
    }
    TruncateEventView ev{lsn_, *txn, truncated_, m.cascade(), m.restart_identity()};
    return on_event(ChangeEvent{ev});
  }
  template <class H>
  Status on(const LogicalMessageView& m, H& on_event) {
    TxnContext txn{m.xid, m.xid, Lsn{}, PgTimestamp{}, false};
    if (m.transactional()) {
      auto t = context(m.xid, "transactional Message");
      if (!t) return t.error();
      txn = *t;
    }
    return on_event(ChangeEvent{MessageEventView{lsn_, m.lsn, txn, m.transactional(), m.prefix, m.content}});
  }
  // The server streams a transaction from its first segment in every session (it re-sends it all
  // after a reconnect), so a later segment, Stream Commit or Stream Prepare of a transaction
  // whose first segment never came is corrupt input: its changes would reach a sink without Begin.
  bool stream_open(Xid xid) const noexcept {
    return std::find(streams_.begin(), streams_.end(), xid) != streams_.end();
  }
  void stream_close(Xid xid) noexcept { std::erase(streams_, xid); }

  template <class H>
  Status on(const StreamStartView& m, H& on_event) {
    if (in_txn_) return fail("Stream Start inside a transaction");
    if (!m.first_segment && !stream_open(m.xid)) {
      return fail("Stream Start continues transaction " + std::to_string(m.xid) +
                  " whose first segment was not received");
    }
    stream_xid_ = m.xid;
    if (!stream_open(m.xid)) streams_.push_back(m.xid);
    if (!m.first_segment) return ok_status();
    return on_event(ChangeEvent{BeginEvent{lsn_, TxnContext{m.xid, m.xid, Lsn{}, PgTimestamp{}, true}}});
  }
  template <class H>
  Status on(const StreamStopView&, H&) {
    return ok_status();
  }
  template <class H>
  Status on(const StreamCommitView& m, H& on_event) {
    if (decoder_.in_stream()) return fail("Stream Commit inside a stream block");
    if (!stream_open(m.xid))
      return fail("Stream Commit of transaction " + std::to_string(m.xid) + " that was never streamed");
    stream_close(m.xid);
    TxnContext t{m.xid, m.xid, m.commit_lsn, m.commit_time, true};
    return on_event(ChangeEvent{CommitEvent{lsn_, t, m.end_lsn}});
  }
  template <class H>
  Status on(const StreamAbortView& m, H& on_event) {
    if (decoder_.in_stream()) return fail("Stream Abort inside a stream block");
    if (aborts_whole_transaction(m.xid, m.subxid)) stream_close(m.xid);
    return on_event(ChangeEvent{StreamAbortEvent{lsn_, m.xid, m.subxid, m.has_abort_info ? m.abort_lsn : lsn_}});
  }
  // Two-phase commit: the events only; holding prepared transactions is the batcher's job.
  template <class H>
  Status on(const BeginPrepareView& m, H& on_event) {
    if (in_txn_ || decoder_.in_stream()) return fail("Begin Prepare inside a transaction");
    in_txn_ = true;
    txn_ = TxnContext{m.xid, m.xid, Lsn{}, PgTimestamp{}, false};  // commit LSN and time: at COMMIT PREPARED
    return on_event(ChangeEvent{TwoPhaseEvent{TwoPhaseKind::begin_prepare, lsn_, txn_, m.gid, m.prepare_lsn, m.end_lsn,
                                              m.end_lsn, m.prepare_time, false}});
  }
  template <class H>
  Status on(const PrepareView& m, H& on_event) {
    if (!in_txn_) return fail("Prepare outside a transaction");
    if (m.xid != txn_.xid)
      return fail("Prepare of xid " + std::to_string(m.xid) + " inside transaction " + std::to_string(txn_.xid));
    in_txn_ = false;
    return on_event(ChangeEvent{TwoPhaseEvent{TwoPhaseKind::prepare, lsn_, txn_, m.gid, m.prepare_lsn, m.end_lsn,
                                              m.end_lsn, m.prepare_time, false}});
  }
  template <class H>
  Status on(const StreamPrepareView& m, H& on_event) {
    if (in_txn_ || decoder_.in_stream()) return fail("Stream Prepare inside a transaction or stream block");
    if (!stream_open(m.xid))
      return fail("Stream Prepare of transaction " + std::to_string(m.xid) + " that was never streamed");
    stream_close(m.xid);
    TxnContext t{m.xid, m.xid, Lsn{}, PgTimestamp{}, true};
    return on_event(ChangeEvent{TwoPhaseEvent{TwoPhaseKind::prepare, lsn_, t, m.gid, m.prepare_lsn, m.end_lsn,
                                              m.end_lsn, m.prepare_time, true}});
  }
  template <class H>
  Status on(const CommitPreparedView& m, H& on_event) {
    if (in_txn_ || decoder_.in_stream()) return fail("Commit Prepared inside a transaction");
    TxnContext t{m.xid, m.xid, m.commit_lsn, m.commit_time, false};
    return on_event(ChangeEvent{
        TwoPhaseEvent{TwoPhaseKind::commit_prepared, lsn_, t, m.gid, Lsn{}, Lsn{}, m.end_lsn, m.commit_time, false}});
  }
  template <class H>
  Status on(const RollbackPreparedView& m, H& on_event) {
    if (in_txn_ || decoder_.in_stream()) return fail("Rollback Prepared inside a transaction");
    TxnContext t{m.xid, m.xid, Lsn{}, PgTimestamp{}, false};
    return on_event(ChangeEvent{TwoPhaseEvent{TwoPhaseKind::rollback_prepared, lsn_, t, m.gid, Lsn{}, m.prepare_end_lsn,
                                              m.rollback_end_lsn, m.rollback_time, false}});
  }

  PgOutputDecoder decoder_;
  RelationCache cache_;
  Lsn lsn_;
  bool in_txn_ = false;
  TxnContext txn_;
  Xid stream_xid_ = 0;
  std::vector<Xid> streams_;  // streamed transactions whose first segment came, until commit / prepare / abort
  std::vector<PendingSchema> pending_schema_;
  std::vector<const RelationInfo*> truncated_;
};

}  // namespace replicator::pgoutput

namespace replicator {
using pgoutput::PgOutputEventDecoder;
}  // namespace replicator
