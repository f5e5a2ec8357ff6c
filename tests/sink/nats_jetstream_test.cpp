// NatsJetStreamSink against a real 3-node JetStream cluster (tests/support/nats_cluster.hpp):
// subjects, headers and message ids; the same bytes as the JSON lines sink; re-sends dropped by
// the duplicate window; the stream created with 3 replicas (4 is a clear error); a missing stream,
// a change above max_payload and refused credentials are fatal with one line; with two of three
// nodes down a flush fails (retryable) and succeeds once they are back.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "replicator/batch/batcher.hpp"
#include "replicator/concepts.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/sink/json_lines.hpp"
#include "replicator/sink/nats_jetstream.hpp"
#include "tests/support/nats_cluster.hpp"
#include "tests/support/nats_jwt.hpp"
#include "tests/support/pki.hpp"
#include "tests/support/policies.hpp"
#include "tests/support/require_ok.hpp"

using namespace replicator;
using namespace replicator::test;
using namespace std::chrono_literals;

namespace {

NatsCluster& cluster() {
  static NatsCluster c(3);
  static const bool ready = c.wait_ready(30s);
  REQUIRE(ready);
  return c;
}

struct Fixture {
  PgOutputEventDecoder decoder;
  CombinedBatcher batcher{ByLimits{}};
  void feed(std::uint64_t lsn, const Bytes& payload) {
    WalMessage m{Lsn{lsn}, Lsn{lsn}, PgTimestamp{}, payload, 0};
    REQUIRE(decoder.decode(m, [&](const ChangeEvent& e) { return batcher.add(e, std::chrono::steady_clock::now()); }));
  }
};
const std::vector<wire::Col> kCols = {{"id", 23, true}, {"name", 25, false}};

NatsJetStreamOptions options_for(const std::string& stream) {
  NatsJetStreamOptions o;
  o.urls = cluster().urls();
  o.stream = stream;
  o.subject_prefix = "t_" + stream;
  o.create_stream = true;
  o.replicas = 3;
  o.ack_timeout = 2000ms;
  return o;
}

int counter = 0;
std::string stream_name() { return "S" + std::to_string(::getpid()) + "_" + std::to_string(++counter); }

}  // namespace

TEST_CASE("NatsJetStreamSink and its Debezium variant are sinks") {
  STATIC_REQUIRE(SinkPolicy<NatsJetStreamSink>);
  STATIC_REQUIRE(SinkPolicy<DebeziumNatsJetStreamSink>);
}

TEST_CASE("NatsJetStreamSink publishes each change with its subject, headers and a stable id") {
  const std::string stream = stream_name();
  auto o = options_for(stream);
  o.publish_transactions = true;
  Fixture f;
  f.feed(0x100, wire::relation(16384, "public", "t", kCols));
  f.feed(0x101, wire::relation(16385, "my.schema", "a b", kCols));
  f.feed(0x110, wire::begin(0x16B3748, 740, 0));
  f.feed(0x120, wire::insert(16384, {"1", "a\"b"}));
  f.feed(0x130, wire::update(16384, 'K', {"1", std::nullopt}, {"2", std::nullopt}));
  f.feed(0x140, wire::insert(16385, {"7", "x"}));
  f.feed(0x150, wire::delete_(16384, 'K', {"2", std::nullopt}));
  f.feed(0x160, wire::commit(0x16B3748, 0x16B3778, 0));
  NatsJetStreamSink sink(o);
  REQUIRE_OK(sink.connect());
  REQUIRE(sink.write(f.batcher.batch()));
  REQUIRE(sink.flush());
  CHECK(sink.acked() == 6);

  auto msgs = read_stream(cluster(), stream, 6);
  REQUIRE(msgs.size() == 6);
  const std::string p = "t_" + stream;
  CHECK(msgs[0].subject == p + ".transaction");
  CHECK(msgs[1].subject == p + ".public.t");
  CHECK(msgs[3].subject == p + ".my%2Eschema.a%20b");
  CHECK(msgs[5].subject == p + ".transaction");
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    CHECK(msgs[i].headers["Nats-Msg-Id"] == "0/16B3748-" + std::to_string(i));
    CHECK(msgs[i].headers["Replicator-Xid"] == "740");
  }
  CHECK(msgs[0].headers["Replicator-Op"] == "begin");
  CHECK(msgs[1].headers["Replicator-Op"] == "insert");
  CHECK(msgs[2].headers["Replicator-Op"] == "update");
  CHECK(msgs[4].headers["Replicator-Op"] == "delete");
  CHECK(msgs[1].headers["Replicator-Lsn"] == "0/120");
  // The same bytes as the JSON lines sink's lines.
  CHECK(msgs[1].data ==
        R"({"op":"insert","lsn":"0/120","xid":740,"schema":"public","table":"t","new":{"id":"1","name":"a\"b"}})");
  CHECK(msgs[3].data ==
        R"({"op":"insert","lsn":"0/140","xid":740,"schema":"my.schema","table":"a b","new":{"id":"7","name":"x"}})");

  SECTION("a re-sent batch (a restart) is dropped by the duplicate window") {
    NatsJetStreamSink again(o);
    REQUIRE(again.write(f.batcher.batch()));
    REQUIRE(again.flush());
    CHECK(again.duplicates() == 6);
    CHECK(cluster().stream_messages(stream) == 6u);
  }
  SECTION("without transactions only the changes go out, numbered from 0 per transaction") {
    const std::string other = stream_name();
    auto o2 = options_for(other);
    NatsJetStreamSink changes(o2);
    REQUIRE(changes.write(f.batcher.batch()));
    REQUIRE(changes.flush());
    auto only = read_stream(cluster(), other, 4);
    REQUIRE(only.size() == 4);
    for (std::size_t i = 0; i < only.size(); ++i)
      CHECK(only[i].headers["Nats-Msg-Id"] == "0/16B3748-" + std::to_string(i));
    CHECK(only[0].headers["Replicator-Op"] == "insert");
  }
}

TEST_CASE("NatsJetStreamSink creates a 3-replica stream; 4 replicas on 3 nodes is one clear error") {
  const std::string stream = stream_name();
  NatsJetStreamSink ok(options_for(stream));
  REQUIRE_OK(ok.connect());
  std::int64_t replicas = 0, window = 0;
  int storage = -1;
  cluster().with_js([&](jsCtx* js) {
    jsStreamInfo* si = nullptr;
    REQUIRE(js_GetStreamInfo(&si, js, stream.c_str(), nullptr, nullptr) == NATS_OK);
    replicas = si->Config->Replicas;
    window = si->Config->Duplicates;
    storage = static_cast<int>(si->Config->Storage);
    jsStreamInfo_Destroy(si);
  });
  CHECK(replicas == 3);
  CHECK(storage == static_cast<int>(js_FileStorage));
  CHECK(window == 120'000'000'000);  // the server's default

  auto o = options_for(stream_name());
  o.replicas = 4;
  NatsJetStreamSink too_many(o);
  auto st = too_many.connect();
  REQUIRE_FALSE(st);
  CHECK_FALSE(st.error().retryable());
  CHECK_THAT(st.error().message,
             Catch::Contains("4 replicas") && Catch::Contains("no suitable peers") && Catch::Contains("nats_replicas"));

  auto w = options_for(stream_name());
  w.duplicate_window = 30s;
  NatsJetStreamSink windowed(w);
  REQUIRE_OK(windowed.connect());
  cluster().with_js([&](jsCtx* js) {
    jsStreamInfo* si = nullptr;
    REQUIRE(js_GetStreamInfo(&si, js, w.stream.c_str(), nullptr, nullptr) == NATS_OK);
    CHECK(si->Config->Duplicates == 30'000'000'000);
    jsStreamInfo_Destroy(si);
  });
}

TEST_CASE("NatsJetStreamSink refuses a missing stream and a change above max_payload with one line") {
  auto o = options_for(stream_name());
  o.create_stream = false;
  NatsJetStreamSink missing(o);
  auto st = missing.connect();
  REQUIRE_FALSE(st);
  CHECK_FALSE(st.error().retryable());
  CHECK_THAT(st.error().message, Catch::Contains("does not exist") && Catch::Contains("nats_create_stream"));

  auto big = options_for(stream_name());
  NatsJetStreamSink sink(big);
  REQUIRE_OK(sink.connect());
  CHECK(sink.max_payload() == 1024 * 1024);
  Fixture f;
  f.feed(0x100, wire::relation(16384, "public", "big", kCols));
  f.feed(0x110, wire::begin(0x200, 9, 0));
  f.feed(0x120, wire::insert(16384, {"1", std::string(1100 * 1024, 'x')}));
  f.feed(0x130, wire::commit(0x200, 0x210, 0));
  st = sink.write(f.batcher.batch());
  REQUIRE_FALSE(st);
  CHECK_FALSE(st.error().retryable());
  CHECK_THAT(st.error().message,
             Catch::Contains("public.big") && Catch::Contains("0/120") && Catch::Contains("max_payload"));
}

TEST_CASE("NatsJetStreamSink unreachable servers are retryable, refused credentials fatal") {
  NatsJetStreamOptions o;
  o.urls = {"nats://127.0.0.1:" + std::to_string(free_loopback_port())};
  o.stream = "X";
  NatsJetStreamSink down(o);
  auto st = down.connect();
  REQUIRE_FALSE(st);
  CHECK(st.error().retryable());

  NatsClusterOptions so;
  so.nodes = 1;
  so.extra_args = {"--user", "cdc", "--pass", "right-secret"};
  NatsCluster secured(so);
  secured.user = "cdc";
  secured.password = "right-secret";
  REQUIRE(secured.wait_ready(20s));
  o.urls = secured.urls();
  o.create_stream = true;
  o.user = "cdc";
  o.password = "wrong-secret";
  NatsJetStreamSink refused(o);
  st = refused.connect();
  REQUIRE_FALSE(st);
  CHECK_FALSE(st.error().retryable());
  CHECK_THAT(st.error().message, Catch::Contains("refused the credentials"));
  CHECK_THAT(st.error().message, !Catch::Contains("wrong-secret"));
  o.password = "right-secret";
  NatsJetStreamSink allowed(o);
  CHECK(allowed.connect());

  NatsClusterOptions to;
  to.nodes = 1;
  to.extra_args = {"--auth", "tok-right"};
  NatsCluster tokened(to);
  NatsJetStreamOptions t;
  t.urls = tokened.urls();
  t.stream = "TOK";
  t.create_stream = true;
  t.token = "tok-wrong";
  std::this_thread::sleep_for(500ms);  // (no client of our own to wait with: it would need the token)
  NatsJetStreamSink bad_token(t);
  st = bad_token.connect();
  REQUIRE_FALSE(st);
  CHECK_FALSE(st.error().retryable());
  CHECK_THAT(st.error().message, Catch::Contains("refused the credentials") && !Catch::Contains("tok-wrong"));
  t.token = "tok-right";
  NatsJetStreamSink good_token(t);
  bool connected = false;
  for (int i = 0; i < 50 && !connected; ++i) {  // JetStream may still be starting
    connected = static_cast<bool>(good_token.connect());
    if (!connected) std::this_thread::sleep_for(200ms);
  }
  CHECK(connected);
}

TEST_CASE("NatsJetStreamSink with two of three nodes down fails the flush; it succeeds when they return") {
  const std::string stream = stream_name();
  auto o = options_for(stream);
  o.ack_timeout = 1500ms;
  NatsJetStreamSink sink(o);
  REQUIRE_OK(sink.connect());
  Fixture f;
  f.feed(0x100, wire::relation(16384, "public", "q", kCols));
  f.feed(0x110, wire::begin(0x300, 11, 0));
  for (int i = 0; i < 50; ++i)
    f.feed(0x120 + static_cast<std::uint64_t>(i), wire::insert(16384, {std::to_string(i), "v"}));
  f.feed(0x200, wire::commit(0x300, 0x310, 0));

  // Keep node 0 (the test reads through it); stop the other two.
  NatsCluster& c = cluster();
  c.kill(1);
  c.kill(2);
  const auto t0 = std::chrono::steady_clock::now();
  auto st = sink.write(f.batcher.batch());
  if (st) st = sink.flush();
  REQUIRE_FALSE(st);
  CHECK(st.error().retryable());
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  c.start(1);
  c.start(2);
  bool flushed = false;
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (!flushed && std::chrono::steady_clock::now() < give_up) {
    st = sink.write(f.batcher.batch());
    if (st) st = sink.flush();
    flushed = static_cast<bool>(st);
    if (!flushed) std::this_thread::sleep_for(300ms);
  }
  INFO((st ? std::string() : st.error().message));
  REQUIRE(flushed);
  REQUIRE(c.wait_ready(30s));
  auto msgs = read_stream(c, stream, 50);
  REQUIRE(msgs.size() == 50);  // nothing lost, nothing twice, in order
  for (std::size_t i = 0; i < msgs.size(); ++i) CHECK(msgs[i].headers["Nats-Msg-Id"] == "0/300-" + std::to_string(i));
}

TEST_CASE("NatsJetStreamSink order guard, nothing after a refused publish is stored ahead of it") {
  // A stream whose max_msg_size refuses one message of the window (as a 503 during a leader
  // election would): with the guard the server refuses every later one of that flush too, so the
  // stream never holds a gap that a re-send would fill out of order; without it they are stored.
  auto run = [&](bool guard) {
    const std::string stream = stream_name();
    const std::string subjects = "t_" + stream + ".>";
    cluster().with_js([&](jsCtx* js) {
      jsStreamConfig cfg;
      jsStreamConfig_Init(&cfg);
      const char* subj[] = {subjects.c_str()};
      cfg.Name = stream.c_str();
      cfg.Subjects = subj;
      cfg.SubjectsLen = 1;
      cfg.Replicas = 3;
      cfg.MaxMsgSize = 400;
      jsStreamInfo* si = nullptr;
      REQUIRE(js_AddStream(&si, js, &cfg, nullptr, nullptr) == NATS_OK);
      jsStreamInfo_Destroy(si);
    });
    auto o = options_for(stream);
    o.create_stream = false;
    o.order_guard = guard;
    Fixture f;
    f.feed(0x100, wire::relation(16384, "public", "g", kCols));
    f.feed(0x110, wire::begin(0x500, 12, 0));
    for (int i = 0; i < 20; ++i)
      f.feed(0x120 + static_cast<std::uint64_t>(i),
             wire::insert(16384, {std::to_string(i), i == 5 ? std::string(500, 'x') : "v"}));
    f.feed(0x200, wire::commit(0x500, 0x510, 0));
    NatsJetStreamSink sink(o);
    auto st = sink.write(f.batcher.batch());
    if (st) st = sink.flush();
    REQUIRE_FALSE(st);
    CHECK_THAT(st.error().message, Catch::Contains("0/500-5") && Catch::Contains("public.g at LSN 0/125") &&
                                       Catch::Contains("max_msg_size"));
    std::this_thread::sleep_for(200ms);
    return std::make_pair(cluster().stream_messages(stream).value_or(999), sink.order_refusals());
  };
  const auto [with_guard, refused] = run(true);
  CHECK(with_guard == 5);  // 0..4; 6..19 refused: "wrong last msg ID"
  CHECK(refused == 14);
  const auto [without_guard, none] = run(false);
  CHECK(without_guard == 19);  // 6..19 stored past the gap
  CHECK(none == 0);
}

TEST_CASE("NatsJetStreamSink sends a truncate goes to each table's subject, a logical message to _message") {
  const std::string stream = stream_name();
  auto o = options_for(stream);
  Fixture f;
  f.feed(0x100, wire::relation(16384, "public", "t1", kCols));
  f.feed(0x101, wire::relation(16385, "public", "t2", kCols));
  f.feed(0x110, wire::begin(0x600, 21, 0));
  f.feed(0x120, wire::truncate({16384, 16385}, 0));
  f.feed(0x130, wire::message(true, 0x130, "audit.v1", "hello"));
  f.feed(0x140, wire::commit(0x600, 0x610, 0));
  NatsJetStreamSink sink(o);
  REQUIRE(sink.write(f.batcher.batch()));
  REQUIRE(sink.flush());
  auto msgs = read_stream(cluster(), stream, 3);
  REQUIRE(msgs.size() == 3);
  const std::string p = "t_" + stream;
  CHECK(msgs[0].subject == p + ".public.t1");
  CHECK(msgs[1].subject == p + ".public.t2");
  CHECK(msgs[0].data == msgs[1].data);
  CHECK(msgs[0].headers["Replicator-Op"] == "truncate");
  CHECK(msgs[2].subject == p + "._message.audit%2Ev1");
  CHECK(msgs[2].headers["Replicator-Op"] == "message");
  for (std::size_t i = 0; i < msgs.size(); ++i) CHECK(msgs[i].headers["Nats-Msg-Id"] == "0/600-" + std::to_string(i));
}

TEST_CASE("NatsJetStreamSink with a JWT credentials file publishes on an operator-mode server; others are refused") {
  char tmpl[] = "/tmp/replicator-nats-jwt-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  struct Remove {
    std::string d;
    ~Remove() { [[maybe_unused]] const int rc = std::system(("rm -rf '" + d + "'").c_str()); }
  } remove{dir};
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name) << text;
    return dir + "/" + name;
  };
  const auto op = NatsOperator::make();
  NatsClusterOptions so;
  so.nodes = 1;
  so.config = op.server_config();
  NatsCluster secured(so);
  secured.creds_file = write("cdc.creds", op.creds());
  REQUIRE(secured.wait_ready(20s));

  Fixture f;
  f.feed(0x100, wire::relation(16384, "public", "t", kCols));
  f.feed(0x110, wire::begin(0x200, 741, 0));
  f.feed(0x120, wire::insert(16384, {"1", "a"}));
  f.feed(0x130, wire::insert(16384, {"2", "b"}));
  f.feed(0x140, wire::commit(0x200, 0x230, 0));
  NatsJetStreamOptions o;
  o.urls = secured.urls();
  o.stream = "JWT";
  o.subject_prefix = "jwt";
  o.create_stream = true;
  o.creds_file = secured.creds_file;
  NatsJetStreamSink sink(o);
  auto st = sink.connect();
  INFO((st ? std::string() : st.error().message));
  REQUIRE(st);
  REQUIRE(sink.write(f.batcher.batch()));
  REQUIRE(sink.flush());
  CHECK(sink.acked() == 2);
  const auto msgs = read_stream(secured, "JWT", 2);
  REQUIRE(msgs.size() == 2);
  CHECK(msgs[0].subject == "jwt.public.t");
  CHECK(msgs[1].headers.at("Nats-Msg-Id") == "0/200-1");

  auto refused = [&](const NatsJetStreamOptions& opts) {
    NatsJetStreamSink bad(opts);
    auto r = bad.connect();
    REQUIRE_FALSE(r);
    CHECK_FALSE(r.error().retryable());
    CHECK_THAT(r.error().message, Catch::Contains("nats_creds_file"));
    return r.error().message;
  };
  SECTION("a user signed by an account the operator does not know") {
    const auto stranger = nkeys::KeyPair::make(nkeys::KeyType::account);
    auto bad = o;
    bad.creds_file = write("stranger.creds", jwt::creds_file(op.user_jwt_by(stranger), op.user.seed()));
    CHECK_THAT(refused(bad), Catch::Contains("refused the credentials") && !Catch::Contains(op.user.seed()));
  }
  SECTION("a JWT that expired") {
    auto bad = o;
    bad.creds_file = write("expired.creds", jwt::creds_file(op.user_jwt(std::time(nullptr) - 60), op.user.seed()));
    CHECK_THAT(refused(bad), !Catch::Contains(op.user.seed()));
  }
  SECTION("the right JWT with another user's seed") {
    const auto other = nkeys::KeyPair::make(nkeys::KeyType::user);
    auto bad = o;
    bad.creds_file = write("mismatch.creds", jwt::creds_file(op.user_jwt(), other.seed()));
    CHECK_THAT(refused(bad), !Catch::Contains(other.seed()));
  }
  SECTION("a file that is not a credentials file") {
    auto bad = o;
    bad.creds_file = write("garbage.creds", "not a creds file\n");
    refused(bad);
  }
  SECTION("no credentials at all") {
    auto bad = o;
    bad.creds_file.clear();
    NatsJetStreamSink none(bad);
    auto r = none.connect();
    REQUIRE_FALSE(r);
    CHECK_FALSE(r.error().retryable());
    CHECK_THAT(r.error().message, Catch::Contains("refused the credentials"));
  }
}

TEST_CASE("NatsJetStreamSink over TLS with a client certificate; a wrong CA is fatal") {
  char tmpl[] = "/tmp/replicator-nats-pki-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  struct Remove {
    std::string d;
    ~Remove() { [[maybe_unused]] const int rc = std::system(("rm -rf '" + d + "'").c_str()); }
  } remove{dir};
  Pki pki(dir);
  NatsClusterOptions so;
  so.nodes = 1;
  so.client_host = "localhost";  // the server certificate's name
  so.extra_args = {"--tls",          "--tlscert",   pki.server_cert(), "--tlskey",
                   pki.server_key(), "--tlsverify", "--tlscacert",     pki.ca()};
  NatsCluster tls(so);
  tls.tls_ca = pki.ca();
  tls.tls_cert = pki.client_cert();
  tls.tls_key = pki.client_key();
  REQUIRE(tls.wait_ready(20s));
  NatsJetStreamOptions o;
  o.urls = tls.urls();
  o.stream = "TLS";
  o.create_stream = true;
  o.tls_ca = pki.ca();
  o.tls_cert = pki.client_cert();
  o.tls_key = pki.client_key();
  NatsJetStreamSink ok(o);
  auto st = ok.connect();
  INFO((st ? std::string() : st.error().message));
  CHECK(st);

  o.tls_ca = pki.other_ca();
  NatsJetStreamSink wrong_ca(o);
  st = wrong_ca.connect();
  REQUIRE_FALSE(st);
  CHECK_FALSE(st.error().retryable());
  CHECK_THAT(st.error().message, Catch::Contains("TLS"));

  o.tls_ca = pki.ca();
  o.tls_cert.clear();
  o.tls_key.clear();
  NatsJetStreamSink no_cert(o);
  st = no_cert.connect();
  REQUIRE_FALSE(st);  // the server requires a client certificate
}
