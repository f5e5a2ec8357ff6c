// Logger: logfmt shape, quoting, level filtering, and secret redaction.
#include "logging.hpp"

#include <catch2/catch.hpp>

#include <regex>

using namespace replicator::program;

TEST_CASE("a line has time, level, message and fields") {
  std::string out;
  Logger log(LogLevel::info, [&](std::string_view l) { out += l; });
  log.info("streaming started", {{"slot", "s1"}, {"lsn", replicator::Lsn{0x16B3748}}, {"n", 3}, {"ok", true}});
  const std::regex shape(
      R"(time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info msg="streaming started" slot=s1 lsn=0/16B3748 n=3 ok=true\n)");
  CHECK(std::regex_match(out, shape));
}

TEST_CASE("values are quoted and escaped when needed") {
  CHECK(Logger::format(LogLevel::warn, "x", {{"a", ""}, {"b", "has space"}, {"c", "q\"\\"}, {"d", "l1\nl2"}}, false) ==
        "level=warn msg=x a=\"\" b=\"has space\" c=\"q\\\"\\\\\" d=\"l1\\nl2\"\n");
  CHECK(Logger::format(LogLevel::error, "k=v", {}, false) == "level=error msg=\"k=v\"\n");
}

TEST_CASE("levels below the minimum are dropped") {
  std::string out;
  Logger log(LogLevel::warn, [&](std::string_view l) { out += l; });
  log.debug("d");
  log.info("i");
  CHECK(out.empty());
  log.warn("w");
  CHECK(out.find("level=warn") != std::string::npos);
}

TEST_CASE("secrets are masked in every line") {
  std::string out;
  Logger log(LogLevel::debug, [&](std::string_view l) { out += l; });
  log.add_secret("hunter2");
  log.add_secret("");
  log.error("connect failed: password=hunter2 rejected", {{"dsn", "host=x password=hunter2hunter2"}});
  CHECK(out.find("hunter2") == std::string::npos);
  CHECK(out.find("password=*** rejected") != std::string::npos);
  CHECK(out.find("password=******") != std::string::npos);
}
