// metrics/http_request.hpp: complete, incomplete, malformed and too large request heads.
#include <catch2/catch.hpp>

#include <string>

#include "replicator/metrics/http_request.hpp"

using namespace replicator::metrics;

TEST_CASE("a whole GET request head", "[http]") {
  const std::string in = "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9187\r\nAccept: */*\r\n\r\nrest";
  const auto r = parse_http_request(in);
  REQUIRE(r.status == HttpParseStatus::complete);
  CHECK(r.request.method == "GET");
  CHECK(r.request.target == "/metrics?x=1");
  CHECK(r.request.path() == "/metrics");
  CHECK(r.request.version == "HTTP/1.1");
  CHECK(r.request.headers == 2);
  CHECK(r.request.head_bytes == in.size() - 4);
  CHECK_FALSE(r.request.has_body);
}

TEST_CASE("prefixes of a valid head are incomplete", "[http]") {
  const std::string in = "GET /healthz HTTP/1.0\r\nUser-Agent: Prometheus/2.42.0\r\n\r\n";
  for (std::size_t n = 0; n < in.size(); ++n) {
    INFO("prefix " << n);
    CHECK(parse_http_request(std::string_view(in).substr(0, n)).status == HttpParseStatus::incomplete);
  }
  CHECK(parse_http_request(in).status == HttpParseStatus::complete);
}

TEST_CASE("malformed request lines", "[http]") {
  for (const char* bad : {"\r\n\r\n", "GET\r\n\r\n", "GET /\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n",
                          "GET / HTTP/2.0\r\n\r\n", "GET / HTTP/1.1 \r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
                          "GET metrics HTTP/1.1\r\n\r\n", "GET /a\x01 HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\n\n",
                          "GET / HTTP/1.1\rX\r\n\r\n", "\x16\x03\x01\x02\x01\xfc\x03\x03\r\n"}) {
    INFO(bad);
    CHECK(parse_http_request(bad).status == HttpParseStatus::malformed);
  }
  // Garbage is refused at its first line, without waiting for the blank line.
  CHECK(parse_http_request("HELLO THERE\r\n").status == HttpParseStatus::malformed);
}

TEST_CASE("malformed header lines", "[http]") {
  for (const char* bad :
       {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", "GET / HTTP/1.1\r\n: empty\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"}) {
    INFO(bad);
    CHECK(parse_http_request(bad).status == HttpParseStatus::malformed);
  }
  const std::string nul = std::string("GET / HTTP/1.1\r\nA: b") + '\0' + "c\r\n\r\n";
  CHECK(parse_http_request(nul).status == HttpParseStatus::malformed);
}

TEST_CASE("a body is noticed", "[http]") {
  CHECK(parse_http_request("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").request.has_body);
  CHECK_FALSE(parse_http_request("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").request.has_body);
  CHECK(parse_http_request("GET / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n").request.has_body);
}

TEST_CASE("huge heads are too large, not incomplete forever", "[http]") {
  std::string in = "GET / HTTP/1.1\r\nX-Big: " + std::string(10000, 'a');
  CHECK(parse_http_request(in, 8192).status == HttpParseStatus::too_large);
  in += "\r\n\r\n";
  CHECK(parse_http_request(in, 8192).status == HttpParseStatus::too_large);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 100; ++i) many += "H" + std::to_string(i) + ": v\r\n";
  many += "\r\n";
  CHECK(parse_http_request(many, 1 << 20).status == HttpParseStatus::too_large);
  std::string long_target = "GET /" + std::string(9000, 'x');
  CHECK(parse_http_request(long_target, 8192).status == HttpParseStatus::too_large);
}

TEST_CASE("absolute-form targets and asterisk", "[http]") {
  const auto r = parse_http_request("GET http://h:1/readyz?a HTTP/1.1\r\n\r\n");
  REQUIRE(r.status == HttpParseStatus::complete);
  CHECK(r.request.path() == "/readyz");
  const auto o = parse_http_request("OPTIONS * HTTP/1.1\r\n\r\n");
  REQUIRE(o.status == HttpParseStatus::complete);
  CHECK(o.request.path() == "*");
}
