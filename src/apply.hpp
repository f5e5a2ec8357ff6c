// sink: postgresql (docs/apply.md): the PostgresApplySink of the config, its conflicts logged
// (table, key, kind, resolution) and counted in replicator_apply_conflicts_total once the metrics exist.
//   auto sink = make_apply_sink(cfg, log);   // the position store is sink.position_store()
//   count_apply_conflicts(mon.metrics().registry());
#pragma once

#include "config.hpp"
#include "logging.hpp"
#include "replicator/metrics/registry.hpp"
#include "replicator/sink/postgres_apply.hpp"

namespace replicator::program {

// The target connection (apply_dsn over postgresql_*), origin "replicator_<slot>", the policies.
[[nodiscard]] PostgresApplySink make_apply_sink(const Config& cfg, Logger& log);

// From now on conflicts also count in `registry` (by kind and resolution).
void count_apply_conflicts(metrics::Registry& registry);

}  // namespace replicator::program
