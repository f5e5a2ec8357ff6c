// One blocking HTTP(S) request over libcurl, with the connection kept for the next one: what the
// Azure Blob position store sends. No redirects, http/https only, timeouts always set.
//   CurlSession s;  auto r = s.perform({"PUT", url, {"If-Match: \"0x1\""}, body}, timeouts);
//   if (!r.transport_error.empty()) ... else r.status, r.header("etag"), r.body
// Needs libcurl (//:replicator_azure).
#pragma once

#include <curl/curl.h>

#include <cctype>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace replicator::detail {

struct HttpRequest {
  std::string method;                // GET, PUT, HEAD
  std::string url;                   // may carry a SAS token: never put it in a message
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // sent as-is for PUT
};

struct HttpResponse {
  long status = 0;                                           // 0 when transport_error is set
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string transport_error;  // connect/timeout/TLS failure (libcurl's text), else empty
  bool timed_out = false;
  bool untrusted = false;  // the server's certificate did not verify (or the CA file is bad)

  [[nodiscard]] std::string header(std::string_view lower_name) const {
    for (const auto& [n, v] : headers)
      if (n == lower_name) return v;
    return {};
  }
};

struct HttpTimeouts {
  std::chrono::milliseconds connect{5000};
  std::chrono::milliseconds total{15000};
};

// How to trust the server's certificate (https): the system's CAs, or these.
struct HttpTls {
  std::string ca_file;  // PEM bundle; empty: the system's
};

class CurlSession {
 public:
  CurlSession() {
    static std::once_flag once;  // curl_global_init is not thread-safe before 7.84
    std::call_once(once, [] { ::curl_global_init(CURL_GLOBAL_DEFAULT); });
    handle_.reset(::curl_easy_init());
  }

  HttpResponse perform(const HttpRequest& req, const HttpTimeouts& t, const HttpTls& tls = {}) {
    HttpResponse resp;
    CURL* h = handle_.get();
    if (h == nullptr) {
      resp.transport_error = "curl_easy_init failed";
      return resp;
    }
    ::curl_easy_reset(h);
    std::unique_ptr<curl_slist, decltype(&::curl_slist_free_all)> list(nullptr, &::curl_slist_free_all);
    for (const auto& line : req.headers) list.reset(::curl_slist_append(list.release(), line.c_str()));
    // libcurl would add "Expect: 100-continue" and a form Content-Type otherwise (both unsigned).
    list.reset(::curl_slist_append(list.release(), "Expect:"));
    bool has_type = false;
    for (const auto& line : req.headers) {
      std::string name = line.substr(0, line.find(':'));
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      has_type = has_type || name == "content-type";
    }
    if (!has_type) list.reset(::curl_slist_append(list.release(), "Content-Type:"));
    ::curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
    ::curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    ::curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    ::curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    ::curl_easy_setopt(h, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    ::curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(t.connect.count()));
    ::curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(t.total.count()));
    ::curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());
    if (!tls.ca_file.empty()) ::curl_easy_setopt(h, CURLOPT_CAINFO, tls.ca_file.c_str());
    if (req.method == "HEAD") {
      ::curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (req.method == "PUT") {
      ::curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
      ::curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
      ::curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    } else if (req.method != "GET") {
      ::curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    ::curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &CurlSession::on_body);
    ::curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    ::curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &CurlSession::on_header);
    ::curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp);
    char error[CURL_ERROR_SIZE] = {};
    ::curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error);
    const CURLcode rc = ::curl_easy_perform(h);
    ::curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    if (rc != CURLE_OK) {
      resp.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
      resp.untrusted = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE;
      resp.transport_error = error[0] != '\0' ? std::string(error) : std::string(::curl_easy_strerror(rc));
      resp.status = 0;
      return resp;
    }
    ::curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
    return resp;
  }

 private:
  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto* r = static_cast<HttpResponse*>(user);
    if (r->body.size() + size * n > (1u << 20)) return 0;  // a position blob is tiny: refuse a huge body
    r->body.append(data, size * n);
    return size * n;
  }
  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
    auto* r = static_cast<HttpResponse*>(user);
    std::string_view line(data, size * n);
    if (line.starts_with("HTTP/")) r->headers.clear();  // a new response (after 100 Continue)
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string name(line.substr(0, colon));
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
      while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
        value.remove_suffix(1);
      r->headers.emplace_back(std::move(name), std::string(value));
    }
    return size * n;
  }
  struct Cleanup {
    void operator()(CURL* h) const noexcept { ::curl_easy_cleanup(h); }
  };
  std::unique_ptr<CURL, Cleanup> handle_;
};

}  // namespace replicator::detail
