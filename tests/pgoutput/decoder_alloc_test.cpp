// Proof that decoding allocates nothing: global operator new/delete are replaced by counting
// versions, and a large mixed sequence (every message type) is decoded and fully iterated
// between two snapshots of the counter.
#include <atomic>
#include <cstdlib>
#include <new>
#include <span>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/data/corpus.hpp"
#include "pgoutput_samples.hpp"
#include "replicator/pgoutput/decoder.hpp"
#include "replicator/transport/frame.hpp"
#include "tests/support/counting_allocator.hpp"

namespace pg = replicator::pgoutput;
using replicator::fuzz::MessageWriter;
using replicator::fuzz::Sample;

namespace {

// Touches every field a consumer would read, so nothing is optimised away and iteration is covered.
struct Consumer {
  std::size_t sum = 0;
  void column(const pg::ColumnValueView& v) {
    sum += static_cast<std::size_t>(v.kind) + v.bytes.size() + v.text().size();
    if (!v.bytes.empty()) sum += static_cast<unsigned char>(v.bytes.front());
  }
  void tuple(const pg::TupleView& t) {
    for (pg::ColumnValueView v : t) column(v);
    if (!t.empty()) column(t[static_cast<std::uint16_t>(t.size() - 1)]);
  }
  void operator()(const pg::RelationView& m) {
    sum += m.oid + m.schema.size() + m.name.size();
    for (pg::RelationColumnView c : m.columns)
      sum += c.flags + c.name.size() + c.type_oid + static_cast<std::size_t>(c.type_modifier);
  }
  void operator()(const pg::InsertView& m) {
    sum += m.xid;
    tuple(m.new_tuple);
  }
  void operator()(const pg::UpdateView& m) {
    sum += m.xid;
    tuple(m.old_tuple);
    tuple(m.new_tuple);
  }
  void operator()(const pg::DeleteView& m) {
    sum += m.xid;
    tuple(m.old_tuple);
  }
  void operator()(const pg::TruncateView& m) {
    for (std::uint32_t oid : m.relation_oids) sum += oid;
    sum += m.cascade() + m.restart_identity();
  }
  void operator()(const pg::LogicalMessageView& m) { sum += m.prefix.size() + m.content.size() + m.transactional(); }
  void operator()(const pg::BeginPrepareView& m) { sum += m.gid.size(); }
  void operator()(const pg::PrepareView& m) { sum += m.gid.size(); }
  void operator()(const pg::StreamPrepareView& m) { sum += m.gid.size(); }
  void operator()(const pg::CommitPreparedView& m) { sum += m.gid.size(); }
  void operator()(const pg::RollbackPreparedView& m) { sum += m.gid.size(); }
  void operator()(const pg::OriginView& m) { sum += m.name.size(); }
  void operator()(const pg::TypeView& m) { sum += m.name.size(); }
  template <class Other>
  void operator()(const Other&) {
    sum += 1;
  }
};

// Every sample message, plus bulk transactions of inserts with many and long columns (TOAST-sized).
std::vector<Sample> big_mixed_sequence() {
  std::vector<Sample> all;
  for (int round = 0; round < 20; ++round) {
    for (auto& s : replicator::fuzz::sample_sequence()) all.push_back(std::move(s));
    all.push_back({"begin", replicator::fuzz::samples::begin()});
    for (int i = 0; i < 200; ++i) {
      MessageWriter w('I');
      w.u32(replicator::fuzz::samples::kRelation).u8('N').u16(40);
      for (int c = 0; c < 40; ++c) {
        if (c % 7 == 0) w.null();
        else if (c % 11 == 0) w.unchanged_toast();
        else if (c % 5 == 0) w.binary(std::string(static_cast<std::size_t>(i % 50), 'b'));
        else w.text(std::to_string(i * 40 + c));
      }
      all.push_back({"bulk_insert", std::move(w).bytes()});
    }
    all.push_back({"toast_insert", std::move(MessageWriter('I')
                                                 .u32(replicator::fuzz::samples::kRelation)
                                                 .u8('N')
                                                 .u16(2)
                                                 .text("1")
                                                 .text(std::string(100000, 'x')))
                                       .bytes()});
    all.push_back({"commit", replicator::fuzz::samples::commit()});
  }
  return all;
}

}  // namespace

TEST_CASE("decoding real server streams (every message type PostgreSQL 15 sent) allocates nothing") {
  // Read the files and split the frames first: that allocates, outside the window.
  std::vector<std::vector<std::byte>> files;
  for (const char* name : replicator::test::kCorpusFiles) files.push_back(replicator::test::read_corpus(name));
  std::vector<std::vector<std::span<const std::byte>>> payloads(files.size());
  std::size_t total = 0;
  for (std::size_t f = 0; f < files.size(); ++f) {
    replicator::transport::FrameReader reader(std::span<const std::byte>(files[f].data(), files[f].size()));
    while (!reader.at_end()) {
      auto frame = reader.next();
      REQUIRE(frame);
      payloads[f].push_back(frame->payload);
    }
    total += payloads[f].size();
  }
  REQUIRE(total > 1000);
  std::size_t decoded = 0;
  Consumer consumer;

  const std::size_t before = replicator::test::heap_allocations();
  for (int pass = 0; pass < 3; ++pass) {
    for (const auto& file : payloads) {
      pg::PgOutputDecoder decoder;  // one decoder per file, as per connection
      for (std::span<const std::byte> payload : file) {
        auto m = decoder.decode(payload);
        if (!m) break;
        std::visit(consumer, *m);
        ++decoded;
      }
    }
  }
  const std::size_t after = replicator::test::heap_allocations();

  CHECK(after - before == 0);
  CHECK(decoded == 3 * total);
}

TEST_CASE("the allocation counter sees allocations") {
  const std::size_t before = replicator::test::heap_allocations();
  auto* p = new std::string(100, 'x');
  delete p;
  CHECK(replicator::test::heap_allocations() > before);
}

TEST_CASE("decoding and iterating a large mixed sequence allocates nothing") {
  const std::vector<Sample> messages = big_mixed_sequence();  // allocates: outside the window
  REQUIRE(messages.size() > 4000);
  std::size_t decoded = 0;
  std::size_t failed = 0;
  Consumer consumer;
  pg::PgOutputDecoder decoder;

  const std::size_t before = replicator::test::heap_allocations();
  for (int pass = 0; pass < 5; ++pass) {
    for (const Sample& s : messages) {
      auto m = decoder.decode(std::span<const std::byte>(s.bytes.data(), s.bytes.size()));
      if (!m) {
        ++failed;
        continue;
      }
      std::visit(consumer, *m);
      ++decoded;
    }
    // Error paths must not allocate either (Error holds a literal field name).
    for (const Sample& s : messages) {
      if (s.bytes.size() < 2) continue;
      auto m = pg::decode_message(std::span<const std::byte>(s.bytes.data(), s.bytes.size() - 1), false, 12345);
      if (m) ++decoded;
      else failed += m.error().offset >= 12345 ? 1 : 0;
    }
  }
  const std::size_t after = replicator::test::heap_allocations();

  CHECK(after - before == 0);
  CHECK(decoded >= 5 * messages.size());
  CHECK(failed > 0);
  CHECK(consumer.sum > 0);
}
