// Wal2JsonEventDecoder against real wal2json output: the captured tests/data/wal2json.stream
// decoded to the same events as the same workload through pgoutput (wal2json_pgoutput.stream),
// typed errors for malformed input, and (with a server) the live differential: one workload,
// a pgoutput slot and a wal2json slot, equal event streams.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "replicator/concepts.hpp"
#include "replicator/format/json.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/transport/libpq.hpp"
#include "replicator/transport/replay.hpp"
#include "replicator/wal2json/decoder.hpp"
#include "replicator/wal2json/pg_catalog.hpp"
#include "tests/data/corpus.hpp"
#include "tests/support/env_config.hpp"
#include "tests/support/event_text.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/runfiles.hpp"

using namespace replicator;
using replicator::wal2json::PgRelationCatalog;
using replicator::wal2json::StaticRelationCatalog;
using replicator::wal2json::Wal2JsonEventDecoder;

namespace {

// The definitions pgoutput announced, each from the WAL position of its Relation message on:
// the catalog as it was when the row was written (what a live catalog gives a stream that keeps up).
class CatalogAsOfStream {
 public:
  void add(Lsn at, const RelationInfo& r) { defs_.emplace_back(at, r); }
  Lsn at;
  Result<std::optional<RelationInfo>, ReplicationError> lookup(std::string_view schema, std::string_view table) {
    std::optional<RelationInfo> best;
    for (const auto& [lsn, r] : defs_)
      if (r.schema == schema && r.name == table && lsn <= at) best = r;
    return best;
  }

 private:
  std::vector<std::pair<Lsn, RelationInfo>> defs_;
};

struct Decoded {
  std::vector<std::string> lines;
  std::vector<std::string> json;  // ChangeJsonFormatter's lines: downstream formatters work on both
};

template <class Decoder, class BeforeEach>
Decoded drain_replay(const std::string& file, Decoder& d, BeforeEach before, const test::EventTextOptions& o) {
  auto t = transport::ReplayTransport(test::read_corpus(file));
  REQUIRE(t.start(Lsn{}));
  Decoded out;
  format::ChangeJsonFormatter fmt;
  for (;;) {
    auto ev = t.poll(std::chrono::milliseconds(0));
    REQUIRE(ev);
    if (std::holds_alternative<EndOfStream>(*ev)) break;
    const auto* msg = std::get_if<WalMessage>(&*ev);
    if (msg == nullptr) continue;
    before(*msg);
    auto st = d.decode(*msg, [&](const ChangeEvent& e) -> Status {
      out.lines.push_back(test::event_text(e, o));
      std::string line;
      if (auto f = fmt.lines(line, e); !f) return f;
      out.json.push_back(line);
      return ok_status();
    });
    INFO((st ? std::string() : st.error().message));
    REQUIRE(st);
  }
  return out;
}

void require_equal_streams(const std::vector<std::string>& expected, const std::vector<std::string>& got) {
  for (std::size_t i = 0; i < std::min(expected.size(), got.size()); ++i) {
    INFO("event " << i);
    REQUIRE(got[i] == expected[i]);
  }
  REQUIRE(got.size() == expected.size());
}

WalMessage json_message(const std::string& text) {
  return WalMessage{
      Lsn{0x100}, Lsn{0x100}, PgTimestamp{}, {reinterpret_cast<const std::byte*>(text.data()), text.size()}, 0, 0};
}

RelationInfo table_t() {
  RelationInfo r;
  r.oid = 16400;
  r.schema = "public";
  r.name = "t";
  r.columns = {{"id", 23, -1, true}, {"v", 25, -1, false}, {"b", 17, -1, false}};
  return r;
}

}  // namespace

TEST_CASE("wal2json stream captured from PostgreSQL 15 decodes to the events of the same changes through pgoutput",
          "[wal2json]") {
  test::EventTextOptions o;
  o.nan_as_null = true;      // the captured plugin is wal2json 2.5 (no numeric-data-types-as-string)
  o.truncate_flags = false;  // wal2json does not send them
  pgoutput::PgOutputEventDecoder pgo;
  CatalogAsOfStream catalog;
  std::vector<RelationInfo> announced;  // Relation messages carry no WAL position: the next row's
  const auto expected = drain_replay(
      "wal2json_pgoutput.stream", pgo,
      [&](const WalMessage& m) {
        if (m.wal_start.is_valid()) {
          for (const auto& r : announced) catalog.add(m.wal_start, r);
          announced.clear();
        }
        // Every Relation message ('R') gives the definition from the next row on.
        if (!m.payload.empty() && static_cast<char>(m.payload[0]) == 'R') {
          auto decoded = pgoutput::PgOutputDecoder{}.decode(m.payload);
          REQUIRE(decoded);
          const auto& rel = std::get<pgoutput::RelationView>(*decoded);
          pgoutput::RelationCache cache;
          auto [info, change] = cache.apply(rel);
          (void)change;
          announced.push_back(*info);
        }
      },
      o);
  REQUIRE(expected.lines.size() > 40);

  Wal2JsonEventDecoder w2j(std::move(catalog));
  const auto got = drain_replay(
      "wal2json.stream", w2j, [&](const WalMessage& m) { w2j.catalog().at = m.wal_start; }, o);
  require_equal_streams(expected.lines, got.lines);
  // The JSON lines differ only where the events do (NaN: none here after normalising; truncate flags).
  CHECK(got.json.size() == expected.json.size());
  // Most messages were parsed where they lay in the file buffer, not copied for padding.
  CHECK(w2j.padding_copies() <= 1);
}

TEST_CASE("Wal2JsonEventDecoder is a DecoderPolicy and a RetiringDecoder", "[wal2json]") {
  STATIC_REQUIRE(DecoderPolicy<Wal2JsonEventDecoder<StaticRelationCatalog>>);
  STATIC_REQUIRE(RetiringDecoder<Wal2JsonEventDecoder<StaticRelationCatalog>>);
  STATIC_REQUIRE(DecoderPolicy<Wal2JsonEventDecoder<PgRelationCatalog>>);
}

TEST_CASE("wal2json values in PostgreSQL's text form", "[wal2json]") {
  Wal2JsonEventDecoder d(StaticRelationCatalog({table_t()}));
  std::vector<std::string> lines;
  auto run = [&](const std::string& json) {
    return d.decode(json_message(json), [&](const ChangeEvent& e) -> Status {
      lines.push_back(test::event_text(e));
      return ok_status();
    });
  };
  REQUIRE(run(R"({"action":"B","xid":7,"timestamp":"2026-12-03 10:00:00.5+01","lsn":"0/200","nextlsn":"0/230"})"));
  CHECK(lines.empty());  // held until the first change, as pgoutput 15 does
  REQUIRE(run(R"({"action":"I","xid":7,"lsn":"0/100","schema":"public","table":"t","columns":[)"
              R"({"name":"id","type":"integer","typeoid":23,"value":-1.5e3},)"
              R"({"name":"v","type":"text","typeoid":25,"value":"a\"b\\c\n\u00e9"},)"
              R"({"name":"b","type":"bytea","typeoid":17,"value":"00ff"}]})"));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] ==
        "begin lsn=0/100 xid=7 commit_lsn=0/200 commit_time=" +
            std::to_string(values::parse_timestamp_text("2026-12-03 09:00:00.5+00", true)->micros_since_2000()));
  CHECK(lines[1].find("new=['-1.5e3', 'a\"b\\c\n\xc3\xa9', '\\x00ff']") != std::string::npos);
  REQUIRE(run(
      R"({"action":"U","xid":7,"lsn":"0/100","schema":"public","table":"t","columns":[)"
      R"({"name":"id","type":"integer","typeoid":23,"value":1},{"name":"v","type":"text","typeoid":25,"value":true}],)"
      R"("identity":[{"name":"id","type":"integer","typeoid":23,"value":1}]})"));
  // b left out (unchanged TOAST); the old key equals the new one, so no old tuple (as pgoutput).
  CHECK(lines.back().find("old(") == std::string::npos);
  CHECK(lines.back().find("new=['1', 't', unchanged-toast]") != std::string::npos);
  REQUIRE(run(
      R"({"action":"U","xid":7,"lsn":"0/100","schema":"public","table":"t","columns":[)"
      R"({"name":"id","type":"integer","typeoid":23,"value":2},{"name":"v","type":"text","typeoid":25,"value":null},)"
      R"({"name":"b","type":"bytea","typeoid":17,"value":null}],)"
      R"("identity":[{"name":"id","type":"integer","typeoid":23,"value":1}]})"));
  CHECK(lines.back().find("old(key)=['1', null, null] new=['2', null, null]") != std::string::npos);
  REQUIRE(run(R"({"action":"C","xid":7,"timestamp":"2026-12-03 10:00:00.5+01","lsn":"0/200","nextlsn":"0/230"})"));
  CHECK(lines.back().rfind("commit lsn=0/100 xid=7 commit_lsn=0/200", 0) == 0);
  CHECK(lines.back().find("end=0/230") != std::string::npos);
  // A transaction with no changes (DDL) gives no events at all.
  const auto before = lines.size();
  REQUIRE(run(R"({"action":"B","xid":8,"timestamp":"2026-12-03 10:00:00+00","lsn":"0/300","nextlsn":"0/330"})"));
  REQUIRE(run(R"({"action":"C","xid":8,"timestamp":"2026-12-03 10:00:00+00","lsn":"0/300","nextlsn":"0/330"})"));
  CHECK(lines.size() == before);
}

TEST_CASE("malformed wal2json input is a typed error with its offset", "[wal2json]") {
  Wal2JsonEventDecoder d(StaticRelationCatalog({table_t()}));
  auto decode = [&](const std::string& json) {
    return d.decode(json_message(json), [](const ChangeEvent&) -> Status { return ok_status(); });
  };
  SECTION("an unknown action") {
    auto st = decode(R"({"action":"X","xid":1})");
    REQUIRE_FALSE(st);
    REQUIRE(st.error().decode_error);
    CHECK(st.error().decode_error->code == Errc::unknown_message);
    CHECK(st.error().decode_error->offset == 10);
    CHECK(st.error().message.find("wal2json") != std::string::npos);
  }
  SECTION("broken JSON") {
    for (const std::string bad :
         {R"({"action":"B",)", R"({"action":"B"} x)", R"([1,2])", "", "{\"action\":\"I\",\"columns\":[{\"name\":1}]}",
          R"({"action":"I","xid":1,"columns":[{"name":"id","value":12a}]})", R"({"action":"B","xid":-1})"}) {
      INFO(bad);
      auto st = decode(bad);
      REQUIRE_FALSE(st);
      REQUIRE(st.error().decode_error);
      CHECK(st.error().decode_error->offset <= bad.size());
    }
  }
  SECTION("a row outside a transaction") {
    auto st = decode(R"({"action":"I","xid":1,"schema":"public","table":"t","columns":[]})");
    REQUIRE_FALSE(st);
    CHECK(st.error().message.find("outside a transaction") != std::string::npos);
  }
}

namespace {

// The workload file split at its "-- changes" and "-- step" lines.
struct Workload {
  std::string schema;
  std::vector<std::string> steps;
};

Workload read_workload() {
  std::ifstream in(test::corpus_path("wal2json_workload.sql"));
  REQUIRE(in);
  Workload w;
  std::string line;
  std::string* current = &w.schema;
  while (std::getline(in, line)) {
    if (line == "-- changes" || line == "-- step") {
      current = &w.steps.emplace_back();
      continue;
    }
    *current += line + "\n";
  }
  return w;
}

// Polls until the walsender has decoded everything before `target` (its keepalive says so),
// decoding each WalMessage on the way.
template <class Decoder>
void drain(LibpqTransport& t, Decoder& d, std::vector<std::string>& out, Lsn target, const test::EventTextOptions& o) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    StandbyStatus ping = t.last_status();
    ping.reply_requested = true;
    REQUIRE(t.send_status(ping));
    for (;;) {
      auto ev = t.poll(std::chrono::milliseconds(200));
      INFO((ev ? std::string() : ev.error().message));
      REQUIRE(ev);
      if (const auto* m = std::get_if<WalMessage>(&*ev)) {
        auto st = d.decode(*m, [&](const ChangeEvent& e) -> Status {
          out.push_back(test::event_text(e, o));
          return ok_status();
        });
        INFO((st ? std::string() : st.error().message));
        REQUIRE(st);
        continue;
      }
      if (const auto* k = std::get_if<Keepalive>(&*ev)) {
        if (k->wal_end >= target) return;
        continue;  // from before target: more is coming
      }
      break;  // idle: ask again
    }
  }
  FAIL("the walsender did not reach " << target.to_string());
}

}  // namespace

TEST_CASE("live: one workload through a pgoutput slot and a wal2json slot gives equal event streams",
          "[wal2json][live]") {
  ConnectionConfig cfg = test::env_config();
  const std::string db = test::unique_name("w2j");
  test::PgSession admin;
  admin.exec("CREATE DATABASE " + db);
  test::CleanupSql drop_db("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
  cfg.dbname = db;
  test::PgSession sql({{"dbname", db}});
  const Workload w = read_workload();
  REQUIRE(w.steps.size() > 20);
  sql.exec(w.schema);

  LibpqTransportOptions po;
  po.slot_name = db + "_pgo";
  po.publication_names = {"pub_all"};
  po.messages = true;
  po.drop_slot_on_exit = true;
  LibpqTransportOptions wo;
  wo.plugin = OutputPlugin::wal2json;
  wo.slot_name = db + "_w2j";
  wo.drop_slot_on_exit = true;
  LibpqTransport pgo_t(cfg, po);
  LibpqTransport w2j_t(cfg, wo);
  REQUIRE(pgo_t.start(Lsn{}));
  REQUIRE(w2j_t.start(Lsn{}));
  REQUIRE(w2j_t.slot()->plugin == "wal2json");

  test::EventTextOptions o;
  o.nan_as_null = !w2j_t.wal2json_numbers_as_strings();  // wal2json 2.5 (Debian 12) has no numeric-data-types-as-string
  o.truncate_flags = false;
  pgoutput::PgOutputEventDecoder pgo;
  Wal2JsonEventDecoder w2j(PgRelationCatalog{cfg});
  std::vector<std::string> expected, got;
  // Each step is streamed before the next runs: the catalog keeps up with the stream, as it does
  // for a program that is not behind (the next test case covers a stream behind its catalog).
  for (const auto& step : w.steps) {
    sql.exec(step);
    const Lsn target = *Lsn::parse(*sql.scalar("SELECT pg_current_wal_lsn()"));
    drain(pgo_t, pgo, expected, target, o);
    drain(w2j_t, w2j, got, target, o);
  }
  REQUIRE(expected.size() > 40);
  require_equal_streams(expected, got);
  // Looked up once per table, and again only after the DDL steps.
  CHECK(w2j.catalog().lookups() < 20);

  // A stream behind its catalog (DDL after the rows, before they are decoded): a known table
  // keeps its cached definition until the DDL transaction passes; a table first seen after a DDL
  // that dropped a column takes the row's own columns (type modifiers from the catalog where the
  // column is still there).
  sql.exec("INSERT INTO t_index VALUES (7, 'behind', 'v')");
  sql.exec("ALTER TABLE t_index ADD COLUMN late text");
  sql.exec("INSERT INTO t_index VALUES (8, 'after', 'v', 'late value')");
  sql.exec("CREATE TABLE t_late (a int PRIMARY KEY, b varchar(5))");
  sql.exec("INSERT INTO t_late VALUES (1, 'x')");
  sql.exec("ALTER TABLE t_late DROP COLUMN b");
  const Lsn target = *Lsn::parse(*sql.scalar("SELECT pg_current_wal_lsn()"));
  std::vector<std::string> lines;
  drain(w2j_t, w2j, lines, target, o);
  REQUIRE(lines.size() == 10);
  CHECK(lines[1].find("t_index oid=") != std::string::npos);
  CHECK(lines[1].find("late") == std::string::npos);
  CHECK(lines[4].rfind("schema_change", 0) == 0);
  CHECK(lines[5].find("late:25:-1 } new=['8', 'after', 'v', 'late value']") != std::string::npos);
  CHECK(lines[8].find("{a:23:-1:key b:1043:-1 } new=['1', 'x']") != std::string::npos);
  CHECK(pgo_t.finish());
  CHECK(w2j_t.finish());

  // A publication of some tables: they become add-tables, escaped for wal2json (a schema with a
  // space, a table with quotes), and no other table is streamed.
  sql.exec("CREATE PUBLICATION pub_some FOR TABLE \"My Schema\".\"Odd \"\"Table\"\"\", t_toast");
  LibpqTransportOptions so = wo;
  so.slot_name = db + "_some";
  so.publication_names = {"pub_some"};
  LibpqTransport some_t(cfg, so);
  REQUIRE(some_t.start(Lsn{}));
  sql.exec("INSERT INTO \"My Schema\".\"Odd \"\"Table\"\"\" VALUES (2, 'x', 'y')");
  sql.exec("INSERT INTO t_index VALUES (9, 'not published', 'v')");
  sql.exec("UPDATE t_toast SET counter = 5");
  Wal2JsonEventDecoder some(PgRelationCatalog{cfg});
  std::vector<std::string> some_lines;
  drain(some_t, some, some_lines, *Lsn::parse(*sql.scalar("SELECT pg_current_wal_lsn()")), o);
  REQUIRE(some_lines.size() == 6);
  CHECK(some_lines[1].find("My Schema.Odd \"Table\"") != std::string::npos);
  CHECK(some_lines[4].find("public.t_toast") != std::string::npos);
  CHECK(some_t.finish());
}
