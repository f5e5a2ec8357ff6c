// tests/support/nats_jwt.hpp: nkey encoding against the known vectors of the NATS clients'
// nkeys tests (CRC16 inputs of nats.java's NKeyTests; the seed SUAMLK2Z... with its public key
// and the signature of the nonce "PXoWU7zWAMt75FY" of nkeys.py / nats.rb), signatures checked by
// libnats' own nats_Sign, and JWTs that verify with their issuer's key and no other.
#include <catch2/catch.hpp>

#include <nats/nats.h>

#include <cstdlib>
#include <string>

#include "tests/support/nats_jwt.hpp"

using namespace replicator::test;

namespace {
const std::string kSeed = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU";
const std::string kPublic = "UCK5N7N66OBOINFXAYC2ACJQYFSOD4VYNU6APEJTAVFZB2SVHLKGEW7L";
const std::string kPrivate =
    "PDC2WWLK67NUTFW7ZH5A7FOPZC32VXYZYWYNQMQ6RQWP2FEEF6KDVFOW7W7PHAXEGS3QMBNABEYMCZHB6K4G2PAHSEZQKS4Q5JKTVVDCJORA";
}  // namespace

TEST_CASE("nkeys CRC16 matches the known vectors") {
  CHECK(nkeys::crc16("") == 0x0000);
  CHECK(nkeys::crc16("abc") == 0x9DD6);
  CHECK(nkeys::crc16("ABC") == 0x3994);
  CHECK(nkeys::crc16("This is a string") == 0x21E3);
  CHECK(nkeys::crc16("123456789") == 0x31C3);
  CHECK(nkeys::crc16("abcdefghijklmnopqrstuvwxyz0123456789") == 0xCBDE);
  CHECK(nkeys::crc16("\x7F") == 0x8F78);
  CHECK(nkeys::crc16("\x80") == 0x9188);
  CHECK(nkeys::crc16("\xFF") == 0x1EF0);
  CHECK(nkeys::crc16(std::string("\x00\x01\x7D\x7E\x7F\x80\xFE\xFF", 8)) == 0xE26F);
}

TEST_CASE("nkeys base32 round-trips and refuses characters outside its alphabet") {
  for (std::string s : {std::string(), std::string("f"), std::string("fo"), std::string("foo"), std::string("foob"),
                        std::string("fooba"), std::string("foobar"), std::string("\x00\xFF\x10", 3)})
    CHECK(nkeys::base32_decode(nkeys::base32_encode(s)) == s);
  CHECK(nkeys::base32_encode("foobar") == "MZXW6YTBOI");  // RFC 4648 section 10, without padding
  CHECK_FALSE(nkeys::base32_decode("MZXW6YTBOI=").has_value());
  CHECK_FALSE(nkeys::base32_decode("mzxw").has_value());
}

TEST_CASE("nkeys the known user seed gives the known public and private keys and signature") {
  const auto kp = nkeys::KeyPair::from_seed(kSeed);
  CHECK(kp.type() == nkeys::KeyType::user);
  CHECK(kp.seed() == kSeed);
  CHECK(kp.public_key() == kPublic);
  CHECK(kp.private_key() == kPrivate);
  const std::string sig = kp.sign("PXoWU7zWAMt75FY");
  // "ZaAiVDgB5CeYoXoQ7cBCmq+ZllzUnGUoDVb8C7PilWvCs8XKfUchAUhz2P4BYAF++Dg3w05CqyQFRDiGL6LrDw==" in base64.
  CHECK(jwt::base64url_encode(sig) ==
        "ZaAiVDgB5CeYoXoQ7cBCmq-ZllzUnGUoDVb8C7PilWvCs8XKfUchAUhz2P4BYAF--Dg3w05CqyQFRDiGL6LrDw");
  CHECK(nkeys::verify(kPublic, "PXoWU7zWAMt75FY", sig));
  CHECK_FALSE(nkeys::verify(kPublic, "PXoWU7zWAMt75FZ", sig));
}

TEST_CASE("nkeys fresh keys have their type's prefix and sign as libnats does") {
  for (auto [type, letter] : {std::pair{nkeys::KeyType::operator_, 'O'}, std::pair{nkeys::KeyType::account, 'A'},
                              std::pair{nkeys::KeyType::user, 'U'}}) {
    const auto kp = nkeys::KeyPair::make(type);
    const std::string pub = kp.public_key();
    const std::string seed = kp.seed();
    CHECK(pub.size() == 56);
    CHECK(pub[0] == letter);
    CHECK(seed.size() == 58);
    CHECK(seed[0] == 'S');
    CHECK(seed[1] == letter);
    CHECK(nkeys::decode_public(type, pub).has_value());
    CHECK_FALSE(nkeys::decode_public(type == nkeys::KeyType::user ? nkeys::KeyType::account : nkeys::KeyType::user, pub)
                    .has_value());
    CHECK(nkeys::KeyPair::from_seed(seed).public_key() == pub);
    // A changed character breaks the CRC.
    std::string bad = pub;
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    CHECK_FALSE(nkeys::decode_public(type, bad).has_value());

    // ed25519 is deterministic: libnats' nats_Sign (its own nkey decoding) gives the same bytes.
    // (A client signs only as a user or account: libnats refuses an operator seed's prefix.)
    if (type == nkeys::KeyType::operator_) continue;
    unsigned char* sig = nullptr;
    int sig_len = 0;
    nats_Open(-1);
    REQUIRE(nats_Sign(seed.c_str(), "nonce", &sig, &sig_len) == NATS_OK);
    CHECK(std::string(reinterpret_cast<char*>(sig), static_cast<std::size_t>(sig_len)) == kp.sign("nonce"));
    std::free(sig);
  }
}

TEST_CASE("jwt a token verifies with its issuer's key only, and its claims say who is who") {
  const auto op = NatsOperator::make();
  const std::string token = op.account_jwt();
  CHECK(jwt::verify(token, op.op.public_key()));
  CHECK_FALSE(jwt::verify(token, op.account.public_key()));
  auto d = jwt::decode(token);
  REQUIRE(d.has_value());
  CHECK(d->header == jwt::kHeader);
  CHECK_THAT(d->claims, Catch::Contains("\"iss\":\"" + op.op.public_key() + "\"") &&
                            Catch::Contains("\"sub\":\"" + op.account.public_key() + "\"") &&
                            Catch::Contains("\"disk_storage\":-1") && Catch::Contains("\"type\":\"account\""));
  // A changed claim no longer verifies.
  std::string claims = d->claims;
  claims.replace(claims.find("\"CDC\""), 5, "\"XYZ\"");
  const std::string forged = jwt::base64url_encode(d->header) + "." + jwt::base64url_encode(claims) + "." +
                             jwt::base64url_encode(d->signature);
  CHECK_FALSE(jwt::verify(forged, op.op.public_key()));

  const std::string user = op.user_jwt(1000);
  CHECK(jwt::verify(user, op.account.public_key()));
  CHECK_THAT(jwt::decode(user)->claims, Catch::Contains("\"exp\":1000"));
  CHECK(jwt::verify(op.user_jwt_by(op.system), op.system.public_key()));

  const std::string creds = op.creds();
  CHECK_THAT(creds, Catch::Contains("-----BEGIN NATS USER JWT-----\n") && Catch::Contains(op.user.seed()));
  CHECK_THAT(op.server_config(), Catch::Contains("operator: ") && Catch::Contains("resolver: MEMORY") &&
                                     Catch::Contains(op.account.public_key() + ": "));
}

TEST_CASE("jwt base64url round-trips every tail length") {
  for (std::string s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"), std::string("abcd"),
                        std::string("\xFB\xFF", 2)})
    CHECK(jwt::base64url_decode(jwt::base64url_encode(s)) == s);
  CHECK(jwt::base64url_encode("\xFB\xFF") == "-_8");
}
