// filter/row_shaper.hpp: narrowed relations (stable, cached per definition, versions of their own)
// and events other than row changes passing through untouched.
#include "replicator/filter/row_shaper.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace replicator;

namespace {
RelationInfo users(std::uint64_t version) {
  RelationInfo r;
  r.oid = 1;
  r.schema = "public";
  r.name = "users";
  r.version = version;
  r.columns = {{"id", 23, -1, true}, {"email", 25, -1, false}, {"bio", 25, -1, false}};
  return r;
}
}  // namespace

TEST_CASE("RowShaper::narrowed keeps the flagged columns, caches per definition, never reuses a version") {
  RowShaper s;
  const RelationInfo rel = users(7);
  const std::vector<bool> all = {true, true, true};
  CHECK(s.narrowed(rel, all) == &rel);  // nothing dropped: the relation itself
  const std::vector<bool> keep = {true, false, true};
  const RelationInfo* n = s.narrowed(rel, keep);
  REQUIRE(n != &rel);
  REQUIRE(n->columns.size() == 2);
  CHECK(n->columns[0].name == "id");
  CHECK(n->columns[1].name == "bio");
  CHECK(n->qualified_name() == rel.qualified_name());
  CHECK(n->version != rel.version);
  CHECK(s.narrowed(rel, keep) == n);  // cached: batches keep pointers to it
  CHECK(s.derived_relations() == 1);
  const RelationInfo changed = users(8);  // a new definition of the table gets its own
  CHECK(s.narrowed(changed, keep) != n);
  CHECK(s.derived_relations() == 2);
}

TEST_CASE("RowShaper::apply passes events other than row changes through as they are") {
  RowShaper s;
  const ChangeEvent commit = CommitEvent{};
  CHECK(s.apply(commit, nullptr, ToastPolicy::omit) == &commit);
}
