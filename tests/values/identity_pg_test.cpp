// Old values per replica identity (DEFAULT, USING INDEX, FULL, NOTHING), including updates of the
// key columns, and the unchanged-TOAST policies, against the real server in both wire modes.
// Runs in its own database: a FOR ALL TABLES publication of another test must not make the
// REPLICA IDENTITY NOTHING table refuse updates.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "replicator/filter/change_filter.hpp"
#include "replicator/filter/column_filter.hpp"
#include "replicator/format/json.hpp"
#include "replicator/filter/toast.hpp"
#include "tests/values/peek.hpp"

using namespace replicator;
using test::PeekSlot;
using test::PgSession;

namespace {

// One row change, owned: op, table, old kind and the old / new values as normalised text.
struct Seen {
  std::string op, table;
  OldTupleKind old_kind = OldTupleKind::none;
  std::map<std::string, std::string> old_values, new_values;  // "<null>", "<toast>"
};

std::string show(const TypedValueView& v) {
  if (v.is_null()) return "<null>";
  if (v.is_unchanged_toast()) return "<toast>";
  auto t = v.as_text();
  return t ? *t : "<error>";
}

std::vector<Seen> collect(const PeekSlot& slot, bool binary) {
  std::vector<Seen> out;
  slot.rows(binary, [&](const RowChangeView& r) {
    Seen s{std::string(to_string(r.op)), r.relation->name, r.old_kind, {}, {}};
    for (const auto& c : r.relation->columns) {
      if (auto v = r.typed_old(c.name)) s.old_values[c.name] = show(*v);
      if (auto v = r.typed_new(c.name)) s.new_values[c.name] = show(*v);
    }
    out.push_back(std::move(s));
  });
  return out;
}

struct Db {
  std::string name = test::unique_name("vident");
  PgSession admin;
  Db() { admin.exec("CREATE DATABASE " + admin.quote_ident(name)); }
  ~Db() {
    try {
      admin.exec("DROP DATABASE IF EXISTS " + admin.quote_ident(name) + " WITH (FORCE)");
    } catch (...) {}
  }
};

}  // namespace

TEST_CASE("old values per replica identity, with key updates and TOAST policies") {
  REQUIRE(test::have_server());
  Db database;
  PgSession db({{"dbname", database.name}});
  db.exec("CREATE TABLE d (id int PRIMARY KEY, k2 int, v text)");
  db.exec("CREATE TABLE i (id int PRIMARY KEY, code text NOT NULL, v text)");
  db.exec("CREATE UNIQUE INDEX i_code ON i (code)");
  db.exec("ALTER TABLE i REPLICA IDENTITY USING INDEX i_code");
  db.exec("CREATE TABLE f (id int PRIMARY KEY, v text, big text)");
  db.exec("ALTER TABLE f REPLICA IDENTITY FULL");
  db.exec("CREATE TABLE n (id int, v text)");
  db.exec("ALTER TABLE n REPLICA IDENTITY NOTHING");
  // d also gets a TOASTed column (random, incompressible text goes out of line).
  db.exec("ALTER TABLE d ADD COLUMN big text");
  PeekSlot slot(db, "FOR TABLE d, i, f, n");

  const std::string big = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 300))";
  db.exec("INSERT INTO d VALUES (1, 10, 'a', " + big + ")");
  db.exec("UPDATE d SET v = 'b' WHERE id = 1");  // no key change: no old tuple; big unchanged TOAST
  db.exec("UPDATE d SET id = 2 WHERE id = 1");   // key change: old key (id = 1)
  db.exec("DELETE FROM d WHERE id = 2");         // old key (id = 2)
  db.exec("INSERT INTO i VALUES (1, 'c1', 'a')");
  db.exec("UPDATE i SET v = 'b' WHERE id = 1");      // index columns unchanged: no old tuple
  db.exec("UPDATE i SET code = 'c2' WHERE id = 1");  // old key: the index column only
  db.exec("DELETE FROM i WHERE id = 1");
  db.exec("INSERT INTO f VALUES (1, 'a', " + big + ")");
  db.exec("UPDATE f SET v = 'b' WHERE id = 1");  // FULL: whole old row, big included; new big unchanged TOAST
  db.exec("UPDATE f SET id = 2 WHERE id = 1");
  db.exec("DELETE FROM f WHERE id = 2");
  db.exec("INSERT INTO n VALUES (1, 'a')");
  // NOTHING: the server refuses updates and deletes of a table published with them.
  CHECK_THROWS_WITH(db.exec("UPDATE n SET v = 'b'"), Catch::Contains("does not have a replica identity"));
  CHECK_THROWS_WITH(db.exec("DELETE FROM n"), Catch::Contains("does not have a replica identity"));

  const auto text_mode = collect(slot, false);
  const auto binary_mode = collect(slot, true);
  REQUIRE(text_mode.size() == 13);
  REQUIRE(binary_mode.size() == 13);
  for (std::size_t k = 0; k < text_mode.size(); ++k) {
    INFO("change " << k);
    CHECK(text_mode[k].old_values == binary_mode[k].old_values);
    CHECK(text_mode[k].new_values == binary_mode[k].new_values);
  }
  const auto& c = binary_mode;
  using K = OldTupleKind;
  // DEFAULT (primary key).
  CHECK((c[0].op == "insert" && c[0].table == "d" && c[0].old_kind == K::none));
  CHECK((c[1].op == "update" && c[1].old_kind == K::none && c[1].new_values.at("big") == "<toast>"));
  CHECK((c[2].op == "update" && c[2].old_kind == K::key));
  CHECK(c[2].old_values.at("id") == "1");
  CHECK(c[2].old_values.at("v") == "<null>");  // a key tuple carries NULL for non-key columns
  CHECK(c[2].new_values.at("id") == "2");
  CHECK((c[3].op == "delete" && c[3].old_kind == K::key && c[3].old_values.at("id") == "2"));
  // USING INDEX (code).
  CHECK((c[5].op == "update" && c[5].table == "i" && c[5].old_kind == K::none));
  CHECK((c[6].op == "update" && c[6].old_kind == K::key));
  CHECK(c[6].old_values.at("code") == "c1");
  CHECK(c[6].old_values.at("id") == "<null>");  // the primary key is not the identity here
  CHECK(c[6].new_values.at("code") == "c2");
  CHECK((c[7].op == "delete" && c[7].old_kind == K::key && c[7].old_values.at("code") == "c2"));
  // FULL.
  CHECK((c[9].op == "update" && c[9].table == "f" && c[9].old_kind == K::full));
  CHECK(c[9].old_values.at("v") == "a");
  CHECK(c[9].old_values.at("big").size() == 9600);  // the old row's TOASTed value, sent in full
  CHECK(c[9].new_values.at("big") == "<toast>");
  CHECK((c[10].old_kind == K::full && c[10].old_values.at("id") == "1" && c[10].new_values.at("id") == "2"));
  CHECK((c[11].op == "delete" && c[11].old_kind == K::full && c[11].old_values.at("v") == "b"));
  CHECK(c[11].old_values.at("big").size() == 9600);
  // NOTHING: inserts only.
  CHECK((c[12].op == "insert" && c[12].table == "n" && c[12].old_kind == K::none));

  // TOAST policies over the real events, through ChangeFilter's column stage.
  for (bool binary : {false, true}) {
    INFO("binary=" << binary);
    std::vector<Seen> marker, omit, from_old;
    for (auto [policy, out] : {std::pair{ToastPolicy::marker, &marker}, std::pair{ToastPolicy::omit, &omit},
                               std::pair{ToastPolicy::from_old, &from_old}}) {
      ChangeFilter filter;
      filter.columns = ColumnShaper::make({}, policy);
      slot.decode(binary, [&](const ChangeEvent& e) {
        const ChangeEvent* kept = filter.apply(e);
        REQUIRE(kept != nullptr);
        const auto* r = std::get_if<RowChangeView>(kept);
        if (r == nullptr || r->op != ChangeOp::update) return;
        // The reshaped event stays well-formed: tuples as wide as the relation it names.
        REQUIRE(r->new_tuple.size() == r->relation->columns.size());
        if (r->old_kind != OldTupleKind::none) REQUIRE(r->old_tuple.size() == r->relation->columns.size());
        std::string line;
        REQUIRE(format::append_change_json(line, r->op, r->lsn, r->txn.xid, *r->relation, r->old_kind, r->old_tuple,
                                           r->new_tuple));
        Seen s{"update", r->relation->name, r->old_kind, {}, {}};
        for (const auto& c : r->relation->columns) {
          if (auto v = r->typed_old(c.name)) s.old_values[c.name] = show(*v);
          if (auto v = r->typed_new(c.name)) s.new_values[c.name] = show(*v);
        }
        out->push_back(std::move(s));
      });
    }
    REQUIRE(marker.size() == 6);
    REQUIRE(omit.size() == 6);
    REQUIRE(from_old.size() == 6);
    // d (no old row): marker keeps the flag; omit drops the column; from_old has nothing to fill from.
    CHECK(marker[0].new_values.at("big") == "<toast>");
    CHECK(omit[0].new_values.count("big") == 0);
    CHECK(omit[0].new_values.at("v") == "b");
    CHECK(from_old[0].new_values.at("big") == "<toast>");
    // f (FULL): from_old fills the value from the old row; omit drops it from old and new alike.
    CHECK(marker[4].table == "f");
    CHECK(marker[4].new_values.at("big") == "<toast>");
    CHECK(omit[4].new_values.count("big") == 0);
    CHECK(omit[4].old_values.count("big") == 0);
    CHECK(omit[4].old_values.at("v") == "a");
    CHECK(from_old[4].new_values.at("big").size() == 9600);
    CHECK(from_old[4].new_values.at("big") == from_old[4].old_values.at("big"));
    CHECK(from_old[4].new_values.at("v") == "b");
    // Never a silent null.
    for (const auto* set : {&marker, &omit, &from_old})
      for (const auto& u : *set)
        if (u.new_values.count("big")) CHECK(u.new_values.at("big") != "<null>");
  }
}
