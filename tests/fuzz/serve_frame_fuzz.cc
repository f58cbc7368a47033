// Fuzzes the skiff serve frame decoder and request handling: the input is a byte stream
// as a hostile client would send it. Every decoded frame goes through PayloadReader
// field parsing, reply decoding, and a read-only ServeServer on a small fixed tree (so
// requests cannot change anything). Invariants: no crash, no unbounded allocation
// (frames above kMaxFrameSize are refused before allocating), a reply for every frame.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "sync/serve_server.h"
#include "transport/serve_protocol.h"

namespace {

const std::string& Root() {
  static const std::string root = [] {
    char tmpl[] = "/tmp/skiff-serve-fuzz-XXXXXX";
    std::string r = mkdtemp(tmpl);
    mkdir((r + "/snapshots").c_str(), 0755);
    FILE* f = fopen((r + "/snapshots/file").c_str(), "w");
    if (f) {
      fputs("content\n", f);
      fclose(f);
    }
    symlink("/etc", (r + "/snapshots/out").c_str());
    return r;
  }();
  return root;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto root = sync::ConfinedRoot::Open(Root());
  if (!root.ok()) abort();
  sync::ServeServer server(std::move(root).value(), serve::Mode::kReadOnly);
  // Start every session with a valid hello so the fuzzer reaches the operations.
  serve::Frame hello{static_cast<uint8_t>(serve::Op::kHello), 0,
                     serve::PayloadWriter().Str(serve::kMagic).U32(serve::kProtocolVersion).Take()};
  bool fatal = false;
  server.Handle(hello, &fatal);
  for (int frames = 0; frames < 64 && !in.empty(); ++frames) {
    size_t used = 0;
    auto f = serve::DecodeFrame(in, &used);
    if (!f.ok() || !*f) break;
    if (used > in.size() || used < serve::kFrameHeader) abort();
    in.remove_prefix(used);
    serve::PayloadReader r((*f)->payload);
    (void)r.Str();
    (void)r.Attr();
    (void)r.Finish("fuzz");
    (void)serve::DecodeReply((*f)->payload);
    std::string reply = server.Handle(**f, &fatal);
    if (reply.empty()) abort();  // every request gets a status byte at least
    if (fatal) break;
  }
  return 0;
}
