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
#include "tests/support/runfiles.hpp"

namespace replicator::test {

// streaming_v4.stream comes from PostgreSQL 16 (protocol 4, streaming=parallel), the rest from 15.
inline constexpr const char* kCorpusFiles[] = {"basic.stream", "binary.stream", "streaming.stream", "two_phase.stream",
                                               "streaming_v4.stream"};

inline std::string corpus_path(const std::string& name) { return runfile("tests/data/" + name); }

inline std::vector<std::byte> read_corpus(const std::string& name) {
  std::ifstream in(corpus_path(name), std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> out(chars.size());
  for (std::size_t i = 0; i < chars.size(); ++i) out[i] = static_cast<std::byte>(chars[i]);
  return out;
}

}  // namespace replicator::test
