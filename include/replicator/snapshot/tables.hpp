// The tables an initial snapshot copies: every table of the publications, described the way a
// pgoutput Relation message would describe it (same columns, key flags, publication column lists),
// with the COPY statement that reads it (publication row filters applied).
//   auto tables = list_snapshot_tables(conn, {"orders_pub"}, TableFilter{});  // inside the snapshot
//   for (auto& t : *tables) run(t.copy_sql(CopyFormat::text));   // COPY (SELECT ...) TO STDOUT
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "replicator/core/error.hpp"
#include "replicator/filter/change_filter.hpp"
#include "replicator/change/relation.hpp"
#include "replicator/snapshot/copy_row.hpp"
#include "replicator/pg/detail/libpq_text.hpp"
#include "replicator/pg/connection.hpp"

namespace replicator::snapshot {

struct SnapshotTable {
  RelationInfo relation;            // oid, schema, name, replica identity, published columns
  bool partitioned = false;         // a partitioned table (publish_via_partition_root): read with its partitions
  std::string row_filter;           // the publications' WHERE (PostgreSQL 15), "" for none
  std::int64_t estimated_rows = 0;  // pg_class.reltuples (0 when never analyzed)

  // "schema"."name", quoted.
  [[nodiscard]] std::string quoted_name() const {
    return replicator::detail::quote_ident_plain(relation.schema) + "." +
           replicator::detail::quote_ident_plain(relation.name);
  }

  // COPY (SELECT "a", "b" FROM ONLY "s"."t" WHERE (...)) TO STDOUT. ONLY: an inheritance parent does
  // not repeat its children's rows (pgoutput publishes each table's own rows); a partitioned table
  // is read whole, as pgoutput then publishes its partitions' changes under its name.
  [[nodiscard]] std::string copy_sql(CopyFormat format) const {
    std::string sql = "COPY (SELECT ";
    bool first = true;
    for (const auto& c : relation.columns) {
      if (!first) sql += ", ";
      first = false;
      sql += replicator::detail::quote_ident_plain(c.name);
    }
    sql += partitioned ? " FROM " : " FROM ONLY ";
    sql += quoted_name();
    if (!row_filter.empty()) sql += " WHERE " + row_filter;
    sql += ") TO STDOUT";
    if (format == CopyFormat::binary) sql += " WITH (FORMAT binary)";
    return sql;
  }
};

namespace detail {
// {"a","b"} as a text[] literal for a query parameter.
inline std::string text_array_literal(std::span<const std::string> items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

inline std::int64_t to_int64(std::string_view s) {
  std::int64_t v = 0;
  bool neg = false;
  std::size_t i = 0;
  if (!s.empty() && s[0] == '-') {
    neg = true;
    i = 1;
  }
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) v = v * 10 + (s[i] - '0');
  return neg ? -v : v;
}
}  // namespace detail

// Lists the published tables (sorted by schema, name) that `filter` accepts. Run it inside the
// snapshot's transaction, so the table list and columns are those of the snapshot.
[[nodiscard]] inline Result<std::vector<SnapshotTable>, ReplicationError> list_snapshot_tables(
    PgConnection& conn, std::span<const std::string> publications, const TableFilter& filter = {}) {
  if (publications.empty()) return ReplicationError::fatal("snapshot: no publication given", "22023");
  for (const auto& p : publications) {
    if (p.empty() || p.find('\0') != std::string::npos) {
      return ReplicationError::fatal("snapshot: invalid publication name \"" + replicator::detail::printable(p) + "\"",
                                     "42602");
    }
  }
  const bool pg15 = conn.server_version() >= 150000;
  // PostgreSQL 15 shows the column lists (attnames: all columns when none was given) and row filters.
  const std::string cols_sql =
      pg15 ? "(SELECT array_agg(DISTINCT x)::text FROM pg_catalog.pg_publication_tables p2, unnest(p2.attnames) x "
             "WHERE p2.pubname = ANY($1::text[]) AND p2.schemaname = n.nspname AND p2.tablename = c.relname)"
           : "NULL::text";
  const std::string filter_sql =
      pg15 ? "bool_or(pt.rowfilter IS NULL), string_agg('(' || pt.rowfilter || ')', ' OR ')" : "true, NULL::text";
  const std::string sql =
      "SELECT c.oid::text, n.nspname, c.relname, c.relreplident::text, c.relkind::text, "
      "GREATEST(c.reltuples, 0)::bigint::text, " +
      cols_sql + ", " + filter_sql +
      " FROM pg_catalog.pg_publication_tables pt "
      "JOIN pg_catalog.pg_namespace n ON n.nspname = pt.schemaname "
      "JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = pt.tablename "
      "WHERE pt.pubname = ANY($1::text[]) "
      "GROUP BY c.oid, n.nspname, c.relname, c.relreplident, c.relkind, c.reltuples ORDER BY 2, 3";
  const std::string params[] = {detail::text_array_literal(publications)};
  auto res = conn.exec_params(sql, params, "snapshot: listing the published tables");
  if (!res) return res.error();

  std::vector<SnapshotTable> tables;
  for (int r = 0; r < res->rows(); ++r) {
    SnapshotTable t;
    t.relation.oid = static_cast<Oid>(detail::to_int64(res->value(r, 0)));
    t.relation.schema = std::string(res->value(r, 1));
    t.relation.name = std::string(res->value(r, 2));
    if (!filter.accepts(t.relation.schema, t.relation.name)) continue;
    const auto ident = res->value(r, 3);
    t.relation.replica_identity = ident.empty() ? ReplicaIdentity::default_ : static_cast<ReplicaIdentity>(ident[0]);
    t.partitioned = res->value(r, 4) == "p";
    t.estimated_rows = detail::to_int64(res->value(r, 5));
    const auto cols = res->get(r, 6);
    const bool unfiltered = res->value(r, 7) == "t";
    if (!unfiltered) t.row_filter = std::string(res->value(r, 8));

    const std::string col_params[] = {std::string(res->value(r, 0)), cols ? "true" : "false",
                                      cols ? std::string(*cols) : std::string("{}")};
    // Key flags as pgoutput sets them: every column for REPLICA IDENTITY FULL, else the columns of
    // the primary key (DEFAULT) or of the replica identity index (USING INDEX); none for NOTHING.
    auto c = conn.exec_params(
        "SELECT a.attname, a.atttypid::text, a.atttypmod::text, "
        "CASE WHEN cl.relreplident = 'f' THEN true ELSE EXISTS (SELECT 1 FROM pg_catalog.pg_index i "
        "WHERE i.indrelid = cl.oid AND a.attnum = ANY(i.indkey::int2[]) AND "
        "((cl.relreplident = 'd' AND i.indisprimary) OR (cl.relreplident = 'i' AND i.indisreplident))) END "
        "FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class cl ON cl.oid = a.attrelid "
        "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped" +
            // Generated columns are not replicated, except stored ones on 18+ where the publication
            // publishes them (publish_generated_columns = stored, or named in its column list): then
            // attnames lists them and the stream sends them, so the copy has them too.
            std::string(conn.server_version() >= 180000   ? " AND a.attgenerated IN ('', 's')"
                        : conn.server_version() >= 120000 ? " AND a.attgenerated = ''"
                                                          : "") +
            " AND (NOT $2::bool OR a.attname = ANY($3::name[])) ORDER BY a.attnum",
        col_params, "snapshot: reading the columns of " + t.quoted_name());
    if (!c) return c.error();
    for (int k = 0; k < c->rows(); ++k) {
      ColumnInfo col;
      col.name = std::string(c->value(k, 0));
      col.type_oid = static_cast<Oid>(detail::to_int64(c->value(k, 1)));
      col.type_modifier = static_cast<std::int32_t>(detail::to_int64(c->value(k, 2)));
      col.is_key = c->value(k, 3) == "t";
      t.relation.columns.push_back(std::move(col));
    }
    if (t.relation.columns.size() > 1600) {
      return ReplicationError::fatal("snapshot: " + t.quoted_name() + " has more columns than PostgreSQL allows");
    }
    tables.push_back(std::move(t));
  }
  return tables;
}

}  // namespace replicator::snapshot
