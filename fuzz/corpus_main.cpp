// Replays a fuzzer's corpus without libFuzzer: calls LLVMFuzzerTestOneInput once per file under
// each directory given on the command line (recursively, so regressions/ is included). Linked
// into a plain cc_test per fuzzer so `bazel test //...` (gcc) replays every seed and regression.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
    return 2;
  }
  std::size_t total = 0;
  for (int i = 1; i < argc; ++i) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(argv[i], ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_regular_file()) files.push_back(it->path());
    }
    if (ec) {
      std::fprintf(stderr, "cannot read %s: %s\n", argv[i], ec.message().c_str());
      return 1;
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      // Copy into an exact-size heap buffer so ASan catches reads past the end, as under libFuzzer.
      auto* exact = new std::uint8_t[bytes.size() == 0 ? 1 : bytes.size()];
      std::copy(bytes.begin(), bytes.end(), exact);
      LLVMFuzzerTestOneInput(bytes.empty() ? nullptr : exact, bytes.size());
      delete[] exact;
      ++total;
    }
    std::printf("replayed %zu inputs from %s\n", files.size(), argv[i]);
    if (files.empty()) {
      std::fprintf(stderr, "no inputs in %s\n", argv[i]);
      return 1;
    }
  }
  std::printf("all %zu inputs ran clean\n", total);
  return 0;
}
