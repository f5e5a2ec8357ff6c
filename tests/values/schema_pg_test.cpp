// Schema changes mid-stream against the real server: every kind of ALTER TABLE that changes what
// pgoutput describes (column added, dropped, renamed, type changed, replica identity changed)
// gives one SchemaChangeEvent just before the next row of that table, in both wire modes, and the
// JSON lines output shows the new column set before rows that use it. Changes pgoutput does not
// describe (a default) give none. Column filters narrow schema changes like rows.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "replicator/filter/change_filter.hpp"
#include "replicator/filter/column_filter.hpp"
#include "replicator/sink/json_lines.hpp"
#include "tests/values/peek.hpp"

using namespace replicator;
using test::PeekSlot;
using test::PgSession;

namespace {

std::string columns_of(const RelationInfo* rel) {
  if (rel == nullptr) return "<none>";
  std::string s;
  for (const auto& c : rel->columns) {
    if (!s.empty()) s += ',';
    s += c.name + ":" + std::to_string(c.type_oid) + (c.is_key ? "*" : "");
  }
  return s;
}

// "schema:<old> -> <new> ri=<char>" for schema changes, "<op> <columns>" for rows.
std::vector<std::string> trace(const PeekSlot& slot, bool binary, ChangeFilter* filter = nullptr) {
  std::vector<std::string> out;
  slot.decode(binary, [&](const ChangeEvent& e) {
    const ChangeEvent* kept = filter != nullptr ? filter->apply(e) : &e;
    if (kept == nullptr) return;
    if (const auto* sc = std::get_if<SchemaChangeEvent>(kept)) {
      out.push_back("schema:" + columns_of(sc->old_relation) + " -> " + columns_of(sc->new_relation) +
                    " ri=" + std::string(1, static_cast<char>(sc->new_relation->replica_identity)));
    } else if (const auto* r = std::get_if<RowChangeView>(kept)) {
      REQUIRE(r->row().size() == r->relation->columns.size());
      out.push_back(std::string(to_string(r->op)) + " " + columns_of(r->relation));
    }
  });
  return out;
}

}  // namespace

TEST_CASE("ALTER TABLE mid-stream: a schema change event before the next row") {
  REQUIRE(test::have_server());
  PgSession db;
  const std::string name = test::unique_name("vschema");
  const std::string t = db.quote_ident(name);
  test::CleanupSql drop("DROP TABLE IF EXISTS " + t);
  db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, a text, b int)");
  PeekSlot slot(db, "FOR TABLE " + t);
  db.exec("INSERT INTO " + t + " VALUES (1, 'x', 1)");
  db.exec("ALTER TABLE " + t + " ADD COLUMN c text");
  db.exec("INSERT INTO " + t + " VALUES (2, 'y', 2, 'c2')");
  db.exec("ALTER TABLE " + t + " DROP COLUMN b");
  db.exec("INSERT INTO " + t + " VALUES (3, 'z', 'c3')");
  db.exec("ALTER TABLE " + t + " RENAME COLUMN a TO a2");
  db.exec("UPDATE " + t + " SET a2 = 'zz' WHERE id = 3");
  db.exec("ALTER TABLE " + t + " ALTER COLUMN c TYPE bigint USING length(c)");
  db.exec("INSERT INTO " + t + " VALUES (4, 'w', 7)");
  db.exec("ALTER TABLE " + t + " REPLICA IDENTITY FULL");
  db.exec("DELETE FROM " + t + " WHERE id = 4");
  db.exec("ALTER TABLE " + t + " ALTER COLUMN a2 SET DEFAULT 'd'");  // not in the Relation message
  db.exec("INSERT INTO " + t + " (id) VALUES (5)");
  // Two changes before any row, inside one transaction with the rows: one event, oldest "before".
  db.exec("BEGIN; ALTER TABLE " + t + " ADD COLUMN e bool; ALTER TABLE " + t + " RENAME COLUMN e TO f; INSERT INTO " +
          t + " VALUES (6, 'v', 1, true); COMMIT");

  const std::vector<std::string> expected = {
      "insert id:23*,a:25,b:23",
      "schema:id:23*,a:25,b:23 -> id:23*,a:25,b:23,c:25 ri=d",
      "insert id:23*,a:25,b:23,c:25",
      "schema:id:23*,a:25,b:23,c:25 -> id:23*,a:25,c:25 ri=d",
      "insert id:23*,a:25,c:25",
      "schema:id:23*,a:25,c:25 -> id:23*,a2:25,c:25 ri=d",
      "update id:23*,a2:25,c:25",
      "schema:id:23*,a2:25,c:25 -> id:23*,a2:25,c:20 ri=d",
      "insert id:23*,a2:25,c:20",
      // FULL: every column is part of the identity.
      "schema:id:23*,a2:25,c:20 -> id:23*,a2:25*,c:20* ri=f",
      "delete id:23*,a2:25*,c:20*",
      "insert id:23*,a2:25*,c:20*",
      "schema:id:23*,a2:25*,c:20* -> id:23*,a2:25*,c:20*,f:16* ri=f",
      "insert id:23*,a2:25*,c:20*,f:16*",
  };
  for (bool binary : {false, true}) {
    INFO("binary=" << binary);
    CHECK(trace(slot, binary) == expected);
  }

  // What a JSON lines sink writes: the new column set, then rows in it.
  std::vector<std::string> lines;
  slot.decode(true, [&](const ChangeEvent& e) {
    if (!std::holds_alternative<SchemaChangeEvent>(e) && !std::holds_alternative<RowChangeView>(e)) return;
    std::string line;
    REQUIRE(format::append_event_json(line, e));
    lines.push_back(line);
  });
  REQUIRE(lines.size() == expected.size());
  CHECK(lines[1].find("\"op\":\"schema_change\"") != std::string::npos);
  CHECK(lines[1].find("{\"name\":\"c\",\"type_oid\":25") != std::string::npos);
  CHECK(lines[2].find("\"c\":\"\\\\x") != std::string::npos);  // binary value of the new column
  CHECK(lines[5].find("\"a2\"") != std::string::npos);
  CHECK(lines[6].find("\"a2\":") != std::string::npos);

  // A column filter narrows schema changes the same way as rows.
  ChangeFilter filter;
  filter.columns = ColumnShaper::make(ColumnFilter({{name, {}, {"c", "f"}}}), ToastPolicy::marker);
  const auto narrowed = trace(slot, false, &filter);
  REQUIRE(narrowed.size() == expected.size());
  CHECK(narrowed[1] == "schema:id:23*,a:25,b:23 -> id:23*,a:25,b:23 ri=d");
  CHECK(narrowed[2] == "insert id:23*,a:25,b:23");
  CHECK(narrowed[13] == "insert id:23*,a2:25*");
}
