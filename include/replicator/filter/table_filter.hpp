// Which tables and operations pass: shell-style globs on "schema.table" and a set of operations,
// shared by the change filter, the column rules and the snapshot's table list.
//   TableFilter t{.include = {"public.*"}, .exclude = {"public.audit_*"}};  t.accepts("public", "users");
//   OperationSet ops = OperationSet::all().without(Operation::truncate);
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "replicator/change/event.hpp"
#include "replicator/core/error.hpp"

namespace replicator {

// Shell-style glob: '*' any run of characters, '?' one character, '\' escapes the next one.
// Iterative with single-star backtracking: linear in practice, never recursive.
constexpr bool glob_match(std::string_view pattern, std::string_view text) noexcept {
  std::size_t p = 0, t = 0;
  std::size_t star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size()) {
      const char c = pattern[p];
      if (c == '*') {
        star_p = p++;
        star_t = t;
        continue;
      }
      if (c == '\\' && p + 1 < pattern.size()) {
        if (pattern[p + 1] == text[t]) {
          p += 2;
          ++t;
          continue;
        }
      } else if (c == '?' || c == text[t]) {
        ++p;
        ++t;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p + 1;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

enum class Operation : std::uint8_t { insert = 1, update = 2, delete_ = 4, truncate = 8, message = 16 };

class OperationSet {
 public:
  constexpr OperationSet() noexcept = default;
  constexpr OperationSet(std::initializer_list<Operation> ops) noexcept {
    for (Operation op : ops) bits_ |= static_cast<std::uint8_t>(op);
  }
  static constexpr OperationSet all() noexcept {
    return {Operation::insert, Operation::update, Operation::delete_, Operation::truncate, Operation::message};
  }
  [[nodiscard]] constexpr bool contains(Operation op) const noexcept {
    return (bits_ & static_cast<std::uint8_t>(op)) != 0;
  }
  [[nodiscard]] constexpr OperationSet with(Operation op) const noexcept {
    OperationSet s = *this;
    s.bits_ |= static_cast<std::uint8_t>(op);
    return s;
  }
  [[nodiscard]] constexpr OperationSet without(Operation op) const noexcept {
    OperationSet s = *this;
    s.bits_ &= static_cast<std::uint8_t>(~static_cast<std::uint8_t>(op));
    return s;
  }
  [[nodiscard]] constexpr bool is_all() const noexcept { return bits_ == all().bits_; }

  // Every operation by the name configs and logs use: the one list (parse, names_text, the program).
  static constexpr std::pair<std::string_view, Operation> kNames[] = {{"insert", Operation::insert},
                                                                      {"update", Operation::update},
                                                                      {"delete", Operation::delete_},
                                                                      {"truncate", Operation::truncate},
                                                                      {"message", Operation::message}};
  static std::string names_text() {
    std::string s;
    for (const auto& [name, op] : kNames) s += (s.empty() ? "" : ", ") + std::string(name);
    return s;
  }
  static Result<Operation, ReplicationError> parse(std::string_view name) {
    for (const auto& [n, op] : kNames) {
      if (n == name) return op;
    }
    return ReplicationError::fatal("unknown operation '" + std::string(name) + "' (expected one of " + names_text() +
                                   ")");
  }

 private:
  std::uint8_t bits_ = 0x1F;
};

constexpr Operation operation_of(ChangeOp op) noexcept {
  switch (op) {
    case ChangeOp::insert: return Operation::insert;
    case ChangeOp::update: return Operation::update;
    case ChangeOp::delete_: return Operation::delete_;
    case ChangeOp::read: return Operation::insert;  // a snapshot row: the row's insertion, as far as filters go
  }
  return Operation::insert;
}

// Include / exclude by "schema.table". A pattern without a '.' matches the table name in any
// schema. Empty include list: every table. Exclude wins over include.
struct TableFilter {
  std::vector<std::string> include;
  std::vector<std::string> exclude;

  [[nodiscard]] bool empty() const noexcept { return include.empty() && exclude.empty(); }
  [[nodiscard]] bool accepts(std::string_view schema, std::string_view table) const {
    auto matches = [&](const std::string& pat) {
      if (pat.find('.') == std::string::npos) return glob_match(pat, table);
      std::string qualified;
      qualified.reserve(schema.size() + 1 + table.size());
      qualified.append(schema).append(".").append(table);
      return glob_match(pat, qualified);
    };
    for (const auto& p : exclude)
      if (matches(p)) return false;
    if (include.empty()) return true;
    for (const auto& p : include)
      if (matches(p)) return true;
    return false;
  }
  [[nodiscard]] bool accepts(const RelationInfo& rel) const { return accepts(rel.schema, rel.name); }
};

}  // namespace replicator
