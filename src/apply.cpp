#include "apply.hpp"

#include <atomic>
#include <string>
#include <utility>

namespace replicator::program {
namespace {
std::atomic<metrics::Family<metrics::Counter>*> conflicts_counter{nullptr};
}  // namespace

PostgresApplySink make_apply_sink(const Config& cfg, Logger& log) {
  ConnectionConfig target = cfg.source;
  target.application_name = "replicator-apply";
  target = connection_from_dsn(std::move(target), cfg.apply_dsn);
  PostgresApplyOptions o = cfg.apply;
  o.origin_name = "replicator_" + cfg.slot_name();
  for (const auto& m : cfg.apply_table_map) {  // validated: source=target
    const auto eq = m.find('=');
    o.table_map.push_back({m.substr(0, eq), m.substr(eq + 1)});
  }
  o.on_conflict_found = [&log](const ApplyConflict& c) {
    log.warn("apply conflict", {{"table", c.table},
                                {"key", c.key},
                                {"kind", to_string(c.kind)},
                                {"resolution", c.resolution},
                                {"commit_lsn", c.commit_lsn}});
    if (auto* family = conflicts_counter.load()) family->with({to_string(c.kind), c.resolution}).inc();
  };
  log.info("apply target", {{"libpq", target.redacted()},
                            {"origin", o.origin_name},
                            {"on_conflict", to_string(o.on_conflict)},
                            {"on_missing", to_string(o.on_missing)},
                            {"workers", o.workers}});
  return PostgresApplySink(std::move(target), std::move(o));
}

void count_apply_conflicts(metrics::Registry& registry) {
  conflicts_counter.store(&registry.counter("replicator_apply_conflicts_total",
                                            "Apply conflicts resolved by apply_on_conflict / apply_on_missing.",
                                            {"kind", "resolution"}));
}

}  // namespace replicator::program
