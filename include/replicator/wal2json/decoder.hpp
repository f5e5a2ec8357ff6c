// Wal2JsonEventDecoder: the DecoderPolicy over wal2json format-version 2 (one JSON object per
// change, parsed with simdjson On-Demand), giving the ChangeEvents PgOutputEventDecoder gives.
//   Wal2JsonEventDecoder d(PgRelationCatalog(ConnectionConfig{}));  // or a StaticRelationCatalog
//   Status s = d.decode(wal_message, [&](const ChangeEvent& e) -> Status { return batcher.add(e, now); });
// What wal2json sends differently, and what is done about it (docs/wal2json.md): no Relation
// messages (definitions from the catalog, asked again when a row does not fit), unchanged TOAST
// columns left out (made 'u' again), the old key on every update (dropped when the key did not
// change), one Truncate per table (merged back per statement), booleans as true/false and bytea
// without "\x" (made PostgreSQL's text form), Begin for transactions with no changes (held until
// the first change, as pgoutput 15 does). Values are copied once into a reusable per-decoder
// tuple buffer (TupleView's layout), never allocated per value.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "replicator/change/event.hpp"
#include "replicator/change/relation.hpp"
#include "replicator/change/row.hpp"
#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/core/timestamp.hpp"
#include "replicator/core/transport_event.hpp"
#include "replicator/values/text.hpp"
#include "replicator/wal2json/catalog.hpp"

namespace replicator::wal2json {

struct Wal2JsonDecoderOptions {
  bool messages = true;  // hand on pg_logical_emit_message() (wal2json always sends them; pgoutput only when asked)
};

template <RelationCatalogPolicy Catalog>
class Wal2JsonEventDecoder {
 public:
  explicit Wal2JsonEventDecoder(Catalog catalog, Wal2JsonDecoderOptions options = {})
      : catalog_(std::move(catalog)), options_(options) {}

  // Calls on_event(const ChangeEvent&) -> Status for each event; stops at the first failure.
  template <class Handler>
  Status decode(const WalMessage& msg, Handler&& on_event) {
    lsn_ = msg.wal_start;
    auto parsed = parse(msg);
    if (!parsed) return with_offset(ReplicationError::decoding(parsed.error(), "wal2json: "), msg);
    // A Truncate of several tables arrives as one "T" per table at the same LSN: merge them back.
    if (pending_truncate_ && !(m_.action == 'T' && m_.lsn == truncate_lsn_)) {
      if (auto st = flush_truncate(on_event); !st) return with_offset(st.error(), msg);
    }
    Status st = ok_status();
    switch (m_.action) {
      case 'B': st = on_begin(on_event); break;
      case 'C': st = on_commit(on_event); break;
      case 'I': st = on_row(ChangeOp::insert, on_event); break;
      case 'U': st = on_row(ChangeOp::update, on_event); break;
      case 'D': st = on_row(ChangeOp::delete_, on_event); break;
      case 'T': st = on_truncate(on_event); break;
      case 'M': st = on_message(on_event); break;
      default: break;  // parse() refused other actions
    }
    return st ? st : with_offset(st.error(), msg);
  }

  // After a reconnect: the server starts again from a transaction boundary.
  void reset() noexcept {
    in_txn_ = false;
    begin_sent_ = false;
    pending_truncate_ = false;
    truncated_.clear();
  }

  // Frees relation definitions replaced by newer ones (RetiringDecoder). Call only when no batch
  // refers to them.
  void release_retired() noexcept { retired_.clear(); }

  [[nodiscard]] Catalog& catalog() noexcept { return catalog_; }
  [[nodiscard]] bool in_transaction() const noexcept { return in_txn_; }
  // The current definition of schema.table, or nullptr when no row of it was decoded yet.
  [[nodiscard]] const RelationInfo* relation(std::string_view schema, std::string_view table) {
    set_key(schema, table);
    auto it = relations_.find(key_);
    return it == relations_.end() ? nullptr : it->second.def.get();
  }

 private:
  // One column of "columns" / "identity" as sent.
  struct SentColumn {
    std::string_view name;
    Oid type_oid = 0;  // 0: not sent
    ColumnKind kind = ColumnKind::null;
    std::string_view text;   // unescaped string, number as printed, "t"/"f"
    bool bytea_hex = false;  // bytea without its "\x"
  };
  // The fields of one message, views into the parser's buffers (valid until the next parse).
  struct Message {
    char action = 0;
    Xid xid = 0;
    std::string_view timestamp;
    Lsn lsn;
    Lsn next_lsn;
    std::string_view schema;
    std::string_view table;
    std::vector<SentColumn> columns;
    std::vector<SentColumn> identity;
    std::vector<std::string_view> pk;
    bool has_identity = false;
    bool transactional = false;
    std::string_view prefix;
    std::string_view content;
  };

  // ---- parsing -------------------------------------------------------------------------------

  Result<bool> parse(const WalMessage& msg) {
    const auto* data = reinterpret_cast<const char*>(msg.payload.data());
    const std::size_t len = msg.payload.size();
    if (msg.readable_after < simdjson::SIMDJSON_PADDING) {
      // Not enough readable bytes after the payload: one copy into the reusable padded buffer.
      if (padded_cap_ < len + simdjson::SIMDJSON_PADDING) {
        padded_cap_ = std::max<std::size_t>(2 * padded_cap_, len + simdjson::SIMDJSON_PADDING);
        padded_ = std::make_unique<char[]>(padded_cap_);
      }
      if (len != 0) std::memcpy(padded_.get(), data, len);
      std::memset(padded_.get() + len, 0, simdjson::SIMDJSON_PADDING);
      data = padded_.get();
      copies_++;
    }
    begin_ = data;
    m_.action = 0;
    m_.xid = 0;
    m_.timestamp = {};
    m_.lsn = Lsn{};
    m_.next_lsn = Lsn{};
    m_.schema = {};
    m_.table = {};
    m_.columns.clear();
    m_.identity.clear();
    m_.pk.clear();
    m_.has_identity = false;
    m_.transactional = false;
    m_.prefix = {};
    m_.content = {};

    simdjson::ondemand::document doc;
    if (auto e = parser_.iterate(data, len, len + simdjson::SIMDJSON_PADDING).get(doc))
      return json_error(e, 0, "message");
    simdjson::ondemand::object obj;
    if (auto e = doc.get_object().get(obj)) return json_error(e, doc_offset(doc), "message");
    for (auto field_result : obj) {
      simdjson::ondemand::field field;
      if (auto e = std::move(field_result).get(field)) return json_error(e, doc_offset(doc), "field");
      // Keys compared raw (no unescaping): wal2json's keys have no escapes, and a key that has
      // some is no key of ours.
      const simdjson::ondemand::raw_json_string key = field.key();
      simdjson::ondemand::value v = field.value();
      auto at = [&] { return value_offset(v); };  // only on the error path: it costs
      if (key == "action") {
        const std::size_t action_at = at();  // once per message: where an unknown action is
        std::string_view a;
        if (auto e = v.get_string().get(a)) return json_error(e, action_at, "action");
        if (a.size() != 1 || std::string_view("BCIUDTM").find(a[0]) == std::string_view::npos) {
          return Error{Errc::unknown_message, action_at, "action"};
        }
        m_.action = a[0];
      } else if (key == "xid") {
        bool null = false;
        if (v.is_null().get(null) == simdjson::SUCCESS && null) continue;  // a non-transactional message
        std::uint64_t x = 0;
        if (auto e = v.get_uint64().get(x)) return json_error(e, at(), "xid");
        if (x > 0xFFFFFFFFu) return Error{Errc::malformed_json, at(), "xid"};
        m_.xid = static_cast<Xid>(x);
      } else if (key == "timestamp") {
        if (m_.action != 'B' && m_.action != 'C') continue;  // only Begin and Commit use it (action comes first)
        bool null = false;
        if (v.is_null().get(null) == simdjson::SUCCESS && null) continue;
        if (auto e = v.get_string().get(m_.timestamp)) return json_error(e, at(), "timestamp");
      } else if (key == "lsn" || key == "nextlsn") {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return json_error(e, at(), "lsn");
        auto l = Lsn::parse(s);
        if (!l) return Error{Errc::bad_lsn_text, at(), "lsn"};
        (key == std::string_view("lsn") ? m_.lsn : m_.next_lsn) = *l;
      } else if (key == "schema") {
        if (auto e = v.get_string().get(m_.schema)) return json_error(e, at(), "schema");
      } else if (key == "table") {
        if (auto e = v.get_string().get(m_.table)) return json_error(e, at(), "table");
      } else if (key == "columns") {
        if (auto r = parse_columns(v, m_.columns, "columns"); !r) return r;
      } else if (key == "identity") {
        m_.has_identity = true;
        if (auto r = parse_columns(v, m_.identity, "identity"); !r) return r;
      } else if (key == "pk") {
        if (auto r = parse_pk(v); !r) return r;
      } else if (key == "transactional") {
        if (auto e = v.get_bool().get(m_.transactional)) return json_error(e, at(), "transactional");
      } else if (key == "prefix") {
        if (auto e = v.get_string().get(m_.prefix)) return json_error(e, at(), "prefix");
      } else if (key == "content") {
        if (auto e = v.get_string().get(m_.content)) return json_error(e, at(), "content");
      }
      // Other fields (origin, a future plugin's additions) are skipped by the iterator.
    }
    // Anything after the object: the document's iterator is still inside the input.
    if (const char* rest = nullptr; !doc.current_location().get(rest) && rest != nullptr) {
      return Error{Errc::trailing_bytes, static_cast<std::size_t>(rest - begin_), "message"};
    }
    if (m_.action == 0) return Error{Errc::malformed_json, 0, "action"};
    return true;
  }

  Result<bool> parse_columns(simdjson::ondemand::value& v, std::vector<SentColumn>& out, std::string_view what) {
    auto at = [&] { return value_offset(v); };  // only on the error path: it costs
    simdjson::ondemand::array arr;
    if (auto e = v.get_array().get(arr)) return json_error(e, at(), what);
    for (auto elem_result : arr) {
      simdjson::ondemand::value elem;
      if (auto e = std::move(elem_result).get(elem)) return json_error(e, at(), what);
      auto col_at = [&] { return value_offset(elem); };
      simdjson::ondemand::object col;
      if (auto e = elem.get_object().get(col)) return json_error(e, col_at(), what);
      SentColumn c;
      bool has_name = false;
      bool has_value = false;
      simdjson::ondemand::raw_json_string type_name;  // compared raw, only when no typeoid came
      bool has_type_name = false;
      for (auto f_result : col) {
        simdjson::ondemand::field f;
        if (auto e = std::move(f_result).get(f)) return json_error(e, col_at(), what);
        const simdjson::ondemand::raw_json_string key = f.key();
        simdjson::ondemand::value fv = f.value();
        auto fat = [&] { return value_offset(fv); };
        if (key == "name") {
          if (auto e = fv.get_string().get(c.name)) return json_error(e, fat(), "column name");
          has_name = true;
        } else if (key == "type") {
          if (auto e = fv.get_raw_json_string().get(type_name)) return json_error(e, fat(), "column type");
          has_type_name = true;
        } else if (key == "typeoid") {
          std::uint64_t oid = 0;
          if (auto e = fv.get_uint64().get(oid)) return json_error(e, fat(), "column typeoid");
          if (oid > 0xFFFFFFFFu) return Error{Errc::malformed_json, fat(), "column typeoid"};
          c.type_oid = static_cast<Oid>(oid);
        } else if (key == "value") {
          if (auto r = parse_value(fv, c); !r) return r;
          has_value = true;
        }
      }
      if (!has_name || !has_value) return Error{Errc::malformed_json, col_at(), "column without name or value"};
      // wal2json strips the "\x" of bytea (the type itself, not a domain over it or an array).
      c.bytea_hex = c.kind == ColumnKind::text &&
                    (c.type_oid == 17 || (c.type_oid == 0 && has_type_name && type_name == "bytea"));
      out.push_back(c);
    }
    return true;
  }

  Result<bool> parse_pk(simdjson::ondemand::value& v) {
    auto at = [&] { return value_offset(v); };  // only on the error path: it costs
    simdjson::ondemand::array arr;
    if (auto e = v.get_array().get(arr)) return json_error(e, at(), "pk");
    for (auto elem_result : arr) {
      simdjson::ondemand::object col;
      if (auto e = elem_result.get_object().get(col)) return json_error(e, at(), "pk");
      for (auto f_result : col) {
        simdjson::ondemand::field f;
        if (auto e = std::move(f_result).get(f)) return json_error(e, at(), "pk");
        const simdjson::ondemand::raw_json_string key = f.key();
        if (key != "name") continue;
        std::string_view name;
        if (auto e = f.value().get_string().get(name)) return json_error(e, at(), "pk name");
        m_.pk.push_back(name);
      }
    }
    return true;
  }

  // A value as PostgreSQL's text form would have it (bytea's "\x" is added when encoding).
  Result<bool> parse_value(simdjson::ondemand::value& v, SentColumn& c) {
    auto at = [&] { return value_offset(v); };  // only on the error path: it costs
    simdjson::ondemand::json_type type;
    if (auto e = v.type().get(type)) return json_error(e, at(), "value");
    switch (type) {
      case simdjson::ondemand::json_type::null: {
        bool null = false;
        if (auto e = v.is_null().get(null)) return json_error(e, at(), "value");
        if (!null) return Error{Errc::malformed_json, at(), "value"};
        c.kind = ColumnKind::null;
        return true;
      }
      case simdjson::ondemand::json_type::string:
        c.kind = ColumnKind::text;
        if (auto e = v.get_string().get(c.text)) return json_error(e, at(), "value");
        return true;
      case simdjson::ondemand::json_type::boolean: {
        bool b = false;
        if (auto e = v.get_bool().get(b)) return json_error(e, at(), "value");
        c.kind = ColumnKind::text;
        c.text = b ? "t" : "f";
        return true;
      }
      case simdjson::ondemand::json_type::number: {
        // Kept as printed (the server's text form; never through a double).
        std::string_view raw = v.raw_json_token();
        while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\n' || raw.back() == '\r'))
          raw.remove_suffix(1);
        if (!is_json_number(raw)) return Error{Errc::malformed_json, at(), "number value"};
        c.kind = ColumnKind::text;
        c.text = raw;
        return true;
      }
      default: return Error{Errc::malformed_json, at(), "value (an object or array)"};
    }
  }

  static bool is_json_number(std::string_view s) noexcept {
    std::size_t i = 0;
    auto digits = [&] {
      const std::size_t from = i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
      return i > from;
    };
    if (i < s.size() && s[i] == '-') ++i;
    if (i < s.size() && s[i] == '0') ++i;
    else if (!digits()) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      if (!digits()) return false;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
      if (!digits()) return false;
    }
    return i == s.size();
  }

  std::size_t value_offset(simdjson::ondemand::value& v) noexcept {
    const char* p = nullptr;
    if (v.current_location().get(p) || p == nullptr || p < begin_) return 0;
    return static_cast<std::size_t>(p - begin_);
  }
  std::size_t doc_offset(simdjson::ondemand::document& d) noexcept {
    const char* p = nullptr;
    if (d.current_location().get(p) || p == nullptr || p < begin_) return 0;
    return static_cast<std::size_t>(p - begin_);
  }
  static Error json_error(simdjson::error_code e, std::size_t offset, std::string_view field) noexcept {
    // simdjson's own words are kept out of Error (field must be a literal); the code and offset suffice.
    (void)e;
    return Error{Errc::malformed_json, offset, field};
  }

  ReplicationError with_offset(ReplicationError e, const WalMessage& msg) const {
    e.message += " (wal2json message at WAL " + msg.wal_start.to_string();
    if (msg.offset != 0) e.message += ", offset " + std::to_string(msg.offset) + " in the file";
    e.message += ")";
    return e;
  }
  Status fail(std::string what) const {
    return ReplicationError::fatal("wal2json: " + std::move(what) + " at WAL " + lsn_.to_string());
  }

  // ---- transactions --------------------------------------------------------------------------

  Result<PgTimestamp, ReplicationError> timestamp() const {
    if (m_.timestamp.empty()) return PgTimestamp{};
    auto t = values::parse_timestamp_text(m_.timestamp, true);
    if (!t) return fail("unreadable timestamp \"" + std::string(m_.timestamp) + "\"").error();
    return *t;
  }

  template <class H>
  Status on_begin(H&) {
    if (in_txn_) return fail("Begin inside a transaction");
    auto t = timestamp();
    if (!t) return t.error();
    in_txn_ = true;
    begin_sent_ = false;
    txn_ = TxnContext{m_.xid, m_.xid, m_.lsn, *t, false};
    return ok_status();
  }
  // pgoutput (15+) sends Begin only before a transaction's first change; so does this decoder.
  template <class H>
  Status begin_if_needed(H& on_event) {
    if (begin_sent_) return ok_status();
    begin_sent_ = true;
    return on_event(ChangeEvent{BeginEvent{lsn_, txn_}});
  }
  template <class H>
  Status on_commit(H& on_event) {
    if (!in_txn_) return fail("Commit outside a transaction");
    in_txn_ = false;
    if (!begin_sent_) {  // nothing in it (DDL, or changes of no table)
      mark_stale();
      return ok_status();
    }
    auto t = timestamp();
    if (!t) return t.error();
    TxnContext c = txn_;
    c.commit_lsn = m_.lsn;
    c.commit_time = *t;
    return on_event(ChangeEvent{CommitEvent{lsn_, c, m_.next_lsn}});
  }
  Result<TxnContext, ReplicationError> context(const char* what) const {
    if (!in_txn_) return fail(std::string(what) + " outside a transaction").error();
    return txn_;
  }

  // ---- relations -----------------------------------------------------------------------------

  void set_key(std::string_view schema, std::string_view table) {
    key_.assign(schema);
    key_.push_back('\0');
    key_.append(table);
  }

  // Positions of `sent` in rel's columns, in order; false when a name or type does not match or
  // the order differs (the catalog moved on, or is behind).
  bool place(const RelationInfo& rel, const std::vector<SentColumn>& sent, std::vector<int>& pos) const {
    pos.assign(rel.columns.size(), -1);
    std::size_t next = 0;
    for (std::size_t s = 0; s < sent.size(); ++s) {
      while (next < rel.columns.size() && rel.columns[next].name != sent[s].name) ++next;
      if (next == rel.columns.size()) return false;
      if (sent[s].type_oid != 0 && sent[s].type_oid != rel.columns[next].type_oid) return false;
      pos[next] = static_cast<int>(s);
      ++next;
    }
    return true;
  }
  bool fits(ChangeOp op, const RelationInfo& rel) {
    if (op == ChangeOp::insert && m_.columns.size() != rel.columns.size()) return false;
    if (op != ChangeOp::delete_ && !place(rel, m_.columns, new_pos_)) return false;
    if (m_.has_identity && !place(rel, m_.identity, old_pos_)) return false;
    return true;
  }

  // The row's own columns as the definition: the stream is behind (or ahead of) the catalog.
  RelationInfo from_message(const std::optional<RelationInfo>& catalog_def) const {
    RelationInfo r;
    r.schema = std::string(m_.schema);
    r.name = std::string(m_.table);
    if (catalog_def) {
      r.oid = catalog_def->oid;
      r.replica_identity = catalog_def->replica_identity;
    }
    const auto& cols = m_.action == 'D' ? m_.identity : m_.columns;
    for (const auto& c : cols) {
      ColumnInfo ci;
      ci.name = std::string(c.name);
      ci.type_oid = c.type_oid;
      for (auto k : m_.pk) ci.is_key = ci.is_key || k == c.name;
      if (catalog_def) {
        for (const auto& cc : catalog_def->columns) {
          if (cc.name == ci.name && cc.type_oid == ci.type_oid) {
            ci.type_modifier = cc.type_modifier;
            ci.is_key = cc.is_key;
          }
        }
      }
      r.columns.push_back(std::move(ci));
    }
    return r;
  }

  // The definition a row of `op` fits. The cached one while it fits and no DDL may have happened;
  // otherwise the catalog's when the row fits it, the cached one when only that fits (the catalog
  // is ahead of the stream), else the row's own columns. `changed` receives the superseded
  // definition (for a SchemaChangeEvent) when it is replaced.
  Result<const RelationInfo*, ReplicationError> resolve(ChangeOp op, bool truncate, const RelationInfo*& changed) {
    changed = nullptr;
    set_key(m_.schema, m_.table);
    auto it = relations_.find(key_);
    Cached* cached = it == relations_.end() ? nullptr : &it->second;
    if (cached != nullptr && !cached->stale && (truncate || fits(op, *cached->def))) return cached->def.get();
    auto looked = catalog_.lookup(m_.schema, m_.table);
    if (!looked) return looked.error();
    std::unique_ptr<RelationInfo> def;
    if (*looked && (truncate || fits(op, **looked))) {
      def = std::make_unique<RelationInfo>(**looked);
    } else if (cached != nullptr && (truncate || fits(op, *cached->def))) {
      cached->stale = false;
      return cached->def.get();
    } else {
      def = std::make_unique<RelationInfo>(from_message(*looked));  // a truncate: the name only
      if (!truncate && !fits(op, *def)) {
        return fail("a row of " + std::string(m_.schema) + "." + std::string(m_.table) +
                    " whose columns repeat or are out of order")
            .error();
      }
    }
    if (cached == nullptr) {
      def->version = 1;
      const RelationInfo* p = def.get();
      relations_.emplace(key_, Cached{std::move(def), false});
      return p;
    }
    cached->stale = false;
    if (cached->def->same_definition(*def)) return cached->def.get();
    def->version = cached->def->version + 1;
    changed = cached->def.get();
    retired_.push_back(std::move(cached->def));
    cached->def = std::move(def);
    return cached->def.get();
  }
  // A transaction without changes: most likely DDL (wal2json sends no DDL). Every cached
  // definition is checked against the catalog at its table's next row.
  void mark_stale() noexcept {
    for (auto& [key, c] : relations_) c.stale = true;
  }

  // ---- rows ----------------------------------------------------------------------------------

  void put_column(const SentColumn& c) {
    if (c.kind != ColumnKind::text) {
      tuples_.push_back(static_cast<std::byte>(c.kind));
      return;
    }
    const std::size_t len = c.text.size() + (c.bytea_hex ? 2 : 0);
    tuples_.push_back(static_cast<std::byte>('t'));
    const std::uint32_t be = __builtin_bswap32(static_cast<std::uint32_t>(len));
    const auto* b = reinterpret_cast<const std::byte*>(&be);
    tuples_.insert(tuples_.end(), b, b + 4);
    if (c.bytea_hex) {
      tuples_.push_back(static_cast<std::byte>('\\'));
      tuples_.push_back(static_cast<std::byte>('x'));
    }
    const auto* t = reinterpret_cast<const std::byte*>(c.text.data());
    tuples_.insert(tuples_.end(), t, t + c.text.size());
  }
  // Every column of rel: the sent value, `missing` for columns not sent.
  void put_tuple(const RelationInfo& rel, const std::vector<SentColumn>& sent, const std::vector<int>& pos,
                 ColumnKind missing) {
    for (std::size_t i = 0; i < rel.columns.size(); ++i) {
      if (pos[i] >= 0) put_column(sent[static_cast<std::size_t>(pos[i])]);
      else tuples_.push_back(static_cast<std::byte>(missing));
    }
  }
  // An update's identity equals its new key: pgoutput sends no old tuple then.
  bool key_unchanged(const RelationInfo& rel) const {
    for (std::size_t i = 0; i < rel.columns.size(); ++i) {
      if (old_pos_[i] < 0) continue;
      if (new_pos_[i] < 0) return false;
      const auto& o = m_.identity[static_cast<std::size_t>(old_pos_[i])];
      const auto& n = m_.columns[static_cast<std::size_t>(new_pos_[i])];
      if (o.kind != n.kind || o.text != n.text) return false;
    }
    return true;
  }

  template <class H>
  Status on_row(ChangeOp op, H& on_event) {
    const char* what = op == ChangeOp::insert ? "Insert" : op == ChangeOp::update ? "Update" : "Delete";
    auto txn = context(what);
    if (!txn) return txn.error();
    if (m_.schema.empty() || m_.table.empty()) return fail(std::string(what) + " without schema or table");
    if (op == ChangeOp::delete_ && !m_.has_identity) {
      // REPLICA IDENTITY NOTHING: no old key; pgoutput does not send such a delete either.
      return ok_status();
    }
    const RelationInfo* changed = nullptr;
    auto rel = resolve(op, false, changed);
    if (!rel) return rel.error();
    const RelationInfo& r = **rel;
    if (auto st = begin_if_needed(on_event); !st) return st;
    if (changed != nullptr) {
      if (auto st = on_event(ChangeEvent{SchemaChangeEvent{lsn_, *txn, changed, &r}}); !st) return st;
    }
    tuples_.clear();
    OldTupleKind old_kind = OldTupleKind::none;
    const std::uint16_t ncols = static_cast<std::uint16_t>(r.columns.size());
    std::size_t new_bytes = 0;
    if (op != ChangeOp::delete_) {
      put_tuple(r, m_.columns, new_pos_, ColumnKind::unchanged_toast);
      new_bytes = tuples_.size();
    }
    if (m_.has_identity &&
        !(op == ChangeOp::update && r.replica_identity != ReplicaIdentity::full && key_unchanged(r))) {
      old_kind = r.replica_identity == ReplicaIdentity::full ? OldTupleKind::full : OldTupleKind::key;
      // A full old row leaves out only unchanged TOAST; a key leaves out the non-key columns (null).
      put_tuple(r, m_.identity, old_pos_,
                old_kind == OldTupleKind::full ? ColumnKind::unchanged_toast : ColumnKind::null);
    }
    const std::span<const std::byte> all(tuples_.data(), tuples_.size());
    TupleView new_tuple = op == ChangeOp::delete_ ? TupleView{} : TupleView(all.first(new_bytes), ncols);
    TupleView old_tuple = old_kind == OldTupleKind::none ? TupleView{} : TupleView(all.subspan(new_bytes), ncols);
    RowChangeView ev{op, lsn_, *txn, &r, old_kind, old_tuple, new_tuple};
    return on_event(ChangeEvent{ev});
  }

  template <class H>
  Status on_truncate(H& on_event) {
    auto txn = context("Truncate");
    if (!txn) return txn.error();
    const RelationInfo* changed = nullptr;
    auto rel = resolve(ChangeOp::insert, true, changed);
    if (!rel) return rel.error();
    if (auto st = begin_if_needed(on_event); !st) return st;
    if (!pending_truncate_) {
      pending_truncate_ = true;
      truncate_lsn_ = m_.lsn;
      truncate_at_ = lsn_;
      truncated_.clear();
    }
    truncated_.push_back(*rel);
    return ok_status();
  }
  // wal2json does not say CASCADE or RESTART IDENTITY: both are false here.
  template <class H>
  Status flush_truncate(H& on_event) {
    pending_truncate_ = false;
    TruncateEventView ev{truncate_at_, txn_, truncated_, false, false};
    return on_event(ChangeEvent{ev});
  }

  template <class H>
  Status on_message(H& on_event) {
    if (!options_.messages) return ok_status();
    TxnContext txn{0, 0, Lsn{}, PgTimestamp{}, false};
    if (m_.transactional) {
      auto t = context("transactional Message");
      if (!t) return t.error();
      txn = *t;
      if (auto st = begin_if_needed(on_event); !st) return st;
    }
    const std::span<const std::byte> content(reinterpret_cast<const std::byte*>(m_.content.data()), m_.content.size());
    return on_event(ChangeEvent{MessageEventView{lsn_, m_.lsn, txn, m_.transactional, m_.prefix, content}});
  }

  Catalog catalog_;
  Wal2JsonDecoderOptions options_;
  simdjson::ondemand::parser parser_;
  std::unique_ptr<char[]> padded_;
  std::size_t padded_cap_ = 0;
  std::size_t copies_ = 0;
  const char* begin_ = nullptr;
  Message m_;
  std::vector<std::byte> tuples_;  // new then old tuple of the current row, TupleView's encoding
  std::vector<int> new_pos_;       // per relation column: index in m_.columns, or -1
  std::vector<int> old_pos_;       // per relation column: index in m_.identity, or -1
  std::string key_;                // schema \0 table, for lookups without allocating
  struct Cached {
    std::unique_ptr<RelationInfo> def;
    bool stale = false;  // ask the catalog at the next row (DDL may have happened)
  };
  std::unordered_map<std::string, Cached> relations_;
  std::vector<std::unique_ptr<RelationInfo>> retired_;
  Lsn lsn_;
  bool in_txn_ = false;
  bool begin_sent_ = false;
  TxnContext txn_;
  bool pending_truncate_ = false;
  Lsn truncate_lsn_;
  Lsn truncate_at_;
  std::vector<const RelationInfo*> truncated_;

 public:
  // How many messages had to be copied for padding (the rest were parsed where they arrived).
  [[nodiscard]] std::size_t padding_copies() const noexcept { return copies_; }
};

}  // namespace replicator::wal2json

namespace replicator {
using wal2json::Wal2JsonEventDecoder;
}  // namespace replicator
