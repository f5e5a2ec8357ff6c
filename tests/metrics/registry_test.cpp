// metrics/registry.hpp: the text exposition (HELP/TYPE, label escaping, histogram buckets with
// le="+Inf", _sum, _count), name checks, and concurrent updates while exposing.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "replicator/metrics/registry.hpp"

using namespace replicator::metrics;

TEST_CASE("counter and gauge exposition with HELP and TYPE", "[metrics]") {
  Registry reg;
  auto& c = reg.counter("demo_total", "A demo counter.");
  auto& g = reg.gauge("demo_value", "A gauge\nwith a \\ in its help.");
  c.get().inc(3);
  g.get().set(2.5);
  const std::string text = reg.expose();
  CHECK(text ==
        "# HELP demo_total A demo counter.\n"
        "# TYPE demo_total counter\n"
        "demo_total 3\n"
        "# HELP demo_value A gauge\\nwith a \\\\ in its help.\n"
        "# TYPE demo_value gauge\n"
        "demo_value 2.5\n");
}

TEST_CASE("label values are escaped and children sorted", "[metrics]") {
  Registry reg;
  auto& f = reg.counter("x_total", "x", {"table", "op"});
  f.with({"public.b", "insert"}).inc();
  f.with({"we\"ird\\tab\nle", "update"}).inc(2);
  f.with({"public.a", "delete"}).inc();
  const std::string text = reg.expose();
  CHECK(text.find("x_total{table=\"public.a\",op=\"delete\"} 1\n") != std::string::npos);
  CHECK(text.find("x_total{table=\"we\\\"ird\\\\tab\\nle\",op=\"update\"} 2\n") != std::string::npos);
  CHECK(text.find("public.a") < text.find("public.b"));
  CHECK(&f.with({"public.a", "delete"}) == &f.with({"public.a", "delete"}));  // same child
  CHECK_THROWS_AS(f.with({"only one"}), std::invalid_argument);
}

TEST_CASE("a labelled family shows no samples until a child exists", "[metrics]") {
  Registry reg;
  (void)reg.counter("y_total", "y", {"reason"});
  CHECK(reg.expose() == "# HELP y_total y\n# TYPE y_total counter\n");
}

TEST_CASE("histogram buckets are cumulative and end in +Inf", "[metrics]") {
  Registry reg;
  auto& h = reg.histogram("lat_seconds", "latency", {0.1, 1, 0.5});
  for (double v : {0.05, 0.1, 0.3, 0.7, 2.0, 3.0}) h.get().observe(v);
  const std::string text = reg.expose();
  CHECK(text ==
        "# HELP lat_seconds latency\n"
        "# TYPE lat_seconds histogram\n"
        "lat_seconds_bucket{le=\"0.1\"} 2\n"
        "lat_seconds_bucket{le=\"0.5\"} 3\n"
        "lat_seconds_bucket{le=\"1\"} 4\n"
        "lat_seconds_bucket{le=\"+Inf\"} 6\n"
        "lat_seconds_sum 6.15\n"
        "lat_seconds_count 6\n");
}

TEST_CASE("labelled histogram puts le last", "[metrics]") {
  Registry reg;
  auto& h = reg.histogram("b", "b", {1}, {"sink"});
  h.with({"file"}).observe(0.5);
  const std::string text = reg.expose();
  CHECK(text.find("b_bucket{sink=\"file\",le=\"1\"} 1\n") != std::string::npos);
  CHECK(text.find("b_bucket{sink=\"file\",le=\"+Inf\"} 1\n") != std::string::npos);
  CHECK(text.find("b_count{sink=\"file\"} 1\n") != std::string::npos);
}

TEST_CASE("special values and large numbers", "[metrics]") {
  Registry reg;
  auto& g = reg.gauge("g", "g", {"k"});
  g.with({"inf"}).set(std::numeric_limits<double>::infinity());
  g.with({"nan"}).set(std::numeric_limits<double>::quiet_NaN());
  g.with({"lsn"}).set(static_cast<double>(0x16B3748ULL));
  auto& c = reg.counter("c_total", "c");
  c.get().set(18446744073709551615ULL);
  const std::string text = reg.expose();
  CHECK(text.find("g{k=\"inf\"} +Inf\n") != std::string::npos);
  CHECK(text.find("g{k=\"nan\"} NaN\n") != std::string::npos);
  CHECK(text.find("g{k=\"lsn\"} 23803720\n") != std::string::npos);
  CHECK(text.find("c_total 18446744073709551615\n") != std::string::npos);
}

TEST_CASE("invalid names are refused at registration", "[metrics]") {
  Registry reg;
  CHECK_THROWS_AS(reg.counter("1abc", "x"), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter("a-b", "x"), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter("ok", "x", {"__reserved"}), std::invalid_argument);
  CHECK_THROWS_AS(reg.counter("ok2", "x", {"a:b"}), std::invalid_argument);
  CHECK_THROWS_AS(reg.histogram("h", "x", {1}, {"le"}), std::invalid_argument);
  (void)reg.counter("dup", "x");
  CHECK_THROWS_AS(reg.gauge("dup", "x"), std::invalid_argument);
  STATIC_REQUIRE(valid_metric_name("replicator:rate_5m"));
  STATIC_REQUIRE_FALSE(valid_metric_name("replicator:rate", true));
}

TEST_CASE("updates from one thread while another exposes", "[metrics]") {
  Registry reg;
  auto& c = reg.counter("n_total", "n").get();
  auto& h = reg.histogram("v", "v", {10, 100}).get();
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 200000; ++i) {
      c.inc();
      h.observe(i % 200);
    }
    done = true;
  });
  std::size_t scrapes = 0;
  while (!done) {
    const auto text = reg.expose();
    REQUIRE(text.find("n_total ") != std::string::npos);
    ++scrapes;
  }
  writer.join();
  CHECK(c.value() == 200000);
  CHECK(h.count() == 200000);
  CHECK(scrapes > 0);
}
