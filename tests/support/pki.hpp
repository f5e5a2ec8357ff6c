// Pki: a throw-away certificate authority made with openssl at test time, for the TLS tests of
// PostgreSQL and NATS: a CA, a server certificate for "localhost" only (so 127.0.0.1 is a wrong host
// name for verify-full), a client certificate for the role `cert_user`, and an unrelated second CA.
//   Pki pki(dir);  pki.ca();  pki.server_cert();  pki.client_cert();  pki.other_ca();
#pragma once

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

namespace replicator::test {

inline void pki_sh(const std::string& cmd) {
  INFO(cmd);
  REQUIRE(std::system(("set -e; " + cmd + " >/dev/null 2>&1").c_str()) == 0);
}

struct Pki {
  std::string dir;
  std::string ca() const { return dir + "/ca.crt"; }
  std::string other_ca() const { return dir + "/other_ca.crt"; }
  std::string client_cert() const { return dir + "/client.crt"; }
  std::string client_key() const { return dir + "/client.key"; }
  std::string server_cert() const { return dir + "/server.crt"; }
  std::string server_key() const { return dir + "/server.key"; }

  explicit Pki(const std::string& d) : dir(d) {
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    pki_sh("cd '" + dir + "' && openssl req -x509 " + ec +
           " -keyout ca.key -out ca.crt -days 2 -subj '/CN=replicator test CA'");
    pki_sh("cd '" + dir + "' && openssl req -x509 " + ec +
           " -keyout other_ca.key -out other_ca.crt -days 2 -subj '/CN=some other CA'");
    pki_sh("cd '" + dir + "' && printf 'subjectAltName=DNS:localhost\\n' > server.ext && openssl req " + ec +
           " -keyout server.key -out server.csr -subj '/CN=localhost' && openssl x509 -req -in server.csr -CA ca.crt "
           "-CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext");
    pki_sh("cd '" + dir + "' && openssl req " + ec +
           " -keyout client.key -out client.csr -subj '/CN=cert_user' && "
           "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2");
    ::chmod(client_key().c_str(), 0600);  // libpq refuses a private key others can read
  }
};

}  // namespace replicator::test
