// MemoryPositionStore and FilePositionStore: round trips, atomic replacement, corrupt files.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "replicator/position/file.hpp"
#include "replicator/position/memory.hpp"

using namespace replicator;

namespace {
std::string temp_dir() {
  std::string tmpl =
      (std::getenv("TEST_TMPDIR") ? std::string(std::getenv("TEST_TMPDIR")) : std::string("/tmp")) + "/posXXXXXX";
  REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
  return tmpl;
}
std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}
Position sample() {
  return Position{Lsn{0x16B3748}, 3, "my_slot", 7300000000000000123ULL,
                  std::chrono::system_clock::time_point(std::chrono::microseconds(1764088251123456))};
}
}  // namespace

TEST_CASE("MemoryPositionStore round-trips") {
  MemoryPositionStore s;
  auto empty = s.load();
  REQUIRE(empty);
  CHECK_FALSE(empty->has_value());
  REQUIRE(s.save(sample()));
  auto p = s.load();
  REQUIRE(p);
  REQUIRE(p->has_value());
  CHECK(**p == sample());
  CHECK(s.saves() == 1);
}

TEST_CASE("FilePositionStore round-trips and replaces the file atomically") {
  const std::string dir = temp_dir();
  FilePositionStore s(dir + "/slot.pos");
  auto none = s.load();
  REQUIRE(none);
  CHECK_FALSE(none->has_value());  // no file yet: nothing stored

  REQUIRE(s.save(sample()));
  auto p = s.load();
  REQUIRE(p);
  REQUIRE(p->has_value());
  CHECK(**p == sample());
  CHECK(::access((dir + "/slot.pos.tmp").c_str(), F_OK) != 0);  // the temp file was renamed away

  Position next = sample();
  next.lsn = Lsn{0x2000000};
  REQUIRE(s.save(next));
  CHECK(s.load().value()->lsn == Lsn{0x2000000});
  CHECK_THAT(read(dir + "/slot.pos"), Catch::StartsWith("# replicator position v1\nlsn=0/2000000\n"));

  SECTION("a reader of a fresh store sees the saved position") {
    FilePositionStore again(dir + "/slot.pos");
    CHECK(again.load().value()->slot == "my_slot");
  }
  SECTION("a leftover temp file from a crash mid-save does not matter") {
    write(dir + "/slot.pos.tmp", "half a fi");
    CHECK(FilePositionStore(dir + "/slot.pos").load().value()->lsn == Lsn{0x2000000});
  }
}

TEST_CASE("FilePositionStore: a damaged file is a clear error") {
  const std::string dir = temp_dir();
  const std::string path = dir + "/slot.pos";
  FilePositionStore s(path);
  REQUIRE(s.save(sample()));
  const std::string good = read(path);

  auto expect_corrupt = [&](const std::string& text, const std::string& why) {
    write(path, text);
    auto r = s.load();
    REQUIRE_FALSE(r);
    CHECK_FALSE(r.error().retryable());
    CHECK_THAT(r.error().message, Catch::Contains(path) && Catch::Contains("corrupt") && Catch::Contains(why));
  };
  SECTION("one byte changed") {
    std::string t = good;
    t[t.find("lsn=") + 4] = '9';
    expect_corrupt(t, "crc32 mismatch");
  }
  SECTION("truncated") { expect_corrupt(good.substr(0, good.size() / 2), "crc32"); }
  SECTION("cut inside the crc line") { expect_corrupt(good.substr(0, good.size() - 3), "crc32"); }
  SECTION("empty") { expect_corrupt("", "header"); }
  SECTION("another format") { expect_corrupt("lsn=0/1\n", "header"); }
  SECTION("a key missing, with a valid crc") {
    std::string body = std::string(FilePositionStore::kHeader) + "lsn=0/1\n";
    char crc[16];
    auto [end, ec] = std::to_chars(crc, crc + 16, detail::crc32(body), 16);
    (void)ec;
    expect_corrupt(body + "crc32=" + std::string(crc, end) + "\n", "missing");
  }
  SECTION("an unparsable value, with a valid crc") {
    Position p = sample();
    std::string t = FilePositionStore::format(p);
    std::string body = t.substr(0, t.find("crc32="));
    const auto at = body.find("timeline=3");
    body.replace(at, 10, "timeline=x");
    char crc[16];
    auto [end, ec] = std::to_chars(crc, crc + 16, detail::crc32(body), 16);
    (void)ec;
    expect_corrupt(body + "crc32=" + std::string(crc, end) + "\n", "timeline");
  }
}

TEST_CASE("FilePositionStore: unwritable places are retryable errors; bad slot names refused") {
  FilePositionStore s("/nonexistent-dir-for-replicator-test/slot.pos");
  auto st = s.save(sample());
  REQUIRE_FALSE(st);
  CHECK(st.error().retryable());
  CHECK_THAT(st.error().message, Catch::Contains("nonexistent-dir-for-replicator-test"));

  const std::string dir = temp_dir();
  FilePositionStore ok(dir + "/p");
  Position bad = sample();
  bad.slot = "bad\nslot=x";
  REQUIRE_FALSE(ok.save(bad));
  Position unnamed = sample();
  unnamed.slot.clear();
  REQUIRE(ok.save(unnamed));  // a store used without a slot name
  CHECK(ok.load().value()->slot.empty());
}
