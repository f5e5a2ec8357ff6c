// pgoutput/messages.hpp: the message views, read from the corpus captured from real servers
// (tests/data) and from hand-made bytes for what the corpus cannot hold.
#include "replicator/pgoutput/messages.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <type_traits>

#include "replicator/pgoutput/decoder.hpp"
#include "replicator/transport/frame.hpp"
#include "tests/data/corpus.hpp"
#include "tests/support/pgoutput_writer.hpp"

using namespace replicator;
using namespace replicator::pgoutput;

namespace {
// Every message of every corpus file, decoded with the stream context the server implies.
template <class F>
void for_each_corpus_message(F f) {
  for (const char* name : test::kCorpusFiles) {
    const auto bytes = test::read_corpus(name);
    transport::FrameReader reader(bytes);
    bool in_stream = false;
    while (!reader.at_end()) {
      auto frame = reader.next();
      REQUIRE(frame);
      auto m = decode_message(frame->payload, in_stream);
      REQUIRE(m);
      if (std::holds_alternative<StreamStartView>(*m)) in_stream = true;
      if (std::holds_alternative<StreamStopView>(*m)) in_stream = false;
      f(*m);
    }
  }
}
}  // namespace

TEST_CASE("Real server messages name themselves and keep their flags") {
  std::map<std::string, int> seen;
  for_each_corpus_message([&](const Message& m) {
    ++seen[std::string(message_name(m))];
    if (const auto* t = std::get_if<TruncateView>(&m)) {
      CHECK((t->options & ~(TruncateView::kCascade | TruncateView::kRestartIdentity)) == 0);
      CHECK(t->relation_oids.size() >= 1);
    }
    if (const auto* c = std::get_if<CommitView>(&m)) CHECK(c->end_lsn > c->commit_lsn);
    if (const auto* sa = std::get_if<StreamAbortView>(&m)) CHECK(sa->xid != 0);
  });
  for (const char* kind : {"begin", "commit", "relation", "insert", "update", "delete", "truncate", "message",
                           "stream_start", "stream_stop", "stream_commit", "stream_abort", "begin_prepare", "prepare",
                           "commit_prepared", "rollback_prepared"}) {
    INFO(kind);
    CHECK(seen[kind] > 0);
  }
}

TEST_CASE("A logical message says whether it is transactional") {
  const auto bytes = test::MessageWriter('M').u8(1).u64(0x10).cstr("app").u32(2).raw("hi").take();
  auto m = decode_message(bytes, false);
  REQUIRE(m);
  const auto& msg = std::get<LogicalMessageView>(*m);
  CHECK(msg.transactional());
  CHECK(msg.prefix == "app");
  CHECK(msg.content.size() == 2);
  CHECK_FALSE(LogicalMessageView{}.transactional());
}

TEST_CASE("Stream Prepare carries Prepare's fields under a type of its own") {
  STATIC_REQUIRE(std::is_base_of_v<PrepareView, StreamPrepareView>);
  STATIC_REQUIRE_FALSE(std::is_same_v<PrepareView, StreamPrepareView>);
  CHECK(message_name(Message{StreamPrepareView{}}) == "stream_prepare");
  CHECK(message_name(Message{PrepareView{}}) == "prepare");
}
