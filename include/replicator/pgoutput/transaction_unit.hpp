// The transaction-unit facts of a pgoutput wire message, for the rules of change/transaction_unit.hpp
// (ReplayTransport groups a stream file's messages into units with them).
//   auto m = decode_message(payload, in_stream);
//   if (m) { const TxnUnitStep u = transaction_unit(transaction_facts(*m, frame_lsn, in_stream)); ... }
#pragma once

#include <type_traits>
#include <variant>

#include "replicator/change/transaction_unit.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/pgoutput/messages.hpp"

namespace replicator::pgoutput {

// `lsn`: the message's WAL position (XLogData start); `in_stream`: decoded inside a stream block.
// Inside a block the top-level xid is only known from its Stream Start: facts say xid 0 there.
[[nodiscard]] constexpr TxnFacts transaction_facts(const Message& message, Lsn lsn, bool in_stream) noexcept {
  return std::visit(
      [&](const auto& m) -> TxnFacts {
        using M = std::decay_t<decltype(m)>;
        TxnFacts f{};
        f.streamed = in_stream;
        if constexpr (std::is_same_v<M, BeginView>) {
          f.kind = TxnBoundary::begin;
          f.xid = m.xid;
        } else if constexpr (std::is_same_v<M, CommitView>) {
          f.kind = TxnBoundary::commit;
          f.end_lsn = m.end_lsn;
        } else if constexpr (std::is_same_v<M, RelationView> || std::is_same_v<M, TypeView>) {
          f.kind = TxnBoundary::meta;
        } else if constexpr (std::is_same_v<M, LogicalMessageView>) {
          f.kind = TxnBoundary::message;
          f.transactional = m.transactional();
          f.lsn = m.lsn;
        } else if constexpr (std::is_same_v<M, StreamStartView>) {
          f.kind = TxnBoundary::stream_start;
          f.xid = m.xid;
        } else if constexpr (std::is_same_v<M, StreamStopView>) {
          f.kind = TxnBoundary::stream_stop;
        } else if constexpr (std::is_same_v<M, StreamCommitView>) {
          f.kind = TxnBoundary::commit;
          f.streamed = true;
          f.xid = m.xid;
          f.end_lsn = m.end_lsn;
        } else if constexpr (std::is_same_v<M, StreamAbortView>) {
          f.kind = TxnBoundary::stream_abort;
          f.streamed = true;
          f.xid = m.xid;
          f.subxid = m.subxid;
          f.lsn = m.has_abort_info ? m.abort_lsn : lsn;
        } else if constexpr (std::is_same_v<M, BeginPrepareView>) {
          f.kind = TxnBoundary::begin_prepare;
          f.xid = m.xid;
        } else if constexpr (std::is_base_of_v<PrepareView, M>) {  // Prepare, Stream Prepare
          f.kind = TxnBoundary::prepare;
          f.streamed = std::is_same_v<M, StreamPrepareView>;
          f.xid = m.xid;
          f.end_lsn = m.end_lsn;
        } else if constexpr (std::is_same_v<M, CommitPreparedView>) {
          f.kind = TxnBoundary::commit_prepared;
          f.xid = m.xid;
          f.end_lsn = m.end_lsn;
        } else if constexpr (std::is_same_v<M, RollbackPreparedView>) {
          f.kind = TxnBoundary::rollback_prepared;
          f.xid = m.xid;
          f.end_lsn = m.rollback_end_lsn;
        } else {  // Origin, Insert, Update, Delete, Truncate
          f.kind = TxnBoundary::change;
        }
        return f;
      },
      message);
}

}  // namespace replicator::pgoutput
