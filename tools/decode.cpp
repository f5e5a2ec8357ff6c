// decode: prints a captured stream file as JSON lines, one object per pgoutput message, in the
// shape documented in docs/json.md.
//   decode tests/data/basic.stream [--proto-version N] | jq .
// Exits 1 with the offset on a malformed or truncated file, after printing everything before it.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "replicator/format/pgoutput_json.hpp"
#include "replicator/pgoutput/decoder.hpp"
#include "replicator/core/transport_event.hpp"
#include "replicator/transport/replay.hpp"

namespace {

[[noreturn]] void usage(int code) {
  std::fprintf(code == 0 ? stdout : stderr, "usage: decode FILE [--proto-version N]\n");
  std::exit(code);
}

// Messages a given protocol version cannot carry: stream ones need 2, two-phase ones need 3.
bool allowed(const replicator::pgoutput::Message& m, int proto) {
  using namespace replicator::pgoutput;
  const bool stream = std::holds_alternative<StreamStartView>(m) || std::holds_alternative<StreamStopView>(m) ||
                      std::holds_alternative<StreamCommitView>(m) || std::holds_alternative<StreamAbortView>(m);
  const bool two_phase = std::holds_alternative<BeginPrepareView>(m) || std::holds_alternative<PrepareView>(m) ||
                         std::holds_alternative<CommitPreparedView>(m) ||
                         std::holds_alternative<RollbackPreparedView>(m) ||
                         std::holds_alternative<StreamPrepareView>(m);
  if (stream && proto < 2) return false;
  if (two_phase && proto < 3) return false;
  if (const auto* a = std::get_if<StreamAbortView>(&m); a && a->has_abort_info && proto < 4) return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  int proto = 4;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--help" || a == "-h") usage(0);
    if (a == "--proto-version") {
      if (i + 1 >= argc) usage(2);
      const std::string_view v = argv[++i];
      if (v.size() != 1 || v[0] < '1' || v[0] > '4') {
        std::fprintf(stderr, "decode: --proto-version must be 1, 2, 3 or 4\n");
        return 2;
      }
      proto = v[0] - '0';
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "decode: unknown option %s\n", argv[i]);
      usage(2);
    } else if (path.empty()) {
      path = a;
    } else {
      usage(2);
    }
  }
  if (path.empty()) usage(2);

  auto transport = replicator::transport::ReplayTransport::open(path);
  if (!transport) {
    std::fprintf(stderr, "decode: %s\n", transport.error().message.c_str());
    return 1;
  }
  (void)transport->start(replicator::Lsn::invalid());

  replicator::pgoutput::PgOutputDecoder decoder;
  replicator::format::JsonMessageFormatter formatter;
  std::string out;
  out.reserve(1 << 17);
  auto flush = [&out] {
    if (!out.empty() && std::fwrite(out.data(), 1, out.size(), stdout) != out.size()) {
      std::fprintf(stderr, "decode: cannot write to stdout\n");
      std::exit(1);
    }
    out.clear();
  };
  auto fail = [&](const std::string& what) {
    flush();
    std::fflush(stdout);
    std::fprintf(stderr, "decode: %s: %s\n", path.c_str(), what.c_str());
    std::exit(1);
  };

  std::size_t count = 0;
  while (true) {
    auto ev = transport->poll(std::chrono::milliseconds(0));
    if (!ev) fail(ev.error().message);
    if (std::holds_alternative<replicator::EndOfStream>(*ev)) break;
    const auto* wal = std::get_if<replicator::WalMessage>(&*ev);
    if (wal == nullptr) continue;
    auto msg = decoder.decode(wal->payload, wal->offset);
    if (!msg) fail(msg.error().describe() + " (message " + std::to_string(count + 1) + ")");
    if (!allowed(*msg, proto))
      fail(std::string(replicator::pgoutput::message_name(*msg)) + " message is not valid in protocol version " +
           std::to_string(proto) + " at offset " + std::to_string(wal->offset));
    if (auto r = formatter.append(out, wal->wal_start, *msg, wal->offset); !r) fail(r.error().describe());
    out.push_back('\n');
    ++count;
    if (out.size() > (1 << 16)) flush();
  }
  flush();
  return std::fflush(stdout) == 0 ? 0 : 1;
}
