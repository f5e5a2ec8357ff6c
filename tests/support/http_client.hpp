// A blocking HTTP/1.x test client for the metrics endpoint and Prometheus's API: one request per
// connection, reads to EOF with a deadline. Also raw sockets for slow or malformed clients.
//   auto r = replicator::test::http_get("127.0.0.1", 9187, "/metrics");  // r.status, r.body
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace replicator::test {

struct HttpReply {
  int status = 0;  // 0: no (parsable) response
  std::string head;
  std::string body;
};

// A connected TCP socket to host:port (IPv4 literal), closed on destruction.
class TcpClient {
 public:
  TcpClient(const std::string& host, std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (fd_ < 0 || ::inet_pton(AF_INET, host.c_str(), &a.sin_addr) != 1 ||
        ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
      throw std::runtime_error("cannot connect to " + host + ":" + std::to_string(port));
    }
  }
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;
  ~TcpClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int fd() const noexcept { return fd_; }

  // False when the peer is gone.
  bool send_all(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Everything until EOF (or the deadline, or an error).
  std::string read_all(std::chrono::milliseconds timeout) {
    std::string out;
    const auto end = std::chrono::steady_clock::now() + timeout;
    char buf[8192];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }

 private:
  int fd_ = -1;
};

inline HttpReply parse_reply(const std::string& raw) {
  HttpReply r;
  const auto end = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.", 0) != 0 || end == std::string::npos || raw.size() < 12) return r;
  r.status = std::stoi(raw.substr(9, 3));
  r.head = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  return r;
}

// Sends `request` as is and parses the reply.
inline HttpReply http_raw(const std::string& host, std::uint16_t port, std::string_view request,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  TcpClient c(host, port);
  c.send_all(request);
  return parse_reply(c.read_all(timeout));
}

inline HttpReply http_get(const std::string& host, std::uint16_t port, const std::string& target,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  // HTTP/1.0: the reply is never chunked (Go servers chunk larger HTTP/1.1 replies).
  return http_raw(host, port, "GET " + target + " HTTP/1.0\r\nHost: " + host + "\r\n\r\n", timeout);
}

// %-encodes a query parameter value.
inline std::string url_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace replicator::test
