// change/row.hpp: TupleView over the compact column encoding every decoder produces.
#include "replicator/change/row.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/support/pgoutput_writer.hpp"

using namespace replicator;

TEST_CASE("TupleView iterates text, binary, NULL and unchanged TOAST columns") {
  const auto bytes = test::MessageWriter().text("42").null().unchanged_toast().binary("\x01\x02").text("").take();
  const TupleView t(bytes, 5);
  CHECK(t.size() == 5);
  CHECK_FALSE(t.empty());
  CHECK(t.bytes().size() == bytes.size());
  std::vector<ColumnKind> kinds;
  for (ColumnValueView v : t) kinds.push_back(v.kind);
  CHECK(kinds == std::vector<ColumnKind>{ColumnKind::text, ColumnKind::null, ColumnKind::unchanged_toast,
                                         ColumnKind::binary, ColumnKind::text});
  CHECK(t[0].text() == "42");
  CHECK(t[1].is_null());
  CHECK(t[2].is_unchanged_toast());
  CHECK(t[3].bytes.size() == 2);
  CHECK(t[4].text().empty());
  CHECK_FALSE(t[4].is_null());
}

TEST_CASE("An empty TupleView has no columns") {
  const TupleView t;
  CHECK(t.empty());
  CHECK(t.begin() == t.end());
}
