// Ready-made live stacks over LibpqTransport (needs libpq: //:replicator_libpq).
//   JsonLinesReplicator r(LibpqTransport(cfg, {.slot_name = "cdc", .publication_names = {"pub"}}),
//                         PgOutputEventDecoder{}, TransactionBatcher{}, FilePositionStore("cdc.pos"),
//                         JsonLinesSink::to_stdout(), {.slot_name = "cdc"});
#pragma once

#include "replicator/batch/batcher.hpp"
#include "replicator/filter/change_filter.hpp"
#include "replicator/pgoutput/event_decoder.hpp"
#include "replicator/position/file.hpp"
#include "replicator/position/memory.hpp"
#include "replicator/position/postgres.hpp"
#include "replicator/replicator.hpp"
#include "replicator/sink/json_lines.hpp"
#include "replicator/transport/libpq.hpp"

namespace replicator {

// JSON lines to stdout or a file, one batch per transaction, position in a file.
using JsonLinesReplicator =
    Replicator<LibpqTransport, PgOutputEventDecoder, TransactionBatcher, FilePositionStore, JsonLinesSink>;

// Same, batching by any of count / bytes / age.
using BatchedJsonLinesReplicator =
    Replicator<LibpqTransport, PgOutputEventDecoder, CombinedBatcher, FilePositionStore, JsonLinesSink>;

// Position kept in a table of the source (or another) database.
using PostgresJsonLinesReplicator =
    Replicator<LibpqTransport, PgOutputEventDecoder, CombinedBatcher, PostgresPositionStore, JsonLinesSink>;

// Any sink over the live transport (e.g. a CallbackSink), optionally with a filter stage
// (filter/change_filter.hpp's ChangeFilter).
template <class Sink, class Batcher = TransactionBatcher, class PositionStore = FilePositionStore,
          class Filter = PassAllFilter>
using LiveReplicator = Replicator<LibpqTransport, PgOutputEventDecoder, Batcher, PositionStore, Sink, Filter>;

}  // namespace replicator
