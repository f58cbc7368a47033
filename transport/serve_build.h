// ServeBuild: the client side of one kBuild (sync/serve_build_handlers.h has the fields):
// a RemoteBuild that packs copy ranges and literals into requests of up to
// kRequestBytes and pipelines them (at most kInFlight unanswered), so a file costs its
// literal bytes plus ~17 bytes per copy range, and a small file one round trip (the
// begin, its bytes and the end in a single request, sent by Commit).
//
// Literals are compressed (zlib, fastest level: ~1 ms per 256 KiB piece) when that
// saves at least 1/8; the first piece that does not (random or already compressed
// data) ends the attempts for the file, so incompressible files cost one attempt.
// $SKIFF_SERVE_COMPRESS=0 sends them raw (to measure what compression saves).
//
// Thread-safety: one thread uses a ServeBuild; replies arrive on the connection's reader
// thread and only touch the shared completion state. Must not outlive its ServeRemoteFs.
// After a failure every later call returns the first failure.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "transport/serve_protocol.h"
#include "transport/server_build.h"

namespace skiff {

class ServeRemoteFs;

class ServeBuild : public RemoteBuild {
 public:
  // Requests of ~512 KiB (a frame holds up to 1 MiB + 64 KiB), 16 in flight: the 8 MiB
  // window the SFTP-style upload path kept in flight, so a big file streams at link
  // speed; the server reads one frame at a time.
  static constexpr size_t kRequestBytes = 512 * 1024;
  static constexpr int kInFlight = 16;
  // A request is also sent once the instructions buffered for it describe this many
  // bytes of the file (copies and literals), so the server rebuilds a big, mostly
  // unchanged file while the client is still reading and matching it, instead of
  // receiving one request for the whole file at the end (a 200 MiB binary with one
  // change was 3 copy instructions, all in the final request, so its ~200 MiB copy only
  // started after the client's read). 8 MiB is ~10-40 ms of server work per request.
  static constexpr uint64_t kDescribedBytes = 8 << 20;

  ServeBuild(ServeRemoteFs& fs, uint32_t id, BuildSpec spec);
  ~ServeBuild() override;

  Status Copy(uint64_t base_offset, uint64_t length) override;
  Status Literal(std::string_view bytes) override;
  Result<bool> Commit(uint64_t size, const std::string& hash, const FileAttr& attr,
                      const std::string& sig_path) override;
  uint64_t literal_bytes() const override { return literal_bytes_; }

 private:
  struct Shared {
    std::mutex mu;  // guards the fields below
    std::condition_variable cv;
    int inflight = 0;
    Status error;
  };
  // The request header (id, flags, the begin fields on the first request) and the
  // buffered instructions.
  std::string Request(uint8_t flags);
  void EncodePendingCopy();
  Status Send();  // sends the buffered instructions (not the end)
  Status WaitBelow(int n);

  ServeRemoteFs& fs_;
  const uint32_t id_;
  const BuildSpec spec_;
  bool begun_ = false, done_ = false;
  std::string body_;  // buffered instructions
  uint32_t count_ = 0;
  // Pending copy, merged with adjacent ones before it is encoded.
  uint64_t copy_off_ = 0, copy_len_ = 0;
  // Bytes of the file the buffered instructions (and the pending copy) describe.
  uint64_t described_ = 0;
  uint64_t literal_bytes_ = 0;
  bool compress_ = true;  // literal pieces are compressed until one does not shrink
  static constexpr size_t kMinCompress = 512;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
};

}  // namespace skiff
