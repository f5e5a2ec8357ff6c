// The `replicator` program's configuration: every key with its type, default, environment variable
// and command-line flag, read from YAML (yaml-cpp) and validated before anything starts.
//   auto args = program::parse_command_line(argc, argv);           // Result<CommandLine, ConfigError>
//   auto cfg = program::load_config(*args, program::process_environment());  // flag > env > file > default
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "replicator/batch/batcher.hpp"
#include "replicator/core/backoff.hpp"
#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/filter/toast.hpp"
#include "replicator/format/debezium_values.hpp"
#include "replicator/pg/connection.hpp"
#include "replicator/position/azure_blob_options.hpp"
#include "replicator/sink/nats_options.hpp"
#include "replicator/sink/postgres_apply.hpp"
#include "replicator/snapshot/snapshot.hpp"
#include "replicator/transport/libpq.hpp"

namespace replicator::program {

// Exit codes of the program (documented in docs/program.md).
inline constexpr int kExitOk = 0;      // stopped by SIGINT/SIGTERM (or the server ended the stream)
inline constexpr int kExitFatal = 1;   // a fatal replication error (auth, permission, missing publication...)
inline constexpr int kExitConfig = 2;  // bad command line or configuration: nothing was started

enum class PositionStoreKind : std::uint8_t { memory, file, postgresql, azure };
enum class SinkKind : std::uint8_t { stdout_lines, file, nats, postgresql };
enum class SinkFormat : std::uint8_t { json, debezium };  // docs/json.md, docs/debezium.md
enum class LogLevel : std::uint8_t { debug, info, warn, error };

// Each enum's spellings, once: to_string(), the values a key accepts and its documented type all
// read these tables. The library's own enums (StreamingMode, OriginFilter, ToastPolicy,
// snapshot::SnapshotMode) are the Config members' types; only their config spellings live here.
template <class E>
using EnumNames = std::span<const std::pair<std::string_view, E>>;
inline constexpr std::pair<std::string_view, PositionStoreKind> kPositionStoreNames[] = {
    {"memory", PositionStoreKind::memory},
    {"file", PositionStoreKind::file},
    {"postgresql", PositionStoreKind::postgresql},
    {"azure", PositionStoreKind::azure}};
inline constexpr std::pair<std::string_view, SinkKind> kSinkNames[] = {{"stdout", SinkKind::stdout_lines},
                                                                       {"file", SinkKind::file},
                                                                       {"nats", SinkKind::nats},
                                                                       {"postgresql", SinkKind::postgresql}};
inline constexpr std::pair<std::string_view, SinkFormat> kSinkFormatNames[] = {{"json", SinkFormat::json},
                                                                               {"debezium", SinkFormat::debezium}};
inline constexpr std::pair<std::string_view, ToastPolicy> kToastPolicyNames[] = {
    {"marker", ToastPolicy::marker}, {"omit", ToastPolicy::omit}, {"from_old", ToastPolicy::from_old}};
inline constexpr std::pair<std::string_view, LogLevel> kLogLevelNames[] = {
    {"debug", LogLevel::debug}, {"info", LogLevel::info}, {"warn", LogLevel::warn}, {"error", LogLevel::error}};
inline constexpr std::pair<std::string_view, snapshot::SnapshotMode> kSnapshotModeNames[] = {
    {"initial", snapshot::SnapshotMode::initial},
    {"never", snapshot::SnapshotMode::never},
    {"initial_only", snapshot::SnapshotMode::initial_only}};
// streaming also accepts every bool spelling (yes, on, 1, ...) for false / true.
inline constexpr std::pair<std::string_view, StreamingMode> kStreamingNames[] = {
    {"false", StreamingMode::off}, {"true", StreamingMode::on}, {"parallel", StreamingMode::parallel}};
inline constexpr std::pair<std::string_view, OriginFilter> kOriginNames[] = {{"any", OriginFilter::any},
                                                                             {"none", OriginFilter::none}};

inline constexpr std::pair<std::string_view, ApplyConflictPolicy> kApplyConflictNames[] = {
    {"error", ApplyConflictPolicy::error},
    {"skip", ApplyConflictPolicy::skip},
    {"upsert", ApplyConflictPolicy::upsert},
    {"keep_newer", ApplyConflictPolicy::keep_newer}};
inline constexpr std::pair<std::string_view, ApplyMissingPolicy> kApplyMissingNames[] = {
    {"error", ApplyMissingPolicy::error}, {"skip", ApplyMissingPolicy::skip}, {"insert", ApplyMissingPolicy::insert}};

constexpr EnumNames<PositionStoreKind> enum_names(PositionStoreKind) noexcept { return kPositionStoreNames; }
constexpr EnumNames<SinkKind> enum_names(SinkKind) noexcept { return kSinkNames; }
constexpr EnumNames<SinkFormat> enum_names(SinkFormat) noexcept { return kSinkFormatNames; }
constexpr EnumNames<ToastPolicy> enum_names(ToastPolicy) noexcept { return kToastPolicyNames; }
constexpr EnumNames<LogLevel> enum_names(LogLevel) noexcept { return kLogLevelNames; }
constexpr EnumNames<snapshot::SnapshotMode> enum_names(snapshot::SnapshotMode) noexcept { return kSnapshotModeNames; }
constexpr EnumNames<StreamingMode> enum_names(StreamingMode) noexcept { return kStreamingNames; }
constexpr EnumNames<OriginFilter> enum_names(OriginFilter) noexcept { return kOriginNames; }
// Debezium handling modes (docs/debezium.md), spelt as Debezium's properties spell them.
inline constexpr std::pair<std::string_view, format::DecimalHandlingMode> kDecimalModeNames[] = {
    {"precise", format::DecimalHandlingMode::precise},
    {"double", format::DecimalHandlingMode::double_},
    {"string", format::DecimalHandlingMode::string}};
inline constexpr std::pair<std::string_view, format::IntervalHandlingMode> kIntervalModeNames[] = {
    {"numeric", format::IntervalHandlingMode::numeric}, {"string", format::IntervalHandlingMode::string}};
inline constexpr std::pair<std::string_view, format::BinaryHandlingMode> kBinaryModeNames[] = {
    {"bytes", format::BinaryHandlingMode::bytes},
    {"base64", format::BinaryHandlingMode::base64},
    {"base64-url-safe", format::BinaryHandlingMode::base64_url_safe},
    {"hex", format::BinaryHandlingMode::hex}};
inline constexpr std::pair<std::string_view, format::TimePrecisionMode> kTimePrecisionNames[] = {
    {"adaptive", format::TimePrecisionMode::adaptive},
    {"adaptive_time_microseconds", format::TimePrecisionMode::adaptive_time_microseconds},
    {"connect", format::TimePrecisionMode::connect}};
inline constexpr std::pair<std::string_view, format::HstoreHandlingMode> kHstoreModeNames[] = {
    {"json", format::HstoreHandlingMode::json}, {"map", format::HstoreHandlingMode::map}};
constexpr EnumNames<format::DecimalHandlingMode> enum_names(format::DecimalHandlingMode) noexcept {
  return kDecimalModeNames;
}
constexpr EnumNames<format::IntervalHandlingMode> enum_names(format::IntervalHandlingMode) noexcept {
  return kIntervalModeNames;
}
constexpr EnumNames<format::BinaryHandlingMode> enum_names(format::BinaryHandlingMode) noexcept {
  return kBinaryModeNames;
}
constexpr EnumNames<format::TimePrecisionMode> enum_names(format::TimePrecisionMode) noexcept {
  return kTimePrecisionNames;
}
constexpr EnumNames<format::HstoreHandlingMode> enum_names(format::HstoreHandlingMode) noexcept {
  return kHstoreModeNames;
}
constexpr EnumNames<ApplyConflictPolicy> enum_names(ApplyConflictPolicy) noexcept { return kApplyConflictNames; }
constexpr EnumNames<ApplyMissingPolicy> enum_names(ApplyMissingPolicy) noexcept { return kApplyMissingNames; }

template <class E>
concept NamedEnum = std::is_enum_v<E> && requires(E e) {
  enum_names(e);
};

// The config spelling of a value.
template <NamedEnum E>
constexpr std::string_view to_string(E value) noexcept {
  for (const auto& [name, v] : enum_names(value))
    if (v == value) return name;
  return "?";
}

// The validated configuration. Where the library has an options struct, Config holds it and the
// keys write into it, so the program passes it on instead of copying field by field. Defaults
// here are the documented defaults (the library's, except where a comment says otherwise).
struct Config {
  // Source database (postgresql_*). Unlike the library (libpq's defaults), the program's defaults
  // are spelled out: localhost:5432, sslmode prefer.
  ConnectionConfig source = [] {
    ConnectionConfig c;
    c.host = "localhost";
    c.port = 5432;
    c.sslmode = "prefer";
    return c;
  }();
  std::string plugin_name = "pgoutput";
  Lsn start_lsn;  // 0/0: resume from the position store, else from the slot's confirmed position
  Lsn end_lsn;    // 0/0: run until stopped; else stop once flushed and confirmed up to here

  // The replication stream: slot, publication (one from a scalar, several from a YAML list),
  // pgoutput options, slot lifetime, status interval and the silence timeout (60 s here).
  LibpqTransportOptions stream = [] {
    LibpqTransportOptions o;
    o.silence_timeout = std::chrono::milliseconds(60'000);
    return o;
  }();

  // Position store.
  PositionStoreKind position_store = PositionStoreKind::memory;
  std::string position_file;
  std::string position_table = "replicator_positions";  // in schema public unless schema.table
  std::string position_dsn;                             // secret (may hold a password); empty: the source database
  // position_store: azure (the azure_* keys); an empty blob means <slot>.position (azure_blob_options()).
  AzureBlobOptions azure;

  // Batching: a batch ends at 1000 changes, 1 MiB or 100 ms; large transactions spill past 4 MiB.
  ByLimits batch_limits = [] {
    ByLimits l;
    l.max_rows = 1000;
    l.max_bytes = 1 << 20;
    l.max_age = std::chrono::milliseconds(100);
    return l;
  }();
  BatcherOptions batcher;             // memory_limit_bytes 4 MiB; spill_directory empty: $TMPDIR, else /tmp
  bool batch_flush_when_idle = true;  // ReplicatorOptions::flush_when_idle

  // Filters (globs over "schema.table"; operations insert/update/delete/truncate).
  std::vector<std::string> include_tables;
  std::vector<std::string> exclude_tables;
  std::vector<std::string> include_operations;  // empty: all

  // Sink.
  SinkKind sink = SinkKind::stdout_lines;
  std::string sink_file;
  SinkFormat sink_format = SinkFormat::json;
  std::string debezium_server_name = "replicator";  // Debezium source.name
  // Debezium value modes and document shape (defaults: Debezium's).
  format::DecimalHandlingMode debezium_decimal_handling_mode = format::DecimalHandlingMode::precise;
  format::IntervalHandlingMode debezium_interval_handling_mode = format::IntervalHandlingMode::numeric;
  format::BinaryHandlingMode debezium_binary_handling_mode = format::BinaryHandlingMode::bytes;
  format::TimePrecisionMode debezium_time_precision_mode = format::TimePrecisionMode::adaptive;
  format::HstoreHandlingMode debezium_hstore_handling_mode = format::HstoreHandlingMode::json;
  bool debezium_schemas = false;
  bool debezium_keys = false;
  bool debezium_tombstones = false;
  NatsJetStreamOptions nats;  // sink: nats (README "NATS JetStream sink"); keys nats_*

  // sink: postgresql (docs/apply.md): the target, its conflict policies (origin_name: from the
  // slot), table renames as "schema.table=schema.table".
  std::string apply_dsn;  // secret (may hold a password)
  PostgresApplyOptions apply;
  std::vector<std::string> apply_table_map;

  // Values: unchanged TOAST columns; per-table column lists ("table_glob.column_glob").
  ToastPolicy unchanged_toast = ToastPolicy::marker;
  std::vector<std::string> include_columns;
  std::vector<std::string> exclude_columns;

  // Initial snapshot (values in binary COPY format when `binary` is true, like the stream's).
  snapshot::SnapshotMode snapshot_mode = snapshot::SnapshotMode::initial;
  int snapshot_parallelism = 2;

  // Recovery: reconnect delays (Replicator::run and the snapshot use the same ones).
  BackoffOptions reconnect;

  // Metrics and slot health (docs/metrics.md).
  std::string metrics_address;                   // host:port of GET /metrics, /healthz, /readyz; empty: off
  std::int64_t slot_check_interval_ms = 10'000;  // pg_replication_slots polled this often
  std::int64_t heartbeat_interval_ms = 0;        // nothing published for this long: write a heartbeat (0: off)
  std::string heartbeat_query;                   // empty: pg_logical_emit_message(false, 'replicator_heartbeat', ...)
  std::int64_t slot_retained_wal_warn_bytes = std::int64_t{1} << 30;  // warn above this much retained WAL (0: never)

  LogLevel log_level = LogLevel::info;

  // Shorthands for what the program reads most.
  [[nodiscard]] const std::string& slot_name() const noexcept { return stream.slot_name; }
  [[nodiscard]] const std::string& database() const noexcept { return source.dbname; }
  // Every publication, comma-separated (for log lines).
  [[nodiscard]] std::string publications() const {
    std::string out;
    for (const auto& p : stream.publication_names) out += (out.empty() ? "" : ",") + p;
    return out;
  }
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
  std::string config_path;                                     // empty: no file (REPLICATOR_CONFIG is used when set)
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
// `base` with what a validated DSN (position_dsn, apply_dsn) names.
[[nodiscard]] ConnectionConfig connection_from_dsn(ConnectionConfig base, const std::string& dsn);

// The Azure Blob store's settings from the azure_* keys, the blob defaulting to <slot>.position.
AzureBlobOptions azure_blob_options(const Config& c);

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
