// What the NATS JetStream sink (sink/nats_jetstream.hpp) is told, without libnats, so the program's
// config can hold and check it: the settings, and the subject rules (a schema or table name as one
// subject token, what a subject prefix may be).
//   NatsJetStreamOptions o{.urls = {"nats://n1:4222"}, .stream = "CDC", .replicas = 3};
//   nats::subject_token("my.schema") == "my%2Eschema";  nats::valid_subject_prefix("prod.cdc") == true
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace replicator {

struct NatsJetStreamOptions {
  std::vector<std::string> urls{"nats://127.0.0.1:4222"};  // any of them; libnats learns the rest
  std::string stream = "replicator";
  std::string subject_prefix = "cdc";           // `<prefix>.<schema>.<table>`; may hold dots ("prod.cdc")
  bool publish_transactions = false;            // begin / commit as messages on `<prefix>.transaction`
  bool create_stream = false;                   // create the stream (subjects `<prefix>.>`, file storage) when missing
  int replicas = 1;                             // of a created stream
  std::chrono::seconds duplicate_window{0};     // of a created stream; 0: the server's (120 s)
  std::size_t max_in_flight = 256;              // publishes without a PubAck at any time
  std::chrono::milliseconds ack_timeout{5000};  // no PubAck for this long: the flush fails (retryable)
  bool order_guard = true;  // Nats-Expected-Last-Msg-Id chain (off when several programs share a stream)
  // Authentication: at most one of creds file, user + password, token. TLS when tls_ca is set.
  std::string creds_file;
  std::string user;
  std::string password;  // secret
  std::string token;     // secret
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string connection_name = "replicator";
};

namespace nats {

// A name as one subject token: bytes other than [A-Za-z0-9_-] (dots, spaces, wildcards, '%',
// control and non-ASCII bytes) become %XX, so "my.schema" and "my schema" stay one token each and
// two names never share a token. An empty name is "%00" (a token may not be empty).
inline std::string subject_token(std::string_view name) {
  static constexpr char hex[] = "0123456789ABCDEF";
  if (name.empty()) return "%00";
  std::string out;
  out.reserve(name.size());
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    const bool plain =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (plain) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

// A subject prefix is one or more tokens joined by dots, none empty, without wildcards or spaces.
inline bool valid_subject_prefix(std::string_view prefix) {
  if (prefix.empty() || prefix.front() == '.' || prefix.back() == '.') return false;
  char prev = 0;
  for (const char c : prefix) {
    if (c == '*' || c == '>' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0') return false;
    if (c == '.' && prev == '.') return false;
    prev = c;
  }
  return true;
}

}  // namespace nats
}  // namespace replicator
