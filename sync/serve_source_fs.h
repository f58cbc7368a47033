// ServeSourceFs: the source side of a pull backup (`skiff backup host:/var/www REPO`),
// a LocalFs whose tree lives behind a `skiff serve` endpoint, typically a key with
// `skiff serve --read-only --root /var/www` on the machine being backed up (doc/SERVE.md
// "Pull backups"). The backup engine runs unchanged on top of it.
//
// Paths are the serving machine's absolute paths under the serve root (root() is the
// root as the server names it); anything else is kPermission before a request is sent,
// and the server confines every request to its root anyway.
//
// Round trips: ListDir fetches a whole directory in batches with full stat data and
// symlink targets, and the Lstat/Readlink of each listed child is answered from that
// (an entry is dropped from the cache when used, so memory follows the directories
// being scanned, not the tree). Reads are pipelined (up to kReadAhead requests in
// flight once a file proves larger than one request). For a changed file,
// MatchAtSource sends the previous version's block signature to the server, which runs
// the rsync matcher over its file and returns copy/literal instructions plus the new
// file's xxh128 and signature; at most kMaxDeltas such jobs run at once.
//
// The restore-side methods refuse with kPermission: a pulled source is only read.
//
// Thread-safety: all methods may be called concurrently (the engine's workers do); a
// reader belongs to one thread. Ownership: owns the ServeRemoteFs; readers must not
// outlive this object. After the connection is lost every call fails with
// kConnectionLost.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sync/local_fs.h"
#include "transport/serve_remote_fs.h"

namespace skiff::sync {

class ServeSourceFs : public LocalFs {
 public:
  static constexpr int kReadAhead = 4;
  static constexpr int kMaxDeltas = 8;  // below the server's kMaxSourceDeltaJobs
  // Delta-next requests in flight per job: the server answers them in order, so a
  // literal-heavy file streams instead of waiting one round trip per MiB.
  static constexpr int kDeltaWindow = 3;

  // Asks the endpoint for its root (a peer without pull support fails with a message
  // saying so).
  static Result<std::unique_ptr<ServeSourceFs>> Create(std::unique_ptr<ServeRemoteFs> fs);
  ~ServeSourceFs() override;

  const std::string& root() const { return root_; }
  ServeRemoteFs& remote() { return *fs_; }
  // `path` (absolute, under root()) as a path relative to the serve root; kPermission
  // for anything outside.
  Result<std::string> ToRel(const std::string& path) const;
  // File content fetched by readers' Read calls so far (not delta literals).
  uint64_t content_bytes_read() const { return content_bytes_read_.load(); }
  void AddContentBytesRead(uint64_t n) { content_bytes_read_ += n; }

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

  // Used by the readers (see the .cc): one delta job slot.
  void AcquireDelta();
  void ReleaseDelta();

 private:
  ServeSourceFs(std::unique_ptr<ServeRemoteFs> fs, std::string root);
  Status ReadOnly(const std::string& what) const;

  std::unique_ptr<ServeRemoteFs> fs_;
  std::string root_;  // absolute, no trailing '/' (except "/" itself)

  std::mutex mu_;                             // guards stats_, links_
  std::map<std::string, LocalStat> stats_;    // listed, not yet asked for (by absolute path)
  std::map<std::string, std::string> links_;  // listed symlink targets, same
  std::mutex delta_mu_;                       // guards deltas_
  std::condition_variable delta_cv_;
  int deltas_ = 0;
  std::atomic<uint64_t> content_bytes_read_{0};
};

}  // namespace skiff::sync
