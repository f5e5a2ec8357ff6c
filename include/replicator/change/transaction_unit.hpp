// Transaction units, once: which unit of the stream a message or event belongs to, and whether it
// ends it (with the end LSN the server resumes after). ReplayTransport skips whole units below the
// start LSN; the batchers hold a unit until it ends. Decoders only state the facts (TxnFacts).
//   const TxnUnitStep u = transaction_unit(event);   // ChangeEvent, or a typed event
//   if (u.role == TxnRole::ends) { /* the open transaction (u.streamed: stream u.xid) ends at u.end */ }
#pragma once

#include <cstddef>
#include <cstdint>
#include <variant>

#include "replicator/change/event.hpp"
#include "replicator/core/lsn.hpp"

namespace replicator {

// What a message or event is, as far as transaction boundaries go (the protocol's messages).
enum class TxnBoundary : std::uint8_t {
  change,             // a row, truncate, Origin, transactional Message: inside what is open
  meta,               // Relation / Type (a schema change event)
  begin,              // Begin; streamed: the first segment of a streamed transaction
  commit,             // Commit; streamed: Stream Commit
  begin_prepare,      // Begin Prepare
  prepare,            // Prepare; streamed: Stream Prepare
  commit_prepared,    // Commit Prepared
  rollback_prepared,  // Rollback Prepared
  stream_start,       // Stream Start (a block of streamed transaction `xid` follows)
  stream_stop,        // Stream Stop
  stream_abort,       // Stream Abort of `xid` (the whole transaction) or of its subtransaction `subxid`
  message,            // a logical decoding message (pg_logical_emit_message)
};

// The facts a decoder reads off one message or event; no rules here.
struct TxnFacts {
  TxnBoundary kind = TxnBoundary::change;
  bool streamed = false;      // part of a streamed transaction (inside a stream block, or its end)
  Xid xid = 0;                // streamed: the top-level xid, when known (0: the message does not say)
  Xid subxid = 0;             // stream_abort: the aborted (sub)transaction
  bool transactional = true;  // message: false for a non-transactional one
  Lsn lsn;                    // message: its LSN; stream_abort: the abort's LSN
  Lsn end_lsn;                // commit, prepare, commit_prepared, rollback_prepared: the unit's end
};

enum class TxnRole : std::uint8_t {
  continues,     // inside the open unit (streamed: of stream `xid`); nothing open: of no unit
  meta,          // continues, but the server re-sends it in a new session before its first use
  opens,         // opens a unit (streamed: the first segment of stream `xid`)
  ends,          // ends the open unit (streamed: stream `xid`) at `end`
  own,           // a unit by itself, ending at `end`
  block_starts,  // Stream Start: what follows up to Stream Stop belongs to stream `xid`
  block_stops,   // Stream Stop
};

struct TxnUnitStep {
  TxnRole role = TxnRole::continues;
  bool streamed = false;  // the unit is the streamed transaction `xid`
  Xid xid = 0;
  Lsn end;  // ends / own: resuming at or after it, the server does not send the unit again
};

// The rules. A sub-transaction's Stream Abort stays inside its stream; a top-level one ends it at
// abort LSN + 1, and a non-transactional message is a unit of its own ending at its LSN + 1 (the
// server's decoder skips them when their LSN < the start LSN). A prepared transaction is a unit up
// to its Prepare; Commit Prepared and Rollback Prepared are units of their own.
[[nodiscard]] constexpr TxnUnitStep transaction_unit(const TxnFacts& f) noexcept {
  switch (f.kind) {
    case TxnBoundary::change: return {TxnRole::continues, f.streamed, f.xid, Lsn{}};
    case TxnBoundary::meta: return {TxnRole::meta, f.streamed, f.xid, Lsn{}};
    case TxnBoundary::begin:
    case TxnBoundary::begin_prepare: return {TxnRole::opens, f.streamed, f.xid, Lsn{}};
    case TxnBoundary::commit:
    case TxnBoundary::prepare: return {TxnRole::ends, f.streamed, f.xid, f.end_lsn};
    case TxnBoundary::commit_prepared:
    case TxnBoundary::rollback_prepared: return {TxnRole::own, false, f.xid, f.end_lsn};
    case TxnBoundary::stream_start: return {TxnRole::block_starts, true, f.xid, Lsn{}};
    case TxnBoundary::stream_stop: return {TxnRole::block_stops, true, f.xid, Lsn{}};
    case TxnBoundary::stream_abort:
      if (aborts_whole_transaction(f.xid, f.subxid)) return {TxnRole::ends, true, f.xid, f.lsn + 1};
      return {TxnRole::continues, true, f.xid, Lsn{}};
    case TxnBoundary::message:
      if (!f.transactional && !f.streamed) return {TxnRole::own, false, 0, f.lsn + 1};
      return {TxnRole::continues, f.streamed, f.xid, Lsn{}};
  }
  return {};
}

// --- the facts of change events (decoders: pgoutput/transaction_unit.hpp for wire messages)

// The xid naming a transaction's unit: a streamed one is known by its top-level xid.
[[nodiscard]] constexpr Xid unit_xid(const TxnContext& t) noexcept { return t.streamed ? t.top_xid : t.xid; }

[[nodiscard]] constexpr TxnFacts transaction_facts(const BeginEvent& e) noexcept {
  return {TxnBoundary::begin, e.txn.streamed, unit_xid(e.txn), 0, true, e.lsn, Lsn{}};
}
[[nodiscard]] constexpr TxnFacts transaction_facts(const CommitEvent& e) noexcept {
  return {TxnBoundary::commit, e.txn.streamed, unit_xid(e.txn), 0, true, e.lsn, e.end_lsn};
}
[[nodiscard]] constexpr TxnFacts transaction_facts(const RowChangeView& e) noexcept {
  return {TxnBoundary::change, e.txn.streamed, unit_xid(e.txn), 0, true, e.lsn, Lsn{}};
}
[[nodiscard]] constexpr TxnFacts transaction_facts(const TruncateEventView& e) noexcept {
  return {TxnBoundary::change, e.txn.streamed, unit_xid(e.txn), 0, true, e.lsn, Lsn{}};
}
[[nodiscard]] constexpr TxnFacts transaction_facts(const SchemaChangeEvent& e) noexcept {
  return {TxnBoundary::meta, e.txn.streamed, unit_xid(e.txn), 0, true, e.lsn, Lsn{}};
}
[[nodiscard]] constexpr TxnFacts transaction_facts(const MessageEventView& e) noexcept {
  return {TxnBoundary::message, e.txn.streamed, unit_xid(e.txn), 0, e.transactional, e.message_lsn, Lsn{}};
}
[[nodiscard]] constexpr TxnFacts transaction_facts(const StreamAbortEvent& e) noexcept {
  return {TxnBoundary::stream_abort, true, e.xid, e.subxid, true, e.abort_lsn, Lsn{}};
}
[[nodiscard]] constexpr TxnFacts transaction_facts(const TwoPhaseEvent& e) noexcept {
  constexpr TxnBoundary kinds[] = {TxnBoundary::begin_prepare, TxnBoundary::prepare, TxnBoundary::commit_prepared,
                                   TxnBoundary::rollback_prepared};
  const Xid xid = e.streamed ? e.txn.top_xid : e.txn.xid;  // streamed: a Stream Prepare
  return {kinds[static_cast<std::size_t>(e.kind)], e.streamed, xid, 0, true, e.lsn, e.end_lsn};
}
[[nodiscard]] inline TxnFacts transaction_facts(const ChangeEvent& e) noexcept {
  return std::visit([](const auto& ev) { return transaction_facts(ev); }, e);
}

template <class Event>
[[nodiscard]] constexpr TxnUnitStep transaction_unit(const Event& e) noexcept requires requires {
  transaction_facts(e);
}
{ return transaction_unit(transaction_facts(e)); }

}  // namespace replicator
