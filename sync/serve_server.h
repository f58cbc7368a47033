// ServeServer: the server side of `skiff serve` (doc/SERVE.md). Reads request frames
// (transport/serve_protocol.h) from a byte stream, checks each against the ServePolicy,
// performs it on the ConfinedRoot and writes one reply per request.
//
// A session must start with kHello. A frame that cannot be decoded (bad length, bad
// fields) gets an error reply and ends the session with kCorrupt; an operation the
// policy refuses gets a kPermission reply naming the rule and the session goes on.
// At most kMaxHandles files are open at once; one directory listing is cached between
// the batches of a ReadDir.
//
// Concurrency: Run reads requests on the calling thread and handles them there in
// order, except the kBuild requests of server-side builds, which go to a small pool of
// workers (kBuildWorkers), each build's requests in order, different builds in
// parallel; their replies may overtake earlier requests' (replies carry the request
// id). A pull backup's delta-job requests (ServeSourceHandlers::JobOf) go to the same
// pool, keyed by job (keys above 2^32, apart from build ids). At most
// kMaxQueuedRequests build requests / kMaxQueuedBytes of their payloads wait at once;
// beyond that Run stops reading. A build request holds publish_mu_ shared while it
// runs; the requests that publish or change the policy's state (rename, remove, rmdir,
// open with create) take it exclusively, so a build never straddles a publish. A
// malformed build request is refused (and the session ended) before it is
// queued. Link batches and base signatures go to a second pool (kMetaWorkers; batches
// in parallel, base signatures one at a time in order), also holding publish_mu_
// shared, so the requests read after them do not wait for their disk reads.
//
// Not thread-safe otherwise: one Run at a time. Owns the root and the open files; closing
// (destruction) closes every handle. A dropped connection leaves the repository as the
// last completed operation left it (every publish is one rename).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>
#include <vector>

#include "sync/confined_root.h"
#include "sync/serve_build_handlers.h"
#include "sync/serve_policy.h"
#include "sync/serve_source_handlers.h"
#include "sync/serve_zfs_receive.h"
#include "transport/channel.h"
#include "transport/serve_protocol.h"

namespace skiff::sync {

class ServeServer {
 public:
  static constexpr size_t kMaxHandles = 256;
  // Build workers: enough for two large rebuilds (I/O bound: reading the base, writing,
  // hashing) next to the small files' builds on a 2-core server.
  static constexpr int kBuildWorkers = 4;
  // The client keeps 16 requests of ~512 KiB in flight per build.
  static constexpr size_t kMaxQueuedRequests = 256;
  static constexpr size_t kMaxQueuedBytes = 32u << 20;
  // Workers for link batches and base signatures (kMaxQueuedRequests of them, at most
  // kMaxQueuedMetaBytes of payload, may wait): they wait on the disk, not the CPU.
  static constexpr int kMetaWorkers = 2;
  static constexpr size_t kMaxQueuedMetaBytes = 8u << 20;

  ServeServer(ConfinedRoot root, serve::Mode mode);
  ~ServeServer();
  ServeServer(const ServeServer&) = delete;
  ServeServer& operator=(const ServeServer&) = delete;

  // Also answers zfs receive requests (ops 60-69) through `zfs`, which must outlive
  // this server (skiff serve --root DIR --zfs-receive PREFIX).
  void set_zfs_receive(ServeZfsReceive* zfs) { zfs_ = zfs; }

  // Serves until the peer's EOF (OK) or a protocol error (kCorrupt, after replying).
  Status Run(Channel& ch);
  // Handles one request frame and returns the reply payload. Sets *fatal when the
  // session must end (malformed request, or a request before the hello).
  std::string Handle(const serve::Frame& f, bool* fatal);

 private:
  struct OpenFile {
    int fd = -1;
    ConfinedPath path;
    bool write = false;
    bool revoked = false;
    dev_t dev = 0;
    ino_t ino = 0;
  };

  Result<std::string> Dispatch(serve::Op op, serve::PayloadReader& r);
  Result<ConfinedPath> Path(std::string_view s) const { return ConfinedRoot::ParsePath(s); }
  Result<OpenFile*> GetHandle(uint32_t h);
  Result<OpenFile*> GetWritable(uint32_t h);
  Result<int> OpenNoFollow(const ConfinedPath& p, int flags) const;
  Status ApplyAttr(int opath_fd, const struct stat& st, const FileAttr& a, const ConfinedPath& p);
  Status SetStatPath(const ConfinedPath& p, const FileAttr& a, bool link);

  Result<std::string> DoOpen(serve::PayloadReader& r);
  Result<std::string> DoReadDir(serve::PayloadReader& r);
  Result<std::string> DoRename(serve::PayloadReader& r);
  Result<std::string> DoCopyData(serve::PayloadReader& r);

  // .skiff/lock created by this session: an flock is held on it while the session lives,
  // and it carries the xattr kLockXattr, so a later session can tell it is stale.
  static constexpr char kLockXattr[] = "user.skiff-serve-lock";
  bool StaleServeLock(const ConfinedPath& p) const;
  int lock_fd_ = -1;

  ConfinedRoot root_;
  ServePolicy policy_;
  ServeSourceHandlers source_{root_, policy_};  // pull-backup requests (ops 50-59)
  ServeBuildHandlers build_{root_, policy_};    // server-side delta requests (ops 40-49)
  ServeZfsReceive* zfs_ = nullptr;              // zfs receive requests (ops 60-69), if enabled
  // Shared by running build requests, exclusive for publishing requests (see above).
  std::shared_mutex publish_mu_;
  bool hello_done_ = false;
  uint32_t version_ = 0;  // the session's protocol version, set by the hello
  uint32_t next_handle_ = 1;
  std::map<uint32_t, OpenFile> handles_;
  std::string dir_cache_path_;
  std::vector<std::pair<std::string, FileAttr>> dir_cache_;
};

}  // namespace skiff::sync
