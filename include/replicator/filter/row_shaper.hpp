// RowShaper: rewrites row changes before batching so every sink sees the same shape: columns left
// out by a column filter (column_filter.hpp) or by ToastPolicy::omit, and unchanged TOAST values
// filled from the old row (ToastPolicy::from_old). Used by ChangeFilter; usable on its own.
//   RowShaper s;  const ChangeEvent* e = s.apply(event, keep_mask_or_null, ToastPolicy::from_old);
// The narrowed relations it makes have stable addresses for the shaper's lifetime (batches keep
// pointers to them); a rewritten event's tuples are valid until the next apply().
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <variant>
#include <vector>

#include "replicator/change/event.hpp"
#include "replicator/filter/toast.hpp"

namespace replicator {

class RowShaper {
 public:
  // Row changes only (other events come back as they are). `keep`: one flag per column of the
  // event's relation (nullptr: all columns). Returns `event` itself when nothing changes, else a
  // rewritten copy.
  [[nodiscard]] const ChangeEvent* apply(const ChangeEvent& event, const std::vector<bool>* keep, ToastPolicy policy) {
    if (const auto* row = std::get_if<RowChangeView>(&event)) return shape_row(event, *row, keep, policy);
    return &event;
  }

  // A relation with only the columns whose flag is set (the relation itself when all are).
  const RelationInfo* narrowed(const RelationInfo& rel, const std::vector<bool>& keep) {
    bool all = keep.size() == rel.columns.size();
    for (std::size_t i = 0; all && i < keep.size(); ++i) all = keep[i];
    if (all) return &rel;
    Key key{&rel, rel.version, keep};
    auto it = derived_.find(key);
    if (it != derived_.end()) return it->second.get();
    auto info = std::make_unique<RelationInfo>();
    info->oid = rel.oid;
    info->schema = rel.schema;
    info->name = rel.name;
    info->replica_identity = rel.replica_identity;
    for (std::size_t i = 0; i < rel.columns.size(); ++i)
      if (i < keep.size() && keep[i]) info->columns.push_back(rel.columns[i]);
    // Versions of derived relations live in their own range, so caches keyed by version never
    // confuse them with the relation they came from.
    info->version = (std::uint64_t{1} << 63) | ++derived_counter_;
    const RelationInfo* raw = info.get();
    derived_.emplace(std::move(key), std::move(info));
    return raw;
  }

  [[nodiscard]] std::size_t derived_relations() const noexcept { return derived_.size(); }

 private:
  struct Key {
    const RelationInfo* rel;
    std::uint64_t version;
    std::vector<bool> keep;
    friend bool operator<(const Key& a, const Key& b) {
      if (a.rel != b.rel) return a.rel < b.rel;
      if (a.version != b.version) return a.version < b.version;
      return a.keep < b.keep;
    }
  };

  static void put_value(std::vector<std::byte>& out, ColumnValueView v) {
    out.push_back(static_cast<std::byte>(static_cast<char>(v.kind)));
    if (v.kind == ColumnKind::text || v.kind == ColumnKind::binary) {
      const auto n = static_cast<std::uint32_t>(v.bytes.size());
      for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::byte>((n >> shift) & 0xFF));
      out.insert(out.end(), v.bytes.begin(), v.bytes.end());
    }
  }

  const ChangeEvent* shape_row(const ChangeEvent& event, const RowChangeView& row, const std::vector<bool>* keep,
                               ToastPolicy policy) {
    if (row.relation == nullptr) return &event;
    const std::size_t ncols = row.relation->columns.size();
    if (keep != nullptr && keep->size() != ncols) keep = nullptr;  // stale mask: never drop the wrong columns
    const bool has_new = row.op != ChangeOp::delete_;
    mask_.assign(ncols, true);
    if (keep != nullptr) mask_ = *keep;
    bool changed = keep != nullptr;
    new_values_.clear();
    if (has_new) {
      std::uint16_t i = 0;
      for (ColumnValueView v : row.new_tuple) {
        if (v.is_unchanged_toast() && policy != ToastPolicy::marker) {
          const ResolvedValue r = resolve_new_value(row, i, policy);
          if (r.state == ResolvedValue::State::omitted) {
            if (mask_[i]) changed = true;
            mask_[i] = false;
          } else if (r.from_old) {
            changed = true;
          }
          v = r.value;
        }
        new_values_.push_back(v);
        ++i;
      }
    }
    if (!changed) return &event;

    RowChangeView out = row;
    out.relation = narrowed(*row.relation, mask_);
    new_bytes_.clear();
    old_bytes_.clear();
    std::uint16_t kept = 0;
    for (std::size_t i = 0; i < ncols; ++i) kept = static_cast<std::uint16_t>(kept + (mask_[i] ? 1 : 0));
    if (has_new) {
      for (std::size_t i = 0; i < ncols; ++i)
        if (mask_[i]) put_value(new_bytes_, new_values_[i]);
      out.new_tuple = TupleView(new_bytes_, kept);
    }
    if (row.old_kind != OldTupleKind::none) {
      std::size_t i = 0;
      for (ColumnValueView v : row.old_tuple) {
        if (i < ncols && mask_[i]) put_value(old_bytes_, v);
        ++i;
      }
      out.old_tuple = TupleView(old_bytes_, kept);
    }
    rewritten_ = out;
    return &rewritten_;
  }

  std::map<Key, std::unique_ptr<RelationInfo>> derived_;
  std::uint64_t derived_counter_ = 0;
  std::vector<bool> mask_;
  std::vector<ColumnValueView> new_values_;
  std::vector<std::byte> new_bytes_;
  std::vector<std::byte> old_bytes_;
  ChangeEvent rewritten_;
};

}  // namespace replicator
