// Debezium-compatible JSON: each row change becomes the value of a Debezium PostgreSQL connector
// change event: before, after, source {version, connector, name, ts_ms, snapshot, db, sequence,
// schema, table, txId, lsn, xmin}, op (c/u/d/r/t), ts_ms, transaction; values in Debezium's type
// mapping and handling modes (format/debezium_values.hpp); optionally the JSON converter's
// {"schema":..,"payload":..} form and {"key":..,"value":..} lines. Details: docs/debezium.md.
//   DebeziumFormatter fmt({.server_name = "inventory", .database = "shop"});
//   std::string out;  fmt.lines(out, event);   // zero or more lines, each ending in '\n'
//   DebeziumLinesSink sink = DebeziumLinesSink::to_stdout(std::move(fmt));  // sink/json_lines.hpp
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <unordered_map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"
#include "replicator/format/debezium_schema.hpp"
#include "replicator/format/debezium_types.hpp"
#include "replicator/format/debezium_values.hpp"
#include "replicator/format/json.hpp"
#include "replicator/values/value.hpp"

namespace replicator::format {

struct DebeziumOptions {
  std::string server_name = "replicator";  // source.name (Debezium's topic.prefix / database.server.name)
  std::string database;                    // source.db
  std::string version = "replicator";      // source.version (Debezium writes its own release here)
  std::string unavailable_value = "__debezium_unavailable_value";  // unchanged TOAST placeholder
  bool transaction_metadata = false;  // "transaction": {id, total_order, data_collection_order}; else null
  bool tombstones = false;            // a tombstone after each delete (Kafka log compaction style)
  bool messages = true;               // op "m" lines for pg_logical_emit_message
  bool schemas = false;               // {"schema":..,"payload":..} (Kafka Connect JSON converter, schemas.enable=true)
  bool keys = false;         // each line {"key":<key document>,"value":<value document>}; tombstone: "value":null
  DebeziumValueModes modes;  // decimal / interval / binary / time precision / hstore handling
  // Enums, domains and extension types (hstore, ltree, ...) by OID. Shared so a library user can
  // fill it up front; `type_lookup` is called with the OIDs a Relation names that it lacks.
  std::shared_ptr<DebeziumTypeCatalog> types = std::make_shared<DebeziumTypeCatalog>();
  std::function<Status(const std::vector<Oid>& missing, DebeziumTypeCatalog& into)> type_lookup;
  std::function<std::int64_t()> now_ms;  // the envelope's ts_ms (processing time); default: system clock
};

// Compatibility: the value of one column with Debezium's default modes and no catalog.
inline Status append_debezium_value(std::string& out, values::TypedValueView v, std::int32_t typmod,
                                    std::string_view unavailable) {
  static const DebeziumTypeCatalog empty;
  return append_debezium_value(out, v, resolve_debezium_type(empty, v.type_oid(), typmod), DebeziumValueModes{},
                               unavailable);
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

  // The mapping of each column of `rel` (and, with schemas, the Value / Key schemas), cached per
  // relation definition. Asks `type_lookup` once for types the catalog lacks.
  struct TableTypes {
    std::uint64_t version = ~std::uint64_t{0};
    std::vector<DebeziumColumnType> columns;
    std::string value_schema;   // the before/after struct without "field"
    std::string key_schema;     // the key struct
    std::string envelope_name;  // "<server>.<schema>.<table>.Envelope" as a JSON string
  };

  Result<const TableTypes*, ReplicationError> table(const RelationInfo& rel) {
    TableTypes& t = tables_[rel.oid];
    if (t.version == rel.version && t.columns.size() == rel.columns.size()) return &t;
    DebeziumTypeCatalog& cat = *options_.types;
    std::vector<Oid> missing;
    for (const auto& c : rel.columns)
      if (cat.missing(c.type_oid)) missing.push_back(c.type_oid);
    if (!missing.empty() && options_.type_lookup) {
      if (auto st = options_.type_lookup(missing, cat); !st) return st.error();
    }
    t.columns.clear();
    for (const auto& c : rel.columns) t.columns.push_back(resolve_debezium_type(cat, c.type_oid, c.type_modifier));
    t.version = rel.version;
    if (options_.schemas) {
      const std::string prefix = options_.server_name + "." + rel.schema + "." + rel.name;
      auto fields = [&](std::string& out, bool keys_only) {
        out += "{\"type\":\"struct\",\"fields\":[";
        bool first = true;
        for (std::size_t i = 0; i < rel.columns.size(); ++i) {
          if (keys_only && !rel.columns[i].is_key) continue;
          if (!first) out.push_back(',');
          first = false;
          append_field_schema(out, t.columns[i], options_.modes, !rel.columns[i].is_key, rel.columns[i].name);
        }
        out += keys_only ? "],\"optional\":false,\"name\":" : "],\"optional\":true,\"name\":";
        append_json_string(out, prefix + (keys_only ? ".Key" : ".Value"));
      };
      t.value_schema.clear();
      fields(t.value_schema, false);
      t.key_schema.clear();
      fields(t.key_schema, true);
      t.key_schema.push_back('}');
      t.envelope_name.clear();
      append_json_string(t.envelope_name, prefix + ".Envelope");
    }
    return &t;
  }

  Status row_object(std::string& out, const RelationInfo& rel, const TableTypes& types, const TupleView& tuple,
                    bool keys_only = false) {
    if (tuple.size() != rel.columns.size())
      return ReplicationError::fatal("debezium format: tuple width differs from " + rel.qualified_name());
    out.push_back('{');
    std::size_t i = 0;
    bool first = true;
    for (ColumnValueView v : tuple) {
      const auto& col = rel.columns[i];
      const auto& type = types.columns[i++];
      if (keys_only && !col.is_key) continue;
      if (!first) out.push_back(',');
      first = false;
      append_json_string(out, col.name);
      out.push_back(':');
      if (auto st = append_debezium_value(out, values::TypedValueView(v, col.type_oid), type, options_.modes,
                                          options_.unavailable_value);
          !st)
        return st;
    }
    out.push_back('}');
    return ok_status();
  }

  // The envelope schema of a table ("schema" member of a value document).
  void envelope_schema(std::string& out, const RelationInfo* rel, const TableTypes* types) {
    out += "\"schema\":{\"type\":\"struct\",\"fields\":[";
    if (types != nullptr) {
      out += types->value_schema;
      out += ",\"field\":\"before\"},";
      out += types->value_schema;
      out += ",\"field\":\"after\"},";
    }
    out += kDebeziumSourceSchema;
    out +=
        ",{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},"
        "{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},";
    out += kDebeziumTransactionSchema;
    out += "],\"optional\":false,\"name\":";
    if (types != nullptr) out += types->envelope_name;
    else
      append_json_string(out,
                         options_.server_name + "." + (rel ? rel->schema + "." + rel->name : "message") + ".Envelope");
    out += "},";
  }

  // The key document of a row change: the replica identity columns (null without any).
  Status key_document(std::string& out, const RowChangeView& r, const TableTypes& types) {
    bool any = false;
    for (const auto& c : r.relation->columns) any = any || c.is_key;
    const TupleView& tuple = r.op == ChangeOp::delete_ ? r.old_tuple : r.new_tuple;
    if (!any || (r.op == ChangeOp::delete_ && r.old_kind == OldTupleKind::none)) {
      out += "null";
      return ok_status();
    }
    if (options_.schemas) {
      out += "{\"schema\":";
      out += types.key_schema;
      out += ",\"payload\":";
    }
    if (auto st = row_object(out, *r.relation, types, tuple, true); !st) return st;
    if (options_.schemas) out.push_back('}');
    return ok_status();
  }

  Status on(std::string& out, const RowChangeView& r) {
    if (r.relation == nullptr) return ReplicationError::fatal("debezium format: row change without relation metadata");
    auto types_r = table(*r.relation);
    if (!types_r) return types_r.error();
    const TableTypes& types = **types_r;
    const std::size_t key_at = out.size();
    if (options_.keys) {
      out += "{\"key\":";
      if (auto st = key_document(out, r, types); !st) return st;
      out += ",\"value\":";
    }
    const std::size_t key_end = out.size();
    if (options_.schemas) {
      out.push_back('{');
      envelope_schema(out, r.relation, &types);
      out += "\"payload\":";
    }
    out += "{\"before\":";
    if (r.old_kind != OldTupleKind::none && r.op != ChangeOp::insert) {
      if (auto st = row_object(out, *r.relation, types, r.old_tuple); !st) return st;
    } else {
      out += "null";
    }
    out += ",\"after\":";
    if (r.op != ChangeOp::delete_) {
      if (auto st = row_object(out, *r.relation, types, r.new_tuple); !st) return st;
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
    out += "}";
    if (options_.schemas) out.push_back('}');
    if (options_.keys) out.push_back('}');
    out.push_back('\n');
    if (r.op == ChangeOp::delete_ && options_.tombstones) {
      if (options_.keys) {                          // the same key, a null value
        out.append(out, key_at, key_end - key_at);  // appending a part of itself is well-defined
        out += "null}\n";
      } else {
        out += "null\n";
      }
    }
    return ok_status();
  }

  Status on(std::string& out, const TruncateEventView& t) {
    for (const RelationInfo* rel : t.relations) {
      if (rel == nullptr) continue;
      const TableTypes* types = nullptr;
      if (options_.schemas) {
        auto tr = table(*rel);
        if (!tr) return tr.error();
        types = *tr;
      }
      if (options_.keys) out += "{\"key\":null,\"value\":";
      if (options_.schemas) {
        out.push_back('{');
        envelope_schema(out, rel, types);
        out += "\"payload\":";
      }
      out += "{\"before\":null,\"after\":null,";
      source(out, t.txn, t.lsn, rel, false);
      out += ",\"op\":\"t\",\"ts_ms\":";
      detail::append_int(out, now_ms());
      out += ",\"transaction\":";
      transaction(out, t.txn, rel);
      out += "}";
      if (options_.schemas) out.push_back('}');
      if (options_.keys) out.push_back('}');
      out.push_back('\n');
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
  std::unordered_map<Oid, TableTypes> tables_;
};

}  // namespace replicator::format

namespace replicator {
using format::DebeziumFormatter;
using format::DebeziumOptions;
}  // namespace replicator
