// A TCP relay between a client and the real test server, for fault injection: freeze() stops
// forwarding (a dead network), cut() resets every connection, cut_after() closes one at a chosen byte.
//   replicator::test::TcpRelay relay("127.0.0.1", 5432);
//   cfg.port = relay.port();                                       // connect through it
//   relay.cut_after(TcpRelay::Direction::server_to_client, 120);   // close once 120 more bytes reached the client
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace replicator::test {

class TcpRelay {
 public:
  enum class Direction : std::uint8_t { client_to_server, server_to_client };

  // One forwarded piece of a connection, as recorded while record(true) is on.
  struct Chunk {
    std::size_t connection;  // accept order: 0 for the relay's first connection
    Direction direction;
    std::string bytes;
  };

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
    for (const auto& link : links_) close_link(link);
  }

  [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
  // While frozen nothing is read or forwarded; new connections are still accepted.
  void freeze(bool on) noexcept { frozen_ = on; }
  // Closes every relayed connection (both sides see a reset / EOF).
  void cut() noexcept { cut_ = true; }

  // Once `bytes` more bytes have been forwarded in `direction` (over all connections, counted from
  // this call), closes both sides of the connection that carried the last of them, once. The
  // chunk that crosses the point is forwarded only up to it; 0 closes the connection whose next
  // byte would go that way, forwarding none of it.
  void cut_after(Direction direction, std::size_t bytes) {
    const std::lock_guard lock(mutex_);
    cut_armed_ = true;
    cut_fired_ = false;
    cut_direction_ = direction;
    cut_left_ = bytes;
  }
  // Takes back a cut_after() that has not fired yet.
  void disarm() {
    const std::lock_guard lock(mutex_);
    cut_armed_ = false;
  }
  [[nodiscard]] bool cut_fired() const {
    const std::lock_guard lock(mutex_);
    return cut_fired_;
  }

  // Waits until every relayed connection is closed (so no byte of an earlier connection, such as
  // a Terminate, can still pass after the next cut_after()); false after `limit`.
  [[nodiscard]] bool wait_idle(std::chrono::milliseconds limit) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (open_links_.load() != 0) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  // Bytes forwarded in `direction` since construction or reset_counts().
  [[nodiscard]] std::size_t bytes_relayed(Direction direction) const {
    const std::lock_guard lock(mutex_);
    return relayed_[index(direction)];
  }
  // Zeroes the counts and drops the recording.
  void reset_counts() {
    const std::lock_guard lock(mutex_);
    relayed_[0] = relayed_[1] = 0;
    recording_.clear();
  }
  // While on, every forwarded chunk is kept in order (for transcript()), so a test can find where
  // each protocol message of a clean exchange starts.
  void record(bool on) {
    const std::lock_guard lock(mutex_);
    record_ = on;
  }
  [[nodiscard]] std::vector<Chunk> transcript() const {
    const std::lock_guard lock(mutex_);
    return recording_;
  }

 private:
  struct Link {
    int client;
    int server;
    std::size_t id;
  };

  static constexpr std::size_t index(Direction d) noexcept { return d == Direction::client_to_server ? 0 : 1; }
  static void close_link(const Link& link) noexcept {
    ::close(link.client);
    ::close(link.server);
  }

  void run() {
    std::vector<char> buf(64 * 1024);
    while (!stop_) {
      if (cut_.exchange(false)) {
        for (const auto& link : links_) close_link(link);
        links_.clear();
        open_links_ = 0;
      }
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      const bool forwarding = !frozen_;
      if (forwarding) {
        for (const auto& link : links_) {
          fds.push_back({link.client, POLLIN, 0});
          fds.push_back({link.server, POLLIN, 0});
        }
      }
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if ((fds[0].revents & POLLIN) != 0) accept_one();
      if (!forwarding) continue;
      std::vector<std::size_t> dead;
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        const std::size_t pair = (i - 1) / 2;
        if (std::find(dead.begin(), dead.end(), pair) != dead.end()) continue;
        const Link& link = links_[pair];
        const Direction dir = (i % 2 == 1) ? Direction::client_to_server : Direction::server_to_client;
        const int from = fds[i].fd;
        const int to = dir == Direction::client_to_server ? link.server : link.client;
        const ssize_t n = ::recv(from, buf.data(), buf.size(), 0);
        bool ok = n > 0;
        std::size_t allowed = ok ? static_cast<std::size_t>(n) : 0;
        bool cut_here = false;
        if (ok) {
          const std::lock_guard lock(mutex_);
          if (cut_armed_ && cut_direction_ == dir) {
            allowed = std::min(allowed, cut_left_);
            cut_left_ -= allowed;
            cut_here = cut_left_ == 0;
          }
          relayed_[index(dir)] += allowed;
          if (record_ && allowed > 0) recording_.push_back({link.id, dir, std::string(buf.data(), allowed)});
        }
        for (std::size_t sent = 0; ok && sent < allowed;) {
          const ssize_t w = ::send(to, buf.data() + sent, allowed - sent, MSG_NOSIGNAL);
          ok = w > 0;
          sent += ok ? static_cast<std::size_t>(w) : 0;
        }
        if (cut_here) {
          const std::lock_guard lock(mutex_);
          cut_armed_ = false;
          cut_fired_ = true;
        }
        if (!ok || cut_here) dead.push_back(pair);
      }
      std::sort(dead.begin(), dead.end());
      for (auto it = dead.rbegin(); it != dead.rend(); ++it) {
        close_link(links_[*it]);
        links_.erase(links_.begin() + static_cast<std::ptrdiff_t>(*it));
      }
      open_links_ = links_.size();
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
    links_.push_back({client, server, next_id_++});
    open_links_ = links_.size();
  }

  std::string target_host_;
  std::uint16_t target_port_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> frozen_{false};
  std::atomic<bool> cut_{false};
  std::vector<Link> links_;  // owned by the relay thread
  std::size_t next_id_ = 0;  // relay thread only
  std::atomic<std::size_t> open_links_{0};
  // Shared with the test thread: the armed cut, the counts and the recording.
  mutable std::mutex mutex_;
  bool cut_armed_ = false;
  bool cut_fired_ = false;
  Direction cut_direction_ = Direction::client_to_server;
  std::size_t cut_left_ = 0;
  std::size_t relayed_[2] = {0, 0};
  bool record_ = false;
  std::vector<Chunk> recording_;
  std::thread thread_;
};

}  // namespace replicator::test
