// sink/line_writer.hpp: lines reach the file on flush; a crash's half line and a failed write's
// half batch are cut back; errors say whether waiting can help.
#include "replicator/sink/line_writer.hpp"

#include <catch2/catch.hpp>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

using namespace replicator;

namespace {
std::string temp_path(const char* name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name + "-" + std::to_string(::getpid());
}
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST_CASE("DurableLineWriter buffers until full or flushed") {
  const auto path = temp_path("line-writer");
  std::remove(path.c_str());
  auto w = DurableLineWriter::open_file(path, {.sync = true, .buffer_bytes = 8});
  REQUIRE(w);
  REQUIRE(w->begin_batch());
  w->buffer().append("{\"a\":1}\n");
  CHECK(w->full());
  REQUIRE(w->drain());
  CHECK(w->buffer().empty());
  CHECK(slurp(path) == "{\"a\":1}\n");
  w->buffer().append("{\"b\":2}\n");
  CHECK(slurp(path) == "{\"a\":1}\n");  // still buffered
  REQUIRE(w->flush());
  CHECK(slurp(path) == "{\"a\":1}\n{\"b\":2}\n");
  std::remove(path.c_str());
}

TEST_CASE("DurableLineWriter cuts a partial last line on open") {
  const auto path = temp_path("line-writer-cut");
  { std::ofstream(path) << "{\"a\":1}\n{\"b\":"; }
  auto w = DurableLineWriter::open_file(path);
  REQUIRE(w);
  CHECK(slurp(path) == "{\"a\":1}\n");
  std::remove(path.c_str());
  auto bad = DurableLineWriter::open_file("/nonexistent-dir-for-replicator-test/x.jsonl");
  REQUIRE_FALSE(bad);
  CHECK_FALSE(bad.error().retryable());
}

TEST_CASE("DurableLineWriter on a closed pipe fails as fatal and drops the buffer") {
  ::signal(SIGPIPE, SIG_IGN);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  ::close(fds[0]);
  DurableLineWriter w(fds[1], true, false);
  w.buffer().append("line\n");
  auto st = w.flush();
  REQUIRE_FALSE(st);
  CHECK_FALSE(st.error().retryable());
  CHECK(w.buffer().empty());
  auto again = w.begin_batch();  // a pipe cannot be cut back to the last flush: still an error, never a silent gap
  REQUIRE_FALSE(again);
  CHECK_FALSE(again.error().retryable());
}
