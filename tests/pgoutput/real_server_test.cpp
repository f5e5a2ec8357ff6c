// Decodes the streams captured from a real PostgreSQL 15 (tests/data, made by
// scripts/capture_corpus.sh) and checks that every message type it emits is there with plausible
// fields: table names, values, flags, and xids that match between related messages.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "replicator/pgoutput/decoder.hpp"
#include "replicator/pgoutput/relation_cache.hpp"
#include "replicator/transport/replay.hpp"
#include "tests/data/corpus.hpp"

using namespace replicator;
using namespace replicator::pgoutput;

namespace {

struct Decoded {
  Lsn lsn;
  Message msg;
  bool in_stream = false;  // between Stream Start and Stop
};

// A whole corpus file decoded; the transport keeps the bytes the views point into.
struct Corpus {
  std::unique_ptr<transport::ReplayTransport> transport;
  std::vector<Decoded> messages;
  RelationCache relations;

  template <class V>
  [[nodiscard]] std::vector<const V*> all() const {
    std::vector<const V*> out;
    for (const auto& d : messages)
      if (const auto* v = std::get_if<V>(&d.msg)) out.push_back(v);
    return out;
  }
  [[nodiscard]] const RelationInfo& table(std::string_view name) const {
    for (const auto& d : messages)
      if (const auto* r = std::get_if<RelationView>(&d.msg); r && r->name == name) return *relations.find(r->oid);
    FAIL("no Relation message for " << name);
    throw;
  }
  [[nodiscard]] std::string name_of(Oid oid) const {
    const auto* r = relations.find(oid);
    return r ? r->name : "?";
  }
};

Corpus load(const char* name) {
  Corpus c;
  auto t = transport::ReplayTransport::open(test::corpus_path(name));
  REQUIRE(t);
  c.transport = std::make_unique<transport::ReplayTransport>(std::move(*t));
  REQUIRE(c.transport->start(Lsn::invalid()));
  PgOutputDecoder decoder;
  while (true) {
    auto ev = c.transport->poll(std::chrono::milliseconds(0));
    REQUIRE(ev);
    if (std::holds_alternative<EndOfStream>(*ev)) break;
    const auto& w = std::get<WalMessage>(*ev);
    const bool in_stream = decoder.in_stream();
    auto m = decoder.decode(w.payload, w.offset);
    INFO(name << " at offset " << w.offset);
    REQUIRE(m);
    if (const auto* r = std::get_if<RelationView>(&*m)) c.relations.apply(*r);
    if (const auto* y = std::get_if<TypeView>(&*m)) c.relations.apply(*y);
    c.messages.push_back({w.wal_start, *m, in_stream});
  }
  CHECK_FALSE(decoder.in_stream());
  return c;
}

std::vector<std::optional<std::string>> tuple_values(TupleView t) {
  std::vector<std::optional<std::string>> out;
  for (ColumnValueView v : t) {
    if (v.is_null()) out.emplace_back(std::nullopt);
    else if (v.is_unchanged_toast()) out.emplace_back("<unchanged toast>");
    else out.emplace_back(std::string(v.text()));
  }
  return out;
}
using Row = std::vector<std::optional<std::string>>;
const std::optional<std::string> null = std::nullopt;

std::string bytes_hex(std::span<const std::byte> b) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string s;
  for (std::byte x : b) {
    s += hex[static_cast<unsigned>(x) >> 4];
    s += hex[static_cast<unsigned>(x) & 0xF];
  }
  return s;
}

// Checks Begin/Commit pairing and that every change sits inside one; returns the xid of each message
// (0 outside a transaction).
std::vector<Xid> check_transactions(const Corpus& c) {
  std::vector<Xid> xids;
  const BeginView* open = nullptr;
  Xid last_xid = 0;
  for (const auto& d : c.messages) {
    if (const auto* b = std::get_if<BeginView>(&d.msg)) {
      CHECK(open == nullptr);
      open = b;
      CHECK(b->xid > last_xid);
      last_xid = b->xid;
    }
    xids.push_back(open ? open->xid : 0);
    if (const auto* cm = std::get_if<CommitView>(&d.msg)) {
      REQUIRE(open != nullptr);
      CHECK(cm->commit_lsn == open->final_lsn);
      CHECK(cm->commit_time == open->commit_time);
      CHECK(cm->end_lsn > cm->commit_lsn);
      CHECK(d.lsn == cm->end_lsn);  // the frame carries the commit's end LSN
      open = nullptr;
    }
    const bool change = std::holds_alternative<InsertView>(d.msg) || std::holds_alternative<UpdateView>(d.msg) ||
                        std::holds_alternative<DeleteView>(d.msg) || std::holds_alternative<TruncateView>(d.msg);
    if (change && !d.in_stream) CHECK(open != nullptr);
  }
  CHECK(open == nullptr);
  return xids;
}

template <class V>
std::size_t count_of(const Corpus& c) {
  return c.all<V>().size();
}

}  // namespace

TEST_CASE("basic.stream: protocol 1 with every replica identity, TOAST, TRUNCATE, messages, origin") {
  const Corpus c = load("basic.stream");
  const auto xids = check_transactions(c);
  CHECK(count_of<BeginView>(c) >= 15);
  CHECK(count_of<BeginView>(c) == count_of<CommitView>(c));
  for (const auto& d : c.messages) CHECK_FALSE(d.in_stream);

  // Relation messages: names, replica identities, key flags.
  std::set<std::string> names;
  for (const auto* r : c.all<RelationView>()) {
    names.insert(std::string(r->name));
    CHECK(r->schema == "public");
    CHECK(r->xid == 0);
  }
  CHECK(names == std::set<std::string>{"t_default", "t_full", "t_index", "t_nothing", "t_toast", "tr_a", "tr_b"});
  const RelationInfo& t_default = c.table("t_default");
  const RelationInfo& t_full = c.table("t_full");
  const RelationInfo& t_index = c.table("t_index");
  const RelationInfo& t_nothing = c.table("t_nothing");
  const RelationInfo& t_toast = c.table("t_toast");
  CHECK(t_default.replica_identity == ReplicaIdentity::default_);
  CHECK(t_full.replica_identity == ReplicaIdentity::full);
  CHECK(t_index.replica_identity == ReplicaIdentity::index);
  CHECK(t_nothing.replica_identity == ReplicaIdentity::nothing);
  REQUIRE(t_default.columns.size() == 6);
  CHECK(t_default.columns[0].name == "id");
  CHECK(t_default.columns[0].is_key);
  CHECK(t_default.columns[0].type_oid == 23);
  CHECK_FALSE(t_default.columns[1].is_key);
  CHECK(t_default.columns[5].name == "note");
  CHECK(t_default.columns[5].type_oid == 1043);
  CHECK(t_default.columns[5].type_modifier == 24);  // varchar(20): 20 + VARHDRSZ
  for (const auto& col : t_full.columns) CHECK(col.is_key);
  REQUIRE(t_index.columns.size() == 3);
  CHECK_FALSE(t_index.columns[0].is_key);
  CHECK(t_index.columns[1].is_key);
  for (const auto& col : t_nothing.columns) CHECK_FALSE(col.is_key);

  // Type messages for the enum, the domain and the composite column.
  std::map<Oid, std::string> types;
  for (const auto* y : c.all<TypeView>()) types[y->oid] = std::string(y->name);
  REQUIRE(types.count(t_default.columns[2].type_oid) == 1);
  CHECK(types[t_default.columns[2].type_oid] == "mood");
  CHECK(types.count(t_default.columns[3].type_oid) == 1);  // the domain (named after its base type by pgoutput)
  REQUIRE(types.count(t_default.columns[4].type_oid) == 1);
  CHECK(types[t_default.columns[4].type_oid] == "pair");

  // Inserts, with NULLs and characters that need escaping.
  std::vector<Row> default_inserts;
  for (const auto* i : c.all<InsertView>())
    if (i->relation_oid == t_default.oid) default_inserts.push_back(tuple_values(i->new_tuple));
  REQUIRE(default_inserts.size() == 4);
  CHECK(default_inserts[0] == Row{"1", "alice", "happy", "5", "(1,x)", "n1"});
  CHECK(default_inserts[1] == Row{"2", "bob", null, null, null, null});
  CHECK(default_inserts[2][1] == std::optional<std::string>("quote \" backslash \\ tab \t newline \n accent é"));
  CHECK(default_inserts[2][4] == std::optional<std::string>("(2,\"y z\")"));
  CHECK(default_inserts[3][1] == std::optional<std::string>("from origin"));

  // Updates: no old tuple, old key 'K' (key changed), old row 'O' (FULL), unchanged TOAST.
  bool plain = false, key_change = false, full = false, index_key = false, toast = false;
  for (const auto* u : c.all<UpdateView>()) {
    const auto nv = tuple_values(u->new_tuple);
    const auto ov = tuple_values(u->old_tuple);
    if (u->relation_oid == t_default.oid && u->old_kind == OldTupleKind::none) {
      plain = nv == Row{"1", "alice2", "happy", "5", "(1,x)", "n1"};
    } else if (u->relation_oid == t_default.oid && u->old_kind == OldTupleKind::key) {
      key_change = ov == Row{"2", null, null, null, null, null} && nv[0] == std::optional<std::string>("100");
    } else if (u->relation_oid == t_full.oid) {
      CHECK(u->old_kind == OldTupleKind::full);
      full = ov == Row{"1", "a"} && nv == Row{"1", "b"};
    } else if (u->relation_oid == t_index.oid && u->old_kind == OldTupleKind::key) {
      index_key = ov == Row{null, "c1", null} && nv == Row{"1", "c2", "w"};
    } else if (u->relation_oid == t_toast.oid) {
      CHECK(u->old_kind == OldTupleKind::none);
      REQUIRE(u->new_tuple.size() == 3);
      toast = u->new_tuple[1].is_unchanged_toast() && nv[2] == std::optional<std::string>("1");
    }
  }
  CHECK(plain);
  CHECK(key_change);
  CHECK(full);
  CHECK(index_key);
  CHECK(toast);
  // The TOAST value itself came in full with the insert.
  for (const auto* i : c.all<InsertView>())
    if (i->relation_oid == t_toast.oid) CHECK(i->new_tuple[1].text().size() == 256 * 32);

  // Deletes: key for DEFAULT / USING INDEX, whole row for FULL.
  std::map<std::string, std::pair<OldTupleKind, Row>> deletes;
  for (const auto* d : c.all<DeleteView>())
    deletes[c.name_of(d->relation_oid)] = {d->old_kind, tuple_values(d->old_tuple)};
  CHECK(deletes["t_default"] == std::pair{OldTupleKind::key, Row{"3", null, null, null, null, null}});
  CHECK(deletes["t_full"] == std::pair{OldTupleKind::full, Row{"2", null}});
  CHECK(deletes["t_index"] == std::pair{OldTupleKind::key, Row{null, "c2", null}});
  CHECK(deletes["t_toast"] == std::pair{OldTupleKind::key, Row{"1", null, null}});

  // Truncate: CASCADE + RESTART IDENTITY over two tables, and a plain one.
  const auto truncates = c.all<TruncateView>();
  REQUIRE(truncates.size() == 2);
  CHECK(truncates[0]->cascade());
  CHECK(truncates[0]->restart_identity());
  std::set<std::string> truncated;
  for (Oid oid : truncates[0]->relation_oids) truncated.insert(c.name_of(oid));
  CHECK(truncated == std::set<std::string>{"tr_a", "tr_b"});
  CHECK_FALSE(truncates[1]->cascade());
  CHECK_FALSE(truncates[1]->restart_identity());
  REQUIRE(truncates[1]->relation_oids.size() == 1);
  CHECK(c.name_of(truncates[1]->relation_oids[0]) == "t_full");

  // Messages: transactional inside its transaction, non-transactional outside any.
  bool tx = false, nontx = false;
  for (std::size_t i = 0; i < c.messages.size(); ++i) {
    const auto* m = std::get_if<LogicalMessageView>(&c.messages[i].msg);
    if (m == nullptr) continue;
    CHECK(m->lsn == c.messages[i].lsn);
    if (m->transactional()) {
      tx = m->prefix == "corpus.tx" &&
           bytes_hex(m->content) == bytes_hex(std::as_bytes(std::span(std::string_view("hello transactional"))));
      CHECK(xids[i] != 0);
    } else {
      nontx = m->prefix == "corpus.nontx" && bytes_hex(m->content) == "00ff10";
      CHECK(xids[i] == 0);
    }
  }
  CHECK(tx);
  CHECK(nontx);

  // Origin: right after the Begin of the transaction replayed with the origin set.
  const auto origins = c.all<OriginView>();
  REQUIRE(origins.size() == 1);
  CHECK(origins[0]->name == "corpus_origin");
  CHECK(origins[0]->commit_lsn == *Lsn::parse("0/ABCDEF"));
  for (std::size_t i = 1; i < c.messages.size(); ++i) {
    if (!std::holds_alternative<OriginView>(c.messages[i].msg)) continue;
    const auto* b = std::get_if<BeginView>(&c.messages[i - 1].msg);
    REQUIRE(b != nullptr);
    CHECK(b->commit_time.to_string() == "2020-01-01T00:00:00.000000Z");
  }
}

TEST_CASE("binary.stream: binary=true sends 'b' columns in the types' send format") {
  const Corpus c = load("binary.stream");
  check_transactions(c);
  const RelationInfo& t = c.table("t_bin");
  REQUIRE(t.columns.size() == 8);
  CHECK(count_of<TypeView>(c) == 1);
  const auto inserts = c.all<InsertView>();
  REQUIRE(inserts.size() == 2);
  std::vector<std::string> first;
  for (ColumnValueView v : inserts[0]->new_tuple) {
    CHECK(v.kind == ColumnKind::binary);
    first.push_back(bytes_hex(v.bytes));
  }
  CHECK(first[0] == "00000001");  // int4
  CHECK(first[1] == bytes_hex(std::as_bytes(std::span(std::string_view("text")))));
  CHECK(first[2] == "deadbeef");                                                   // bytea
  CHECK(first[5] == bytes_hex(std::as_bytes(std::span(std::string_view("ok")))));  // enum: its label
  CHECK(first[6] == "3ff8000000000000");                                           // float8 1.5
  CHECK(first[7] == "01");                                                         // bool
  CHECK(tuple_values(inserts[1]->new_tuple)[1] == null);
  const auto updates = c.all<UpdateView>();
  REQUIRE(updates.size() == 1);
  CHECK(updates[0]->new_tuple[1].kind == ColumnKind::binary);
  CHECK(updates[0]->new_tuple[1].text() == "changed");
  const auto deletes = c.all<DeleteView>();
  REQUIRE(deletes.size() == 1);
  CHECK(deletes[0]->old_kind == OldTupleKind::key);
  CHECK(bytes_hex(deletes[0]->old_tuple[0].bytes) == "00000002");
}

TEST_CASE("streaming.stream: Stream Start/Stop/Commit/Abort with per-message xids") {
  const Corpus c = load("streaming.stream");
  const auto starts = c.all<StreamStartView>();
  const auto stops = c.all<StreamStopView>();
  const auto commits = c.all<StreamCommitView>();
  const auto aborts = c.all<StreamAbortView>();
  CHECK(starts.size() >= 6);
  CHECK(starts.size() == stops.size());
  REQUIRE(commits.size() == 2);
  REQUIRE(aborts.size() == 2);

  // first_segment only on each xid's first block.
  std::set<Xid> seen;
  for (const auto* s : starts) {
    CHECK(s->first_segment == !seen.count(s->xid));
    seen.insert(s->xid);
  }
  CHECK(seen.size() == 3);

  // Data inside a block carries the streamed (sub)transaction's xid; Relation is re-sent per stream.
  Xid block = 0;
  std::map<Xid, std::size_t> inserts_by_top;
  std::map<Xid, std::set<Xid>> subxids;
  for (const auto& d : c.messages) {
    if (const auto* s = std::get_if<StreamStartView>(&d.msg)) block = s->xid;
    if (std::holds_alternative<StreamStopView>(d.msg)) block = 0;
    if (!d.in_stream) continue;
    if (const auto* i = std::get_if<InsertView>(&d.msg)) {
      CHECK(i->xid >= block);
      ++inserts_by_top[block];
      if (i->xid != block) subxids[block].insert(i->xid);
    }
    if (const auto* r = std::get_if<RelationView>(&d.msg)) {
      CHECK(r->xid != 0);
      CHECK(r->name == "t_stream");
    }
  }
  const Xid committed = commits[0]->xid;
  CHECK(inserts_by_top[committed] == 1000);
  CHECK(subxids[committed].empty());
  // The rolled-back transaction: streamed, then aborted whole (subxid == xid), never committed.
  const auto* whole = aborts[0];
  CHECK(whole->xid == whole->subxid);
  CHECK_FALSE(whole->has_abort_info);
  CHECK(seen.count(whole->xid) == 1);
  for (const auto* cm : commits) CHECK(cm->xid != whole->xid);
  CHECK(inserts_by_top[whole->xid] > 0);
  // ROLLBACK TO SAVEPOINT inside a streamed transaction: a sub-transaction abort, then its commit.
  const auto* sub = aborts[1];
  CHECK(sub->xid != sub->subxid);
  CHECK(subxids[sub->xid].count(sub->subxid) == 1);
  CHECK(commits[1]->xid == sub->xid);
  CHECK(inserts_by_top[sub->xid] > 300);  // part of the rolled-back sub-transaction was streamed first
  for (const auto* cm : commits) {
    CHECK(cm->end_lsn > cm->commit_lsn);
    CHECK(cm->flags == 0);
  }
  // The small transaction between the streamed ones is a normal Begin/Commit.
  const auto xids = check_transactions(c);
  REQUIRE(count_of<BeginView>(c) == 1);
  bool small = false;
  for (std::size_t i = 0; i < c.messages.size(); ++i)
    if (const auto* ins = std::get_if<InsertView>(&c.messages[i].msg); ins && !c.messages[i].in_stream)
      small = xids[i] == c.all<BeginView>()[0]->xid && tuple_values(ins->new_tuple) == Row{"-1", "small"};
  CHECK(small);
}

TEST_CASE(
    "streaming_v4.stream: protocol 4 (PostgreSQL 16, streaming=parallel) Stream Abort carries abort LSN and time") {
  const Corpus c = load("streaming_v4.stream");
  const auto starts = c.all<StreamStartView>();
  const auto commits = c.all<StreamCommitView>();
  const auto aborts = c.all<StreamAbortView>();
  REQUIRE(commits.size() == 2);
  REQUIRE(aborts.size() == 2);
  CHECK(starts.size() == c.all<StreamStopView>().size());

  // The commit before each abort bounds its time and position (the workload runs in that order).
  const auto* whole = aborts[0];  // ROLLBACK of a large transaction
  const auto* sub = aborts[1];    // ROLLBACK TO SAVEPOINT inside a large transaction
  CHECK(whole->xid == whole->subxid);
  CHECK(sub->xid != sub->subxid);
  CHECK(commits[1]->xid == sub->xid);  // the sub-transaction's parent committed later
  for (const auto* a : aborts) {
    CHECK(a->has_abort_info);
    CHECK(a->abort_lsn.is_valid());
    CHECK(a->abort_time.micros_since_2000() > 0);
  }
  // In WAL and time order: first commit < whole abort < sub abort < second commit.
  CHECK(commits[0]->end_lsn <= whole->abort_lsn);
  CHECK(whole->abort_lsn < sub->abort_lsn);
  CHECK(sub->abort_lsn < commits[1]->commit_lsn);
  CHECK(commits[0]->commit_time <= whole->abort_time);
  CHECK(whole->abort_time <= sub->abort_time);
  CHECK(sub->abort_time <= commits[1]->commit_time);
  // Captured in 2026: a plausible wall-clock time, not garbage (2020-01-01 .. 2100-01-01 in PostgreSQL micros).
  CHECK(whole->abort_time.micros_since_2000() > 631'152'000'000'000);
  CHECK(whole->abort_time.micros_since_2000() < 3'155'760'000'000'000);

  // The frames carry the abort where the server sent it; each abort follows its stream's blocks.
  for (std::size_t i = 0; i < c.messages.size(); ++i) {
    if (const auto* a = std::get_if<StreamAbortView>(&c.messages[i].msg)) {
      CHECK_FALSE(c.messages[i].in_stream);
      bool streamed = false;
      for (std::size_t j = 0; j < i; ++j)
        if (const auto* s = std::get_if<StreamStartView>(&c.messages[j].msg)) streamed = streamed || s->xid == a->xid;
      CHECK(streamed);
    }
  }
  CHECK(count_of<BeginView>(c) == 1);  // the small transaction between them
}

TEST_CASE("two_phase.stream: Begin Prepare/Prepare/Commit Prepared/Rollback Prepared and Stream Prepare") {
  const Corpus c = load("two_phase.stream");
  const auto begins = c.all<BeginPrepareView>();
  const auto prepares = c.all<PrepareView>();
  const auto commits = c.all<CommitPreparedView>();
  const auto rollbacks = c.all<RollbackPreparedView>();
  const auto stream_prepares = c.all<StreamPrepareView>();
  REQUIRE(begins.size() == 2);
  REQUIRE(prepares.size() == 2);
  REQUIRE(commits.size() == 2);
  REQUIRE(rollbacks.size() == 1);
  REQUIRE(stream_prepares.size() == 1);
  CHECK(count_of<BeginView>(c) == 0);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(begins[i]->gid == prepares[i]->gid);
    CHECK(begins[i]->xid == prepares[i]->xid);
    CHECK(begins[i]->prepare_lsn == prepares[i]->prepare_lsn);
    CHECK(begins[i]->end_lsn == prepares[i]->end_lsn);
    CHECK(begins[i]->prepare_time == prepares[i]->prepare_time);
  }
  CHECK(begins[0]->gid == "corpus_gid_1");
  CHECK(begins[1]->gid == "corpus_gid_2");
  CHECK(commits[0]->gid == "corpus_gid_1");
  CHECK(commits[0]->xid == begins[0]->xid);
  CHECK(commits[0]->commit_lsn >= prepares[0]->end_lsn);
  CHECK(rollbacks[0]->gid == "corpus_gid_2");
  CHECK(rollbacks[0]->xid == begins[1]->xid);
  CHECK(rollbacks[0]->prepare_end_lsn == prepares[1]->end_lsn);
  CHECK(rollbacks[0]->prepare_time == prepares[1]->prepare_time);
  CHECK(rollbacks[0]->rollback_end_lsn > rollbacks[0]->prepare_end_lsn);

  // The big prepared transaction was streamed, then Stream Prepare, then Commit Prepared.
  const auto* sp = stream_prepares[0];
  CHECK(sp->gid == "corpus_gid_3");
  std::size_t streamed = 0;
  for (const auto& d : c.messages)
    if (const auto* i = std::get_if<InsertView>(&d.msg); i && d.in_stream) {
      CHECK(i->xid == sp->xid);
      ++streamed;
    }
  CHECK(streamed == 1000);
  for (const auto* s : c.all<StreamStartView>()) CHECK(s->xid == sp->xid);
  CHECK(commits[1]->gid == "corpus_gid_3");
  CHECK(commits[1]->xid == sp->xid);
  CHECK(commits[1]->commit_lsn >= sp->end_lsn);

  // The prepared rows themselves.
  std::vector<Row> small;
  for (const auto& d : c.messages)
    if (const auto* i = std::get_if<InsertView>(&d.msg); i && !d.in_stream) small.push_back(tuple_values(i->new_tuple));
  CHECK(small == std::vector<Row>{Row{"1", "p1"}, Row{"2", "p2"}});
}

TEST_CASE("Every message type PostgreSQL 15 and 16 emit is in the corpus") {
  std::set<std::string> kinds;
  std::set<char> tuple_kinds;
  for (const char* name : test::kCorpusFiles) {
    const Corpus c = load(name);
    for (const auto& d : c.messages) {
      kinds.insert(std::string(message_name(d.msg)));
      auto note = [&](TupleView t) {
        for (ColumnValueView v : t) tuple_kinds.insert(static_cast<char>(v.kind));
      };
      if (const auto* i = std::get_if<InsertView>(&d.msg)) note(i->new_tuple);
      if (const auto* u = std::get_if<UpdateView>(&d.msg)) note(u->new_tuple);
    }
  }
  // All 19 message kinds (the protocol 4 Stream Abort fields: streaming_v4.stream from PostgreSQL 16).
  CHECK(kinds.size() == std::variant_size_v<Message>);
  CHECK(tuple_kinds == std::set<char>{'n', 'u', 't', 'b'});
}

TEST_CASE("The decode program prints one JSON line per message of each corpus file") {
  const std::string decode = test::runfile("tools/decode");
  const char* tmp = std::getenv("TEST_TMPDIR");
  for (const char* name : test::kCorpusFiles) {
    INFO(name);
    const Corpus c = load(name);
    const std::string out = std::string(tmp ? tmp : "/tmp") + "/" + name + ".jsonl";
    const int rc = std::system((decode + " '" + test::corpus_path(name) + "' > '" + out + "'").c_str());
    REQUIRE(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 0);
    std::ifstream in(out);
    std::size_t lines = 0;
    std::string line;
    while (std::getline(in, line)) {
      CHECK(line.front() == '{');
      CHECK(line.back() == '}');
      ++lines;
    }
    CHECK(lines == c.messages.size());
  }
  // A malformed message after good ones: everything before it is printed, then exit 1 with the offset.
  {
    auto bytes = test::read_corpus("basic.stream");
    transport::FrameReader r(bytes);
    std::size_t good_lines = 0;
    for (; good_lines < 5; ++good_lines) REQUIRE(r.next());
    bytes.resize(r.consumed());
    const std::size_t bad_payload_offset = bytes.size() + transport::kFrameHeaderSize;
    transport::FrameWriter w(bytes);
    REQUIRE(w.write(Lsn{1}, std::string_view("Zbad")));
    const std::string dir = tmp ? tmp : "/tmp";
    {
      std::ofstream f(dir + "/bad.stream", std::ios::binary);
      f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    const int bad =
        std::system((decode + " '" + dir + "/bad.stream' > '" + dir + "/bad.jsonl' 2> '" + dir + "/bad.err'").c_str());
    REQUIRE(WIFEXITED(bad));
    CHECK(WEXITSTATUS(bad) == 1);
    std::ifstream lines_in(dir + "/bad.jsonl");
    std::size_t printed = 0;
    for (std::string l; std::getline(lines_in, l);) ++printed;
    CHECK(printed == good_lines);
    std::stringstream err;
    err << std::ifstream(dir + "/bad.err").rdbuf();
    CHECK_THAT(err.str(), Catch::Contains("unknown message type") &&
                              Catch::Contains("at offset " + std::to_string(bad_payload_offset)));
  }
  // Protocol checks: stream messages are refused with --proto-version 1.
  const int rc = std::system(
      (decode + " '" + test::corpus_path("streaming.stream") + "' --proto-version 1 > /dev/null 2>&1").c_str());
  REQUIRE(WIFEXITED(rc));
  CHECK(WEXITSTATUS(rc) == 1);
}
