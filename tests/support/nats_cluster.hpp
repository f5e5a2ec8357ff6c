// NatsCluster: a JetStream cluster of one test's own: `nodes` nats-server processes on loopback
// (names n1..nN, `--cluster` routes to each other, `-js`, their own store dirs under a temp dir,
// free ports), stopped and removed at scope end, even on failure. Nodes can be SIGKILLed and
// restarted (same ports and store). read_stream() reads a whole stream with a libnats pull consumer.
//   replicator::test::NatsCluster nats(3);
//   nats.wait_ready();                    // JetStream meta leader elected
//   nats.kill(nats.stream_leader("CDC")); nats.start(i);
//   auto msgs = replicator::test::read_stream(nats.urls(), "CDC");
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/ports.hpp"

namespace replicator::test {

struct NatsClusterOptions {
  int nodes = 3;
  std::vector<std::string> extra_args;    // e.g. {"--user", "u", "--pass", "p"}
  std::string config;                     // a config file's text (-c), e.g. "max_payload: 1MB"
  std::string client_host = "127.0.0.1";  // in url(): "localhost" for a TLS certificate of that name
};

class NatsCluster {
 public:
  explicit NatsCluster(int nodes = 3) : NatsCluster(with_nodes(nodes)) {}
  explicit NatsCluster(NatsClusterOptions options) : options_(std::move(options)) {
    if (::access("/usr/sbin/nats-server", X_OK) != 0 && std::system("command -v nats-server >/dev/null") != 0)
      throw std::runtime_error("NatsCluster: no nats-server (apt-get install nats-server)");
    char tmpl[] = "/tmp/replicator-nats-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    for (int i = 0; i < options_.nodes; ++i) {
      ports_.push_back(free_loopback_port());
      cluster_ports_.push_back(free_loopback_port());
    }
    pids_.assign(static_cast<std::size_t>(options_.nodes), -1);
    if (!options_.config.empty()) {
      const std::string path = dir_ + "/nats.conf";
      FILE* f = std::fopen(path.c_str(), "w");
      if (f == nullptr) throw std::runtime_error("cannot write " + path);
      std::fputs(options_.config.c_str(), f);
      std::fclose(f);
    }
    for (int i = 0; i < options_.nodes; ++i) start(i);
  }
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;
  ~NatsCluster() {
    for (int i = 0; i < options_.nodes; ++i) kill(i);
    if (dir_.rfind("/tmp/replicator-nats-", 0) == 0) {
      const std::string cmd = "rm -rf '" + dir_ + "'";
      [[maybe_unused]] const int rc = std::system(cmd.c_str());
    }
  }

  [[nodiscard]] int nodes() const noexcept { return options_.nodes; }
  [[nodiscard]] std::string url(int i) const {
    return "nats://" + options_.client_host + ":" + std::to_string(ports_[static_cast<std::size_t>(i)]);
  }
  [[nodiscard]] std::vector<std::string> urls() const {
    std::vector<std::string> out;
    for (int i = 0; i < options_.nodes; ++i) out.push_back(url(i));
    return out;
  }
  [[nodiscard]] std::string name(int i) const { return "n" + std::to_string(i + 1); }
  [[nodiscard]] const std::string& dir() const noexcept { return dir_; }
  [[nodiscard]] bool running(int i) const { return pids_[static_cast<std::size_t>(i)] > 0; }

  void start(int i) {
    auto& pid = pids_[static_cast<std::size_t>(i)];
    if (pid > 0) return;
    std::string routes;
    for (int j = 0; j < options_.nodes; ++j)
      routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") +
                std::to_string(cluster_ports_[static_cast<std::size_t>(j)]);
    std::vector<std::string> argv{
        "nats-server", "-a",    "127.0.0.1", "-p",  std::to_string(ports_[static_cast<std::size_t>(i)]),
        "-n",          name(i), "-js",       "-sd", dir_ + "/store-" + name(i)};
    if (options_.nodes > 1) {
      for (const std::string& a :
           {std::string("--cluster_name"), std::string("replicator-test"), std::string("--cluster"),
            "nats://127.0.0.1:" + std::to_string(cluster_ports_[static_cast<std::size_t>(i)]), std::string("--routes"),
            routes})
        argv.push_back(a);
    }
    if (!options_.config.empty()) {
      argv.push_back("-c");
      argv.push_back(dir_ + "/nats.conf");
    }
    for (const auto& a : options_.extra_args) argv.push_back(a);
    const std::string log = dir_ + "/" + name(i) + ".log";
    pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp("nats-server", args.data());
      ::_exit(127);
    }
  }

  // SIGKILL (a crash): the node's store stays for a restart with start(i).
  void kill(int i) {
    auto& pid = pids_[static_cast<std::size_t>(i)];
    if (pid <= 0) return;
    ::kill(pid, SIGKILL);
    int st = 0;
    ::waitpid(pid, &st, 0);
    pid = -1;
  }

  // Waits until a client on `node` (any running one when -1) sees JetStream answer (meta leader
  // elected); false after `timeout`.
  // Ready: a stream with a replica on every node can be created. A meta leader answers account
  // info as soon as two of three nodes elected it, while a stream on all three is refused until
  // the third has joined (seen on a loaded machine: the tests' first streams failed to create).
  bool wait_ready(std::chrono::milliseconds timeout = std::chrono::seconds(20)) const {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (jetstream_answers() && placement_answers()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // The node index leading `stream`'s RAFT group, or -1 (no leader now, or not reachable).
  [[nodiscard]] int stream_leader(const std::string& stream) const {
    int out = -1;
    with_js([&](jsCtx* js) {
      jsStreamInfo* si = nullptr;
      if (js_GetStreamInfo(&si, js, stream.c_str(), nullptr, nullptr) != NATS_OK) return;
      if (si->Cluster != nullptr && si->Cluster->Leader != nullptr) {
        for (int i = 0; i < options_.nodes; ++i)
          if (name(i) == si->Cluster->Leader) out = i;
      }
      jsStreamInfo_Destroy(si);
    });
    return out;
  }

  // Messages in `stream` (nullopt when it cannot be asked now).
  [[nodiscard]] std::optional<std::uint64_t> stream_messages(const std::string& stream) const {
    std::optional<std::uint64_t> out;
    with_js([&](jsCtx* js) {
      jsStreamInfo* si = nullptr;
      if (js_GetStreamInfo(&si, js, stream.c_str(), nullptr, nullptr) != NATS_OK) return;
      out = si->State.Msgs;
      jsStreamInfo_Destroy(si);
    });
    return out;
  }

  // Runs f(jsCtx*) on a fresh connection to the running nodes; false when none answers.
  template <class F>
  bool with_js(F&& f) const {
    nats_Open(-1);
    std::vector<std::string> live;
    for (int i = 0; i < options_.nodes; ++i)
      if (running(i)) live.push_back(url(i));
    if (live.empty()) return false;
    std::vector<const char*> servers;
    for (const auto& u : live) servers.push_back(u.c_str());
    natsOptions* opts = nullptr;
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    bool ok = natsOptions_Create(&opts) == NATS_OK &&
              natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size())) == NATS_OK &&
              natsOptions_SetTimeout(opts, 3000) == NATS_OK && apply_auth(opts) &&
              natsConnection_Connect(&nc, opts) == NATS_OK;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 2000;
    ok = ok && natsConnection_JetStream(&js, nc, &jo) == NATS_OK;
    if (ok) f(js);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    return ok;
  }

  // Credentials and TLS the test's own clients use (the cluster may require them); creds_file:
  // a .creds file (JWT + nkey seed) for a cluster in operator mode (tests/support/nats_jwt.hpp).
  std::string user, password;
  std::string creds_file;
  std::string tls_ca, tls_cert, tls_key;

 private:
  static NatsClusterOptions with_nodes(int n) {
    NatsClusterOptions o;
    o.nodes = n;
    return o;
  }
  bool apply_auth(natsOptions* opts) const {
    if (!user.empty() && natsOptions_SetUserInfo(opts, user.c_str(), password.c_str()) != NATS_OK) return false;
    if (!creds_file.empty() && natsOptions_SetUserCredentialsFromFiles(opts, creds_file.c_str(), nullptr) != NATS_OK)
      return false;
    if (tls_ca.empty()) return true;
    return natsOptions_SetSecure(opts, true) == NATS_OK &&
           natsOptions_LoadCATrustedCertificates(opts, tls_ca.c_str()) == NATS_OK &&
           (tls_cert.empty() || natsOptions_LoadCertificatesChain(opts, tls_cert.c_str(), tls_key.c_str()) == NATS_OK);
  }
  bool placement_answers() const {
    bool ok = false;
    with_js([&](jsCtx* js) {
      const char* subjects[] = {"replicator_test.ready_probe"};
      jsStreamConfig cfg;
      jsStreamConfig_Init(&cfg);
      cfg.Name = "REPLICATOR_TEST_READY_PROBE";
      cfg.Subjects = subjects;
      cfg.SubjectsLen = 1;
      cfg.Storage = js_MemoryStorage;
      cfg.Replicas = options_.nodes;
      jsStreamInfo* si = nullptr;
      if (js_AddStream(&si, js, &cfg, nullptr, nullptr) == NATS_OK) {
        jsStreamInfo_Destroy(si);
        ok = js_DeleteStream(js, cfg.Name, nullptr, nullptr) == NATS_OK;
      }
    });
    return ok;
  }
  bool jetstream_answers() const {
    bool ok = false;
    with_js([&](jsCtx* js) {
      jsAccountInfo* ai = nullptr;
      if (js_GetAccountInfo(&ai, js, nullptr, nullptr) == NATS_OK) {
        ok = true;
        jsAccountInfo_Destroy(ai);
      }
    });
    return ok;
  }

  NatsClusterOptions options_;
  std::string dir_;
  std::vector<std::uint16_t> ports_, cluster_ports_;
  std::vector<pid_t> pids_;
};

// One stored message as a consumer sees it.
struct StreamMessage {
  std::uint64_t seq = 0;
  std::string subject;
  std::string data;
  std::map<std::string, std::string> headers;
};

// Every message of `stream` in stream order, read by a pull consumer (AckNone) until `expected`
// messages arrived (0: the stream's count, asked until the cluster answers) or `patience` passed
// without a new one. Right after node restarts the consumer's creation and its first fetches can
// fail for seconds while its replicas elect a leader: those are retried, not taken as the end.
inline std::vector<StreamMessage> read_stream(const NatsCluster& cluster, const std::string& stream,
                                              std::uint64_t expected = 0,
                                              std::chrono::seconds patience = std::chrono::seconds(20)) {
  std::vector<StreamMessage> out;
  const auto asked_since = std::chrono::steady_clock::now();
  while (expected == 0 && std::chrono::steady_clock::now() - asked_since < patience) {
    expected = cluster.stream_messages(stream).value_or(0);
    if (expected == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (expected == 0) return out;
  // The connect itself may fail under load (a JWT handshake under ASan): try it again too.
  const auto connecting_since = std::chrono::steady_clock::now();
  auto read = [&](jsCtx* js) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream.c_str();
    so.Config.AckPolicy = js_AckNone;
    so.Config.DeliverPolicy = js_DeliverAll;
    natsSubscription* sub = nullptr;
    static int consumer_counter = 0;
    const std::string durable = "reader" + std::to_string(::getpid()) + "_" + std::to_string(++consumer_counter);
    auto idle_since = std::chrono::steady_clock::now();
    while (js_PullSubscribe(&sub, js, ">", durable.c_str(), nullptr, &so, nullptr) != NATS_OK) {
      if (std::chrono::steady_clock::now() - idle_since >= patience) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    while (out.size() < expected && std::chrono::steady_clock::now() - idle_since < patience) {
      natsMsgList list{};
      if (natsSubscription_Fetch(&list, sub, 512, 500, nullptr) != NATS_OK) continue;
      for (int i = 0; i < list.Count; ++i) {
        natsMsg* m = list.Msgs[i];
        StreamMessage sm;
        sm.subject = natsMsg_GetSubject(m);
        sm.data.assign(natsMsg_GetData(m), static_cast<std::size_t>(natsMsg_GetDataLength(m)));
        const char** keys = nullptr;
        int n = 0;
        if (natsMsgHeader_Keys(m, &keys, &n) == NATS_OK) {
          for (int k = 0; k < n; ++k) {
            const char* v = nullptr;
            if (natsMsgHeader_Get(m, keys[k], &v) == NATS_OK && v != nullptr) sm.headers[keys[k]] = v;
          }
          std::free(const_cast<char**>(keys));
        }
        jsMsgMetaData* meta = nullptr;
        if (natsMsg_GetMetaData(&meta, m) == NATS_OK) {
          sm.seq = meta->Sequence.Stream;
          jsMsgMetaData_Destroy(meta);
        }
        out.push_back(std::move(sm));
      }
      if (list.Count > 0) idle_since = std::chrono::steady_clock::now();
      natsMsgList_Destroy(&list);
    }
    natsSubscription_Unsubscribe(sub);  // deletes the durable
    natsSubscription_Destroy(sub);
  };
  while (!cluster.with_js(read) && std::chrono::steady_clock::now() - connecting_since < patience)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  return out;
}

}  // namespace replicator::test
