// ServerBuildFs: an optional capability of a RemoteFs whose server can rebuild files
// itself (a `skiff serve` endpoint speaking protocol version 2; doc/SERVE.md
// "Server-side delta"). The backup's per-file job finds it with dynamic_cast and, when
// server_build() is true, sends each changed file as one stream of copy ranges and
// literals instead of SFTP-style opens, writes, copy-data requests and a signature
// upload; the server checks the content hash and stores the new signature itself.
//
// Thread-safety: every method may be called from any thread; one RemoteBuild is used by
// one thread at a time. Ownership: a RemoteBuild must not outlive its ServerBuildFs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "transport/async_hardlink.h"
#include "transport/remote_fs.h"
#include "transport/status.h"

namespace skiff {

struct BuildSpec {
  std::string base;             // previous version on the server ("" = none: literals only)
  std::string tmp;              // scratch path the file is built at (must not exist)
  std::string dst;              // where the complete file is renamed
  bool replace = false;         // an existing dst (not a directory) is replaced
  uint32_t sig_block_size = 0;  // > 0: store the new content's signature, this block size
  std::string sig_tmp;          // the signature's scratch path
  // base's stored signature ("" = none): the server reuses its entries for the whole
  // blocks copied unmoved (protocol version 3; ignored by older servers).
  std::string base_sig;
  bool sync = false;  // fsync the file before it is renamed
};

// One file being built. Destroying it without a successful Commit abandons the build
// (the server removes tmp).
class RemoteBuild {
 public:
  virtual ~RemoteBuild() = default;
  // The next bytes of the file: bytes [offset, offset + length) of the base, or new ones.
  // Buffered and sent in large requests; a failure may surface at a later call.
  virtual Status Copy(uint64_t base_offset, uint64_t length) = 0;
  virtual Status Literal(std::string_view bytes) = 0;
  // Ends the file: the server checks `size` and the xxh128 `hash` (hex) against what it
  // built (kCorrupt on a mismatch; nothing is kept), applies `attr` (mode, times; owner
  // when the account may), renames tmp to dst and, with spec.sig_block_size > 0, stores
  // the signature at `sig_path` (content-addressed: it depends on `hash`). Returns
  // whether the signature was stored.
  virtual Result<bool> Commit(uint64_t size, const std::string& hash, const FileAttr& attr,
                              const std::string& sig_path) = 0;
  // Bytes sent as literals so far.
  virtual uint64_t literal_bytes() const = 0;
};

class ServerBuildFs : public AsyncHardlinkFs {
 public:
  virtual ~ServerBuildFs() = default;
  // False when the endpoint is too old for server-side builds (then use RemoteFs).
  virtual bool server_build() const = 0;
  // The encoded block signature (sync/signature.h) of the file `base` on the server:
  // the one stored at `stored_sig` when it is valid for base, else computed there with
  // `block_size` (0: the default for its size). kPermission when it would have to be
  // computed and the key may not read contents.
  virtual Result<std::string> BaseSignature(const std::string& base, const std::string& stored_sig,
                                            uint32_t block_size) = 0;
  virtual std::unique_ptr<RemoteBuild> BeginBuild(BuildSpec spec) = 0;
  // AsyncHardlinkFs (transport/async_hardlink.h): `done` gets its result later, on another thread
  // (the connection's reader; it must not block), exactly once, also when the connection
  // is lost or the RemoteFs destroyed. Links requested close together travel in one
  // request, so a caller that needs many links (the unchanged files of an incremental)
  // asks for all of them before waiting for any.
  void HardlinkAsync(const std::string& existing, const std::string& new_path,
                     std::function<void(Status)> done) override = 0;
};

}  // namespace skiff
