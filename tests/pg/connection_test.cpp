#include "replicator/pg/connection.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "tests/support/env_config.hpp"
#include "tests/support/pg.hpp"

using namespace replicator;
using replicator::test::CleanupSql;
using replicator::test::PgSession;
using replicator::test::unique_name;

namespace {

// The PG* environment of scripts/with_postgres.sh as a ConnectionConfig.
ConnectionConfig env_config() {
  ConnectionConfig cfg = test::env_config();
  cfg.connect_timeout_s = 10;
  return cfg;
}

// A TCP port on 127.0.0.1 with nothing listening (bound, then closed).
std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

TEST_CASE("ConnectionConfig builds keyword/value pairs, never a conninfo string") {
  ConnectionConfig cfg;
  cfg.host = "db.example";
  cfg.port = 6543;
  cfg.dbname = "app host=evil";  // passed as one value with expand_dbname=0: no injection
  cfg.user = "cdc";
  cfg.password = "s3cr'et pass";
  cfg.sslmode = "verify-full";
  cfg.sslrootcert = "/etc/ca.pem";
  cfg.connect_timeout_s = 7;

  const auto normal = cfg.params(ConnectionKind::normal);
  REQUIRE(normal.find("host"));
  CHECK(*normal.find("host") == "db.example");
  CHECK(*normal.find("port") == "6543");
  CHECK(*normal.find("dbname") == "app host=evil");
  CHECK(*normal.find("password") == "s3cr'et pass");
  CHECK(*normal.find("sslmode") == "verify-full");
  CHECK(*normal.find("sslrootcert") == "/etc/ca.pem");
  CHECK(*normal.find("connect_timeout") == "7");
  CHECK(*normal.find("application_name") == "replicator");
  CHECK(normal.find("replication") == nullptr);
  CHECK(normal.find("sslcert") == nullptr);  // unset settings are left to libpq's defaults

  const auto repl = cfg.params(ConnectionKind::replication);
  REQUIRE(repl.find("replication"));
  CHECK(*repl.find("replication") == "database");

  CHECK(*normal.find("keepalives_idle") == "30");

  ConnectionConfig empty;
  empty.application_name.clear();
  empty.connect_timeout_s = 0;
  empty.tcp_keepalives_idle_s = 0;
  CHECK(empty.params(ConnectionKind::normal).entries.empty());
}

TEST_CASE("redacted() shows the settings but never the password") {
  ConnectionConfig cfg;
  cfg.host = "h";
  cfg.port = 5432;
  cfg.user = "u";
  cfg.password = "hunter2-very-secret";
  const auto text = cfg.redacted();
  CHECK(text.find("hunter2") == std::string::npos);
  CHECK(text.find("password=***") != std::string::npos);
  CHECK(text.find("host=h") != std::string::npos);
  CHECK(text.find("port=5432") != std::string::npos);
  cfg.password.clear();
  CHECK(cfg.redacted().find("password") == std::string::npos);
}

TEST_CASE("ConnectionConfig::validate rejects bad sslmode, negative timeout, NUL bytes") {
  ConnectionConfig cfg;
  CHECK(cfg.validate());
  for (const char* mode : {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}) {
    cfg.sslmode = mode;
    CHECK(cfg.validate());
  }
  cfg.sslmode = "verify_full";
  auto st = cfg.validate();
  REQUIRE_FALSE(st);
  CHECK_FALSE(st.error().retryable());
  CHECK(st.error().message.find("sslmode") != std::string::npos);
  cfg.sslmode.clear();
  cfg.connect_timeout_s = -1;
  CHECK_FALSE(cfg.validate());
  cfg.connect_timeout_s = 1;
  cfg.user = std::string("a\0b", 3);
  st = cfg.validate();
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find("'user'") != std::string::npos);
}

TEST_CASE("classify_sqlstate: fatal and retryable classes") {
  for (const char* fatal : {"28000", "28P01", "42501", "3D000", "42704", "42710", "08P01", "22023", "42601", "55000",
                            "58P01", "XX000", "0A000", "", "1234", "123456"}) {
    INFO(fatal);
    CHECK(classify_sqlstate(fatal) == ErrorKind::fatal);
  }
  for (const char* retry : {"08000", "08003", "08006", "08001", "08004", "57P01", "57P02", "57P03", "55006", "53000",
                            "53100", "53200", "53300", "40001", "40P01", "57014", "58030"}) {
    INFO(retry);
    CHECK(classify_sqlstate(retry) == ErrorKind::retryable);
  }
  STATIC_REQUIRE(classify_sqlstate("55006") == ErrorKind::retryable);
  auto e = make_error("57P01", "terminating connection due to administrator command");
  CHECK(e.retryable());
  CHECK(e.sqlstate == "57P01");
}

TEST_CASE("the SQLSTATE is taken from libpq's verbose connection error format") {
  using detail::sqlstate_from_verbose_message;
  const std::string msg =
      "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  28000: role \"x\" is not permitted to log in\n"
      "LOCATION:  InitializeSessionUserId, miscinit.c:743\n";
  CHECK(sqlstate_from_verbose_message(msg) == "28000");
  CHECK(sqlstate_from_verbose_message("connection to server at \"127.0.0.1\", port 1 failed: Connection refused\n"
                                      "\tIs the server running on that host and accepting TCP/IP connections?\n")
            .empty());
  CHECK(sqlstate_from_verbose_message("FATAL:  3D000: database \"nope\" does not exist") == "3D000");
  CHECK(sqlstate_from_verbose_message("FATAL:  abcde: lower case is no code").empty());
  CHECK(sqlstate_from_verbose_message("x:  1234").empty());
  // Several attempts: the last one counts.
  CHECK(sqlstate_from_verbose_message("FATAL:  57P03: starting\nFATAL:  28P01: bad password") == "28P01");
  CHECK(detail::one_line(detail::strip_verbose_sqlstate(msg)) ==
        "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  role \"x\" is not permitted to log in");
  CHECK(detail::redact("a secret and secret", "secret") == "a *** and ***");
  CHECK(detail::printable("a\nb\x01") == "a?b?");
}

TEST_CASE("a normal and a replication connection to the test server") {
  auto cfg = env_config();
  auto conn = PgConnection::connect(cfg, ConnectionKind::normal);
  REQUIRE(conn);
  CHECK(conn->is_open());
  CHECK(conn->server_version() >= 100000);
  auto res = conn->exec("SELECT 1 + 1, NULL::text", "test");
  REQUIRE(res);
  CHECK(res->value(0, 0) == "2");
  CHECK(res->is_null(0, 1));
  CHECK_FALSE(res->get(0, 1));
  CHECK(res->value(5, 5).empty());  // out of range is empty, not a crash

  const std::string params[] = {"it's; DROP TABLE x"};
  auto echo = conn->exec_params("SELECT $1::text", params, "echo");
  REQUIRE(echo);
  CHECK(echo->value(0, 0) == params[0]);

  auto q = conn->quote_identifier("we\"ird; name");
  REQUIRE(q);
  CHECK(*q == "\"we\"\"ird; name\"");
  auto lit = conn->quote_literal("it's");
  REQUIRE(lit);
  CHECK(*lit == "'it''s'");

  auto bad = conn->exec("SELEC 1", "typo");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().sqlstate == "42601");
  CHECK_FALSE(bad.error().retryable());
  CHECK(bad.error().message.rfind("typo: ", 0) == 0);

  auto repl = PgConnection::connect(cfg, ConnectionKind::replication);
  REQUIRE(repl);
  auto id = identify_system(*repl);
  REQUIRE(id);
  CHECK(id->systemid.size() >= 10);
  CHECK(id->systemid.find_first_not_of("0123456789") == std::string::npos);
  CHECK(id->timeline >= 1);
  CHECK(id->xlogpos.is_valid());
  CHECK(id->dbname == cfg.dbname);
  // The same cluster seen through SQL.
  auto sysid = conn->exec("SELECT system_identifier::text FROM pg_control_system()", "sysid");
  REQUIRE(sysid);
  CHECK(sysid->value(0, 0) == id->systemid);

  CHECK_FALSE(identify_system(*conn));  // needs a replication connection
  CHECK(max_proto_version(150020) == 3);
  CHECK(max_proto_version(160000) == 4);
  CHECK(max_proto_version(140005) == 2);
  CHECK(max_proto_version(130000) == 1);
  CHECK(format_server_version(150020) == "15.20");
}

TEST_CASE("connection failures are classified from SQLSTATE and connection state") {
  PgSession admin;
  auto cfg = env_config();

  SECTION("a role without LOGIN is fatal 28000") {
    const auto role = unique_name("nologin");
    admin.exec("CREATE ROLE " + admin.quote_ident(role) + " NOLOGIN");
    CleanupSql drop("DROP ROLE IF EXISTS " + admin.quote_ident(role));
    cfg.user = role;
    cfg.password = "not-used-but-secret";
    auto conn = PgConnection::connect(cfg, ConnectionKind::normal);
    REQUIRE_FALSE(conn);
    CHECK(conn.error().sqlstate == "28000");
    CHECK_FALSE(conn.error().retryable());
    CHECK(conn.error().message.find("not-used-but-secret") == std::string::npos);
    CHECK(conn.error().message.find('\n') == std::string::npos);
    CHECK(conn.error().message.find("28000:") == std::string::npos);  // code kept out of the text
  }

  SECTION("a role without REPLICATION on a replication connection is fatal 42501") {
    const auto role = unique_name("norepl");
    admin.exec("CREATE ROLE " + admin.quote_ident(role) + " LOGIN NOREPLICATION");
    CleanupSql drop("DROP ROLE IF EXISTS " + admin.quote_ident(role));
    cfg.user = role;
    REQUIRE(PgConnection::connect(cfg, ConnectionKind::normal));  // normal connections are fine
    auto conn = PgConnection::connect(cfg, ConnectionKind::replication);
    REQUIRE_FALSE(conn);
    CHECK(conn.error().sqlstate == "42501");
    CHECK_FALSE(conn.error().retryable());
  }

  SECTION("a role over its connection limit is retryable 53300") {
    const auto role = unique_name("limited");
    admin.exec("CREATE ROLE " + admin.quote_ident(role) + " LOGIN CONNECTION LIMIT 0");
    CleanupSql drop("DROP ROLE IF EXISTS " + admin.quote_ident(role));
    cfg.user = role;
    auto conn = PgConnection::connect(cfg, ConnectionKind::normal);
    REQUIRE_FALSE(conn);
    CHECK(conn.error().sqlstate == "53300");
    CHECK(conn.error().retryable());
  }

  SECTION("an unknown database is fatal 3D000") {
    cfg.dbname = unique_name("nodb");
    auto conn = PgConnection::connect(cfg, ConnectionKind::normal);
    REQUIRE_FALSE(conn);
    CHECK(conn.error().sqlstate == "3D000");
    CHECK_FALSE(conn.error().retryable());
    CHECK(conn.error().message.find(cfg.dbname) != std::string::npos);
  }

  SECTION("connection refused on a closed port is retryable") {
    cfg.host = "127.0.0.1";
    cfg.port = closed_port();
    cfg.password = "do-not-print-me";
    auto conn = PgConnection::connect(cfg, ConnectionKind::replication);
    REQUIRE_FALSE(conn);
    CHECK(conn.error().retryable());
    CHECK(conn.error().sqlstate.empty());
    CHECK(conn.error().message.find("do-not-print-me") == std::string::npos);
    CHECK(conn.error().message.find("password=***") != std::string::npos);
  }

  SECTION("an unreachable host times out or fails as retryable, within the connect timeout") {
    cfg.host = "10.255.255.1";  // not routed here: either no route at once, or silence until the timeout
    cfg.connect_timeout_s = 1;
    const auto started = std::chrono::steady_clock::now();
    auto conn = PgConnection::connect(cfg, ConnectionKind::normal);
    REQUIRE_FALSE(conn);
    CHECK(conn.error().retryable());
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  }

  SECTION("sslmode=require against a server without TLS is fatal") {
    cfg.sslmode = "require";
    auto conn = PgConnection::connect(cfg, ConnectionKind::normal);
    REQUIRE_FALSE(conn);
    CHECK_FALSE(conn.error().retryable());
  }

  SECTION("a terminated backend gives a retryable error on the next query") {
    auto conn = PgConnection::connect(cfg, ConnectionKind::normal);
    REQUIRE(conn);
    admin.exec("SELECT pg_terminate_backend(" + std::to_string(conn->backend_pid()) + ", 5000)");
    auto res = conn->exec("SELECT 1", "after terminate");
    REQUIRE_FALSE(res);
    CHECK(res.error().retryable());
    INFO(res.error().message << " sqlstate=" << res.error().sqlstate);
    CHECK((res.error().sqlstate.empty() || res.error().sqlstate == "57P01"));
  }
}

TEST_CASE("QueryCancel stops a running query from another thread") {
  auto conn = PgConnection::connect(env_config(), ConnectionKind::normal);
  REQUIRE(conn);
  QueryCancel cancel(conn->get());
  const auto t0 = std::chrono::steady_clock::now();
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel.cancel();
  });
  auto res = conn->exec("SELECT pg_sleep(60)", "sleep");
  canceller.join();
  REQUIRE_FALSE(res);
  CHECK(res.error().sqlstate == "57014");  // query_canceled
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30));
  QueryCancel none(nullptr);
  none.cancel();  // no connection: nothing to do
  auto again = conn->exec("SELECT 1", "after cancel");
  REQUIRE(again);
}
