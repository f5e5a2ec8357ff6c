// The JSON shape of decoded pgoutput messages, for the decode program (docs/json.md): one object
// per message, from format/json.hpp's primitives, so a change prints the same here as in
// JsonLinesSink. Message-only kinds (relation, type, origin, stream blocks) are printed here alone.
//   JsonMessageFormatter fmt;  std::string line;
//   line.clear(); if (auto r = fmt.append(line, wal.wal_start, message); !r) fail(r.error()); line += '\n';
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>

#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/change/relation.hpp"
#include "replicator/format/json.hpp"
#include "replicator/pgoutput/messages.hpp"
#include "replicator/pgoutput/relation_cache.hpp"

namespace replicator::format {

using pgoutput::RelationCache;

inline void append_begin_json(std::string& out, Lsn lsn, const pgoutput::BeginView& m) {
  append_begin_json(out, lsn, m.xid, m.final_lsn, m.commit_time);
}

// `xid`: the transaction's, from its Begin (Commit does not carry it).
inline void append_commit_json(std::string& out, Lsn lsn, Xid xid, const pgoutput::CommitView& m) {
  append_commit_json(out, "commit", lsn, xid, m.commit_lsn, m.end_lsn, m.commit_time);
}

inline void append_origin_json(std::string& out, Lsn lsn, Xid xid, const pgoutput::OriginView& m) {
  detail::open(out, "origin", lsn);
  detail::field_uint(out, "xid", xid);
  detail::field(out, "origin_lsn", m.commit_lsn);
  detail::field(out, "name", m.name);
  out.push_back('}');
}

inline void append_relation_json(std::string& out, Lsn lsn, Xid xid, const pgoutput::RelationView& m) {
  detail::open(out, "relation", lsn);
  detail::field_uint(out, "xid", xid);
  detail::field_uint(out, "oid", m.oid);
  detail::field(out, "schema", m.schema.empty() ? std::string_view("pg_catalog") : m.schema);
  detail::field(out, "table", m.name);
  detail::field(out, "replica_identity", to_string(m.replica_identity));
  append_columns_json(out, m.columns, [](const pgoutput::RelationColumnView& c) {
    return std::tuple{c.name, c.type_oid, c.type_modifier, c.is_key()};
  });
  out.push_back('}');
}

inline void append_type_json(std::string& out, Lsn lsn, Xid xid, const pgoutput::TypeView& m) {
  detail::open(out, "type", lsn);
  detail::field_uint(out, "xid", xid);
  detail::field_uint(out, "oid", m.oid);
  detail::field(out, "schema", m.schema.empty() ? std::string_view("pg_catalog") : m.schema);
  detail::field(out, "name", m.name);
  out.push_back('}');
}

// Relations resolved through `relations` (an OID without a Relation message is an error).
inline FormatResult append_truncate_json(std::string& out, Lsn lsn, Xid xid, const pgoutput::TruncateView& m,
                                         const RelationCache& relations) {
  return append_truncate_json(
      out, lsn, xid, m.relation_oids.size(), [&](std::size_t i) { return relations.find(m.relation_oids[i]); },
      m.cascade(), m.restart_identity());
}

inline void append_message_json(std::string& out, Lsn lsn, Xid xid, const pgoutput::LogicalMessageView& m) {
  append_message_json(out, lsn, xid, m.transactional(), m.lsn, m.prefix, m.content);
}

inline void append_stream_start_json(std::string& out, Lsn lsn, const pgoutput::StreamStartView& m) {
  detail::open(out, "stream_start", lsn);
  detail::field_uint(out, "xid", m.xid);
  detail::field(out, "first_segment", m.first_segment);
  out.push_back('}');
}

// `xid`: the one of the Stream Start this stops.
inline void append_stream_stop_json(std::string& out, Lsn lsn, Xid xid) {
  detail::open(out, "stream_stop", lsn);
  detail::field_uint(out, "xid", xid);
  out.push_back('}');
}

inline void append_stream_commit_json(std::string& out, Lsn lsn, const pgoutput::StreamCommitView& m) {
  append_commit_json(out, "stream_commit", lsn, m.xid, m.commit_lsn, m.end_lsn, m.commit_time);
}

inline void append_stream_abort_json(std::string& out, Lsn lsn, const pgoutput::StreamAbortView& m) {
  detail::open(out, "stream_abort", lsn);
  detail::field_uint(out, "xid", m.xid);
  detail::field_uint(out, "subxid", m.subxid);
  if (m.has_abort_info) {
    detail::field(out, "abort_lsn", m.abort_lsn);
    detail::field(out, "abort_time", m.abort_time);
  }
  out.push_back('}');
}

inline void append_begin_prepare_json(std::string& out, Lsn lsn, const pgoutput::BeginPrepareView& m) {
  append_prepare_json(out, "begin_prepare", lsn, m.xid, m.gid, m.prepare_lsn, m.end_lsn, m.prepare_time);
}

inline void append_prepare_json(std::string& out, Lsn lsn, const pgoutput::PrepareView& m) {
  append_prepare_json(out, "prepare", lsn, m.xid, m.gid, m.prepare_lsn, m.end_lsn, m.prepare_time);
}

inline void append_stream_prepare_json(std::string& out, Lsn lsn, const pgoutput::StreamPrepareView& m) {
  append_prepare_json(out, "stream_prepare", lsn, m.xid, m.gid, m.prepare_lsn, m.end_lsn, m.prepare_time);
}

inline void append_commit_prepared_json(std::string& out, Lsn lsn, const pgoutput::CommitPreparedView& m) {
  append_commit_prepared_json(out, lsn, m.xid, m.gid, m.commit_lsn, m.end_lsn, m.commit_time);
}

inline void append_rollback_prepared_json(std::string& out, Lsn lsn, const pgoutput::RollbackPreparedView& m) {
  append_rollback_prepared_json(out, lsn, m.xid, m.gid, m.prepare_end_lsn, m.rollback_end_lsn, m.prepare_time,
                                m.rollback_time);
}

// Formats a message stream: keeps the RelationCache (from Relation / Type messages) and the
// current transaction's xid (from Begin / Begin Prepare, or the Stream Start of a stream block),
// so changes get their table, column names and xid.
class JsonMessageFormatter {
 public:
  // Appends the object for `m` (no newline). `lsn` is the XLogData start LSN; `offset` only goes
  // into errors (e.g. the payload's file offset).
  FormatResult append(std::string& out, Lsn lsn, const pgoutput::Message& m, std::size_t offset = 0) {
    auto r = std::visit([&](const auto& v) { return one(out, lsn, v); }, m);
    if (!r) {
      Error e = r.error();
      e.offset = offset;
      return e;
    }
    return r;
  }

  [[nodiscard]] const RelationCache& relations() const noexcept { return relations_; }
  [[nodiscard]] RelationCache& relations() noexcept { return relations_; }
  // The xid changes are attributed to right now (0 outside any transaction).
  [[nodiscard]] Xid current_xid() const noexcept { return stream_xid_ != 0 ? stream_xid_ : txn_xid_; }
  void reset() noexcept {
    txn_xid_ = 0;
    stream_xid_ = 0;
    relations_.clear();
  }

 private:
  // Inside a stream the server sends the (sub)transaction xid with each data message.
  [[nodiscard]] Xid xid_for(Xid sent) const noexcept { return sent != 0 ? sent : current_xid(); }

  template <class View>
  FormatResult change(std::string& out, ChangeOp op, Lsn lsn, const View& m, OldTupleKind old_kind, TupleView old_tuple,
                      TupleView new_tuple) {
    const RelationInfo* rel = relations_.find(m.relation_oid);
    if (rel == nullptr) return Error{Errc::unexpected_message, 0, "change for a relation without a Relation message"};
    return append_change_json(out, op, lsn, xid_for(m.xid), *rel, old_kind, old_tuple, new_tuple);
  }

  FormatResult one(std::string& out, Lsn lsn, const pgoutput::BeginView& m) {
    txn_xid_ = m.xid;
    append_begin_json(out, lsn, m);
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::CommitView& m) {
    append_commit_json(out, lsn, txn_xid_, m);
    txn_xid_ = 0;
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::OriginView& m) {
    append_origin_json(out, lsn, current_xid(), m);
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::RelationView& m) {
    relations_.apply(m);
    append_relation_json(out, lsn, xid_for(m.xid), m);
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::TypeView& m) {
    relations_.apply(m);
    append_type_json(out, lsn, xid_for(m.xid), m);
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::InsertView& m) {
    return change(out, ChangeOp::insert, lsn, m, OldTupleKind::none, {}, m.new_tuple);
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::UpdateView& m) {
    return change(out, ChangeOp::update, lsn, m, m.old_kind, m.old_tuple, m.new_tuple);
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::DeleteView& m) {
    return change(out, ChangeOp::delete_, lsn, m, m.old_kind, m.old_tuple, {});
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::TruncateView& m) {
    return append_truncate_json(out, lsn, xid_for(m.xid), m, relations_);
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::LogicalMessageView& m) {
    // A non-transactional message outside a stream belongs to no transaction.
    append_message_json(out, lsn, m.transactional() ? xid_for(m.xid) : m.xid, m);
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::StreamStartView& m) {
    stream_xid_ = m.xid;
    append_stream_start_json(out, lsn, m);
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::StreamStopView&) {
    append_stream_stop_json(out, lsn, stream_xid_);
    stream_xid_ = 0;
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::StreamCommitView& m) {
    append_stream_commit_json(out, lsn, m);
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::StreamAbortView& m) {
    append_stream_abort_json(out, lsn, m);
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::BeginPrepareView& m) {
    txn_xid_ = m.xid;
    append_begin_prepare_json(out, lsn, m);
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::PrepareView& m) {
    append_prepare_json(out, lsn, m);
    txn_xid_ = 0;
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::CommitPreparedView& m) {
    append_commit_prepared_json(out, lsn, m);
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::RollbackPreparedView& m) {
    append_rollback_prepared_json(out, lsn, m);
    return format_ok();
  }
  FormatResult one(std::string& out, Lsn lsn, const pgoutput::StreamPrepareView& m) {
    append_stream_prepare_json(out, lsn, m);
    return format_ok();
  }

  RelationCache relations_;
  Xid txn_xid_ = 0;
  Xid stream_xid_ = 0;
};

}  // namespace replicator::format
