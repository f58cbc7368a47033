// The writer lock of a repository: REPO/.skiff/lock, created exclusively, holding
// "host\tpid\tstart-time\n". Backup and prune take it; readers do not need it.
//
// A lock is stale if it was taken on this host by a process that no longer exists, or
// if it is older than `max_age` (a run that long is assumed dead: the default bound is
// 24 hours). A stale lock is broken (with a note on stderr by the caller); a live one
// gives kBusy naming the holder and how to remove it by hand.
//
// Not thread-safe. Release() (or the destructor) removes the lock file.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "sync/repository.h"

namespace skiff::sync {

struct LockIdentity {
  std::string host;
  int64_t pid = 0;
  int64_t now = 0;  // seconds since the epoch
  int64_t max_age = 24 * 3600;
  // Whether a process with this pid runs on this host (kill(pid, 0) in production).
  std::function<bool(int64_t pid)> pid_alive;
};

class RepoLock {
 public:
  // `broke_stale` (optional) receives a description of a stale lock that was broken.
  static Result<std::unique_ptr<RepoLock>> Acquire(const Repository& repo, const LockIdentity& me,
                                                   std::string* broke_stale = nullptr);
  ~RepoLock();
  RepoLock(const RepoLock&) = delete;
  RepoLock& operator=(const RepoLock&) = delete;
  Status Release();

 private:
  RepoLock(RemoteFs& fs, std::string path) : fs_(fs), path_(std::move(path)) {}
  RemoteFs& fs_;
  std::string path_;
  bool held_ = true;
};

}  // namespace skiff::sync
