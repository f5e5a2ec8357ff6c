// The CopyData messages around pgoutput (transport/copy_data.hpp): hand-made edge cases, then the
// bytes a real server sends on a raw replication connection (XLogData and a keepalive asked for
// with a standby status update we encoded).
#include "replicator/transport/copy_data.hpp"

#include <libpq-fe.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "replicator/pg/connection.hpp"
#include "replicator/pg/slot.hpp"
#include "tests/support/env_config.hpp"
#include "tests/support/pg.hpp"

using namespace replicator;
using namespace replicator::protocol;
using replicator::test::CleanupSql;
using replicator::test::PgSession;
using replicator::test::unique_name;

namespace {
std::vector<std::byte> bytes(std::initializer_list<int> v) {
  std::vector<std::byte> out;
  for (int b : v) out.push_back(static_cast<std::byte>(b));
  return out;
}
void put64(std::vector<std::byte>& out, std::uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) out.push_back(static_cast<std::byte>((v >> s) & 0xFF));
}
}  // namespace

TEST_CASE("XLogData and keepalive decode; a truncated or unknown message is a typed error at its offset") {
  std::vector<std::byte> w = bytes({'w'});
  put64(w, 0x16B3748);
  put64(w, 0x16B3800);
  put64(w, 12345);
  w.push_back(std::byte{'B'});
  auto x = decode_copy_data(w, 100);
  REQUIRE(x);
  const auto& xl = std::get<XLogDataView>(*x);
  CHECK(xl.wal_start == Lsn{0x16B3748});
  CHECK(xl.wal_end == Lsn{0x16B3800});
  CHECK(xl.send_time.micros_since_2000() == 12345);
  REQUIRE(xl.payload.size() == 1);
  CHECK(xl.payload.data() == w.data() + 25);  // a view into the message, not a copy

  std::vector<std::byte> k = bytes({'k'});
  put64(k, 0x5000);
  put64(k, 7);
  k.push_back(std::byte{1});
  auto ka = decode_copy_data(k);
  REQUIRE(ka);
  CHECK(std::get<PrimaryKeepaliveView>(*ka).reply_requested);

  k.back() = std::byte{2};
  auto bad_flag = decode_copy_data(k, 50);
  REQUIRE_FALSE(bad_flag);
  CHECK(bad_flag.error().code == Errc::unknown_flag);
  CHECK(bad_flag.error().offset == 50 + 17);
  k.back() = std::byte{0};
  k.push_back(std::byte{0});
  CHECK_FALSE(decode_copy_data(k));  // trailing bytes after a keepalive
  auto short_w = decode_copy_data(std::span(w).first(10), 7);
  REQUIRE_FALSE(short_w);
  CHECK(short_w.error().offset >= 7);
  auto unknown = decode_copy_data(bytes({'z', 0, 0}), 3);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code == Errc::unknown_message);
  CHECK_FALSE(decode_copy_data(std::span<const std::byte>{}));
}

TEST_CASE("make_standby_status_update: 34 bytes, big-endian positions and clock, the reply flag last") {
  constexpr auto r = make_standby_status_update(Lsn{1}, Lsn{0x0102030405060708}, Lsn{3}, PgTimestamp{-1}, true);
  STATIC_REQUIRE(r.size() == 34);
  CHECK(r[0] == std::byte{'r'});
  CHECK(r[9] == std::byte{0x01});
  CHECK(r[16] == std::byte{0x08});
  CHECK(r[25] == std::byte{0xFF});  // the clock, two's complement
  CHECK(r[33] == std::byte{1});
}

TEST_CASE("a real server's CopyData: XLogData with pgoutput messages, and the keepalive our status update asks for") {
  PgSession admin;
  const std::string table = unique_name("cd_t");
  const std::string pub = unique_name("cd_pub");
  admin.exec("CREATE TABLE " + table + " (id int primary key)");
  CleanupSql drop_table("DROP TABLE IF EXISTS " + table);
  admin.exec("CREATE PUBLICATION " + pub + " FOR TABLE " + table);
  CleanupSql drop_pub("DROP PUBLICATION IF EXISTS " + pub);

  auto conn = PgConnection::connect(test::env_config(), ConnectionKind::replication);
  REQUIRE(conn);
  const std::string slot = unique_name("cd_slot");
  REQUIRE(conn->exec("CREATE_REPLICATION_SLOT " + slot + " TEMPORARY LOGICAL pgoutput", "create slot"));
  admin.exec("INSERT INTO " + table + " VALUES (1)");
  PGresult* started = PQexec(
      conn->get(),
      ("START_REPLICATION SLOT " + slot + " LOGICAL 0/0 (proto_version '1', publication_names '" + pub + "')").c_str());
  REQUIRE(PQresultStatus(started) == PGRES_COPY_BOTH);
  PQclear(started);

  // Ask for a keepalive right away, with a status update built by make_standby_status_update.
  const auto status = make_standby_status_update(Lsn{}, Lsn{}, Lsn{}, PgTimestamp{0}, true);
  REQUIRE(PQputCopyData(conn->get(), reinterpret_cast<const char*>(status.data()), static_cast<int>(status.size())) ==
          1);
  REQUIRE(PQflush(conn->get()) == 0);

  std::string tags;
  bool keepalive = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((tags.find("IC") == std::string::npos || !keepalive) && std::chrono::steady_clock::now() < deadline) {
    char* buf = nullptr;
    const int n = PQgetCopyData(conn->get(), &buf, /*async=*/0);
    REQUIRE(n > 0);
    const auto* p = reinterpret_cast<const std::byte*>(buf);
    auto msg = decode_copy_data(std::span<const std::byte>(p, static_cast<std::size_t>(n)));
    if (!msg) FAIL(msg.error().describe());
    if (const auto* x = std::get_if<XLogDataView>(&*msg)) {
      REQUIRE_FALSE(x->payload.empty());
      tags += static_cast<char>(x->payload[0]);
      CHECK(x->wal_end >= x->wal_start);
    } else {
      keepalive = true;
      CHECK(std::get<PrimaryKeepaliveView>(*msg).wal_end.is_valid());
    }
    PQfreemem(buf);
  }
  CHECK(keepalive);
  // Begin, Relation, Insert, Commit, as pgoutput sends them (14 also sends other transactions of the
  // database as an empty Begin/Commit).
  CHECK(tags.find("BRIC") != std::string::npos);
}
