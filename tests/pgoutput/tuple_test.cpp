// pgoutput/tuple.hpp: Relation columns and Truncate OID lists, read from real server bytes.
#include "replicator/pgoutput/tuple.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "replicator/pgoutput/decoder.hpp"
#include "replicator/transport/frame.hpp"
#include "tests/data/corpus.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;
using namespace replicator::pgoutput;

TEST_CASE("Relation columns and tuples of the corpus agree, and truncated tables are known") {
  std::size_t relations = 0, tuples = 0, truncated = 0;
  for (const char* name : test::kCorpusFiles) {
    const auto bytes = test::read_corpus(name);
    transport::FrameReader reader(bytes);
    std::unordered_map<Oid, std::size_t> columns;  // relation oid -> column count
    bool in_stream = false;
    while (!reader.at_end()) {
      auto frame = reader.next();
      REQUIRE(frame);
      auto m = decode_message(frame->payload, in_stream);
      REQUIRE(m);
      std::visit(
          [&](const auto& v) {
            using V = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<V, StreamStartView>) in_stream = true;
            if constexpr (std::is_same_v<V, StreamStopView>) in_stream = false;
            if constexpr (std::is_same_v<V, RelationView>) {
              std::size_t n = 0;
              for (const RelationColumnView c : v.columns) {
                CHECK_FALSE(c.name.empty());
                CHECK(c.type_oid != 0);
                CHECK((c.flags & ~1u) == 0);
                ++n;
              }
              CHECK(n == v.columns.size());
              columns[v.oid] = n;
              ++relations;
            }
            if constexpr (std::is_same_v<V, InsertView>) {
              REQUIRE(columns.count(v.relation_oid));
              CHECK(v.new_tuple.size() == columns[v.relation_oid]);
              ++tuples;
            }
            if constexpr (std::is_same_v<V, TruncateView>) {
              std::size_t n = 0;
              for (const Oid oid : v.relation_oids) {
                CHECK(columns.count(oid));
                CHECK(oid == v.relation_oids[n]);
                ++n;
              }
              CHECK(n == v.relation_oids.size());
              ++truncated;
            }
          },
          *m);
    }
  }
  CHECK(relations > 0);
  CHECK(tuples > 0);
  CHECK(truncated > 0);
}

TEST_CASE("RelationColumnsView reads flags, names, type and modifier") {
  const auto bytes = test::wire::relation(16384, "s p", "t", {{"id", 23, true}, {"note text", 1043, false}});
  auto m = decode_message(bytes, false);
  REQUIRE(m);
  const auto& rel = std::get<RelationView>(*m);
  std::vector<RelationColumnView> cols(rel.columns.begin(), rel.columns.end());
  REQUIRE(cols.size() == 2);
  CHECK(cols[0].is_key());
  CHECK(cols[0].name == "id");
  CHECK(cols[1].name == "note text");
  CHECK(cols[1].type_oid == 1043);
  CHECK(cols[1].type_modifier == -1);
  CHECK_FALSE(cols[1].is_key());
}
