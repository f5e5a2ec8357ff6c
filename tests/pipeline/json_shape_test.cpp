// The JSON lines sink writes the `decode` program's shape: over the captured streams, the change
// lines the whole Replicator writes equal the ones `decode` prints for the same file.
#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "replicator/batch/batcher.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/json_lines.hpp"
#include "replicator/transport/replay.hpp"
#include "tests/support/policies.hpp"

using namespace replicator;

namespace {
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}
// Row, truncate and message lines only (decode also prints relation/type/stream control lines).
std::vector<std::string> changes(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) {
    for (const char* op : {"insert", "update", "delete", "truncate", "message"}) {
      if (l.rfind(std::string("{\"op\":\"") + op + "\"", 0) == 0) {
        out.push_back(l);
        break;
      }
    }
  }
  return out;
}
std::string run_decode(const std::string& file) {
  const std::string cmd = test::runfile("tools/decode") + " " + file;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  REQUIRE(::pclose(p) == 0);
  return out;
}
std::string run_replicator(const std::string& file) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string out_path = std::string(tmp ? tmp : "/tmp") + "/shape_" + std::to_string(::getpid()) + ".jsonl";
  std::remove(out_path.c_str());
  auto t = transport::ReplayTransport::open(file);
  REQUIRE(t);
  JsonLinesOptions options;
  options.transactions = false;
  options.schema_changes = false;
  auto sink = JsonLinesSink::open_file(out_path, options);
  REQUIRE(sink);
  Replicator r(std::move(*t), PgOutputEventDecoder{}, TransactionBatcher{}, MemoryPositionStore{}, std::move(*sink));
  std::atomic<bool> stop{false};
  auto st = r.run(stop);
  INFO((st ? std::string() : st.error().message));
  REQUIRE(st);
  std::ifstream in(out_path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("JSON lines sink and decode agree on the captured streams") {
  for (const char* name : {"basic.stream", "binary.stream"}) {
    INFO(name);
    const std::string file = test::runfile(std::string("tests/data/") + name);
    const auto expected = changes(lines_of(run_decode(file)));
    const auto actual = lines_of(run_replicator(file));
    REQUIRE_FALSE(expected.empty());
    CHECK(actual == expected);
  }
}
