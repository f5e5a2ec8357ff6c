// A TCP relay between a client and the real test server, for fault injection: freeze() stops
// forwarding (the connection goes silent, like a dead network), cut() resets every connection.
//   replicator::test::TcpRelay relay("127.0.0.1", 5432);
//   cfg.port = relay.port();   // connect through it
//   relay.freeze(true);        // nothing moves any more in either direction
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace replicator::test {

class TcpRelay {
 public:
  TcpRelay(std::string target_host, std::uint16_t target_port)
      : target_host_(std::move(target_host)), target_port_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd_ < 0) throw std::runtime_error("relay: socket() failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(listen_fd_);
      throw std::runtime_error("relay: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;
  ~TcpRelay() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
    for (auto& [a, b] : pairs_) {
      ::close(a);
      ::close(b);
    }
  }

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  // While frozen nothing is read or forwarded; new connections are still accepted.
  void freeze(bool on) noexcept { frozen_ = on; }
  // Closes every relayed connection (both sides see a reset / EOF).
  void cut() noexcept { cut_ = true; }

 private:
  void run() {
    std::vector<char> buf(64 * 1024);
    while (!stop_) {
      if (cut_.exchange(false)) {
        for (auto& [a, b] : pairs_) {
          ::close(a);
          ::close(b);
        }
        pairs_.clear();
      }
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      const bool forwarding = !frozen_;
      if (forwarding) {
        for (auto& [a, b] : pairs_) {
          fds.push_back({a, POLLIN, 0});
          fds.push_back({b, POLLIN, 0});
        }
      }
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if ((fds[0].revents & POLLIN) != 0) accept_one();
      if (!forwarding) continue;
      std::vector<std::size_t> dead;
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        const std::size_t pair = (i - 1) / 2;
        const int from = fds[i].fd;
        const int to = (i % 2 == 1) ? pairs_[pair].second : pairs_[pair].first;
        const ssize_t n = ::recv(from, buf.data(), buf.size(), 0);
        bool ok = n > 0;
        for (ssize_t sent = 0; ok && sent < n;) {
          const ssize_t w = ::send(to, buf.data() + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
          ok = w > 0;
          sent += ok ? w : 0;
        }
        if (!ok) dead.push_back(pair);
      }
      for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
        if (*it >= pairs_.size()) continue;
        ::close(pairs_[*it].first);
        ::close(pairs_[*it].second);
        pairs_.erase(pairs_.begin() + static_cast<std::ptrdiff_t>(*it));
      }
    }
  }

  void accept_one() {
    const int client = ::accept(listen_fd_, nullptr, nullptr);
    if (client < 0) return;
    const int server = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(target_port_);
    if (server < 0 || ::inet_pton(AF_INET, target_host_.c_str(), &addr.sin_addr) != 1 ||
        ::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(client);
      if (server >= 0) ::close(server);
      return;
    }
    pairs_.emplace_back(client, server);
  }

  std::string target_host_;
  std::uint16_t target_port_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> frozen_{false};
  std::atomic<bool> cut_{false};
  std::vector<std::pair<int, int>> pairs_;  // (client side, server side); owned by the relay thread
  std::thread thread_;
};

}  // namespace replicator::test
