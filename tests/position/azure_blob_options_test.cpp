// AzureBlobOptions and AzureEndpoint without a server: how an endpoint splits into what the requests
// sign, which endpoints are refused (plain http off loopback, userinfo, queries), and that every
// wrong setting is reported by the name of its field.
#include <catch2/catch.hpp>

#include <string>

#include "replicator/position/azure_blob_options.hpp"

using replicator::AzureBlobOptions;
using replicator::AzureEndpoint;

TEST_CASE("AzureEndpoint splits the host style and the path style") {
  std::string why;
  auto host_style = AzureEndpoint::parse("https://acct1.blob.core.windows.net/", why);
  REQUIRE(host_style);
  CHECK(host_style->scheme == "https");
  CHECK(host_style->host == "acct1.blob.core.windows.net");
  CHECK(host_style->path.empty());
  CHECK(host_style->account == "acct1");
  CHECK(host_style->base_url() == "https://acct1.blob.core.windows.net");

  auto path_style = AzureEndpoint::parse("http://127.0.0.1:10000/devstoreaccount1", why);
  REQUIRE(path_style);
  CHECK(path_style->scheme == "http");
  CHECK(path_style->host == "127.0.0.1:10000");
  CHECK(path_style->path == "/devstoreaccount1");
  CHECK(path_style->account == "devstoreaccount1");  // the account is part of the signed resource
  CHECK(path_style->base_url() == "http://127.0.0.1:10000/devstoreaccount1");

  auto ip_only = AzureEndpoint::parse("https://10.1.2.3:443", why);
  REQUIRE(ip_only);
  CHECK(ip_only->account.empty());  // an address names no account
}

TEST_CASE("AzureEndpoint refuses what it cannot sign or must not send in clear") {
  std::string why;
  CHECK_FALSE(AzureEndpoint::parse("ftp://acct1", why));
  CHECK_THAT(why, Catch::Contains("https://"));
  CHECK_FALSE(AzureEndpoint::parse("https://", why));
  CHECK_THAT(why, Catch::Contains("no host"));
  CHECK_FALSE(AzureEndpoint::parse("https://h/a/b", why));
  CHECK_THAT(why, Catch::Contains("one path segment"));
  CHECK_FALSE(AzureEndpoint::parse("http://acct1.blob.core.windows.net", why));
  CHECK_THAT(why, Catch::Contains("loopback"));

  CHECK(AzureEndpoint::is_loopback("127.0.0.1:10000"));
  CHECK(AzureEndpoint::is_loopback("127.8.9.10"));
  CHECK(AzureEndpoint::is_loopback("localhost:1"));
  CHECK(AzureEndpoint::is_loopback("[::1]:10000"));
  CHECK_FALSE(AzureEndpoint::is_loopback("127.0.0.1.evil.com"));
  CHECK_FALSE(AzureEndpoint::is_loopback("127.0.0"));
  CHECK_FALSE(AzureEndpoint::is_loopback("[::2]"));
  CHECK_FALSE(AzureEndpoint::is_loopback("10.0.0.1"));
}

TEST_CASE("AzureBlobOptions names the field that is wrong") {
  AzureBlobOptions o;
  o.endpoint = "https://acct1.blob.core.windows.net";
  o.account_key = "c2VjcmV0LWtleS1ieXRlcw==";
  o.container = "replicator";
  o.blob = "a/b.position";
  CHECK_FALSE(o.problem());
  auto field = [](const AzureBlobOptions& x) { return x.problem() ? x.problem()->field : std::string("ok"); };
  auto with = [&](auto edit) {
    AzureBlobOptions x = o;
    edit(x);
    return field(x);
  };
  CHECK(with([](auto& x) { x.endpoint.clear(); }) == "endpoint");
  CHECK(with([](auto& x) { x.endpoint = "http://acct1.blob.core.windows.net"; }) == "endpoint");  // not loopback
  CHECK(with([](auto& x) { x.endpoint = "http://10.0.0.1:10000/devstoreaccount1"; }) == "endpoint");
  CHECK(with([](auto& x) { x.endpoint = "http://127.0.0.1:10000/devstoreaccount1"; }) == "ok");
  CHECK(with([](auto& x) { x.endpoint = "http://localhost:10000/devstoreaccount1"; }) == "ok");
  CHECK(with([](auto& x) { x.endpoint = "http://[::1]:10000/devstoreaccount1"; }) == "ok");
  CHECK(with([](auto& x) { x.endpoint = "http://127.0.0.1.evil.com/devstoreaccount1"; }) == "endpoint");
  CHECK(with([](auto& x) { x.endpoint = "https://acct1.blob.core.windows.net/?x=1"; }) == "endpoint");
  CHECK(with([](auto& x) { x.endpoint = "https://user@acct1.blob.core.windows.net"; }) == "endpoint");
  CHECK(with([](auto& x) { x.endpoint = "https://10.1.2.3"; }) == "account");  // names no account
  CHECK(with([](auto& x) {
          x.endpoint = "https://10.1.2.3";
          x.account = "acct1";
        }) == "ok");
  CHECK(with([](auto& x) { x.account = "Bad_Name"; }) == "account");
  CHECK(with([](auto& x) { x.account = "ab"; }) == "account");
  CHECK(with([](auto& x) { x.sas_token = "sv=1&sig=x"; }) == "account_key");  // both
  CHECK(with([](auto& x) { x.account_key.clear(); }) == "account_key");       // neither
  CHECK(with([](auto& x) { x.account_key = "not base64!"; }) == "account_key");
  CHECK(with([](auto& x) { x.account_key = "abc"; }) == "account_key");  // not a multiple of 4
  CHECK(with([](auto& x) {
          x.account_key.clear();
          x.sas_token = "?sv=2022-11-02&sig=abc";
        }) == "ok");
  CHECK(with([](auto& x) {
          x.account_key.clear();
          x.sas_token = "sv=1";
        }) == "sas_token");
  CHECK(with([](auto& x) {
          x.account_key.clear();
          x.sas_token = "sv=1&sig=a b";
        }) == "sas_token");
  CHECK(with([](auto& x) { x.container.clear(); }) == "container");
  CHECK(with([](auto& x) { x.container = "Up"; }) == "container");
  CHECK(with([](auto& x) { x.container = "a--b"; }) == "container");
  CHECK(with([](auto& x) { x.container = "-ab"; }) == "container");
  CHECK(with([](auto& x) { x.blob = "/abs"; }) == "blob");
  CHECK(with([](auto& x) { x.blob = "a/../b"; }) == "blob");
  CHECK(with([](auto& x) { x.blob = "a//b"; }) == "blob");
  CHECK(with([](auto& x) { x.blob = "sp ace"; }) == "blob");
  CHECK(with([](auto& x) { x.blob = ""; }) == "blob");
  CHECK(with([](auto& x) { x.blob = std::string(1025, 'a'); }) == "blob");
}

TEST_CASE("AzureBlobOptions problems never quote a secret") {
  AzureBlobOptions o;
  o.endpoint = "https://acct1.blob.core.windows.net";
  o.account_key = "c2VjcmV0LWtleS1ieXRlcw==";
  o.sas_token = "sv=1&sig=TOPSECRET";
  o.container = "replicator";
  o.blob = "b";
  auto p = o.problem();
  REQUIRE(p);
  CHECK(p->message.find("c2VjcmV0") == std::string::npos);
  CHECK(p->message.find("TOPSECRET") == std::string::npos);
}
