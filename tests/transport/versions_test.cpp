// What differs between PostgreSQL majors, live against the server of scripts/with_postgres.sh
// (any of 14-18 in the version matrix). Each case branches on the server's version and asserts that
// version's real behaviour: protocol 4's Stream Abort fields (16+), the origin option (16+),
// failover slots (17+), two_phase (15+); older servers get the clear fatal error instead.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "replicator/pgoutput/decoder.hpp"
#include "replicator/transport/libpq.hpp"
#include "tests/support/env_config.hpp"
#include "tests/support/pg.hpp"

using namespace replicator;
using replicator::test::env_config;
using namespace std::chrono_literals;
using replicator::test::CleanupSql;
using replicator::test::PgSession;
using replicator::test::unique_name;

namespace {

// server_version_num, checked against the matrix's REPLICATOR_PG_MAJOR when it is set.
int server_version(const PgSession& db) {
  const int v = db.server_version();
  if (const auto major = test::env_or("REPLICATOR_PG_MAJOR"); !major.empty()) CHECK(v / 10000 == std::stoi(major));
  return v;
}

struct PublishedTable {
  PgSession admin;
  std::string table = unique_name("t");
  std::string pub = unique_name("pub");
  CleanupSql drop_table{"DROP TABLE IF EXISTS " + table};
  CleanupSql drop_pub{"DROP PUBLICATION IF EXISTS " + pub};
  PublishedTable() {
    admin.exec("CREATE TABLE " + table + " (id int, v text)");
    admin.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  }
};

LibpqTransportOptions temp_options(const PublishedTable& pt, std::string_view prefix) {
  LibpqTransportOptions o;
  o.slot_name = unique_name(prefix);
  o.publication_names = {pt.pub};
  o.temporary_slot = true;
  return o;
}

// What a stream said, copied out of its buffers.
struct Abort {
  Xid xid = 0, subxid = 0;
  bool has_abort_info = false;
  Lsn abort_lsn;
  PgTimestamp abort_time;
};
struct Seen {
  std::vector<std::string> inserted_ids;  // first column of every Insert, streamed or not
  std::vector<std::string> origins;       // Origin message names
  std::vector<Abort> aborts;
  std::size_t stream_starts = 0;
};

// Decodes the stream into `seen` until `done(seen, message)` says so; FAILs at the time limit.
template <class Done>
void read_into(LibpqTransport& t, pgoutput::PgOutputDecoder& decoder, Seen& seen, Done done,
               std::chrono::seconds limit = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    auto ev = t.poll(200ms);
    REQUIRE(ev);
    if (auto* k = std::get_if<Keepalive>(&*ev)) {
      if (k->reply_requested) REQUIRE(t.send_status(t.last_status()));
      continue;
    }
    REQUIRE_FALSE(std::holds_alternative<EndOfStream>(*ev));
    auto* w = std::get_if<WalMessage>(&*ev);
    if (!w) continue;
    auto msg = decoder.decode(w->payload);
    REQUIRE(msg);
    if (auto* i = std::get_if<pgoutput::InsertView>(&*msg)) seen.inserted_ids.emplace_back(i->new_tuple[0].text());
    if (auto* o = std::get_if<pgoutput::OriginView>(&*msg)) seen.origins.emplace_back(o->name);
    if (std::holds_alternative<pgoutput::StreamStartView>(*msg)) ++seen.stream_starts;
    if (auto* a = std::get_if<pgoutput::StreamAbortView>(&*msg)) {
      seen.aborts.push_back({a->xid, a->subxid, a->has_abort_info, a->abort_lsn, a->abort_time});
    }
    if (done(seen, *msg)) return;
  }
  FAIL("the stream did not get there within the time limit");
}

// Polls until an Insert whose first column is `marker` has been decoded and its transaction ended.
Seen read_until(LibpqTransport& t, const std::string& marker, std::chrono::seconds limit = 60s) {
  Seen seen;
  pgoutput::PgOutputDecoder decoder;
  bool marker_seen = false;
  read_into(
      t, decoder, seen,
      [&](const Seen& s, const pgoutput::Message& m) {
        marker_seen = marker_seen || (!s.inserted_ids.empty() && s.inserted_ids.back() == marker &&
                                      std::holds_alternative<pgoutput::InsertView>(m));
        return marker_seen && std::holds_alternative<pgoutput::CommitView>(m);
      },
      limit);
  return seen;
}

// The insert position: pg_current_wal_lsn() is the write position, which can lag a just-written record.
Lsn current_lsn(const PgSession& db) { return *Lsn::parse(db.scalar("SELECT pg_current_wal_insert_lsn()").value()); }
PgTimestamp server_now(const PgSession& db) {
  // Microseconds since 2000-01-01, as the wire's timestamps.
  const auto s = db.scalar("SELECT (extract(epoch FROM clock_timestamp() - '2000-01-01 00:00:00+00') * 1e6)::bigint");
  return PgTimestamp{std::stoll(s.value())};
}

}  // namespace

TEST_CASE("the server is a supported major (14+); older ones are refused before anything is sent") {
  PgSession db;
  const int v = server_version(db);
  CHECK(check_supported_server(v));
  LibpqTransportOptions o;
  o.slot_name = "s";
  o.publication_names = {"p"};
  CHECK(validate_transport_options(o, v));
  for (int old : {130023, 120000, 100001}) {
    auto st = validate_transport_options(o, old);
    REQUIRE_FALSE(st);
    CHECK_FALSE(st.error().retryable());
    CHECK(st.error().sqlstate == "0A000");
    CHECK_THAT(st.error().message,
               Catch::Contains("is not supported as a replication source") && Catch::Contains("PostgreSQL 14 to 18"));
  }
}

TEST_CASE(
    "Stream Abort of a rolled-back large transaction and of ROLLBACK TO SAVEPOINT (protocol 4 adds LSN and time)") {
  PublishedTable pt;
  const int v = server_version(pt.admin);
  LibpqTransportOptions o = temp_options(pt, "slot_v4");
  // 16+: protocol 4 with streaming=parallel (abort LSN and time); 14/15: the most they have,
  // protocol 2 with streaming=on (no such fields), after checking that 4 is refused.
  o.proto_version = 4;
  o.streaming = StreamingMode::parallel;
  if (v < 160000) {
    LibpqTransport refused(env_config(), o);
    auto st = refused.start(Lsn{});
    REQUIRE_FALSE(st);
    CHECK_FALSE(st.error().retryable());
    CHECK_THAT(st.error().message, Catch::Contains("proto_version 4 needs PostgreSQL 16"));
    o.proto_version = 2;
    o.streaming = StreamingMode::on;
  }
  LibpqTransport t(env_config(), o);
  REQUIRE(t.start(Lsn{}));

  // logical_decoding_work_mem is 64kB on the test servers: 1000 rows are streamed before their end.
  // Each rollback waits until the server has streamed the rows: PostgreSQL 18 drops a transaction
  // it finds already aborted instead of streaming it, so a rollback decoded late sends nothing.
  PgSession writer;
  pgoutput::PgOutputDecoder decoder;
  Seen seen;
  auto streamed = [&](std::size_t starts) {
    read_into(t, decoder, seen, [&](const Seen& s, const pgoutput::Message&) { return s.stream_starts >= starts; });
  };
  const Lsn before_whole = current_lsn(pt.admin);
  const PgTimestamp time_before = server_now(pt.admin);
  writer.exec("BEGIN; INSERT INTO " + pt.table + " SELECT g, repeat('r', 100) FROM generate_series(1, 1000) g");
  streamed(1);
  writer.exec("ROLLBACK");
  const Lsn after_whole = current_lsn(pt.admin);
  writer.exec("BEGIN; INSERT INTO " + pt.table +
              " SELECT g, 'kept' FROM generate_series(1, 300) g; SAVEPOINT s1; "
              "INSERT INTO " +
              pt.table + " SELECT g, repeat('s', 100) FROM generate_series(1, 1000) g");
  streamed(seen.stream_starts + 1);
  writer.exec("ROLLBACK TO SAVEPOINT s1; INSERT INTO " + pt.table + " VALUES (-2, 'after savepoint'); COMMIT");
  const Lsn after_sub = current_lsn(pt.admin);
  const PgTimestamp time_after = server_now(pt.admin);
  pt.admin.exec("INSERT INTO " + pt.table + " VALUES (-99, 'marker')");
  bool marker_seen = false;
  read_into(t, decoder, seen, [&](const Seen& s, const pgoutput::Message& m) {
    marker_seen = marker_seen || (std::holds_alternative<pgoutput::InsertView>(m) && s.inserted_ids.back() == "-99");
    return marker_seen && std::holds_alternative<pgoutput::CommitView>(m);
  });

  CHECK(seen.stream_starts >= 2);
  REQUIRE(seen.aborts.size() == 2);
  const Abort& whole = seen.aborts[0];
  const Abort& sub = seen.aborts[1];
  CHECK(whole.xid == whole.subxid);
  CHECK(sub.xid != sub.subxid);
  if (v >= 160000) {
    CHECK(whole.has_abort_info);
    CHECK(sub.has_abort_info);
    // The abort records lie where the statements wrote them, at the time they ran.
    CHECK(whole.abort_lsn > before_whole);
    CHECK(whole.abort_lsn <= after_whole);
    CHECK(sub.abort_lsn > after_whole);
    CHECK(sub.abort_lsn <= after_sub);
    CHECK(whole.abort_time >= time_before);
    CHECK(whole.abort_time <= sub.abort_time);
    CHECK(sub.abort_time <= time_after);
  } else {
    CHECK_FALSE(whole.has_abort_info);
    CHECK_FALSE(sub.has_abort_info);
  }
  // The marker after the savepoint's parent committed: -2 came through, the rolled-back rows' abort did too.
  CHECK(std::find(seen.inserted_ids.begin(), seen.inserted_ids.end(), "-2") != seen.inserted_ids.end());
  REQUIRE(t.finish());
}

TEST_CASE("origin: none skips changes made with a replication origin (16+); any streams them; 14/15 refuse none") {
  PublishedTable pt;
  const int v = server_version(pt.admin);
  const std::string origin = unique_name("origin");
  pt.admin.exec("SELECT pg_replication_origin_create(" + pt.admin.quote_literal(origin) + ")");
  CleanupSql drop_origin("SELECT pg_replication_origin_drop(" + pt.admin.quote_literal(origin) + ")");

  // One change from a session replaying as `origin` (as another replicator's apply would), one local.
  auto write = [&](const std::string& tag) {
    PgSession writer;
    writer.exec("SELECT pg_replication_origin_session_setup(" + writer.quote_literal(origin) + ")");
    writer.exec("INSERT INTO " + pt.table + " VALUES (1, 'from origin " + tag + "')");
    writer.exec("SELECT pg_replication_origin_session_reset()");
    pt.admin.exec("INSERT INTO " + pt.table + " VALUES (2, 'local " + tag + "')");
  };

  SECTION("any (the default, never sent): both changes, the first with its Origin message") {
    LibpqTransportOptions o = temp_options(pt, "slot_origin_any");
    LibpqTransport t(env_config(), o);
    REQUIRE(t.start(Lsn{}));
    write("any");
    const Seen seen = read_until(t, "2");
    CHECK(seen.inserted_ids == std::vector<std::string>{"1", "2"});
    CHECK(seen.origins == std::vector<std::string>{origin});
    REQUIRE(t.finish());
  }
  SECTION("none") {
    LibpqTransportOptions o = temp_options(pt, "slot_origin_none");
    o.origin = OriginFilter::none;
    LibpqTransport t(env_config(), o);
    if (v < 160000) {
      auto st = t.start(Lsn{});
      REQUIRE_FALSE(st);
      CHECK_FALSE(st.error().retryable());
      CHECK_THAT(st.error().message, Catch::Contains("origin: none needs PostgreSQL 16 or later"));
      return;
    }
    REQUIRE(t.start(Lsn{}));
    write("none");
    const Seen seen = read_until(t, "2");
    CHECK(seen.inserted_ids == std::vector<std::string>{"2"});
    CHECK(seen.origins.empty());
    REQUIRE(t.finish());
  }
}

TEST_CASE(
    "failover slots: CREATE_REPLICATION_SLOT ... (FAILOVER true) on 17+, an existing slot altered; older servers "
    "refuse") {
  PublishedTable pt;
  const int v = server_version(pt.admin);
  LibpqTransportOptions o;
  o.slot_name = unique_name("slot_failover");
  o.publication_names = {pt.pub};
  o.failover_slot = true;
  o.drop_slot_on_exit = true;
  CleanupSql drop_later("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '" +
                        o.slot_name + "' AND NOT active");
  auto failover_of = [&](const std::string& slot) {
    return pt.admin.scalar("SELECT failover FROM pg_replication_slots WHERE slot_name = " +
                           pt.admin.quote_literal(slot));
  };
  if (v < 170000) {
    LibpqTransport t(env_config(), o);
    auto st = t.start(Lsn{});
    REQUIRE_FALSE(st);
    CHECK_FALSE(st.error().retryable());
    CHECK_THAT(st.error().message, Catch::Contains("postgresql_failover_slot") &&
                                       Catch::Contains("failover slots need PostgreSQL 17 or later"));
    // Refused before the slot was made.
    CHECK(pt.admin.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + o.slot_name + "'") == "0");
    return;
  }
  SECTION("created as a failover slot") {
    LibpqTransport t(env_config(), o);
    REQUIRE(t.start(Lsn{}));
    REQUIRE(t.slot());
    CHECK(t.slot()->created);
    CHECK(t.slot()->failover);
    CHECK(failover_of(o.slot_name) == "t");
    pt.admin.exec("INSERT INTO " + pt.table + " VALUES (7, 'through a failover slot')");
    const Seen seen = read_until(t, "7");
    CHECK(seen.inserted_ids == std::vector<std::string>{"7"});
    REQUIRE(t.finish());
  }
  SECTION("an existing slot made without FAILOVER is altered") {
    pt.admin.exec("SELECT pg_create_logical_replication_slot('" + o.slot_name + "', 'pgoutput')");
    CHECK(failover_of(o.slot_name) == "f");
    LibpqTransport t(env_config(), o);
    REQUIRE(t.start(Lsn{}));
    CHECK_FALSE(t.slot()->created);
    CHECK(t.slot()->failover);
    CHECK(failover_of(o.slot_name) == "t");
    REQUIRE(t.finish());
  }
  SECTION("a temporary slot cannot be a failover slot") {
    o.temporary_slot = true;
    o.drop_slot_on_exit = false;
    LibpqTransport t(env_config(), o);
    auto st = t.start(Lsn{});
    REQUIRE_FALSE(st);
    CHECK_THAT(st.error().message, Catch::Contains("temporary slot cannot be a failover slot"));
  }
}

TEST_CASE("two_phase: PostgreSQL 14's pgoutput cannot decode prepared transactions, named at start; 15+ streams them") {
  PublishedTable pt;
  const int v = server_version(pt.admin);
  LibpqTransportOptions o = temp_options(pt, "slot_2pc");
  o.two_phase = true;
  o.proto_version = 3;
  LibpqTransport t(env_config(), o);
  if (v < 150000) {
    for (int proto : {3, 2}) {  // the key is named whatever proto_version says
      o.proto_version = proto;
      LibpqTransport old(env_config(), o);
      auto st = old.start(Lsn{});
      REQUIRE_FALSE(st);
      CHECK_FALSE(st.error().retryable());
      CHECK_THAT(st.error().message, Catch::StartsWith("two_phase: pgoutput on PostgreSQL 14") &&
                                         Catch::Contains("needs PostgreSQL 15 or later"));
    }
    // Slot creation says the same (the program's initial snapshot creates the slot itself).
    auto repl = PgConnection::connect(env_config(), ConnectionKind::replication);
    REQUIRE(repl);
    SlotOptions so;
    so.name = unique_name("slot_2pc_direct");
    so.temporary = true;
    so.two_phase = true;
    auto created = create_slot(*repl, so);
    REQUIRE_FALSE(created);
    CHECK_THAT(created.error().message, Catch::StartsWith("two_phase:"));
    return;
  }
  REQUIRE(t.start(Lsn{}));
  pt.admin.exec("BEGIN; INSERT INTO " + pt.table + " VALUES (5, 'prepared'); PREPARE TRANSACTION '" + o.slot_name +
                "'");
  CleanupSql rollback_prepared("ROLLBACK PREPARED '" + o.slot_name + "'");
  pgoutput::PgOutputDecoder decoder;
  bool prepared = false;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!prepared && std::chrono::steady_clock::now() < deadline) {
    auto ev = t.poll(200ms);
    REQUIRE(ev);
    auto* w = std::get_if<WalMessage>(&*ev);
    if (!w) continue;
    auto msg = decoder.decode(w->payload);
    REQUIRE(msg);
    if (auto* p = std::get_if<pgoutput::PrepareView>(&*msg)) prepared = p->gid == o.slot_name;
  }
  CHECK(prepared);
  REQUIRE(t.finish());
}
