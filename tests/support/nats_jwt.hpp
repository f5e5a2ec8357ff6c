// NATS decentralized auth material made at test time: nkeys (ed25519 seeds and public keys in
// base32 with a prefix byte and a CRC16, as the NATS nkeys spec encodes them) and JWTs (base64url
// JSON, alg "ed25519-nkey", signed by the issuer's nkey) for an operator, an account with JetStream
// limits and a user; the server config (operator + MEMORY resolver) and the user's .creds file.
//   auto op = NatsOperator::make();                 // operator, account "CDC", user "cdc"
//   NatsClusterOptions so; so.config = op.server_config();
//   write(dir + "/cdc.creds", creds_file(op.user_jwt(), op.user.seed()));
// Uses OpenSSL's EVP ed25519 (the link is @system//:openssl).
#pragma once

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <cstdint>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace replicator::test::nkeys {

// The first byte of a public key (base32: 'O', 'A', 'U', 'N'); a seed's first char is 'S'.
enum class KeyType : std::uint8_t { operator_ = 14 << 3, account = 0, user = 20 << 3, server = 13 << 3 };
inline constexpr std::uint8_t kSeedPrefix = 18 << 3;     // 'S'
inline constexpr std::uint8_t kPrivatePrefix = 15 << 3;  // 'P' (seed + public key, 64 bytes)

// CRC-16/XMODEM (polynomial 0x1021, initial 0), what nkeys append little-endian.
inline std::uint16_t crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (unsigned char c : data) {
    crc ^= static_cast<std::uint16_t>(c << 8);
    for (int i = 0; i < 8; ++i)
      crc = static_cast<std::uint16_t>((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
  }
  return crc;
}

// RFC 4648 base32, upper case, no padding.
inline std::string base32_encode(std::string_view data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : data) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 31];
  return out;
}

inline std::optional<std::string> base32_decode(std::string_view text) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char ch : text) {
    int v = -1;
    if (ch >= 'A' && ch <= 'Z') v = ch - 'A';
    else if (ch >= '2' && ch <= '7') v = ch - '2' + 26;
    if (v < 0) return std::nullopt;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out += static_cast<char>((buffer >> (bits - 8)) & 0xFF);
      bits -= 8;
    }
  }
  return out;
}

// prefix bytes + payload + CRC16 (little-endian), base32.
inline std::string encode_with_crc(std::string raw) {
  const std::uint16_t crc = crc16(raw);
  raw += static_cast<char>(crc & 0xFF);
  raw += static_cast<char>(crc >> 8);
  return base32_encode(raw);
}

// The bytes before the CRC when `text` decodes and its CRC matches.
inline std::optional<std::string> decode_with_crc(std::string_view text) {
  auto raw = base32_decode(text);
  if (!raw || raw->size() < 3) return std::nullopt;
  const std::string body = raw->substr(0, raw->size() - 2);
  const auto lo = static_cast<unsigned char>((*raw)[raw->size() - 2]);
  const auto hi = static_cast<unsigned char>((*raw)[raw->size() - 1]);
  if (crc16(body) != static_cast<std::uint16_t>(lo | (hi << 8))) return std::nullopt;
  return body;
}

inline std::string encode_public(KeyType type, std::string_view raw32) {
  return encode_with_crc(std::string(1, static_cast<char>(type)) + std::string(raw32));
}

// The 32 raw bytes of a public key of `type`, or nullopt (wrong type, length or CRC).
inline std::optional<std::string> decode_public(KeyType type, std::string_view text) {
  auto body = decode_with_crc(text);
  if (!body || body->size() != 33 || static_cast<std::uint8_t>((*body)[0]) != static_cast<std::uint8_t>(type))
    return std::nullopt;
  return body->substr(1);
}

inline std::string encode_seed(KeyType type, std::string_view raw32) {
  const auto t = static_cast<std::uint8_t>(type);
  std::string raw;
  raw += static_cast<char>(kSeedPrefix | (t >> 5));
  raw += static_cast<char>((t & 31) << 3);
  return encode_with_crc(raw + std::string(raw32));
}

struct DecodedSeed {
  KeyType type;
  std::string raw;  // 32 bytes
};
inline std::optional<DecodedSeed> decode_seed(std::string_view text) {
  auto body = decode_with_crc(text);
  if (!body || body->size() != 34) return std::nullopt;
  const auto b0 = static_cast<std::uint8_t>((*body)[0]);
  const auto b1 = static_cast<std::uint8_t>((*body)[1]);
  if ((b0 & 0xF8) != kSeedPrefix) return std::nullopt;
  const auto t = static_cast<std::uint8_t>(((b0 & 7) << 5) | (b1 >> 3));
  return DecodedSeed{static_cast<KeyType>(t), body->substr(2)};
}

// An ed25519 key pair of one type.
class KeyPair {
 public:
  // A fresh random key.
  static KeyPair make(KeyType type) {
    std::string raw(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), 32) != 1) throw std::runtime_error("RAND_bytes");
    return KeyPair(type, raw);
  }
  static KeyPair from_seed(std::string_view seed) {
    auto d = decode_seed(seed);
    if (!d) throw std::runtime_error("not an nkey seed");
    return KeyPair(d->type, d->raw);
  }

  [[nodiscard]] KeyType type() const noexcept { return type_; }
  [[nodiscard]] std::string seed() const { return encode_seed(type_, seed_raw_); }
  [[nodiscard]] std::string public_key() const { return encode_public(type_, public_raw_); }
  // 'P' + seed + public key: the "private key" form of the spec.
  [[nodiscard]] std::string private_key() const {
    return encode_with_crc(std::string(1, static_cast<char>(kPrivatePrefix)) + seed_raw_ + public_raw_);
  }

  // The 64-byte ed25519 signature of `message`.
  [[nodiscard]] std::string sign(std::string_view message) const {
    EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                                 reinterpret_cast<const unsigned char*>(seed_raw_.data()), 32);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::string sig(64, '\0');
    std::size_t len = sig.size();
    const bool ok = key != nullptr && ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
                    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                                   reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    if (!ok || len != 64) throw std::runtime_error("ed25519 sign failed");
    return sig;
  }

 private:
  KeyPair(KeyType type, std::string seed_raw) : type_(type), seed_raw_(std::move(seed_raw)) {
    EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr,
                                                 reinterpret_cast<const unsigned char*>(seed_raw_.data()), 32);
    public_raw_.assign(32, '\0');
    std::size_t len = 32;
    const bool ok =
        key != nullptr &&
        EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(public_raw_.data()), &len) == 1 && len == 32;
    EVP_PKEY_free(key);
    if (!ok) throw std::runtime_error("ed25519 key from seed failed");
  }

  KeyType type_;
  std::string seed_raw_;
  std::string public_raw_;
};

// Whether `sig` is `public_key`'s ed25519 signature of `message` (any key type).
inline bool verify(std::string_view public_key, std::string_view message, std::string_view sig) {
  auto body = decode_with_crc(public_key);
  if (!body || body->size() != 33 || sig.size() != 64) return false;
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                              reinterpret_cast<const unsigned char*>(body->data() + 1), 32);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = key != nullptr && ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                   reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

}  // namespace replicator::test::nkeys

namespace replicator::test::jwt {

// base64url without padding (RFC 7515's encoding of JWT parts).
inline std::string base64url_encode(std::string_view data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const std::uint32_t v = (static_cast<unsigned char>(data[i]) << 16) |
                            (static_cast<unsigned char>(data[i + 1]) << 8) | static_cast<unsigned char>(data[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(v >> s) & 63];
  }
  if (i + 1 == data.size()) {
    const std::uint32_t v = static_cast<unsigned char>(data[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == data.size()) {
    const std::uint32_t v = (static_cast<unsigned char>(data[i]) << 16) | (static_cast<unsigned char>(data[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

inline std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-') v = 62;
    else if (c == '_') v = 63;
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      out += static_cast<char>((buffer >> (bits - 8)) & 0xFF);
      bits -= 8;
    }
  }
  return out;
}

inline constexpr std::string_view kHeader = R"({"typ":"JWT","alg":"ed25519-nkey"})";

// What a claim set is about; `nats` is the JSON object of the "nats" claim.
struct Claims {
  std::string name;
  std::string subject;  // public key of what the JWT is for
  std::string nats;     // e.g. R"({"type":"user","version":2})"
  std::int64_t issued_at = static_cast<std::int64_t>(std::time(nullptr));
  std::int64_t expires = 0;  // 0: never
};

// header.claims.signature, signed by `issuer` (its public key is "iss"). "jti" is the base32 of
// the SHA-256 of the claims without it, unique per claim set.
inline std::string encode(const Claims& c, const nkeys::KeyPair& issuer) {
  const std::string rest = "\"iat\":" + std::to_string(c.issued_at) +
                           (c.expires != 0 ? ",\"exp\":" + std::to_string(c.expires) : std::string()) + ",\"iss\":\"" +
                           issuer.public_key() + "\",\"name\":\"" + c.name + "\",\"sub\":\"" + c.subject +
                           "\",\"nats\":" + c.nats + "}";
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(rest.data()), rest.size(), digest);
  const std::string jti = nkeys::base32_encode(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
  const std::string body = "{\"jti\":\"" + jti + "\"," + rest;
  const std::string signing_input = base64url_encode(kHeader) + "." + base64url_encode(body);
  return signing_input + "." + base64url_encode(issuer.sign(signing_input));
}

struct Decoded {
  std::string header, claims, signature;  // decoded bytes
  std::string signing_input;              // header.claims as sent
};
inline std::optional<Decoded> decode(std::string_view token) {
  const auto a = token.find('.');
  const auto b = a == std::string_view::npos ? a : token.find('.', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  auto h = base64url_decode(token.substr(0, a));
  auto c = base64url_decode(token.substr(a + 1, b - a - 1));
  auto s = base64url_decode(token.substr(b + 1));
  if (!h || !c || !s) return std::nullopt;
  return Decoded{*h, *c, *s, std::string(token.substr(0, b))};
}

// Whether `token`'s signature is `issuer_public_key`'s.
inline bool verify(std::string_view token, std::string_view issuer_public_key) {
  auto d = decode(token);
  return d && nkeys::verify(issuer_public_key, d->signing_input, d->signature);
}

// The .creds file libnats and the nats CLI read (natsOptions_SetUserCredentialsFromFiles).
inline std::string creds_file(std::string_view user_jwt, std::string_view user_seed) {
  return "-----BEGIN NATS USER JWT-----\n" + std::string(user_jwt) +
         "\n------END NATS USER JWT------\n\n"
         "************************* IMPORTANT *************************\n"
         "NKEY Seed printed below can be used to sign and prove identity.\n"
         "NKEYs are sensitive and should be treated as secrets.\n\n"
         "-----BEGIN USER NKEY SEED-----\n" +
         std::string(user_seed) +
         "\n------END USER NKEY SEED------\n\n"
         "*************************************************************\n";
}

inline std::string operator_claims() { return R"({"type":"operator","version":2})"; }
// An account with JetStream enabled (unlimited storage, streams and consumers) and no other limit.
inline std::string account_claims(bool jetstream = true) {
  return std::string(R"({"limits":{"subs":-1,"data":-1,"payload":-1,"imports":-1,"exports":-1,)"
                     R"("wildcards":true,"conn":-1,"leaf":-1)") +
         (jetstream ? R"(,"mem_storage":-1,"disk_storage":-1,"streams":-1,"consumer":-1)" : "") +
         R"(},"default_permissions":{"pub":{},"sub":{}},"type":"account","version":2})";
}
inline std::string user_claims() {
  return R"({"pub":{},"sub":{},"subs":-1,"data":-1,"payload":-1,"type":"user","version":2})";
}

}  // namespace replicator::test::jwt

namespace replicator::test {

// An operator, one account "CDC" with JetStream, a system account "SYS", and a user "cdc" of CDC.
struct NatsOperator {
  nkeys::KeyPair op, account, system, user;

  static NatsOperator make() {
    return NatsOperator{nkeys::KeyPair::make(nkeys::KeyType::operator_),
                        nkeys::KeyPair::make(nkeys::KeyType::account),
                        nkeys::KeyPair::make(nkeys::KeyType::account), nkeys::KeyPair::make(nkeys::KeyType::user)};
  }

  [[nodiscard]] std::string operator_jwt() const {
    return jwt::encode({.name = "replicator-test",
                        .subject = op.public_key(),
                        .nats = R"({"system_account":")" + system.public_key() + R"(","type":"operator","version":2})"},
                       op);
  }
  [[nodiscard]] std::string account_jwt() const {
    return jwt::encode({.name = "CDC", .subject = account.public_key(), .nats = jwt::account_claims()}, op);
  }
  [[nodiscard]] std::string system_jwt() const {
    return jwt::encode({.name = "SYS", .subject = system.public_key(), .nats = jwt::account_claims(false)}, op);
  }
  // The user's JWT signed by `issuer` (the account unless a test wants another), valid until
  // `expires` (0: no expiry).
  [[nodiscard]] std::string user_jwt(std::int64_t expires = 0) const { return user_jwt_by(account, expires); }
  [[nodiscard]] std::string user_jwt_by(const nkeys::KeyPair& issuer, std::int64_t expires = 0) const {
    jwt::Claims c{.name = "cdc", .subject = user.public_key(), .nats = jwt::user_claims()};
    if (expires != 0) {
      c.issued_at = expires - 3600;
      c.expires = expires;
    }
    return jwt::encode(c, issuer);
  }
  [[nodiscard]] std::string creds() const { return jwt::creds_file(user_jwt(), user.seed()); }

  // nats-server config text: trust the operator, accounts from the MEMORY resolver's preload.
  [[nodiscard]] std::string server_config() const {
    return "operator: " + operator_jwt() + "\nsystem_account: " + system.public_key() +
           "\nresolver: MEMORY\nresolver_preload: {\n  " + account.public_key() + ": " + account_jwt() + "\n  " +
           system.public_key() + ": " + system_jwt() + "\n}\n";
  }
};

}  // namespace replicator::test
