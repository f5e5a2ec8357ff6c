// values/column_value.hpp: one column as the server sent it.
#include "replicator/values/column_value.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <span>

using namespace replicator;

TEST_CASE("ColumnValueView kinds and text") {
  const std::array<std::byte, 2> b{std::byte{'h'}, std::byte{'i'}};
  const ColumnValueView text{ColumnKind::text, b};
  CHECK(text.text() == "hi");
  CHECK_FALSE(text.is_null());
  CHECK_FALSE(text.is_unchanged_toast());
  CHECK(ColumnValueView{}.is_null());
  CHECK(ColumnValueView{ColumnKind::unchanged_toast, {}}.is_unchanged_toast());
  // The kind bytes are pgoutput's TupleData letters.
  CHECK(static_cast<char>(ColumnKind::null) == 'n');
  CHECK(static_cast<char>(ColumnKind::unchanged_toast) == 'u');
  CHECK(static_cast<char>(ColumnKind::text) == 't');
  CHECK(static_cast<char>(ColumnKind::binary) == 'b');
}
