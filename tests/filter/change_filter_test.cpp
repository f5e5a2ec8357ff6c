// ChangeFilter over events: tables, operations, truncates narrowed, the column stage.
#include <catch2/catch.hpp>

#include "replicator/filter/change_filter.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;

TEST_CASE("ChangeFilter over events") {
  RelationInfo users, audit;
  users.schema = "public";
  users.name = "users";
  users.version = 1;
  audit.schema = "public";
  audit.name = "audit";
  audit.version = 2;
  ChangeFilter f;
  f.tables.exclude = {"public.audit"};
  f.operations = OperationSet::all().without(Operation::delete_);

  const ChangeEvent ins{RowChangeView{ChangeOp::insert, {}, {}, &users, OldTupleKind::none, {}, {}}};
  const ChangeEvent del{RowChangeView{ChangeOp::delete_, {}, {}, &users, OldTupleKind::none, {}, {}}};
  const ChangeEvent audit_ins{RowChangeView{ChangeOp::insert, {}, {}, &audit, OldTupleKind::none, {}, {}}};
  CHECK(f.apply(ins) == &ins);
  CHECK(f.apply(del) == nullptr);
  CHECK(f.apply(audit_ins) == nullptr);
  CHECK(f.apply(audit_ins) == nullptr);  // cached answer, same result
  const ChangeEvent begin{BeginEvent{}};
  CHECK(f.apply(begin) == &begin);  // transaction boundaries always pass

  SECTION("a truncate is narrowed to the accepted tables") {
    const RelationInfo* both[] = {&users, &audit};
    const ChangeEvent tr{TruncateEventView{{}, {}, both, true, false}};
    const ChangeEvent* kept = f.apply(tr);
    REQUIRE(kept != nullptr);
    REQUIRE(kept != &tr);
    const auto& narrowed = std::get<TruncateEventView>(*kept);
    REQUIRE(narrowed.relations.size() == 1);
    CHECK(narrowed.relations[0] == &users);
    CHECK(narrowed.cascade);
    const RelationInfo* only_audit[] = {&audit};
    const ChangeEvent tr2{TruncateEventView{{}, {}, only_audit}};
    CHECK(f.apply(tr2) == nullptr);
  }
  SECTION("schema changes follow the table filter; messages the operation set") {
    const ChangeEvent sc{SchemaChangeEvent{{}, {}, &audit, &audit}};
    CHECK(f.apply(sc) == nullptr);
    const ChangeEvent msg{MessageEventView{}};
    CHECK(f.apply(msg) == &msg);
    f.operations = f.operations.without(Operation::message);
    CHECK(f.apply(msg) == nullptr);
  }
}
