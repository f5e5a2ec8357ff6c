// Config loading: one table of keys, each with a parser that names the key in its error.
// Values are gathered from the file, the environment and the flags, the winner per key is chosen
// (flag > env > file > default), then parsed and cross-checked. Secret values are never echoed.
#include "config.hpp"

#include <libpq-fe.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <sstream>
#include <unordered_map>

#include "replicator/filter/change_filter.hpp"
#include "replicator/core/slot_name.hpp"
#include "replicator/metrics/http_server.hpp"
#include "replicator/pg/connection.hpp"
#include "replicator/sink/nats_options.hpp"

extern char** environ;

namespace replicator::program {

std::string ConfigError::describe() const {
  std::string out = "config error: ";
  if (!key.empty()) out += key + ": ";
  out += message;
  if (!where.empty()) out += " (" + where + ")";
  return out;
}

namespace {

// A value as found in one place, before it is parsed for its key.
struct RawValue {
  enum class Kind : std::uint8_t { scalar, list, map };
  Kind kind = Kind::scalar;
  std::string text;                // scalar
  std::vector<std::string> items;  // list
  std::string where;               // "file.yaml:3:17", "environment REPLICATOR_X", "flag --x"
};

// Returns an error message (without the key) or nullopt.
using Apply = std::function<std::optional<std::string>(Config&, const RawValue&)>;
using Show = std::function<std::string(const Config&)>;

struct KeyDef {
  KeyInfo info;
  Apply apply;
  Show show;
};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string kind_name(const RawValue& v) {
  return v.kind == RawValue::Kind::list ? "a list" : v.kind == RawValue::Kind::map ? "a mapping" : "a scalar";
}

// Shows a bad value in an error, shortened; never called for secret keys.
std::string quote_value(std::string_view s) {
  std::string out = "'";
  out += s.size() > 60 ? std::string(s.substr(0, 57)) + "..." : std::string(s);
  out += "'";
  return out;
}

std::optional<std::string> need_scalar(const RawValue& v, std::string_view what) {
  if (v.kind != RawValue::Kind::scalar) return "must be " + std::string(what) + ", got " + kind_name(v);
  return std::nullopt;
}

// The integer in `v`, within [min, max]; an error message otherwise.
std::optional<std::string> parse_int(const RawValue& v, std::int64_t min, std::int64_t max, std::int64_t& out) {
  const std::string what = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
  if (auto e = need_scalar(v, what)) return e;
  const std::string t = trim(v.text);
  const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  if (t.empty() || ec != std::errc{} || p != t.data() + t.size() || out < min || out > max)
    return "must be " + what + ", got " + quote_value(v.text);
  return std::nullopt;
}

// Each parser writes through `at(config)`: a Config field or a field of one of its option structs.
template <class At>
Apply int_key(At at, std::int64_t min, std::int64_t max) {
  return [at, min, max](Config& c, const RawValue& v) -> std::optional<std::string> {
    std::int64_t out = 0;
    if (auto e = parse_int(v, min, max, out)) return e;
    at(c) = static_cast<std::remove_cvref_t<decltype(at(c))>>(out);
    return std::nullopt;
  };
}

// Durations are keys in whole milliseconds (their names end in _ms).
template <class At>
Apply duration_key(At at, std::int64_t min, std::int64_t max) {
  return [at, min, max](Config& c, const RawValue& v) -> std::optional<std::string> {
    std::int64_t out = 0;
    if (auto e = parse_int(v, min, max, out)) return e;
    at(c) = std::chrono::duration_cast<std::remove_cvref_t<decltype(at(c))>>(std::chrono::milliseconds(out));
    return std::nullopt;
  };
}

template <class At>
Apply double_key(At at, double min, double max) {
  return [at, min, max](Config& c, const RawValue& v) -> std::optional<std::string> {
    std::ostringstream what;
    what << "a number from " << min << " to " << max;
    if (auto e = need_scalar(v, what.str())) return e;
    const std::string t = trim(v.text);
    char* end = nullptr;
    errno = 0;
    const double out = std::strtod(t.c_str(), &end);
    if (t.empty() || end != t.c_str() + t.size() || errno != 0)
      return "must be " + what.str() + ", got " + quote_value(v.text);
    if (!(out >= min && out <= max)) return "must be " + what.str() + ", got " + quote_value(v.text);
    at(c) = out;
    return std::nullopt;
  };
}

std::optional<bool> parse_bool(std::string_view text) {
  const std::string t = lower(trim(text));
  if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "0") return false;
  return std::nullopt;
}

template <class At>
Apply bool_key(At at) {
  return [at](Config& c, const RawValue& v) -> std::optional<std::string> {
    if (auto e = need_scalar(v, "true or false")) return e;
    const auto b = parse_bool(v.text);
    if (!b) return "must be true or false, got " + quote_value(v.text);
    at(c) = *b;
    return std::nullopt;
  };
}

// String errors never echo the value: for secret keys it is the secret.
template <class At>
Apply string_key(At at) {
  return [at](Config& c, const RawValue& v) -> std::optional<std::string> {
    if (v.kind != RawValue::Kind::scalar) return "must be a string, got " + kind_name(v);
    if (v.text.find('\0') != std::string::npos) return "must not contain a NUL byte";
    at(c) = v.text;
    return std::nullopt;
  };
}

template <class At, class E>
Apply enum_key(At at, EnumNames<E> choices) {
  return [at, choices](Config& c, const RawValue& v) -> std::optional<std::string> {
    std::string names;
    for (const auto& [name, value] : choices) names += (names.empty() ? "" : ", ") + std::string(name);
    if (auto e = need_scalar(v, "one of " + names)) return e;
    const std::string t = lower(trim(v.text));
    for (const auto& [name, value] : choices) {
      if (t == name) {
        at(c) = value;
        return std::nullopt;
      }
    }
    return "must be one of " + names + ", got " + quote_value(v.text);
  };
}

template <class At>
Apply list_key(At at) {
  return [at](Config& c, const RawValue& v) -> std::optional<std::string> {
    std::vector<std::string> out;
    if (v.kind == RawValue::Kind::map) return "must be a list of strings, got a mapping";
    if (v.kind == RawValue::Kind::list) {
      for (const auto& item : v.items) {
        const std::string t = trim(item);
        if (t.empty()) return "must be a list of non-empty strings";
        out.push_back(t);
      }
    } else {
      // "a, b, c" from the environment or a flag (or a scalar in the file).
      std::string_view rest = v.text;
      while (!rest.empty()) {
        const auto comma = rest.find(',');
        const std::string t = trim(rest.substr(0, comma));
        if (!t.empty()) out.push_back(t);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
    at(c) = std::move(out);
    return std::nullopt;
  };
}

template <class At>
Apply lsn_key(At at) {
  return [at](Config& c, const RawValue& v) -> std::optional<std::string> {
    if (auto e = need_scalar(v, "an LSN like 0/16B3748")) return e;
    const auto lsn = Lsn::parse(trim(v.text));
    if (!lsn) return "must be an LSN like 0/16B3748 (hex/hex), got " + quote_value(v.text);
    at(c) = *lsn;
    return std::nullopt;
  };
}

// streaming: a bool (on/off) or "parallel".
Apply streaming_key() {
  return [](Config& c, const RawValue& v) -> std::optional<std::string> {
    if (auto e = need_scalar(v, "true, false or parallel")) return e;
    if (lower(trim(v.text)) == "parallel") {
      c.stream.streaming = StreamingMode::parallel;
      return std::nullopt;
    }
    const auto b = parse_bool(v.text);
    if (!b) return "must be true, false or parallel, got " + quote_value(v.text);
    c.stream.streaming = *b ? StreamingMode::on : StreamingMode::off;
    return std::nullopt;
  };
}

// A string out of a fixed list (sslmode: libpq's spellings, kept as the string libpq takes).
Apply choice_key(std::string ConnectionConfig::*member, std::span<const std::string_view> choices) {
  return [member, choices](Config& c, const RawValue& v) -> std::optional<std::string> {
    std::string names;
    for (auto name : choices) names += (names.empty() ? "" : ", ") + std::string(name);
    if (auto e = need_scalar(v, "one of " + names)) return e;
    const std::string t = lower(trim(v.text));
    for (auto name : choices) {
      if (t == name) {
        c.source.*member = t;
        return std::nullopt;
      }
    }
    return "must be one of " + names + ", got " + quote_value(v.text);
  };
}

// postgresql_publication_name: a scalar is one name (commas and all); a YAML list names several.
Apply publications_key() {
  return [](Config& c, const RawValue& v) -> std::optional<std::string> {
    if (v.kind == RawValue::Kind::map) return "must be a publication name or a list of them, got a mapping";
    std::vector<std::string> names = v.kind == RawValue::Kind::list ? v.items : std::vector<std::string>{v.text};
    for (const auto& n : names)
      if (n.find('\0') != std::string::npos) return "must not contain a NUL byte";
    c.stream.publication_names = std::move(names);
    return std::nullopt;
  };
}

std::string show_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out + "]";
}

std::string show_bool(bool b) { return b ? "true" : "false"; }

// Text that outlives the table's construction (KeyInfo holds views).
std::string_view keep(std::string text) {
  static std::deque<std::string> store;
  return store.emplace_back(std::move(text));
}

std::string operation_names(std::string_view sep) {
  std::string s;
  for (const auto& [name, op] : OperationSet::kNames) s += (s.empty() ? "" : std::string(sep)) + std::string(name);
  return s;
}

template <class E>
std::string enum_choices(EnumNames<E> names) {
  std::string s;
  for (const auto& [name, value] : names) s += (s.empty() ? "" : "|") + std::string(name);
  return s;
}

std::string enum_choices(std::span<const std::string_view> names) {
  std::string s;
  for (auto name : names) s += (s.empty() ? "" : "|") + std::string(name);
  return s;
}

// Config{}: every key's documented default.
const Config& default_config() {
  static const Config defaults{};
  return defaults;
}

// What a key adds to what its Config member already says (type, default, parsing, display).
struct KeyOptions {
  std::int64_t min = 0;  // integer and number keys: the accepted range
  std::int64_t max = 0;
  std::string_view type{};          // when the member's type says too little ("path", "list of globs")
  std::string_view default_text{};  // when Config{}'s value needs words ("(required)")
  bool secret = false;              // shown as <redacted>, never echoed in errors
  bool required = false;
};

template <class T>
struct IsDuration : std::false_type {};
template <class Rep, class Period>
struct IsDuration<std::chrono::duration<Rep, Period>> : std::true_type {};

// Declares a key once: its parser, how it is shown, its documented type and its default all come
// from the member it writes (the default is Config{}'s value), so none of them is written twice.
// `at` reaches the member: a Config field or a field of one of the library option structs it holds.
template <class At>
void key_at(std::vector<KeyDef>& t, std::string_view name, At at, std::string_view help, KeyOptions o) {
  using T = std::remove_cvref_t<decltype(at(std::declval<Config&>()))>;
  Apply apply;
  Show show;
  std::string type;
  if constexpr (std::is_same_v<T, std::string>) {
    apply = string_key(at);
    if (o.secret) show = [at](const Config& c) { return at(c).empty() ? std::string() : std::string("<redacted>"); };
    else show = [at](const Config& c) { return at(c); };
    type = "string";
  } else if constexpr (std::is_same_v<T, bool>) {
    apply = bool_key(at);
    show = [at](const Config& c) { return show_bool(at(c)); };
    type = "bool";
  } else if constexpr (std::is_same_v<T, double>) {
    apply = double_key(at, static_cast<double>(o.min), static_cast<double>(o.max));
    show = [at](const Config& c) {
      std::ostringstream out;
      out << at(c);
      return out.str();
    };
    type = "number " + std::to_string(o.min) + "-" + std::to_string(o.max);
  } else if constexpr (std::is_integral_v<T>) {
    apply = int_key(at, o.min, o.max);
    show = [at](const Config& c) { return std::to_string(at(c)); };
    type = "integer " + std::to_string(o.min) + "-" + std::to_string(o.max);
  } else if constexpr (IsDuration<T>::value) {
    apply = duration_key(at, o.min, o.max);
    show = [at](const Config& c) {
      return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(at(c)).count());
    };
    type = "integer " + std::to_string(o.min) + "-" + std::to_string(o.max);
  } else if constexpr (std::is_same_v<T, Lsn>) {
    apply = lsn_key(at);
    show = [at](const Config& c) { return at(c).to_string(); };
    type = "LSN (X/Y)";
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    apply = list_key(at);
    show = [at](const Config& c) { return show_list(at(c)); };
    type = "list of strings";
  } else {
    static_assert(NamedEnum<T>, "a Config member of this type has no key parser");
    apply = enum_key(at, enum_names(T{}));
    show = [at](const Config& c) { return std::string(to_string(at(c))); };
    type = enum_choices(enum_names(T{}));
  }
  const KeyInfo info{name,
                     o.type.empty() ? keep(std::move(type)) : o.type,
                     o.default_text.empty() ? keep(show(default_config())) : o.default_text,
                     help,
                     o.secret,
                     o.required};
  t.push_back({info, std::move(apply), std::move(show)});
}

// A Config field.
template <class T>
void key(std::vector<KeyDef>& t, std::string_view name, T Config::*m, std::string_view help, KeyOptions o = {}) {
  const auto at = [m](auto& c) -> decltype(auto) { return (c.*m); };  // a reference
  key_at(t, name, at, help, o);
}

// A field of an options struct Config holds (Config::source, Config::stream, ...).
template <class S, class T>
void key(std::vector<KeyDef>& t, std::string_view name, S Config::*part, T S::*m, std::string_view help,
         KeyOptions o = {}) {
  const auto at = [part, m](auto& c) -> decltype(auto) { return ((c.*part).*m); };  // a reference
  key_at(t, name, at, help, o);
}

const std::vector<KeyDef>& key_table() {
  static const std::vector<KeyDef> table = [] {
    std::vector<KeyDef> t;
    auto add = [&t](KeyInfo info, Apply apply, Show show) { t.push_back({info, std::move(apply), std::move(show)}); };
    // One key per line reads as a table: kept out of clang-format.
    // clang-format off

    key(t, "postgresql_host", &Config::source, &ConnectionConfig::host, "server host name, IP address or unix socket directory");
    key(t, "postgresql_port", &Config::source, &ConnectionConfig::port, "server port", {.min = 1, .max = 65535});
    key(t, "postgresql_database", &Config::source, &ConnectionConfig::dbname, "database to stream changes from", {.default_text = "(required)", .required = true});
    key(t, "postgresql_user", &Config::source, &ConnectionConfig::user, "role to connect as; needs REPLICATION", {.default_text = "(libpq default: PGUSER, else the OS user)"});
    key(t, "postgresql_password", &Config::source, &ConnectionConfig::password, "password; never logged", {.default_text = "(none; PGPASSWORD and ~/.pgpass honoured)", .secret = true});
    key(t, "postgresql_slot_name", &Config::stream, &LibpqTransportOptions::slot_name, "logical replication slot", {.type = "string [a-z0-9_], 1-63 chars", .default_text = "(required)", .required = true});
    add({"postgresql_publication_name", "string (a YAML list for several)", "(required)",
         "publication naming the tables to stream; a YAML list streams several publications on one slot", false, true},
        publications_key(), [](const Config& c) {
          const auto& p = c.stream.publication_names;
          return p.size() == 1 ? p.front() : p.empty() ? std::string() : show_list(p);
        });
    key(t, "postgresql_plugin_name", &Config::plugin_name, "output plugin: pgoutput, or wal2json (format-version 2; docs/wal2json.md)", {.type = "pgoutput"});
    key(t, "postgresql_start_lsn", &Config::start_lsn, "start here instead of the stored/slot position");
    key(t, "postgresql_end_lsn", &Config::end_lsn, "stop cleanly once everything up to here is written and confirmed (pg_recvlogical --endpos; 0/0: run until stopped)");
    add({"postgresql_ssl_mode", keep(enum_choices(kSslModes)), keep(default_config().source.sslmode), "libpq sslmode"},
        choice_key(&ConnectionConfig::sslmode, kSslModes), [](const Config& c) { return c.source.sslmode; });
    key(t, "postgresql_ssl_cert", &Config::source, &ConnectionConfig::sslcert, "client certificate (must be readable)", {.type = "path", .default_text = "(none)"});
    key(t, "postgresql_ssl_key", &Config::source, &ConnectionConfig::sslkey, "client private key (must be readable)", {.type = "path", .default_text = "(none)"});
    key(t, "postgresql_ssl_root_cert", &Config::source, &ConnectionConfig::sslrootcert, "CA certificate(s) for verify-ca/verify-full", {.type = "path", .default_text = "(none)"});
    key(t, "postgresql_create_slot", &Config::stream, &LibpqTransportOptions::create_slot, "create the slot when it does not exist");
    key(t, "postgresql_drop_slot_on_exit", &Config::stream, &LibpqTransportOptions::drop_slot_on_exit, "drop the slot when the program stops");
    key(t, "postgresql_temp_slot", &Config::stream, &LibpqTransportOptions::temporary_slot, "use a TEMPORARY slot (gone when the connection ends)");
    key(t, "postgresql_failover_slot", &Config::stream, &LibpqTransportOptions::failover_slot, "create the slot as a failover slot, synced to standbys (PostgreSQL 17+; an existing slot is altered)");
    key(t, "postgresql_connect_timeout_s", &Config::source, &ConnectionConfig::connect_timeout_s, "libpq connect_timeout", {.min = 1, .max = 3600});

    key(t, "proto_version", &Config::stream, &LibpqTransportOptions::proto_version, "pgoutput protocol version (2: streaming, 3: two_phase, 4: parallel)", {.min = 1, .max = 4});
    key(t, "binary", &Config::stream, &LibpqTransportOptions::binary, "pgoutput binary column values");
    key(t, "messages", &Config::stream, &LibpqTransportOptions::messages, "pgoutput logical decoding messages (pg_logical_emit_message)");
    add({"streaming", "bool|parallel", "false",
         "stream large in-progress transactions (proto_version >= 2; parallel: proto_version 4, PostgreSQL 16+)"},
        streaming_key(), [](const Config& c) { return std::string(to_string(c.stream.streaming)); });
    key(t, "two_phase", &Config::stream, &LibpqTransportOptions::two_phase, "decode prepared transactions (proto_version >= 3)");
    key(t, "origin", &Config::stream, &LibpqTransportOptions::origin, "none: only changes without a replication origin, e.g. not those replayed by another replicator (PostgreSQL 16+)");

    key(t, "position_store", &Config::position_store, "where the confirmed position is saved");
    key(t, "position_file", &Config::position_file, "position file (written atomically)", {.type = "path", .default_text = "(required when position_store: file)"});
    key(t, "position_table", &Config::position_table, "position table (created if missing)", {.type = "[schema.]table"});
    key(t, "position_dsn", &Config::position_dsn, "database holding position_table; secret", {.type = "libpq connection string", .default_text = "(the source database)", .secret = true});
    key(t, "azure_endpoint", &Config::azure, &AzureBlobOptions::endpoint, "Blob service of the position blob (position_store: azure); http:// only for a loopback emulator such as Azurite", {.type = "https://ACCOUNT.blob.core.windows.net | http://127.0.0.1:PORT/ACCOUNT", .default_text = "(required when position_store: azure)"});
    key(t, "azure_account", &Config::azure, &AzureBlobOptions::account, "storage account name", {.default_text = "(the one azure_endpoint names)"});
    key(t, "azure_account_key", &Config::azure, &AzureBlobOptions::account_key, "account key (base64) for Shared Key signing; secret", {.default_text = "(none; or azure_sas_token)", .secret = true});
    key(t, "azure_sas_token", &Config::azure, &AzureBlobOptions::sas_token, "SAS token (read, create, write on the blob) instead of the key; secret", {.default_text = "(none; or azure_account_key)", .secret = true});
    key(t, "azure_container", &Config::azure, &AzureBlobOptions::container, "container of the position blob (created on first save if missing)", {.default_text = "(required when position_store: azure)"});
    key(t, "azure_blob", &Config::azure, &AzureBlobOptions::blob, "name of the position blob (one line of JSON, replaced with If-Match)", {.default_text = "(<postgresql_slot_name>.position)"});

    key(t, "batch_max_changes", &Config::batch_limits, &ByLimits::max_rows, "flush a batch at this many changes", {.min = 1, .max = 100'000'000});
    key(t, "batch_max_bytes", &Config::batch_limits, &ByLimits::max_bytes, "flush a batch at this many bytes", {.min = 1, .max = std::int64_t{1} << 40});
    key(t, "batch_max_delay_ms", &Config::batch_limits, &ByLimits::max_age, "flush a batch this long after its first change", {.min = 0, .max = 3'600'000});
    key(t, "batch_flush_when_idle", &Config::batch_flush_when_idle, "flush a batch as soon as no further change is waiting (low latency on a quiet stream; the limits above still end a busy stream's batches)");
    key(t, "batch_split_transactions", &Config::batcher, &BatcherOptions::split_transactions, "allow a batch to end inside a transaction");
    key(t, "memory_limit_bytes", &Config::batcher, &BatcherOptions::memory_limit_bytes, "memory for transactions waiting for their commit; past it the largest spills to a file (0: never)", {.min = 0, .max = std::int64_t{1} << 40});
    key(t, "spill_directory", &Config::batcher, &BatcherOptions::spill_directory, "directory for spill files of large transactions", {.type = "path", .default_text = "(TMPDIR, else /tmp)"});

    key(t, "include_tables", &Config::include_tables, "only these schema.table names (e.g. public.*)", {.type = "list of globs", .default_text = "[] (all)"});
    key(t, "exclude_tables", &Config::exclude_tables, "drop these schema.table names", {.type = "list of globs"});
    key(t, "include_operations", &Config::include_operations, "only these operations", {.type = keep("list of " + operation_names("|")), .default_text = "[] (all)"});

    key(t, "sink", &Config::sink, "where change events go: JSON lines (stdout, file), NATS JetStream messages (nats), or applied into another PostgreSQL (postgresql: apply_dsn, docs/apply.md)");
    key(t, "sink_file", &Config::sink_file, "JSON lines file (appended, fsync on flush)", {.type = "path", .default_text = "(required when sink: file)"});
    key(t, "sink_format", &Config::sink_format, "line format: this project's JSON (docs/json.md) or Debezium's change event envelope (docs/debezium.md)");
    key(t, "debezium_server_name", &Config::debezium_server_name, "source.name of Debezium envelopes (sink_format: debezium)");
    key(t, "debezium_decimal_handling_mode", &Config::debezium_decimal_handling_mode, "numeric / money: Decimal bytes (precise), a double, or a string (Debezium's decimal.handling.mode)");
    key(t, "debezium_interval_handling_mode", &Config::debezium_interval_handling_mode, "interval: MicroDuration microseconds (numeric) or ISO 8601 P1Y2M3DT4H5M6.78S (string)");
    key(t, "debezium_binary_handling_mode", &Config::debezium_binary_handling_mode, "bytea: bytes (base64 in JSON), base64, base64-url-safe or hex (Debezium's binary.handling.mode)");
    key(t, "debezium_time_precision_mode", &Config::debezium_time_precision_mode, "time / timestamp: by column precision (adaptive), time always in microseconds, or Kafka Connect's millisecond types (connect)");
    key(t, "debezium_hstore_handling_mode", &Config::debezium_hstore_handling_mode, "hstore: a JSON document in a string (json) or a JSON object (map)");
    key(t, "debezium_schemas", &Config::debezium_schemas, "write {\"schema\":..,\"payload\":..} like Kafka Connect's JSON converter with schemas.enable=true");
    key(t, "debezium_keys", &Config::debezium_keys, "write each line as {\"key\":<replica identity columns>,\"value\":<change event>}");
    key(t, "debezium_tombstones", &Config::debezium_tombstones, "follow each delete with a tombstone (null value) for log compaction");
    key(t, "nats_url", &Config::nats, &NatsJetStreamOptions::urls, "NATS servers (sink: nats), e.g. [nats://n1:4222, nats://n2:4222]", {.type = "list of nats:// URLs"});
    key(t, "nats_stream", &Config::nats, &NatsJetStreamOptions::stream, "JetStream stream the changes are stored in");
    key(t, "nats_subject_prefix", &Config::nats, &NatsJetStreamOptions::subject_prefix, "subjects are <prefix>.<schema>.<table> (names escaped: bytes other than A-Za-z0-9_- as %XX)");
    key(t, "nats_publish_transactions", &Config::nats, &NatsJetStreamOptions::publish_transactions, "also publish begin and commit events (on <prefix>.transaction)");
    key(t, "nats_create_stream", &Config::nats, &NatsJetStreamOptions::create_stream, "create the stream when missing (subjects <prefix>.>, file storage); else refuse to start");
    key(t, "nats_replicas", &Config::nats, &NatsJetStreamOptions::replicas, "replicas of a created stream (at most the JetStream servers of the cluster)", {.min = 1, .max = 5});
    add({"nats_duplicate_window_s", "integer 0-604800", "0",
         "duplicate window of a created stream: re-sends with the same Nats-Msg-Id within it are dropped (0: the server's 120 s)"},
        [](Config& c, const RawValue& v) -> std::optional<std::string> {
          std::int64_t s = 0;
          if (auto e = parse_int(v, 0, 7 * 86'400, s)) return e;
          c.nats.duplicate_window = std::chrono::seconds(s);
          return std::nullopt;
        },
        [](const Config& c) { return std::to_string(c.nats.duplicate_window.count()); });
    key(t, "nats_max_in_flight", &Config::nats, &NatsJetStreamOptions::max_in_flight, "publishes awaiting a JetStream ack at any time", {.min = 1, .max = 65'536});
    key(t, "nats_ack_timeout_ms", &Config::nats, &NatsJetStreamOptions::ack_timeout, "no ack for this long fails the flush (retried with the reconnect backoff)", {.min = 100, .max = 600'000});
    key(t, "nats_order_guard", &Config::nats, &NatsJetStreamOptions::order_guard, "chain Nats-Expected-Last-Msg-Id so a leader change cannot reorder the stream (false when several programs publish into one stream)");
    key(t, "nats_creds_file", &Config::nats, &NatsJetStreamOptions::creds_file, "NATS credentials file (JWT + nkey seed)", {.type = "path", .default_text = "(none)"});
    key(t, "nats_user", &Config::nats, &NatsJetStreamOptions::user, "NATS user (with nats_password)", {.default_text = "(none)"});
    key(t, "nats_password", &Config::nats, &NatsJetStreamOptions::password, "NATS password; never logged", {.default_text = "(none)", .secret = true});
    key(t, "nats_token", &Config::nats, &NatsJetStreamOptions::token, "NATS authentication token; never logged", {.default_text = "(none)", .secret = true});
    key(t, "nats_tls_ca", &Config::nats, &NatsJetStreamOptions::tls_ca, "CA certificate(s) to verify the NATS servers (turns TLS on)", {.type = "path", .default_text = "(none)"});
    key(t, "nats_tls_cert", &Config::nats, &NatsJetStreamOptions::tls_cert, "client certificate for NATS (with nats_tls_key)", {.type = "path", .default_text = "(none)"});
    key(t, "nats_tls_key", &Config::nats, &NatsJetStreamOptions::tls_key, "client private key for NATS", {.type = "path", .default_text = "(none)"});

    // sink: postgresql (docs/apply.md).
    key(t, "apply_dsn", &Config::apply_dsn, "target database of sink: postgresql (settings it leaves out come from postgresql_*); secret", {.type = "libpq connection string", .default_text = "(required when sink: postgresql)", .secret = true});
    key(t, "apply_table_map", &Config::apply_table_map, "apply a source table into a table of another name (e.g. public.orders=archive.orders)", {.type = "list of schema.table=schema.table", .default_text = "[] (same names)"});
    key(t, "apply_on_conflict", &Config::apply, &PostgresApplyOptions::on_conflict, "an insert finds its key on the target: stop (error), keep the target's row (skip), overwrite it (upsert), or overwrite it when its apply_commit_time_column is older than the source commit (keep_newer)");
    key(t, "apply_on_missing", &Config::apply, &PostgresApplyOptions::on_missing, "an update or delete finds no row on the target: stop (error), go on (skip), or insert the updated row (insert)");
    key(t, "apply_commit_time_column", &Config::apply, &PostgresApplyOptions::commit_time_column, "keep_newer: the timestamptz column of the target tables compared with the source commit time", {.default_text = "(required when apply_on_conflict: keep_newer)"});
    key(t, "apply_pipeline", &Config::apply, &PostgresApplyOptions::pipeline, "send a transaction's rows in libpq pipeline mode without waiting for each result (checked in order before the COMMIT; keep_newer and apply_on_missing insert wait per row anyway)");
    key(t, "apply_workers", &Config::apply, &PostgresApplyOptions::workers, "target connections applying the transactions of a batch at once (those touching the same key, TRUNCATE, schema changes and keyless tables in order; commits always in source order)", {.min = 1, .max = 16});
    key(t, "unchanged_toast", &Config::unchanged_toast, "unchanged TOAST columns: keep a marker, leave the column out, or fill from the old row (REPLICA IDENTITY FULL)");
    key(t, "include_columns", &Config::include_columns, "only these columns of the tables named (e.g. public.users.id); other tables keep every column", {.type = "list of table.column globs", .default_text = "[] (all)"});
    key(t, "exclude_columns", &Config::exclude_columns, "drop these columns (e.g. public.users.password_hash)", {.type = "list of table.column globs"});

    key(t, "snapshot_mode", &Config::snapshot_mode, "copy the published tables' rows when the slot is created (initial), never, or copy and exit (initial_only)");
    key(t, "snapshot_parallelism", &Config::snapshot_parallelism, "tables copied at once by the initial snapshot (one connection each)", {.min = 1, .max = 64});

    key(t, "status_interval_ms", &Config::stream, &LibpqTransportOptions::status_interval, "standby status update interval", {.min = 100, .max = 3'600'000});
    key(t, "stream_coalesce_bytes", &Config::stream, &LibpqTransportOptions::coalesce_bytes, "busy stream: wake up when this much has arrived (or stream_coalesce_wait_ms passed) instead of once per message; a quiet stream is not delayed; 0: off", {.min = 0, .max = 64 << 20});
    key(t, "stream_coalesce_wait_ms", &Config::stream, &LibpqTransportOptions::coalesce_wait, "busy stream: the longest a read waits for stream_coalesce_bytes", {.min = 0, .max = 1000});
    key(t, "replication_timeout_ms", &Config::stream, &LibpqTransportOptions::silence_timeout, "silent connection (no data, no keepalive) is reconnected", {.min = 1000, .max = 86'400'000});
    key(t, "reconnect_initial_ms", &Config::reconnect, &BackoffOptions::initial, "first reconnect delay", {.min = 1, .max = 3'600'000});
    key(t, "reconnect_max_ms", &Config::reconnect, &BackoffOptions::max, "largest reconnect delay", {.min = 1, .max = 3'600'000});
    key(t, "reconnect_multiplier", &Config::reconnect, &BackoffOptions::multiplier, "delay growth per failed attempt (with jitter)", {.min = 1, .max = 60});
    key(t, "reconnect_reset_ms", &Config::reconnect, &BackoffOptions::reset_after, "streaming this long resets the backoff", {.min = 0, .max = 86'400'000});
    add({"metrics_address", "host:port", "(off)",
         "serve Prometheus metrics (GET /metrics), /healthz and /readyz here, e.g. 127.0.0.1:9187 (docs/metrics.md)"},
        [](Config& c, const RawValue& v) -> std::optional<std::string> {
          if (auto e = need_scalar(v, "host:port")) return e;
          std::string host, port;
          const std::string t = trim(v.text);
          if (!t.empty() && !metrics::split_host_port(t, host, port))
            return "must be host:port (e.g. 127.0.0.1:9187, [::1]:9187), got " + quote_value(v.text);
          c.metrics_address = t;
          return std::nullopt;
        },
        [](const Config& c) { return c.metrics_address; });
    key(t, "slot_check_interval_ms", &Config::slot_check_interval_ms, "read the slot's wal_status, retained WAL and safe_wal_size this often (regular connection)", {.min = 100, .max = 86'400'000});
    key(t, "heartbeat_interval_ms", &Config::heartbeat_interval_ms, "when nothing published arrived for this long, write a heartbeat so an idle slot advances (0: off)", {.min = 0, .max = 86'400'000});
    key(t, "heartbeat_query", &Config::heartbeat_query, "statement the heartbeat runs instead (e.g. an UPDATE of a published table)", {.type = "SQL", .default_text = "(pg_logical_emit_message)"});
    key(t, "slot_retained_wal_warn_bytes", &Config::slot_retained_wal_warn_bytes, "warn (and set a metric) when the slot retains more WAL (0: never)", {.min = 0, .max = std::int64_t{1} << 50});
    key(t, "log_level", &Config::log_level, "lowest level written to stderr");
    // clang-format on
    return t;
  }();
  return table;
}

const KeyDef* find_key(std::string_view name) {
  for (const auto& k : key_table())
    if (k.info.name == name) return &k;
  return nullptr;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string where_of(const YAML::Mark& mark, std::string_view path) {
  if (mark.is_null()) return std::string(path);
  return std::string(path) + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

std::string unknown_key_message(std::string_view key, bool as_flag) {
  std::string msg = as_flag ? "unknown flag" : "unknown key";
  const std::string near = closest_key(key);
  if (!near.empty()) msg += "; did you mean " + (as_flag ? flag_name(near) : near) + "?";
  return msg;
}

struct Collected {
  std::unordered_map<std::string, RawValue> file, env, flag;
};

std::optional<ConfigError> collect_file(std::string_view yaml, std::string_view path,
                                        std::unordered_map<std::string, RawValue>& out) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return ConfigError{"", "invalid YAML: " + e.msg, where_of(e.mark, path)};
  }
  if (!root || root.IsNull()) return std::nullopt;  // an empty file: everything from env/flags/defaults
  if (!root.IsMap())
    return ConfigError{"", "the file must be a mapping of key: value lines", where_of(root.Mark(), path)};
  std::unordered_map<std::string, std::string> seen_at;
  for (const auto& entry : root) {
    const YAML::Node& k = entry.first;
    const YAML::Node& v = entry.second;
    if (!k.IsScalar()) return ConfigError{"", "keys must be plain names", where_of(k.Mark(), path)};
    const std::string name = k.Scalar();
    const std::string where = where_of(k.Mark(), path);
    if (!find_key(name)) return ConfigError{name, unknown_key_message(name, false), where};
    if (auto it = seen_at.find(name); it != seen_at.end())
      return ConfigError{name, "key given twice (first at " + it->second + ")", where};
    seen_at.emplace(name, where);
    if (v.IsNull()) continue;  // "key:" with no value means "not set"
    RawValue raw;
    raw.where = where_of(v.Mark(), path);
    if (v.IsScalar()) {
      raw.text = v.Scalar();
    } else if (v.IsSequence()) {
      raw.kind = RawValue::Kind::list;
      for (const auto& item : v) {
        if (!item.IsScalar()) return ConfigError{name, "list items must be strings", where_of(item.Mark(), path)};
        raw.items.push_back(item.Scalar());
      }
    } else {
      raw.kind = RawValue::Kind::map;
    }
    out.emplace(name, std::move(raw));
  }
  return std::nullopt;
}

bool readable_file(const std::string& path, std::string& why) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    why = std::strerror(errno);
    return false;
  }
  char c;
  f.read(&c, 1);
  if (f.bad()) {
    why = "read error";
    return false;
  }
  return true;
}

// position_dsn / apply_dsn: parses, and the port is a port.
std::optional<ConfigError> check_dsn(const std::string& dsn, std::string_view key, const std::string& where) {
  if (dsn.empty()) return std::nullopt;
  auto parsed = parse_position_dsn(dsn);
  if (!parsed) {
    ConfigError e = parsed.error();
    e.key = std::string(key);
    e.where = where;
    return e;
  }
  if (parsed->port) {
    int port = 0;
    const auto& t = *parsed->port;
    const auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), port);
    if (ec != std::errc{} || p != t.data() + t.size() || port < 1 || port > 65535)
      return ConfigError{std::string(key), "port must be an integer from 1 to 65535", where};
  }
  return std::nullopt;
}

bool valid_identifier_text(std::string_view s) {
  return !s.empty() && s.size() <= 63 && s.find('\0') == std::string_view::npos;
}

// sink: postgresql. The position is the target's replication origin, so another store is refused.
std::optional<ConfigError> validate_apply(const Config& c, const std::function<std::string(std::string_view)>& where) {
  auto err = [&](std::string_view key, std::string msg) {
    return ConfigError{std::string(key), std::move(msg), where(key)};
  };
  if (c.sink != SinkKind::postgresql) {
    for (const char* key :
         {"apply_dsn", "apply_table_map", "apply_on_conflict", "apply_on_missing", "apply_commit_time_column",
          "apply_workers", "apply_pipeline"})
      if (!where(key).empty()) return err(key, "is only used with sink: postgresql");
    return std::nullopt;
  }
  if (c.apply_dsn.empty()) return err("apply_dsn", "required when sink is postgresql (the target database)");
  if (auto e = check_dsn(c.apply_dsn, "apply_dsn", where("apply_dsn"))) return e;
  if (!where("position_store").empty() || !where("position_file").empty() || !where("position_table").empty() ||
      !where("position_dsn").empty()) {
    const char* key = !where("position_store").empty()   ? "position_store"
                      : !where("position_file").empty()  ? "position_file"
                      : !where("position_table").empty() ? "position_table"
                                                         : "position_dsn";
    return err(key,
               "sink postgresql keeps the position in the target's replication origin, in the same transaction "
               "as the data: remove the position_* keys");
  }
  if (c.snapshot_mode != snapshot::SnapshotMode::never)
    return err("snapshot_mode",
               "sink postgresql copies no initial snapshot yet: use snapshot_mode never and copy the "
               "tables first (e.g. pg_dump --snapshot of the slot's exported snapshot)");
  if (c.unchanged_toast != ToastPolicy::marker)
    return err("unchanged_toast",
               "sink postgresql leaves unchanged TOAST columns as they are on the target; "
               "remove unchanged_toast");
  if (c.apply.on_conflict == ApplyConflictPolicy::keep_newer && c.apply.commit_time_column.empty())
    return err("apply_commit_time_column", "required when apply_on_conflict is keep_newer");
  for (const auto& m : c.apply_table_map) {
    const auto eq = m.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == m.size() || m.find('=', eq + 1) != std::string::npos)
      return err("apply_table_map",
                 "entries are source=target (e.g. public.orders=archive.orders), got " + quote_value(m));
  }
  return std::nullopt;
}

// Cross-key checks after every key has its final value. `where` tells which source set a key.
std::optional<ConfigError> validate(const Config& c, const std::function<std::string(std::string_view)>& where) {
  auto err = [&](std::string_view key, std::string msg) {
    return ConfigError{std::string(key), std::move(msg), where(key)};
  };
  for (const auto& k : key_table()) {
    if (!k.info.required) continue;
    if (k.show(c).empty())
      return ConfigError{std::string(k.info.name),
                         "required key is missing (set it in the config file, " + env_name(k.info.name) + " or " +
                             flag_name(k.info.name) + "=...)",
                         ""};
  }
  if (c.source.host.empty()) return err("postgresql_host", "must not be empty");
  if (slot_name_problem(c.stream.slot_name) == SlotNameProblem::bad_character)
    return err("postgresql_slot_name",
               "may contain only lower-case letters, digits and underscores, got " + quote_value(c.stream.slot_name));
  if (slot_name_problem(c.stream.slot_name) == SlotNameProblem::too_long)
    return err("postgresql_slot_name", "must be at most 63 characters");
  for (const auto& p : c.stream.publication_names)
    if (!valid_identifier_text(p))
      return err("postgresql_publication_name", "must be 1-63 bytes, got " + quote_value(p));
  if (c.plugin_name != "pgoutput" && c.plugin_name != "wal2json")
    return err("postgresql_plugin_name",
               "unknown output plugin " + quote_value(c.plugin_name) + "; use pgoutput or wal2json");
  if (c.plugin_name == "wal2json") {  // pgoutput's protocol options have no wal2json counterpart
    const std::string why =
        " is a pgoutput option; wal2json has none (remove it or use postgresql_plugin_name: pgoutput)";
    if (c.stream.binary) return err("binary", "binary" + why);
    if (c.stream.streaming != StreamingMode::off) return err("streaming", "streaming" + why);
    if (c.stream.two_phase) return err("two_phase", "two_phase" + why);
    if (c.stream.origin != OriginFilter::any) return err("origin", "origin" + why);
  }
  if (c.stream.streaming == StreamingMode::on && c.stream.proto_version < 2)
    return err("streaming", "needs proto_version 2 or higher");
  if (c.stream.streaming == StreamingMode::parallel && c.stream.proto_version < 4)
    return err("streaming", "parallel needs proto_version 4 (PostgreSQL 16 or later)");
  if (c.stream.failover_slot && c.stream.temporary_slot)
    return err("postgresql_failover_slot", "a temporary slot cannot be a failover slot (postgresql_temp_slot is true)");
  if (c.stream.two_phase && c.stream.proto_version < 3) return err("two_phase", "needs proto_version 3 or higher");
  if (c.stream.temporary_slot && !c.stream.create_slot)
    return err("postgresql_temp_slot",
               "a temporary slot is created on every start; postgresql_create_slot must be true");
  if (c.stream.temporary_slot && c.snapshot_mode == snapshot::SnapshotMode::initial_only)
    return err("snapshot_mode",
               "initial_only needs a permanent slot (a temporary slot is gone when the program exits)");
  if (!c.source.sslkey.empty() && c.source.sslcert.empty())
    return err("postgresql_ssl_key", "set postgresql_ssl_cert too (a key without a certificate is unused)");
  if (!c.source.sslcert.empty() && c.source.sslkey.empty())
    return err("postgresql_ssl_cert", "set postgresql_ssl_key too (the certificate's private key)");
  if (c.source.sslmode.starts_with("verify-") && c.source.sslrootcert.empty())
    return err("postgresql_ssl_root_cert", "required when postgresql_ssl_mode is " + c.source.sslmode);
  const std::pair<std::string_view, const std::string*> files[] = {{"postgresql_ssl_cert", &c.source.sslcert},
                                                                   {"postgresql_ssl_key", &c.source.sslkey},
                                                                   {"postgresql_ssl_root_cert", &c.source.sslrootcert}};
  for (const auto& [key, path] : files) {
    std::string why;
    if (!path->empty() && !readable_file(*path, why)) return err(key, "cannot read '" + *path + "': " + why);
  }
  if (c.position_store == PositionStoreKind::file && c.position_file.empty())
    return err("position_file", "required when position_store is file");
  if (c.position_store == PositionStoreKind::postgresql) {
    const auto dot = c.position_table.find('.');
    const bool ok = dot == std::string::npos
                        ? valid_identifier_text(c.position_table)
                        : valid_identifier_text(std::string_view(c.position_table).substr(0, dot)) &&
                              valid_identifier_text(std::string_view(c.position_table).substr(dot + 1)) &&
                              c.position_table.find('.', dot + 1) == std::string::npos;
    if (!ok)
      return err("position_table",
                 "must be table or schema.table, each part 1-63 bytes, got " + quote_value(c.position_table));
  }
  if (auto e = check_dsn(c.position_dsn, "position_dsn", where("position_dsn"))) return e;
  if (c.position_store == PositionStoreKind::azure) {
    if (auto p = azure_blob_options(c).problem()) return err("azure_" + p->field, p->message);
  }
  if (c.sink == SinkKind::file && c.sink_file.empty()) return err("sink_file", "required when sink is file");
  if (c.sink == SinkKind::nats) {
    const NatsJetStreamOptions& n = c.nats;
    if (n.urls.empty()) return err("nats_url", "needs at least one server when sink is nats");
    for (const auto& u : n.urls)
      if (u.find(':') == std::string::npos)
        return err("nats_url", "must be nats://host:port (or tls://host:port), got " + quote_value(u));
    if (n.stream.empty() || n.stream.find_first_of(" .*>\\/\t") != std::string::npos)
      return err("nats_stream", "must be a stream name without spaces, '.', '*', '>', '/' or '\\'");
    if (!nats::valid_subject_prefix(n.subject_prefix))
      return err("nats_subject_prefix",
                 "must be dot-separated tokens without spaces or wildcards, got " + quote_value(n.subject_prefix));
    const int methods = (n.creds_file.empty() ? 0 : 1) + (n.user.empty() ? 0 : 1) + (n.token.empty() ? 0 : 1);
    if (methods > 1)
      return err("nats_user", "set only one of nats_creds_file, nats_user (+ nats_password) and nats_token");
    if (!n.password.empty() && n.user.empty()) return err("nats_password", "needs nats_user");
    if (n.tls_cert.empty() != n.tls_key.empty())
      return err(n.tls_cert.empty() ? "nats_tls_cert" : "nats_tls_key", "nats_tls_cert and nats_tls_key go together");
    for (const auto& [name, path] : {std::pair<const char*, const std::string*>{"nats_creds_file", &n.creds_file},
                                     {"nats_tls_ca", &n.tls_ca},
                                     {"nats_tls_cert", &n.tls_cert},
                                     {"nats_tls_key", &n.tls_key}})
      if (!path->empty() && ::access(path->c_str(), R_OK) != 0) return err(name, "cannot read " + quote_value(*path));
  }
  if (auto e = validate_apply(c, where)) return e;
  if (!c.batcher.spill_directory.empty()) {
    struct stat st {};
    if (::stat(c.batcher.spill_directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
        ::access(c.batcher.spill_directory.c_str(), W_OK | X_OK) != 0)
      return err("spill_directory",
                 "must be an existing, writable directory, got " + quote_value(c.batcher.spill_directory));
  }
  for (const auto* key : {"include_columns", "exclude_columns"}) {
    for (const auto& entry : std::string_view(key) == "include_columns" ? c.include_columns : c.exclude_columns) {
      const auto dot = entry.rfind('.');
      if (dot == std::string::npos || dot == 0 || dot + 1 == entry.size())
        return err(key, "entries are table.column globs (e.g. public.users.password_hash), got " + quote_value(entry));
    }
  }
  for (const auto& op : c.include_operations) {
    if (!OperationSet::parse(op))
      return err("include_operations", "unknown operation " + quote_value(op) + "; use " + OperationSet::names_text());
  }
  if (c.reconnect.max < c.reconnect.initial)
    return err("reconnect_max_ms",
               "must be at least reconnect_initial_ms (" + std::to_string(c.reconnect.initial.count()) + ")");
  return std::nullopt;
}

}  // namespace

Environment process_environment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

const std::vector<KeyInfo>& all_keys() {
  static const std::vector<KeyInfo> keys = [] {
    std::vector<KeyInfo> out;
    for (const auto& k : key_table()) out.push_back(k.info);
    return out;
  }();
  return keys;
}

std::string env_name(std::string_view key) {
  std::string out = "REPLICATOR_";
  for (char c : key) out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string flag_name(std::string_view key) {
  std::string out = "--";
  for (char c : key) out += c == '_' ? '-' : c;
  return out;
}

std::string closest_key(std::string_view unknown) {
  const std::string u = lower(unknown);
  std::string best;
  std::size_t best_d = std::string::npos;
  for (const auto& k : key_table()) {
    const std::string_view name = k.info.name;
    // "host" -> "postgresql_host": a missing prefix is the commonest slip.
    if (name == "postgresql_" + u) return std::string(name);
    const std::size_t d = edit_distance(u, name);
    if (d < best_d) {
      best_d = d;
      best = std::string(name);
    }
  }
  if (best_d <= std::max<std::size_t>(2, u.size() / 3)) return best;
  return {};
}

AzureBlobOptions azure_blob_options(const Config& c) {
  AzureBlobOptions o = c.azure;
  if (o.blob.empty()) o.blob = c.slot_name() + ".position";
  return o;
}

ConnectionConfig connection_from_dsn(ConnectionConfig cc, const std::string& dsn) {
  if (dsn.empty()) return cc;
  auto d = parse_position_dsn(dsn);  // validated with the config already
  if (!d) return cc;
  if (d->host) cc.host = *d->host;
  if (d->port) cc.port = static_cast<std::uint16_t>(std::stoi(*d->port));
  if (d->dbname) cc.dbname = *d->dbname;
  if (d->user) cc.user = *d->user;
  if (d->password) cc.password = *d->password;
  if (d->sslmode) cc.sslmode = *d->sslmode;
  if (d->sslcert) cc.sslcert = *d->sslcert;
  if (d->sslkey) cc.sslkey = *d->sslkey;
  if (d->sslrootcert) cc.sslrootcert = *d->sslrootcert;
  if (d->connect_timeout) cc.connect_timeout_s = std::atoi(d->connect_timeout->c_str());
  return cc;
}

Result<DsnSettings, ConfigError> parse_position_dsn(const std::string& dsn) {
  char* errmsg = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &errmsg);
  if (opts == nullptr) {
    // libpq's message may quote part of the string (a password): say only that it is malformed.
    if (errmsg) PQfreemem(errmsg);
    return ConfigError{"position_dsn", "not a valid libpq connection string (key=value pairs or a postgresql:// URI)",
                       ""};
  }
  DsnSettings out;
  std::optional<ConfigError> error;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view k = o->keyword;
    std::optional<std::string>* slot = k == "host"              ? &out.host
                                       : k == "port"            ? &out.port
                                       : k == "dbname"          ? &out.dbname
                                       : k == "user"            ? &out.user
                                       : k == "password"        ? &out.password
                                       : k == "sslmode"         ? &out.sslmode
                                       : k == "sslcert"         ? &out.sslcert
                                       : k == "sslkey"          ? &out.sslkey
                                       : k == "sslrootcert"     ? &out.sslrootcert
                                       : k == "connect_timeout" ? &out.connect_timeout
                                                                : nullptr;
    if (slot == nullptr) {
      if (!error)
        error = ConfigError{"position_dsn",
                            "connection setting '" + std::string(k) +
                                "' is not supported here (use host, port, dbname, user, password, sslmode, "
                                "sslcert, sslkey, sslrootcert, connect_timeout)",
                            ""};
      continue;
    }
    *slot = std::string(o->val);
  }
  PQconninfoFree(opts);
  if (error) return *error;
  if (out.sslmode) {
    if (!is_known_sslmode(*out.sslmode))
      return ConfigError{"position_dsn", "sslmode must be one of " + sslmodes_text(), ""};
  }
  return out;
}

std::vector<std::string> environment_warnings(const Environment& env) {
  std::vector<std::string> out;
  for (const auto& [name, value] : env) {
    if (name.rfind("REPLICATOR_", 0) != 0 || name == "REPLICATOR_CONFIG") continue;
    const std::string key = lower(std::string_view(name).substr(11));
    if (find_key(key)) continue;
    const std::string near = closest_key(key);
    // Only near misses: "POSTGRESQL_HOTS", not the harness's REPLICATOR_PG_BIN.
    if (!near.empty() && edit_distance(key, near) <= 2)
      out.push_back("environment variable " + name + " is not a config key; did you mean " + env_name(near) + "?");
  }
  return out;
}

std::string usage_text() {
  std::ostringstream o;
  o << "usage: replicator --config FILE [--KEY=VALUE ...]\n"
       "\n"
       "Streams changes from a PostgreSQL logical replication slot (pgoutput) as JSON lines.\n"
       "Every config key can also be set with an environment variable or a flag;\n"
       "precedence: flag > environment > file > default.\n"
       "\n"
       "  --config FILE     YAML config file (or REPLICATOR_CONFIG)\n"
       "  --print-config    validate, print the effective config (secrets redacted) and exit\n"
       "  --help, --version\n"
       "\n"
       "keys (flag / environment variable: type, default):\n";
  for (const auto& k : key_table()) {
    o << "  " << flag_name(k.info.name) << " / " << env_name(k.info.name) << ": " << k.info.type << ", default "
      << k.info.default_text << "\n      " << k.info.help << "\n";
  }
  o << "\nexit codes: 0 stopped cleanly, 1 fatal replication error, 2 bad command line or configuration\n";
  return o.str();
}

std::string describe_config(const Config& cfg) {
  std::string out;
  for (const auto& k : key_table()) {
    const std::string v = k.show(cfg);
    out += std::string(k.info.name) + ": ";
    // Quote values YAML could misread; lists are already in flow form.
    const bool plain = !v.empty() && (v.front() == '[' || v.find_first_of(":#'\"{}&*!|>%@`") == std::string::npos);
    if (plain) {
      out += v;
    } else {
      out += "'";
      for (char c : v) out += c == '\'' ? std::string("''") : std::string(1, c);
      out += "'";
    }
    out += "\n";
  }
  return out;
}

Result<CommandLine, ConfigError> parse_command_line(int argc, const char* const* argv) {
  CommandLine cli;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      cli.help = true;
      continue;
    }
    if (arg == "--version") {
      cli.version = true;
      continue;
    }
    if (arg == "--print-config") {
      cli.print_config = true;
      continue;
    }
    if (arg.substr(0, 2) != "--" || arg.size() == 2)
      return ConfigError{std::string(arg), "unexpected argument (flags look like --key=value; see --help)",
                         "command line"};
    std::string name(arg.substr(2));
    std::optional<std::string> value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (name == "config" || name == "c") {
      if (!value) {
        if (i + 1 >= argc) return ConfigError{"--config", "needs a file path", "command line"};
        value = argv[++i];
      }
      cli.config_path = *value;
      continue;
    }
    std::string key = name;
    std::replace(key.begin(), key.end(), '-', '_');
    const KeyDef* def = find_key(key);
    if (!def) return ConfigError{"--" + name, unknown_key_message(key, true), "command line"};
    if (!value) {
      // A bare boolean flag means true; other flags take the next argument.
      if (def->info.type.substr(0, 4) == "bool") {  // "bool", "bool|parallel"
        value = "true";
      } else {
        if (i + 1 >= argc) return ConfigError{key, "flag " + flag_name(key) + " needs a value", "command line"};
        value = argv[++i];
      }
    }
    cli.overrides.emplace_back(key, *value);
  }
  return cli;
}

Result<Config, ConfigError> load_config_text(std::string_view yaml, std::string_view path, const CommandLine& cli,
                                             const Environment& env) {
  Collected got;
  if (auto e = collect_file(yaml, path, got.file)) return *e;
  for (const auto& k : key_table()) {
    const std::string name = env_name(k.info.name);
    if (auto it = env.find(name); it != env.end() && !it->second.empty())
      got.env.emplace(std::string(k.info.name),
                      RawValue{RawValue::Kind::scalar, it->second, {}, "environment " + name});
  }
  for (const auto& [key, value] : cli.overrides) {
    got.flag.insert_or_assign(key, RawValue{RawValue::Kind::scalar, value, {}, "flag " + flag_name(key)});
  }

  Config cfg;
  // libpq's own variable, as a fallback below every replicator source.
  if (auto it = env.find("PGPASSWORD"); it != env.end()) cfg.source.password = it->second;

  std::unordered_map<std::string, std::string> source;  // key -> where its final value came from
  for (const auto& k : key_table()) {
    const std::string key(k.info.name);
    const RawValue* v = nullptr;
    if (auto it = got.flag.find(key); it != got.flag.end()) v = &it->second;
    else if (auto it2 = got.env.find(key); it2 != got.env.end()) v = &it2->second;
    else if (auto it3 = got.file.find(key); it3 != got.file.end()) v = &it3->second;
    if (!v) continue;
    source[key] = v->where;
    if (auto msg = k.apply(cfg, *v)) return ConfigError{key, *msg, v->where};
  }
  // sink: postgresql copies no snapshot (validate refuses one asked for): never is its default.
  if (cfg.sink == SinkKind::postgresql && !source.count("snapshot_mode"))
    cfg.snapshot_mode = snapshot::SnapshotMode::never;
  if (auto e = validate(cfg, [&](std::string_view key) {
        auto it = source.find(std::string(key));
        return it == source.end() ? std::string() : it->second;
      }))
    return *e;
  return cfg;
}

Result<Config, ConfigError> load_config(const CommandLine& cli, const Environment& env) {
  std::string path = cli.config_path;
  if (path.empty()) {
    if (auto it = env.find("REPLICATOR_CONFIG"); it != env.end()) path = it->second;
  }
  std::string text;
  if (!path.empty()) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return ConfigError{"--config", "cannot read '" + path + "': " + std::strerror(errno), ""};
    std::ostringstream ss;
    ss << f.rdbuf();
    if (f.bad()) return ConfigError{"--config", "cannot read '" + path + "'", ""};
    text = ss.str();
  }
  auto cfg = load_config_text(text, path, cli, env);
  if (!cfg && path.empty() && cfg.error().message.rfind("required key is missing", 0) == 0) {
    ConfigError e = cfg.error();
    e.message += "; no config file was given (replicator --config FILE)";
    return e;
  }
  return cfg;
}

}  // namespace replicator::program
