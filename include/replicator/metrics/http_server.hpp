// A small embedded HTTP/1.1 server on its own thread (poll(), non-blocking sockets): bounded request
// heads, read and write deadlines per connection, one response per connection (Connection: close),
// so a slow or stuck client holds only its own socket. For /metrics, /healthz, /readyz.
//   auto server = metrics::HttpServer::start({.address = "127.0.0.1:9187"},
//       [](const HttpRequestView& r) { return HttpResponse{200, "text/plain", "ok\n"}; });
//   server.value()->port();  // the bound port (address "127.0.0.1:0" picks a free one)
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "replicator/core/error.hpp"
#include "replicator/metrics/http_request.hpp"

namespace replicator::metrics {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string allow{};  // 405: the methods the path takes
};

using HttpHandler = std::function<HttpResponse(const HttpRequestView&)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1:9187";          // host:port, [v6]:port; port 0 picks a free one
  std::size_t max_request_bytes = 8192;            // request head (431 past it)
  std::chrono::milliseconds read_timeout{5000};    // the whole head must arrive within this (408)
  std::chrono::milliseconds write_timeout{10000};  // the response must be taken within this (else closed)
  std::size_t max_connections = 64;                // beyond: answered 503 at once
};

constexpr std::string_view http_reason(int status) noexcept {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

// The bytes of a response (HEAD: without the body, Content-Length still that of GET).
inline std::string serialize_response(const HttpResponse& r, bool head_only = false) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(http_reason(r.status)) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  if (!r.allow.empty()) out += "Allow: " + r.allow + "\r\n";
  out += "Connection: close\r\n\r\n";
  if (!head_only) out += r.body;
  return out;
}

// Splits "host:port" / "[v6]:port". False when malformed.
inline bool split_host_port(std::string_view address, std::string& host, std::string& port) {
  std::size_t colon;
  if (!address.empty() && address.front() == '[') {
    const auto close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':') return false;
    host = std::string(address.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = address.rfind(':');
    if (colon == std::string_view::npos) return false;
    host = std::string(address.substr(0, colon));
  }
  port = std::string(address.substr(colon + 1));
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  return std::stoi(port) <= 65535;
}

class HttpServer {
 public:
  // Binds and listens now (so a taken port is an error here), then serves on its own thread.
  [[nodiscard]] static Result<std::unique_ptr<HttpServer>, ReplicationError> start(HttpServerOptions options,
                                                                                   HttpHandler handler) {
    std::string host, port;
    if (!split_host_port(options.address, host, port))
      return ReplicationError::fatal("metrics address \"" + options.address + "\" is not host:port");
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res); rc != 0)
      return ReplicationError::fatal("metrics address \"" + options.address + "\": " + ::gai_strerror(rc));
    std::string last_error = "no address";
    int fd = -1;
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) continue;
      const int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 64) == 0) break;
      last_error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
    ::freeaddrinfo(res);
    if (fd < 0)
      return ReplicationError::fatal("cannot listen on metrics address " + options.address + ": " + last_error);
    int wake[2];
    if (::pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0) {
      ::close(fd);
      return ReplicationError::fatal(std::string("cannot create a pipe: ") + std::strerror(errno));
    }
    std::unique_ptr<HttpServer> s(new HttpServer(std::move(options), std::move(handler), fd, wake[0], wake[1]));
    s->thread_ = std::thread([p = s.get()] { p->serve(); });
    return s;
  }

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  ~HttpServer() {
    stop_.store(true);
    const char c = 1;
    (void)!::write(wake_write_, &c, 1);
    if (thread_.joinable()) thread_.join();
    for (auto& c2 : clients_) ::close(c2.fd);
    ::close(listen_fd_);
    ::close(wake_read_);
    ::close(wake_write_);
  }

  [[nodiscard]] std::uint16_t port() const noexcept {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  // Requests answered (any status), for tests.
  [[nodiscard]] std::uint64_t responses() const noexcept { return responses_.load(); }

 private:
  using Clock = std::chrono::steady_clock;
  struct Client {
    int fd = -1;
    std::string in;
    std::string out;
    std::size_t sent = 0;
    bool writing = false;
    bool draining = false;  // response sent, write side shut: read and drop until EOF so close() sends no RST
    Clock::time_point deadline;
  };

  HttpServer(HttpServerOptions options, HttpHandler handler, int fd, int wake_read, int wake_write)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        listen_fd_(fd),
        wake_read_(wake_read),
        wake_write_(wake_write) {}

  void respond(Client& c, HttpResponse r, bool head_only = false) {
    c.out = serialize_response(r, head_only);
    c.sent = 0;
    c.writing = true;
    c.deadline = Clock::now() + options_.write_timeout;
    responses_.fetch_add(1);
  }

  void handle_request(Client& c, const HttpRequestView& req) {
    const bool head = req.method == "HEAD";
    HttpResponse r;
    try {
      r = handler_(req);
    } catch (const std::exception& e) {
      r = HttpResponse{500, "text/plain; charset=utf-8", std::string("internal error: ") + e.what() + "\n"};
    }
    respond(c, std::move(r), head);
  }

  // Reads what is there; answers once the head is whole or wrong. False: close the connection.
  bool on_readable(Client& c) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        const std::size_t room = options_.max_request_bytes + 1 - std::min(c.in.size(), options_.max_request_bytes + 1);
        c.in.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), room));
        if (c.in.size() > options_.max_request_bytes) break;
        continue;
      }
      if (n == 0) {  // the client closed before a whole head: nothing to answer
        const auto r = parse_http_request(c.in, options_.max_request_bytes);
        if (r.status == HttpParseStatus::complete) break;
        return false;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    const auto r = parse_http_request(c.in, options_.max_request_bytes);
    switch (r.status) {
      case HttpParseStatus::incomplete: return true;
      case HttpParseStatus::complete: handle_request(c, r.request); return true;
      case HttpParseStatus::malformed:
        respond(c, {400, "text/plain; charset=utf-8", std::string(r.reason) + "\n"});
        return true;
      case HttpParseStatus::too_large:
        respond(c, {431, "text/plain; charset=utf-8", std::string(r.reason) + "\n"});
        return true;
    }
    return false;
  }

  // After the response: reads and drops what the client still sends. False at EOF or on error.
  static bool drain(Client& c) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
  }

  // Sends what the socket takes; once all is sent, shuts the write side and starts draining.
  // False: failed, close now.
  bool on_writable(Client& c) {
    while (c.sent < c.out.size()) {
      const ssize_t n = ::send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n > 0) {
        c.sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      return false;
    }
    ::shutdown(c.fd, SHUT_WR);
    c.writing = false;
    c.draining = true;
    c.deadline = std::min(c.deadline, Clock::now() + std::chrono::milliseconds(1000));
    return drain(c);
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or a connection that went away meanwhile
      Client c;
      c.fd = fd;
      c.deadline = Clock::now() + options_.read_timeout;
      if (clients_.size() >= options_.max_connections) {
        respond(c, {503, "text/plain; charset=utf-8", "too many connections\n"});
        (void)on_writable(c);  // a best effort; never wait for this one
        ::close(fd);
        continue;
      }
      clients_.push_back(std::move(c));
    }
  }

  void serve() {
    std::vector<pollfd> fds;
    while (!stop_.load()) {
      fds.clear();
      fds.push_back({wake_read_, POLLIN, 0});
      fds.push_back({listen_fd_, POLLIN, 0});
      const auto now = Clock::now();
      auto next = now + std::chrono::seconds(1);
      for (const auto& c : clients_) {
        fds.push_back({c.fd, static_cast<short>(c.writing ? POLLOUT : POLLIN), 0});  // draining: POLLIN
        next = std::min(next, c.deadline);
      }
      const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
      const int n = ::poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(wait, 0) + 1));
      if (n < 0 && errno != EINTR) break;
      if (stop_.load()) break;
      std::vector<Client> keep;
      keep.reserve(clients_.size());
      const auto after = Clock::now();
      for (std::size_t i = 0; i < clients_.size(); ++i) {
        Client& c = clients_[i];
        const short ev = n > 0 ? fds[i + 2].revents : 0;
        bool open = true;
        if (ev != 0) {
          if (c.draining) open = drain(c);
          else if (c.writing) open = on_writable(c);
          else open = on_readable(c) && (!c.writing || on_writable(c));
          if ((ev & POLLNVAL) != 0) open = false;
        }
        if (open && after >= c.deadline) {
          if (!c.writing && !c.draining) {  // a head that never completed: 408, sent if the socket takes it now
            respond(c, {408, "text/plain; charset=utf-8", "request timeout\n"});
            (void)on_writable(c);
          }
          open = false;
        }
        if (open) keep.push_back(std::move(c));
        else ::close(c.fd);
      }
      clients_ = std::move(keep);
      if (n > 0 && (fds[1].revents & POLLIN) != 0) accept_all();
    }
  }

  HttpServerOptions options_;
  HttpHandler handler_;
  int listen_fd_;
  int wake_read_;
  int wake_write_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> responses_{0};
  std::vector<Client> clients_;
  std::thread thread_;
};

}  // namespace replicator::metrics
