// ManifestUpload: writes a new manifest to its scratch path on the server (the engine
// then publishes it by a rename). Through a skiff serve endpoint (ServerBuildFs) it is
// a server-side build from literals, which travel compressed (a manifest is text: about
// a third of its size on the wire) and are fsynced there; otherwise an SFTP-style
// upload with pipelined writes and fsync@openssh.com when the server offers it.
//
// Not thread-safe (one writer). `fs` must outlive it. After a failure nothing is
// published; the scratch file may remain (the next run clears .skiff/tmp).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sync/content_hash.h"
#include "sync/remote_stream.h"
#include "transport/remote_fs.h"
#include "transport/server_build.h"

namespace skiff::sync {

class ManifestUpload {
 public:
  // Starts writing `path` (replacing a leftover there).
  static Result<std::unique_ptr<ManifestUpload>> Begin(RemoteFs& fs, const std::string& path);
  Status Append(std::string_view bytes);
  // The manifest is complete (and durable where the server allows) at `path`.
  Status Finish();

 private:
  ManifestUpload() = default;

  std::string path_;
  std::unique_ptr<RemoteBuild> build_;  // through skiff serve
  ContentHasher hash_;
  uint64_t size_ = 0;
  std::unique_ptr<RemoteFile> file_;  // otherwise
  std::optional<RemoteStreamWriter> writer_;
};

}  // namespace skiff::sync
