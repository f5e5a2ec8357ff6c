// Where Wal2JsonEventDecoder gets a table's definition: wal2json sends no Relation messages, so
// the column list, type modifiers, replica identity and key come from the catalog.
//   StaticRelationCatalog cat({RelationInfo{.oid = 16385, .schema = "public", .name = "t", ...}});
//   PgRelationCatalog live(ConnectionConfig{});   // wal2json/pg_catalog.hpp: the source's catalog
#pragma once

#include <concepts>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "replicator/change/relation.hpp"
#include "replicator/core/error.hpp"

namespace replicator::wal2json {

// lookup(schema, table): the table's current definition (columns in attnum order, dropped and
// generated columns left out, is_key as pgoutput sets it), nullopt when there is no such table,
// or an error (retryable when the connection failed).
template <class T>
concept RelationCatalogPolicy = requires(T& c, std::string_view schema, std::string_view table) {
  { c.lookup(schema, table) } -> std::same_as<Result<std::optional<RelationInfo>, ReplicationError>>;
};

// A fixed set of definitions: replayed streams, tests, fuzzing, benchmarks.
class StaticRelationCatalog {
 public:
  StaticRelationCatalog() = default;
  explicit StaticRelationCatalog(std::vector<RelationInfo> relations) : relations_(std::move(relations)) {}

  void add(RelationInfo r) { relations_.push_back(std::move(r)); }

  [[nodiscard]] Result<std::optional<RelationInfo>, ReplicationError> lookup(std::string_view schema,
                                                                             std::string_view table) {
    ++lookups_;
    for (const auto& r : relations_)
      if (r.schema == schema && r.name == table) return std::optional<RelationInfo>(r);
    return std::optional<RelationInfo>{};
  }
  // How often the decoder asked (a definition is looked up once, then on DDL only).
  [[nodiscard]] std::size_t lookups() const noexcept { return lookups_; }

 private:
  std::vector<RelationInfo> relations_;
  std::size_t lookups_ = 0;
};

static_assert(RelationCatalogPolicy<StaticRelationCatalog>);

}  // namespace replicator::wal2json
