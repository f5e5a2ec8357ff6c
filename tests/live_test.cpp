// live.hpp: the ready-made stacks over LibpqTransport compose, and a stack pointed at a port where
// nothing listens reports a retryable error (run() would wait and reconnect), never a crash.
#include "replicator/live.hpp"

#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "replicator/concepts.hpp"

using namespace replicator;

namespace {
// A loopback port nobody listens on: bound, then closed.
std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}
}  // namespace

TEST_CASE("The live stacks are made of policies") {
  STATIC_REQUIRE(TransportPolicy<LibpqTransport>);
  STATIC_REQUIRE(SinkPolicy<JsonLinesSink>);
  STATIC_REQUIRE(SinkPolicy<DebeziumLinesSink>);
  STATIC_REQUIRE(PositionStorePolicy<FilePositionStore>);
  STATIC_REQUIRE(PositionStorePolicy<PostgresPositionStore>);
  STATIC_REQUIRE(std::is_same_v<LiveReplicator<JsonLinesSink>, JsonLinesReplicator>);
}

TEST_CASE("A live stack without a server fails its start as retryable") {
  ConnectionConfig cfg;
  cfg.host = "127.0.0.1";
  cfg.port = closed_port();
  cfg.connect_timeout_s = 2;
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string pos = std::string(dir ? dir : "/tmp") + "/live-test-" + std::to_string(::getpid()) + ".pos";
  JsonLinesReplicator r(LibpqTransport(cfg, {.slot_name = "live_test", .publication_names = {"pub"}}),
                        PgOutputEventDecoder{}, TransactionBatcher{}, FilePositionStore(pos),
                        JsonLinesSink::to_stdout(), {.slot_name = "live_test", .reconnect = std::nullopt});
  auto st = r.start();
  REQUIRE_FALSE(st);
  CHECK(st.error().retryable());
  std::atomic<bool> stop{false};
  auto ran = r.run(stop);  // no reconnect policy: the first error comes back
  REQUIRE_FALSE(ran);
  CHECK(ran.error().retryable());
}
