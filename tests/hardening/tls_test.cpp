// TLS against a private cluster with ssl = on and a CA made with openssl at test time:
// every sslmode (disable, allow, prefer, require, verify-ca, verify-full) connects as libpq
// documents; verify-full fails (fatal, one clear line, exit 1) with a wrong CA or a wrong host
// name; a hostssl clientcert=verify-ca rule is met with postgresql_ssl_cert / postgresql_ssl_key and
// refused (fatal 28000) without them; unreadable certificate or key paths are config errors (exit 2).
#include <signal.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <memory>
#include <string>

#include "replicator/transport/libpq.hpp"
#include "tests/support/pki.hpp"
#include "tests/support/private_cluster.hpp"
#include "tests/hardening/support.hpp"

using namespace std::chrono_literals;
using namespace replicator;
using namespace replicator::test;

namespace {

// One TLS cluster for the whole file: hostssl with a client certificate for cert_user, plain
// host rules (TLS optional) for everyone else.
struct TlsServer {
  std::string dir = scratch_dir("tls");
  Pki pki{dir};
  std::unique_ptr<PrivateCluster> pg;

  TlsServer() {
    PrivateClusterOptions o;
    o.conf = {"ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'", "ssl_ca_file = 'ca.crt'"};
    // Logical replication connections (replication=database) match by database name like normal
    // ones; the `replication` keyword is for physical replication only.
    o.hba = {"hostssl all cert_user 127.0.0.1/32 trust clientcert=verify-ca",
             "hostnossl all cert_user 127.0.0.1/32 reject", "host all all 127.0.0.1/32 trust"};
    o.files = {{"server.crt", PrivateCluster::read_text(dir + "/server.crt")},
               {"server.key", PrivateCluster::read_text(dir + "/server.key")},
               {"ca.crt", PrivateCluster::read_text(pki.ca())}};
    pg = std::make_unique<PrivateCluster>(o);
    pg->sql("CREATE ROLE cert_user LOGIN REPLICATION");
    pg->sql("CREATE TABLE tls_t (id int primary key, note text)");
    pg->sql("GRANT SELECT ON tls_t TO cert_user");
    pg->sql("CREATE PUBLICATION tls_pub FOR TABLE tls_t");
  }
};

TlsServer& server() {
  static TlsServer s;
  return s;
}

ConnectionConfig config(const std::string& host, const std::string& sslmode, const std::string& root = {}) {
  ConnectionConfig c;
  c.host = host;
  c.port = server().pg->port();
  c.dbname = "postgres";
  c.user = "postgres";
  c.sslmode = sslmode;
  c.sslrootcert = root;
  c.connect_timeout_s = 5;
  return c;
}

// Whether the server sees this connection as TLS ("t"/"f"), via pg_stat_ssl.
std::string tls_in_use(PgConnection& conn) {
  auto res = conn.exec("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", "pg_stat_ssl");
  REQUIRE(res);
  return std::string(res->value(0, 0));
}

Target tls_target(const std::string& host) {
  Target t;
  t.host = host;
  t.port = server().pg->port();
  return t;
}

}  // namespace

TEST_CASE("every sslmode against a server with ssl = on") {
  const auto& pki = server().pki;
  struct Case {
    std::string mode, host, root, tls;
  };
  const Case cases[] = {
      {"disable", "127.0.0.1", "", "f"},
      {"allow", "127.0.0.1", "", "f"},  // allow tries plain first
      {"prefer", "127.0.0.1", "", "t"},
      {"require", "127.0.0.1", "", "t"},          // no CA needed
      {"verify-ca", "127.0.0.1", pki.ca(), "t"},  // the CA is checked, the host name is not
      {"verify-full", "localhost", pki.ca(), "t"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.mode) {
      for (auto kind : {ConnectionKind::normal, ConnectionKind::replication}) {
        auto conn = PgConnection::connect(config(c.host, c.mode, c.root), kind);
        if (!conn) FAIL(conn.error().message);
        if (kind == ConnectionKind::normal) CHECK(tls_in_use(*conn) == c.tls);
        CHECK((PQsslInUse(conn->get()) == 1) == (c.tls == "t"));
      }
    }
  }
}

TEST_CASE("verify-ca / verify-full failures are fatal and say why") {
  const auto& pki = server().pki;
  SECTION("verify-full with the right CA but a host name the certificate does not name") {
    auto conn = PgConnection::connect(config("127.0.0.1", "verify-full", pki.ca()), ConnectionKind::replication);
    REQUIRE_FALSE(conn);
    CHECK_FALSE(conn.error().retryable());
    CHECK_THAT(conn.error().message, Catch::Contains("TLS") && Catch::Contains("does not match host name"));
  }
  for (const std::string mode : {"verify-full", "verify-ca"}) {
    DYNAMIC_SECTION(mode << " with a CA that did not sign the server certificate") {
      auto conn = PgConnection::connect(config("localhost", mode, pki.other_ca()), ConnectionKind::normal);
      REQUIRE_FALSE(conn);
      CHECK_FALSE(conn.error().retryable());
      CHECK_THAT(conn.error().message, Catch::Contains("certificate verify failed"));
    }
  }
  SECTION("verify-full with a root certificate file that does not exist") {
    auto conn = PgConnection::connect(config("localhost", "verify-full", server().dir + "/missing.crt"),
                                      ConnectionKind::normal);
    REQUIRE_FALSE(conn);
    CHECK_FALSE(conn.error().retryable());
  }
}

TEST_CASE("client certificates: a hostssl clientcert=verify-ca rule") {
  const auto& pki = server().pki;
  auto cfg = config("localhost", "verify-full", pki.ca());
  cfg.user = "cert_user";
  SECTION("without a client certificate: fatal 28000") {
    auto conn = PgConnection::connect(cfg, ConnectionKind::replication);
    REQUIRE_FALSE(conn);
    CHECK_FALSE(conn.error().retryable());
    CHECK(conn.error().sqlstate == "28000");
  }
  SECTION("with sslcert / sslkey: both connection kinds work") {
    cfg.sslcert = pki.client_cert();
    cfg.sslkey = pki.client_key();
    for (auto kind : {ConnectionKind::normal, ConnectionKind::replication}) {
      auto conn = PgConnection::connect(cfg, kind);
      if (!conn) FAIL(conn.error().message);
      CHECK(PQsslInUse(conn->get()) == 1);
    }
  }
  SECTION("sslmode=disable is refused by the hostnossl reject rule: fatal") {
    cfg.sslmode = "disable";
    cfg.sslrootcert.clear();
    auto conn = PgConnection::connect(cfg, ConnectionKind::normal);
    REQUIRE_FALSE(conn);
    CHECK_FALSE(conn.error().retryable());
    CHECK(conn.error().sqlstate.substr(0, 2) == "28");
  }
}

TEST_CASE("the program over TLS: verify-full streams; wrong CA or host exits 1 with one line; bad paths exit 2") {
  auto& srv = server();
  const auto& pki = srv.pki;
  const std::string dir = scratch_dir("tls_program");
  const std::string slot = unique_name("tls_slot");
  const std::string verify_full =
      "postgresql_ssl_mode: verify-full\npostgresql_ssl_root_cert: " + yaml_quote(pki.ca()) + "\n";

  SECTION("verify-full with the right CA and host name streams (client certificate role)") {
    Target t = tls_target("localhost");
    t.user = "cert_user";
    const std::string yaml = program_config(t, slot, "tls_pub",
                                            verify_full + "postgresql_ssl_cert: " + yaml_quote(pki.client_cert()) +
                                                "\npostgresql_ssl_key: " + yaml_quote(pki.client_key()) +
                                                "\npostgresql_drop_slot_on_exit: true\n");
    write_file(dir + "/ok.yaml", yaml);
    Child child({program_path(), "--config", dir + "/ok.yaml"}, dir + "/ok.out", dir + "/ok.err");
    auto active = [&] {
      return srv.pg->sql("SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = '" + slot + "'") ==
             "1";
    };
    REQUIRE(wait_until([&] { return active() || !child.running(); }, 30s));
    srv.pg->sql("INSERT INTO tls_t VALUES (1, 'over_tls')");
    REQUIRE(wait_until([&] { return read_file(dir + "/ok.out").find("over_tls") != std::string::npos; }, 30s));
    CHECK(srv.pg->sql("SELECT bool_and(ssl) FROM pg_stat_ssl JOIN pg_stat_replication USING (pid)") == "t");
    child.signal(SIGTERM);
    INFO(read_file(dir + "/ok.err"));
    CHECK(child.wait_exit(20s) == 0);
    CHECK(lines_with(read_file(dir + "/ok.err"), "ssl_mode=verify-full").size() == 1);
  }
  SECTION("verify-full against 127.0.0.1 (not in the certificate): exit 1, one line naming the mismatch") {
    const auto r = run_program(program_config(tls_target("127.0.0.1"), slot, "tls_pub", verify_full), dir);
    INFO(r.err);
    CHECK(r.code == 1);
    const auto errors = error_lines(r.err);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Contains("does not match host name") && Catch::Contains("TLS"));
    CHECK(lines_with(r.err, "reconnecting").empty());  // fatal: no retry
  }
  SECTION("verify-full with the wrong CA: exit 1, one line") {
    const std::string wrong_ca =
        "postgresql_ssl_mode: verify-full\npostgresql_ssl_root_cert: " + yaml_quote(pki.other_ca()) + "\n";
    const auto r = run_program(program_config(tls_target("localhost"), slot, "tls_pub", wrong_ca), dir);
    INFO(r.err);
    CHECK(r.code == 1);
    const auto errors = error_lines(r.err);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Contains("certificate verify failed"));
  }
  SECTION("require needs no CA") {
    Target t = tls_target("127.0.0.1");
    const std::string yaml =
        program_config(t, slot, "tls_pub", "postgresql_ssl_mode: require\npostgresql_temp_slot: true\n");
    write_file(dir + "/req.yaml", yaml);
    Child child({program_path(), "--config", dir + "/req.yaml"}, dir + "/req.out", dir + "/req.err");
    const bool up = wait_until(
        [&] {
          return srv.pg->sql("SELECT count(*) FROM pg_replication_slots WHERE active AND slot_name = '" + slot + "'") ==
                     "1" ||
                 !child.running();
        },
        30s);
    INFO(read_file(dir + "/req.err"));
    REQUIRE(up);
    REQUIRE(child.running());
    CHECK(srv.pg->sql("SELECT bool_and(ssl) FROM pg_stat_ssl JOIN pg_stat_replication USING (pid)") == "t");
    child.signal(SIGTERM);
    CHECK(child.wait_exit(20s) == 0);
  }
  SECTION("cert_user without a client certificate: exit 1, one line (28000)") {
    Target t = tls_target("localhost");
    t.user = "cert_user";
    const auto r = run_program(program_config(t, slot, "tls_pub", verify_full), dir);
    INFO(r.err);
    CHECK(r.code == 1);
    const auto errors = error_lines(r.err);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0], Catch::Contains("sqlstate=28000"));
  }
  SECTION("unreadable certificate, key or root certificate paths are config errors naming the path: exit 2") {
    const std::string missing = dir + "/no_such_client.key";
    const std::string a_directory = dir;
    struct Bad {
      std::string key, yaml, path;
    };
    const Bad bad[] = {
        {"postgresql_ssl_key",
         "postgresql_ssl_cert: " + yaml_quote(pki.client_cert()) + "\npostgresql_ssl_key: " + yaml_quote(missing) +
             "\n",
         missing},
        {"postgresql_ssl_key",
         "postgresql_ssl_cert: " + yaml_quote(pki.client_cert()) + "\npostgresql_ssl_key: " + yaml_quote(a_directory) +
             "\n",
         a_directory},
        {"postgresql_ssl_root_cert",
         "postgresql_ssl_mode: verify-full\npostgresql_ssl_root_cert: " + yaml_quote(missing) + "\n", missing},
        {"postgresql_ssl_root_cert", "postgresql_ssl_mode: verify-ca\n", ""},
    };
    for (const auto& b : bad) {
      const auto r = run_program(program_config(tls_target("localhost"), slot, "tls_pub", b.yaml), dir);
      INFO(r.err);
      CHECK(r.code == 2);
      const auto errors = error_lines(r.err);
      REQUIRE(errors.size() == 1);
      CHECK_THAT(errors[0], Catch::Contains("key=" + b.key));
      if (!b.path.empty()) CHECK_THAT(errors[0], Catch::Contains(b.path));
      CHECK(lines_with(r.err, "msg=starting").empty());  // nothing was started
    }
  }
  CHECK(srv.pg->sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "'") == "0");
}
