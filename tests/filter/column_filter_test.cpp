// column_filter.hpp (ColumnFilter, ColumnShaper) and values/row_shaper.hpp on hand-made events:
// globs and rule combination, narrowed relations with stable addresses, TOAST policies, stale
// masks never dropping the wrong columns, schema-change narrowing, pass-through when idle.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "replicator/filter/change_filter.hpp"
#include "replicator/filter/column_filter.hpp"

using namespace replicator;

namespace {

std::vector<std::byte> tuple_bytes(const std::vector<std::optional<std::string>>& vals, int toast_at = -1) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i < vals.size(); ++i) {
    if (static_cast<int>(i) == toast_at) {
      out.push_back(std::byte{'u'});
    } else if (!vals[i]) {
      out.push_back(std::byte{'n'});
    } else {
      out.push_back(std::byte{'t'});
      const auto n = static_cast<std::uint32_t>(vals[i]->size());
      for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<std::byte>((n >> s) & 0xFF));
      for (char c : *vals[i]) out.push_back(static_cast<std::byte>(c));
    }
  }
  return out;
}

RelationInfo users() {
  RelationInfo r;
  r.oid = 1;
  r.schema = "public";
  r.name = "users";
  r.version = 7;
  r.columns = {
      {"id", 23, -1, true}, {"email", 25, -1, false}, {"password_hash", 25, -1, false}, {"bio", 25, -1, false}};
  return r;
}

std::vector<std::string> names(const RelationInfo& r) {
  std::vector<std::string> out;
  for (const auto& c : r.columns) out.push_back(c.name);
  return out;
}

}  // namespace

TEST_CASE("ColumnFilter: globs, several rules, exclude wins, cached per definition") {
  const RelationInfo rel = users();
  ColumnFilter none;
  CHECK(none.mask(rel) == nullptr);
  ColumnFilter f(
      {{"public.users", {}, {"pass*"}}, {"users", {"id", "email", "password_hash"}, {}}, {"other", {}, {"id"}}});
  const std::vector<bool>* m = f.mask(rel);
  REQUIRE(m != nullptr);
  CHECK(*m == std::vector<bool>{true, true, false, false});
  CHECK(f.mask(rel) == m);  // cached
  ColumnFilter keep_all({{"public.*", {}, {"nothing_like_this"}}});
  CHECK(keep_all.mask(rel) == nullptr);
}

TEST_CASE("ColumnShaper narrows rows and keeps the relation's address stable") {
  const RelationInfo rel = users();
  const auto bytes = tuple_bytes({"1", "a@b", "xyz", "hi"});
  RowChangeView row{ChangeOp::insert, Lsn{1}, {}, &rel, OldTupleKind::none, {}, TupleView(bytes, 4)};
  ChangeFilter filter;
  filter.columns = ColumnShaper::make(ColumnFilter({{"users", {}, {"password_hash"}}}), ToastPolicy::marker);
  CHECK_FALSE(filter.passes_everything());
  const ChangeEvent* out = filter.apply(ChangeEvent{row});
  REQUIRE(out != nullptr);
  const auto& r = std::get<RowChangeView>(*out);
  CHECK(names(*r.relation) == std::vector<std::string>{"id", "email", "bio"});
  CHECK(r.new_tuple.size() == 3);
  CHECK(*r.value<std::string>("bio") == "hi");
  CHECK(r.relation->version >> 63 == 1);  // derived relations have their own version range
  const RelationInfo* first = r.relation;
  const ChangeEvent* again = filter.apply(ChangeEvent{row});
  CHECK(std::get<RowChangeView>(*again).relation == first);

  // Schema change: both definitions narrowed by their own masks.
  SchemaChangeEvent sc{Lsn{2}, {}, &rel, &rel};
  const ChangeEvent* s = filter.apply(ChangeEvent{sc});
  REQUIRE(s != nullptr);
  CHECK(names(*std::get<SchemaChangeEvent>(*s).new_relation) == std::vector<std::string>{"id", "email", "bio"});
  CHECK(names(*std::get<SchemaChangeEvent>(*s).old_relation) == std::vector<std::string>{"id", "email", "bio"});

  // No rules and the marker policy: ColumnShaper::make gives no stage at all.
  CHECK_FALSE(ColumnShaper::make({}, ToastPolicy::marker));
}

TEST_CASE("TOAST policies on an update with a FULL old row") {
  const RelationInfo rel = users();
  const auto old_bytes = tuple_bytes({"1", "a@b", "xyz", "long bio"});
  const auto new_bytes = tuple_bytes({"1", "c@d", "xyz", std::nullopt}, 3);
  RowChangeView row{ChangeOp::update,       Lsn{1}, {}, &rel, OldTupleKind::full, TupleView(old_bytes, 4),
                    TupleView(new_bytes, 4)};
  RowShaper shaper;
  CHECK(shaper.apply(ChangeEvent{row}, nullptr, ToastPolicy::marker) != nullptr);
  {
    ChangeEvent e{row};
    const auto& r = std::get<RowChangeView>(*shaper.apply(e, nullptr, ToastPolicy::from_old));
    CHECK(*r.value<std::string>("bio") == "long bio");
    CHECK(*r.value<std::string>("email") == "c@d");
    CHECK(r.relation == &rel);  // same columns: the original relation
  }
  {
    ChangeEvent e{row};
    const auto& r = std::get<RowChangeView>(*shaper.apply(e, nullptr, ToastPolicy::omit));
    CHECK(names(*r.relation) == std::vector<std::string>{"id", "email", "password_hash"});
    CHECK(r.old_tuple.size() == 3);
    CHECK(r.new_tuple.size() == 3);
  }
  // Without an old row from_old keeps the marker (never a NULL).
  RowChangeView no_old = row;
  no_old.old_kind = OldTupleKind::none;
  no_old.old_tuple = {};
  ChangeEvent e{no_old};
  const ChangeEvent* kept = shaper.apply(e, nullptr, ToastPolicy::from_old);
  CHECK(kept == &e);
  CHECK(std::get<RowChangeView>(*kept).is_unchanged_toast("bio"));
  const ResolvedValue v = resolve_new_value(no_old, 3, ToastPolicy::from_old);
  CHECK(v.state == ResolvedValue::State::marker);
  CHECK(parse_toast_policy("omit").value() == ToastPolicy::omit);
  CHECK_FALSE(parse_toast_policy("drop").has_value());
}

TEST_CASE("a mask of the wrong width is ignored, never applied to other columns") {
  const RelationInfo rel = users();
  const auto bytes = tuple_bytes({"1", "a@b", "xyz", "hi"});
  RowChangeView row{ChangeOp::insert, Lsn{1}, {}, &rel, OldTupleKind::none, {}, TupleView(bytes, 4)};
  RowShaper shaper;
  const std::vector<bool> stale{true, false};
  ChangeEvent e{row};
  CHECK(shaper.apply(e, &stale, ToastPolicy::marker) == &e);
}
