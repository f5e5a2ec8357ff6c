// The `replicator` program's configuration: every key with its type, default, environment variable
// and command-line flag, read from YAML (yaml-cpp) and validated before anything starts.
//   auto args = program::parse_command_line(argc, argv);           // Result<CommandLine, ConfigError>
//   auto cfg = program::load_config(*args, program::process_environment());  // flag > env > file > default
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/pg/connection.hpp"

namespace replicator::program {

// Exit codes of the program (documented in docs/program.md).
inline constexpr int kExitOk = 0;           // stopped by SIGINT/SIGTERM (or the server ended the stream)
inline constexpr int kExitFatal = 1;        // a fatal replication error (auth, permission, missing publication...)
inline constexpr int kExitConfig = 2;       // bad command line or configuration: nothing was started

enum class SslMode : std::uint8_t { disable, allow, prefer, require, verify_ca, verify_full };
enum class PositionStoreKind : std::uint8_t { memory, file, postgresql };
enum class SinkKind : std::uint8_t { stdout_lines, file };
enum class SinkFormat : std::uint8_t { json, debezium };  // docs/json.md, docs/debezium.md
enum class UnchangedToast : std::uint8_t { marker, omit, from_old };  // docs/values.md
enum class LogLevel : std::uint8_t { debug, info, warn, error };
// Initial snapshot (docs/snapshot.md): copy existing rows when the slot is created, never, or copy and exit.
enum class SnapshotMode : std::uint8_t { initial, never, initial_only };
// pgoutput streaming: off, on (proto_version 2+), parallel (proto_version 4, PostgreSQL 16+).
enum class Streaming : std::uint8_t { off, on, parallel };
// pgoutput origin (PostgreSQL 16+): none streams only changes without a replication origin.
enum class Origin : std::uint8_t { any, none };

// Each enum's spellings, once: to_string(), the values a key accepts and its documented type all
// read these tables (sslmode's spellings are libpq's list in pg/connection.hpp).
template <class E>
using EnumNames = std::span<const std::pair<std::string_view, E>>;
inline constexpr std::pair<std::string_view, SslMode> kSslModeNames[] = {
    {kSslModes[0], SslMode::disable}, {kSslModes[1], SslMode::allow},     {kSslModes[2], SslMode::prefer},
    {kSslModes[3], SslMode::require}, {kSslModes[4], SslMode::verify_ca}, {kSslModes[5], SslMode::verify_full}};
static_assert(std::size(kSslModeNames) == std::size(kSslModes));
inline constexpr std::pair<std::string_view, PositionStoreKind> kPositionStoreNames[] = {
    {"memory", PositionStoreKind::memory}, {"file", PositionStoreKind::file}, {"postgresql", PositionStoreKind::postgresql}};
inline constexpr std::pair<std::string_view, SinkKind> kSinkNames[] = {{"stdout", SinkKind::stdout_lines},
                                                                      {"file", SinkKind::file}};
inline constexpr std::pair<std::string_view, SinkFormat> kSinkFormatNames[] = {{"json", SinkFormat::json},
                                                                              {"debezium", SinkFormat::debezium}};
inline constexpr std::pair<std::string_view, UnchangedToast> kUnchangedToastNames[] = {
    {"marker", UnchangedToast::marker}, {"omit", UnchangedToast::omit}, {"from_old", UnchangedToast::from_old}};
inline constexpr std::pair<std::string_view, LogLevel> kLogLevelNames[] = {
    {"debug", LogLevel::debug}, {"info", LogLevel::info}, {"warn", LogLevel::warn}, {"error", LogLevel::error}};
inline constexpr std::pair<std::string_view, SnapshotMode> kSnapshotModeNames[] = {
    {"initial", SnapshotMode::initial}, {"never", SnapshotMode::never}, {"initial_only", SnapshotMode::initial_only}};
// streaming also accepts every bool spelling (yes, on, 1, ...) for false / true.
inline constexpr std::pair<std::string_view, Streaming> kStreamingNames[] = {
    {"false", Streaming::off}, {"true", Streaming::on}, {"parallel", Streaming::parallel}};
inline constexpr std::pair<std::string_view, Origin> kOriginNames[] = {{"any", Origin::any}, {"none", Origin::none}};

constexpr EnumNames<SslMode> enum_names(SslMode) noexcept { return kSslModeNames; }
constexpr EnumNames<PositionStoreKind> enum_names(PositionStoreKind) noexcept { return kPositionStoreNames; }
constexpr EnumNames<SinkKind> enum_names(SinkKind) noexcept { return kSinkNames; }
constexpr EnumNames<SinkFormat> enum_names(SinkFormat) noexcept { return kSinkFormatNames; }
constexpr EnumNames<UnchangedToast> enum_names(UnchangedToast) noexcept { return kUnchangedToastNames; }
constexpr EnumNames<LogLevel> enum_names(LogLevel) noexcept { return kLogLevelNames; }
constexpr EnumNames<SnapshotMode> enum_names(SnapshotMode) noexcept { return kSnapshotModeNames; }
constexpr EnumNames<Streaming> enum_names(Streaming) noexcept { return kStreamingNames; }
constexpr EnumNames<Origin> enum_names(Origin) noexcept { return kOriginNames; }

template <class E>
concept NamedEnum = std::is_enum_v<E> && requires(E e) { enum_names(e); };

// The config spelling of a value (sslmode: libpq's, "verify-ca").
template <NamedEnum E>
constexpr std::string_view to_string(E value) noexcept {
  for (const auto& [name, v] : enum_names(value))
    if (v == value) return name;
  return "?";
}

// The validated configuration. Defaults here are the documented defaults.
struct Config {
  // Source database (postgresql_*).
  std::string host = "localhost";
  int port = 5432;
  std::string database;  // required
  std::string user;      // empty: libpq's default (PGUSER, else the OS user)
  std::string password;  // secret: never logged; PGPASSWORD honoured
  std::string slot_name;         // required
  std::string publication_name;  // required
  std::string plugin_name = "pgoutput";
  Lsn start_lsn;  // 0/0: resume from the position store, else from the slot's confirmed position
  SslMode ssl_mode = SslMode::prefer;
  std::string ssl_cert;
  std::string ssl_key;
  std::string ssl_root_cert;
  bool create_slot = true;
  bool drop_slot_on_exit = false;
  bool temp_slot = false;
  bool failover_slot = false;  // PostgreSQL 17+: CREATE_REPLICATION_SLOT ... (FAILOVER true)
  int connect_timeout_s = 10;

  // pgoutput options.
  int proto_version = 1;
  bool binary = false;
  bool messages = false;
  Streaming streaming = Streaming::off;
  bool two_phase = false;
  Origin origin = Origin::any;

  // Position store.
  PositionStoreKind position_store = PositionStoreKind::memory;
  std::string position_file;
  std::string position_table = "replicator_positions";  // in schema public unless schema.table
  std::string position_dsn;  // secret (may hold a password); empty: the source database

  // Batching.
  std::int64_t batch_max_changes = 1000;
  std::int64_t batch_max_bytes = 1 << 20;
  std::int64_t batch_max_delay_ms = 100;
  bool batch_split_transactions = false;
  // Large transactions (docs/large_transactions.md): bytes the transactions waiting for their
  // commit may hold in memory before the largest goes to a spill file (0: never spill).
  std::int64_t memory_limit_bytes = 16 << 20;
  std::string spill_directory;  // empty: $TMPDIR, else /tmp

  // Filters (globs over "schema.table"; operations insert/update/delete/truncate).
  std::vector<std::string> include_tables;
  std::vector<std::string> exclude_tables;
  std::vector<std::string> include_operations;  // empty: all

  // Sink.
  SinkKind sink = SinkKind::stdout_lines;
  std::string sink_file;
  SinkFormat sink_format = SinkFormat::json;
  std::string debezium_server_name = "replicator";  // Debezium source.name

  // Values: unchanged TOAST columns; per-table column lists ("table_glob.column_glob").
  UnchangedToast unchanged_toast = UnchangedToast::marker;
  std::vector<std::string> include_columns;
  std::vector<std::string> exclude_columns;

  // Initial snapshot (values in binary COPY format when `binary` is true, like the stream's).
  SnapshotMode snapshot_mode = SnapshotMode::initial;
  int snapshot_parallelism = 2;

  // Timing and recovery.
  std::int64_t status_interval_ms = 10'000;
  std::int64_t replication_timeout_ms = 60'000;  // no data and no keepalive for this long: reconnect
  std::int64_t reconnect_initial_ms = 100;
  std::int64_t reconnect_max_ms = 30'000;
  double reconnect_multiplier = 2.0;
  std::int64_t reconnect_reset_ms = 60'000;  // streaming healthily this long resets the backoff

  // Metrics and slot health (docs/metrics.md).
  std::string metrics_address;                  // host:port of GET /metrics, /healthz, /readyz; empty: off
  std::int64_t slot_check_interval_ms = 10'000;  // pg_replication_slots polled this often
  std::int64_t heartbeat_interval_ms = 0;        // nothing published for this long: write a heartbeat (0: off)
  std::string heartbeat_query;                   // empty: pg_logical_emit_message(false, 'replicator_heartbeat', ...)
  std::int64_t slot_retained_wal_warn_bytes = std::int64_t{1} << 30;  // warn above this much retained WAL (0: never)

  LogLevel log_level = LogLevel::info;
};

// One configuration problem. `key` is the config key (or flag / path) it is about; `where` says
// which file line, environment variable or flag the bad value came from.
struct ConfigError {
  std::string key;
  std::string message;
  std::string where;
  [[nodiscard]] std::string describe() const;
};

// Parsed command line: the config file path, --key=value overrides (by config key), actions.
struct CommandLine {
  std::string config_path;  // empty: no file (REPLICATOR_CONFIG is used when set)
  std::vector<std::pair<std::string, std::string>> overrides;  // (config key, value) in order
  bool help = false;
  bool version = false;
  bool print_config = false;  // validate, print the effective config (secrets redacted), exit
};

// Reads the environment as a map; tests pass their own.
using Environment = std::map<std::string, std::string>;
Environment process_environment();

[[nodiscard]] Result<CommandLine, ConfigError> parse_command_line(int argc, const char* const* argv);
[[nodiscard]] Result<Config, ConfigError> load_config(const CommandLine& cli, const Environment& env);
// Same as load_config with the file's text given directly (`path` only names it in messages).
[[nodiscard]] Result<Config, ConfigError> load_config_text(std::string_view yaml, std::string_view path,
                                                           const CommandLine& cli, const Environment& env);

// position_dsn split into the settings it names (libpq keyword/value or URI form). A setting the
// DSN leaves out is taken from the source connection (postgresql_*), so "dbname=meta" is enough
// to keep positions in another database of the same server.
struct DsnSettings {
  std::optional<std::string> host, port, dbname, user, password, sslmode, sslcert, sslkey, sslrootcert, connect_timeout;
};
// Errors never contain the DSN text (it may hold a password).
[[nodiscard]] Result<DsnSettings, ConfigError> parse_position_dsn(const std::string& dsn);

// All keys, for docs, --help and "did you mean".
struct KeyInfo {
  std::string_view name;
  std::string_view type;
  std::string_view default_text;
  std::string_view help;
  bool secret = false;
  bool required = false;
};
const std::vector<KeyInfo>& all_keys();
std::string env_name(std::string_view key);   // postgresql_host -> REPLICATOR_POSTGRESQL_HOST
std::string flag_name(std::string_view key);  // postgresql_host -> --postgresql-host
std::string usage_text();
// The effective configuration as YAML with secrets replaced by "<redacted>".
std::string describe_config(const Config& cfg);
// The closest known key to `unknown` (empty when nothing is close).
std::string closest_key(std::string_view unknown);
// Warnings for REPLICATOR_* environment variables that are no key but look like a misspelt one
// (other REPLICATOR_* variables are left alone: tooling may use the prefix).
std::vector<std::string> environment_warnings(const Environment& env);

}  // namespace replicator::program
