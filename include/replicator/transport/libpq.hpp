// LibpqTransport: the live TransportPolicy. Opens a management and a replication connection,
// checks the publications and the slot, runs START_REPLICATION with the pgoutput options and
// reads the CopyBoth stream without blocking (PQconsumeInput / PQgetCopyData(async) / poll()).
//   LibpqTransport t(cfg, {.slot_name = "cdc", .publication_names = {"pub"}, .proto_version = 2});
//   if (auto st = t.start(Lsn{}); !st) return st.error();
//   auto ev = t.poll(100ms);  // WalMessage / Keepalive / Idle / EndOfStream, or a classified error
#pragma once

#include <libpq-fe.h>
#include <malloc.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "replicator/core/error.hpp"
#include "replicator/core/lsn.hpp"
#include "replicator/position/position.hpp"
#include "replicator/transport/copy_data.hpp"
#include "replicator/core/timestamp.hpp"
#include "replicator/pg/detail/libpq_text.hpp"
#include "replicator/core/transport_event.hpp"
#include "replicator/pg/connection.hpp"
#include "replicator/pg/slot.hpp"

namespace replicator {

// pgoutput `streaming`: off, on (proto 2+), parallel (proto 4, PostgreSQL 16+).
enum class StreamingMode : std::uint8_t { off, on, parallel };
// pgoutput `origin` (PostgreSQL 16+): any (all changes) or none (only changes without an origin).
enum class OriginFilter : std::uint8_t { any, none };
// The slot's output plugin. wal2json (format-version 2) ignores publications and the pgoutput
// options; docs/wal2json.md says what differs.
enum class OutputPlugin : std::uint8_t { pgoutput, wal2json };

constexpr std::string_view to_string(OutputPlugin p) noexcept {
  return p == OutputPlugin::wal2json ? "wal2json" : "pgoutput";
}

struct LibpqTransportOptions {
  OutputPlugin plugin = OutputPlugin::pgoutput;
  std::string slot_name;
  std::vector<std::string> publication_names;
  int proto_version = 1;  // 1-4; an error (not a silent downgrade) when the server supports less
  bool binary = false;
  bool messages = false;
  StreamingMode streaming = StreamingMode::off;
  bool two_phase = false;  // decode prepared transactions (proto 3+); also creates the slot with TWO_PHASE
  OriginFilter origin = OriginFilter::any;  // none needs PostgreSQL 16; any is every server's behaviour (not sent)
  bool failover_slot = false;               // create the slot with FAILOVER (or ALTER an existing one), PostgreSQL 17+

  bool create_slot = true;          // create the slot when missing (otherwise a fatal error saying how)
  bool temporary_slot = false;      // TEMPORARY slot on the streaming connection (always created)
  bool drop_slot_on_exit = false;   // finish() drops a permanent slot
  bool verify_publications = true;  // check each publication exists at open()

  std::chrono::milliseconds status_interval{10'000};  // status_due() period
  // No data and no keepalive for this long: the connection is dead (retryable error). At half of
  // it poll() asks the server for a keepalive. 0 disables.
  std::chrono::milliseconds silence_timeout{120'000};
  std::chrono::milliseconds finish_timeout{10'000};  // finish(): how long to wait for the server to end COPY
  // Read coalescing on a busy stream. A walsender draining a backlog sends each change as its own
  // small write, and a client that wakes for every one spends more CPU in poll/recv than on the
  // change (and takes that CPU from the walsender on a small machine). After `coalesce_after`
  // waits in a row that data ended within 1 ms, the socket's SO_RCVLOWAT is raised to
  // `coalesce_bytes`: poll() then wakes when that much has arrived or `coalesce_wait` has passed,
  // whichever is first, and reads what is there. A wait that finds (almost) nothing ends it, so a
  // quiet stream keeps one wake-up per message. The added delay is at most coalesce_wait, and only
  // while the stream is busy. coalesce_bytes = 0 turns it off.
  std::size_t coalesce_bytes = 32 * 1024;
  std::chrono::microseconds coalesce_wait{1000};
  int coalesce_after = 8;
};

// wal2json has none of pgoutput's protocol options: asking for one is a config error, not ignored.
[[nodiscard]] inline Status validate_wal2json_options(const LibpqTransportOptions& o, int server_version) {
  if (auto st = check_supported_server(server_version); !st) return st;
  const char* refused = o.binary                            ? "binary"
                        : o.streaming != StreamingMode::off ? "streaming"
                        : o.two_phase                       ? "two_phase"
                        : o.origin != OriginFilter::any     ? "origin"
                                                            : nullptr;
  if (refused != nullptr) {
    return ReplicationError::fatal(
        std::string("the wal2json plugin has no ") + refused +
            " option (it is a pgoutput option); remove it or use postgresql_plugin_name: pgoutput",
        "22023");
  }
  if (o.status_interval.count() <= 0) return ReplicationError::fatal("status_interval must be positive", "22023");
  if (o.silence_timeout.count() < 0) return ReplicationError::fatal("silence_timeout must be >= 0", "22023");
  return ok_status();
}

// Checks the options against each other and against the server version, before anything is sent.
[[nodiscard]] inline Status validate_transport_options(const LibpqTransportOptions& o, int server_version) {
  if (auto st = validate_slot_name(o.slot_name); !st) return st;
  if (o.plugin == OutputPlugin::wal2json) return validate_wal2json_options(o, server_version);
  if (o.publication_names.empty()) return ReplicationError::fatal("at least one publication name is required", "22023");
  for (const auto& p : o.publication_names) {
    if (p.empty() || p.size() > 63 || p.find('\0') != std::string::npos) {
      return ReplicationError::fatal("invalid publication name \"" + detail::printable(p) + "\" (1-63 bytes)", "42602");
    }
  }
  if (auto st = check_supported_server(server_version); !st) return st;
  const std::string server = "PostgreSQL " + format_server_version(server_version);
  // Before the protocol check: on 14, two_phase would otherwise surface as "proto_version 3 needs 15".
  if (o.two_phase) {
    if (auto st = check_two_phase_supported(server_version); !st) return st;
  }
  if (o.failover_slot) {
    if (auto st = check_failover_supported(server_version); !st) return st;
    if (o.temporary_slot) {
      return ReplicationError::fatal(
          "postgresql_failover_slot: a temporary slot cannot be a failover slot "
          "(set postgresql_temp_slot: false)",
          "22023");
    }
  }
  if (o.proto_version < 1 || o.proto_version > 4) {
    return ReplicationError::fatal("proto_version must be 1, 2, 3 or 4 (got " + std::to_string(o.proto_version) + ")",
                                   "22023");
  }
  const int max_proto = max_proto_version(server_version);
  if (o.proto_version > max_proto) {
    static constexpr const char* needs[] = {"", "10", "14", "15", "16"};
    return ReplicationError::fatal("proto_version " + std::to_string(o.proto_version) + " needs PostgreSQL " +
                                       needs[o.proto_version] + " or later; the server is " + server + " (supports 1-" +
                                       std::to_string(max_proto) + ")",
                                   "22023");
  }
  if (o.streaming == StreamingMode::on && o.proto_version < 2) {
    return ReplicationError::fatal("streaming = on needs proto_version 2 or later", "22023");
  }
  if (o.streaming == StreamingMode::parallel && o.proto_version < 4) {
    return ReplicationError::fatal("streaming = parallel needs proto_version 4 (PostgreSQL 16 or later)", "22023");
  }
  if (o.two_phase && o.proto_version < 3) {
    return ReplicationError::fatal("two_phase needs proto_version 3 or later (PostgreSQL 15 or later)", "22023");
  }
  if ((o.binary || o.messages) && server_version < 140000) {
    return ReplicationError::fatal(
        "the binary and messages options need PostgreSQL 14 or later; the server is " + server, "22023");
  }
  if (o.origin == OriginFilter::none && server_version < 160000) {
    return ReplicationError::fatal(
        "origin: none needs PostgreSQL 16 or later (older servers stream changes of every "
        "origin); the server is " +
            server + "; remove origin or set it to any",
        "22023");
  }
  if (o.status_interval.count() <= 0) return ReplicationError::fatal("status_interval must be positive", "22023");
  if (o.silence_timeout.count() < 0) return ReplicationError::fatal("silence_timeout must be >= 0", "22023");
  return ok_status();
}

// START_REPLICATION SLOT "slot" LOGICAL X/Y (proto_version '2', publication_names '"a","b"', ...).
// Option values are string literals; publication names are quoted identifiers inside that literal
// (pgoutput splits them with SplitIdentifierString). Options left at their default are not sent,
// so older servers never see an option they do not know.
// wal2json: one JSON object per change (format-version 2) with everything a ChangeEvent needs.
// numeric-data-types-as-string (wal2json 2.6+) keeps NaN and Infinity apart from NULL; older
// plugins refuse it and the transport starts again without it (wal2json_numbers_as_strings()).
// `tables` (schema.table, from the publications unless one is FOR ALL TABLES) become add-tables,
// each part escaped the way wal2json splits it (a backslash before , . * space ' and \).
[[nodiscard]] inline std::string build_wal2json_start_command(const LibpqTransportOptions& o, Lsn start,
                                                              bool numbers_as_strings,
                                                              const std::vector<TableName>* tables = nullptr) {
  std::string sql = "START_REPLICATION SLOT " + detail::quote_ident_plain(o.slot_name) + " LOGICAL " +
                    start.to_string() +
                    " (\"format-version\" '2', \"include-xids\" '1', \"include-lsn\" '1', \"include-timestamp\" '1', "
                    "\"include-type-oids\" '1', \"include-pk\" '1', \"include-transaction\" '1', "
                    "\"write-in-chunks\" '0'";
  if (numbers_as_strings) sql += ", \"numeric-data-types-as-string\" '1'";
  if (tables != nullptr) {
    auto escaped = [](std::string_view part) {
      std::string out;
      for (char c : part) {
        if (c == ',' || c == '.' || c == '*' || c == ' ' || c == '\'' || c == '\\') out += '\\';
        out += c;
      }
      return out;
    };
    std::string list;
    for (const auto& t : *tables) {
      if (!list.empty()) list += ',';
      list += escaped(t.schema) + "." + escaped(t.name);
    }
    // No table at all: a name that cannot exist, so that nothing is streamed (as pgoutput does).
    if (list.empty()) list = "pg_catalog.replicator\\ no\\ tables";
    sql += ", \"add-tables\" " + detail::quote_literal_plain(list);
  }
  sql += ')';
  return sql;
}

[[nodiscard]] inline std::string build_start_replication_command(const LibpqTransportOptions& o, Lsn start) {
  if (o.plugin == OutputPlugin::wal2json) return build_wal2json_start_command(o, start, true);
  std::string names;
  for (const auto& p : o.publication_names) {
    if (!names.empty()) names += ',';
    names += detail::quote_ident_plain(p);
  }
  std::string sql = "START_REPLICATION SLOT " + detail::quote_ident_plain(o.slot_name) + " LOGICAL " +
                    start.to_string() + " (proto_version '" + std::to_string(o.proto_version) +
                    "', publication_names " + detail::quote_literal_plain(names);
  if (o.binary) sql += ", binary 'true'";
  if (o.messages) sql += ", messages 'true'";
  if (o.streaming == StreamingMode::on) sql += ", streaming 'on'";
  if (o.streaming == StreamingMode::parallel) sql += ", streaming 'parallel'";
  if (o.two_phase) sql += ", two_phase 'on'";
  if (o.origin == OriginFilter::none) sql += ", origin 'none'";
  sql += ')';
  return sql;
}

class LibpqTransport {
 public:
  using Clock = std::chrono::steady_clock;
  // A live server's stream does not end by itself: its end is a reason to reconnect (EndlessTransport).
  static constexpr bool endless_stream = true;

  LibpqTransport(ConnectionConfig config, LibpqTransportOptions options)
      : config_(std::move(config)), options_(std::move(options)) {}

  LibpqTransport(const LibpqTransport&) = delete;
  LibpqTransport& operator=(const LibpqTransport&) = delete;
  LibpqTransport(LibpqTransport&&) noexcept = default;
  LibpqTransport& operator=(LibpqTransport&&) noexcept = default;
  ~LibpqTransport() = default;  // closes both connections; a temporary slot goes with its session

  // Connects both connections, checks options against the server, runs IDENTIFY_SYSTEM, checks the
  // publications and ensures the slot. Does nothing when already open. start() calls it.
  [[nodiscard]] Result<SystemIdentity, ReplicationError> open() {
    if (identity_ && mgmt_.is_open() && repl_.is_open()) return *identity_;
    close();
    // The options that need no server first, so a bad slot name never reaches the network.
    if (auto st = validate_slot_name(options_.slot_name); !st) return st.error();
    auto mgmt = PgConnection::connect(config_, ConnectionKind::normal);
    if (!mgmt) return mgmt.error();
    auto repl = PgConnection::connect(config_, ConnectionKind::replication);
    if (!repl) return repl.error();
    if (auto st = validate_transport_options(options_, repl->server_version()); !st) return st.error();
    auto id = identify_system(*repl);
    if (!id) return id.error();
    if (auto st = check_resume(*id); !st) return st.error();
    std::vector<PublicationInfo> pubs;
    if (options_.verify_publications) {
      for (const auto& name : options_.publication_names) {
        auto pub = check_publication(*mgmt, name);
        if (!pub) return pub.error();
        pubs.push_back(std::move(*pub));
      }
    }
    if (slot_must_exist_ && !options_.temporary_slot) {
      // Re-creating it would start at the current WAL position and skip every change since the
      // position being resumed: refuse instead.
      auto found = find_slot(*mgmt, options_.slot_name);
      if (!found) return found.error();
      if (!found->has_value()) {
        return ReplicationError::fatal(
            "replication slot \"" + options_.slot_name +
                "\" no longer exists (dropped?), but streaming is to resume "
                "at " +
                resume_position().to_string() +
                ": a new slot would silently skip the changes since then. "
                "Re-sync the target, then remove the stored position (or pick a new slot name) to start over",
            "42704");
      }
    }
    SlotOptions so;
    so.plugin = std::string(to_string(options_.plugin));
    so.name = options_.slot_name;
    so.create_if_missing = options_.create_slot;
    so.temporary = options_.temporary_slot;
    so.two_phase = options_.two_phase;
    so.failover = options_.failover_slot;
    auto slot = ensure_slot(*mgmt, *repl, so, id->dbname);
    if (!slot) return slot.error();

    mgmt_ = std::move(*mgmt);
    repl_ = std::move(*repl);
    identity_ = *id;
    publications_ = std::move(pubs);
    slot_ = std::move(*slot);
    flush_floor_ = std::max(flush_floor_, slot_->confirmed_flush);
    // From now on a reconnect must find this cluster, timeline and slot again.
    expected_system_id_ = parse_system_id(identity_->systemid);
    expected_timeline_ = identity_->timeline;
    slot_must_exist_ = !options_.temporary_slot;
    return *identity_;
  }

  // What resuming at `p` needs from the server: the same cluster (system identifier), the same
  // timeline, WAL that reaches p.lsn, and the slot still there. Replicator passes its stored
  // position here before the first open(); each mismatch is then a fatal error from open()
  // instead of a silent restart from the wrong place. After a successful open() the transport
  // expects the same of every reconnect on its own.
  void expect_resume(const Position& p) {
    if (p.system_id != 0) expected_system_id_ = p.system_id;
    if (p.timeline != 0) expected_timeline_ = p.timeline;
    if (p.lsn > resume_lsn_) resume_lsn_ = p.lsn;
    if (p.lsn.is_valid()) slot_must_exist_ = true;
  }

  // START_REPLICATION at `lsn` (0/0: where the slot is). Opens connections first when needed.
  [[nodiscard]] Status start(Lsn lsn) {
    if (streaming_) return ReplicationError::fatal("start() called while already streaming");
    auto id = open();
    if (!id) return id.error();
    // wal2json has no publications: their tables become add-tables (none for FOR ALL TABLES).
    std::optional<std::vector<TableName>> tables;
    if (options_.plugin == OutputPlugin::wal2json && !publications_.empty() &&
        std::none_of(publications_.begin(), publications_.end(), [](const auto& p) { return p.all_tables; })) {
      tables.emplace();
      for (const auto& p : publications_) tables->insert(tables->end(), p.tables.begin(), p.tables.end());
    }
    const auto* table_list = tables ? &*tables : nullptr;
    const std::string sql = options_.plugin == OutputPlugin::wal2json
                                ? build_wal2json_start_command(options_, lsn, wal2json_numbers_as_strings_, table_list)
                                : build_start_replication_command(options_, lsn);
    PgResult res(PQexec(repl_.get(), sql.c_str()));
    if (options_.plugin == OutputPlugin::wal2json && wal2json_numbers_as_strings_ && res.get() &&
        PQresultStatus(res.get()) == PGRES_FATAL_ERROR &&
        std::strstr(PQresultErrorMessage(res.get()), "numeric-data-types-as-string") != nullptr) {
      // wal2json before 2.6: the startup callback refused the option; the walsender is still
      // idle, so ask again without it. NaN and Infinity then arrive as JSON null.
      wal2json_numbers_as_strings_ = false;
      res = PgResult(PQexec(repl_.get(), build_wal2json_start_command(options_, lsn, false, table_list).c_str()));
    }
    if (!res.get() || PQresultStatus(res.get()) != PGRES_COPY_BOTH) {
      auto error = repl_.error_from_result(res.get(), "START_REPLICATION on slot \"" + options_.slot_name + "\"");
      return invalidated_slot_error().value_or(std::move(error));
    }
    if (PQsetnonblocking(repl_.get(), 1) != 0) return repl_.connection_error("switching to non-blocking mode");
    streaming_ = true;
    flush_pending_ = false;
    coalescing_ = false;  // a new socket: SO_RCVLOWAT is back at 1
    quick_waits_ = 0;
    flush_floor_ = std::max(flush_floor_, lsn);
    received_lsn_ = std::max(received_lsn_, lsn);
    last_status_ = StandbyStatus{flush_floor_, flush_floor_, flush_floor_, false};
    const auto now = Clock::now();
    last_status_time_ = now;
    last_receive_time_ = now;
    ping_sent_ = false;
    return ok_status();
  }

  // Waits up to `timeout` for the next CopyData message. A WalMessage's payload stays valid until
  // the next poll(). Keepalives are handed on (the caller answers reply_requested ones with
  // send_status). Server-side end of COPY gives EndOfStream, or the server's error classified.
  [[nodiscard]] Result<TransportEvent, ReplicationError> poll(std::chrono::milliseconds timeout) {
    buffer_.reset();
    if (!streaming_) return ReplicationError::fatal("poll() called while not streaming (call start() first)");
    // The clock is read only when libpq has no complete message buffered: a busy stream hands on
    // message after message without one (last_receive_time_ moves when the socket is read).
    std::optional<Clock::time_point> deadline;
    // poll(0ms) asks "is a message waiting?": libpq's buffer may be empty while the socket holds
    // more, so the socket is read once before the answer is Idle.
    bool socket_checked = false;
    for (;;) {
      char* raw = nullptr;
      const int n = PQgetCopyData(repl_.get(), &raw, /*async=*/1);
      if (n > 0) {
        buffer_.reset(raw);
        ping_sent_ = false;
        // libpq allocates n + 1 bytes (a NUL follows); malloc may have given more. Those bytes
        // are readable slack for a SIMD parser (under ASan the usable size is exactly n + 1).
        const std::size_t usable = ::malloc_usable_size(raw);
        slack_ = usable > static_cast<std::size_t>(n) ? usable - static_cast<std::size_t>(n) : 0;
        return on_copy_data({reinterpret_cast<const std::byte*>(raw), static_cast<std::size_t>(n)});
      }
      if (n == -1) return on_end_of_copy();
      if (n == -2) return lost(repl_.connection_error("receiving replication data"));

      const auto now = Clock::now();
      if (!deadline) deadline = now + timeout;
      auto wake = *deadline;
      if (options_.silence_timeout.count() > 0) {
        const auto dead_at = last_receive_time_ + options_.silence_timeout;
        const auto ping_at = last_receive_time_ + options_.silence_timeout / 2;
        if (now >= dead_at) {
          return lost(ReplicationError::retry("no data or keepalive from the server for " +
                                              std::to_string(options_.silence_timeout.count()) +
                                              " ms; treating the replication connection as dead"));
        }
        if (now >= ping_at && !ping_sent_) {
          // Ask for a keepalive, repeating the positions already reported (never advancing them).
          StandbyStatus ping = last_status_;
          ping.reply_requested = true;
          if (auto st = send_status(ping); !st) return st.error();
          ping_sent_ = true;
        }
        wake = std::min(wake, ping_sent_ ? dead_at : ping_at);
      }
      if (now >= *deadline && socket_checked) return TransportEvent{Idle{}};

      pollfd pfd{PQsocket(repl_.get()), static_cast<short>(POLLIN | (flush_pending_ ? POLLOUT : 0)), 0};
      if (pfd.fd < 0) return lost(repl_.connection_error("replication socket closed"));
      // Coalescing (see LibpqTransportOptions::coalesce_bytes): a busy stream waits for a chunk,
      // bounded by coalesce_wait, even when asked only whether a message is waiting.
      const auto wait = coalescing_ ? std::chrono::nanoseconds(options_.coalesce_wait)
                                    : std::chrono::nanoseconds(std::chrono::ceil<std::chrono::milliseconds>(wake - now));
      const auto wait_ns = std::clamp<std::int64_t>(wait.count(), 0, std::int64_t{1} << 50);
      const timespec ts{static_cast<time_t>(wait_ns / 1'000'000'000), static_cast<long>(wait_ns % 1'000'000'000)};
      const int rc = ::ppoll(&pfd, 1, &ts, nullptr);
      socket_checked = true;
      if (rc < 0) {
        if (errno == EINTR) continue;
        return lost(
            ReplicationError::retry(std::string("poll() on the replication socket failed: ") + std::strerror(errno)));
      }
      if (coalescing_) {
        // Woken by the chunk or by coalesce_wait: read what is there either way; a wait that found
        // less than an eighth of a chunk means the stream is no longer busy.
        int queued = 0;
        if (::ioctl(pfd.fd, FIONREAD, &queued) != 0 || static_cast<std::size_t>(queued) < options_.coalesce_bytes / 8)
          set_coalescing(pfd.fd, false);
        if (queued > 0 && (pfd.revents & POLLIN) == 0) pfd.revents |= POLLIN;
      } else if (options_.coalesce_bytes > 0) {
        const bool quick = rc > 0 && (pfd.revents & POLLIN) != 0 && Clock::now() - now < std::chrono::milliseconds(1);
        quick_waits_ = quick ? quick_waits_ + 1 : 0;
        if (quick_waits_ >= options_.coalesce_after) set_coalescing(pfd.fd, true);
      }
      if (rc == 0 && (pfd.revents & POLLIN) == 0) continue;
      if (flush_pending_ && (pfd.revents & POLLOUT) != 0) {
        if (auto st = flush(); !st) return st.error();
      }
      if ((pfd.revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        if (PQconsumeInput(repl_.get()) == 0)
          return lost(repl_.connection_error("reading from the replication connection"));
        last_receive_time_ = Clock::now();  // data (or the server's close) arrived: the connection is alive
      }
    }
  }

  // Sends a standby status update ('r') without blocking. Positions never go backwards: each is
  // raised to what was already reported (and to the slot's confirmed position), since the server
  // would otherwise move the slot back.
  [[nodiscard]] Status send_status(const StandbyStatus& status) {
    if (!streaming_) return ReplicationError::fatal("send_status() called while not streaming");
    StandbyStatus s = status;
    s.flushed = std::max({s.flushed, last_status_.flushed, flush_floor_});
    s.applied = std::max(s.applied, last_status_.applied);
    s.written = std::max({s.written, last_status_.written, s.flushed});
    const auto now_wall = PgTimestamp::from_unix_micros(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    const auto msg = protocol::make_standby_status_update(s.written, s.flushed, s.applied, now_wall, s.reply_requested);
    // 0 means libpq's output buffer is full (non-blocking mode): flush, reading meanwhile so the
    // server never blocks on us while we block on it, and try again for a bounded time.
    const auto give_up = Clock::now() + std::chrono::seconds(10);
    int rc;
    while ((rc = PQputCopyData(repl_.get(), reinterpret_cast<const char*>(msg.data()), static_cast<int>(msg.size()))) ==
           0) {
      if (Clock::now() >= give_up) {
        return lost(ReplicationError::retry("could not send a standby status update for 10 s (server not reading)"));
      }
      if (PQflush(repl_.get()) < 0) return lost(repl_.connection_error("sending standby status update"));
      pollfd pfd{PQsocket(repl_.get()), POLLIN | POLLOUT, 0};
      if (pfd.fd < 0) return lost(repl_.connection_error("sending standby status update"));
      if (::poll(&pfd, 1, 100) > 0 && (pfd.revents & POLLIN) != 0 && PQconsumeInput(repl_.get()) == 0) {
        return lost(repl_.connection_error("sending standby status update"));
      }
    }
    if (rc != 1) return lost(repl_.connection_error("sending standby status update"));
    last_status_ = s;
    last_status_.reply_requested = false;
    last_status_time_ = Clock::now();
    return flush();
  }

  // True when status_interval has passed since the last status update was sent.
  [[nodiscard]] bool status_due(Clock::time_point now) const noexcept {
    return streaming_ && now - last_status_time_ >= options_.status_interval;
  }

  // Ends streaming cleanly: a final status update, CopyDone, the server's remaining messages
  // discarded (they were never reported as flushed, so they will be sent again), the command's
  // results drained. Then drops a permanent slot when drop_slot_on_exit is set, and closes the
  // replication connection (a temporary slot ends with it).
  [[nodiscard]] Status finish() { return finish(last_status_); }
  [[nodiscard]] Status finish(const StandbyStatus& final_status) {
    buffer_.reset();
    if (streaming_) {
      if (auto st = send_status(final_status); !st) return st;
      if (auto st = end_copy(); !st) return lost(st.error());
    }
    Status result = ok_status();
    if (options_.drop_slot_on_exit && !options_.temporary_slot && repl_.is_open()) {
      result = drop_slot(repl_, options_.slot_name, true);
      if (result) {
        slot_.reset();
        slot_must_exist_ = false;  // dropped on purpose: a later start() begins afresh
        resume_lsn_ = Lsn{};
      }
    }
    // A walsender cannot run a second logical START_REPLICATION after CopyDone (it keeps its
    // "streaming done" state), so the next start() reconnects. This also ends a temporary slot.
    repl_.close();
    identity_.reset();
    return result;
  }

  // Drops both connections at once (after an error, before reconnecting with start()).
  void close() noexcept {
    buffer_.reset();
    streaming_ = false;
    flush_pending_ = false;
    repl_.close();
    mgmt_.close();
    identity_.reset();
  }

  [[nodiscard]] bool streaming() const noexcept { return streaming_; }
  // True while reads are coalesced (LibpqTransportOptions::coalesce_bytes): the stream is busy.
  [[nodiscard]] bool coalescing() const noexcept { return coalescing_; }
  // Highest XLogData wal_start received (or the start position).
  [[nodiscard]] Lsn received_lsn() const noexcept { return received_lsn_; }
  // Highest wal_end the server reported (XLogData or keepalive): its end of WAL.
  [[nodiscard]] Lsn server_wal_end() const noexcept { return server_wal_end_; }
  // The last status update sent (positions after the no-going-back rule).
  [[nodiscard]] const StandbyStatus& last_status() const noexcept { return last_status_; }
  [[nodiscard]] Clock::time_point last_status_time() const noexcept { return last_status_time_; }
  [[nodiscard]] const std::optional<SystemIdentity>& identity() const noexcept { return identity_; }
  [[nodiscard]] const std::optional<SlotInfo>& slot() const noexcept { return slot_; }
  [[nodiscard]] const std::vector<PublicationInfo>& publications() const noexcept { return publications_; }
  [[nodiscard]] int server_version() const noexcept { return repl_.server_version(); }
  // The management connection, for callers that keep positions in the source database.
  [[nodiscard]] PgConnection& management() noexcept { return mgmt_; }
  [[nodiscard]] PgConnection& replication() noexcept { return repl_; }
  [[nodiscard]] const ConnectionConfig& config() const noexcept { return config_; }
  [[nodiscard]] const LibpqTransportOptions& options() const noexcept { return options_; }
  // wal2json: whether the plugin accepted numeric-data-types-as-string (2.6+). When it did not,
  // NaN and +-Infinity in numeric and float columns arrive as NULL (known after start()).
  [[nodiscard]] bool wal2json_numbers_as_strings() const noexcept { return wal2json_numbers_as_strings_; }

 private:
  static std::uint64_t parse_system_id(std::string_view s) noexcept {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc{} && end == s.data() + s.size() ? v : 0;
  }

  // After START_REPLICATION failed: when the slot was invalidated (between open()'s check and the
  // command, or while we were away), the server's reason is what the user needs, not its wording.
  [[nodiscard]] std::optional<ReplicationError> invalidated_slot_error() {
    if (!mgmt_.is_open()) return std::nullopt;
    auto found = find_slot(mgmt_, options_.slot_name);
    if (!found || !found->has_value() || slot_invalidation(**found).empty()) return std::nullopt;
    return slot_invalidated_error(**found);
  }

  // The position a reconnect resumes from: the stored one, or what was reported as flushed.
  [[nodiscard]] Lsn resume_position() const noexcept {
    return std::max({resume_lsn_, last_status_.flushed, flush_floor_});
  }

  // IDENTIFY_SYSTEM against what resuming needs (see expect_resume).
  [[nodiscard]] Status check_resume(const SystemIdentity& id) const {
    const std::uint64_t sysid = parse_system_id(id.systemid);
    if (expected_system_id_ != 0 && sysid != expected_system_id_) {
      return ReplicationError::fatal(
          "wrong cluster: the server's system identifier is " + detail::printable(id.systemid) +
          " but the position to resume was streamed from " + std::to_string(expected_system_id_) +
          " (check postgresql_host / postgresql_port; to start over against this server, remove the stored position)");
    }
    if (expected_timeline_ != 0 && id.timeline != expected_timeline_) {
      return ReplicationError::fatal(
          "timeline changed: the server is on timeline " + std::to_string(id.timeline) +
          " but the position to resume was streamed on timeline " + std::to_string(expected_timeline_) +
          " (the server was promoted or restored from a backup, so its WAL after the switch may differ from what "
          "was streamed); check the target, then remove the stored position to resume from the slot");
    }
    const Lsn resume = std::max(resume_lsn_, last_status_.flushed);
    if (resume.is_valid() && id.xlogpos.is_valid() && resume > id.xlogpos) {
      return ReplicationError::fatal("the position to resume, " + resume.to_string() +
                                     ", is ahead of the server's WAL end " + id.xlogpos.to_string() +
                                     ": the server was restored from a backup or is not the one streamed from; "
                                     "check the target, then remove the stored position to start over");
    }
    return ok_status();
  }

  Result<TransportEvent, ReplicationError> on_copy_data(std::span<const std::byte> bytes) {
    auto msg = protocol::decode_copy_data(bytes);
    if (!msg) {
      return lost(ReplicationError::decoding(msg.error(), "malformed CopyData from the server: ", "08P01"));
    }
    if (const auto* x = std::get_if<protocol::XLogDataView>(&*msg)) {
      received_lsn_ = std::max(received_lsn_, x->wal_start);
      server_wal_end_ = std::max(server_wal_end_, x->wal_end);
      return TransportEvent{WalMessage{x->wal_start, x->wal_end, x->send_time, x->payload, 0, slack_}};
    }
    const auto& k = std::get<protocol::PrimaryKeepaliveView>(*msg);
    server_wal_end_ = std::max(server_wal_end_, k.wal_end);
    return TransportEvent{Keepalive{k.wal_end, k.send_time, k.reply_requested}};
  }

  // The server ended the COPY: CopyDone (then we end ours) or CommandComplete / ErrorResponse.
  Result<TransportEvent, ReplicationError> on_end_of_copy() {
    streaming_ = false;
    flush_pending_ = false;
    PQsetnonblocking(repl_.get(), 0);
    std::optional<ReplicationError> error;
    for (int i = 0; i < 16; ++i) {
      PgResult res(PQgetResult(repl_.get()));
      if (!res.get()) break;
      const auto st = PQresultStatus(res.get());
      if (st == PGRES_COPY_IN || st == PGRES_COPY_BOTH) {
        if (PQputCopyEnd(repl_.get(), nullptr) != 1) {
          error = repl_.connection_error("ending COPY after the server ended it");
          break;
        }
        continue;
      }
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && !error) {
        error = repl_.error_from_result(res.get(), "replication stream ended by the server");
      }
    }
    if (error) return lost(std::move(*error));
    if (!repl_.is_open()) {
      return lost(ReplicationError::retry("replication connection closed by the server: " +
                                          detail::one_line(PQerrorMessage(repl_.get()))));
    }
    repl_.close();  // as in finish(): the next start() needs a fresh walsender
    identity_.reset();
    return TransportEvent{EndOfStream{}};
  }

  Status flush() {
    const int rc = PQflush(repl_.get());
    if (rc < 0) return lost(repl_.connection_error("sending to the server"));
    flush_pending_ = rc == 1;
    return ok_status();
  }

  // CopyDone, then discard data until the server's CopyDone, then drain results. Bounded by finish_timeout.
  Status end_copy() {
    const auto deadline = Clock::now() + options_.finish_timeout;
    // Back to a wake-up per byte: the server's last replies are small, and libpq's own blocking
    // waits after the COPY would otherwise sleep until a chunk arrives that never comes.
    if (coalescing_) set_coalescing(PQsocket(repl_.get()), false);
    auto wait = [&](short events) -> Status {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        return ReplicationError::retry("the server did not end the COPY within " +
                                       std::to_string(options_.finish_timeout.count()) + " ms");
      }
      pollfd pfd{PQsocket(repl_.get()), events, 0};
      if (pfd.fd < 0) return repl_.connection_error("ending COPY");
      const int rc = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (rc < 0 && errno != EINTR) return ReplicationError::retry("poll() failed while ending COPY");
      if ((pfd.revents & (POLLIN | POLLERR | POLLHUP)) != 0 && PQconsumeInput(repl_.get()) == 0) {
        return repl_.connection_error("ending COPY");
      }
      return ok_status();
    };
    int put;
    while ((put = PQputCopyEnd(repl_.get(), nullptr)) == 0) {
      if (auto st = wait(POLLOUT); !st) return st;
    }
    if (put < 0) return repl_.connection_error("sending CopyDone");
    for (;;) {
      const int rc = PQflush(repl_.get());
      if (rc < 0) return repl_.connection_error("sending CopyDone");
      if (rc == 0) break;
      if (auto st = wait(POLLIN | POLLOUT); !st) return st;
    }
    for (;;) {  // data the server sent before it saw our CopyDone
      char* raw = nullptr;
      const int n = PQgetCopyData(repl_.get(), &raw, 1);
      if (n > 0) {
        PQfreemem(raw);
        continue;
      }
      if (n == -1) break;
      if (n == -2) return repl_.connection_error("ending COPY");
      if (auto st = wait(POLLIN); !st) return st;
    }
    std::optional<ReplicationError> error;
    for (;;) {
      while (PQisBusy(repl_.get()) != 0) {
        if (auto st = wait(POLLIN); !st) return st;
      }
      PgResult res(PQgetResult(repl_.get()));
      if (!res.get()) break;
      const auto st = PQresultStatus(res.get());
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && !error) {
        error = repl_.error_from_result(res.get(), "ending the replication stream");
      }
    }
    streaming_ = false;
    flush_pending_ = false;
    PQsetnonblocking(repl_.get(), 0);
    if (error) return *error;
    return ok_status();
  }

  // After a failure on the stream the replication connection cannot be trusted (it may be mid-COPY):
  // close it, so the next start() reconnects.
  ReplicationError lost(ReplicationError error) {
    streaming_ = false;
    flush_pending_ = false;
    repl_.close();
    identity_.reset();
    return error;
  }

  struct FreeMem {
    void operator()(char* p) const noexcept { PQfreemem(p); }
  };

  ConnectionConfig config_;
  LibpqTransportOptions options_;
  PgConnection mgmt_;
  PgConnection repl_;
  std::optional<SystemIdentity> identity_;
  std::optional<SlotInfo> slot_;
  std::vector<PublicationInfo> publications_;
  std::unique_ptr<char, FreeMem> buffer_;    // the last PQgetCopyData buffer; WalMessage::payload points into it
  std::size_t slack_ = 0;                    // readable bytes after it (WalMessage::readable_after)
  bool wal2json_numbers_as_strings_ = true;  // false once the plugin refused numeric-data-types-as-string
  bool streaming_ = false;
  bool flush_pending_ = false;
  bool ping_sent_ = false;
  Lsn received_lsn_;
  Lsn server_wal_end_;
  Lsn flush_floor_;  // the slot's confirmed position / the start position: never report less
  // What a (re)connect must find (expect_resume / the last successful open()).
  std::uint64_t expected_system_id_ = 0;
  std::uint32_t expected_timeline_ = 0;
  Lsn resume_lsn_;
  bool slot_must_exist_ = false;
  StandbyStatus last_status_;
  Clock::time_point last_status_time_{};
  Clock::time_point last_receive_time_{};
  bool coalescing_ = false;  // SO_RCVLOWAT raised (a busy stream)
  int quick_waits_ = 0;      // waits in a row that data ended within 1 ms

  void set_coalescing(int fd, bool on) noexcept {
    quick_waits_ = 0;
    const int lowat = on ? static_cast<int>(std::min<std::size_t>(options_.coalesce_bytes, 1 << 30)) : 1;
    // A socket that refuses the option just wakes per message, as without coalescing.
    coalescing_ = ::setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat) == 0 && on;
  }
};

}  // namespace replicator
