// A RemoteFs wrapper for tests: forwards to another RemoteFs and injects failures.
//   set_lost(true)       every call (and every call on files opened through it) fails
//                        with kConnectionLost, as after a dropped connection
//   set_fail_writes(s)   WriteAsync/Write complete with status `s`
//   set_fail_syncs(s)    Sync (fsync@openssh.com) on its files returns `s`
// It also counts calls by kind (reads with the bytes asked for, writes, syncs) and
// records which threads made fsetstat calls (file_setstat_threads) and how many
// fsetstats and closes were handed over without waiting (SetStatAsync, CloseAsync).
// Thread-safe (atomics); the wrapped fs must outlive it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "transport/remote_fs.h"

namespace skiff::testing {

class FaultyRemoteFs : public RemoteFs {
 public:
  explicit FaultyRemoteFs(std::shared_ptr<RemoteFs> inner) : inner_(std::move(inner)) {}

  void set_lost(bool lost) { lost_ = lost; }
  bool lost() const { return lost_; }
  void set_fail_writes(Status s) {
    std::lock_guard<std::mutex> l(mu_);
    fail_writes_ = std::move(s);
  }
  Status fail_writes() const {
    std::lock_guard<std::mutex> l(mu_);
    return fail_writes_;
  }
  void set_fail_syncs(Status s) {
    std::lock_guard<std::mutex> l(mu_);
    fail_syncs_ = std::move(s);
  }
  Status fail_syncs() const {
    std::lock_guard<std::mutex> l(mu_);
    return fail_syncs_;
  }
  uint64_t calls() const { return calls_; }
  uint64_t read_requests() const { return read_requests_; }
  uint64_t read_bytes_requested() const { return read_bytes_; }
  uint64_t stat_calls() const { return stats_; }
  uint64_t write_calls() const { return writes_; }
  uint64_t sync_calls() const { return syncs_; }
  // SetStatAsync / CloseAsync calls on files opened through it.
  uint64_t setstat_async_calls() const { return setstat_async_; }
  uint64_t close_async_calls() const { return close_async_; }
  // Kernel thread ids of the threads that called SetStat on a file opened through it.
  std::set<pid_t> file_setstat_threads() const {
    std::lock_guard<std::mutex> l(mu_);
    return setstat_threads_;
  }

  const Capabilities& caps() const override { return inner_->caps(); }
  Result<FileAttr> Stat(const std::string& path) override;
  Result<FileAttr> Lstat(const std::string& path) override;
  Status SetStat(const std::string& path, const FileAttr& attr) override;
  Status LSetStat(const std::string& path, const FileAttr& attr) override;
  Result<std::vector<DirEntry>> ReadDir(const std::string& path) override;
  Result<std::unique_ptr<RemoteFile>> Open(const std::string& path, uint32_t flags,
                                           uint32_t mode = 0644) override;
  Status Mkdir(const std::string& path, uint32_t mode = 0755) override;
  Status Rmdir(const std::string& path) override;
  Status Remove(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to, RenameMode mode) override;
  Status Symlink(const std::string& target, const std::string& link_path) override;
  Result<std::string> Readlink(const std::string& path) override;
  Status Hardlink(const std::string& existing, const std::string& new_path) override;
  Result<FsStats> StatVfs(const std::string& path) override;
  Result<std::string> RealPath(const std::string& path) override;
  Status CopyData(RemoteFile& src, uint64_t src_offset, uint64_t len, RemoteFile& dst,
                  uint64_t dst_offset) override;

  // Counters used by the file wrapper.
  Status Gate();  // kConnectionLost while lost, else OK; counts the call
  void CountWrite() { ++writes_; }
  void CountSync() { ++syncs_; }
  void NoteFileSetStatThread();
  void CountRead(uint32_t len) {
    ++read_requests_;
    read_bytes_ += len;
  }

 private:
  class File;
  std::shared_ptr<RemoteFs> inner_;
  std::atomic<bool> lost_{false};
  mutable std::mutex mu_;
  Status fail_writes_;               // guarded by mu_
  Status fail_syncs_;                // guarded by mu_
  std::set<pid_t> setstat_threads_;  // guarded by mu_
  std::atomic<uint64_t> calls_{0}, read_requests_{0}, read_bytes_{0}, stats_{0}, writes_{0},
      syncs_{0}, setstat_async_{0}, close_async_{0};
};

}  // namespace skiff::testing
