// BackupFileJob: the per-file half of a backup run (BackupEngine is the other half: the
// scan, the manifest, directories and ordering). Given one regular file of the source and
// its previous manifest entry, it puts the file into the snapshot being built, choosing
// in this order (each step in its own method):
//  1. Resume: the interrupted run already placed a complete copy (size, mtime, mode).
//  2. Unchanged: size, mtime, mode, owner, inode and ctime as in the previous manifest
//     (or, with `checksum`, the same content hash) -> hard link to the previous copy.
//  3. Same content: a small file whose metadata changed but whose content hashes as the
//     previous version's (touched, or rewritten with the same bytes) is copied on the
//     server from the previous snapshot's copy with copy-data instead of uploaded.
//  4. Transfer: read the local file once, hashing it and building its signature, and
//     either rebuild it on the server from the previous version's blocks (the delta, when
//     the previous version has a signature and the server has copy-data) or upload it.
// A new file is written straight into the snapshot being built (created exclusively;
// permissions and mtime set after its last byte), so a file there whose size, mtime and
// mode are the source's is complete: that is what step 1 relies on. When resuming an
// interrupted run the path may hold anything, so the upload goes to .skiff/tmp and is
// renamed into place instead.
// Sessions: each file's requests go to one of `config.sessions` (all of a file's handles
// on the same one), so many small files keep several server processes busy. A session
// runs its requests in order, so a small file's requests on a session that is also
// carrying a big file's writes wait behind megabytes of them: a big file (kBigFileSize)
// goes to the session with the fewest big files in progress, avoiding the first one
// (the repository's own, which carries the directories' creation) while another is
// free of them, and a small file to a session with the fewest big files in progress
// (round robin among those). Work that depends on a directory waits for its creation's
// reply (BackupEngine), which orders it across sessions.
//
// Thread-safety: one BackupFileJob serves a whole run; Run and the public helpers may be
// called from many threads at once. `warn` may be called from any of them (one call per
// warning; the caller serialises delivery). The Repository and LocalFs must outlive it.
// State after failure: a failed Run removes its partial file (if the server is still
// reachable; if not, the partial file's mtime and mode are not the source's, so the next
// run redoes it); a temporary may remain in .skiff/tmp (the next run clears it).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sync/local_fs.h"
#include "sync/manifest.h"
#include "sync/repository.h"
#include "sync/session_picker.h"
#include "sync/signature.h"

namespace skiff::sync {

// Minimum file size for which signatures are stored and deltas used. Below it a delta
// saves at most a few KiB and costs a signature round trip.
inline constexpr uint64_t kDeltaMinSize = 64 * 1024;

// What one file became in the snapshot.
struct FileResult {
  std::string hash;  // xxh128 of the content, hex
  uint64_t size = 0;
  bool has_signature = false;
  bool delta = false;         // rebuilt from the previous version
  uint64_t bytes_sent = 0;    // literals or upload
  uint64_t bytes_copied = 0;  // rebuilt server-side
};

// The outcome of one job, read by the engine once the job is done.
struct FileJobOutcome {
  Status status;                     // a failure that ends the run
  std::optional<FileResult> result;  // empty: vanished or unreadable (warned)
  bool reused = false;               // kept from the interrupted run
  bool unchanged = false;            // hard-linked to the previous snapshot
  bool transferred = false;          // uploaded or rebuilt
};

struct FileJobConfig {
  bool checksum = false;        // compare content, not only metadata
  bool preserve_owner = false;  // set numeric uid/gid on the server
  bool resuming = false;        // the snapshot directory holds an interrupted run
  std::string incomplete_dir;   // the snapshot being built
  std::string prev_dir;         // the previous snapshot's directory ("" = none)
  // Sessions of the repository's server to spread files over (sync/repo_connect.h
  // FileSessions); empty = the repository's own RemoteFs. Must outlive the job.
  std::vector<RemoteFs*> sessions;
  // Where LinkUnchangedAsync sends every hard link instead (null: round robin over
  // `sessions`): the compressed session (FileSessions), which carries no file data.
  RemoteFs* link_session = nullptr;
  int64_t prev_time = 0;  // start time of the previous snapshot
  std::function<void(const std::string&)> warn;
};

// Removes a file, symlink or tree on the server; absent is fine.
Status ClearRemote(RemoteFs& fs, const std::string& path);

class BackupFileJob {
 public:
  BackupFileJob(const Repository& repo, LocalFs& local, FileJobConfig config);
  BackupFileJob(const BackupFileJob&) = delete;
  BackupFileJob& operator=(const BackupFileJob&) = delete;

  // Backs up the regular file `local` (stat `st`, manifest entry `e` as scanned) to
  // snapshot path `rel`; `prev` is its entry in the previous manifest, if any.
  FileJobOutcome Run(const std::string& local, const std::string& rel, const LocalStat& st,
                     const ManifestEntry& e, const std::optional<ManifestEntry>& prev);

  // Step 2 without waiting, for the engine: when the session's RemoteFs takes hard links
  // asynchronously (transport/async_hardlink.h: SFTP with hardlink@openssh.com, a `skiff
  // serve` endpoint), the run is not resuming, contents are not compared and `st` is
  // unchanged from `prev` by its metadata, asks for the link to the previous snapshot's
  // copy on config.link_session (else the next session, round robin) and returns true; `done`
  // later gets the link's status, on another thread (it must not block). The file's
  // result is then `prev`'s, or, when the link failed, whatever Run makes of it. Returns
  // false, having done nothing, in every other case.
  bool LinkUnchangedAsync(const std::string& rel, const LocalStat& st, const ManifestEntry& e,
                          const std::optional<ManifestEntry>& prev,
                          std::function<void(Status)> done);

  // Helpers the engine shares (any thread).
  std::string Dst(const std::string& rel) const { return config_.incomplete_dir + "/" + rel; }
  std::string NewTmpPath(const char* kind);  // a fresh name in .skiff/tmp
  // Renames an upload into place; when resuming, replaces what is there.
  Status PlaceFile(const std::string& tmp, const std::string& dst) {
    return PlaceFile(fs_, tmp, dst);
  }
  // Permissions and times (and owner, if preserved and the server allows) via `apply`.
  Status ApplyAttrs(const std::function<Status(const FileAttr&)>& apply, uint32_t mode,
                    int64_t mtime, uint32_t uid, uint32_t gid);
  Status SetRemoteMeta(RemoteFile& f, uint32_t mode, int64_t mtime, uint32_t uid, uint32_t gid);
  // SetRemoteMeta, then Close, both sent at once and waited for together (a session runs
  // its requests in order): one round trip, not two, at the end of every written file.
  // When owners are to be set and the server may refuse them, one after the other.
  Status SetRemoteMetaAndClose(RemoteFile& f, uint32_t mode, int64_t mtime, uint32_t uid,
                               uint32_t gid);

 private:
  using MaybeResult = Result<std::optional<FileResult>>;  // empty: vanished (warned)
  // What a step decided: the file is done (*out filled), it vanished or cannot be read
  // (warned; no result), or the next step takes it.
  enum class Step { kDone, kGone, kNext };
  // Step 1: a complete copy from the interrupted run.
  Result<Step> TryResume(RemoteFs& fs, const std::string& local, const std::string& rel,
                         const LocalStat& st, const ManifestEntry& e,
                         const std::optional<ManifestEntry>& prev, FileResult* out);
  // Whether `st` is unchanged from `prev` by size, mtime, mode, owner, inode and ctime, and
  // not modified in or after the second the previous snapshot started; *same_meta: the
  // first four agree.
  bool UnchangedByMetadata(const LocalStat& st, const ManifestEntry& e, const ManifestEntry& prev,
                           bool* same_meta) const;
  // Step 2: unchanged since `prev` -> hard link to the previous snapshot's copy.
  Result<Step> TryUnchanged(RemoteFs& fs, const std::string& local, const std::string& rel,
                            const LocalStat& st, const ManifestEntry& e, const ManifestEntry& prev,
                            FileResult* out);
  // Step 3: a small file with the previous version's size and content -> server-side copy
  // of the previous snapshot's copy (with the new metadata).
  Result<Step> TrySameContent(RemoteFs& fs, const std::string& local, const std::string& rel,
                              const LocalStat& st, const ManifestEntry& prev, FileResult* out);
  // Step 4: one upload or rebuild: reads the local file once, hashing it, building its
  // signature and feeding either the uploader or the delta matcher.
  MaybeResult Transfer(RemoteFs& fs, const std::string& local, const std::string& rel,
                       const LocalStat& st, const ManifestEntry* prev_for_delta);
  // Hash (and, if asked, store the signature of) a local file without sending it.
  MaybeResult HashLocal(RemoteFs& fs, const std::string& local, const LocalStat& st,
                        bool store_signature);
  // Stores `sig` as the signature of content `hash`. With `base_path` and `base_bytes`
  // (a signature file on the server and its content, just read), the new file is built
  // on the server from a copy-data of the base plus writes of the bytes that differ,
  // when that sends less than half of the signature.
  Status PutSignature(RemoteFs& fs, const std::string& hash, const FileSignature& sig,
                      const std::string& base_path = "", const std::string* base_bytes = nullptr);

  Status PlaceFile(RemoteFs& fs, const std::string& tmp, const std::string& dst);
  // Where Transfer and TrySameContent write the content destined for `dst`, and how
  // they open it: `dst` itself (exclusive create) in a fresh tree, a new temporary
  // (create, truncate; renamed into place) when resuming.
  std::string WritePath(const std::string& dst);
  uint32_t WriteFlags() const;

  const Repository& repo_;
  RemoteFs& fs_;  // the repository's; directories, links and serve builds use it
  LocalFs& local_;
  const FileJobConfig config_;
  std::atomic<bool> server_sets_owner_{true};  // cleared when chown is refused
  // Set once a file's attributes, owner included, were set or refused (SetRemoteMetaAndClose).
  std::atomic<bool> owner_known_{false};
  std::mutex owner_mu_;  // held by the file finding out owner_known_
  std::atomic<uint64_t> tmp_seq_{0};
  // The index into sessions_ a file of `size` bytes is transferred on (file comment);
  // for a big file, counted in picker_ until the SessionLease that holds it ends.
  class SessionLease;
  SessionLease LeaseSession(uint64_t size);

  std::vector<RemoteFs*> sessions_;        // config_.sessions, or &fs_; fixed after construction
  std::atomic<uint64_t> next_session_{0};  // round robin of the links' sessions
  std::unique_ptr<SessionPicker> picker_;  // over sessions_
  std::mutex sig_mu_;                      // guards sig_dirs_made_; held while creating one
  std::set<std::string> sig_dirs_made_;    // guarded by sig_mu_
};

}  // namespace skiff::sync
