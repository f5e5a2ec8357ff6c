// AzureBlobPositionStore against a real Azurite (tests/support/azurite.hpp, one server for the whole
// binary, one more with TLS): round trip with the container created on first save, ETag conflicts
// between two stores, a SAS token, https with a private CA, wrong credentials (403, fatal, no secret
// in the message), a corrupt blob, Azurite stopped and started again (retryable, then recovered), a
// server that never answers (timeout, retryable), 5xx and 4xx answers, bad options refused fatally;
// plus the Shared Key string-to-sign and the blob's JSON.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "replicator/concepts.hpp"
#include "replicator/position/azure_blob.hpp"
#include "tests/support/azurite.hpp"
#include "tests/support/require_ok.hpp"

using namespace replicator;
using replicator::test::Azurite;


namespace {

Azurite& azurite() {
  static Azurite server;  // stopped and removed at exit
  if (!server.running()) server.start();
  return server;
}

int counter = 0;
// A fresh container per test case, so cases do not see each other's blobs.
AzureBlobOptions options(const std::string& container_prefix = "pos") {
  AzureBlobOptions o;
  o.endpoint = azurite().endpoint();
  o.account_key = Azurite::kKey;
  o.container = container_prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
  o.blob = "slots/my_slot.position";
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.request_timeout = std::chrono::milliseconds(5000);
  return o;
}

Position sample(std::uint64_t lsn, std::int64_t us = 1764088251123456) {
  return Position{Lsn{lsn}, 1, "my_slot", 7300000000000000123ULL,
                  std::chrono::system_clock::time_point(std::chrono::microseconds(us))};
}

// Writes `text` as the blob with a plain signed Put Blob (no condition), as another tool would.
long put_raw(const AzureBlobOptions& o, const std::string& text) {
  std::string why;
  const auto e = *AzureEndpoint::parse(o.endpoint, why);
  const std::string path = e.path + "/" + o.container + "/" + o.blob;
  std::vector<std::pair<std::string, std::string>> std_headers = {{"Content-Length", std::to_string(text.size())},
                                                                  {"Content-Type", "text/plain"}};
  std::vector<std::pair<std::string, std::string>> ms = {
      {"x-ms-blob-type", "BlockBlob"}, {"x-ms-date", detail::http_date_now()}, {"x-ms-version", "2021-08-06"}};
  const auto auth = detail::shared_key_authorization(e.account, *detail::base64_decode(o.account_key),
                                                     {"PUT", std_headers, ms, "/" + e.account + path, {}});
  detail::HttpRequest req{
      "PUT", e.scheme + "://" + e.host + path, {"Content-Type: text/plain", "Authorization: " + *auth}, text};
  for (const auto& [n, v] : ms) req.headers.push_back(n + ": " + v);
  detail::CurlSession s;
  return s.perform(req, {}).status;
}

// An account SAS for the development account (version 2020-08-04: no encryption-scope line).
std::string account_sas(bool break_signature = false) {
  const std::string sp = "rwdlac", ss = "b", srt = "sco", se = "2099-01-01T00:00:00Z", spr = "https,http",
                    sv = "2020-08-04";
  const std::string to_sign = std::string(Azurite::kAccount) + "\n" + sp + "\n" + ss + "\n" + srt + "\n\n" + se +
                              "\n\n" + spr + "\n" + sv + "\n";
  std::string sig = detail::base64_encode(*detail::hmac_sha256(*detail::base64_decode(Azurite::kKey), to_sign));
  if (break_signature) sig[0] = sig[0] == 'A' ? 'B' : 'A';
  std::string encoded;  // sig is base64: +, / and = need escaping in a query
  for (char c : sig) {
    if (c == '+') encoded += "%2B";
    else if (c == '/') encoded += "%2F";
    else if (c == '=') encoded += "%3D";
    else encoded += c;
  }
  return "sv=" + sv + "&ss=" + ss + "&srt=" + srt + "&sp=" + sp + "&se=" + se + "&spr=https%2Chttp&sig=" + encoded;
}

}  // namespace

TEST_CASE("AzureBlobPositionStore is a PositionStorePolicy") {
  STATIC_REQUIRE(PositionStorePolicy<AzureBlobPositionStore>);
}

TEST_CASE("AzureBlobPositionStore round-trips a position and creates the container") {
  auto o = options();
  AzureBlobPositionStore a(o);
  auto empty = a.load();  // no container yet
  REQUIRE(empty);
  CHECK_FALSE(empty->has_value());
  REQUIRE_OK(a.save(sample(0x16B3748)));
  const std::string first_etag = a.etag();
  CHECK_FALSE(first_etag.empty());
  REQUIRE_OK(a.save(sample(0x1000000000)));  // If-Match on its own ETag
  CHECK(a.etag() != first_etag);

  AzureBlobPositionStore again(o);  // a restart
  auto p = again.load();
  REQUIRE(p);
  REQUIRE(p->has_value());
  CHECK(**p == sample(0x1000000000));
  CHECK(again.etag() == a.etag());
  CHECK(a.display_url() == o.endpoint + "/" + o.container + "/slots/my_slot.position");
}

TEST_CASE("AzureBlobPositionStore refuses to overwrite what another store wrote") {
  auto o = options();
  AzureBlobPositionStore a(o), b(o);

  SECTION("both found no blob: the second create loses") {
    REQUIRE_FALSE(a.load().value().has_value());
    REQUIRE_FALSE(b.load().value().has_value());
    REQUIRE_OK(a.save(sample(0x100)));
    auto lost = b.save(sample(0x200));
    REQUIRE_FALSE(lost);
    CHECK_FALSE(lost.error().retryable());
    CHECK_THAT(lost.error().message, Catch::Contains("written by someone else") && Catch::Contains(o.container));
  }
  SECTION("both read one version: the second replace loses, the first keeps going") {
    REQUIRE_OK(a.save(sample(0x100)));  // a created it without loading: If-None-Match
    REQUIRE(b.load().value().has_value());
    REQUIRE_OK(a.save(sample(0x200)));
    auto lost = b.save(sample(0x300));
    REQUIRE_FALSE(lost);
    CHECK_FALSE(lost.error().retryable());
    CHECK_THAT(lost.error().message, Catch::Contains("another replicator"));
    REQUIRE_OK(a.save(sample(0x400)));
    CHECK(AzureBlobPositionStore(o).load().value()->lsn == Lsn{0x400});
  }
  SECTION("a repeat of a write that landed (its reply lost) is accepted") {
    REQUIRE_OK(a.save(sample(0x100)));
    REQUIRE(b.load());
    REQUIRE_OK(a.save(sample(0x200)));
    REQUIRE_OK(b.save(sample(0x200)));  // the same text: b adopts the ETag
    CHECK(b.etag() == a.etag());
  }
  SECTION("a blob written by another tool is a conflict too") {
    REQUIRE_OK(a.save(sample(0x100)));
    REQUIRE(put_raw(o, detail::format_position_json(sample(0x900))) == 201);
    REQUIRE_FALSE(a.save(sample(0x200)));
  }
}

TEST_CASE("AzureBlobPositionStore works with a SAS token instead of the key") {
  auto o = options("sas");
  o.account_key.clear();
  o.sas_token = "?" + account_sas();
  AzureBlobPositionStore s(o);
  REQUIRE_FALSE(s.load().value().has_value());
  REQUIRE_OK(s.save(sample(0xABC)));
  CHECK(AzureBlobPositionStore(o).load().value()->lsn == Lsn{0xABC});

  SECTION("a SAS with a wrong signature is fatal and not echoed") {
    o.sas_token = account_sas(true);
    auto r = AzureBlobPositionStore(o).load();
    REQUIRE_FALSE(r);
    CHECK_FALSE(r.error().retryable());
    CHECK_THAT(r.error().message, Catch::Contains("access denied") && Catch::Contains("SAS token"));
    CHECK_THAT(r.error().message, !Catch::Contains("sig=") && !Catch::Contains("sv="));
  }
}

TEST_CASE("AzureBlobPositionStore with a wrong key fails with one fatal line") {
  auto o = options();
  o.account_key = detail::base64_encode(std::string(64, 'k'));
  AzureBlobPositionStore s(o);
  for (int i = 0; i < 2; ++i) {
    auto r = i == 0 ? s.load().error() : s.save(sample(1)).error();
    CHECK_FALSE(r.retryable());
    CHECK_THAT(r.message, Catch::Contains("access denied") && Catch::Contains("403"));
    CHECK(r.message.find('\n') == std::string::npos);
    CHECK(r.message.find(o.account_key) == std::string::npos);
  }
}

TEST_CASE("AzureBlobPositionStore reports a corrupt blob by name") {
  auto o = options();
  AzureBlobPositionStore s(o);
  REQUIRE_OK(s.save(sample(1)));
  REQUIRE(put_raw(o, "lsn=0/1\n") == 201);
  auto r = s.load();
  REQUIRE_FALSE(r);
  CHECK_FALSE(r.error().retryable());
  CHECK_THAT(r.error().message, Catch::Contains("is corrupt") && Catch::Contains(s.display_url()));
}

TEST_CASE("AzureBlobPositionStore rides out Azurite being stopped") {
  auto o = options();
  AzureBlobPositionStore s(o);
  REQUIRE_FALSE(s.load().value().has_value());
  REQUIRE_OK(s.save(sample(0x100)));
  azurite().stop();
  auto down = s.save(sample(0x200));
  auto down_load = s.load();
  azurite().start();
  REQUIRE_FALSE(down);
  CHECK(down.error().retryable());
  CHECK_THAT(down.error().message, Catch::Contains("cannot write") && Catch::Contains(s.display_url()));
  REQUIRE_FALSE(down_load);
  CHECK(down_load.error().retryable());
  // Back with its data: the ETag this store holds is still current.
  REQUIRE_OK(s.save(sample(0x200)));
  CHECK(AzureBlobPositionStore(o).load().value()->lsn == Lsn{0x200});
}

TEST_CASE("AzureBlobPositionStore over https trusts the CA it is given and refuses others") {
  Azurite tls(Azurite::Tls::on);
  AzureBlobOptions o;
  o.endpoint = tls.endpoint();
  o.account_key = Azurite::kKey;
  o.container = "tls";
  o.blob = "b.position";
  o.ca_file = tls.ca_file();
  AzureBlobPositionStore s(o);
  REQUIRE_FALSE(s.load().value().has_value());
  REQUIRE_OK(s.save(sample(0x77)));
  CHECK(AzureBlobPositionStore(o).load().value()->lsn == Lsn{0x77});

  o.ca_file.clear();  // the system's CAs do not know this certificate
  auto r = AzureBlobPositionStore(o).load();
  REQUIRE_FALSE(r);
  CHECK_FALSE(r.error().retryable());
  CHECK_THAT(r.error().message, Catch::Contains("TLS certificate") && Catch::Contains("not trusted"));
}

TEST_CASE("AzureBlobPositionStore times out on a server that never answers") {
  // Listening, never accepting: the connection completes in the backlog, no reply ever comes.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd, 8) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  AzureBlobOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/devstoreaccount1";
  o.account_key = Azurite::kKey;
  o.container = "never";
  o.blob = "b";
  o.request_timeout = std::chrono::milliseconds(300);
  AzureBlobPositionStore s(o);
  const auto began = std::chrono::steady_clock::now();
  auto r = s.save(sample(1));
  ::close(fd);
  REQUIRE_FALSE(r);
  CHECK(r.error().retryable());
  CHECK_THAT(r.error().message, Catch::Contains("timed out"));
  CHECK(std::chrono::steady_clock::now() - began < std::chrono::seconds(3));
}

TEST_CASE("AzureBlobPositionStore retries a 5xx and stops on other 4xx") {
  // A one-shot HTTP server on loopback answering every request with `status`.
  auto answer_with = [](int status, const char* code) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    std::thread server([fd, status, code] {
      const int c = ::accept(fd, nullptr, nullptr);
      char buf[8192];
      std::string req;
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        req.append(buf, static_cast<std::size_t>(n));
      }
      const std::string reply = "HTTP/1.1 " + std::to_string(status) + " X\r\nx-ms-error-code: " + code +
                                "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      (void)!::write(c, reply.data(), reply.size());
      ::close(c);
    });
    AzureBlobOptions o;
    o.endpoint = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/devstoreaccount1";
    o.account_key = Azurite::kKey;
    o.container = "busy";
    o.blob = "b";
    auto r = AzureBlobPositionStore(o).load();
    server.join();
    ::close(fd);
    REQUIRE_FALSE(r);
    return r.error();
  };
  const auto busy = answer_with(503, "ServerBusy");
  CHECK(busy.retryable());
  CHECK_THAT(busy.message, Catch::Contains("HTTP 503 ServerBusy"));
  CHECK(answer_with(500, "InternalError").retryable());
  const auto bad = answer_with(400, "InvalidHeaderValue");
  CHECK_FALSE(bad.retryable());
  CHECK_THAT(bad.message, Catch::Contains("HTTP 400 InvalidHeaderValue"));
}

TEST_CASE("AzureBlobPositionStore refuses options that fail their check, fatally, naming the field") {
  AzureBlobOptions bad;
  bad.endpoint = "https://acct1.blob.core.windows.net";
  bad.account_key = Azurite::kKey;
  bad.blob = "a/b.position";
  bad.container = "X";  // the checks themselves: tests/position/azure_blob_options_test.cpp
  auto r = AzureBlobPositionStore(bad).load();
  REQUIRE_FALSE(r);
  CHECK_FALSE(r.error().retryable());
  CHECK_THAT(r.error().message, Catch::Contains("container"));
}

TEST_CASE("Shared Key string-to-sign follows the documented layout") {
  detail::AzureSignedRequest r{"PUT",
                               {{"Content-Length", "7"}, {"Content-Type", "application/json"}, {"If-Match", "\"0x1\""}},
                               {{"x-ms-version", "2021-08-06"},
                                {"X-MS-Date", "Thu, 03 Dec 2026 17:00:00 GMT"},
                                {"x-ms-blob-type", "  Block   Blob "}},
                               "/devstoreaccount1/devstoreaccount1/c/b",
                               {{"restype", "container"}, {"Comp", "list"}}};
  CHECK(detail::shared_key_string_to_sign(r) ==
        "PUT\n\n\n7\n\napplication/json\n\n\n\"0x1\"\n\n\n\n"
        "x-ms-blob-type:Block Blob\nx-ms-date:Thu, 03 Dec 2026 17:00:00 GMT\nx-ms-version:2021-08-06\n"
        "/devstoreaccount1/devstoreaccount1/c/b\ncomp:list\nrestype:container");
  r.headers = {{"Content-Length", "0"}};
  CHECK(detail::shared_key_string_to_sign(r).starts_with("PUT\n\n\n\n"));  // a zero length is left empty
  CHECK(detail::base64_decode("YWJj") == std::optional<std::string>("abc"));
  CHECK(detail::base64_decode("YWI=") == std::optional<std::string>("ab"));
  CHECK(detail::base64_decode("YQ==") == std::optional<std::string>("a"));
  CHECK_FALSE(detail::base64_decode("YQ=a"));
  CHECK(detail::base64_encode("ab") == "YWI=");
}

TEST_CASE("The position blob is one line of JSON with the LSN as X/Y") {
  const Position p = sample(0x1600B3748ULL);
  const std::string text = detail::format_position_json(p);
  CHECK(text ==
        "{\"version\":1,\"lsn\":\"1/600B3748\",\"slot\":\"my_slot\",\"system_id\":\"7300000000000000123\","
        "\"timeline\":1,\"saved_at_unix_us\":1764088251123456}\n");
  auto back = detail::parse_position_json(text);
  REQUIRE(back.position);
  CHECK(*back.position == p);
  CHECK(detail::parse_position_json(
            " { \"timeline\" : 1 , \"slot\":\"\",\"lsn\":\"0/1\",\"system_id\":\"0\",\"saved_at_unix_us\":0,"
            "\"version\":1 } ")
            .position);
  for (const char* bad : {"", "{}",
                          "{\"version\":2,\"lsn\":\"0/1\",\"slot\":\"s\",\"system_id\":\"0\",\"timeline\":1,"
                          "\"saved_at_unix_us\":0}",
                          "{\"version\":1,\"lsn\":\"0/1\",\"slot\":\"s\",\"system_id\":\"0\",\"timeline\":1}",
                          "{\"version\":1,\"version\":1}", "{\"lsn\":\"0/1\\\"\"}", "[1]",
                          "{\"version\":1,\"lsn\":\"zz\",\"slot\":\"s\",\"system_id\":\"0\",\"timeline\":1,"
                          "\"saved_at_unix_us\":0}",
                          "{\"version\":1,\"lsn\":\"0/1\",\"slot\":\"s\",\"system_id\":\"-1\",\"timeline\":1,"
                          "\"saved_at_unix_us\":0}"}) {
    INFO(bad);
    auto r = detail::parse_position_json(bad);
    CHECK_FALSE(r.position);
    CHECK_FALSE(r.problem.empty());
  }
}
