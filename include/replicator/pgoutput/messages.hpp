// The pgoutput logical replication messages (protocol versions 1-4) as zero-copy views.
// Every string_view / span points into the buffer the message was decoded from.
//   std::visit([](const auto& m) { ... }, message);   // Message is a std::variant of the views
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <variant>

#include "replicator/core/lsn.hpp"
#include "replicator/change/relation.hpp"
#include "replicator/pgoutput/tuple.hpp"
#include "replicator/core/timestamp.hpp"

namespace replicator::pgoutput {

using replicator::Oid;
using replicator::OldTupleKind;
using replicator::ReplicaIdentity;
using replicator::Xid;

struct BeginView {  // 'B'
  Lsn final_lsn;
  PgTimestamp commit_time;
  Xid xid = 0;
};

struct CommitView {  // 'C'
  std::uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  PgTimestamp commit_time;
};

struct OriginView {  // 'O'
  Lsn commit_lsn;
  std::string_view name;
};

struct RelationView {  // 'R'
  Xid xid = 0;         // set inside a streamed transaction
  Oid oid = 0;
  std::string_view schema;  // empty string means pg_catalog on the wire
  std::string_view name;
  ReplicaIdentity replica_identity = ReplicaIdentity::default_;
  RelationColumnsView columns;
};

struct TypeView {  // 'Y'
  Xid xid = 0;
  Oid oid = 0;
  std::string_view schema;
  std::string_view name;
};

struct InsertView {  // 'I'
  Xid xid = 0;
  Oid relation_oid = 0;
  TupleView new_tuple;
};

struct UpdateView {  // 'U'
  Xid xid = 0;
  Oid relation_oid = 0;
  OldTupleKind old_kind = OldTupleKind::none;
  TupleView old_tuple;  // empty unless old_kind != none
  TupleView new_tuple;
};

struct DeleteView {  // 'D'
  Xid xid = 0;
  Oid relation_oid = 0;
  OldTupleKind old_kind = OldTupleKind::key;
  TupleView old_tuple;
};

struct TruncateView {  // 'T'
  static constexpr std::uint8_t kCascade = 1;
  static constexpr std::uint8_t kRestartIdentity = 2;
  Xid xid = 0;
  std::uint8_t options = 0;
  OidListView relation_oids;
  [[nodiscard]] bool cascade() const noexcept { return (options & kCascade) != 0; }
  [[nodiscard]] bool restart_identity() const noexcept { return (options & kRestartIdentity) != 0; }
};

struct LogicalMessageView {  // 'M' (pg_logical_emit_message)
  Xid xid = 0;
  std::uint8_t flags = 0;
  Lsn lsn;
  std::string_view prefix;
  std::span<const std::byte> content;
  [[nodiscard]] bool transactional() const noexcept { return (flags & 1) != 0; }
};

struct StreamStartView {  // 'S'
  Xid xid = 0;
  bool first_segment = false;
};

struct StreamStopView {};  // 'E'

struct StreamCommitView {  // 'c'
  Xid xid = 0;
  std::uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  PgTimestamp commit_time;
};

struct StreamAbortView {  // 'A'
  Xid xid = 0;
  Xid subxid = 0;               // equal to xid when the whole transaction aborted
  bool has_abort_info = false;  // protocol 4 with streaming=parallel
  Lsn abort_lsn;
  PgTimestamp abort_time;
};

struct BeginPrepareView {  // 'b'
  Lsn prepare_lsn;
  Lsn end_lsn;
  PgTimestamp prepare_time;
  Xid xid = 0;
  std::string_view gid;
};

struct PrepareView {  // 'P'
  std::uint8_t flags = 0;
  Lsn prepare_lsn;
  Lsn end_lsn;
  PgTimestamp prepare_time;
  Xid xid = 0;
  std::string_view gid;
};

struct CommitPreparedView {  // 'K'
  std::uint8_t flags = 0;
  Lsn commit_lsn;
  Lsn end_lsn;
  PgTimestamp commit_time;
  Xid xid = 0;
  std::string_view gid;
};

struct RollbackPreparedView {  // 'r'
  std::uint8_t flags = 0;
  Lsn prepare_end_lsn;
  Lsn rollback_end_lsn;
  PgTimestamp prepare_time;
  PgTimestamp rollback_time;
  Xid xid = 0;
  std::string_view gid;
};

// 'p': Prepare's fields for a streamed transaction; a type of its own so a visitor can tell them apart.
struct StreamPrepareView : PrepareView {};

using Message =
    std::variant<BeginView, CommitView, OriginView, RelationView, TypeView, InsertView, UpdateView, DeleteView,
                 TruncateView, LogicalMessageView, StreamStartView, StreamStopView, StreamCommitView, StreamAbortView,
                 BeginPrepareView, PrepareView, CommitPreparedView, RollbackPreparedView, StreamPrepareView>;

// The message's name as used in logs and JSON ("insert", "stream_commit", ...).
constexpr std::string_view message_name(const Message& m) noexcept {
  constexpr std::string_view names[] = {"begin",
                                        "commit",
                                        "origin",
                                        "relation",
                                        "type",
                                        "insert",
                                        "update",
                                        "delete",
                                        "truncate",
                                        "message",
                                        "stream_start",
                                        "stream_stop",
                                        "stream_commit",
                                        "stream_abort",
                                        "begin_prepare",
                                        "prepare",
                                        "commit_prepared",
                                        "rollback_prepared",
                                        "stream_prepare"};
  static_assert(std::size(names) == std::variant_size_v<Message>);
  return names[m.index()];
}

}  // namespace replicator::pgoutput
