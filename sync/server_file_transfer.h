// TransferThroughServer: the per-file transfer of a backup when the repository's server
// rebuilds files itself (transport/server_build.h, a `skiff serve` endpoint). The local
// file is read once and hashed; when the previous version is worth a delta, its block
// signature comes from the server (stored, or computed there for files without one) and
// the rolling match (DeltaMatcher) turns the file into copy ranges and literals, which
// stream to the server in large pipelined requests; otherwise the file streams as
// literals. The server checks size and hash, sets the attributes, renames the file into
// place and stores the new signature: nothing else crosses the wire.
//
// A delta whose result does not match the hash (a strong-hash collision, or a base that
// changed) is retried once as a plain upload. Thread-safe as its arguments are (one call
// per file, any thread). State after failure: nothing at `dst` from this call (the
// server drops a failed build's scratch file).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "sync/backup_file_job.h"
#include "sync/local_fs.h"
#include "transport/server_build.h"

namespace skiff::sync {

// Files whose previous version is at least this big are sent as a delta even without a
// stored signature (the server computes one: ~12 bytes per 700-byte block on the wire,
// one round trip). Below it the delta saves less than it costs.
inline constexpr uint64_t kServerDeltaMinSize = 2048;

struct ServerTransfer {
  std::string local;            // the local file
  LocalStat st;                 // as scanned
  std::string base;             // previous version on the server ("" = none)
  std::string stored_sig;       // its stored signature ("" = none; the server computes one)
  std::string tmp, dst;         // scratch path and final path on the server
  bool replace = false;         // dst may exist (resuming) and is replaced
  uint32_t sig_block_size = 0;  // > 0: the server stores the new signature
  std::string sig_tmp;          // scratch path of that signature
  // The signature's path for a content hash (Repository::SignaturePath).
  std::function<std::string(const std::string&)> sig_path;
  FileAttr attr;  // mode, times (and owner) to set
};

// Empty result: the file vanished or cannot be read (warned through `warn`).
Result<std::optional<FileResult>> TransferThroughServer(
    ServerBuildFs& server, LocalFs& local, const ServerTransfer& t,
    const std::function<void(const std::string&)>& warn);

}  // namespace skiff::sync
