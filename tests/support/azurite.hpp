// Azurite (npm `azurite`, installed by scripts/install_azurite.sh) for one test: azurite-blob on a
// free 127.0.0.1 port with a workspace in a temp dir, stopped and removed at scope end. stop() and
// start() again keep the port and the data, to cut the store off and bring it back. Azurite::Tls::on
// serves https with a self-signed certificate for 127.0.0.1 (made with the openssl command; ca_file()).
//   test::Azurite az;  az.endpoint() == "http://127.0.0.1:PORT/devstoreaccount1";  az.stop();  az.start();
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/ports.hpp"

namespace replicator::test {

class Azurite {
 public:
  // Azurite's well-known development account (public, documented by Microsoft).
  static constexpr const char* kAccount = "devstoreaccount1";
  static constexpr const char* kKey =
      "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

  enum class Tls { off, on };

  explicit Azurite(Tls tls = Tls::off) : bin_(find_binary()), tls_(tls == Tls::on) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string pattern = std::string(tmp ? tmp : "/tmp") + "/azurite.XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("azurite: mkdtemp failed");
    dir_ = buf.data();
    port_ = free_loopback_port();
    if (tls_) {
      const std::string cmd =
          "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
          "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
          dir_ + "/key.pem' -out '" + dir_ + "/cert.pem' >/dev/null 2>&1";
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("azurite: openssl req failed");
    }
    start();
  }
  Azurite(const Azurite&) = delete;
  Azurite& operator=(const Azurite&) = delete;
  ~Azurite() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] std::string endpoint() const {
    return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + "/" + kAccount;
  }
  // The certificate to trust (Tls::on): self-signed, so it is its own CA.
  [[nodiscard]] std::string ca_file() const { return dir_ + "/cert.pem"; }
  [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

  // Starts azurite-blob (again) and waits until it accepts connections.
  void start() {
    if (pid_ > 0) return;
    const std::string port = std::to_string(port_);
    const std::string log = dir_ + "/azurite.log";
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("azurite: fork failed");
    if (pid_ == 0) {
      ::setpgid(0, 0);  // its own group: stop() ends node and anything it spawned
      if (std::freopen(log.c_str(), "a", stdout) == nullptr || std::freopen(log.c_str(), "a", stderr) == nullptr)
        ::_exit(127);
      std::vector<std::string> argv = {bin_,
                                       "--blobHost",
                                       "127.0.0.1",
                                       "--blobPort",
                                       port,
                                       "--location",
                                       dir_,
                                       "--skipApiVersionCheck",
                                       "--loose",
                                       "--silent",
                                       "--disableTelemetry",
                                       "--disableProductStyleUrl"};
      if (tls_) argv.insert(argv.end(), {"--cert", dir_ + "/cert.pem", "--key", dir_ + "/key.pem"});
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(bin_.c_str(), args.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!accepts()) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("azurite-blob exited at start; see " + log);
      }
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("azurite-blob did not start in 30 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // Stops it (SIGTERM, then SIGKILL after 5 s) and waits until the port is closed.
  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int st = 0;
    while (::waitpid(pid_, &st, WNOHANG) != pid_) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(-pid_, SIGKILL);  // anything left in its group
    pid_ = -1;
  }

 private:
  // $REPLICATOR_AZURITE_BIN, else what scripts/install_azurite.sh installed under /opt/replicator-azurite.
  static std::string find_binary() {
    if (const char* b = std::getenv("REPLICATOR_AZURITE_BIN"); b != nullptr && *b != '\0') return b;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/opt/replicator-azurite", ec)) {
      const auto bin = entry.path() / "node_modules/.bin/azurite-blob";
      if (std::filesystem::exists(bin, ec)) return bin.string();
    }
    throw std::runtime_error("azurite-blob not found: run scripts/install_azurite.sh (or set REPLICATOR_AZURITE_BIN)");
  }
  bool accepts() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }

  std::string bin_;
  bool tls_ = false;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace replicator::test
