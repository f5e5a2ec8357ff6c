// A connection cut at chosen bytes of every step (TLS negotiation, startup packet, authentication,
// IDENTIFY_SYSTEM, slot and publication checks, CREATE/START_REPLICATION) through a loopback relay
// fails retryable and the next attempt succeeds; only definite answers from the server are fatal.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "replicator/transport/libpq.hpp"
#include "tests/support/env_config.hpp"
#include "tests/program/process.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/private_cluster.hpp"
#include "tests/support/tcp_relay.hpp"

using namespace replicator;
using namespace std::chrono_literals;
using replicator::test::CleanupSql;
using replicator::test::PgSession;
using replicator::test::TcpRelay;
using replicator::test::unique_name;
using Direction = TcpRelay::Direction;

namespace {

constexpr Direction kDirections[] = {Direction::client_to_server, Direction::server_to_client};
constexpr std::size_t index_of(Direction d) noexcept { return d == Direction::client_to_server ? 0 : 1; }
constexpr const char* name_of(Direction d) noexcept {
  return d == Direction::client_to_server ? "client->server" : "server->client";
}

// ---------------------------------------------------------------------------------------------
// Where each message of a recorded exchange lies

// One protocol message (or TLS record) of a recorded exchange, placed in its direction's byte count.
struct WireMessage {
  Direction direction = Direction::client_to_server;
  std::size_t begin = 0;  // bytes relayed in this direction before its first byte
  std::size_t end = 0;
  std::string step;  // "replication connection: startup and authentication", "IDENTIFY_SYSTEM", ...
  std::string name;  // "StartupMessage", "ParameterStatus", ...
};

// One connection's bytes in one direction, each with its place in the direction's count and the
// index of the chunk that carried it (chunk order is the order of events across connections).
struct Stream {
  std::string bytes;
  std::vector<std::size_t> offset;
  std::vector<std::size_t> chunk;
};

std::uint32_t be32(const std::string& s, std::size_t at) {
  return (std::uint32_t{static_cast<unsigned char>(s[at])} << 24) |
         (std::uint32_t{static_cast<unsigned char>(s[at + 1])} << 16) |
         (std::uint32_t{static_cast<unsigned char>(s[at + 2])} << 8) |
         std::uint32_t{static_cast<unsigned char>(s[at + 3])};
}

std::string frontend_message_name(char type) {
  switch (type) {
    case 'Q': return "Query";
    case 'P': return "Parse";
    case 'B': return "Bind";
    case 'D': return "Describe";
    case 'E': return "Execute";
    case 'S': return "Sync";
    case 'H': return "Flush";
    case 'p': return "PasswordMessage";
    case 'd': return "CopyData";
    case 'c': return "CopyDone";
    case 'X': return "Terminate";
    default: return std::string("message '") + type + "'";
  }
}

std::string backend_message_name(char type) {
  switch (type) {
    case 'R': return "Authentication";
    case 'S': return "ParameterStatus";
    case 'K': return "BackendKeyData";
    case 'Z': return "ReadyForQuery";
    case 'T': return "RowDescription";
    case 'D': return "DataRow";
    case 'C': return "CommandComplete";
    case 'W': return "CopyBothResponse";
    case 'd': return "CopyData";
    case 'E': return "ErrorResponse";
    case 'N': return "NoticeResponse";
    case '1': return "ParseComplete";
    case '2': return "BindComplete";
    case 'n': return "NoData";
    case 't': return "ParameterDescription";
    default: return std::string("message '") + type + "'";
  }
}

// The step a client request belongs to, from its text.
std::string step_of_request(std::string_view sql) {
  for (std::string_view command : {"IDENTIFY_SYSTEM", "CREATE_REPLICATION_SLOT", "START_REPLICATION"}) {
    if (sql.substr(0, command.size()) == command) return std::string(command);
  }
  if (sql.find("pg_replication_slots") != std::string_view::npos) return "slot lookup (SQL)";
  if (sql.find("pg_publication_tables") != std::string_view::npos) return "publication tables (SQL)";
  if (sql.find("pg_publication") != std::string_view::npos) return "publication check (SQL)";
  return "SQL " + std::string(sql.substr(0, 40));
}

// Splits one connection's two streams into messages. A plain connection: SSLRequest and its
// one-byte answer, the StartupMessage, then typed messages (type, int32 length). After an 'S'
// answer: TLS records (type, version, int16 length), whose content cannot be seen.
void frame_connection(std::size_t id, const Stream& fe, const Stream& be, std::vector<WireMessage>& out) {
  auto add = [&out](const Stream& s, Direction d, std::size_t from, std::size_t to, std::string step,
                    std::string name) {
    out.push_back({d, s.offset[from], s.offset[to - 1] + 1, std::move(step), std::move(name)});
  };
  std::size_t fp = 0;
  std::size_t bp = 0;
  bool tls = false;
  bool ssl_requested = false;
  if (fe.bytes.size() >= 8 && be32(fe.bytes, 4) == 80877103) {
    ssl_requested = true;
    fp = 8;
    tls = !be.bytes.empty() && be.bytes[0] == 'S';
  }
  std::string kind = "connection " + std::to_string(id);
  if (!tls && fp + 8 <= fe.bytes.size()) {
    const std::size_t len = be32(fe.bytes, fp);
    const std::string_view body(fe.bytes.data() + fp, std::min(len, fe.bytes.size() - fp));
    kind = body.find(std::string_view("replication\0database\0", 21)) != std::string_view::npos
               ? "replication connection"
               : "normal connection";
  }
  if (ssl_requested) {
    add(fe, Direction::client_to_server, 0, 8, kind + ": TLS negotiation", "SSLRequest");
    if (!be.bytes.empty()) {
      add(be, Direction::server_to_client, 0, 1, kind + ": TLS negotiation", tls ? "SSL answer 'S'" : "SSL answer 'N'");
      bp = 1;
    }
  }
  if (tls) {
    for (const auto& [s, d, from] :
         {std::tuple{&fe, Direction::client_to_server, fp}, std::tuple{&be, Direction::server_to_client, bp}}) {
      std::size_t p = from;
      while (p + 5 <= s->bytes.size()) {
        const std::size_t len = 5 + ((std::size_t{static_cast<unsigned char>(s->bytes[p + 3])} << 8) |
                                     static_cast<unsigned char>(s->bytes[p + 4]));
        const auto type = static_cast<unsigned char>(s->bytes[p]);
        const std::size_t to = std::min(p + len, s->bytes.size());
        add(*s, d, p, to, kind + (type == 23 ? ": encrypted traffic" : ": TLS handshake"),
            "TLS record type " + std::to_string(type));
        p = to;
      }
    }
    return;
  }

  // Plain: the startup packet, then typed messages. Server messages belong to the startup until
  // the first ReadyForQuery, then to the latest request the client had sent on this connection.
  const std::string startup_step = kind + ": startup and authentication";
  std::vector<std::pair<std::size_t, std::string>> requests;  // (chunk of the request's first byte, step)
  if (fp + 8 <= fe.bytes.size()) {
    const std::size_t len = be32(fe.bytes, fp);
    add(fe, Direction::client_to_server, fp, std::min(fp + len, fe.bytes.size()), startup_step, "StartupMessage");
    fp += len;
  }
  std::string step = startup_step;
  while (fp + 5 <= fe.bytes.size()) {
    const char type = fe.bytes[fp];
    const std::size_t to = std::min(fp + 1 + be32(fe.bytes, fp + 1), fe.bytes.size());
    if (type == 'Q') step = step_of_request(std::string_view(fe.bytes).substr(fp + 5, to - fp - 5));
    if (type == 'P') {  // statement name, then the query text
      const std::size_t text = fe.bytes.find('\0', fp + 5) + 1;
      step = step_of_request(std::string_view(fe.bytes).substr(text, to - text));
    }
    if (type == 'Q' || type == 'P') requests.emplace_back(fe.chunk[fp], step);
    add(fe, Direction::client_to_server, fp, to, step, frontend_message_name(type));
    fp = to;
  }
  bool ready = false;
  while (bp + 5 <= be.bytes.size()) {
    const char type = be.bytes[bp];
    const std::size_t to = std::min(bp + 1 + be32(be.bytes, bp + 1), be.bytes.size());
    std::string server_step = startup_step;
    if (ready) {
      for (const auto& [chunk, request_step] : requests) {
        if (chunk < be.chunk[bp]) server_step = request_step;
      }
    }
    add(be, Direction::server_to_client, bp, to, server_step, backend_message_name(type));
    ready = ready || type == 'Z';
    bp = to;
  }
}

// Every message of a recorded exchange, per direction in byte order.
std::vector<WireMessage> frame_exchange(const std::vector<TcpRelay::Chunk>& chunks) {
  std::map<std::size_t, std::array<Stream, 2>> streams;
  std::size_t totals[2] = {0, 0};
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const auto& c = chunks[i];
    Stream& s = streams[c.connection][index_of(c.direction)];
    for (char b : c.bytes) {
      s.bytes += b;
      s.offset.push_back(totals[index_of(c.direction)]++);
      s.chunk.push_back(i);
    }
  }
  std::vector<WireMessage> out;
  for (const auto& [id, s] : streams) frame_connection(id, s[0], s[1], out);
  std::sort(out.begin(), out.end(), [](const WireMessage& a, const WireMessage& b) {
    return std::pair(index_of(a.direction), a.begin) < std::pair(index_of(b.direction), b.begin);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Sweeping cut points

// What a cut point does, and what the attempt and the retry after it said.
struct CutReport {
  std::map<std::string, std::array<int, 2>> failed_per_step;  // retryable failures, per direction
  std::map<std::string, std::array<int, 2>> absorbed_per_step;
  int points = 0;
  int failed = 0;    // the attempt failed (retryable)
  int absorbed = 0;  // the cut fired but the attempt still succeeded (libpq fell back, or a connection no longer used)
  int not_reached = 0;
  std::vector<std::string> problems;  // a fatal error, no error where one was due, or no recovery

  void print(const std::string& title) const {
    std::cout << title << ": " << points << " cut points, " << failed << " failed retryable, " << absorbed
              << " absorbed, " << not_reached << " not reached, " << problems.size() << " problems\n";
    for (const auto& [step, n] : failed_per_step) {
      std::cout << "  " << step << ": " << n[0] << " client->server, " << n[1] << " server->client\n";
    }
    for (const auto& p : problems) std::cout << "  PROBLEM " << p << '\n';
    std::cout << std::flush;
  }
};

// In the LibpqTransport sweep every byte is a cut point up to here, later only message boundaries
// are (the connect sweep already cut every byte of a handshake; each attempt here costs ~30 ms).
constexpr std::size_t kDenseBytes = 32;

// Cut points of one direction: every byte of the first `dense` ones, then for each later message
// the cut just before it, after its type byte, after its header, before its last byte, and the end
// of the exchange.
std::set<std::size_t> cut_points(const std::vector<WireMessage>& messages, Direction d, std::size_t dense) {
  std::set<std::size_t> points;
  std::size_t total = 0;
  for (const auto& m : messages) {
    if (m.direction != d) continue;
    total = std::max(total, m.end);
    for (std::size_t p : {m.begin, m.begin + 1, m.begin + 5, m.end - 1}) {
      if (p < m.end) points.insert(p);
    }
  }
  for (std::size_t p = 0; p < std::min(dense, total); ++p) points.insert(p);
  points.insert(total);
  return points;
}

// "the 3rd of 27 bytes of ParameterStatus (normal connection: startup and authentication)": the
// last byte forwarded before the cut (or the first one held back, for 0).
const WireMessage* message_at(const std::vector<WireMessage>& messages, Direction d, std::size_t point) {
  const std::size_t byte = point == 0 ? 0 : point - 1;
  for (const auto& m : messages) {
    if (m.direction == d && m.begin <= byte && byte < m.end) return &m;
  }
  return nullptr;
}

std::string describe(const WireMessage* m, Direction d, std::size_t point) {
  std::string s = std::string(name_of(d)) + " cut after byte " + std::to_string(point);
  if (m == nullptr) return s;
  return s + " (" + std::to_string(point - m->begin) + " of " + std::to_string(m->end - m->begin) + " bytes of " +
         m->name + ", " + m->step + ")";
}

std::string describe(const ReplicationError& e) {
  return std::string(e.retryable() ? "retryable" : "FATAL") + (e.sqlstate.empty() ? "" : " " + e.sqlstate) + ": " +
         e.message;
}

// Polls until the stream reports an error (the cut closed it after START_REPLICATION succeeded).
std::optional<ReplicationError> stream_error(LibpqTransport& t, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    auto ev = t.poll(100ms);
    if (!ev) return ev.error();
  }
  return std::nullopt;
}

// Slot names of one width, so every attempt's messages have the lengths of the measured one.
std::string next_slot_name() {
  static const std::string base = unique_name("cut");
  static int counter = 0;
  char digits[16];
  std::snprintf(digits, sizeof digits, "_%06d", ++counter);
  return base + digits;
}

// A table in a publication, both dropped at scope end.
struct PublishedTable {
  PgSession admin;
  std::string table = unique_name("cut_t");
  std::string pub = unique_name("cut_pub");
  CleanupSql drop_table{"DROP TABLE IF EXISTS " + table};
  CleanupSql drop_pub{"DROP PUBLICATION IF EXISTS " + pub};
  PublishedTable() {
    admin.exec("CREATE TABLE " + table + " (id int primary key)");
    admin.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  }
};

// The sslmodes to sweep: prefer and disable always; require only where the server has TLS.
std::vector<std::string> sslmodes_to_sweep() {
  PgSession admin;
  std::vector<std::string> modes = {"prefer", "disable"};
  if (admin.scalar("SHOW ssl") == "on") {
    modes.emplace_back("require");
  } else {
    WARN("the test server runs with ssl = off: sslmode=require is not swept (prefer is: SSLRequest and its 'N')");
  }
  return modes;
}

// `server`'s settings (default: the shared server's), pointed at the relay.
ConnectionConfig relay_config(const TcpRelay& relay, const std::string& sslmode,
                              ConnectionConfig cfg = test::env_config()) {
  cfg.host = "127.0.0.1";
  cfg.port = relay.port();
  cfg.sslmode = sslmode;
  cfg.connect_timeout_s = 5;
  return cfg;
}

LibpqTransportOptions cut_options(const PublishedTable& pt) {
  LibpqTransportOptions o;
  o.slot_name = next_slot_name();
  o.publication_names = {pt.pub};
  o.temporary_slot = true;  // goes with its walsender, whatever the cut left behind
  return o;
}

// Connects through a relay to `server` (host, port, user, password) once per cut point and checks
// each attempt fails retryable (or is not reached) and the next one connects: a replication
// connection both ways, a normal one client->server (its startup packet is what differs). Every byte
// of the first `dense` of each direction is a cut point, then each message's boundaries.
void sweep_connect(const ConnectionConfig& server, const std::vector<std::string>& modes, std::size_t dense,
                   const std::string& title) {
  for (const auto& sslmode : modes) {
    // A replication connection at every byte both ways (TLS negotiation, startup, authentication,
    // IDENTIFY_SYSTEM); a normal one at every byte of what differs, its startup packet. The
    // normal connection's answers are swept as the first connection of LibpqTransport::open below.
    for (const auto kind : {ConnectionKind::replication, ConnectionKind::normal}) {
      const bool replication = kind == ConnectionKind::replication;
      INFO("sslmode=" << sslmode << (replication ? " replication" : " normal") << " connection");
      TcpRelay relay(server.host, server.port);
      const ConnectionConfig cfg = relay_config(relay, sslmode, server);
      // The command after the handshake: IDENTIFY_SYSTEM, or a query on a normal connection.
      auto use = [&](PgConnection& conn) -> Status {
        if (replication) {
          auto id = identify_system(conn);
          if (!id) return id.error();
          return ok_status();
        }
        auto res = conn.exec("SELECT 1", "SELECT 1");
        if (!res) return res.error();
        return ok_status();
      };

      relay.reset_counts();
      relay.record(true);
      {
        auto conn = PgConnection::connect(cfg, kind);
        REQUIRE(conn);
        REQUIRE(use(*conn));
        relay.record(false);
      }
      const auto messages = frame_exchange(relay.transcript());
      REQUIRE_FALSE(messages.empty());

      CutReport report;
      for (const Direction d : kDirections) {
        if (!replication && d == Direction::server_to_client) continue;
        for (const std::size_t point : cut_points(messages, d, dense)) {
          ++report.points;
          const WireMessage* m = message_at(messages, d, point);
          const std::string where = describe(m, d, point);
          REQUIRE(relay.wait_idle(5s));
          relay.cut_after(d, point);
          std::optional<ReplicationError> error;
          {
            auto conn = PgConnection::connect(cfg, kind);
            if (!conn) {
              error = conn.error();
            } else if (auto st = use(*conn); !st) {
              error = st.error();
            }
          }
          const bool fired = relay.cut_fired();
          relay.disarm();
          if (error) {
            if (!error->retryable()) report.problems.push_back(where + ": " + describe(*error));
            ++report.failed;
            if (m != nullptr) ++report.failed_per_step[m->step][index_of(d)];
          } else if (fired) {
            // The cut after the very last byte (the answer was complete), or, with sslmode=prefer,
            // a TLS handshake cut: libpq then connects again without TLS, as prefer means.
            ++report.absorbed;
            if (m != nullptr) ++report.absorbed_per_step[m->step][index_of(d)];
          } else {
            ++report.not_reached;
          }
          auto again = PgConnection::connect(cfg, kind);
          if (!again) {
            report.problems.push_back(where + ": the retry failed: " + describe(again.error()));
          } else if (auto st = use(*again); !st) {
            report.problems.push_back(where + ": the retry's command failed: " + describe(st.error()));
          }
        }
      }
      report.print(title + ", sslmode=" + sslmode + (replication ? ", replication" : ", normal (client->server)"));
      INFO("problems:\n"
           << [&] {
                std::string s;
                for (const auto& p : report.problems) s += p + "\n";
                return s;
              }());
      CHECK(report.problems.empty());
      for (const auto& m : messages) {
        if (!replication && m.direction == Direction::server_to_client) continue;
        INFO(m.step << " (" << name_of(m.direction) << ")");
        const bool fell_back = sslmode == "prefer" && m.step.find("TLS handshake") != std::string::npos &&
                               report.absorbed_per_step[m.step][index_of(m.direction)] > 0;
        CHECK((report.failed_per_step[m.step][index_of(m.direction)] > 0 || fell_back));
      }
    }
  }
}

}  // namespace

TEST_CASE("PgConnection::connect + IDENTIFY_SYSTEM cut at every byte: retryable, then connects again") {
  const auto started = std::chrono::steady_clock::now();
  ConnectionConfig server = test::env_config();
  server.host = "127.0.0.1";
  sweep_connect(server, sslmodes_to_sweep(), std::size_t(-1), "connect sweep");
  std::cout << "connect sweeps took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()
            << " ms" << std::endl;
}

TEST_CASE("a TLS and scram-sha-256 server cut in the TLS handshake or the SASL exchange is retryable") {
  // The shared server trusts 127.0.0.1 without TLS: here a private cluster of the same build with
  // ssl = on (a self-signed certificate made now) and scram-sha-256, so the cuts land inside the
  // TLS handshake records (sslmode prefer and require) and inside each SASL message (disable).
  const std::string certs = test::test_tmpdir() + "/" + unique_name("cut_certs");
  REQUIRE(std::system(("mkdir -p '" + certs + "' && cd '" + certs +
                       "' && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
                       "-keyout server.key -out server.crt >/dev/null 2>&1")
                          .c_str()) == 0);
  test::PrivateClusterOptions options;
  options.conf = {"ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'",
                  "password_encryption = 'scram-sha-256'"};
  options.hba = {"host all all 127.0.0.1/32 scram-sha-256", "host replication all 127.0.0.1/32 scram-sha-256"};
  options.files = {{"server.crt", test::read_file(certs + "/server.crt")},
                   {"server.key", test::read_file(certs + "/server.key")}};
  test::PrivateCluster pg(options);
  pg.sql("CREATE ROLE cut_reader LOGIN REPLICATION PASSWORD 'cut-secret'");
  ConnectionConfig server;
  server.host = pg.host();
  server.port = pg.port();
  server.dbname = "postgres";
  server.user = "cut_reader";
  server.password = "cut-secret";
  sweep_connect(server, {"disable", "prefer", "require"}, 0, "TLS + scram-sha-256 connect sweep");

  // A wrong password through the same relay is a definite answer: fatal 28P01, the password unsaid.
  TcpRelay relay(server.host, server.port);
  for (const char* sslmode : {"disable", "require"}) {
    INFO("sslmode=" << sslmode);
    ConnectionConfig wrong = relay_config(relay, sslmode, server);
    wrong.password = "a-wrong-one";
    auto conn = PgConnection::connect(wrong, ConnectionKind::replication);
    REQUIRE_FALSE(conn);
    CHECK_FALSE(conn.error().retryable());
    CHECK(conn.error().sqlstate == "28P01");
    CHECK(conn.error().message.find("a-wrong-one") == std::string::npos);
  }
}

TEST_CASE("LibpqTransport open()/start() cut at every step: retryable, then a retry streams") {
  const auto modes = sslmodes_to_sweep();
  PublishedTable pt;
  const auto started = std::chrono::steady_clock::now();
  for (const auto& sslmode : modes) {
    INFO("sslmode=" << sslmode);
    TcpRelay relay("127.0.0.1", static_cast<std::uint16_t>(std::stoi(test::env_or("PGPORT"))));
    const ConnectionConfig cfg = relay_config(relay, sslmode);

    // One clean exchange: both connections, IDENTIFY_SYSTEM, the publication and slot checks,
    // CREATE_REPLICATION_SLOT (temporary), START_REPLICATION.
    relay.reset_counts();
    relay.record(true);
    {
      LibpqTransport t(cfg, cut_options(pt));
      auto st = t.start(Lsn{});
      if (!st) FAIL(st.error().message);
      relay.record(false);
    }
    auto messages = frame_exchange(relay.transcript());
    // What the server streams after CopyBothResponse (keepalives) is not part of the exchange.
    std::erase_if(messages, [](const WireMessage& m) { return m.name == "CopyData"; });
    std::set<std::string> steps;
    for (const auto& m : messages) steps.insert(m.step);
    if (sslmode != "require") {  // plain connections: each step can be seen
      for (const char* step :
           {"normal connection: startup and authentication", "replication connection: startup and authentication",
            "IDENTIFY_SYSTEM", "publication check (SQL)", "slot lookup (SQL)", "CREATE_REPLICATION_SLOT",
            "START_REPLICATION"}) {
        INFO(step);
        CHECK(steps.count(step) == 1);
      }
    }

    CutReport report;
    for (const Direction d : kDirections) {
      for (const std::size_t point : cut_points(messages, d, kDenseBytes)) {
        ++report.points;
        const WireMessage* m = message_at(messages, d, point);
        const std::string where = describe(m, d, point);
        REQUIRE(relay.wait_idle(5s));
        relay.cut_after(d, point);
        LibpqTransport t(cfg, cut_options(pt));
        std::optional<ReplicationError> error;
        if (auto st = t.start(Lsn{}); !st) {
          error = st.error();
        } else if (relay.cut_fired()) {
          // Started, then the cut closed a connection it had finished with: the stream, or the
          // management connection, must now fail retryable too.
          std::this_thread::sleep_for(20ms);
          if (t.replication().connection_gone()) {
            error = stream_error(t, 3s);
            if (!error) report.problems.push_back(where + ": the stream was cut but poll() reported nothing");
          } else if (t.management().connection_gone()) {
            auto res = t.management().exec("SELECT 1", "management query after the cut");
            if (res) report.problems.push_back(where + ": a query on the cut management connection succeeded");
            else error = res.error();
          }
        }
        const bool fired = relay.cut_fired();
        relay.disarm();
        if (error) {
          if (!error->retryable()) report.problems.push_back(where + ": " + describe(*error));
          ++report.failed;
          if (m != nullptr) ++report.failed_per_step[m->step][index_of(d)];
        } else if (fired) {
          ++report.absorbed;
        } else {
          ++report.not_reached;
        }
        // The program's next attempt: the same transport through the healthy relay. A temporary
        // slot the cut walsender still holds is a retryable 55006 until that walsender exits.
        t.close();
        std::optional<ReplicationError> last;
        bool back = false;
        for (const auto deadline = std::chrono::steady_clock::now() + 15s;
             !back && std::chrono::steady_clock::now() < deadline;) {
          auto st = t.start(Lsn{});
          back = st.has_value();
          if (back) break;
          last = st.error();
          if (!last->retryable()) break;
          std::this_thread::sleep_for(20ms);
        }
        if (!back) {
          report.problems.push_back(where + ": the retry did not stream" + (last ? ": " + describe(*last) : ""));
        }
      }
    }
    report.print("open/start sweep, sslmode=" + sslmode);
    INFO("problems:\n"
         << [&] {
              std::string s;
              for (const auto& p : report.problems) s += p + "\n";
              return s;
            }());
    CHECK(report.problems.empty());
    // Every step of the exchange failed (retryable) at some cut in each direction it has bytes in.
    for (const auto& m : messages) {
      INFO(m.step << " (" << name_of(m.direction) << ")");
      CHECK(report.failed_per_step[m.step][index_of(m.direction)] > 0);
    }
  }
  std::cout << "open/start sweeps took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count()
            << " ms" << std::endl;
}

TEST_CASE("definite answers from the server stay fatal (through the same relay)") {
  PublishedTable pt;
  TcpRelay relay("127.0.0.1", static_cast<std::uint16_t>(std::stoi(test::env_or("PGPORT"))));
  ConnectionConfig cfg = relay_config(relay, "prefer");
  LibpqTransportOptions o = cut_options(pt);
  auto start_error = [&]() -> ReplicationError {
    LibpqTransport t(cfg, o);
    auto st = t.start(Lsn{});
    REQUIRE_FALSE(st);
    INFO(describe(st.error()));
    CHECK_FALSE(st.error().retryable());
    return st.error();
  };

  SECTION("wrong password (where the server checks passwords)") {
    const auto role = unique_name("cut_pw");
    pt.admin.exec("CREATE ROLE " + role + " LOGIN REPLICATION PASSWORD 'the-right-one'");
    CleanupSql drop("DROP ROLE IF EXISTS " + role);
    cfg.user = role;
    cfg.password = "a-wrong-one";
    if (auto probe = PgConnection::connect(cfg, ConnectionKind::normal); probe) {
      WARN(
          "skipped: the test server's pg_hba.conf trusts 127.0.0.1 (it let a wrong password in), so no "
          "password is checked here; tests/hardening/auth_test.cpp checks 28P01 on a scram-sha-256 cluster");
    } else {
      const auto e = start_error();
      CHECK(e.sqlstate == "28P01");
      CHECK(e.message.find("a-wrong-one") == std::string::npos);
    }
  }

  SECTION("missing role") {
    cfg.user = unique_name("cut_norole");
    CHECK(start_error().sqlstate == "28000");
  }

  SECTION("a role without REPLICATION") {
    const auto role = unique_name("cut_norepl");
    pt.admin.exec("CREATE ROLE " + role + " LOGIN NOREPLICATION");
    CleanupSql drop("DROP ROLE IF EXISTS " + role);
    cfg.user = role;
    CHECK(start_error().sqlstate == "42501");
  }

  SECTION("missing database") {
    cfg.dbname = unique_name("cut_nodb");
    CHECK(start_error().sqlstate == "3D000");
  }

  SECTION("missing publication") {
    o.publication_names = {unique_name("cut_nopub")};
    const auto e = start_error();
    CHECK(e.sqlstate == "42704");
    CHECK(e.message.find("CREATE PUBLICATION") != std::string::npos);
  }

  SECTION("a slot of another output plugin (test_decoding)") {
    o.temporary_slot = false;
    pt.admin.exec("SELECT pg_create_logical_replication_slot('" + o.slot_name + "', 'test_decoding')");
    CleanupSql drop("SELECT pg_drop_replication_slot('" + o.slot_name + "')");
    const auto e = start_error();
    CHECK(e.sqlstate == "42710");
    CHECK(e.message.find("test_decoding") != std::string::npos);
  }
}
