// Internal to fs/remote_filesystem*.cc: helpers shared by the two translation units of
// RemoteFilesystem (names and directories in remote_filesystem.cc, open files in
// remote_filesystem_files.cc) and the WithFs template. Not for other users.
#pragma once

#include <cstdio>
#include <ctime>
#include <string>

#include "fs/remote_filesystem.h"

namespace skiff::fs::internal {

inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
inline const Status& StatusOf(const Result<T>& r) {
  return r.status();
}

inline std::string Join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

// The connection under a request is gone: closed (kConnectionLost) or declared dead by
// the keepalive (kTimeout; SshConnection fails the whole connection that way).
inline bool ConnectionFailed(const Status& s) {
  return s.Is(Code::kConnectionLost) || s.Is(Code::kTimeout);
}

inline int64_t WallNow() { return static_cast<int64_t>(std::time(nullptr)); }

inline void LogWarning(const std::string& what) {
  std::fprintf(stderr, "skiff mount: %s\n", what.c_str());
}

// Linux renameat2 flags (stable ABI values; <linux/fs.h> is not needed for two bits).
inline constexpr unsigned kRenameNoReplace = 1;
inline constexpr unsigned kRenameExchange = 2;

// statfs without statvfs@openssh.com: like sshfs, report a large, mostly free
// filesystem rather than failing (df, and programs that check free space before
// writing, would otherwise refuse to work). 1 TiB free in 4 KiB blocks.
inline constexpr uint64_t kFallbackBlocks = 1ull << 28;
// Directory prefetch bounds: subdirectories queued per opened directory, and in all.
inline constexpr size_t kMaxPrefetchesPerListing = 256;
inline constexpr size_t kMaxQueuedPrefetches = 1024;

}  // namespace skiff::fs::internal

namespace skiff::fs {

template <typename F>
auto RemoteFilesystem::WithFs(bool idempotent, F&& f, std::shared_ptr<RemoteFs>* used)
    -> decltype(f(std::declval<RemoteFs&>())) {
  using R = decltype(f(std::declval<RemoteFs&>()));
  for (int attempt = 0;; ++attempt) {
    Result<std::shared_ptr<RemoteFs>> fs = keeper_.Get();
    if (!fs.ok()) return R(fs.status());
    if (used) *used = *fs;
    R r = f(**fs);
    if (internal::ConnectionFailed(internal::StatusOf(r))) {
      keeper_.ReportLost(*fs);
      // Only an operation that may safely run twice is retried on a new connection: a
      // mkdir or rename that failed this way may or may not have happened.
      if (idempotent && attempt == 0 && keeper_.can_reconnect()) continue;
    }
    return r;
  }
}

}  // namespace skiff::fs
