// Fills a DebeziumTypeCatalog from pg_type / pg_enum over a normal libpq connection: the types
// asked for plus, recursively, domains' base types and arrays' element types. Needs libpq
// (//:replicator_libpq).
//   opts.type_lookup = [cfg](const std::vector<Oid>& oids, DebeziumTypeCatalog& cat) {
//     return load_debezium_types(cfg, oids, cat); };
#pragma once

#include <string>
#include <vector>

#include "replicator/format/debezium_types.hpp"
#include "replicator/pg/connection.hpp"

namespace replicator::format {

inline Status load_debezium_types(PgConnection& conn, const std::vector<Oid>& oids, DebeziumTypeCatalog& into) {
  if (oids.empty()) return ok_status();
  std::string list = "{";
  for (std::size_t i = 0; i < oids.size(); ++i) list += (i ? "," : "") + std::to_string(oids[i]);
  list += "}";
  const std::string params[] = {list};
  // Follows domains to their base and arrays to their element, so one round trip is enough.
  auto res = conn.exec_params(
      "WITH RECURSIVE t(oid) AS (SELECT unnest($1::pg_catalog.oid[]) UNION "
      "SELECT CASE WHEN y.typtype = 'd' THEN y.typbasetype ELSE y.typelem END FROM pg_catalog.pg_type y "
      "JOIN t ON y.oid = t.oid WHERE (y.typtype = 'd' OR y.typelem <> 0) AND y.oid >= 16384) "
      "SELECT y.oid, y.typtype, y.typname, y.typbasetype, y.typtypmod, y.typelem, "
      "(SELECT pg_catalog.string_agg(e.enumlabel, E'\\n' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e "
      "WHERE e.enumtypid = y.oid) FROM pg_catalog.pg_type y JOIN t ON y.oid = t.oid",
      params, "loading the Debezium type catalog");
  if (!res) return res.error();
  for (int r = 0; r < res->rows(); ++r) {
    DebeziumType t;
    t.oid = static_cast<Oid>(std::stoul(std::string(res->value(r, 0))));
    const auto kind = res->value(r, 1);
    t.kind = kind.empty() ? 'b' : kind[0];
    t.name = std::string(res->value(r, 2));
    t.base_type = static_cast<Oid>(std::stoul(std::string(res->value(r, 3))));
    t.base_typmod = std::stoi(std::string(res->value(r, 4)));
    t.element_type = static_cast<Oid>(std::stoul(std::string(res->value(r, 5))));
    if (auto labels = res->get(r, 6)) {
      std::string_view s = *labels;
      while (true) {
        const auto nl = s.find('\n');
        t.enum_labels.emplace_back(s.substr(0, nl));
        if (nl == std::string_view::npos) break;
        s.remove_prefix(nl + 1);
      }
    }
    into.add(std::move(t));
  }
  // Asked-for OIDs the server does not know (dropped meanwhile): remember them as plain text types
  // so the lookup is not repeated for every row.
  for (Oid o : oids)
    if (into.find(o) == nullptr)
      into.add(
          {.oid = o, .kind = 'b', .name = {}, .base_type = 0, .base_typmod = -1, .element_type = 0, .enum_labels = {}});
  return ok_status();
}

inline Status load_debezium_types(const ConnectionConfig& cfg, const std::vector<Oid>& oids,
                                  DebeziumTypeCatalog& into) {
  auto conn = PgConnection::connect(cfg, ConnectionKind::normal);
  if (!conn) return conn.error();
  return load_debezium_types(*conn, oids, into);
}

}  // namespace replicator::format
