// The JSON shape of change events (documented in docs/json.md): one object per event, appended to a
// std::string whose capacity is reused, so steady state does not allocate. ChangeJsonFormatter is
// the line format of JsonLinesSink; the decode program's pgoutput messages (format/pgoutput_json.hpp)
// are printed with the same primitives, so both outputs share one shape.
//   std::string out;  ChangeJsonFormatter fmt;  if (auto st = fmt.lines(out, event); !st) fail(st.error());
#pragma once

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <variant>

#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/change/relation.hpp"
#include "replicator/change/row.hpp"
#include "replicator/core/timestamp.hpp"

namespace replicator::format {

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

// The first index from `i` on whose byte a JSON string cannot copy as is (a control character,
// '"', '\\' or a non-ASCII byte), or n. Sixteen bytes per step where SSE2 is there (every x86-64):
// most text values are plain ASCII and go through here without a branch per byte.
inline std::size_t skip_plain_ascii(const unsigned char* p, std::size_t i, std::size_t n) noexcept {
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // Signed: bytes 0x80-0xFF are negative, so "< 0x20" finds control and non-ASCII bytes at once.
    const __m128i special =
        _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    if (const int mask = _mm_movemask_epi8(special); mask != 0)
      return i + static_cast<std::size_t>(__builtin_ctz(mask));
  }
#endif
  for (; i < n; ++i) {
    const unsigned char c = p[i];
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') return i;
  }
  return n;
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
    i = detail::skip_plain_ascii(p, i, n);
    if (i == n) break;
    const unsigned char c = p[i];
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
inline void append_value_json(std::string& out, ColumnValueView v) {
  switch (v.kind) {
    case ColumnKind::null: out.append("null"); return;
    case ColumnKind::unchanged_toast: out.append("{\"unchanged_toast\":true}"); return;
    case ColumnKind::text: append_json_string(out, v.text()); return;
    case ColumnKind::binary:
      out.append("\"\\\\x");
      detail::append_hex_digits(out, v.bytes);
      out.push_back('"');
      return;
  }
}

// {"col":value,...} for a tuple of `rel`. keys_only: only the replica identity columns (an old
// key tuple carries nulls for the others); when the relation marks no key column, all are written.
inline FormatResult append_tuple_json(std::string& out, const RelationInfo& rel, TupleView tuple,
                                      bool keys_only = false) {
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
  for (ColumnValueView v : tuple) {
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
inline void field(std::string& out, std::string_view name, Lsn v) {
  key(out, name);
  append_lsn_json(out, v);
}
inline void field(std::string& out, std::string_view name, PgTimestamp v) {
  key(out, name);
  append_time_json(out, v);
}
inline void field(std::string& out, std::string_view name, std::string_view v) {
  key(out, name);
  append_json_string(out, v);
}
inline void field(std::string& out, std::string_view name, bool v) {
  key(out, name);
  out.append(v ? "true" : "false");
}
inline void field_uint(std::string& out, std::string_view name, std::uint64_t v) {
  key(out, name);
  append_uint(out, v);
}
inline void field_int(std::string& out, std::string_view name, std::int64_t v) {
  key(out, name);
  append_int(out, v);
}
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

inline void append_begin_json(std::string& out, Lsn lsn, Xid xid, Lsn final_lsn, PgTimestamp commit_time) {
  detail::open(out, "begin", lsn);
  detail::field_uint(out, "xid", xid);
  detail::field(out, "final_lsn", final_lsn);
  detail::field(out, "commit_time", commit_time);
  out.push_back('}');
}

// `op`: "commit" or "stream_commit" (same fields).
inline void append_commit_json(std::string& out, std::string_view op, Lsn lsn, Xid xid, Lsn commit_lsn, Lsn end_lsn,
                               PgTimestamp commit_time) {
  detail::open(out, op, lsn);
  detail::field_uint(out, "xid", xid);
  detail::field(out, "commit_lsn", commit_lsn);
  detail::field(out, "end_lsn", end_lsn);
  detail::field(out, "commit_time", commit_time);
  out.push_back('}');
}

// {"op":"truncate",...,"tables":["public.a","public.b"],"cascade":true,"restart_identity":true}
// Table names are "schema.table" without quoting (a dot inside a name is not escaped). `table(i)`
// gives the i-th relation or nullptr (the caller decides whether that is an error).
template <class TableAt>
inline FormatResult append_truncate_json(std::string& out, Lsn lsn, Xid xid, std::size_t count, TableAt table,
                                         bool cascade, bool restart_identity) {
  const std::size_t mark = out.size();
  detail::open(out, "truncate", lsn);
  detail::field_uint(out, "xid", xid);
  detail::key(out, "tables");
  out.push_back('[');
  for (std::size_t i = 0; i < count; ++i) {
    const RelationInfo* rel = table(i);
    if (rel == nullptr) {
      out.resize(mark);
      return Error{Errc::unexpected_message, 0, "Truncate of a relation without a Relation message"};
    }
    if (i != 0) out.push_back(',');
    out.push_back('"');
    append_json_string_body(out, rel->schema);
    out.push_back('.');
    append_json_string_body(out, rel->name);
    out.push_back('"');
  }
  out.push_back(']');
  detail::field(out, "cascade", cascade);
  detail::field(out, "restart_identity", restart_identity);
  out.push_back('}');
  return format_ok();
}

inline void append_message_json(std::string& out, Lsn lsn, Xid xid, bool transactional, Lsn message_lsn,
                                std::string_view prefix, std::span<const std::byte> content) {
  detail::open(out, "message", lsn);
  detail::field_uint(out, "xid", xid);
  detail::field(out, "transactional", transactional);
  detail::field(out, "message_lsn", message_lsn);
  detail::field(out, "prefix", prefix);
  detail::key(out, "content");
  append_hex_json(out, content);
  out.push_back('}');
}

// `op`: "begin_prepare", "prepare" or "stream_prepare" (same fields).
inline void append_prepare_json(std::string& out, std::string_view op, Lsn lsn, Xid xid, std::string_view gid,
                                Lsn prepare_lsn, Lsn end_lsn, PgTimestamp prepare_time) {
  detail::open(out, op, lsn);
  detail::field_uint(out, "xid", xid);
  detail::field(out, "gid", gid);
  detail::field(out, "prepare_lsn", prepare_lsn);
  detail::field(out, "end_lsn", end_lsn);
  detail::field(out, "prepare_time", prepare_time);
  out.push_back('}');
}

inline void append_commit_prepared_json(std::string& out, Lsn lsn, Xid xid, std::string_view gid, Lsn commit_lsn,
                                        Lsn end_lsn, PgTimestamp commit_time) {
  detail::open(out, "commit_prepared", lsn);
  detail::field_uint(out, "xid", xid);
  detail::field(out, "gid", gid);
  detail::field(out, "commit_lsn", commit_lsn);
  detail::field(out, "end_lsn", end_lsn);
  detail::field(out, "commit_time", commit_time);
  out.push_back('}');
}

inline void append_rollback_prepared_json(std::string& out, Lsn lsn, Xid xid, std::string_view gid, Lsn prepare_end_lsn,
                                          Lsn rollback_end_lsn, PgTimestamp prepare_time, PgTimestamp rollback_time) {
  detail::open(out, "rollback_prepared", lsn);
  detail::field_uint(out, "xid", xid);
  detail::field(out, "gid", gid);
  detail::field(out, "prepare_end_lsn", prepare_end_lsn);
  detail::field(out, "rollback_end_lsn", rollback_end_lsn);
  detail::field(out, "prepare_time", prepare_time);
  detail::field(out, "rollback_time", rollback_time);
  out.push_back('}');
}

// The "columns" array of a relation or schema_change object, from any column range whose
// `column(c)` gives (name, type_oid, type_modifier, is_key).
template <class Columns, class Fields>
inline void append_columns_json(std::string& out, const Columns& columns, Fields fields) {
  detail::key(out, "columns");
  out.push_back('[');
  bool first = true;
  for (const auto& c : columns) {
    const auto [name, type_oid, type_modifier, is_key] = fields(c);
    if (!first) out.push_back(',');
    first = false;
    out.append("{\"name\":");
    append_json_string(out, name);
    detail::field_uint(out, "type_oid", type_oid);
    detail::field_int(out, "type_modifier", type_modifier);
    detail::field(out, "key", is_key);
    out.push_back('}');
  }
  out.push_back(']');
}

// {"op":"schema_change","lsn":..,"xid":..,"schema":..,"table":..,"columns":[{"name":..,"type_oid":..,"type_modifier":..,"key":..}]}
inline void append_schema_change_json(std::string& out, Lsn lsn, Xid xid, const RelationInfo& rel) {
  detail::open(out, "schema_change", lsn);
  detail::field_uint(out, "xid", xid);
  detail::field(out, "schema", std::string_view(rel.schema));
  detail::field(out, "table", std::string_view(rel.name));
  append_columns_json(out, rel.columns, [](const ColumnInfo& c) {
    return std::tuple{std::string_view(c.name), c.type_oid, c.type_modifier, c.is_key};
  });
  out.push_back('}');
}

// Appends the JSON object (without '\n') for one event; StreamAbortEvent (consumed by batchers)
// appends nothing.
inline Status append_event_json(std::string& out, const ChangeEvent& event) {
  auto failed = [](const Error& e) -> Status {
    return ReplicationError::decoding(e, "cannot format change event as JSON: ");
  };
  return std::visit(
      overloaded{
          [&](const RowChangeView& r) -> Status {
            if (r.relation == nullptr) return ReplicationError::fatal("row change without relation metadata");
            auto res =
                append_change_json(out, r.op, r.lsn, r.txn.xid, *r.relation, r.old_kind, r.old_tuple, r.new_tuple);
            return res ? ok_status() : failed(res.error());
          },
          [&](const BeginEvent& b) -> Status {
            append_begin_json(out, b.lsn, b.txn.xid, b.txn.commit_lsn, b.txn.commit_time);
            return ok_status();
          },
          [&](const CommitEvent& c) -> Status {
            append_commit_json(out, "commit", c.lsn, c.txn.xid, c.txn.commit_lsn, c.end_lsn, c.txn.commit_time);
            return ok_status();
          },
          [&](const MessageEventView& m) -> Status {
            append_message_json(out, m.lsn, m.txn.xid, m.transactional, m.message_lsn, m.prefix, m.content);
            return ok_status();
          },
          [&](const TruncateEventView& t) -> Status {
            for (const RelationInfo* rel : t.relations)
              if (rel == nullptr) return ReplicationError::fatal("truncate without relation metadata");
            auto res = append_truncate_json(
                out, t.lsn, t.txn.xid, t.relations.size(), [&](std::size_t i) { return t.relations[i]; }, t.cascade,
                t.restart_identity);
            return res ? ok_status() : failed(res.error());
          },
          [&](const SchemaChangeEvent& s) -> Status {
            if (s.new_relation != nullptr) append_schema_change_json(out, s.lsn, s.txn.xid, *s.new_relation);
            return ok_status();
          },
          [&](const StreamAbortEvent&) -> Status { return ok_status(); },
          [&](const TwoPhaseEvent& t) -> Status {  // the default batchers consume these; a custom one may pass them on
            const Xid x = t.txn.xid;
            switch (t.kind) {
              case TwoPhaseKind::begin_prepare:
                append_prepare_json(out, "begin_prepare", t.lsn, x, t.gid, t.prepare_lsn, t.end_lsn, t.time);
                break;
              case TwoPhaseKind::prepare:
                append_prepare_json(out, t.streamed ? "stream_prepare" : "prepare", t.lsn, x, t.gid, t.prepare_lsn,
                                    t.end_lsn, t.time);
                break;
              case TwoPhaseKind::commit_prepared:
                append_commit_prepared_json(out, t.lsn, x, t.gid, t.txn.commit_lsn, t.end_lsn, t.time);
                break;
              case TwoPhaseKind::rollback_prepared:
                append_rollback_prepared_json(out, t.lsn, x, t.gid, t.prepare_end_lsn, t.end_lsn, PgTimestamp{},
                                              t.time);
                break;
            }
            return ok_status();
          },
      },
      event);
}

// The line format of JsonLinesSink (sink/json_lines.hpp's LineFormatter): one line per event in
// the shape above; begin / commit and schema_change lines can be left out.
struct ChangeJsonFormatter {
  bool transactions = true;    // "begin" / "commit" lines
  bool schema_changes = true;  // "schema_change" lines (new column set of a table)

  // Appends zero or more complete lines (each ending in '\n'); on error nothing.
  Status lines(std::string& out, const ChangeEvent& e) const {
    if (std::holds_alternative<StreamAbortEvent>(e)) return ok_status();
    if (!transactions && (std::holds_alternative<BeginEvent>(e) || std::holds_alternative<CommitEvent>(e)))
      return ok_status();
    if (!schema_changes && std::holds_alternative<SchemaChangeEvent>(e)) return ok_status();
    const std::size_t mark = out.size();
    if (auto st = append_event_json(out, e); !st) {
      out.resize(mark);
      return st;
    }
    out.push_back('\n');
    return ok_status();
  }
};

}  // namespace replicator::format
