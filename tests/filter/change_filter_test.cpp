// Table globs, operation sets and the ChangeFilter over events.
#include <catch2/catch.hpp>

#include "replicator/filter/change_filter.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;

TEST_CASE("glob_match") {
  STATIC_REQUIRE(glob_match("public.*", "public.users"));
  CHECK(glob_match("*", ""));
  CHECK(glob_match("*", "anything"));
  CHECK(glob_match("public.user?", "public.users"));
  CHECK_FALSE(glob_match("public.user?", "public.user"));
  CHECK(glob_match("*.audit_*", "sales.audit_2024"));
  CHECK_FALSE(glob_match("*.audit_*", "sales.audits"));
  CHECK(glob_match("a*b*c", "axxbyyc"));
  CHECK_FALSE(glob_match("a*b*c", "axxbyy"));
  CHECK(glob_match("we\\*ird", "we*ird"));
  CHECK_FALSE(glob_match("we\\*ird", "weXird"));
  CHECK(glob_match("", ""));
  CHECK_FALSE(glob_match("", "x"));
  // Many stars over a long text stays fast (no exponential backtracking).
  CHECK_FALSE(glob_match("*a*a*a*a*a*a*a*b", std::string(5000, 'a')));
}

TEST_CASE("TableFilter: include, exclude, bare table names") {
  TableFilter f;
  CHECK(f.accepts("public", "t"));
  f.include = {"public.*", "sales.orders"};
  f.exclude = {"public.audit_*"};
  CHECK(f.accepts("public", "users"));
  CHECK(f.accepts("sales", "orders"));
  CHECK_FALSE(f.accepts("sales", "items"));
  CHECK_FALSE(f.accepts("public", "audit_log"));  // exclude wins
  TableFilter bare;
  bare.include = {"orders"};
  CHECK(bare.accepts("sales", "orders"));
  CHECK(bare.accepts("public", "orders"));
  CHECK_FALSE(bare.accepts("public", "orders2"));
}

TEST_CASE("OperationSet") {
  OperationSet s = OperationSet::all().without(Operation::delete_);
  CHECK(s.contains(Operation::insert));
  CHECK_FALSE(s.contains(Operation::delete_));
  CHECK(s.with(Operation::delete_).is_all());
  CHECK(OperationSet::parse("truncate").value() == Operation::truncate);
  auto bad = OperationSet::parse("upsert");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("upsert"));
}

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
