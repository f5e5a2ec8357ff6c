// The `replicator` program: reads the config, composes Replicator<LibpqTransport, PgOutputEventDecoder,
// CombinedBatcher, Store, Sink> (store and sink picked at startup; the loop itself stays templated),
// streams until SIGINT/SIGTERM, reconnects on retryable errors with backoff, exits 0/1/2.
//   replicator --config replicator.yaml [--postgresql-host=... ...]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <mutex>
#include <optional>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>

#include "apply.hpp"
#include "config.hpp"
#include "logging.hpp"
#include "monitoring.hpp"
#include "nats_sink.hpp"
#include "signals.hpp"
#include "replicator/core/backoff.hpp"
#include "replicator/batch/batcher.hpp"
#include "replicator/filter/column_filter.hpp"
#include "replicator/filter/change_filter.hpp"
#include "replicator/format/debezium.hpp"
#include "replicator/format/debezium_catalog_pg.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/azure_blob.hpp"
#include "replicator/position/file.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/position/postgres.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/json_lines.hpp"
#include "replicator/snapshot/snapshot.hpp"
#include "replicator/transport/libpq.hpp"
#include "replicator/wal2json/decoder.hpp"
#include "replicator/wal2json/pg_catalog.hpp"

namespace replicator::program {
namespace {

constexpr const char* kVersion = "replicator 0.1.0";
constexpr std::string_view kVersionNumber = std::string_view(kVersion).substr(11);  // build_info's label

using Clock = std::chrono::steady_clock;

// The position database: the source connection, overridden by what position_dsn names.
ConnectionConfig position_connection(const Config& c) {
  ConnectionConfig cc = c.source;
  cc.application_name = "replicator-position";
  return connection_from_dsn(std::move(cc), c.position_dsn);
}

// The stream options with the slot's plugin (postgresql_plugin_name).
LibpqTransportOptions transport_options(const Config& c) {
  LibpqTransportOptions o = c.stream;
  o.plugin = c.plugin_name == "wal2json" ? OutputPlugin::wal2json : OutputPlugin::pgoutput;
  return o;
}

ChangeFilter change_filter(const Config& c) {
  TableFilter tables{c.include_tables, c.exclude_tables};
  OperationSet ops = OperationSet::all();
  if (!c.include_operations.empty()) {
    for (const auto& [name, op] : OperationSet::kNames) {
      const bool listed =
          std::find(c.include_operations.begin(), c.include_operations.end(), name) != c.include_operations.end();
      if (!listed) ops = ops.without(op);
    }
  }
  ChangeFilter filter(std::move(tables), ops);
  // Column lists: "table_glob.column_glob" entries, include entries grouped per table pattern.
  ColumnFilter columns;
  for (const auto& entry : c.include_columns) {
    const auto dot = entry.rfind('.');
    const std::string table = entry.substr(0, dot), column = entry.substr(dot + 1);
    auto it = std::find_if(columns.rules.begin(), columns.rules.end(),
                           [&](const ColumnRule& r) { return r.table == table && !r.include.empty(); });
    if (it == columns.rules.end()) columns.rules.push_back({table, {column}, {}});
    else it->include.push_back(column);
  }
  for (const auto& entry : c.exclude_columns) {
    const auto dot = entry.rfind('.');
    columns.rules.push_back({entry.substr(0, dot), {}, {entry.substr(dot + 1)}});
  }
  filter.columns = ColumnShaper::make(std::move(columns), c.unchanged_toast);
  return filter;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "none";
  }
}

std::string error_text(const ReplicationError& e) { return e.message; }

// The fatal path: one error line, exit 1.
int fail(Logger& log, std::string_view what, const ReplicationError& e) {
  const std::string msg = std::string(what) + ": " + error_text(e);
  if (e.sqlstate.empty()) log.error(msg);
  else log.error(msg, {{"sqlstate", e.sqlstate}});
  return kExitFatal;
}

// The initial snapshot before streaming (docs/snapshot.md): copy the published tables from the
// slot's exported snapshot into the sink as read events and save the consistent point as the
// position. Returns the exit code when the program ends here (initial_only, fatal error, stop).
template <class Store, class Sink>
std::optional<int> initial_snapshot(const Config& cfg, Logger& log, Store& store, Sink& sink, Monitoring& monitoring) {
  if (cfg.stream.temporary_slot) {
    if (cfg.snapshot_mode != snapshot::SnapshotMode::never)
      log.warn("snapshot_mode is ignored with a temporary slot (the snapshot needs a permanent slot): streaming only");
    return std::nullopt;
  }
  snapshot::SnapshotOptions so;
  so.mode = cfg.snapshot_mode;
  so.slot_name = cfg.stream.slot_name;
  so.publication_names = cfg.stream.publication_names;
  so.plugin = cfg.plugin_name;
  so.create_slot = cfg.stream.create_slot;
  so.two_phase = cfg.stream.two_phase;
  so.tables = TableFilter{cfg.include_tables, cfg.exclude_tables};
  so.format =
      cfg.stream.binary ? snapshot::CopyFormat::binary : snapshot::CopyFormat::text;  // values like the stream's
  so.parallelism = cfg.snapshot_parallelism;
  // A bar redrawn in place on a terminal; log lines otherwise.
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  so.progress_interval = tty ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
  so.on_progress = [&](const snapshot::SnapshotProgress& p) {
    monitoring.record_snapshot(p);
    if (tty) {
      snapshot::draw_progress_bar(stderr, p);
      return;
    }
    if (p.finished) return;  // the completion line below says it all
    const auto eta = p.eta();
    log.info("snapshot progress", {{"tables_done", p.tables_done},
                                   {"tables", p.tables_total},
                                   {"rows_done", p.rows_done},
                                   {"rows_estimated", p.rows_total()},
                                   {"rows_per_s", static_cast<std::int64_t>(p.rows_per_second())},
                                   {"eta_s", eta ? static_cast<std::int64_t>(eta->count()) : std::int64_t{-1}}});
  };
  so.on_copy_start = [&](Lsn consistent_point, std::string_view snapshot_name) {
    log.info("snapshot started", {{"slot", cfg.slot_name()},
                                  {"consistent_point", consistent_point},
                                  {"snapshot", snapshot_name},
                                  {"parallelism", cfg.snapshot_parallelism},
                                  {"format", to_string(so.format)}});
    if (cfg.position_store == PositionStoreKind::memory) {
      log.warn(
          "position_store memory keeps no record of an unfinished snapshot: if this process is killed "
          "before the copy completes, the next start streams without the missing rows; drop the slot "
          "then, or use position_store file or postgresql");
    }
  };
  std::mutex log_mutex;  // tables finish on the copy threads
  so.on_table_done = [&](const snapshot::SnapshotTable& t, std::uint64_t rows) {
    std::lock_guard lock(log_mutex);
    if (!tty) log.debug("snapshot table copied", {{"table", t.relation.qualified_name()}, {"rows", rows}});
  };
  so.reconnect = cfg.reconnect;
  so.on_retry = [&](const ReplicationError& e, int attempt, std::chrono::milliseconds delay) {
    log.warn("initial snapshot failed, reconnecting: " + error_text(e),
             {{"sqlstate", e.sqlstate.empty() ? std::string("none") : e.sqlstate},
              {"attempt", attempt},
              {"delay_ms", delay.count()}});
  };
  if (stop_requested().load()) return kExitOk;
  const auto started = Clock::now();
  auto report = snapshot::run_initial_snapshot(cfg.source, so, store, sink, stop_requested());
  if (!report) {
    if (stop_requested().load()) {
      log.info("snapshot interrupted by a stop request; the next start redoes it", {{"slot", cfg.slot_name()}});
      return kExitOk;
    }
    return fail(log, "initial snapshot failed", report.error());
  }
  if (report->outcome == snapshot::SnapshotOutcome::completed) {
    const double secs = std::chrono::duration<double>(Clock::now() - started).count();
    log.info("snapshot complete", {{"slot", cfg.slot_name()},
                                   {"tables", report->tables},
                                   {"rows", report->rows},
                                   {"seconds", secs},
                                   {"consistent_point", report->consistent_point},
                                   {"restarted", report->restarted}});
  } else {
    log.info("no snapshot", {{"slot", cfg.slot_name()}, {"reason", report->reason}});
  }
  if (so.mode != snapshot::SnapshotMode::initial_only) return std::nullopt;
  if (cfg.stream.drop_slot_on_exit) {  // a one-shot copy that leaves no slot behind
    auto conn = PgConnection::connect(cfg.source, ConnectionKind::normal);
    const std::string params[] = {cfg.slot_name()};
    Status dropped = conn ? Status(ok_status()) : Status(conn.error());
    if (conn) {
      auto res = conn->exec_params("SELECT pg_catalog.pg_drop_replication_slot($1)", params, "dropping the slot");
      if (!res) dropped = res.error();
    }
    if (!dropped) return fail(log, "cannot drop the slot after the snapshot", dropped.error());
    log.info("snapshot_mode initial_only: slot dropped (postgresql_drop_slot_on_exit), exiting",
             {{"slot", cfg.slot_name()}});
    return kExitOk;
  }
  log.info("snapshot_mode initial_only: exiting; a later run streams from the consistent point");
  return kExitOk;
}

template <class Decoder, class Store, class Sink>
int stream_with(const Config& cfg, Logger& log, Decoder decoder, Store store, Sink sink) {
  ReplicatorOptions ro;
  ro.slot_name = cfg.slot_name();
  ro.start_lsn = cfg.start_lsn;
  ro.end_lsn = cfg.end_lsn;
  ro.status_interval = cfg.stream.status_interval;
  ro.poll_timeout = std::chrono::milliseconds(100);
  ro.flush_when_idle = cfg.batch_flush_when_idle;
  ro.reconnect = cfg.reconnect;

  Replicator replicator(LibpqTransport(cfg.source, transport_options(cfg)), std::move(decoder),
                        CombinedBatcher(cfg.batch_limits, cfg.batcher), std::move(store), std::move(sink),
                        std::move(ro), change_filter(cfg));
  auto& transport = replicator.transport();

  // Metrics endpoint, slot health and heartbeats (docs/metrics.md): listening before the snapshot.
  auto monitoring = Monitoring::start(cfg, log, cfg.source, kVersionNumber);
  if (!monitoring) return fail(log, "cannot start the metrics endpoint", monitoring.error());
  Monitoring& mon = **monitoring;
  if constexpr (std::is_same_v<Sink, PostgresApplySink>) count_apply_conflicts(mon.metrics().registry());

  // 0. The initial snapshot (snapshot_mode), into the same store and sink the stream uses.
  if (auto code = initial_snapshot(cfg, log, replicator.position_store(), replicator.sink(), mon)) return *code;

  // 1. Replicator::run() connects, streams and rides out retryable errors (docs/guarantees.md);
  //    what it reports is logged here.
  auto& observer = replicator.observer();
  bool standby_logged = false;  // "standby" is logged once per wait for the slot
  observer.started = [&] {
    standby_logged = false;
    const auto& id = transport.identity();
    const auto& slot = transport.slot();
    log.info("streaming", {{"slot", cfg.slot_name()},
                           {"publication", cfg.publications()},
                           {"slot_created", slot ? slot->created : false},
                           {"temporary", cfg.stream.temporary_slot},
                           {"resume_from", replicator.stored_position() ? replicator.stored_position()->lsn.to_string()
                                                                        : std::string("slot")},
                           {"confirmed_flush", slot ? slot->confirmed_flush : Lsn{}},
                           {"system_id", id ? id->systemid : std::string()},
                           {"timeline", id ? static_cast<std::int64_t>(id->timeline) : 0},
                           {"server_version", transport.server_version()}});
    if (cfg.plugin_name == "wal2json" && !transport.wal2json_numbers_as_strings()) {
      log.warn(
          "this wal2json (before 2.6) refused numeric-data-types-as-string: NaN and Infinity in numeric and "
          "float columns arrive as null (upgrade wal2json to keep them)");
    }
  };
  observer.retrying = [&](const ReplicationError& e, std::string_view during, int attempt,
                          std::chrono::milliseconds delay) {
    if (e.sqlstate == "55006") {
      // The slot is active for another walsender: another instance streams it. Wait as a standby,
      // quietly (one line, then debug), and take over when it is free (docs/scale-out.md).
      if (!standby_logged)
        log.info(
            "standby: the slot is in use by another walsender (another instance, or this one's "
            "previous connection not yet ended); taking over when it is free",
            {{"slot", cfg.slot_name()}, {"retry_ms", delay.count()}});
      else log.debug("standby: slot still in use", {{"slot", cfg.slot_name()}, {"attempt", attempt}});
      standby_logged = true;
      return;
    }
    log.warn(std::string(during) + " failed, reconnecting: " + error_text(e),
             {{"sqlstate", e.sqlstate.empty() ? std::string("none") : e.sqlstate},
              {"attempt", attempt},
              {"delay_ms", delay.count()}});
    if (cfg.stream.temporary_slot) {
      log.warn(
          "the temporary slot is recreated at the current WAL position: changes made while disconnected are "
          "not streamed");
    }
  };
  observer.save_failed = [&](const ReplicationError& e, int attempt, std::chrono::milliseconds retry_in) {
    log.warn("position save failed, streaming on (nothing past the last saved position is confirmed): " +
                 error_text(e),
             {{"attempt", attempt}, {"retry_ms", retry_in.count()}});
  };
  observer.resumed = [&](Lsn from) {
    standby_logged = false;
    log.info("streaming resumed", {{"slot", cfg.slot_name()}, {"from", from}});
  };
  auto last_progress = Clock::now();
  const auto progress_every = std::chrono::seconds(30);
  std::uint64_t batches_logged = 0;
  ProgressSampler<256> progress_sampler;
  std::uint64_t spills_logged = 0;
  std::uint64_t unknown_prepared_logged = 0;
  observer.progressed = [&] {
    if (const auto& spill = replicator.batcher().spill_stats(); spill.transactions != spills_logged) {
      spills_logged = spill.transactions;  // once per spilled transaction, not per event
      log.info("large transaction spilled to disk",
               {{"spilled_transactions", spill.transactions},
                {"memory_limit_bytes", cfg.batcher.memory_limit_bytes},
                {"spill_directory",
                 cfg.batcher.spill_directory.empty() ? std::string("(TMPDIR)") : cfg.batcher.spill_directory}});
    }
    if (const auto n = replicator.batcher().unknown_commit_prepared(); n != unknown_prepared_logged) {
      unknown_prepared_logged = n;  // docs/two_phase.md: its PREPARE came before where this run started
      log.warn(
          "COMMIT PREPARED of a transaction whose PREPARE was not received: its changes were not streamed "
          "(was the slot confirmed past it by another consumer?)",
          {{"count", n}});
    }
    if (log.enabled(LogLevel::debug) && replicator.stats().batches != batches_logged) {
      batches_logged = replicator.stats().batches;
      log.debug("batch written", {{"batches", batches_logged},
                                  {"events_written", replicator.stats().events_written},
                                  {"flushed_lsn", replicator.flushed_lsn()}});
    }
    // Called after every poll: while messages stream, the clock is read once per 256 polls (the
    // interval is 30 s); an idle poll always reads it.
    if (!progress_sampler.due(replicator.stats().messages)) return;
    const auto now = Clock::now();
    if (now - last_progress >= progress_every) {
      last_progress = now;
      const auto& s = replicator.stats();
      log.info("progress", {{"events_written", s.events_written},
                            {"batches", s.batches},
                            {"filtered", s.filtered},
                            {"flushed_lsn", replicator.flushed_lsn()},
                            {"received_lsn", transport.received_lsn()}});
    }
  };

  // 2. Until SIGINT/SIGTERM; a clean stop flushes the sink, saves the position, sends the final
  //    status and ends COPY. A fatal error is one line and exit 1.
  mon.attach(replicator);  // after the callbacks above: they keep running
  auto st = replicator.run(stop_requested());
  mon.stop_slot_monitor();
  if (mon.slot_lost()) return kExitFatal;  // the slot check logged the one line (how to recover)
  if (!st) return fail(log, "replication failed", st.error());
  const auto& s = replicator.stats();
  log.info("stopped", {{"signal", signal_name(stop_signal())},
                       {"events_written", s.events_written},
                       {"batches", s.batches},
                       {"reconnects", s.reconnects},
                       {"flushed_lsn", replicator.flushed_lsn()},
                       {"slot_dropped", cfg.stream.drop_slot_on_exit || cfg.stream.temporary_slot}});
  return kExitOk;
}

// The decoder for postgresql_plugin_name: wal2json reads table definitions over a connection of its own.
template <class Store, class Sink>
int stream(const Config& cfg, Logger& log, Store store, Sink sink) {
  if (cfg.plugin_name == "wal2json") {
    wal2json::Wal2JsonEventDecoder decoder(wal2json::PgRelationCatalog(cfg.source),
                                           wal2json::Wal2JsonDecoderOptions{.messages = cfg.stream.messages});
    return stream_with(cfg, log, std::move(decoder), std::move(store), std::move(sink));
  }
  return stream_with(cfg, log, pgoutput::PgOutputEventDecoder{}, std::move(store), std::move(sink));
}

template <class Store, class Formatter>
int with_sink(const Config& cfg, Logger& log, Store store, Formatter formatter) {
  if (cfg.sink == SinkKind::nats) {
    BasicNatsJetStreamSink<Formatter> sink(cfg.nats, std::move(formatter));
    if (auto e = connect_nats(sink, log)) return fail(log, "cannot use the NATS sink", *e);
    return stream(cfg, log, std::move(store), std::move(sink));
  }
  if (cfg.sink == SinkKind::file) {
    auto sink = BasicJsonLinesSink<Formatter>::open_file(cfg.sink_file, std::move(formatter));
    if (!sink) return fail(log, "cannot open sink_file", sink.error());
    return stream(cfg, log, std::move(store), std::move(*sink));
  }
  return stream(cfg, log, std::move(store), BasicJsonLinesSink<Formatter>::to_stdout(std::move(formatter)));
}

template <class Store>
int with_sink(const Config& cfg, Logger& log, Store store) {
  if (cfg.sink_format == SinkFormat::debezium) {
    DebeziumOptions d;
    d.server_name = cfg.debezium_server_name;
    d.database = cfg.database();
    d.modes = {cfg.debezium_decimal_handling_mode, cfg.debezium_interval_handling_mode,
               cfg.debezium_binary_handling_mode, cfg.debezium_time_precision_mode, cfg.debezium_hstore_handling_mode};
    d.schemas = cfg.debezium_schemas;
    d.keys = cfg.debezium_keys;
    d.tombstones = cfg.debezium_tombstones;
    d.type_lookup = [conn = cfg.source](const std::vector<Oid>& oids, format::DebeziumTypeCatalog& cat) {
      return format::load_debezium_types(conn, oids, cat);  // enums, domains, hstore: once per new type
    };
    return with_sink(cfg, log, std::move(store), DebeziumFormatter(std::move(d)));
  }
  // begin / commit lines: always for files; for NATS only with nats_publish_transactions.
  return with_sink(cfg, log, std::move(store),
                   format::ChangeJsonFormatter{cfg.sink != SinkKind::nats || cfg.nats.publish_transactions, true});
}

int run(const Config& cfg, Logger& log) {
  log.info("starting", {{"version", kVersion},
                        {"host", cfg.source.host},
                        {"port", cfg.source.port},
                        {"database", cfg.database()},
                        {"user", cfg.source.user},
                        {"slot", cfg.slot_name()},
                        {"publication", cfg.publications()},
                        {"ssl_mode", cfg.source.sslmode},
                        {"position_store",
                         cfg.sink == SinkKind::postgresql ? std::string_view("origin") : to_string(cfg.position_store)},
                        {"sink", cfg.sink == SinkKind::file   ? cfg.sink_file
                                 : cfg.sink == SinkKind::nats ? "nats stream " + cfg.nats.stream
                                                              : std::string(to_string(cfg.sink))}});
  log.debug("connection settings", {{"libpq", cfg.source.redacted()}});
  if (cfg.sink == SinkKind::postgresql) {  // the position lives in the target (docs/apply.md)
    auto sink = make_apply_sink(cfg, log);
    auto store = sink.position_store();
    return stream(cfg, log, std::move(store), std::move(sink));
  }
  switch (cfg.position_store) {
    case PositionStoreKind::memory: return with_sink(cfg, log, MemoryPositionStore{});
    case PositionStoreKind::file: return with_sink(cfg, log, FilePositionStore(cfg.position_file));
    case PositionStoreKind::postgresql: {
      PostgresPositionStoreOptions po;
      const auto dot = cfg.position_table.find('.');
      if (dot != std::string::npos) {
        po.schema = cfg.position_table.substr(0, dot);
        po.table = cfg.position_table.substr(dot + 1);
      } else {
        po.table = cfg.position_table;
      }
      auto cc = position_connection(cfg);
      log.info("position table", {{"table", po.schema + "." + po.table}, {"libpq", cc.redacted()}});
      return with_sink(cfg, log, PostgresPositionStore(std::move(cc), cfg.slot_name(), std::move(po)));
    }
    case PositionStoreKind::azure: {
      AzureBlobPositionStore store(azure_blob_options(cfg));  // options validated with the config
      log.info("position blob",
               {{"url", store.display_url()}, {"auth", cfg.azure.sas_token.empty() ? "shared_key" : "sas_token"}});
      return with_sink(cfg, log, std::move(store));
    }
  }
  return kExitFatal;
}

// The password inside a position_dsn, so the logger can mask it too.
std::string dsn_password(const std::string& dsn) {
  if (dsn.empty()) return {};
  auto parsed = parse_position_dsn(dsn);
  return parsed && parsed->password ? *parsed->password : std::string();
}

}  // namespace
}  // namespace replicator::program

int main(int argc, char** argv) {
  using namespace replicator::program;
  // First: a SIGTERM that arrives while the config is read or the first connection is made is a
  // clean stop (exit 0), not the default action's death (143).
  install_stop_handlers();
  Logger log(LogLevel::info);
  auto cli = parse_command_line(argc, argv);
  if (!cli) {
    log.error(cli.error().describe(), {{"key", cli.error().key}});
    return kExitConfig;
  }
  if (cli->help) {
    std::fputs(usage_text().c_str(), stdout);
    return kExitOk;
  }
  if (cli->version) {
    std::puts(kVersion);
    return kExitOk;
  }
  const Environment env = process_environment();
  auto cfg = load_config(*cli, env);
  if (!cfg) {
    log.error(cfg.error().describe(), {{"key", cfg.error().key}});
    return kExitConfig;
  }
  log.set_level(cfg->log_level);
  log.add_secret(cfg->source.password);
  log.add_secret(cfg->position_dsn);
  log.add_secret(dsn_password(cfg->position_dsn));
  log.add_secret(cfg->azure.account_key);
  log.add_secret(cfg->azure.sas_token);
  log.add_secret(cfg->nats.password);
  log.add_secret(cfg->nats.token);
  log.add_secret(cfg->apply_dsn);
  log.add_secret(dsn_password(cfg->apply_dsn));
  for (const auto& w : environment_warnings(env)) log.warn(w);
  if (cli->print_config) {
    std::fputs(describe_config(*cfg).c_str(), stdout);
    return kExitOk;
  }
  return run(*cfg, log);
}
