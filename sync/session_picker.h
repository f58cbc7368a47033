// SessionPicker: chooses which of several SFTP sessions a file's requests go to, so that
// small files do not queue behind a big file's stream. Used by backup (BackupFileJob) and
// restore (RestoreEngine).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace skiff::sync {

// Files of at least this size are "big": more than one 1 MiB read chunk, so for as long
// as they are transferred their requests or replies (several of 255 KiB) queue ahead of
// whatever else their session carries.
inline constexpr uint64_t kBigFileSize = 1 << 20;

// A session runs its requests in order, so a small file's requests on a session that is
// streaming a big file wait behind megabytes of it. A big file goes to the session with
// the fewest big files in progress (session 0, which also carries the repository's own
// work — directories, the manifest — only when every other has as many); a small file to
// one with the fewest big files in progress, round robin among those.
// Thread-safety: Pick and Done may be called from any thread.
class SessionPicker {
 public:
  explicit SessionPicker(size_t sessions)
      : big_(std::make_unique<std::atomic<int>[]>(sessions)), n_(sessions) {}
  SessionPicker(const SessionPicker&) = delete;
  SessionPicker& operator=(const SessionPicker&) = delete;

  // The session index for a file of `size` bytes; a big file counts until Done.
  size_t Pick(uint64_t size);
  // The file of `size` bytes picked for `session` is finished.
  void Done(size_t session, uint64_t size);

 private:
  std::unique_ptr<std::atomic<int>[]> big_;  // per session: big files in progress
  size_t n_;
  std::atomic<size_t> next_{0};
};

}  // namespace skiff::sync
