// PgRelationCatalog: table definitions for Wal2JsonEventDecoder from the source database's
// catalog, over a regular (not replication) connection of its own, opened on first use.
//   Wal2JsonEventDecoder d(PgRelationCatalog(ConnectionConfig{}));
// The catalog is the current definition, the stream may be behind it: the decoder asks again when
// a row does not fit, and falls back to the row's own columns (docs/wal2json.md).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "replicator/change/relation.hpp"
#include "replicator/core/error.hpp"
#include "replicator/pg/connection.hpp"
#include "replicator/wal2json/catalog.hpp"

namespace replicator::wal2json {

class PgRelationCatalog {
 public:
  explicit PgRelationCatalog(ConnectionConfig config) : config_(std::move(config)) {}

  [[nodiscard]] Result<std::optional<RelationInfo>, ReplicationError> lookup(std::string_view schema,
                                                                             std::string_view table) {
    if (!conn_.is_open()) {
      auto c = PgConnection::connect(config_, ConnectionKind::normal);
      if (!c) return c.error();
      conn_ = std::move(*c);
    }
    // is_key as pgoutput's Relation message sets it: every column for REPLICA IDENTITY FULL, the
    // primary key's (DEFAULT) or the identity index's (USING INDEX) columns, none for NOTHING.
    static const std::string sql =
        "SELECT c.oid, c.relreplident, a.attname, a.atttypid, a.atttypmod, "
        "c.relreplident = 'f' OR EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid "
        "AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident)) "
        "AND a.attnum = ANY (i.indkey)) "
        "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "AND a.attgenerated = '' "
        "WHERE n.nspname = $1 AND c.relname = $2 ORDER BY a.attnum";
    const std::string params[] = {std::string(schema), std::string(table)};
    auto res = conn_.exec_params(
        sql, params,
        "reading the definition of table " + std::string(schema) + "." + std::string(table) + " for wal2json");
    if (!res) {
      conn_.close();  // a failed query may mean a dead connection: the next lookup reconnects
      return res.error();
    }
    if (res->rows() == 0) return std::optional<RelationInfo>{};
    RelationInfo r;
    r.oid = static_cast<Oid>(std::stoul(std::string(res->value(0, 0))));
    r.schema = std::string(schema);
    r.name = std::string(table);
    const std::string_view ident = res->value(0, 1);
    r.replica_identity = ident.empty() ? ReplicaIdentity::default_ : static_cast<ReplicaIdentity>(ident[0]);
    for (int i = 0; i < res->rows(); ++i) {
      if (res->is_null(i, 2)) continue;  // a table without columns
      ColumnInfo col;
      col.name = std::string(res->value(i, 2));
      col.type_oid = static_cast<Oid>(std::stoul(std::string(res->value(i, 3))));
      col.type_modifier = std::stoi(std::string(res->value(i, 4)));
      col.is_key = res->value(i, 5) == "t";
      r.columns.push_back(std::move(col));
    }
    ++lookups_;
    return std::optional<RelationInfo>(std::move(r));
  }

  [[nodiscard]] std::size_t lookups() const noexcept { return lookups_; }

 private:
  ConnectionConfig config_;
  PgConnection conn_;
  std::size_t lookups_ = 0;
};

static_assert(RelationCatalogPolicy<PgRelationCatalog>);

}  // namespace replicator::wal2json
