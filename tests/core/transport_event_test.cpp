// core/transport_event.hpp: what a transport hands on, and the positions a status update reports.
#include "replicator/core/transport_event.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <type_traits>
#include <variant>

using namespace replicator;

TEST_CASE("TransportEvent is one of a message, a keepalive, idle or the end") {
  STATIC_REQUIRE(std::variant_size_v<TransportEvent> == 4);
  const std::array<std::byte, 3> payload{std::byte{'B'}, std::byte{0}, std::byte{1}};
  TransportEvent ev = WalMessage{Lsn{0x10}, Lsn{0x20}, PgTimestamp{5}, payload, 0};
  REQUIRE(std::holds_alternative<WalMessage>(ev));
  CHECK(std::get<WalMessage>(ev).payload.size() == 3);
  CHECK(std::get<WalMessage>(ev).wal_end == Lsn{0x20});
  ev = Keepalive{Lsn{0x30}, PgTimestamp{}, true};
  CHECK(std::get<Keepalive>(ev).reply_requested);
  ev = Idle{};
  CHECK(std::holds_alternative<Idle>(ev));
  ev = EndOfStream{};
  CHECK(std::holds_alternative<EndOfStream>(ev));
}

TEST_CASE("StandbyStatus starts at nothing confirmed") {
  const StandbyStatus s{};
  CHECK_FALSE(s.written.is_valid());
  CHECK_FALSE(s.flushed.is_valid());
  CHECK_FALSE(s.applied.is_valid());
  CHECK_FALSE(s.reply_requested);
}
