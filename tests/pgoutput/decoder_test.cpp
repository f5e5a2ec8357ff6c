// Hand-made pgoutput byte vectors: every message type, every truncation point, trailing bytes,
// unknown tags and flags, negative lengths, stream xids and the deleted rvalue overloads.
#include "replicator/pgoutput/decoder.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

using namespace replicator;
using namespace replicator::pgoutput;

namespace {

// Builds a message and remembers where each field starts, so a test can predict the offset of
// the error for any truncation point.
class Msg {
 public:
  explicit Msg(char tag) { u8(static_cast<std::uint8_t>(tag)); }

  Msg& u8(std::uint8_t v) { return field({static_cast<std::byte>(v)}); }
  Msg& u16(std::uint16_t v) { return field(be(v, 2)); }
  Msg& u32(std::uint32_t v) { return field(be(v, 4)); }
  Msg& u64(std::uint64_t v) { return field(be(v, 8)); }
  Msg& i16(std::int16_t v) { return u16(static_cast<std::uint16_t>(v)); }
  Msg& i32(std::int32_t v) { return u32(static_cast<std::uint32_t>(v)); }
  Msg& i64(std::int64_t v) { return u64(static_cast<std::uint64_t>(v)); }
  Msg& cstr(std::string_view s) {
    std::vector<std::byte> b;
    for (char c : s) b.push_back(static_cast<std::byte>(c));
    b.push_back(std::byte{0});
    fields_.push_back({bytes_.size(), true});
    bytes_.insert(bytes_.end(), b.begin(), b.end());
    return *this;
  }
  Msg& raw(std::string_view s) {
    std::vector<std::byte> b;
    for (char c : s) b.push_back(static_cast<std::byte>(c));
    return field(b);
  }
  // Relation column type: oid + typmod read as one 8-byte field by the decoder.
  Msg& type(std::uint32_t oid, std::int32_t typmod) {
    auto b = be(oid, 4);
    auto m = be(static_cast<std::uint32_t>(typmod), 4);
    b.insert(b.end(), m.begin(), m.end());
    return field(b);
  }
  // TupleData column helpers.
  Msg& text(std::string_view s) { return u8('t').i32(static_cast<std::int32_t>(s.size())).raw(s); }
  Msg& null() { return u8('n'); }
  Msg& toast() { return u8('u'); }

  [[nodiscard]] const std::vector<std::byte>& bytes() const { return bytes_; }
  [[nodiscard]] std::span<const std::byte> prefix(std::size_t n) const { return {bytes_.data(), n}; }

  // The error a prefix of length k must produce (k < size).
  [[nodiscard]] std::pair<Errc, std::size_t> expected_truncation(std::size_t k) const {
    std::size_t start = 0;
    bool is_string = false;
    for (const auto& [s, str] : fields_) {
      if (s <= k) {
        start = s;
        is_string = str;
      }
    }
    // A string that runs into the end of the payload has no NUL: reported at the string's start.
    return {is_string && k > start ? Errc::unterminated_string : Errc::truncated, start};
  }

 private:
  static std::vector<std::byte> be(std::uint64_t v, int n) {
    std::vector<std::byte> b;
    for (int i = n - 1; i >= 0; --i) b.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xFF));
    return b;
  }
  Msg& field(const std::vector<std::byte>& b) {
    if (!b.empty()) fields_.push_back({bytes_.size(), false});
    bytes_.insert(bytes_.end(), b.begin(), b.end());
    return *this;
  }
  std::vector<std::byte> bytes_;
  std::vector<std::pair<std::size_t, bool>> fields_;
};

constexpr std::size_t kBase = 1000;  // errors carry payload offset + base

template <class View>
View decode_as(const Msg& m, bool in_stream = false) {
  auto r = decode_message(m.bytes(), in_stream, kBase);
  if (!r) FAIL("decode failed: " << r.error().describe());
  REQUIRE(std::holds_alternative<View>(*r));
  return std::get<View>(*r);
}

void check_errors(const Msg& m, bool in_stream = false, std::size_t also_valid_prefix = 0) {
  const auto& bytes = m.bytes();
  for (std::size_t k = 0; k < bytes.size(); ++k) {
    INFO("prefix length " << k << " of " << bytes.size());
    auto r = decode_message(m.prefix(k), in_stream, kBase);
    if (also_valid_prefix != 0 && k == also_valid_prefix) {
      CHECK(r);
      continue;
    }
    REQUIRE_FALSE(r);
    const auto [code, at] = m.expected_truncation(k);
    CHECK(r.error().code == code);
    CHECK(r.error().offset == kBase + at);
    CHECK_FALSE(r.error().field.empty());
  }
  // One extra byte is never accepted.
  auto extra = bytes;
  extra.push_back(std::byte{0x7F});
  auto r = decode_message(extra, in_stream, kBase);
  REQUIRE_FALSE(r);
  CHECK(r.error().offset == kBase + bytes.size());
}

std::vector<std::string> texts(TupleView t) {
  std::vector<std::string> out;
  for (ColumnValueView v : t) {
    if (v.is_null()) out.push_back("<null>");
    else if (v.is_unchanged_toast()) out.push_back("<toast>");
    else if (v.kind == ColumnKind::binary) out.push_back("b:" + std::string(v.text()));
    else out.push_back(std::string(v.text()));
  }
  return out;
}

using Strings = std::vector<std::string>;

template <class T>
concept Decodable = requires(PgOutputDecoder& d, T&& t) {
  d.decode(std::forward<T>(t));
};

}  // namespace

TEST_CASE("Begin and Commit") {
  Msg b('B');
  b.u64(0x1'0000'0010).i64(123456789).u32(740);
  auto v = decode_as<BeginView>(b);
  CHECK(v.final_lsn == Lsn{0x1'0000'0010});
  CHECK(v.commit_time.micros_since_2000() == 123456789);
  CHECK(v.xid == 740);
  check_errors(b);

  Msg c('C');
  c.u8(0).u64(0x20).u64(0x28).i64(-5);
  auto cv = decode_as<CommitView>(c);
  CHECK(cv.commit_lsn == Lsn{0x20});
  CHECK(cv.end_lsn == Lsn{0x28});
  CHECK(cv.commit_time.micros_since_2000() == -5);
  check_errors(c);
}

TEST_CASE("Origin") {
  Msg m('O');
  m.u64(0xABCDEF).cstr("node_a");
  auto v = decode_as<OriginView>(m);
  CHECK(v.commit_lsn == Lsn{0xABCDEF});
  CHECK(v.name == "node_a");
  check_errors(m);
}

TEST_CASE("Relation, outside and inside a stream") {
  for (bool in_stream : {false, true}) {
    INFO("in_stream " << in_stream);
    Msg m('R');
    if (in_stream) m.u32(900);
    m.u32(16384).cstr("public").cstr("users").u8('f').i16(3);
    m.u8(1).cstr("id").type(23, -1);
    m.u8(0).cstr("name").type(1043, 36);
    m.u8(0).cstr("").type(25, -1);
    auto v = decode_as<RelationView>(m, in_stream);
    CHECK(v.xid == (in_stream ? 900u : 0u));
    CHECK(v.oid == 16384);
    CHECK(v.schema == "public");
    CHECK(v.name == "users");
    CHECK(v.replica_identity == ReplicaIdentity::full);
    REQUIRE(v.columns.size() == 3);
    std::vector<RelationColumnView> cols(v.columns.begin(), v.columns.end());
    CHECK(cols[0].is_key());
    CHECK(cols[0].name == "id");
    CHECK(cols[0].type_oid == 23);
    CHECK(cols[1].name == "name");
    CHECK(cols[1].type_modifier == 36);
    CHECK_FALSE(cols[1].is_key());
    CHECK(cols[2].name.empty());
    check_errors(m, in_stream);
  }
  // Zero columns, pg_catalog spelled as the empty string.
  Msg z('R');
  z.u32(1).cstr("").cstr("t").u8('n').i16(0);
  auto v = decode_as<RelationView>(z);
  CHECK(v.schema.empty());
  CHECK(v.replica_identity == ReplicaIdentity::nothing);
  CHECK(v.columns.size() == 0);
  check_errors(z);
}

TEST_CASE("Type") {
  for (bool in_stream : {false, true}) {
    Msg m('Y');
    if (in_stream) m.u32(77);
    m.u32(50000).cstr("public").cstr("mood");
    auto v = decode_as<TypeView>(m, in_stream);
    CHECK(v.xid == (in_stream ? 77u : 0u));
    CHECK(v.oid == 50000);
    CHECK(v.schema == "public");
    CHECK(v.name == "mood");
    check_errors(m, in_stream);
  }
}

TEST_CASE("Insert with every tuple column kind") {
  for (bool in_stream : {false, true}) {
    Msg m('I');
    if (in_stream) m.u32(5);
    m.u32(16384).u8('N').i16(4).text("1").null().toast().u8('b').i32(2).raw("\x01\x02");
    auto v = decode_as<InsertView>(m, in_stream);
    CHECK(v.xid == (in_stream ? 5u : 0u));
    CHECK(v.relation_oid == 16384);
    CHECK(texts(v.new_tuple) == Strings{"1", "<null>", "<toast>", "b:\x01\x02"});
    CHECK(v.new_tuple[3].kind == ColumnKind::binary);
    check_errors(m, in_stream);
  }
  Msg empty('I');
  empty.u32(1).u8('N').i16(0);
  CHECK(decode_as<InsertView>(empty).new_tuple.empty());
  Msg zero_len('I');
  zero_len.u32(1).u8('N').i16(1).text("");
  CHECK(texts(decode_as<InsertView>(zero_len).new_tuple) == Strings{""});
  check_errors(zero_len);
}

TEST_CASE("Update without old tuple, with old key and with old row") {
  Msg plain('U');
  plain.u32(7).u8('N').i16(2).text("1").toast();
  auto p = decode_as<UpdateView>(plain);
  CHECK(p.old_kind == OldTupleKind::none);
  CHECK(p.old_tuple.empty());
  CHECK(texts(p.new_tuple) == Strings{"1", "<toast>"});
  check_errors(plain);

  for (char kind : {'K', 'O'}) {
    for (bool in_stream : {false, true}) {
      Msg m('U');
      if (in_stream) m.u32(99);
      m.u32(7).u8(static_cast<std::uint8_t>(kind)).i16(2).text("1").null().u8('N').i16(2).text("2").text("x");
      auto v = decode_as<UpdateView>(m, in_stream);
      CHECK(v.xid == (in_stream ? 99u : 0u));
      CHECK(v.old_kind == static_cast<OldTupleKind>(kind));
      CHECK(texts(v.old_tuple) == Strings{"1", "<null>"});
      CHECK(texts(v.new_tuple) == Strings{"2", "x"});
      check_errors(m, in_stream);
    }
  }
}

TEST_CASE("Delete with old key and with old row") {
  for (char kind : {'K', 'O'}) {
    Msg m('D');
    m.u32(8).u8(static_cast<std::uint8_t>(kind)).i16(2).text("42").null();
    auto v = decode_as<DeleteView>(m);
    CHECK(v.relation_oid == 8);
    CHECK(v.old_kind == static_cast<OldTupleKind>(kind));
    CHECK(texts(v.old_tuple) == Strings{"42", "<null>"});
    check_errors(m);
  }
  Msg s('D');
  s.u32(31).u32(8).u8('K').i16(1).text("1");
  CHECK(decode_as<DeleteView>(s, true).xid == 31);
  check_errors(s, true);
}

TEST_CASE("Truncate with options") {
  Msg m('T');
  m.i32(3).u8(3).u32(10).u32(11).u32(12);
  auto v = decode_as<TruncateView>(m);
  CHECK(v.cascade());
  CHECK(v.restart_identity());
  REQUIRE(v.relation_oids.size() == 3);
  CHECK(std::vector<Oid>(v.relation_oids.begin(), v.relation_oids.end()) == std::vector<Oid>{10, 11, 12});
  // The declared count is checked against what is left before reading the OIDs.
  for (std::size_t k = 6; k < m.bytes().size(); ++k) {
    auto r = decode_message(m.prefix(k), false, kBase);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::truncated);
    CHECK(r.error().offset == kBase + 6);
  }
  Msg none('T');
  none.i32(0).u8(0);
  auto n = decode_as<TruncateView>(none);
  CHECK_FALSE(n.cascade());
  CHECK_FALSE(n.restart_identity());
  CHECK(n.relation_oids.size() == 0);
  check_errors(none);

  Msg s('T');
  s.u32(12).i32(1).u8(1).u32(10);
  auto sv = decode_as<TruncateView>(s, true);
  CHECK(sv.xid == 12);
  CHECK(sv.cascade());
  CHECK_FALSE(sv.restart_identity());
}

TEST_CASE("Message, transactional and not, with binary content") {
  for (std::uint8_t flags : {0, 1}) {
    Msg m('M');
    m.u8(flags)
        .u64(0x55)
        .cstr("my.prefix")
        .i32(4)
        .raw(std::string_view("a\0\xff"
                              "b",
                              4));
    auto v = decode_as<LogicalMessageView>(m);
    CHECK(v.transactional() == (flags == 1));
    CHECK(v.lsn == Lsn{0x55});
    CHECK(v.prefix == "my.prefix");
    REQUIRE(v.content.size() == 4);
    CHECK(v.content[2] == std::byte{0xFF});
    check_errors(m);
  }
  Msg s('M');
  s.u32(4242).u8(1).u64(0x55).cstr("p").i32(0);
  auto sv = decode_as<LogicalMessageView>(s, true);
  CHECK(sv.xid == 4242);
  CHECK(sv.content.empty());
  check_errors(s, true);
}

TEST_CASE("Stream Start, Stop, Commit") {
  Msg start('S');
  start.u32(600).u8(1);
  auto sv = decode_as<StreamStartView>(start);
  CHECK(sv.xid == 600);
  CHECK(sv.first_segment);
  check_errors(start);
  Msg later('S');
  later.u32(600).u8(0);
  CHECK_FALSE(decode_as<StreamStartView>(later).first_segment);

  Msg stop('E');
  (void)decode_as<StreamStopView>(stop);
  check_errors(stop);

  Msg commit('c');
  commit.u32(600).u8(0).u64(0x100).u64(0x108).i64(99);
  auto cv = decode_as<StreamCommitView>(commit);
  CHECK(cv.xid == 600);
  CHECK(cv.commit_lsn == Lsn{0x100});
  CHECK(cv.end_lsn == Lsn{0x108});
  CHECK(cv.commit_time.micros_since_2000() == 99);
  check_errors(commit);
}

TEST_CASE("Stream Abort with and without the protocol 4 abort LSN and time") {
  Msg v3('A');
  v3.u32(600).u32(601);
  auto a = decode_as<StreamAbortView>(v3);
  CHECK(a.xid == 600);
  CHECK(a.subxid == 601);
  CHECK_FALSE(a.has_abort_info);
  for (std::size_t k = 0; k < v3.bytes().size(); ++k) {
    auto r = decode_message(v3.prefix(k), false, kBase);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::truncated);
    CHECK(r.error().offset == kBase + v3.expected_truncation(k).second);
  }

  Msg v4('A');
  v4.u32(600).u32(600).u64(0x2000).i64(777);
  auto b = decode_as<StreamAbortView>(v4);
  CHECK(b.xid == b.subxid);
  CHECK(b.has_abort_info);
  CHECK(b.abort_lsn == Lsn{0x2000});
  CHECK(b.abort_time.micros_since_2000() == 777);
  // Cut right after subxid, it is a valid protocol 1-3 Stream Abort.
  check_errors(v4, false, 9);

  // A few bytes after subxid but not a whole abort LSN: truncated at the LSN.
  auto partial = v3.bytes();
  partial.push_back(std::byte{1});
  auto r = decode_message(partial, false, kBase);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::truncated);
  CHECK(r.error().offset == kBase + 9);
}

TEST_CASE("Two-phase messages") {
  Msg bp('b');
  bp.u64(0x300).u64(0x380).i64(5).u32(710).cstr("gid-1");
  auto b = decode_as<BeginPrepareView>(bp);
  CHECK(b.prepare_lsn == Lsn{0x300});
  CHECK(b.end_lsn == Lsn{0x380});
  CHECK(b.xid == 710);
  CHECK(b.gid == "gid-1");
  check_errors(bp);

  Msg p('P');
  p.u8(0).u64(0x300).u64(0x380).i64(5).u32(710).cstr("gid-1");
  auto pv = decode_as<PrepareView>(p);
  CHECK(pv.end_lsn == Lsn{0x380});
  CHECK(pv.gid == "gid-1");
  check_errors(p);

  Msg k('K');
  k.u8(0).u64(0x400).u64(0x480).i64(6).u32(710).cstr("gid-1");
  auto kv = decode_as<CommitPreparedView>(k);
  CHECK(kv.commit_lsn == Lsn{0x400});
  CHECK(kv.end_lsn == Lsn{0x480});
  CHECK(kv.commit_time.micros_since_2000() == 6);
  CHECK(kv.xid == 710);
  check_errors(k);

  Msg rb('r');
  rb.u8(0).u64(0x380).u64(0x500).i64(5).i64(7).u32(711).cstr("gid-2");
  auto rv = decode_as<RollbackPreparedView>(rb);
  CHECK(rv.prepare_end_lsn == Lsn{0x380});
  CHECK(rv.rollback_end_lsn == Lsn{0x500});
  CHECK(rv.prepare_time.micros_since_2000() == 5);
  CHECK(rv.rollback_time.micros_since_2000() == 7);
  CHECK(rv.xid == 711);
  CHECK(rv.gid == "gid-2");
  check_errors(rb);

  Msg sp('p');
  sp.u8(0).u64(0x600).u64(0x680).i64(8).u32(712).cstr("");
  auto s = decode_as<StreamPrepareView>(sp);
  CHECK(s.prepare_lsn == Lsn{0x600});
  CHECK(s.xid == 712);
  CHECK(s.gid.empty());
  check_errors(sp);
}

TEST_CASE("Unknown message tags are rejected by name") {
  for (char tag : {'Z', 'X', 'a', '\0', 'w', 'k'}) {
    const std::byte b[] = {static_cast<std::byte>(tag), std::byte{0}, std::byte{0}};
    auto r = decode_message(b, false, kBase);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::unknown_message);
    CHECK(r.error().offset == kBase);
  }
}

TEST_CASE("Unknown flags and markers") {
  struct Case {
    Msg msg;
    std::size_t at;
  };
  std::vector<Case> cases;
  cases.push_back({std::move(Msg('C').u8(1).u64(1).u64(2).i64(3)), 1});
  cases.push_back({std::move(Msg('c').u32(1).u8(2).u64(1).u64(2).i64(3)), 5});
  cases.push_back({std::move(Msg('P').u8(4).u64(1).u64(2).i64(3).u32(1).cstr("g")), 1});
  cases.push_back({std::move(Msg('p').u8(1).u64(1).u64(2).i64(3).u32(1).cstr("g")), 1});
  cases.push_back({std::move(Msg('K').u8(1).u64(1).u64(2).i64(3).u32(1).cstr("g")), 1});
  cases.push_back({std::move(Msg('r').u8(1).u64(1).u64(2).i64(3).i64(4).u32(1).cstr("g")), 1});
  cases.push_back({std::move(Msg('R').u32(1).cstr("s").cstr("t").u8('x').i16(0)), 9});
  cases.push_back({std::move(Msg('R').u32(1).cstr("s").cstr("t").u8('d').i16(1).u8(2).cstr("c").type(23, -1)), 12});
  cases.push_back({std::move(Msg('I').u32(1).u8('K').i16(0)), 5});
  cases.push_back({std::move(Msg('U').u32(1).u8('X').i16(0)), 5});
  cases.push_back({std::move(Msg('U').u32(1).u8('K').i16(0).u8('O').i16(0)), 8});
  cases.push_back({std::move(Msg('D').u32(1).u8('N').i16(0)), 5});
  cases.push_back({std::move(Msg('T').i32(0).u8(4)), 5});
  cases.push_back({std::move(Msg('M').u8(2).u64(1).cstr("p").i32(0)), 1});
  cases.push_back({std::move(Msg('S').u32(1).u8(2)), 5});
  for (auto& c : cases) {
    INFO("tag " << static_cast<char>(c.msg.bytes()[0]));
    auto r = decode_message(c.msg.bytes(), false, kBase);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::unknown_flag);
    CHECK(r.error().offset == kBase + c.at);
  }
  // An unknown tuple column kind.
  Msg bad('I');
  bad.u32(1).u8('N').i16(2).text("a").u8('x');
  auto r = decode_message(bad.bytes(), false, kBase);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::unknown_tuple_kind);
  CHECK(r.error().offset == kBase + 14);
}

TEST_CASE("Negative lengths and counts") {
  struct Case {
    Msg msg;
    std::size_t at;
  };
  std::vector<Case> cases;
  cases.push_back({std::move(Msg('I').u32(1).u8('N').i16(-1)), 6});
  cases.push_back({std::move(Msg('I').u32(1).u8('N').i16(1).u8('t').i32(-1)), 9});
  cases.push_back({std::move(Msg('I').u32(1).u8('N').i16(1).u8('b').i32(-2147483647 - 1)), 9});
  cases.push_back({std::move(Msg('R').u32(1).cstr("s").cstr("t").u8('d').i16(-3)), 10});
  cases.push_back({std::move(Msg('T').i32(-1).u8(0)), 1});
  cases.push_back({std::move(Msg('M').u8(0).u64(1).cstr("p").i32(-1)), 12});
  for (auto& c : cases) {
    INFO("tag " << static_cast<char>(c.msg.bytes()[0]));
    auto r = decode_message(c.msg.bytes(), false, kBase);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::negative_length);
    CHECK(r.error().offset == kBase + c.at);
  }
  // A huge positive length is just truncated.
  Msg huge('I');
  huge.u32(1).u8('N').i16(1).u8('t').i32(0x7FFFFFFF);
  auto r = decode_message(huge.bytes(), false, kBase);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::truncated);
  CHECK(r.error().offset == kBase + 13);
}

TEST_CASE("PgOutputDecoder tracks stream blocks and their xids") {
  PgOutputDecoder d;
  Msg ins('I');
  ins.u32(16384).u8('N').i16(1).text("1");
  Msg sins('I');
  sins.u32(600).u32(16384).u8('N').i16(1).text("1");
  Msg start('S');
  start.u32(600).u8(1);
  Msg stop('E');

  auto r = d.decode(ins.bytes());
  REQUIRE(r);
  CHECK(std::get<InsertView>(*r).xid == 0);

  auto bad = d.decode(stop.bytes(), 50);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::unexpected_message);
  CHECK(bad.error().offset == 50);

  REQUIRE(d.decode(start.bytes()));
  CHECK(d.in_stream());
  auto again = d.decode(start.bytes());
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::unexpected_message);
  CHECK(d.in_stream());

  auto s = d.decode(sins.bytes());
  REQUIRE(s);
  CHECK(std::get<InsertView>(*s).xid == 600);
  CHECK(std::get<InsertView>(*s).relation_oid == 16384);
  // Without the stream flag the same bytes would have been read as a different message.
  CHECK_FALSE(decode_message(sins.bytes(), false));

  REQUIRE(d.decode(stop.bytes()));
  CHECK_FALSE(d.in_stream());
  auto after = d.decode(ins.bytes());
  REQUIRE(after);
  CHECK(std::get<InsertView>(*after).xid == 0);

  REQUIRE(d.decode(start.bytes()));
  d.reset();
  CHECK_FALSE(d.in_stream());

  // Stream Commit / Abort arrive outside stream blocks and do not change the state.
  Msg commit('c');
  commit.u32(600).u8(0).u64(1).u64(2).i64(3);
  REQUIRE(d.decode(commit.bytes()));
  CHECK_FALSE(d.in_stream());
}

TEST_CASE("PgOutputDecoder accepts string_view and refuses temporaries") {
  PgOutputDecoder d;
  const std::string payload("E", 1);
  PgOutputDecoder s;
  Msg start('S');
  start.u32(1).u8(0);
  REQUIRE(s.decode(start.bytes()));
  CHECK(s.decode(std::string_view(payload)));
  CHECK(d.decode(std::string_view{}).error().code == Errc::truncated);

  STATIC_REQUIRE(Decodable<const std::string&>);
  STATIC_REQUIRE(Decodable<std::string&>);
  STATIC_REQUIRE(Decodable<std::vector<std::byte>&>);
  STATIC_REQUIRE(Decodable<std::string_view>);
  STATIC_REQUIRE_FALSE(Decodable<std::string>);
  STATIC_REQUIRE_FALSE(Decodable<std::string&&>);
  STATIC_REQUIRE_FALSE(Decodable<std::vector<std::byte>>);
}
