// runfile(): a file of the workspace in the test's runfiles (e.g. "tests/data/basic.stream",
// "tools/decode"). Bazel runs a test in its runfiles root; TEST_SRCDIR/TEST_WORKSPACE name it when
// it does not.
#pragma once

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

namespace replicator::test {

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

}  // namespace replicator::test
