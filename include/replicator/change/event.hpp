// The change event: what decoders produce, batchers keep and sinks receive. Row changes carry the
// transaction context (xid, commit LSN and time) and the relation's metadata; values are views.
//   std::visit(overloaded{[](const RowChangeView& c) { use(c.relation->name, c.new_text("id")); },
//                         [](const auto&) {}}, event);
// Lifetime: a ChangeEvent from a decoder points into the transport's receive buffer (valid until the
// next poll); one inside a Batch points into the batch's arena (valid until the batch is released).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <iterator>
#include <span>
#include <string_view>
#include <type_traits>
#include <variant>

#include "replicator/core/lsn.hpp"
#include "replicator/change/relation.hpp"
#include "replicator/change/row.hpp"
#include "replicator/core/timestamp.hpp"
#include "replicator/values/value.hpp"

namespace replicator {

// `read`: a row copied by the initial snapshot (snapshot/snapshot.hpp), not a WAL change.
enum class ChangeOp : std::uint8_t { insert, update, delete_, read };

constexpr std::string_view to_string(ChangeOp op) noexcept {
  switch (op) {
    case ChangeOp::insert: return "insert";
    case ChangeOp::update: return "update";
    case ChangeOp::delete_: return "delete";
    case ChangeOp::read: return "read";
  }
  return "unknown";
}

// Where an event sits in its transaction. For a normal transaction commit_lsn / commit_time are
// known from Begin; for a streamed one (protocol 2+) only at Stream Commit, so the batcher fills
// them in when it hands the transaction on.
struct TxnContext {
  Xid xid = 0;      // top-level xid; inside a streamed transaction: the xid the server sent (may be a subxact)
  Xid top_xid = 0;  // the top-level xid (the streamed transaction's xid from Stream Start)
  Lsn commit_lsn;   // invalid for non-transactional messages and (until commit) streamed changes
  PgTimestamp commit_time;
  bool streamed = false;
};

// One row inserted, updated or deleted.
struct RowChangeView {
  ChangeOp op = ChangeOp::insert;
  Lsn lsn;  // the message's WAL start
  TxnContext txn;
  const RelationInfo* relation = nullptr;  // never null in events from PgOutputEventDecoder
  OldTupleKind old_kind = OldTupleKind::none;
  TupleView old_tuple;  // update/delete: the key columns (key) or the whole row (full)
  TupleView new_tuple;  // insert/update

  [[nodiscard]] Xid xid() const noexcept { return txn.xid; }

  // Column position by name, or nullopt.
  [[nodiscard]] std::optional<std::uint16_t> column_index(std::string_view name) const noexcept {
    if (relation == nullptr) return std::nullopt;
    for (std::size_t i = 0; i < relation->columns.size(); ++i)
      if (relation->columns[i].name == name) return static_cast<std::uint16_t>(i);
    return std::nullopt;
  }
  // The value in the new (or old) tuple; nullopt when the column or the tuple is absent.
  [[nodiscard]] std::optional<ColumnValueView> new_value(std::string_view name) const noexcept {
    return value_in(new_tuple, name);
  }
  [[nodiscard]] std::optional<ColumnValueView> old_value(std::string_view name) const noexcept {
    return old_kind == OldTupleKind::none ? std::nullopt : value_in(old_tuple, name);
  }
  // Text of a non-null, sent value; nullopt for NULL, unchanged TOAST or a missing column.
  [[nodiscard]] std::optional<std::string_view> new_text(std::string_view name) const noexcept {
    return text_of(new_value(name));
  }
  [[nodiscard]] std::optional<std::string_view> old_text(std::string_view name) const noexcept {
    return text_of(old_value(name));
  }
  [[nodiscard]] bool is_null(std::string_view name) const noexcept {
    auto v = new_value(name);
    return v && v->is_null();
  }
  [[nodiscard]] bool is_unchanged_toast(std::string_view name) const noexcept {
    auto v = new_value(name);
    return v && v->is_unchanged_toast();
  }
  // Typed access (values/value.hpp): the same C++ value whether the stream is binary or text.
  //   row.value<std::int64_t>("id");  row.value<std::optional<std::string>>("note");  row.old<bool>("flag")
  // value<T>() reads the new tuple (the old one for a delete); old<T>() the old tuple.
  [[nodiscard]] std::optional<TypedValueView> typed_new(std::string_view name) const noexcept {
    return typed_in(new_tuple, name, op != ChangeOp::delete_);
  }
  [[nodiscard]] std::optional<TypedValueView> typed_old(std::string_view name) const noexcept {
    return typed_in(old_tuple, name, old_kind != OldTupleKind::none);
  }
  template <class T>
  [[nodiscard]] ValueResult<T> value(std::string_view name) const {
    auto v = op == ChangeOp::delete_ ? typed_old(name) : typed_new(name);
    if (!v) return ValueError{ValueErrc::missing_column, 0, "no such column in this change"};
    return v->template value<T>();
  }
  template <class T>
  [[nodiscard]] ValueResult<T> old(std::string_view name) const {
    auto v = typed_old(name);
    if (!v) return ValueError{ValueErrc::missing_column, 0, "no such column, or no old tuple"};
    return v->template value<T>();
  }

  // The tuple that identifies the row: new for insert/update, old for delete.
  [[nodiscard]] const TupleView& row() const noexcept { return op == ChangeOp::delete_ ? old_tuple : new_tuple; }

 private:
  std::optional<ColumnValueView> value_in(const TupleView& t, std::string_view name) const noexcept {
    auto i = column_index(name);
    if (!i || *i >= t.size()) return std::nullopt;
    return t[*i];
  }
  std::optional<TypedValueView> typed_in(const TupleView& t, std::string_view name, bool present) const noexcept {
    auto i = column_index(name);
    if (!present || !i || *i >= t.size()) return std::nullopt;
    return TypedValueView(t[*i], relation->columns[*i].type_oid);
  }
  static std::optional<std::string_view> text_of(std::optional<ColumnValueView> v) noexcept {
    if (!v || v->is_null() || v->is_unchanged_toast()) return std::nullopt;
    return v->text();
  }
};

// TRUNCATE of one or more tables in one statement.
struct TruncateEventView {
  Lsn lsn;
  TxnContext txn;
  std::span<const RelationInfo* const> relations;
  bool cascade = false;
  bool restart_identity = false;
};

// pg_logical_emit_message(transactional, prefix, content).
struct MessageEventView {
  Lsn lsn;          // the message's WAL start
  Lsn message_lsn;  // the LSN field of the message itself
  TxnContext txn;   // xid 0 and no commit for non-transactional messages
  bool transactional = false;
  std::string_view prefix;
  std::span<const std::byte> content;
};

struct BeginEvent {
  Lsn lsn;
  TxnContext txn;  // for streamed transactions commit_lsn/commit_time are filled at Stream Commit
};

struct CommitEvent {
  Lsn lsn;
  TxnContext txn;
  Lsn end_lsn;  // the position to confirm once this transaction is durable
};

// A Relation message whose definition differs from the cached one. Emitted just before the next
// row (or truncate) of that table, so a sink sees the new column set before rows that use it.
struct SchemaChangeEvent {
  Lsn lsn;
  TxnContext txn;
  const RelationInfo* old_relation = nullptr;
  const RelationInfo* new_relation = nullptr;
};

// A Stream Abort of `xid` ends the whole streamed transaction unless it names another `subxid`.
[[nodiscard]] constexpr bool aborts_whole_transaction(Xid xid, Xid subxid) noexcept {
  return subxid == 0 || subxid == xid;
}

// Stream Abort: drop the buffered changes of `xid` (whole transaction) or of subtransaction
// `subxid` when it differs. Consumed by batchers; sinks never see it.
struct StreamAbortEvent {
  Lsn lsn;
  Xid xid = 0;
  Xid subxid = 0;
  Lsn abort_lsn{};  // the abort record (protocol 4, streaming=parallel), else the message's WAL position
  [[nodiscard]] bool whole_transaction() const noexcept { return aborts_whole_transaction(xid, subxid); }
};

// Two-phase commit (two_phase on, protocol 3+): Begin Prepare / Prepare / Stream Prepare / Commit
// Prepared / Rollback Prepared. Consumed by batchers, which hold a prepared transaction until
// COMMIT PREPARED and hand it on as Begin, changes, Commit (docs/two_phase.md); sinks never see it.
enum class TwoPhaseKind : std::uint8_t { begin_prepare, prepare, commit_prepared, rollback_prepared };

struct TwoPhaseEvent {
  TwoPhaseKind kind = TwoPhaseKind::prepare;
  Lsn lsn;
  TxnContext txn;         // commit_prepared: commit_lsn / commit_time of COMMIT PREPARED
  std::string_view gid;   // the GID of PREPARE TRANSACTION
  Lsn prepare_lsn;        // begin_prepare / prepare: where the PREPARE record starts (invalid otherwise)
  Lsn prepare_end_lsn;    // begin_prepare / prepare / rollback_prepared: where the PREPARE record ends
  Lsn end_lsn;            // the end of this transaction's last record: the position to confirm after it
  PgTimestamp time;       // prepare, commit or rollback time
  bool streamed = false;  // prepare: a Stream Prepare (the changes came in stream blocks)
};

constexpr std::string_view to_string(TwoPhaseKind k) noexcept {
  switch (k) {
    case TwoPhaseKind::begin_prepare: return "begin_prepare";
    case TwoPhaseKind::prepare: return "prepare";
    case TwoPhaseKind::commit_prepared: return "commit_prepared";
    case TwoPhaseKind::rollback_prepared: return "rollback_prepared";
  }
  return "unknown";
}

using ChangeEvent = std::variant<BeginEvent, RowChangeView, TruncateEventView, MessageEventView, SchemaChangeEvent,
                                 CommitEvent, StreamAbortEvent, TwoPhaseEvent>;

constexpr std::string_view event_name(const ChangeEvent& e) noexcept {
  if (const auto* row = std::get_if<RowChangeView>(&e)) return to_string(row->op);
  if (const auto* tp = std::get_if<TwoPhaseEvent>(&e)) return to_string(tp->kind);
  constexpr std::string_view names[] = {"begin",         "row",    "truncate",     "message",
                                        "schema_change", "commit", "stream_abort", "two_phase"};
  static_assert(std::size(names) == std::variant_size_v<ChangeEvent>);
  return names[e.index()];
}

// The transaction context of any event (StreamAbortEvent: xid only).
inline TxnContext txn_of(const ChangeEvent& e) noexcept {
  return std::visit(
      [](const auto& ev) -> TxnContext {
        if constexpr (std::is_same_v<std::decay_t<decltype(ev)>, StreamAbortEvent>) {
          return TxnContext{ev.xid, ev.xid, Lsn{}, PgTimestamp{}, true};
        } else {
          return ev.txn;
        }
      },
      e);
}

// For std::visit with several lambdas.
template <class... F>
struct overloaded : F... {
  using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

}  // namespace replicator
