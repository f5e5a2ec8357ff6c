// An HTTP/1.x request head parser (request line and headers, RFC 9112) for the metrics endpoint:
// views into the caller's buffer, "need more bytes" / malformed / too large kept apart, no allocation.
//   auto r = metrics::parse_http_request(buffer, 8192);
//   if (r.status == HttpParseStatus::complete && r.request.method == "GET") serve(r.request.path());
#pragma once

#include <cstddef>
#include <string_view>

namespace replicator::metrics {

enum class HttpParseStatus : unsigned char {
  complete,    // the head is whole: request and head_bytes are set
  incomplete,  // valid so far; read more
  malformed,   // 400: reason says what
  too_large,   // 431: the head does not end within max_bytes
};

// Views into the parsed buffer: valid while it is.
struct HttpRequestView {
  std::string_view method;
  std::string_view target;   // origin-form "/path?query" (or "*", or absolute-form)
  std::string_view version;  // "HTTP/1.0" or "HTTP/1.1"
  std::size_t headers = 0;
  std::size_t head_bytes = 0;  // through the blank line; a body (if any) follows
  bool has_body = false;       // Content-Length > 0 or Transfer-Encoding: the server does not read it

  // The target without its query; the path of an absolute-form target.
  [[nodiscard]] std::string_view path() const noexcept {
    std::string_view t = target;
    if (const auto scheme = t.find("://"); scheme != std::string_view::npos && t.front() != '/') {
      const auto slash = t.find('/', scheme + 3);
      t = slash == std::string_view::npos ? std::string_view("/") : t.substr(slash);
    }
    return t.substr(0, t.find_first_of("?#"));
  }
};

struct HttpParseResult {
  HttpParseStatus status = HttpParseStatus::incomplete;
  HttpRequestView request{};
  std::string_view reason{};  // for malformed / too_large
};

inline constexpr std::size_t kMaxHttpHeaders = 64;

namespace detail {

// tchar of RFC 9110 (token characters).
constexpr bool is_tchar(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~': return true;
    default: return false;
  }
}
constexpr bool is_vchar(char c) noexcept { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; }
constexpr bool is_field_char(char c) noexcept { return is_vchar(c) || c == ' ' || c == '\t'; }

constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

constexpr HttpParseResult http_malformed(std::string_view why) noexcept {
  return {HttpParseStatus::malformed, {}, why};
}

// "GET /metrics HTTP/1.1" (without its CRLF).
constexpr HttpParseResult parse_request_line(std::string_view line, HttpRequestView& out) noexcept {
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return http_malformed("malformed request line");
  out.method = line.substr(0, sp1);
  for (char c : out.method)
    if (!is_tchar(c)) return http_malformed("invalid method");
  const auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return http_malformed("malformed request line");
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  for (char c : out.target)
    if (!is_vchar(c)) return http_malformed("invalid request target");
  if (out.target.front() != '/' && out.target != "*" && out.target.find("://") == std::string_view::npos)
    return http_malformed("invalid request target");
  out.version = line.substr(sp2 + 1);
  if (out.version != "HTTP/1.1" && out.version != "HTTP/1.0") return http_malformed("unsupported HTTP version");
  return {HttpParseStatus::complete, out, {}};
}

// "Name: value" (without its CRLF). No obs-fold, no space before the colon.
constexpr HttpParseResult parse_header_line(std::string_view line, HttpRequestView& out) noexcept {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return http_malformed("malformed header line");
  const std::string_view name = line.substr(0, colon);
  for (char c : name)
    if (!is_tchar(c)) return http_malformed("invalid header name");
  std::string_view value = line.substr(colon + 1);
  for (char c : value)
    if (!is_field_char(c)) return http_malformed("invalid header value");
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (iequals(name, "transfer-encoding")) out.has_body = true;
  if (iequals(name, "content-length")) {
    if (value.empty()) return http_malformed("invalid Content-Length");
    for (char c : value)
      if (c < '0' || c > '9') return http_malformed("invalid Content-Length");
    if (value.find_first_not_of('0') != std::string_view::npos) out.has_body = true;
  }
  ++out.headers;
  return {HttpParseStatus::complete, out, {}};
}

}  // namespace detail

// Parses the request head at the start of `in`. Lines end in CRLF (a bare LF or CR is malformed).
// Each complete line is checked as soon as it is there, so garbage is refused without waiting.
[[nodiscard]] constexpr HttpParseResult parse_http_request(std::string_view in, std::size_t max_bytes = 8192) noexcept {
  HttpRequestView req;
  std::size_t pos = 0;
  bool first = true;
  for (;;) {
    const auto lf = in.find('\n', pos);
    if (lf == std::string_view::npos) {
      const std::string_view rest = in.substr(pos);
      if (rest.find('\r') != std::string_view::npos && rest.back() != '\r') return detail::http_malformed("bare CR");
      if (in.size() >= max_bytes) return {HttpParseStatus::too_large, {}, "request head too large"};
      return {HttpParseStatus::incomplete, {}, {}};
    }
    if (lf + 1 > max_bytes) return {HttpParseStatus::too_large, {}, "request head too large"};
    if (lf == pos || in[lf - 1] != '\r') return detail::http_malformed("line not ended by CRLF");
    const std::string_view line = in.substr(pos, lf - 1 - pos);
    if (line.find('\r') != std::string_view::npos) return detail::http_malformed("bare CR");
    pos = lf + 1;
    if (first) {
      if (line.empty()) return detail::http_malformed("empty request line");
      if (auto r = detail::parse_request_line(line, req); r.status != HttpParseStatus::complete) return r;
      first = false;
      continue;
    }
    if (line.empty()) {
      req.head_bytes = pos;
      return {HttpParseStatus::complete, req, {}};
    }
    if (req.headers >= kMaxHttpHeaders) return {HttpParseStatus::too_large, {}, "too many header lines"};
    if (auto r = detail::parse_header_line(line, req); r.status != HttpParseStatus::complete) return r;
  }
}

}  // namespace replicator::metrics
