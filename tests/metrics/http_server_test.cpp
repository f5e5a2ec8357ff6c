// metrics/http_server.hpp over real sockets: routing and status codes, malformed and huge requests,
// a slow client (408) that does not hold up others, a client that never reads, too many connections.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "replicator/metrics/http_server.hpp"
#include "replicator/metrics/replicator_metrics.hpp"
#include "tests/support/http_client.hpp"

using namespace std::chrono_literals;
using namespace replicator::metrics;
using replicator::test::http_get;
using replicator::test::http_raw;
using replicator::test::TcpClient;

namespace {
std::unique_ptr<HttpServer> start_server(ReplicatorMetrics& m, HttpServerOptions o = {}) {
  o.address = "127.0.0.1:0";
  auto s = HttpServer::start(o, m.http_handler());
  REQUIRE(s);
  return std::move(s.value());
}
}  // namespace

TEST_CASE("routes, status codes and content type", "[http]") {
  ReplicatorMetrics m("1.2.3");
  auto server = start_server(m);
  const auto port = server->port();
  REQUIRE(port != 0);

  auto metrics = http_get("127.0.0.1", port, "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.head.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  CHECK(metrics.body.find("replicator_build_info{version=\"1.2.3\"} 1\n") != std::string::npos);
  CHECK(metrics.head.find("Content-Length: " + std::to_string(metrics.body.size())) != std::string::npos);

  CHECK(http_get("127.0.0.1", port, "/healthz").status == 200);
  CHECK(http_get("127.0.0.1", port, "/readyz").status == 503);  // not streaming yet
  m.set_state(true, true, false);
  CHECK(http_get("127.0.0.1", port, "/readyz").status == 200);
  m.set_state(false, false, true);
  auto backoff = http_get("127.0.0.1", port, "/readyz");
  CHECK(backoff.status == 503);
  CHECK(backoff.body == "not ready: reconnecting\n");

  CHECK(http_get("127.0.0.1", port, "/nope").status == 404);
  auto post = http_raw("127.0.0.1", port, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  CHECK(post.status == 405);
  CHECK(post.head.find("Allow: GET, HEAD") != std::string::npos);
  auto head = http_raw("127.0.0.1", port, "HEAD /healthz HTTP/1.1\r\n\r\n");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
}

TEST_CASE("malformed and huge requests get 400 and 431", "[http]") {
  ReplicatorMetrics m;
  auto server = start_server(m);
  const auto port = server->port();
  CHECK(http_raw("127.0.0.1", port, "BLAH\r\n\r\n").status == 400);
  CHECK(http_raw("127.0.0.1", port, "GET / HTTP/9.9\r\n\r\n").status == 400);
  CHECK(http_raw("127.0.0.1", port, std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11) + "\r\n").status ==
        400);
  CHECK(http_raw("127.0.0.1", port, "GET /metrics HTTP/1.1\r\nX: " + std::string(64 * 1024, 'h') + "\r\n\r\n").status ==
        431);
  std::string many = "GET /metrics HTTP/1.1\r\n";
  for (int i = 0; i < 200; ++i) many += "H" + std::to_string(i) + ": v\r\n";
  CHECK(http_raw("127.0.0.1", port, many + "\r\n").status == 431);
  // Still serving.
  CHECK(http_get("127.0.0.1", port, "/healthz").status == 200);
}

TEST_CASE("a slow client times out with 408 and does not stall others", "[http]") {
  ReplicatorMetrics m;
  HttpServerOptions o;
  o.read_timeout = 500ms;
  auto server = start_server(m, o);
  const auto port = server->port();
  TcpClient slow("127.0.0.1", port);
  REQUIRE(slow.send_all("GET /met"));   // and nothing more
  TcpClient silent("127.0.0.1", port);  // sends nothing at all
  const auto began = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) REQUIRE(http_get("127.0.0.1", port, "/healthz", 2s).status == 200);
  CHECK(std::chrono::steady_clock::now() - began < 400ms);  // not behind the slow ones
  const auto reply = replicator::test::parse_reply(slow.read_all(3s));
  CHECK(reply.status == 408);
  CHECK(replicator::test::parse_reply(silent.read_all(3s)).status == 408);
}

TEST_CASE("a client that never reads its response is dropped after the write timeout", "[http]") {
  Registry big;
  auto& f = big.gauge("wide", "a very wide metric", {"k"});
  for (int i = 0; i < 60000; ++i) f.with({std::to_string(i) + std::string(60, 'x')}).set(i);
  HttpServerOptions o;
  o.address = "127.0.0.1:0";
  o.write_timeout = 500ms;
  auto s = HttpServer::start(o, [&](const HttpRequestView&) { return HttpResponse{200, "text/plain", big.expose()}; });
  REQUIRE(s);
  auto& server = *s.value();
  std::vector<std::unique_ptr<TcpClient>> lazy;
  for (int i = 0; i < 3; ++i) {
    lazy.push_back(std::make_unique<TcpClient>("127.0.0.1", server.port()));
    REQUIRE(lazy.back()->send_all("GET /metrics HTTP/1.1\r\n\r\n"));  // never read: the body is megabytes
  }
  std::this_thread::sleep_for(100ms);
  const auto began = std::chrono::steady_clock::now();
  auto r = http_get("127.0.0.1", server.port(), "/x", 10s);
  CHECK(r.status == 200);
  CHECK(r.body.size() > 4'000'000);
  CHECK(std::chrono::steady_clock::now() - began < 5s);
}

TEST_CASE("connections past the limit get 503", "[http]") {
  ReplicatorMetrics m;
  HttpServerOptions o;
  o.max_connections = 4;
  auto server = start_server(m, o);
  std::vector<std::unique_ptr<TcpClient>> held;
  for (int i = 0; i < 4; ++i) held.push_back(std::make_unique<TcpClient>("127.0.0.1", server->port()));
  std::this_thread::sleep_for(100ms);
  CHECK(http_get("127.0.0.1", server->port(), "/healthz").status == 503);
  held.clear();
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    std::this_thread::sleep_for(20ms);
    status = http_get("127.0.0.1", server->port(), "/healthz").status;
  }
  CHECK(status == 200);
}

TEST_CASE("a taken port or a bad address is an error", "[http]") {
  ReplicatorMetrics m;
  auto server = start_server(m);
  auto again = HttpServer::start({.address = "127.0.0.1:" + std::to_string(server->port())}, m.http_handler());
  REQUIRE_FALSE(again);
  CHECK(again.error().message.find("cannot listen") != std::string::npos);
  CHECK_FALSE(HttpServer::start({.address = "nonsense"}, m.http_handler()));
  CHECK_FALSE(HttpServer::start({.address = "127.0.0.1:99999"}, m.http_handler()));
}
