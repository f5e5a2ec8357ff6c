// Finds the captured stream files of tests/data in a test's runfiles.
//   auto bytes = replicator::test::read_corpus("basic.stream");   // std::vector<std::byte>
#pragma once

#include <cstddef>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace replicator::test {

// streaming_v4.stream comes from PostgreSQL 16 (protocol 4, streaming=parallel), the rest from 15.
inline constexpr const char* kCorpusFiles[] = {"basic.stream", "binary.stream", "streaming.stream",
                                               "two_phase.stream", "streaming_v4.stream"};

// A file of the workspace in the test's runfiles (e.g. "tools/decode"). Bazel runs a test in its
// runfiles root; TEST_SRCDIR/TEST_WORKSPACE name it when it does not.
inline std::string runfile(const std::string& rel) {
  if (std::ifstream(rel).good()) return rel;
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr) {
    const std::string p = std::string(srcdir) + "/" + (ws ? ws : "replicator") + "/" + rel;
    if (std::ifstream(p).good()) return p;
  }
  throw std::runtime_error("runfile not found: " + rel);
}

inline std::string corpus_path(const std::string& name) { return runfile("tests/data/" + name); }

inline std::vector<std::byte> read_corpus(const std::string& name) {
  std::ifstream in(corpus_path(name), std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) out[i] = static_cast<std::byte>(chars[i]);
  return out;
}

}  // namespace replicator::test
