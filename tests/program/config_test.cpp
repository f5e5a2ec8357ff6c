// Config loading: defaults, every bad-key class with its message naming the key, env and flag
// precedence, and that a password never shows up in errors or the printed config.
#include "config.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>

using namespace replicator::program;
using replicator::Lsn;
using replicator::OriginFilter;
using replicator::StreamingMode;

namespace {

const char* kMinimal =
    "postgresql_database: appdb\n"
    "postgresql_slot_name: slot_a\n"
    "postgresql_publication_name: pub_a\n";

Config load_ok(const std::string& yaml, const Environment& env = {}, const CommandLine& cli = {}) {
  auto r = load_config_text(yaml, "test.yaml", cli, env);
  if (!r) FAIL(r.error().describe());
  return *r;
}

ConfigError load_err(const std::string& yaml, const Environment& env = {}, const CommandLine& cli = {}) {
  auto r = load_config_text(yaml, "test.yaml", cli, env);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

CommandLine args(std::initializer_list<const char*> a) {
  std::vector<const char*> argv{"replicator"};
  argv.insert(argv.end(), a.begin(), a.end());
  auto r = parse_command_line(static_cast<int>(argv.size()), argv.data());
  if (!r) FAIL(r.error().describe());
  return *r;
}

std::string temp_path(const char* name) {
  return std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") + "/" + name + "." +
         std::to_string(::getpid());
}

}  // namespace

TEST_CASE("defaults with only the required keys") {
  const Config c = load_ok(kMinimal);
  CHECK(c.source.host == "localhost");
  CHECK(c.source.port == 5432);
  CHECK(c.database() == "appdb");
  CHECK(c.slot_name() == "slot_a");
  CHECK(c.stream.publication_names == std::vector<std::string>{"pub_a"});
  CHECK(c.plugin_name == "pgoutput");
  CHECK(c.source.sslmode == "prefer");
  CHECK(c.stream.create_slot);
  CHECK_FALSE(c.stream.drop_slot_on_exit);
  CHECK_FALSE(c.stream.temporary_slot);
  CHECK(c.stream.proto_version == 1);
  CHECK(c.position_store == PositionStoreKind::memory);
  CHECK(c.sink == SinkKind::stdout_lines);
  CHECK(c.stream.status_interval == std::chrono::milliseconds(10000));
  CHECK(c.reconnect.initial == std::chrono::milliseconds(100));
  CHECK(c.reconnect.max == std::chrono::milliseconds(30000));
  CHECK(c.reconnect.multiplier == 2.0);
  CHECK(c.log_level == LogLevel::info);
  CHECK_FALSE(c.start_lsn.is_valid());
}

TEST_CASE("every key parses from the file") {
  const std::string cert = temp_path("cert.pem");
  const std::string key = temp_path("key.pem");
  const std::string ca = temp_path("ca.pem");
  for (const auto& p : {cert, key, ca}) std::ofstream(p) << "x";
  const Config c = load_ok(std::string(kMinimal) +
                           "postgresql_host: db.example\n"
                           "postgresql_port: 6543\n"
                           "postgresql_user: cdc\n"
                           "postgresql_password: s3cret\n"
                           "postgresql_plugin_name: pgoutput\n"
                           "postgresql_start_lsn: 16/B374D848\n"
                           "postgresql_ssl_mode: verify-full\n"
                           "postgresql_ssl_cert: " +
                           cert +
                           "\n"
                           "postgresql_ssl_key: " +
                           key +
                           "\n"
                           "postgresql_ssl_root_cert: " +
                           ca +
                           "\n"
                           "postgresql_create_slot: no\n"
                           "postgresql_drop_slot_on_exit: yes\n"
                           "postgresql_temp_slot: false\n"
                           "proto_version: 3\n"
                           "binary: true\n"
                           "messages: on\n"
                           "streaming: true\n"
                           "two_phase: true\n"
                           "position_store: postgresql\n"
                           "position_table: cdc.positions\n"
                           "position_dsn: host=other dbname=meta\n"
                           "batch_max_changes: 10\n"
                           "batch_max_bytes: 4096\n"
                           "batch_max_delay_ms: 0\n"
                           "include_tables: [public.*, sales.orders]\n"
                           "exclude_tables:\n  - public.tmp_*\n"
                           "include_operations: insert, delete\n"
                           "sink: file\n"
                           "sink_file: /tmp/out.jsonl\n"
                           "status_interval_ms: 500\n"
                           "reconnect_initial_ms: 50\n"
                           "reconnect_max_ms: 1000\n"
                           "reconnect_multiplier: 1.5\n"
                           "log_level: debug\n");
  CHECK(c.source.host == "db.example");
  CHECK(c.source.port == 6543);
  CHECK(c.source.user == "cdc");
  CHECK(c.source.password == "s3cret");
  CHECK(c.start_lsn == Lsn{(std::uint64_t{0x16} << 32) | 0xB374D848});
  CHECK(c.source.sslmode == "verify-full");
  CHECK(c.source.sslrootcert == ca);
  CHECK_FALSE(c.stream.create_slot);
  CHECK(c.stream.drop_slot_on_exit);
  CHECK(c.stream.proto_version == 3);
  CHECK(c.stream.binary);
  CHECK(c.stream.messages);
  CHECK(c.stream.streaming == StreamingMode::on);
  CHECK(c.stream.two_phase);
  CHECK(c.position_store == PositionStoreKind::postgresql);
  CHECK(c.position_table == "cdc.positions");
  CHECK(c.position_dsn == "host=other dbname=meta");
  CHECK(c.batch_limits.max_rows == 10);
  CHECK(c.batch_limits.max_bytes == 4096);
  CHECK(c.batch_limits.max_age == std::chrono::milliseconds(0));
  CHECK(c.include_tables == std::vector<std::string>{"public.*", "sales.orders"});
  CHECK(c.exclude_tables == std::vector<std::string>{"public.tmp_*"});
  CHECK(c.include_operations == std::vector<std::string>{"insert", "delete"});
  CHECK(c.sink == SinkKind::file);
  CHECK(c.sink_file == "/tmp/out.jsonl");
  CHECK(c.stream.status_interval == std::chrono::milliseconds(500));
  CHECK(c.reconnect.multiplier == 1.5);
  CHECK(c.log_level == LogLevel::debug);
  for (const auto& p : {cert, key, ca}) std::remove(p.c_str());
}

TEST_CASE("an unknown key names itself, its line and the closest key") {
  const auto e = load_err(std::string(kMinimal) + "postgresql_hots: db\n");
  CHECK(e.key == "postgresql_hots");
  CHECK(e.where == "test.yaml:4:1");
  const std::string d = e.describe();
  CHECK(d.find("unknown key") != std::string::npos);
  CHECK(d.find("did you mean postgresql_host?") != std::string::npos);
  CHECK(closest_key("host") == "postgresql_host");
  CHECK(closest_key("slot_name") == "postgresql_slot_name");
  CHECK(closest_key("completely_unrelated_thing_xyz").empty());
}

TEST_CASE("wrong types name the key and the line") {
  SECTION("integer") {
    const auto e = load_err(std::string(kMinimal) + "postgresql_port: abc\n");
    CHECK(e.key == "postgresql_port");
    CHECK(e.where == "test.yaml:4:18");
    CHECK(e.message.find("integer") != std::string::npos);
  }
  SECTION("list where a scalar belongs") {
    const auto e = load_err(std::string(kMinimal) + "postgresql_port: [1, 2]\n");
    CHECK(e.key == "postgresql_port");
    CHECK(e.message.find("got a list") != std::string::npos);
  }
  SECTION("mapping where a string belongs") {
    const auto e = load_err(std::string(kMinimal) + "postgresql_host: {a: 1}\n");
    CHECK(e.key == "postgresql_host");
    CHECK(e.message.find("mapping") != std::string::npos);
  }
  SECTION("bool") {
    const auto e = load_err(std::string(kMinimal) + "postgresql_create_slot: maybe\n");
    CHECK(e.key == "postgresql_create_slot");
    CHECK(e.message.find("true or false") != std::string::npos);
  }
  SECTION("enum") {
    const auto e = load_err(std::string(kMinimal) + "postgresql_ssl_mode: always\n");
    CHECK(e.key == "postgresql_ssl_mode");
    CHECK(e.message.find("verify-full") != std::string::npos);
  }
  SECTION("number") {
    const auto e = load_err(std::string(kMinimal) + "reconnect_multiplier: 0.5\n");
    CHECK(e.key == "reconnect_multiplier");
  }
  SECTION("list of operations") {
    const auto e = load_err(std::string(kMinimal) + "include_operations: [insert, upsert]\n");
    CHECK(e.key == "include_operations");
    CHECK(e.message.find("upsert") != std::string::npos);
  }
}

TEST_CASE("out-of-range values") {
  for (const char* port : {"0", "65536", "70000", "-1", "99999999999999999999"}) {
    const auto e = load_err(std::string(kMinimal) + "postgresql_port: " + port + "\n");
    CHECK(e.key == "postgresql_port");
    CHECK(e.message.find("1 to 65535") != std::string::npos);
  }
  CHECK(load_err(std::string(kMinimal) + "proto_version: 5\n").key == "proto_version");
  CHECK(load_err(std::string(kMinimal) + "status_interval_ms: 5\n").key == "status_interval_ms");
  CHECK(load_err(std::string(kMinimal) + "reconnect_initial_ms: 500\nreconnect_max_ms: 100\n").key ==
        "reconnect_max_ms");
  CHECK(load_ok(std::string(kMinimal) + "postgresql_port: 65535\n").source.port == 65535);
  CHECK(load_ok(std::string(kMinimal) + "postgresql_port: 1\n").source.port == 1);
}

TEST_CASE("a bad LSN names the key") {
  for (const char* lsn : {"16B3748", "0/", "G/1", "123456789/0", "0/0/0"}) {
    const auto e = load_err(std::string(kMinimal) + "postgresql_start_lsn: '" + lsn + "'\n");
    CHECK(e.key == "postgresql_start_lsn");
    CHECK(e.message.find("LSN") != std::string::npos);
  }
}

TEST_CASE("unreadable cert and key files name the key and the path") {
  const std::string missing = temp_path("no-such-cert.pem");
  const std::string key = temp_path("key2.pem");
  std::ofstream(key) << "x";
  const auto e =
      load_err(std::string(kMinimal) + "postgresql_ssl_cert: " + missing + "\npostgresql_ssl_key: " + key + "\n");
  CHECK(e.key == "postgresql_ssl_cert");
  CHECK(e.message.find(missing) != std::string::npos);
  CHECK(e.message.find("No such file") != std::string::npos);
  const auto e2 = load_err(std::string(kMinimal) + "postgresql_ssl_root_cert: " + missing + "\n");
  CHECK(e2.key == "postgresql_ssl_root_cert");
  const auto e3 = load_err(std::string(kMinimal) + "postgresql_ssl_key: " + key + "\n");
  CHECK(e3.key == "postgresql_ssl_key");  // a key without a certificate
  const auto e4 = load_err(std::string(kMinimal) + "postgresql_ssl_mode: verify-full\n");
  CHECK(e4.key == "postgresql_ssl_root_cert");
  std::remove(key.c_str());
}

TEST_CASE("missing required keys") {
  const auto e = load_err("postgresql_slot_name: s\npostgresql_publication_name: p\n");
  CHECK(e.key == "postgresql_database");
  CHECK(e.message.find("REPLICATOR_POSTGRESQL_DATABASE") != std::string::npos);
  CHECK(e.message.find("--postgresql-database") != std::string::npos);
  CHECK(load_err("postgresql_database: d\npostgresql_publication_name: p\n").key == "postgresql_slot_name");
  CHECK(load_err("postgresql_database: d\npostgresql_slot_name: s\n").key == "postgresql_publication_name");
  CHECK(load_err("").key == "postgresql_database");
  // "key:" with no value is "not set".
  CHECK(load_err("postgresql_database:\npostgresql_slot_name: s\npostgresql_publication_name: p\n").key ==
        "postgresql_database");
}

TEST_CASE("cross-key rules") {
  CHECK(load_err(std::string(kMinimal) + "position_store: file\n").key == "position_file");
  CHECK(load_err(std::string(kMinimal) + "sink: file\n").key == "sink_file");
  CHECK(load_err(std::string(kMinimal) + "streaming: true\n").key == "streaming");
  CHECK(load_err(std::string(kMinimal) + "proto_version: 2\ntwo_phase: true\n").key == "two_phase");
  CHECK(load_err(std::string(kMinimal) + "postgresql_temp_slot: true\npostgresql_create_slot: false\n").key ==
        "postgresql_temp_slot");
  CHECK(load_err(std::string(kMinimal) + "position_store: postgresql\nposition_table: a.b.c\n").key ==
        "position_table");
  const auto slot =
      load_err("postgresql_database: d\npostgresql_publication_name: p\npostgresql_slot_name: \"Bad Slot;\"\n");
  CHECK(slot.key == "postgresql_slot_name");
  CHECK(load_err("postgresql_database: d\npostgresql_publication_name: p\npostgresql_slot_name: " +
                 std::string(64, 'a') + "\n")
            .key == "postgresql_slot_name");
}

TEST_CASE("plugins: pgoutput and wal2json; pgoutput options refused with wal2json") {
  const auto o = load_err(std::string(kMinimal) + "postgresql_plugin_name: test_decoding\n");
  CHECK(o.key == "postgresql_plugin_name");
  CHECK(o.message.find("use pgoutput or wal2json") != std::string::npos);
  for (const char* option : {"binary: true\n", "streaming: true\nproto_version: 2\n",
                             "two_phase: true\nproto_version: 3\n", "origin: none\n"}) {
    INFO(option);
    const auto e = load_err(std::string(kMinimal) + "postgresql_plugin_name: wal2json\n" + option);
    CHECK(e.message.find("is a pgoutput option; wal2json has none") != std::string::npos);
  }
  CHECK(load_ok(std::string(kMinimal) + "postgresql_plugin_name: wal2json\n").plugin_name == "wal2json");
}

TEST_CASE("YAML syntax errors and shapes") {
  const auto e = load_err("postgresql_database: [unclosed\n");
  CHECK(e.message.find("invalid YAML") != std::string::npos);
  CHECK(e.where.rfind("test.yaml:", 0) == 0);
  CHECK(load_err("- a\n- b\n").message.find("mapping") != std::string::npos);
  const auto dup = load_err(std::string(kMinimal) + "postgresql_port: 1\npostgresql_port: 2\n");
  CHECK(dup.key == "postgresql_port");
  CHECK(dup.message.find("twice") != std::string::npos);
}

TEST_CASE("precedence: flag > env > file > default") {
  const std::string yaml = std::string(kMinimal) + "postgresql_host: from-file\npostgresql_port: 1111\n";
  CHECK(load_ok(yaml).source.host == "from-file");
  const Environment env{{"REPLICATOR_POSTGRESQL_HOST", "from-env"},
                        {"REPLICATOR_BATCH_MAX_CHANGES", "7"},
                        {"REPLICATOR_INCLUDE_TABLES", "a.*, b.c"}};
  const Config e = load_ok(yaml, env);
  CHECK(e.source.host == "from-env");
  CHECK(e.source.port == 1111);
  CHECK(e.batch_limits.max_rows == 7);
  CHECK(e.include_tables == std::vector<std::string>{"a.*", "b.c"});
  const Config f = load_ok(yaml, env, args({"--postgresql-host=from-flag", "--postgresql-port", "2222", "--binary"}));
  CHECK(f.source.host == "from-flag");
  CHECK(f.source.port == 2222);
  CHECK(f.stream.binary);
  // Env alone supplies required keys; an empty env value counts as unset.
  const Config only_env = load_ok("", {{"REPLICATOR_POSTGRESQL_DATABASE", "d"},
                                       {"REPLICATOR_POSTGRESQL_SLOT_NAME", "s"},
                                       {"REPLICATOR_POSTGRESQL_PUBLICATION_NAME", "p"},
                                       {"REPLICATOR_POSTGRESQL_HOST", ""}});
  CHECK(only_env.source.host == "localhost");
  // Unrelated REPLICATOR_* variables (the test harness sets some) are ignored.
  CHECK(load_ok(kMinimal, {{"REPLICATOR_PG_BIN", "/x"}}).source.host == "localhost");
}

TEST_CASE("a bad value from env or a flag says where it came from") {
  const auto e = load_err(kMinimal, {{"REPLICATOR_POSTGRESQL_PORT", "http"}});
  CHECK(e.key == "postgresql_port");
  CHECK(e.where == "environment REPLICATOR_POSTGRESQL_PORT");
  const auto f = load_err(kMinimal, {}, args({"--postgresql-port=0"}));
  CHECK(f.where == "flag --postgresql-port");
}

TEST_CASE("password sources: PGPASSWORD is the fallback") {
  CHECK(load_ok(kMinimal, {{"PGPASSWORD", "pgpw"}}).source.password == "pgpw");
  CHECK(load_ok(std::string(kMinimal) + "postgresql_password: filepw\n", {{"PGPASSWORD", "pgpw"}}).source.password ==
        "filepw");
  CHECK(load_ok(std::string(kMinimal) + "postgresql_password: filepw\n",
                {{"PGPASSWORD", "pgpw"}, {"REPLICATOR_POSTGRESQL_PASSWORD", "envpw"}})
            .source.password == "envpw");
}

TEST_CASE("the password never appears in errors or the printed config") {
  const std::string pw = "Sup3r-S3cret-pw";
  SECTION("wrong type") {
    const auto e = load_err(std::string(kMinimal) + "postgresql_password: [" + pw + "]\n");
    CHECK(e.key == "postgresql_password");
    CHECK(e.describe().find(pw) == std::string::npos);
  }
  SECTION("another key is bad") {
    const auto e = load_err(std::string(kMinimal) + "postgresql_password: " + pw + "\npostgresql_port: x\n");
    CHECK(e.describe().find(pw) == std::string::npos);
  }
  SECTION("printed config") {
    const Config c =
        load_ok(std::string(kMinimal) + "postgresql_password: " + pw + "\nposition_dsn: password=" + pw + "\n");
    const std::string printed = describe_config(c);
    CHECK(printed.find(pw) == std::string::npos);
    CHECK(printed.find("postgresql_password: '<redacted>'") != std::string::npos);
  }
}

TEST_CASE("command line parsing") {
  const CommandLine c =
      args({"--config", "/etc/r.yaml", "--postgresql-temp-slot", "--log-level=debug", "--print-config"});
  CHECK(c.config_path == "/etc/r.yaml");
  CHECK(c.print_config);
  REQUIRE(c.overrides.size() == 2);
  CHECK(c.overrides[0] == std::pair<std::string, std::string>{"postgresql_temp_slot", "true"});
  CHECK(c.overrides[1] == std::pair<std::string, std::string>{"log_level", "debug"});
  CHECK(args({"--config=/x.yaml"}).config_path == "/x.yaml");
  CHECK(args({"--help"}).help);

  auto bad = [](std::initializer_list<const char*> a) {
    std::vector<const char*> argv{"replicator"};
    argv.insert(argv.end(), a.begin(), a.end());
    auto r = parse_command_line(static_cast<int>(argv.size()), argv.data());
    REQUIRE_FALSE(r.has_value());
    return r.error();
  };
  const auto unknown = bad({"--postgres-host=x"});
  CHECK(unknown.describe().find("did you mean --postgresql-host?") != std::string::npos);
  CHECK(bad({"--config"}).key == "--config");
  CHECK(bad({"--postgresql-port"}).key == "postgresql_port");
  CHECK(bad({"stray"}).key == "stray");
}

TEST_CASE("load_config reads the file and reports an unreadable one") {
  const std::string path = temp_path("replicator.yaml");
  std::ofstream(path) << kMinimal << "postgresql_port: nope\n";
  CommandLine cli;
  cli.config_path = path;
  auto r = load_config(cli, {});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().where == path + ":4:18");
  std::remove(path.c_str());
  auto missing = load_config(cli, {});
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().key == "--config");
  CHECK(missing.error().message.find("No such file") != std::string::npos);
  // REPLICATOR_CONFIG names the file when --config is absent.
  auto via_env = load_config(CommandLine{}, {{"REPLICATOR_CONFIG", path}});
  REQUIRE_FALSE(via_env.has_value());
  CHECK(via_env.error().key == "--config");
}

TEST_CASE("usage lists every key with its env var and flag") {
  const std::string u = usage_text();
  for (const auto& k : all_keys()) {
    CHECK(u.find(flag_name(k.name)) != std::string::npos);
    CHECK(u.find(env_name(k.name)) != std::string::npos);
  }
  CHECK(env_name("postgresql_host") == "REPLICATOR_POSTGRESQL_HOST");
  CHECK(flag_name("postgresql_host") == "--postgresql-host");
}

TEST_CASE("misspelt REPLICATOR_ environment variables get a warning, others are left alone") {
  const auto w = environment_warnings({{"REPLICATOR_POSTGRESQL_HOTS", "x"},
                                       {"REPLICATOR_PG_BIN", "/usr/lib/postgresql/15/bin"},
                                       {"REPLICATOR_PGDATA", "/tmp/x"},
                                       {"REPLICATOR_CONFIG", "/etc/r.yaml"},
                                       {"REPLICATOR_POSTGRESQL_HOST", "db"},
                                       {"HOME", "/root"}});
  REQUIRE(w.size() == 1);
  CHECK(w[0].find("did you mean REPLICATOR_POSTGRESQL_HOST?") != std::string::npos);
}

TEST_CASE("position_dsn: key=value and URI forms; errors never echo it") {
  auto kv = parse_position_dsn("host=meta port=6000 dbname=positions user=cdc password=pw123 sslmode=require");
  REQUIRE(kv.has_value());
  CHECK(kv->host == "meta");
  CHECK(kv->port == "6000");
  CHECK(kv->dbname == "positions");
  CHECK(kv->user == "cdc");
  CHECK(kv->password == "pw123");
  CHECK(kv->sslmode == "require");
  CHECK_FALSE(kv->sslcert.has_value());
  auto uri = parse_position_dsn("postgresql://cdc:pw123@meta:6001/positions");
  REQUIRE(uri.has_value());
  CHECK(uri->host == "meta");
  CHECK(uri->port == "6001");
  CHECK(uri->password == "pw123");

  const auto bad =
      load_err(std::string(kMinimal) + "position_store: postgresql\nposition_dsn: \"host='unclosed password=pw123\"\n");
  CHECK(bad.key == "position_dsn");
  CHECK(bad.describe().find("pw123") == std::string::npos);
  const auto unsupported =
      load_err(std::string(kMinimal) + "position_dsn: \"dbname=x options=-cfoo password=pw123\"\n");
  CHECK(unsupported.key == "position_dsn");
  CHECK(unsupported.message.find("'options' is not supported") != std::string::npos);
  CHECK(unsupported.describe().find("pw123") == std::string::npos);
  CHECK(load_err(std::string(kMinimal) + "position_dsn: \"port=99999\"\n").key == "position_dsn");
  CHECK(load_err(std::string(kMinimal) + "position_dsn: \"sslmode=maybe\"\n").key == "position_dsn");
  CHECK(load_ok(std::string(kMinimal) + "position_store: postgresql\n").position_table == "replicator_positions");
}

TEST_CASE("the sample config examples/config/replicator.yaml is valid") {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  if (srcdir == nullptr) return;  // not under bazel test
  CommandLine cli;
  cli.config_path = std::string(srcdir) + "/replicator/examples/config/replicator.yaml";
  auto cfg = load_config(cli, {});
  if (!cfg) FAIL(cfg.error().describe());
  CHECK(cfg->slot_name() == "replicator_appdb");
  CHECK(cfg->position_store == PositionStoreKind::file);
  // Every key is documented in it (set or commented out).
  const std::string text = [&] {
    std::ifstream f(cli.config_path);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }();
  for (const auto& k : all_keys()) {
    INFO(k.name);
    CHECK(text.find(std::string(k.name) + ":") != std::string::npos);
  }
}

TEST_CASE("without any config file, a missing key says so") {
  auto r = load_config(CommandLine{}, {});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().key == "postgresql_database");
  CHECK(r.error().message.find("no config file was given (replicator --config FILE)") != std::string::npos);
}

TEST_CASE("version-dependent keys: streaming parallel, origin, postgresql_failover_slot") {
  const Config d = load_ok(kMinimal);
  CHECK(d.stream.streaming == StreamingMode::off);
  CHECK(d.stream.origin == OriginFilter::any);
  CHECK_FALSE(d.stream.failover_slot);
  const Config c = load_ok(std::string(kMinimal) +
                           "proto_version: 4\nstreaming: parallel\norigin: none\npostgresql_failover_slot: true\n");
  CHECK(c.stream.streaming == StreamingMode::parallel);
  CHECK(c.stream.origin == OriginFilter::none);
  CHECK(c.stream.failover_slot);
  CHECK(load_ok(std::string(kMinimal) + "proto_version: 2\nstreaming: on\n").stream.streaming == StreamingMode::on);
  CHECK(load_ok(std::string(kMinimal) + "streaming: off\n").stream.streaming == StreamingMode::off);
  CHECK(describe_config(c).find("streaming: parallel\n") != std::string::npos);
  CHECK(describe_config(c).find("origin: none\n") != std::string::npos);
  CHECK(describe_config(c).find("postgresql_failover_slot: true\n") != std::string::npos);

  CHECK(load_err(std::string(kMinimal) + "proto_version: 3\nstreaming: parallel\n").key == "streaming");
  CHECK(load_err(std::string(kMinimal) + "streaming: sometimes\n").message.find("true, false or parallel") !=
        std::string::npos);
  CHECK(load_err(std::string(kMinimal) + "origin: local\n").key == "origin");
  CHECK(load_err(std::string(kMinimal) + "postgresql_temp_slot: true\npostgresql_failover_slot: true\n").key ==
        "postgresql_failover_slot");
  // A bare flag of a bool|parallel key still means true.
  const Config f = load_ok(kMinimal, {}, args({"--proto-version=2", "--streaming", "--origin=none"}));
  CHECK(f.stream.streaming == StreamingMode::on);
  CHECK(f.stream.origin == OriginFilter::none);
}

TEST_CASE("postgresql_publication_name takes one name or a YAML list of them") {
  const std::string base = "postgresql_database: appdb\npostgresql_slot_name: slot_a\n";
  // A scalar is one name, commas and spaces included (a quoted identifier may hold them).
  CHECK(load_ok(base + "postgresql_publication_name: 'pub, \"odd\" one'\n").stream.publication_names ==
        std::vector<std::string>{"pub, \"odd\" one"});
  const Config several = load_ok(base + "postgresql_publication_name: [pub_a, pub_b]\n");
  CHECK(several.stream.publication_names == std::vector<std::string>{"pub_a", "pub_b"});
  CHECK(several.publications() == "pub_a,pub_b");
  CHECK(describe_config(several).find("postgresql_publication_name: [pub_a, pub_b]\n") != std::string::npos);
  CHECK(describe_config(load_ok(kMinimal)).find("postgresql_publication_name: pub_a\n") != std::string::npos);
  CHECK(load_err(base + "postgresql_publication_name: {a: b}\n").key == "postgresql_publication_name");
  CHECK(load_err(base + "postgresql_publication_name: [pub_a, '" + std::string(64, 'p') + "']\n").key ==
        "postgresql_publication_name");
  CHECK(load_err(base).key == "postgresql_publication_name");  // still required
}

TEST_CASE("durations and sizes land in the library option structs the program passes on") {
  const Config c = load_ok(std::string(kMinimal) +
                           "replication_timeout_ms: 5000\nreconnect_reset_ms: 0\nbatch_max_delay_ms: 7\n"
                           "memory_limit_bytes: 0\nspill_directory: /tmp\npostgresql_connect_timeout_s: 3\n");
  CHECK(c.stream.silence_timeout == std::chrono::milliseconds(5000));
  CHECK(c.reconnect.reset_after == std::chrono::milliseconds(0));
  CHECK(c.batch_limits.max_age == std::chrono::milliseconds(7));
  CHECK(c.batcher.memory_limit_bytes == 0);
  CHECK(c.batcher.spill_directory == "/tmp");
  CHECK(c.source.connect_timeout_s == 3);
  // The program's own defaults where they differ from the library's.
  const Config d = load_ok(kMinimal);
  CHECK(d.stream.silence_timeout == std::chrono::milliseconds(60'000));
  CHECK(d.batch_limits.max_rows == 1000);
  CHECK(d.source.application_name == "replicator");
  CHECK(load_err(std::string(kMinimal) + "postgresql_ssl_mode: verify_full\n").key == "postgresql_ssl_mode");
}

TEST_CASE("position_store azure: keys, the default blob, errors name the azure_ key and never echo secrets") {
  const std::string key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
  const std::string azure = std::string(kMinimal) +
                            "position_store: azure\nazure_endpoint: http://127.0.0.1:10000/devstoreaccount1\n"
                            "azure_container: positions\n";
  const Config c = load_ok(azure + "azure_account_key: '" + key + "'\n");
  CHECK(c.position_store == PositionStoreKind::azure);
  const auto o = azure_blob_options(c);
  CHECK(o.blob == "slot_a.position");
  CHECK_FALSE(o.problem());
  CHECK(describe_config(c).find(key) == std::string::npos);
  CHECK(load_ok(azure + "azure_sas_token: 'sv=2020-08-04&sig=abc'\nazure_blob: a/b.pos\n").azure.blob == "a/b.pos");

  CHECK(load_err(azure).key == "azure_account_key");  // neither key nor SAS
  CHECK(load_err(std::string(kMinimal) + "position_store: azure\nazure_account_key: '" + key + "'\n").key ==
        "azure_endpoint");
  const auto remote_http =
      load_err(std::string(kMinimal) + "position_store: azure\nazure_container: positions\n" + "azure_account_key: '" +
               key + "'\nazure_endpoint: http://acct1.blob.core.windows.net\n");
  CHECK(remote_http.key == "azure_endpoint");
  CHECK_THAT(remote_http.message, Catch::Contains("loopback"));
  CHECK(load_err(azure + "azure_account_key: '" + key + "'\nazure_container: Bad\n").key == "azure_container");
  CHECK(load_err(azure + "azure_account_key: '" + key + "'\nazure_blob: /x\n").key == "azure_blob");
  const auto bad_key = load_err(azure + "azure_account_key: 'secret not base64'\n");
  CHECK(bad_key.key == "azure_account_key");
  CHECK(bad_key.describe().find("secret not base64") == std::string::npos);
  // Not checked unless the store is used.
  CHECK(load_ok(std::string(kMinimal) + "azure_container: Bad\n").azure.container == "Bad");
}

TEST_CASE("sink postgresql: the apply keys, the origin as the only position store") {
  const std::string apply =
      std::string(kMinimal) + "sink: postgresql\napply_dsn: host=target dbname=copy password=tpw\n";
  const Config c = load_ok(apply +
                           "apply_table_map: [public.a=archive.a]\napply_on_conflict: keep_newer\n"
                           "apply_commit_time_column: updated_at\napply_on_missing: insert\n");
  CHECK(c.sink == SinkKind::postgresql);
  CHECK(c.apply_dsn == "host=target dbname=copy password=tpw");
  CHECK(c.apply_table_map == std::vector<std::string>{"public.a=archive.a"});
  CHECK(c.apply.on_conflict == replicator::ApplyConflictPolicy::keep_newer);
  CHECK(c.apply.on_missing == replicator::ApplyMissingPolicy::insert);
  CHECK(c.apply.commit_time_column == "updated_at");
  CHECK(c.snapshot_mode == replicator::snapshot::SnapshotMode::never);  // its default: no snapshot copy yet
  const auto target = connection_from_dsn(c.source, c.apply_dsn);
  CHECK(target.host == "target");
  CHECK(target.dbname == "copy");
  CHECK(describe_config(c).find("tpw") == std::string::npos);

  CHECK(load_err(std::string(kMinimal) + "sink: postgresql\n").key == "apply_dsn");
  CHECK(load_err(apply + "position_store: file\nposition_file: /tmp/p\n").key == "position_store");
  CHECK(load_err(apply + "position_table: t\n").key == "position_table");
  CHECK(load_err(apply + "snapshot_mode: initial\n").key == "snapshot_mode");
  CHECK(load_err(apply + "unchanged_toast: omit\n").key == "unchanged_toast");
  CHECK(load_err(apply + "apply_on_conflict: keep_newer\n").key == "apply_commit_time_column");
  CHECK(load_err(apply + "apply_table_map: [nodelimiter]\n").key == "apply_table_map");
  CHECK(load_err(apply + "apply_on_conflict: merge\n").key == "apply_on_conflict");
  const auto bad_dsn =
      load_err(std::string(kMinimal) + "sink: postgresql\napply_dsn: 'host=x port=notaport password=zzz'\n");
  CHECK(bad_dsn.key == "apply_dsn");
  CHECK(bad_dsn.describe().find("zzz") == std::string::npos);
  CHECK(load_err(std::string(kMinimal) + "apply_on_missing: skip\n").key ==
        "apply_on_missing");  // without sink postgresql
}

TEST_CASE("sink nats keys, defaults, lists, checks naming the key, secrets redacted") {
  const Config d = load_ok(kMinimal);
  CHECK(d.nats.urls == std::vector<std::string>{"nats://127.0.0.1:4222"});
  CHECK(d.nats.subject_prefix == "cdc");
  CHECK(d.nats.order_guard);
  const std::string nats = std::string(kMinimal) + "sink: nats\n";
  const Config c = load_ok(nats +
                           "nats_url: [nats://a:4222, nats://b:4222]\nnats_stream: CDC\nnats_replicas: 3\n"
                           "nats_user: cdc\nnats_password: pw-secret-1\nnats_duplicate_window_s: 300\n");
  CHECK(c.sink == SinkKind::nats);
  CHECK(c.nats.urls.size() == 2);
  CHECK(c.nats.replicas == 3);
  CHECK(c.nats.duplicate_window == std::chrono::seconds(300));
  CHECK(describe_config(c).find("pw-secret-1") == std::string::npos);
  CHECK(load_err(nats + "nats_subject_prefix: \"cdc.*\"\n").key == "nats_subject_prefix");
  CHECK(load_err(nats + "nats_subject_prefix: \"a..b\"\n").key == "nats_subject_prefix");
  CHECK(load_err(nats + "nats_stream: a.b\n").key == "nats_stream");
  CHECK(load_err(nats + "nats_url: []\n").key == "nats_url");
  CHECK(load_err(nats + "nats_replicas: 6\n").key == "nats_replicas");
  CHECK(load_err(nats + "nats_password: x\n").key == "nats_password");
  CHECK(load_err(nats + "nats_user: u\nnats_token: t\n").key == "nats_user");
  CHECK(load_err(nats + "nats_tls_cert: /etc/hostname\n").key == "nats_tls_key");
  CHECK(load_err(nats + "nats_creds_file: /nonexistent/x.creds\n").key == "nats_creds_file");
  const auto bad = load_err(nats + "nats_token: [tok-secret]\n");
  CHECK(bad.key == "nats_token");
  CHECK(bad.describe().find("tok-secret") == std::string::npos);
}
