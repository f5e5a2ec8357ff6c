// The settings of AzureBlobPositionStore and their checks, without its link dependencies (so a
// program can validate its configuration before anything starts).
//   AzureBlobOptions o{.endpoint = "http://127.0.0.1:10000/devstoreaccount1", .account_key = "...",
//                      .container = "replicator", .blob = "my_slot.position"};
//   if (auto p = o.problem()) std::cerr << p->field << ": " << p->message;   // field: "endpoint", "blob", ...
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace replicator {

// An endpoint split into what the requests need.
struct AzureEndpoint {
  std::string scheme;   // "https" or "http" (http only for loopback hosts)
  std::string host;     // host[:port] as written ("127.0.0.1:10000", "acct.blob.core.windows.net")
  std::string path;     // "" or the path-style account prefix ("/devstoreaccount1")
  std::string account;  // the account it names: first path segment (path-style), else the first host label

  [[nodiscard]] std::string base_url() const { return scheme + "://" + host + path; }

  // nullopt with `why` set when it is not https://HOST[:PORT][/ACCOUNT] (http:// for loopback only).
  static std::optional<AzureEndpoint> parse(std::string_view text, std::string& why) {
    AzureEndpoint e;
    std::string_view rest = text;
    if (rest.starts_with("https://")) {
      e.scheme = "https";
      rest.remove_prefix(8);
    } else if (rest.starts_with("http://")) {
      e.scheme = "http";
      rest.remove_prefix(7);
    } else {
      why = "must start with https:// (or http:// for a loopback emulator such as Azurite)";
      return std::nullopt;
    }
    while (rest.ends_with('/')) rest.remove_suffix(1);
    const auto slash = rest.find('/');
    const std::string_view host = rest.substr(0, slash);
    const std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    if (host.empty()) {
      why = "has no host";
      return std::nullopt;
    }
    for (char c : std::string(host) + std::string(path)) {
      const unsigned char u = static_cast<unsigned char>(c);
      if (!std::isalnum(u) && c != '.' && c != '-' && c != ':' && c != '[' && c != ']' && c != '/' && c != '_') {
        why = "may hold only a host, a port and an account path (no user, query or fragment)";
        return std::nullopt;
      }
    }
    if (path.find('/', 1) != std::string_view::npos) {
      why = "may have at most one path segment (the account, path-style)";
      return std::nullopt;
    }
    e.host = std::string(host);
    e.path = std::string(path);
    if (e.scheme == "http" && !is_loopback(host)) {
      why = "plain http:// is allowed only for a loopback host (127.0.0.0/8, localhost, [::1]); use https://";
      return std::nullopt;
    }
    if (!e.path.empty()) {
      e.account = e.path.substr(1);
    } else {
      const auto dot = host.find('.');
      const std::string_view label = host.substr(0, std::min(dot, host.find(':')));
      if (dot != std::string_view::npos && !label.empty() &&
          label.find_first_not_of("0123456789") != std::string_view::npos)
        e.account = std::string(label);
    }
    return e;
  }

  static bool is_loopback(std::string_view host_port) noexcept {
    std::string_view h = host_port;
    if (h.starts_with("[")) {
      h = h.substr(0, h.find(']') + 1);
      return h == "[::1]";
    }
    h = h.substr(0, h.find(':'));
    if (h == "localhost") return true;
    if (!h.starts_with("127.")) return false;
    int dots = 0;
    for (char c : h) {
      if (c == '.') ++dots;
      else if (c < '0' || c > '9') return false;
    }
    return dots == 3;
  }
};

struct AzureBlobOptions {
  std::string endpoint;          // https://ACCOUNT.blob.core.windows.net, or http://127.0.0.1:PORT/devstoreaccount1
  std::string account;           // empty: the one the endpoint names
  std::string account_key;       // secret: base64 account key (Shared Key signing), or
  std::string sas_token;         // secret: a SAS token ("sv=...&sig=..."), appended to every request
  std::string container;         // 3-63 of a-z, 0-9, '-'
  std::string blob;              // A-Z a-z 0-9 . _ - / (no leading '/', no empty or ".." segment)
  bool create_container = true;  // create the container on the first save when it is missing
  std::string ca_file;           // https: trust these CAs (PEM) instead of the system's
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{15000};

  struct Problem {
    std::string field;    // endpoint, account, account_key, sas_token, container, blob
    std::string message;  // never contains a secret
  };

  [[nodiscard]] std::optional<Problem> problem() const {
    if (endpoint.empty()) return Problem{"endpoint", "is required"};
    std::string why;
    auto e = AzureEndpoint::parse(endpoint, why);
    if (!e) return Problem{"endpoint", why};
    if (account.empty() && e->account.empty())
      return Problem{"account", "is required (the endpoint names no account: neither ACCOUNT.blob... nor a path)"};
    if (!valid_account(account.empty() ? e->account : account))
      return Problem{"account", "must be 3-24 lower-case letters and digits"};
    if (account_key.empty() == sas_token.empty())
      return Problem{"account_key", "set exactly one of the account key and the SAS token"};
    if (!account_key.empty() && !looks_base64(account_key)) return Problem{"account_key", "is not base64"};
    if (!sas_token.empty()) {
      const std::string_view s = std::string_view(sas_token).substr(sas_token.front() == '?' ? 1 : 0);
      if (s.find("sig=") == std::string_view::npos || s.find_first_of(" #\r\n") != std::string_view::npos)
        return Problem{"sas_token", "is not a SAS token (a query string with sig=...)"};
    }
    if (container.empty()) return Problem{"container", "is required"};
    if (!valid_container(container))
      return Problem{"container", "must be 3-63 of a-z, 0-9 and '-' (starting with a letter or digit, no '--')"};
    if (!valid_blob(blob))
      return Problem{
          "blob",
          "must be 1-1024 of A-Z, a-z, 0-9, '.', '_', '-', '/' without a leading '/' or an empty or '..' segment"};
    return std::nullopt;
  }

  static bool valid_account(std::string_view a) noexcept {
    if (a.size() < 3 || a.size() > 24) return false;
    for (char c : a)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    return true;
  }
  static bool valid_container(std::string_view c) noexcept {
    if (c.size() < 3 || c.size() > 63 || c.front() == '-' || c.back() == '-' || c.find("--") != std::string_view::npos)
      return false;
    for (char ch : c)
      if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-')) return false;
    return true;
  }
  // Only characters that need no percent-encoding, so the URL and the signed resource agree.
  static bool valid_blob(std::string_view b) noexcept {
    if (b.empty() || b.size() > 1024 || b.front() == '/' || b.back() == '/') return false;
    for (char ch : b) {
      const unsigned char u = static_cast<unsigned char>(ch);
      if (!std::isalnum(u) && ch != '.' && ch != '_' && ch != '-' && ch != '/') return false;
    }
    std::string_view rest = b;
    while (!rest.empty()) {
      const auto slash = rest.find('/');
      const std::string_view seg = rest.substr(0, slash);
      if (seg.empty() || seg == "." || seg == "..") return false;
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
    return true;
  }
  static bool looks_base64(std::string_view s) noexcept {
    if (s.empty() || s.size() % 4 != 0) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      if (c == '=' && i + 2 >= s.size() && (i + 1 == s.size() || s[i + 1] == '=')) continue;
      if (!std::isalnum(c) && c != '+' && c != '/') return false;
    }
    return true;
  }
};

}  // namespace replicator
