// Debezium-compatible JSON: each row change becomes the value of a Debezium PostgreSQL connector
// change event (payload only, as with value.converter.schemas.enable=false): before, after, source
// {version, connector, name, ts_ms, snapshot, db, sequence, schema, table, txId, lsn, xmin}, op
// (c/u/d/r/t), ts_ms, transaction. Field shapes and value mapping: docs/debezium.md.
//   DebeziumFormatter fmt({.server_name = "inventory", .database = "shop"});
//   std::string out;  fmt.lines(out, event);   // zero or more lines, each ending in '\n'
//   DebeziumLinesSink sink = DebeziumLinesSink::to_stdout(std::move(fmt));  // sink/json_lines.hpp
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"
#include "replicator/format/json.hpp"
#include "replicator/values/value.hpp"

namespace replicator::format {

struct DebeziumOptions {
  std::string server_name = "replicator";  // source.name (Debezium's topic.prefix / database.server.name)
  std::string database;                    // source.db
  std::string version = "replicator";      // source.version (Debezium writes its own release here)
  std::string unavailable_value = "__debezium_unavailable_value";  // unchanged TOAST placeholder
  bool transaction_metadata = false;  // "transaction": {id, total_order, data_collection_order}; else null
  bool tombstones = false;            // a `null` line after each delete (Kafka log compaction style)
  bool messages = true;               // op "m" lines for pg_logical_emit_message
  std::function<std::int64_t()> now_ms;  // the envelope's ts_ms (processing time); default: system clock
};

namespace detail {

inline void append_base64(std::string& out, std::span<const std::byte> bytes) {
  static constexpr char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned>(bytes[i]) << 16) | (static_cast<unsigned>(bytes[i + 1]) << 8) |
                       static_cast<unsigned>(bytes[i + 2]);
    out.push_back(tbl[(v >> 18) & 63]);
    out.push_back(tbl[(v >> 12) & 63]);
    out.push_back(tbl[(v >> 6) & 63]);
    out.push_back(tbl[v & 63]);
  }
  if (i < bytes.size()) {
    unsigned v = static_cast<unsigned>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned>(bytes[i + 1]) << 8;
    out.push_back(tbl[(v >> 18) & 63]);
    out.push_back(tbl[(v >> 12) & 63]);
    out.push_back(i + 1 < bytes.size() ? tbl[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
}

// Debezium's ZonedTimestamp text: ISO-8601 in UTC, fraction only as long as needed.
inline std::string zoned_timestamp(PgTimestamp t) {
  std::string s = values::format_timestamp(t, false);  // ...T..:..:..ffffff
  if (values::is_infinite(t)) return s;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  s.push_back('Z');
  return s;
}

// ms / µs since the Unix epoch without overflow (clamped at the int64 range).
inline std::int64_t unix_micros(PgTimestamp t) noexcept {
  constexpr std::int64_t off = PgTimestamp::kUnixEpochOffsetMicros;
  const std::int64_t us = t.micros_since_2000();
  if (us > std::numeric_limits<std::int64_t>::max() - off) return std::numeric_limits<std::int64_t>::max();
  return us + off;
}
inline std::int64_t unix_millis(PgTimestamp t) noexcept {
  const std::int64_t us = unix_micros(t);
  return us >= 0 ? us / 1000 : -((-(us + 1)) / 1000) - 1;
}

inline void append_double_json(std::string& out, double v, bool as_float4) {
  if (v != v || v == std::numeric_limits<double>::infinity() || v == -std::numeric_limits<double>::infinity()) {
    append_json_string(out, values::TypedValueView::format_double(v));  // JSON has no NaN / Infinity
    return;
  }
  out += values::TypedValueView::format_double(v, as_float4);
}

}  // namespace detail

// One column value in Debezium's JSON mapping (see docs/debezium.md). Fails only on malformed bytes.
inline Status append_debezium_value(std::string& out, values::TypedValueView v, std::int32_t typmod,
                                    std::string_view unavailable) {
  namespace oid = values::oid;
  if (v.is_null()) {
    out += "null";
    return ok_status();
  }
  if (v.is_unchanged_toast()) {
    append_json_string(out, unavailable);
    return ok_status();
  }
  auto bad = [&](const values::ValueError& e) {
    return ReplicationError::fatal("debezium format: cannot decode a column value: " + e.describe());
  };
  const values::Oid type = v.type_oid();
  switch (type) {
    case oid::bool_: {
      auto b = v.as_bool();
      if (!b) return bad(b.error());
      out += *b ? "true" : "false";
      return ok_status();
    }
    case oid::int2:
    case oid::int4:
    case oid::int8:
    case oid::oid_: {
      auto i = v.as_int64();
      if (!i) return bad(i.error());
      detail::append_int(out, *i);
      return ok_status();
    }
    case oid::float4:
    case oid::float8: {
      auto d = v.as_double();
      if (!d) return bad(d.error());
      detail::append_double_json(out, *d, type == oid::float4);
      return ok_status();
    }
    case oid::timestamp: {  // MicroTimestamp (precision 4-6) / Timestamp (0-3): since the Unix epoch
      auto t = v.as_timestamp();
      if (!t) return bad(t.error());
      if (values::is_infinite(*t)) {
        detail::append_int(out, *t == values::kTimestampInfinity ? std::numeric_limits<std::int64_t>::max()
                                                          : std::numeric_limits<std::int64_t>::min());
        return ok_status();
      }
      detail::append_int(out, typmod >= 0 && typmod <= 3 ? detail::unix_millis(*t) : detail::unix_micros(*t));
      return ok_status();
    }
    case oid::timestamptz: {
      auto t = v.as_timestamp();
      if (!t) return bad(t.error());
      append_json_string(out, detail::zoned_timestamp(*t));
      return ok_status();
    }
    case oid::date: {  // io.debezium.time.Date: days since the Unix epoch
      auto d = v.as_date();
      if (!d) return bad(d.error());
      if (d->is_infinite()) {
        detail::append_int(out, d->days_since_2000);
        return ok_status();
      }
      detail::append_int(out, static_cast<std::int64_t>(d->days_since_2000) + values::detail::kDays1970To2000);
      return ok_status();
    }
    case oid::bytea: {  // binary.handling.mode=bytes through the JSON converter: base64
      auto b = v.as_bytes();
      if (!b) return bad(b.error());
      out.push_back('"');
      detail::append_base64(out, *b);
      out.push_back('"');
      return ok_status();
    }
    default: break;
  }
  if (const values::Oid elem = values::element_type_of(type); elem != 0) {
    // Nested JSON arrays, one level per dimension; each element mapped like a column of its type
    // (decoded from the element's own wire form, binary or text).
    std::vector<std::int32_t> dims;
    std::vector<values::TypedValueView> elements;
    std::vector<std::string> texts;  // text mode: unquoted element texts, kept alive for the views
    if (v.is_binary()) {
      auto a = values::decode_array_binary(v.raw().bytes, type);
      if (!a) return bad(a.error());
      if (a->element_type != elem) return bad({values::ValueErrc::malformed, type, "array element type"});
      dims = a->dims;
      for (const auto& e : a->elements)
        elements.emplace_back(e ? ColumnValueView{ColumnKind::binary, *e}
                                : ColumnValueView{ColumnKind::null, {}},
                              elem);
    } else {
      auto a = values::parse_array_text(v.raw().text(), type);
      if (!a) return bad(a.error());
      dims = a->dims;
      texts.reserve(a->elements.size());
      for (auto& e : a->elements) texts.push_back(e ? std::move(*e) : std::string());
      for (std::size_t k = 0; k < texts.size(); ++k) {
        const std::string& t = texts[k];
        elements.emplace_back(a->elements[k] ? ColumnValueView{ColumnKind::text,
                                                                         std::as_bytes(std::span(t.data(), t.size()))}
                                             : ColumnValueView{ColumnKind::null, {}},
                              elem);
      }
    }
    std::size_t next = 0;
    std::function<Status(std::size_t)> dim = [&](std::size_t d) -> Status {
      out.push_back('[');
      if (!dims.empty()) {
        for (std::int32_t k = 0; k < dims[d]; ++k) {
          if (k > 0) out.push_back(',');
          if (d + 1 < dims.size()) {
            if (auto st = dim(d + 1); !st) return st;
          } else if (auto st = append_debezium_value(out, elements[next++], -1, unavailable); !st) {
            return st;
          }
        }
      }
      out.push_back(']');
      return ok_status();
    };
    return dim(0);
  }
  // numeric (decimal.handling.mode=string), text types, uuid, json/jsonb (io.debezium.data.Json:
  // the JSON text as a string) and everything else in its normalised text form.
  auto t = v.as_text();
  if (!t) {
    if (t.error().code != values::ValueErrc::unsupported_type) return bad(t.error());
    // A binary value of a type without a decoder: its raw bytes, base64.
    out.push_back('"');
    detail::append_base64(out, v.raw().bytes);
    out.push_back('"');
    return ok_status();
  }
  append_json_string(out, *t);
  return ok_status();
}

// Formats change events as Debezium envelopes. Keeps the transaction counters
// (total_order / data_collection_order) and the last commit LSN (source.sequence).
class DebeziumFormatter {
 public:
  explicit DebeziumFormatter(DebeziumOptions options = {}) : options_(std::move(options)) {}

  // Appends the lines for `event` (rows: one; truncate: one per table; delete with tombstones: two;
  // begin / commit / schema changes: none, they only update the counters).
  Status lines(std::string& out, const ChangeEvent& event) {
    const std::size_t mark = out.size();
    Status st = std::visit([&](const auto& e) { return on(out, e); }, event);
    if (!st) out.resize(mark);
    return st;
  }

  [[nodiscard]] const DebeziumOptions& options() const noexcept { return options_; }

 private:
  static constexpr std::string_view op_code(ChangeOp op) noexcept {
    switch (op) {
      case ChangeOp::insert: return "c";
      case ChangeOp::update: return "u";
      case ChangeOp::delete_: return "d";
      case ChangeOp::read: return "r";
    }
    return "c";
  }

  std::int64_t now_ms() const {
    if (options_.now_ms) return options_.now_ms();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // {"id":..,"total_order":..,"data_collection_order":..} or null.
  void transaction(std::string& out, const TxnContext& txn, const RelationInfo* rel) {
    if (!options_.transaction_metadata || txn.top_xid == 0) {
      out += "null";
      return;
    }
    if (txn_id_ != txn.top_xid) {  // a transaction we did not see begin (e.g. resumed mid-way)
      txn_id_ = txn.top_xid;
      total_ = 0;
      per_table_.clear();
    }
    ++total_;
    std::uint64_t per = 0;
    if (rel != nullptr) per = ++per_table_[rel->qualified_name()];
    out += "{\"id\":\"";
    detail::append_uint(out, txn.top_xid);
    out += "\",\"total_order\":";
    detail::append_uint(out, total_);
    out += ",\"data_collection_order\":";
    detail::append_uint(out, per);
    out.push_back('}');
  }

  void source(std::string& out, const TxnContext& txn, Lsn lsn, const RelationInfo* rel, bool snapshot) {
    const std::int64_t ts = txn.commit_time.micros_since_2000() != 0 ? detail::unix_millis(txn.commit_time) : now_ms();
    out += "\"source\":{\"version\":";
    append_json_string(out, options_.version);
    out += ",\"connector\":\"postgresql\",\"name\":";
    append_json_string(out, options_.server_name);
    out += ",\"ts_ms\":";
    detail::append_int(out, ts);
    out += snapshot ? ",\"snapshot\":\"true\"" : ",\"snapshot\":\"false\"";
    out += ",\"db\":";
    append_json_string(out, options_.database);
    // sequence: a JSON array in a string, [last commit LSN, this LSN] as decimal strings.
    out += ",\"sequence\":\"[";
    if (last_commit_.value() != 0) {
      out += "\\\"";
      detail::append_uint(out, last_commit_.value());
      out += "\\\"";
    } else {
      out += "null";
    }
    out += ",\\\"";
    detail::append_uint(out, lsn.value());
    out += "\\\"]\"";
    out += ",\"schema\":";
    if (rel != nullptr) append_json_string(out, rel->schema);
    else out += "null";
    out += ",\"table\":";
    if (rel != nullptr) append_json_string(out, rel->name);
    else out += "null";
    out += ",\"txId\":";
    if (txn.top_xid != 0) detail::append_uint(out, txn.top_xid);
    else out += "null";
    out += ",\"lsn\":";
    if (lsn.value() != 0) detail::append_uint(out, lsn.value());
    else out += "null";
    out += ",\"xmin\":null}";
  }

  Status row_object(std::string& out, const RelationInfo& rel, const TupleView& tuple) {
    if (tuple.size() != rel.columns.size())
      return ReplicationError::fatal("debezium format: tuple width differs from " + rel.qualified_name());
    out.push_back('{');
    std::size_t i = 0;
    for (ColumnValueView v : tuple) {
      const auto& col = rel.columns[i];
      if (i++ > 0) out.push_back(',');
      append_json_string(out, col.name);
      out.push_back(':');
      if (auto st = append_debezium_value(out, values::TypedValueView(v, col.type_oid), col.type_modifier,
                                          options_.unavailable_value);
          !st)
        return st;
    }
    out.push_back('}');
    return ok_status();
  }

  Status on(std::string& out, const RowChangeView& r) {
    if (r.relation == nullptr) return ReplicationError::fatal("debezium format: row change without relation metadata");
    out += "{\"before\":";
    if (r.old_kind != OldTupleKind::none && r.op != ChangeOp::insert) {
      if (auto st = row_object(out, *r.relation, r.old_tuple); !st) return st;
    } else {
      out += "null";
    }
    out += ",\"after\":";
    if (r.op != ChangeOp::delete_) {
      if (auto st = row_object(out, *r.relation, r.new_tuple); !st) return st;
    } else {
      out += "null";
    }
    out.push_back(',');
    source(out, r.txn, r.lsn, r.relation, r.op == ChangeOp::read);
    out += ",\"op\":\"";
    out += op_code(r.op);
    out += "\",\"ts_ms\":";
    detail::append_int(out, now_ms());
    out += ",\"transaction\":";
    transaction(out, r.txn, r.relation);
    out += "}\n";
    if (r.op == ChangeOp::delete_ && options_.tombstones) out += "null\n";
    return ok_status();
  }

  Status on(std::string& out, const TruncateEventView& t) {
    for (const RelationInfo* rel : t.relations) {
      if (rel == nullptr) continue;
      out += "{\"before\":null,\"after\":null,";
      source(out, t.txn, t.lsn, rel, false);
      out += ",\"op\":\"t\",\"ts_ms\":";
      detail::append_int(out, now_ms());
      out += ",\"transaction\":";
      transaction(out, t.txn, rel);
      out += "}\n";
    }
    return ok_status();
  }

  Status on(std::string& out, const MessageEventView& m) {
    if (!options_.messages) return ok_status();
    out += "{";
    source(out, m.txn, m.lsn, nullptr, false);
    out += ",\"op\":\"m\",\"ts_ms\":";
    detail::append_int(out, now_ms());
    out += ",\"message\":{\"prefix\":";
    append_json_string(out, m.prefix);
    out += ",\"content\":\"";
    detail::append_base64(out, m.content);
    out += "\"}}\n";
    return ok_status();
  }

  Status on(std::string&, const BeginEvent& b) {
    txn_id_ = b.txn.top_xid;
    total_ = 0;
    per_table_.clear();
    return ok_status();
  }
  Status on(std::string&, const CommitEvent& c) {
    last_commit_ = c.txn.commit_lsn;
    return ok_status();
  }
  template <class Other>
  Status on(std::string&, const Other&) {  // schema changes, stream aborts, two-phase markers: no line
    return ok_status();
  }

  DebeziumOptions options_;
  Xid txn_id_ = 0;
  std::uint64_t total_ = 0;
  std::map<std::string, std::uint64_t> per_table_;
  Lsn last_commit_;
};

}  // namespace replicator::format

namespace replicator {
using format::DebeziumFormatter;
using format::DebeziumOptions;
}  // namespace replicator
