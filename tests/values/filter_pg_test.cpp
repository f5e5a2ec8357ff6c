// Client-side column filters on top of PostgreSQL 15 publication row filters (WHERE) and column
// lists, against the real server: the server drops rows and columns first, the client narrows
// further; updates that move a row into or out of the row filter arrive as insert / delete.
// Filtered changes still move the slot (live Replicator, table filter + column filter).
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "replicator/filter/column_filter.hpp"
#include "replicator/live.hpp"
#include "replicator/sink/callback.hpp"
#include "tests/values/peek.hpp"

using namespace replicator;
using test::PeekSlot;
using test::PgSession;

namespace {
std::string describe(const RowChangeView& r) {
  std::string s(to_string(r.op));
  s += " [";
  for (std::size_t i = 0; i < r.relation->columns.size(); ++i) s += (i ? "," : "") + r.relation->columns[i].name;
  s += "]";
  const TupleView& t = r.row();
  for (ColumnValueView v : t) s += " " + (v.is_null() ? std::string("NULL") : std::string(v.text()));
  return s;
}
}  // namespace

TEST_CASE("publication row filter + column list, then a client column filter") {
  REQUIRE(test::have_server());
  PgSession db;
  const std::string name = test::unique_name("vfilt");
  const std::string t = db.quote_ident(name);
  test::CleanupSql drop("DROP TABLE IF EXISTS " + t);
  db.exec("CREATE TABLE " + t + " (id int, region text, name text, secret text, note text, PRIMARY KEY (id, region))");
  // Server side: only EU rows, never the secret column.
  PeekSlot slot(db, "FOR TABLE " + t + " (id, region, name, note) WHERE (region = 'eu')");
  db.exec("INSERT INTO " + t + " VALUES (1, 'eu', 'a', 's1', 'n1'), (2, 'us', 'b', 's2', 'n2')");
  db.exec("UPDATE " + t + " SET name = 'a2' WHERE id = 1");    // eu -> eu: update
  db.exec("UPDATE " + t + " SET name = 'b2' WHERE id = 2");    // us -> us: not published
  db.exec("UPDATE " + t + " SET region = 'eu' WHERE id = 2");  // us -> eu: published as insert
  db.exec("UPDATE " + t + " SET region = 'us' WHERE id = 1");  // eu -> us: published as delete
  db.exec("DELETE FROM " + t + " WHERE id = 2");               // eu: delete

  ChangeFilter client;
  client.columns = ColumnShaper::make(ColumnFilter({{"public." + name, {}, {"note"}}}), ToastPolicy::marker);
  for (bool binary : {false, true}) {
    INFO("binary=" << binary);
    std::vector<std::string> server_only, both;
    slot.decode(binary, [&](const ChangeEvent& e) {
      if (const auto* r = std::get_if<RowChangeView>(&e)) {
        if (!binary) server_only.push_back(describe(*r));
        const ChangeEvent* kept = client.apply(e);
        REQUIRE(kept != nullptr);
        const auto& k = std::get<RowChangeView>(*kept);
        if (!binary) both.push_back(describe(k));
        CHECK(k.relation->columns.size() == 3);
        CHECK_FALSE(k.column_index("note"));
        CHECK(k.value<std::int32_t>("id").has_value());
      }
    });
    if (binary) continue;
    CHECK(server_only == std::vector<std::string>{
                             "insert [id,region,name,note] 1 eu a n1",
                             "update [id,region,name,note] 1 eu a2 n1",
                             "insert [id,region,name,note] 2 eu b2 n2",
                             "delete [id,region,name,note] 1 eu NULL NULL",
                             "delete [id,region,name,note] 2 eu NULL NULL",
                         });
    CHECK(both == std::vector<std::string>{
                      "insert [id,region,name] 1 eu a",
                      "update [id,region,name] 1 eu a2",
                      "insert [id,region,name] 2 eu b2",
                      "delete [id,region,name] 1 eu NULL",
                      "delete [id,region,name] 2 eu NULL",
                  });
  }
}

TEST_CASE("changes filtered out on the client still move the slot") {
  REQUIRE(test::have_server());
  PgSession db;
  const std::string kept_name = test::unique_name("vkeep");
  const std::string skip_name = test::unique_name("vskip");
  const std::string slot = test::unique_name("vfslot");
  const std::string pub = test::unique_name("vfpub");
  const std::string k = db.quote_ident(kept_name), s = db.quote_ident(skip_name);
  test::CleanupSql drop("DROP TABLE IF EXISTS " + k + ", " + s + "; DROP PUBLICATION IF EXISTS " + db.quote_ident(pub));
  test::CleanupSql drop_slot("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = " +
                             db.quote_literal(slot));
  db.exec("CREATE TABLE " + k + " (id int PRIMARY KEY, v text, hidden text)");
  db.exec("CREATE TABLE " + s + " (id int PRIMARY KEY)");
  db.exec("CREATE PUBLICATION " + db.quote_ident(pub) + " FOR TABLE " + k + ", " + s);

  ConnectionConfig cfg;
  cfg.host = test::env_or("PGHOST");
  cfg.port = static_cast<std::uint16_t>(std::stoi(test::env_or("PGPORT")));
  cfg.dbname = test::env_or("PGDATABASE", "postgres");
  cfg.user = test::env_or("PGUSER", "postgres");
  LibpqTransportOptions topts;
  topts.slot_name = slot;
  topts.publication_names = {pub};
  ReplicatorOptions ropts;
  ropts.slot_name = slot;
  ropts.status_interval = std::chrono::milliseconds(100);
  ChangeFilter filter;
  filter.tables.exclude = {skip_name};
  filter.columns = ColumnShaper::make(ColumnFilter({{kept_name, {}, {"hidden"}}}), ToastPolicy::marker);

  std::vector<std::string> seen;
  auto on_event = [&](const ChangeEvent& e) -> Status {
    if (const auto* r = std::get_if<RowChangeView>(&e)) seen.push_back(describe(*r));
    return ok_status();
  };
  auto flush = []() -> Status { return ok_status(); };
  using Sink = CallbackSink<decltype(on_event), decltype(flush)>;
  LiveReplicator<Sink, TransactionBatcher, MemoryPositionStore, ChangeFilter> r(
      LibpqTransport(cfg, topts), PgOutputEventDecoder{}, TransactionBatcher{}, MemoryPositionStore{},
      Sink(on_event, flush), ropts, std::move(filter));
  REQUIRE(r.start());
  db.exec("INSERT INTO " + k + " VALUES (1, 'a', 'h')");
  for (int i = 0; i < 20; ++i) db.exec("INSERT INTO " + s + " VALUES (" + std::to_string(i) + ")");
  const std::string end = *db.scalar("SELECT pg_current_wal_lsn()::text");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool moved = false;
  while (!moved && std::chrono::steady_clock::now() < deadline) {
    auto step = r.run_once(std::chrono::milliseconds(50));
    REQUIRE(step);
    moved =
        *db.scalar("SELECT (confirmed_flush_lsn >= " + db.quote_literal(end) +
                   "::pg_lsn)::text FROM pg_replication_slots WHERE slot_name = " + db.quote_literal(slot)) == "true";
  }
  CHECK(moved);
  CHECK(seen == std::vector<std::string>{"insert [id,v] 1 a"});
  CHECK(r.stats().filtered >= 20);
  (void)r.shutdown();
}
