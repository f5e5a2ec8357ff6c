// Per-table column include / exclude lists, applied on the client after the server's publication
// column lists (PostgreSQL 15). Rules match tables like TableFilter ("schema.table" or "table"
// globs) and columns by glob; every matching rule applies; exclude wins over include.
//   ColumnFilter f;  f.rules.push_back({"public.users", {}, {"password_hash", "ssn"}});
//   const std::vector<bool>* keep = f.mask(relation);  // nullptr: keep every column
//   change_filter.columns = ColumnShaper::make(std::move(f), ToastPolicy::from_old);  // ChangeFilter's column stage
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "replicator/filter/table_filter.hpp"
#include "replicator/change/relation.hpp"
#include "replicator/filter/row_shaper.hpp"
#include "replicator/filter/toast.hpp"

namespace replicator {

struct ColumnRule {
  std::string table;                 // glob over "schema.table", or over the table name without a '.'
  std::vector<std::string> include;  // column globs; empty: every column
  std::vector<std::string> exclude;  // column globs
};

class ColumnFilter {
 public:
  std::vector<ColumnRule> rules;

  ColumnFilter() = default;
  explicit ColumnFilter(std::vector<ColumnRule> r) : rules(std::move(r)) {}

  [[nodiscard]] bool empty() const noexcept { return rules.empty(); }

  // One flag per column of `rel` (true: keep), or nullptr when every column is kept. Cached per
  // relation definition; the pointer stays valid until the next mask() call with a new definition.
  [[nodiscard]] const std::vector<bool>* mask(const RelationInfo& rel) {
    if (rules.empty()) return nullptr;
    if (rel.version != 0) {
      auto it = cache_.find(rel.version);
      if (it != cache_.end()) return it->second.empty() ? nullptr : &it->second;
    }
    std::vector<bool> keep(rel.columns.size(), true);
    bool any_dropped = false;
    for (const ColumnRule& rule : rules) {
      TableFilter table{{rule.table}, {}};
      if (!table.accepts(rel)) continue;
      for (std::size_t i = 0; i < rel.columns.size(); ++i) {
        const std::string& name = rel.columns[i].name;
        bool k = rule.include.empty();
        for (const auto& p : rule.include) k = k || glob_match(p, name);
        for (const auto& p : rule.exclude) k = k && !glob_match(p, name);
        if (!k && keep[i]) {
          keep[i] = false;
          any_dropped = true;
        }
      }
    }
    if (!any_dropped) keep.clear();  // empty vector in the cache means "all"
    if (rel.version == 0) {
      uncached_ = std::move(keep);
      return uncached_.empty() ? nullptr : &uncached_;
    }
    if (cache_.size() > 100000) cache_.clear();
    auto [it, inserted] = cache_.emplace(rel.version, std::move(keep));
    return it->second.empty() ? nullptr : &it->second;
  }

 private:
  std::unordered_map<std::uint64_t, std::vector<bool>> cache_;  // RelationInfo::version -> mask
  std::vector<bool> uncached_;
};

// Column lists + unchanged TOAST policy: ChangeFilter::columns. Filtered columns leave
// both tuples and the relation the sink sees (schema-change events included); filtered changes
// still move the position, since only the event's shape changes, never its transaction.
class ColumnShaper {
 public:
  ColumnShaper(ColumnFilter columns, ToastPolicy toast) : columns_(std::move(columns)), toast_(toast) {}

  [[nodiscard]] const ChangeEvent* operator()(const ChangeEvent& event) {
    if (const auto* sc = std::get_if<SchemaChangeEvent>(&event)) {
      if (columns_.empty()) return &event;
      SchemaChangeEvent out = *sc;
      if (out.new_relation != nullptr) out.new_relation = narrow(*out.new_relation);
      if (out.old_relation != nullptr) out.old_relation = narrow(*out.old_relation);
      schema_change_ = out;
      return &schema_change_;
    }
    const auto* row = std::get_if<RowChangeView>(&event);
    if (row == nullptr || row->relation == nullptr) return &event;
    const std::vector<bool>* keep = columns_.mask(*row->relation);
    if (keep == nullptr && toast_ == ToastPolicy::marker) return &event;
    return shaper_.apply(event, keep, toast_);
  }

  // nullopt when there is nothing to do, so ChangeFilter keeps its pass-through fast path.
  static std::optional<ColumnShaper> make(ColumnFilter columns, ToastPolicy toast) {
    if (columns.empty() && toast == ToastPolicy::marker) return std::nullopt;
    return ColumnShaper(std::move(columns), toast);
  }

 private:
  const RelationInfo* narrow(const RelationInfo& rel) {
    const std::vector<bool>* keep = columns_.mask(rel);
    return keep == nullptr ? &rel : shaper_.narrowed(rel, *keep);
  }

  ColumnFilter columns_;
  ToastPolicy toast_;
  RowShaper shaper_;
  ChangeEvent schema_change_;
};

}  // namespace replicator
