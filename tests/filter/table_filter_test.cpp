// Table globs and operation sets (filter/table_filter.hpp).
#include "replicator/filter/table_filter.hpp"

#include <catch2/catch.hpp>

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
