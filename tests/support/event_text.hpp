// event_text(): one line of text per ChangeEvent with everything a sink can see (positions, xid,
// relation definition, tuples with each column's kind and text), for comparing two decoders'
// event streams (pgoutput and wal2json) line by line.
//   std::vector<std::string> lines;  decoder.decode(msg, [&](const ChangeEvent& e) { lines.push_back(event_text(e));
//   ... });
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "replicator/change/event.hpp"

namespace replicator::test {

struct EventTextOptions {
  // wal2json before 2.6 prints NaN and +-Infinity of numeric/float columns as null: render them
  // as NULL so that a known, documented difference does not hide the others.
  bool nan_as_null = false;
  bool truncate_flags = true;  // wal2json does not send CASCADE / RESTART IDENTITY
};

inline std::string tuple_text(const RelationInfo* rel, const TupleView& t, const EventTextOptions& o) {
  std::string s = "[";
  std::uint16_t i = 0;
  for (ColumnValueView v : t) {
    if (i != 0) s += ", ";
    const Oid type = rel != nullptr && i < rel->columns.size() ? rel->columns[i].type_oid : 0;
    ++i;
    if (v.is_null()) s += "null";
    else if (v.is_unchanged_toast()) s += "unchanged-toast";
    else {
      const std::string_view text = v.text();
      const bool special = text == "NaN" || text == "Infinity" || text == "-Infinity";
      if (o.nan_as_null && special && (type == 700 || type == 701 || type == 1700)) s += "null";
      else s += (v.kind == ColumnKind::binary ? "b'" : "'") + std::string(text) + "'";
    }
  }
  return s + "]";
}

inline std::string relation_text(const RelationInfo* r) {
  if (r == nullptr) return "(none)";
  std::string s = r->schema + "." + r->name + " oid=" + std::to_string(r->oid) +
                  " identity=" + std::string(to_string(r->replica_identity)) + " {";
  for (const auto& c : r->columns) {
    s += c.name + ":" + std::to_string(c.type_oid) + ":" + std::to_string(c.type_modifier) + (c.is_key ? ":key" : "") +
         " ";
  }
  return s + "}";
}

inline std::string txn_text(const TxnContext& t) {
  return " xid=" + std::to_string(t.xid) + " commit_lsn=" + t.commit_lsn.to_string() +
         " commit_time=" + std::to_string(t.commit_time.micros_since_2000());
}

inline std::string event_text(const ChangeEvent& event, const EventTextOptions& o = {}) {
  return std::visit(
      overloaded{
          [](const BeginEvent& e) { return "begin lsn=" + e.lsn.to_string() + txn_text(e.txn); },
          [](const CommitEvent& e) {
            return "commit lsn=" + e.lsn.to_string() + txn_text(e.txn) + " end=" + e.end_lsn.to_string();
          },
          [&](const RowChangeView& e) {
            std::string s = std::string(to_string(e.op)) + " lsn=" + e.lsn.to_string() + txn_text(e.txn) + " " +
                            relation_text(e.relation);
            if (e.old_kind != OldTupleKind::none) {
              s += std::string(" old(") + (e.old_kind == OldTupleKind::key ? "key" : "full") +
                   ")=" + tuple_text(e.relation, e.old_tuple, o);
            }
            if (e.op != ChangeOp::delete_) s += " new=" + tuple_text(e.relation, e.new_tuple, o);
            return s;
          },
          [&](const TruncateEventView& e) {
            std::string s = "truncate lsn=" + e.lsn.to_string() + txn_text(e.txn);
            for (const auto* r : e.relations) s += " " + r->schema + "." + r->name;
            if (o.truncate_flags)
              s += std::string(" cascade=") + (e.cascade ? "1" : "0") + " restart=" + (e.restart_identity ? "1" : "0");
            return s;
          },
          [](const MessageEventView& e) {
            return "message lsn=" + e.lsn.to_string() + " message_lsn=" + e.message_lsn.to_string() + txn_text(e.txn) +
                   " transactional=" + (e.transactional ? "1" : "0") + " prefix=" + std::string(e.prefix) +
                   " content=" + std::string(reinterpret_cast<const char*>(e.content.data()), e.content.size());
          },
          [](const SchemaChangeEvent& e) {
            return "schema_change lsn=" + e.lsn.to_string() + txn_text(e.txn) + " from " +
                   relation_text(e.old_relation) + " to " + relation_text(e.new_relation);
          },
          [](const auto& e) { return std::string(event_name(ChangeEvent{e})); },
      },
      event);
}

}  // namespace replicator::test
