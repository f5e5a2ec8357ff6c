// Error classes a shared server cannot show, on a private cluster: a crash (immediate shutdown)
// under a live stream is retryable; a server in recovery refuses logical decoding (fatal: pointed
// at a standby, retrying cannot help); a reconnect after a promotion (new timeline) is refused; a
// standby that accepts no connections yet (57P03) is retryable. The other classes are covered in
// tests/transport (28000, 42501, 53300, 3D000, 55006, refused, unreachable, no TLS), tls_test (TLS,
// 28000 client certificate), auth_test (28P01, no password, 42501 REPLICATION / SELECT, fast
// shutdown) and replication_errors_test (55000 invalidated slot, 42704 slot gone).
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "replicator/transport/libpq.hpp"
#include "tests/support/private_cluster.hpp"
#include "tests/program/process.hpp"
#include "tests/support/pg.hpp"

using namespace std::chrono_literals;
using namespace replicator;
using replicator::test::PrivateCluster;
using replicator::test::wait_until;

TEST_CASE("crash, recovery and a standby: each failure in its class") {
  PrivateCluster pg;
  pg.sql("CREATE TABLE t (id int primary key)");
  pg.sql("CREATE PUBLICATION p FOR TABLE t");
  ConnectionConfig c;
  c.host = pg.host();
  c.port = pg.port();
  c.dbname = "postgres";
  c.user = "postgres";
  c.connect_timeout_s = 5;
  LibpqTransportOptions o;
  o.slot_name = "classify_slot";
  o.publication_names = {"p"};

  LibpqTransport t(c, o);  // kept: it remembers the cluster and timeline it streamed from
  {  // 1. An immediate shutdown (a crash, as far as clients can tell) under a live stream: retryable.
    auto st = t.start(Lsn{});
    if (!st) FAIL(st.error().message);
    pg.sql("INSERT INTO t VALUES (1)");
    pg.stop("immediate");
    bool failed = false;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!failed && std::chrono::steady_clock::now() < deadline) {
      auto ev = t.poll(200ms);
      if (!ev) {
        failed = true;
        INFO(ev.error().message);
        CHECK(ev.error().retryable());
      }
    }
    CHECK(failed);
    auto again = t.start(Lsn{});  // nothing listens: still retryable
    REQUIRE_FALSE(again);
    CHECK(again.error().retryable());
  }

  // 2. The same cluster restarted as a standby (in recovery, hot standby on): connections work,
  //    logical decoding does not. Fatal: the program was pointed at a standby.
  pg.start_as_standby();
  REQUIRE(pg.sql("SELECT pg_is_in_recovery()") == "t");
  {
    LibpqTransport fresh(c, o);
    auto st = fresh.start(Lsn{});
    REQUIRE_FALSE(st);
    INFO(st.error().message);
    CHECK_FALSE(st.error().retryable());
    CHECK_THAT(st.error().message, Catch::Contains("recovery"));
  }

  // 2b. Promoted (timeline 2) while the first transport was away: its reconnect is refused, since
  //     the WAL after the switch point may not be what it streamed.
  pg.promote();
  REQUIRE(wait_until([&] { return pg.sql("SELECT pg_is_in_recovery()") == "f"; }, 30s));
  {
    auto st = t.start(Lsn{});
    REQUIRE_FALSE(st);
    INFO(st.error().message);
    CHECK_FALSE(st.error().retryable());
    CHECK_THAT(st.error().message, Catch::Contains("timeline changed") && Catch::Contains("timeline 2"));
  }

  // 3. A standby with hot_standby = off accepts no connections at all: 57P03, retryable (it may be
  //    a primary that is still starting up).
  pg.stop("fast");
  pg.put_file("postgresql.auto.conf", "hot_standby = off\n", 0600);
  pg.start_as_standby(/*wait=*/false);
  std::string sqlstate;
  bool retryable = false;
  REQUIRE(wait_until(
      [&] {
        auto conn = PgConnection::connect(c, ConnectionKind::replication);
        if (conn) return false;
        sqlstate = conn.error().sqlstate;
        retryable = conn.error().retryable();
        return sqlstate == "57P03";
      },
      30s));
  CHECK(retryable);
}
