// RelationCache: owning copies of the Relation ('R') and Type ('Y') metadata the server sends,
// keyed by OID, so Insert/Update/Delete (which only carry an OID) can be named and typed.
//   RelationCache cache;  auto [info, what] = cache.apply(relation_view);
//   const RelationInfo* rel = cache.find(insert.relation_oid);  // nullptr: Relation never seen
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "replicator/change/relation.hpp"
#include "replicator/pgoutput/messages.hpp"

namespace replicator::pgoutput {

using replicator::ColumnInfo;
using replicator::RelationInfo;
using replicator::TypeInfo;

enum class RelationChange : std::uint8_t { added, unchanged, changed };

class RelationCache {
 public:
  // Records a Relation message. Pointers returned by apply()/find() stay valid until
  // release_retired() (after a changed definition) or clear(): batches in flight can keep them.
  std::pair<const RelationInfo*, RelationChange> apply(const RelationView& view) {
    auto it = relations_.find(view.oid);
    if (it != relations_.end() && matches(*it->second, view)) return {it->second.get(), RelationChange::unchanged};
    auto info = std::make_unique<RelationInfo>();
    info->oid = view.oid;
    info->schema = view.schema.empty() ? std::string("pg_catalog") : std::string(view.schema);
    info->name = std::string(view.name);
    info->replica_identity = view.replica_identity;
    info->columns.reserve(view.columns.size());
    for (const RelationColumnView c : view.columns)
      info->columns.push_back(ColumnInfo{std::string(c.name), c.type_oid, c.type_modifier, c.is_key()});
    info->version = ++version_counter_;
    const RelationInfo* raw = info.get();
    if (it == relations_.end()) {
      relations_.emplace(view.oid, std::move(info));
      return {raw, RelationChange::added};
    }
    retired_.push_back(std::move(it->second));
    it->second = std::move(info);
    return {raw, RelationChange::changed};
  }

  void apply(const TypeView& view) {
    auto& t = types_[view.oid];
    t.oid = view.oid;
    t.schema.assign(view.schema.empty() ? std::string_view("pg_catalog") : view.schema);
    t.name.assign(view.name);
  }

  [[nodiscard]] const RelationInfo* find(Oid oid) const noexcept {
    auto it = relations_.find(oid);
    return it == relations_.end() ? nullptr : it->second.get();
  }
  [[nodiscard]] const TypeInfo* find_type(Oid oid) const noexcept {
    auto it = types_.find(oid);
    return it == types_.end() ? nullptr : &it->second;
  }
  [[nodiscard]] std::size_t size() const noexcept { return relations_.size(); }

  // Frees definitions replaced by newer ones; call when nothing refers to old versions.
  void release_retired() noexcept { retired_.clear(); }
  void clear() noexcept {
    relations_.clear();
    types_.clear();
    retired_.clear();
  }

 private:
  static bool matches(const RelationInfo& info, const RelationView& view) noexcept {
    const std::string_view schema = view.schema.empty() ? std::string_view("pg_catalog") : view.schema;
    if (info.schema != schema || info.name != view.name || info.replica_identity != view.replica_identity ||
        info.columns.size() != view.columns.size())
      return false;
    std::size_t i = 0;
    for (const RelationColumnView c : view.columns) {
      const ColumnInfo& k = info.columns[i++];
      if (k.name != c.name || k.type_oid != c.type_oid || k.type_modifier != c.type_modifier || k.is_key != c.is_key())
        return false;
    }
    return true;
  }

  std::unordered_map<Oid, std::unique_ptr<RelationInfo>> relations_;
  std::unordered_map<Oid, TypeInfo> types_;
  std::vector<std::unique_ptr<RelationInfo>> retired_;
  std::uint64_t version_counter_ = 0;
};

}  // namespace replicator::pgoutput
