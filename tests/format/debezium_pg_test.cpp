// format/debezium.hpp against the real server: a workload's changes (insert, update, delete with
// DEFAULT and FULL identity, unchanged TOAST, truncate) decoded with binary=false and binary=true
// produce the same Debezium envelopes, equal to hand-written expected documents once the values
// only the server knows (LSNs, commit times) are put in. Plus the JSON lines sink hook, through a
// live Replicator.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "replicator/format/debezium.hpp"
#include "replicator/live.hpp"
#include "tests/values/peek.hpp"

using namespace replicator;
using test::PeekSlot;
using test::PgSession;

namespace {

constexpr std::int64_t kNow = 1700000000123;

DebeziumOptions options(std::string db) {
  DebeziumOptions o;
  o.server_name = "dbserver1";
  o.database = std::move(db);
  o.version = "test";
  o.transaction_metadata = true;
  o.tombstones = true;
  o.now_ms = [] { return kNow; };
  return o;
}

// Replaces what only the server knows with placeholders, checking its shape on the way:
// "lsn":<digits> -> "lsn":LSN, source "ts_ms":<digits> -> "ts_ms":TS, "sequence":"[..]" -> SEQ.
std::string normalise(std::string line) {
  static const std::regex lsn(R"("lsn":\d+)");
  static const std::regex ts(R"("name":"dbserver1","ts_ms":\d{13},)");
  static const std::regex seq(R"("sequence":"\[(null|\\"\d+\\"),\\"\d+\\"\]")");
  line = std::regex_replace(line, lsn, "\"lsn\":LSN");
  line = std::regex_replace(line, ts, "\"name\":\"dbserver1\",\"ts_ms\":TS,");
  line = std::regex_replace(line, seq, "\"sequence\":SEQ");
  return line;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST_CASE("Debezium envelopes for a workload equal the expected documents, in both wire modes") {
  REQUIRE(test::have_server());
  PgSession db;
  const std::string dbname = *db.scalar("SELECT current_database()");
  const std::string name = test::unique_name("dbz");
  const std::string full_name = name + "_full";
  const std::string t = db.quote_ident(name), tf = db.quote_ident(full_name);
  test::CleanupSql drop("DROP TABLE IF EXISTS " + t + ", " + tf);
  db.exec("CREATE TABLE " + t +
          " (id int PRIMARY KEY, name text, price numeric(10,2), ok bool, at timestamptz,"
          " day date, tags text[], data jsonb, raw bytea, big text, n int8, f float8, ts timestamp(3), u uuid)");
  db.exec("CREATE TABLE " + tf + " (id int PRIMARY KEY, v text)");
  db.exec("ALTER TABLE " + tf + " REPLICA IDENTITY FULL");
  PeekSlot slot(db, "FOR TABLE " + t + ", " + tf);

  const auto xid = [&](const std::string& sql) {
    db.exec("BEGIN");
    db.exec(sql);
    auto x = *db.scalar("SELECT txid_current()::text");
    db.exec("COMMIT");
    return x;
  };
  const std::string x0 =
      xid("INSERT INTO " + t +
          " VALUES (1, 'Anne ⛵', 12.50, true, '2024-05-01 10:00:00.5+00', '2024-05-01',"
          " '{a,NULL,\"b c\"}', '{\"k\": [1, 2]}', '\\x0001ff', repeat('x', 10), 9007199254740993, 'NaN',"
          " '2024-05-01 10:00:00.123', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');"
          " INSERT INTO " +
          tf + " VALUES (7, 'seven')");
  const std::string big = "(SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 300))";
  const std::string x2 = xid("UPDATE " + t + " SET big = " + big + " WHERE id = 1");
  const std::string x3 = xid("UPDATE " + t + " SET name = 'Bob' WHERE id = 1");  // big: unchanged TOAST
  const std::string x4 = xid("UPDATE " + tf + " SET v = 'sept' WHERE id = 7");
  const std::string x5 = xid("DELETE FROM " + t + " WHERE id = 1");
  const std::string x6 = xid("DELETE FROM " + tf);
  const std::string x7 = xid("TRUNCATE " + t + ", " + tf);

  const std::string src_head =
      "\"source\":{\"version\":\"test\",\"connector\":\"postgresql\",\"name\":\"dbserver1\","
      "\"ts_ms\":TS,\"snapshot\":\"false\",\"db\":\"" +
      dbname +
      "\",\"sequence\":SEQ,"
      "\"schema\":\"public\",\"table\":\"";
  auto src = [&](const std::string& table, const std::string& x) {
    return src_head + table + "\",\"txId\":" + x + ",\"lsn\":LSN,\"xmin\":null}";
  };
  auto txn = [](const std::string& x, int total, int per) {
    return "{\"id\":\"" + x + "\",\"total_order\":" + std::to_string(total) +
           ",\"data_collection_order\":" + std::to_string(per) + "}";
  };
  const std::string row1 =
      "\"id\":1,\"name\":\"Anne ⛵\",\"price\":\"BOI=\",\"ok\":true,\"at\":\"2024-05-01T10:00:00.5Z\","
      "\"day\":19844,\"tags\":[\"a\",null,\"b c\"],\"data\":\"{\\\"k\\\": [1, 2]}\",\"raw\":\"AAH/\","
      "\"big\":\"xxxxxxxxxx\",\"n\":9007199254740993,\"f\":\"NaN\",\"ts\":1714557600123,"
      "\"u\":\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"";
  const std::string ts_ms = ",\"ts_ms\":" + std::to_string(kNow);
  const std::vector<std::string> expected_head = {
      "{\"before\":null,\"after\":{" + row1 + "}," + src(name, x0) + ",\"op\":\"c\"" + ts_ms +
          ",\"transaction\":" + txn(x0, 1, 1) + "}",
      "{\"before\":null,\"after\":{\"id\":7,\"v\":\"seven\"}," + src(full_name, x0) + ",\"op\":\"c\"" + ts_ms +
          ",\"transaction\":" + txn(x0, 2, 1) + "}",
  };
  const std::string row3_prefix = "{\"before\":null,\"after\":{\"id\":1,\"name\":\"Bob\",";
  const std::vector<std::string> expected_tail = {
      "{\"before\":{\"id\":7,\"v\":\"seven\"},\"after\":{\"id\":7,\"v\":\"sept\"}," + src(full_name, x4) +
          ",\"op\":\"u\"" + ts_ms + ",\"transaction\":" + txn(x4, 1, 1) + "}",
      // DEFAULT identity: the old key tuple, NULL for the other columns.
      "{\"before\":{\"id\":1,\"name\":null,\"price\":null,\"ok\":null,\"at\":null,\"day\":null,\"tags\":null,"
      "\"data\":null,\"raw\":null,\"big\":null,\"n\":null,\"f\":null,\"ts\":null,\"u\":null},\"after\":null," +
          src(name, x5) + ",\"op\":\"d\"" + ts_ms + ",\"transaction\":" + txn(x5, 1, 1) + "}",
      "null",  // tombstone
      "{\"before\":{\"id\":7,\"v\":\"sept\"},\"after\":null," + src(full_name, x6) + ",\"op\":\"d\"" + ts_ms +
          ",\"transaction\":" + txn(x6, 1, 1) + "}",
      "null",
      "{\"before\":null,\"after\":null," + src(name, x7) + ",\"op\":\"t\"" + ts_ms +
          ",\"transaction\":" + txn(x7, 1, 1) + "}",
      "{\"before\":null,\"after\":null," + src(full_name, x7) + ",\"op\":\"t\"" + ts_ms +
          ",\"transaction\":" + txn(x7, 2, 1) + "}",
  };

  std::vector<std::string> per_mode[2];
  for (bool binary : {false, true}) {
    INFO("binary=" << binary);
    DebeziumFormatter fmt(options(dbname));
    std::string out;
    slot.decode(binary, [&](const ChangeEvent& e) { REQUIRE(fmt.lines(out, e)); });
    std::vector<std::string> lines;
    for (auto& l : split_lines(out)) lines.push_back(normalise(l));
    REQUIRE(lines.size() == 11);
    CHECK(lines[0] == expected_head[0]);
    CHECK(lines[1] == expected_head[1]);
    // x2: a new 9600-character big value.
    CHECK(lines[2].find("\"big\":\"") != std::string::npos);
    CHECK(lines[2].find(src(name, x2)) != std::string::npos);
    // x3: the unchanged TOAST value is Debezium's placeholder.
    CHECK(lines[3].rfind(row3_prefix, 0) == 0);
    CHECK(lines[3].find("\"big\":\"__debezium_unavailable_value\"") != std::string::npos);
    CHECK(lines[3].find(",\"op\":\"u\"") != std::string::npos);
    for (std::size_t k = 0; k < expected_tail.size(); ++k) CHECK(lines[4 + k] == expected_tail[k]);
    per_mode[binary ? 1 : 0] = lines;
  }
  CHECK(per_mode[0] == per_mode[1]);
}

TEST_CASE("a JSON lines sink with the Debezium format, through a live Replicator") {
  REQUIRE(test::have_server());
  PgSession db;
  const std::string name = test::unique_name("dbzlive");
  const std::string t = db.quote_ident(name);
  const std::string slot = test::unique_name("dbzslot");
  const std::string pub = test::unique_name("dbzpub");
  test::CleanupSql drop("DROP TABLE IF EXISTS " + t + "; DROP PUBLICATION IF EXISTS " + db.quote_ident(pub));
  test::CleanupSql drop_slot("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = " +
                             db.quote_literal(slot));
  db.exec("CREATE TABLE " + t + " (id int PRIMARY KEY, v text)");
  db.exec("CREATE PUBLICATION " + db.quote_ident(pub) + " FOR TABLE " + t);

  char dir_template[] = "/tmp/dbz_XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string file = std::string(dir_template) + "/out.jsonl";
  ConnectionConfig cfg;
  cfg.host = test::env_or("PGHOST");
  cfg.port = static_cast<std::uint16_t>(std::stoi(test::env_or("PGPORT")));
  cfg.dbname = test::env_or("PGDATABASE", "postgres");
  cfg.user = test::env_or("PGUSER", "postgres");
  LibpqTransportOptions topts;
  topts.slot_name = slot;
  topts.publication_names = {pub};
  topts.binary = true;
  topts.proto_version = 1;
  auto sink = DebeziumLinesSink::open_file(file, DebeziumFormatter(options(cfg.dbname)));
  REQUIRE(sink);
  ReplicatorOptions ropts;
  ropts.slot_name = slot;
  LiveReplicator<DebeziumLinesSink, TransactionBatcher, MemoryPositionStore> r(
      LibpqTransport(cfg, topts), PgOutputEventDecoder{}, TransactionBatcher{}, MemoryPositionStore{}, std::move(*sink),
      ropts);
  REQUIRE(r.start());
  db.exec("INSERT INTO " + t + " VALUES (1, 'a'), (2, 'b')");
  db.exec("UPDATE " + t + " SET v = 'c' WHERE id = 2");
  std::vector<std::string> lines;
  for (int i = 0; i < 200 && lines.size() < 3; ++i) {
    auto step = r.run_once(std::chrono::milliseconds(50));
    REQUIRE(step);
    std::ifstream in(file);
    lines.clear();
    for (std::string l; std::getline(in, l);) lines.push_back(normalise(l));
  }
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].rfind("{\"before\":null,\"after\":{\"id\":1,\"v\":\"a\"},\"source\":{", 0) == 0);
  CHECK(lines[1].find("\"op\":\"c\"") != std::string::npos);
  CHECK(lines[2].rfind("{\"before\":null,\"after\":{\"id\":2,\"v\":\"c\"}", 0) == 0);
  CHECK(lines[2].find("\"op\":\"u\",\"ts_ms\":1700000000123,\"transaction\":{\"id\":\"") != std::string::npos);
  (void)r.shutdown();
  std::remove(file.c_str());
  ::rmdir(dir_template);
}
