// Azure Storage "Shared Key" request signing (Blob service, version 2009-09-19 and later):
// Authorization: SharedKey <account>:<base64(HMAC-SHA256(base64decode(key), string-to-sign))>.
//   AzureSignedRequest r{"PUT", {{"Content-Length","42"},{"If-Match","\"0x8D..\""}},
//   {{"x-ms-date",..},{"x-ms-version",..}},
//                        "/devstoreaccount1/devstoreaccount1/c/b", {}};
//   std::string auth = shared_key_authorization("devstoreaccount1", *decoded_key, r);
// Needs OpenSSL (//:replicator_azure).
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "replicator/position/azure_blob_options.hpp"

namespace replicator::detail {

inline std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = ::EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return out;
}

// nullopt unless `text` is standard padded base64 (an account key).
inline std::optional<std::string> base64_decode(std::string_view text) {
  if (!AzureBlobOptions::looks_base64(text)) return std::nullopt;
  std::string out(3 * (text.size() / 4), '\0');
  const int n = ::EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t len = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the padding as zero bytes.
  if (text.back() == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

inline std::optional<std::string> hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (::HMAC(::EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len) == nullptr)
    return std::nullopt;
  return std::string(reinterpret_cast<const char*>(md), len);
}

// Now in RFC 1123 form, GMT, independent of the locale: the x-ms-date header.
inline std::string http_date_now() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

// What Shared Key signs of a request.
struct AzureSignedRequest {
  std::string verb;                                             // GET, PUT, HEAD, ...
  std::vector<std::pair<std::string, std::string>> headers;     // standard headers sent (any case)
  std::vector<std::pair<std::string, std::string>> ms_headers;  // x-ms-* headers sent
  std::string resource_path;  // "/" + account + the URL's encoded path (path-style: the account twice)
  std::vector<std::pair<std::string, std::string>> query;  // decoded query parameters
};

// The string-to-sign, exactly as "Authorize with Shared Key" defines it: the verb, twelve standard
// header values in a fixed order (Content-Length empty when 0), the x-ms-* headers lower-cased and
// sorted as "name:value\n", then "/account/path" and "\nname:value" per query parameter, sorted.
inline std::string shared_key_string_to_sign(const AzureSignedRequest& r) {
  static constexpr std::string_view kStandard[] = {
      "content-encoding",  "content-language", "content-length", "content-md5",         "content-type", "date",
      "if-modified-since", "if-match",         "if-none-match",  "if-unmodified-since", "range"};
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  std::string s = r.verb + "\n";
  for (std::string_view name : kStandard) {
    std::string value;
    for (const auto& [n, v] : r.headers)
      if (lower(n) == name) value = v;
    if (name == "content-length" && value == "0") value.clear();
    s += value + "\n";
  }
  std::vector<std::pair<std::string, std::string>> ms;
  for (const auto& [n, v] : r.ms_headers) {
    std::string value;  // linear whitespace folded to one space, trimmed
    for (char c : v) {
      const bool space = c == ' ' || c == '\t' || c == '\r' || c == '\n';
      if (space) {
        if (!value.empty() && value.back() != ' ') value += ' ';
      } else {
        value += c;
      }
    }
    while (!value.empty() && value.back() == ' ') value.pop_back();
    ms.emplace_back(lower(n), std::move(value));
  }
  std::sort(ms.begin(), ms.end());
  for (const auto& [n, v] : ms) s += n + ":" + v + "\n";
  s += r.resource_path;
  std::vector<std::pair<std::string, std::string>> q;
  for (const auto& [n, v] : r.query) q.emplace_back(lower(n), v);
  std::sort(q.begin(), q.end());
  for (const auto& [n, v] : q) s += "\n" + n + ":" + v;
  return s;
}

// The Authorization header's value; nullopt only when OpenSSL fails.
inline std::optional<std::string> shared_key_authorization(std::string_view account, std::string_view decoded_key,
                                                           const AzureSignedRequest& r) {
  auto mac = hmac_sha256(decoded_key, shared_key_string_to_sign(r));
  if (!mac) return std::nullopt;
  return "SharedKey " + std::string(account) + ":" + base64_encode(*mac);
}

}  // namespace replicator::detail
