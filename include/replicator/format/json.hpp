// The JSON shape of decoded pgoutput messages (documented in docs/json.md): one object per message,
// appended to a std::string whose capacity is reused, so steady state does not allocate.
//   JsonMessageFormatter fmt;  std::string line;
//   line.clear(); if (auto r = fmt.append(line, wal.wal_start, message); !r) fail(r.error()); line += '\n';
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "replicator/change.hpp"
#include "replicator/error.hpp"
#include "replicator/lsn.hpp"
#include "replicator/pgoutput/messages.hpp"
#include "replicator/pgoutput/relation_cache.hpp"
#include "replicator/pgoutput/tuple.hpp"
#include "replicator/timestamp.hpp"

namespace replicator::format {

using pgoutput::OldTupleKind;
using pgoutput::RelationCache;
using pgoutput::RelationInfo;
using pgoutput::TupleView;
using pgoutput::Xid;

// What a formatting function returns: nothing, or why the message cannot be named (e.g. a change
// for a relation whose Relation message was never seen). On error nothing is left appended.
using FormatResult = Result<std::monostate>;
inline FormatResult format_ok() { return FormatResult{std::monostate{}}; }

// insert / update / delete (shared with change.hpp's RowChangeView).
using replicator::ChangeOp;

namespace detail {

// Length of the well-formed UTF-8 sequence at p (Unicode table 3-7), 0 if it is not one.
inline std::size_t utf8_sequence_length(const unsigned char* p, std::size_t n) noexcept {
  const unsigned char c = p[0];
  auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i < n && p[i] >= lo && p[i] <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0, 0xBF) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;  // no UTF-16 surrogates
  if (c == 0xF0) return cont(1, 0x90, 0xBF) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

inline void append_uint(std::string& out, std::uint64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}
inline void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

constexpr char kHex[] = "0123456789abcdef";

inline void append_hex_digits(std::string& out, std::span<const std::byte> bytes) {
  const std::size_t at = out.size();
  out.resize(at + 2 * bytes.size());
  char* p = out.data() + at;
  for (std::byte b : bytes) {
    const auto v = static_cast<unsigned>(b);
    *p++ = kHex[v >> 4];
    *p++ = kHex[v & 0xF];
  }
}

}  // namespace detail

// A JSON string (with quotes) for arbitrary bytes. Valid UTF-8 is copied; '"', '\\' and control
// characters are escaped (\n, \t, ... or \u00XX); every byte that is not part of a well-formed
// UTF-8 sequence becomes U+FFFD, so the output is always valid JSON (use binary=true for exact bytes).
// append_json_string_body() writes the same without the quotes.
inline void append_json_string_body(std::string& out, std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t run = 0;  // start of bytes not yet copied
  std::size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    out.append(s.data() + run, i - run);
    if (c < 0x80) {
      switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        case '\b': out.append("\\b"); break;
        case '\f': out.append("\\f"); break;
        default: {
          const char esc[6] = {'\\', 'u', '0', '0', detail::kHex[c >> 4], detail::kHex[c & 0xF]};
          out.append(esc, 6);
        }
      }
      ++i;
    } else if (const std::size_t len = detail::utf8_sequence_length(p + i, n - i); len != 0) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
      ++i;
    }
    run = i;
  }
  out.append(s.data() + run, n - run);
}

inline void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  append_json_string_body(out, s);
  out.push_back('"');
}

// "X/Y" as the server prints it.
inline void append_lsn_json(std::string& out, Lsn lsn) {
  out.push_back('"');
  out.append(lsn.format().view());
  out.push_back('"');
}
// "2026-11-25T16:30:51.123456Z"
inline void append_time_json(std::string& out, PgTimestamp t) {
  out.push_back('"');
  out.append(t.format_iso8601().view());
  out.push_back('"');
}
// Plain lower-case hex in quotes (Message content).
inline void append_hex_json(std::string& out, std::span<const std::byte> bytes) {
  out.push_back('"');
  detail::append_hex_digits(out, bytes);
  out.push_back('"');
}

// One column value: text form as a string, binary as "\\x<hex>", NULL as null,
// an unchanged TOAST value as {"unchanged_toast":true}.
inline void append_value_json(std::string& out, pgoutput::ColumnValueView v) {
  switch (v.kind) {
    case pgoutput::ColumnKind::null: out.append("null"); return;
    case pgoutput::ColumnKind::unchanged_toast: out.append("{\"unchanged_toast\":true}"); return;
    case pgoutput::ColumnKind::text: append_json_string(out, v.text()); return;
    case pgoutput::ColumnKind::binary:
      out.append("\"\\\\x");
      detail::append_hex_digits(out, v.bytes);
      out.push_back('"');
      return;
  }
}

// {"col":value,...} for a tuple of `rel`. keys_only: only the replica identity columns (an old
// key tuple carries nulls for the others); when the relation marks no key column, all are written.
inline FormatResult append_tuple_json(std::string& out, const RelationInfo& rel, TupleView tuple, bool keys_only = false) {
  if (tuple.size() != rel.columns.size())
    return Error{Errc::unexpected_message, 0, "tuple column count differs from its Relation message"};
  if (keys_only) {
    bool any_key = false;
    for (const auto& c : rel.columns) any_key = any_key || c.is_key;
    keys_only = any_key;
  }
  out.push_back('{');
  bool first = true;
  std::size_t i = 0;
  for (pgoutput::ColumnValueView v : tuple) {
    const auto& col = rel.columns[i++];
    if (keys_only && !col.is_key) continue;
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, col.name);
    out.push_back(':');
    append_value_json(out, v);
  }
  out.push_back('}');
  return format_ok();
}

namespace detail {
inline void open(std::string& out, std::string_view op, Lsn lsn) {
  out.append("{\"op\":\"");
  out.append(op);
  out.append("\",\"lsn\":");
  append_lsn_json(out, lsn);
}
inline void key(std::string& out, std::string_view name) {
  out.append(",\"");
  out.append(name);
  out.append("\":");
}
inline void field(std::string& out, std::string_view name, Lsn v) { key(out, name); append_lsn_json(out, v); }
inline void field(std::string& out, std::string_view name, PgTimestamp v) { key(out, name); append_time_json(out, v); }
inline void field(std::string& out, std::string_view name, std::string_view v) { key(out, name); append_json_string(out, v); }
inline void field(std::string& out, std::string_view name, bool v) { key(out, name); out.append(v ? "true" : "false"); }
inline void field_uint(std::string& out, std::string_view name, std::uint64_t v) { key(out, name); append_uint(out, v); }
inline void field_int(std::string& out, std::string_view name, std::int64_t v) { key(out, name); append_int(out, v); }
}  // namespace detail

// insert / update / delete:
// {"op":"update","lsn":"0/16B3748","xid":740,"schema":"public","table":"t","key":{...},"new":{...}}
// `old_kind` says what `old_tuple` is: key -> "key" (key columns only), full -> "old" (whole row).
inline FormatResult append_change_json(std::string& out, ChangeOp op, Lsn lsn, Xid xid, const RelationInfo& rel,
                                       OldTupleKind old_kind, TupleView old_tuple, TupleView new_tuple) {
  const std::size_t mark = out.size();
  detail::open(out, to_string(op), lsn);
  detail::field_uint(out, "xid", xid);
  detail::field(out, "schema", std::string_view(rel.schema));
  detail::field(out, "table", std::string_view(rel.name));
  if (op != ChangeOp::insert && old_kind != OldTupleKind::none) {
    const bool key = old_kind == OldTupleKind::key;
    detail::key(out, key ? "key" : "old");
    if (auto r = append_tuple_json(out, rel, old_tuple, key); !r) {
      out.resize(mark);
      return r;
    }
  }
  if (op != ChangeOp::delete_) {
    detail::key(out, "new");
    if (auto r = append_tuple_json(out, rel, new_tuple); !r) {
      out.resize(mark);
      return r;
    }
  }
  out.push_back('}');
  return format_ok();
}

inline void append_begin_json(std::string& out, Lsn lsn, const pgoutput::BeginView& m) {
  detail::open(out, "begin", lsn);
  detail::field_uint(out, "xid", m.xid);
  detail::field(out, "final_lsn", m.final_lsn);
  detail::field(out, "commit_time", m.commit_time);
  out.push_back('}');
}

// `xid`: the transaction's, from its Begin (Commit does not carry it).
inline void append_commit_json(std::string& out, Lsn lsn, Xid xid, const pgoutput::CommitView& m) {
  detail::open(out, "commit", lsn);
  detail::field_uint(out, "xid", xid);
  detail::field(out, "commit_lsn", m.commit_lsn);
  detail::field(out, "end_lsn", m.end_lsn);
  detail::field(out, "commit_time", m.commit_time);
  out.push_back('}');
}

inline void append_origin_json(std::string& out, Lsn lsn, Xid xid, const pgoutput::OriginView& m) {
  detail::open(out, "origin", lsn);
  detail::field_uint(out, "xid", xid);
  detail::field(out, "origin_lsn", m.commit_lsn);
  detail::field(out, "name", m.name);
  out.push_back('}');
}

constexpr std::string_view to_string(pgoutput::ReplicaIdentity r) noexcept {
  switch (r) {
    case pgoutput::ReplicaIdentity::default_: return "default";
    case pgoutput::ReplicaIdentity::nothing: return "nothing";
    case pgoutput::ReplicaIdentity::full: return "full";
    case pgoutput::ReplicaIdentity::index: return "index";
  }
  return "unknown";
}

inline void append_relation_json(std::string& out, Lsn lsn, Xid xid, const pgoutput::RelationView& m) {
  detail::open(out, "relation", lsn);
  detail::field_uint(out, "xid", xid);
  detail::field_uint(out, "oid", m.oid);
  detail::field(out, "schema", m.schema.empty() ? std::string_view("pg_catalog") : m.schema);
  detail::field(out, "table", m.name);
  detail::field(out, "replica_identity", to_string(m.replica_identity));
  detail::key(out, "columns");
  out.push_back('[');
  bool first = true;
  for (const pgoutput::RelationColumnView c : m.columns) {
    if (!first) out.push_back(',');
    first = false;
    out.append("{\"name\":");
    append_json_string(out, c.name);
    detail::field_uint(out, "type_oid", c.type_oid);
    detail::field_int(out, "type_modifier", c.type_modifier);
    detail::field(out, "key", c.is_key());
    out.push_back('}');
  }
  out.append("]}");
}

inline void append_type_json(std::string& out, Lsn lsn, Xid xid, const pgoutput::TypeView& m) {
  detail::open(out, "type", lsn);
  detail::field_uint(out, "xid", xid);
  detail::field_uint(out, "oid", m.oid);
  detail::field(out, "schema", m.schema.empty() ? std::string_view("pg_catalog") : m.schema);
  detail::field(out, "name", m.name);
  out.push_back('}');
}

namespace detail {
inline void truncate_table(std::string& out, bool first, const RelationInfo& rel) {
  if (!first) out.push_back(',');
  out.push_back('"');
  append_json_string_body(out, rel.schema);
  out.push_back('.');
  append_json_string_body(out, rel.name);
  out.push_back('"');
}
inline void truncate_tail(std::string& out, bool cascade, bool restart_identity) {
  out.push_back(']');
  field(out, "cascade", cascade);
  field(out, "restart_identity", restart_identity);
  out.push_back('}');
}
}  // namespace detail

// {"op":"truncate",...,"tables":["public.a","public.b"],"cascade":true,"restart_identity":true}
// Table names are "schema.table" without quoting (a dot inside a name is not escaped).
inline FormatResult append_truncate_json(std::string& out, Lsn lsn, Xid xid, const pgoutput::TruncateView& m,
                                         const RelationCache& relations) {
  const std::size_t mark = out.size();
  detail::open(out, "truncate", lsn);
  detail::field_uint(out, "xid", xid);
  detail::key(out, "tables");
  out.push_back('[');
  bool first = true;
  for (const pgoutput::Oid oid : m.relation_oids) {
    const RelationInfo* rel = relations.find(oid);
    if (rel == nullptr) {
      out.resize(mark);
      return Error{Errc::unexpected_message, 0, "Truncate of a relation without a Relation message"};
    }
    detail::truncate_table(out, first, *rel);
    first = false;
  }
  detail::truncate_tail(out, m.cascade(), m.restart_identity());
  return format_ok();
}

// The same from already resolved relations (null entries are skipped).
inline void append_truncate_json(std::string& out, Lsn lsn, Xid xid, std::span<const RelationInfo* const> tables,
                                 bool cascade, bool restart_identity) {
  detail::open(out, "truncate", lsn);
  detail::field_uint(out, "xid", xid);
  detail::key(out, "tables");
  out.push_back('[');
  bool first = true;
  for (const RelationInfo* rel : tables) {
    if (rel == nullptr) continue;
    detail::truncate_table(out, first, *rel);
    first = false;
  }
  detail::truncate_tail(out, cascade, restart_identity);
}

inline void append_message_json(std::string& out, Lsn lsn, Xid xid, const pgoutput::LogicalMessageView& m) {
  detail::open(out, "message", lsn);
  detail::field_uint(out, "xid", xid);
  detail::field(out, "transactional", m.transactional());
  detail::field(out, "message_lsn", m.lsn);
  detail::field(out, "prefix", m.prefix);
  detail::key(out, "content");
  append_hex_json(out, m.content);
  out.push_back('}');
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
  detail::open(out, "stream_commit", lsn);
  detail::field_uint(out, "xid", m.xid);
  detail::field(out, "commit_lsn", m.commit_lsn);
  detail::field(out, "end_lsn", m.end_lsn);
  detail::field(out, "commit_time", m.commit_time);
  out.push_back('}');
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
  detail::open(out, "begin_prepare", lsn);
  detail::field_uint(out, "xid", m.xid);
  detail::field(out, "gid", m.gid);
  detail::field(out, "prepare_lsn", m.prepare_lsn);
  detail::field(out, "end_lsn", m.end_lsn);
  detail::field(out, "prepare_time", m.prepare_time);
  out.push_back('}');
}

inline void append_prepare_json(std::string& out, Lsn lsn, const pgoutput::PrepareView& m) {
  detail::open(out, "prepare", lsn);
  detail::field_uint(out, "xid", m.xid);
  detail::field(out, "gid", m.gid);
  detail::field(out, "prepare_lsn", m.prepare_lsn);
  detail::field(out, "end_lsn", m.end_lsn);
  detail::field(out, "prepare_time", m.prepare_time);
  out.push_back('}');
}

inline void append_commit_prepared_json(std::string& out, Lsn lsn, const pgoutput::CommitPreparedView& m) {
  detail::open(out, "commit_prepared", lsn);
  detail::field_uint(out, "xid", m.xid);
  detail::field(out, "gid", m.gid);
  detail::field(out, "commit_lsn", m.commit_lsn);
  detail::field(out, "end_lsn", m.end_lsn);
  detail::field(out, "commit_time", m.commit_time);
  out.push_back('}');
}

inline void append_rollback_prepared_json(std::string& out, Lsn lsn, const pgoutput::RollbackPreparedView& m) {
  detail::open(out, "rollback_prepared", lsn);
  detail::field_uint(out, "xid", m.xid);
  detail::field(out, "gid", m.gid);
  detail::field(out, "prepare_end_lsn", m.prepare_end_lsn);
  detail::field(out, "rollback_end_lsn", m.rollback_end_lsn);
  detail::field(out, "prepare_time", m.prepare_time);
  detail::field(out, "rollback_time", m.rollback_time);
  out.push_back('}');
}

inline void append_stream_prepare_json(std::string& out, Lsn lsn, const pgoutput::StreamPrepareView& m) {
  detail::open(out, "stream_prepare", lsn);
  detail::field_uint(out, "xid", m.xid);
  detail::field(out, "gid", m.gid);
  detail::field(out, "prepare_lsn", m.prepare_lsn);
  detail::field(out, "end_lsn", m.end_lsn);
  detail::field(out, "prepare_time", m.prepare_time);
  out.push_back('}');
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
