// ChangeFilter: the client-side filter stage (a FilterPolicy): tables by glob on "schema.table"
// (include / exclude), operations, and optionally column lists and the unchanged-TOAST policy
// (column_filter.hpp). Filtered-out changes are dropped before batching; their transaction still
// moves the position. Replicator's default stage is PassAllFilter (pass_all.hpp), which costs nothing.
//   ChangeFilter f;  f.tables.include = {"public.*"};  f.tables.exclude = {"public.audit_*"};
//   f.operations = OperationSet::all().without(Operation::truncate);
//   f.columns = ColumnShaper::make(ColumnFilter({{"users", {}, {"password_hash"}}}), ToastPolicy::marker);
//   if (const ChangeEvent* kept = f.apply(event)) batcher.add(*kept, now);
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <unordered_map>
#include <variant>
#include <vector>

#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"
#include "replicator/filter/column_filter.hpp"
#include "replicator/filter/table_filter.hpp"

namespace replicator {

// Table + operation filter over change events. Begin/Commit/Stream Abort always pass.
class ChangeFilter {
 public:
  TableFilter tables;
  OperationSet operations = OperationSet::all();
  // Rewrites the row and schema-change events that pass (column lists, unchanged TOAST policy):
  // see column_filter.hpp's ColumnShaper. nullopt: events pass unchanged.
  std::optional<ColumnShaper> columns;

  ChangeFilter() = default;
  ChangeFilter(TableFilter t, OperationSet ops = OperationSet::all()) : tables(std::move(t)), operations(ops) {}

  [[nodiscard]] bool passes_everything() const noexcept { return tables.empty() && operations.is_all() && !columns; }

  // The event to keep (itself, or a truncate narrowed to the accepted tables), or nullptr.
  // A narrowed event stays valid until the next apply().
  [[nodiscard]] const ChangeEvent* apply(const ChangeEvent& event) {
    if (passes_everything()) return &event;
    if (const auto* row = std::get_if<RowChangeView>(&event)) {
      if (!operations.contains(operation_of(row->op))) return nullptr;
      if (row->relation != nullptr && !accepts(*row->relation)) return nullptr;
      return columns ? (*columns)(event) : &event;
    }
    if (const auto* sc = std::get_if<SchemaChangeEvent>(&event)) {
      if (sc->new_relation != nullptr && !accepts(*sc->new_relation)) return nullptr;
      return columns ? (*columns)(event) : &event;
    }
    if (std::holds_alternative<MessageEventView>(event)) {
      return operations.contains(Operation::message) ? &event : nullptr;
    }
    if (const auto* tr = std::get_if<TruncateEventView>(&event)) {
      if (!operations.contains(Operation::truncate)) return nullptr;
      kept_.clear();
      for (const RelationInfo* rel : tr->relations)
        if (rel != nullptr && accepts(*rel)) kept_.push_back(rel);
      if (kept_.empty()) return nullptr;
      if (kept_.size() == tr->relations.size()) return &event;
      TruncateEventView narrowed = *tr;
      narrowed.relations = kept_;
      narrowed_ = narrowed;
      return &narrowed_;
    }
    return &event;
  }

  // Cached per relation definition: globs run once per table, not once per row.
  [[nodiscard]] bool accepts(const RelationInfo& rel) {
    if (tables.empty()) return true;
    if (rel.version == 0) return tables.accepts(rel);  // not from a RelationCache: no stable key
    auto it = cache_.find(rel.version);
    if (it != cache_.end()) return it->second;
    const bool ok = tables.accepts(rel);
    if (cache_.size() > 100000) cache_.clear();
    cache_.emplace(rel.version, ok);
    return ok;
  }

 private:
  std::unordered_map<std::uint64_t, bool> cache_;  // RelationInfo::version -> accepted
  std::vector<const RelationInfo*> kept_;
  ChangeEvent narrowed_;
};

}  // namespace replicator
