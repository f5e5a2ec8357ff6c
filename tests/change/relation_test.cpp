// change/relation.hpp: the table metadata every row change points to.
#include "replicator/change/relation.hpp"

#include <catch2/catch.hpp>

using namespace replicator;

namespace {
RelationInfo orders() {
  RelationInfo r;
  r.oid = 16400;
  r.schema = "sales";
  r.name = "order items";
  r.replica_identity = ReplicaIdentity::full;
  r.columns = {ColumnInfo{"id", 20, -1, true}, ColumnInfo{"note", 25, -1, false}};
  return r;
}
}  // namespace

TEST_CASE("RelationInfo compares definitions, not versions") {
  RelationInfo a = orders();
  RelationInfo b = orders();
  b.version = a.version + 3;
  CHECK(a.same_definition(b));
  b.columns[1].type_modifier = 14;
  CHECK_FALSE(a.same_definition(b));
  CHECK(a.qualified_name() == "sales.order items");
}

TEST_CASE("Replica identity names") {
  CHECK(to_string(ReplicaIdentity::default_) == "default");
  CHECK(to_string(ReplicaIdentity::nothing) == "nothing");
  CHECK(to_string(ReplicaIdentity::full) == "full");
  CHECK(to_string(ReplicaIdentity::index) == "index");
  CHECK(static_cast<char>(ReplicaIdentity::full) == 'f');  // the byte pgoutput sends
  CHECK(static_cast<char>(OldTupleKind::key) == 'K');
}
