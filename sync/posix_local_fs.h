// LocalFs on the POSIX API (the real disk). See local_fs.h for the contract.
// Thread-safe.
//
// Restore-side calls keep a few directory descriptors open (the most recently used
// directories below the restore root, at most kDirCacheSize) so that a file costs one
// openat, not one per path component on every call. Every cached descriptor was opened
// component by component with O_NOFOLLOW, so confinement is unchanged. The cache is
// emptied by MakeRoot (the start of every restore); within one restore, a directory
// that someone else moves keeps receiving the files restored below it.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "sync/local_fs.h"

struct stat;

namespace skiff::sync {

// The LocalStat of an lstat/fstatat result, as PosixLocalFs::Lstat gives it (also used
// by the pull source, sync/serve_source_handlers.cc, which reads the same disk).
LocalStat LocalStatFromStat(const struct stat& st);

class PosixLocalFs : public LocalFs {
 public:
  // Directories kept open. The restore walks the manifest in path order with 48 files
  // in flight, so the few directories being filled at once are always cached.
  static constexpr size_t kDirCacheSize = 64;

  Result<LocalStat> Lstat(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Result<std::string> Readlink(const std::string& path) override;
  Result<std::unique_ptr<LocalReader>> OpenRead(const std::string& path) override;

  Status MakeRoot(const std::string& root) override;
  Status MkdirUnder(const std::string& root, const std::string& rel) override;
  Result<std::unique_ptr<LocalWriter>> CreateUnder(const std::string& root,
                                                   const std::string& rel) override;
  Status SymlinkUnder(const std::string& root, const std::string& rel,
                      const std::string& target) override;
  Status LinkUnder(const std::string& root, const std::string& existing_rel,
                   const std::string& rel) override;
  Status SetMetaUnder(const std::string& root, const std::string& rel, const LocalMeta& meta,
                      bool is_symlink) override;
  Status RemoveUnder(const std::string& root, const std::string& rel) override;

  // An open directory; closed when the last user (cache or caller) lets go.
  class DirFd {
   public:
    explicit DirFd(int fd) : fd_(fd) {}
    ~DirFd();
    DirFd(const DirFd&) = delete;
    DirFd& operator=(const DirFd&) = delete;
    int get() const { return fd_; }

   private:
    int fd_;
  };

 private:
  // The directory holding `rel`'s last component, and that component.
  struct Parent {
    std::shared_ptr<DirFd> dir;
    std::string name;
  };
  Result<Parent> OpenParent(const std::string& root, const std::string& rel);
  std::shared_ptr<DirFd> CacheFind(const std::string& key);
  void CacheAdd(const std::string& key, std::shared_ptr<DirFd> dir);

  std::mutex mu_;  // guards the cache below
  // Most recently used first; key is root + '\0' + directory path below root.
  std::list<std::pair<std::string, std::shared_ptr<DirFd>>> lru_;
  std::unordered_map<std::string, decltype(lru_)::iterator> index_;
};

}  // namespace skiff::sync
