// AzureBlobPositionStore: the position as a small block blob in Azure Storage (or Azurite), one
// line of JSON (detail/position_json.hpp). Saves are Put Blob with If-Match on the ETag this store
// last read or wrote (If-None-Match: * when it found no blob), so two instances cannot both move one
// slot's position: the loser gets a fatal error, never a silent overwrite. Requests are signed with
// Shared Key (or carry a SAS token) over libcurl. Needs libcurl and OpenSSL (//:replicator_azure).
//   AzureBlobPositionStore store({.endpoint = "https://acct.blob.core.windows.net", .account_key = key,
//                                 .container = "replicator", .blob = "my_slot.position"});
//   auto p = store.load();  store.save(position);   // load() first: it learns the ETag
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "replicator/core/error.hpp"
#include "replicator/position/azure_blob_options.hpp"
#include "replicator/position/detail/azure_shared_key.hpp"
#include "replicator/position/detail/curl_request.hpp"
#include "replicator/position/detail/position_json.hpp"
#include "replicator/position/position.hpp"

namespace replicator {

class AzureBlobPositionStore {
 public:
  static constexpr std::string_view kApiVersion = "2021-08-06";

  explicit AzureBlobPositionStore(AzureBlobOptions options) : options_(std::move(options)) {
    if (auto p = options_.problem()) {
      setup_error_ = "azure blob position store: " + p->field + " " + p->message;
      return;
    }
    std::string why;
    endpoint_ = *AzureEndpoint::parse(options_.endpoint, why);
    account_ = options_.account.empty() ? endpoint_.account : options_.account;
    if (!options_.account_key.empty()) key_ = detail::base64_decode(options_.account_key).value_or(std::string());
    if (!options_.sas_token.empty())
      sas_ = options_.sas_token.front() == '?' ? options_.sas_token.substr(1) : options_.sas_token;
    blob_path_ = endpoint_.path + "/" + options_.container + "/" + options_.blob;
    container_path_ = endpoint_.path + "/" + options_.container;
  }

  // The blob's position; nullopt when there is no blob (or no container) yet.
  [[nodiscard]] Result<std::optional<Position>, ReplicationError> load() {
    if (!setup_error_.empty()) return ReplicationError::fatal(setup_error_);
    auto r = send("GET", blob_path_, {}, {}, {});
    if (r.status == 404) {
      etag_.clear();
      return std::optional<Position>{};
    }
    if (r.status != 200) return classify(r, "read");
    auto parsed = detail::parse_position_json(r.body);
    if (!parsed.position) {
      return ReplicationError::fatal("position blob " + display_url() + " is corrupt: its text " + parsed.problem +
                                     "; fix or delete it (deleting restarts from the slot's confirmed position)");
    }
    etag_ = r.header("etag");
    return std::optional<Position>{std::move(*parsed.position)};
  }

  // Replaces the blob if it is still the one this store last saw; on success it is durable in
  // Azure Storage. Another writer in between is a fatal error naming the blob.
  Status save(const Position& p) {
    if (!setup_error_.empty()) return ReplicationError::fatal(setup_error_);
    if (!p.slot.empty() && !is_valid_slot_name(p.slot))
      return ReplicationError::fatal("position store: invalid slot name (1-63 of a-z, 0-9, _)");
    const std::string text = detail::format_position_json(p);
    std::vector<std::pair<std::string, std::string>> std_headers = {{"Content-Type", "application/json"},
                                                                    {"Content-Length", std::to_string(text.size())}};
    // Not loaded yet (or found nothing): only create, never replace what someone else wrote.
    if (etag_.empty()) std_headers.emplace_back("If-None-Match", "*");
    else std_headers.emplace_back("If-Match", etag_);
    auto r = send("PUT", blob_path_, std_headers, {{"x-ms-blob-type", "BlockBlob"}}, text);
    if (r.status == 404 && r.header("x-ms-error-code") == "ContainerNotFound" && options_.create_container) {
      if (auto st = create_container(); !st) return st;
      r = send("PUT", blob_path_, std_headers, {{"x-ms-blob-type", "BlockBlob"}}, text);
    }
    if (r.status == 412 || (r.status == 409 && r.header("x-ms-error-code") == "BlobAlreadyExists")) {
      // Our own earlier attempt may have landed without its reply reaching us (a timeout).
      auto current = send("GET", blob_path_, {}, {}, {});
      if (current.status == 200 && current.body == text) {
        etag_ = current.header("etag");
        return ok_status();
      }
      return ReplicationError::fatal(
          "position blob " + display_url() + " was written by someone else since this process " +
          (etag_.empty() ? std::string("found it missing") : std::string("last read or wrote it")) +
          " (another replicator on the same slot?): stop the other instance; this one keeps the slot where it was");
    }
    if (r.status != 201) return classify(r, "write");
    etag_ = r.header("etag");
    return ok_status();
  }

  // The ETag of the blob as this store last saw it (empty: no blob).
  [[nodiscard]] const std::string& etag() const noexcept { return etag_; }
  // The blob's URL without any SAS token (safe to log).
  [[nodiscard]] std::string display_url() const { return endpoint_.scheme + "://" + endpoint_.host + blob_path_; }

 private:
  Status create_container() {
    auto r = send("PUT", container_path_, {{"Content-Length", "0"}}, {}, {}, "restype=container");
    if (r.status == 201 || (r.status == 409 && r.header("x-ms-error-code") == "ContainerAlreadyExists"))
      return ok_status();
    return classify(r, "create the container of");
  }

  // Signs (Shared Key) or authorises (SAS) and sends one request.
  detail::HttpResponse send(const std::string& verb, const std::string& path,
                            const std::vector<std::pair<std::string, std::string>>& std_headers,
                            std::vector<std::pair<std::string, std::string>> ms_headers, const std::string& body,
                            std::string_view query = {}) {
    ms_headers.emplace_back("x-ms-date", detail::http_date_now());
    ms_headers.emplace_back("x-ms-version", std::string(kApiVersion));
    detail::HttpRequest req;
    req.method = verb;
    req.url = endpoint_.scheme + "://" + endpoint_.host + path;
    std::string q(query);
    if (!sas_.empty()) q += (q.empty() ? "" : "&") + sas_;
    if (!q.empty()) req.url += "?" + q;
    req.body = body;
    for (const auto& [n, v] : std_headers)
      if (n != "Content-Length") req.headers.push_back(n + ": " + v);  // libcurl sends the length itself
    for (const auto& [n, v] : ms_headers) req.headers.push_back(n + ": " + v);
    if (sas_.empty()) {
      detail::AzureSignedRequest s{verb, std_headers, ms_headers, "/" + account_ + path, {}};
      if (query == "restype=container") s.query.emplace_back("restype", "container");
      auto auth = detail::shared_key_authorization(account_, key_, s);
      if (!auth) {
        detail::HttpResponse r;
        r.transport_error = "HMAC-SHA256 failed (OpenSSL)";
        return r;
      }
      req.headers.push_back("Authorization: " + *auth);
    }
    return http_.perform(req, {options_.connect_timeout, options_.request_timeout}, {options_.ca_file});
  }

  // What a failed request means for the replication loop: try again later, or stop with one line.
  ReplicationError classify(const detail::HttpResponse& r, const char* what) const {
    const std::string where = " " + display_url();
    if (r.untrusted) {  // a wrong endpoint or a man in the middle: retrying would not help
      return ReplicationError::fatal("azure blob position store: the TLS certificate of" + where +
                                     " is not trusted: " + r.transport_error);
    }
    if (!r.transport_error.empty()) {
      return ReplicationError::retry("azure blob position store: cannot " + std::string(what) + where + ": " +
                                     (r.timed_out ? "timed out: " : "") + r.transport_error);
    }
    const std::string code = r.header("x-ms-error-code");
    const std::string status = "HTTP " + std::to_string(r.status) + (code.empty() ? "" : " " + code);
    if (r.status >= 500 || r.status == 408 || r.status == 429)
      return ReplicationError::retry("azure blob position store: cannot " + std::string(what) + where + ": " + status);
    if (r.status == 401 || r.status == 403) {
      return ReplicationError::fatal(
          "azure blob position store: access denied to" + where + " (" + status + "): " +
          (sas_.empty() ? "check the account name and key" : "check the SAS token (expiry, permissions r/c/w)"));
    }
    return ReplicationError::fatal("azure blob position store: cannot " + std::string(what) + where + ": " + status);
  }

  AzureBlobOptions options_;
  std::string setup_error_;
  AzureEndpoint endpoint_;
  std::string account_;
  std::string key_;  // decoded account key
  std::string sas_;
  std::string blob_path_;
  std::string container_path_;
  std::string etag_;
  detail::CurlSession http_;
};

}  // namespace replicator
