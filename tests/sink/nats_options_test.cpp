// include/replicator/sink/nats_options.hpp: subject tokens and prefixes (no server needed).
#include <catch2/catch.hpp>

#include "replicator/sink/nats_options.hpp"

using namespace replicator;

TEST_CASE("NATS subject tokens escape every byte outside A-Za-z0-9_-") {
  CHECK(nats::subject_token("orders") == "orders");
  CHECK(nats::subject_token("my.schema") == "my%2Eschema");
  CHECK(nats::subject_token("a b*>") == "a%20b%2A%3E");
  CHECK(nats::subject_token("50%") == "50%25");
  CHECK(nats::subject_token("\xC3\xA9t\xC3\xA9") == "%C3%A9t%C3%A9");
  CHECK(nats::subject_token("") == "%00");
  CHECK(nats::valid_subject_prefix("cdc"));
  CHECK(nats::valid_subject_prefix("prod.cdc"));
  CHECK_FALSE(nats::valid_subject_prefix("cdc."));
  CHECK_FALSE(nats::valid_subject_prefix("a..b"));
  CHECK_FALSE(nats::valid_subject_prefix("cdc.*"));
  CHECK_FALSE(nats::valid_subject_prefix("c dc"));
}
