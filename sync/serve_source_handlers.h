// ServeSourceHandlers: the server side of pull backups (doc/SERVE.md "Pull backups";
// fields in sync/serve_source_protocol.h). A backup host pulls a tree from a machine
// whose key runs `skiff serve --read-only --root DIR`; these requests let it scan the
// tree with full stat data in batches (one round trip per directory, symlink targets
// included) and run the rsync matcher here, next to the file, against the block
// signatures of the host's previous snapshot: only copy instructions, new bytes and the
// new file's hash and signature cross the wire.
//
// Every request only reads: no request here creates, changes or removes anything, so
// each is allowed in every mode; reading file contents is checked with
// ServePolicy::CheckReadData (a write-only key cannot pull). Paths go through the
// ConfinedRoot like every other serve request.
//
// Limits: kMaxSourceDeltaJobs jobs at once, kMaxSourceSignature bytes of base signatures
// held per session, one directory listing cached between batches; a reply stays below
// serve::kMaxData, and one delta-next reads at most kMaxReadPerNext bytes of the file so
// other requests of the session are not held up for long.
//
// Thread-safety: one per ServeServer session. The requests naming a job (delta-sig,
// delta-next, delta-close; JobOf) may be handled on other threads than the session's,
// concurrently with the session thread's requests and with other jobs' requests, as long
// as each job's requests are handled one at a time in order (the server runs them on its
// worker pool keyed by job, so matching a large file does not hold up the scan); every
// other request comes from one thread. `root` and `policy` must outlive it.
// A failed request leaves no job behind except one it reports as still running.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sync/confined_root.h"
#include "sync/local_fs.h"
#include "sync/serve_policy.h"
#include "transport/serve_protocol.h"

namespace skiff::sync {

class ServeSourceHandlers {
 public:
  static constexpr uint64_t kMaxReadPerNext = 16u << 20;

  ServeSourceHandlers(const ConfinedRoot& root, const ServePolicy& policy);
  ~ServeSourceHandlers();
  ServeSourceHandlers(const ServeSourceHandlers&) = delete;
  ServeSourceHandlers& operator=(const ServeSourceHandlers&) = delete;

  // True for the ops this class handles (serve::Op::kSourceRoot .. kSourceDeltaClose).
  static bool Handles(serve::Op op);
  // True, with *job set, for a request that names a delta job (see Thread-safety) and
  // whose payload starts with the job id.
  static bool JobOf(uint8_t op, std::string_view payload, uint32_t* job);
  // Handles one request; the result fields of the reply, or its failure. A short or
  // malformed payload leaves `r` not ok (the caller ends the session).
  Result<std::string> Handle(serve::Op op, serve::PayloadReader& r);

 private:
  struct Job;

  Result<std::string> Root();
  Result<std::string> Lstat(serve::PayloadReader& r);
  Result<std::string> List(serve::PayloadReader& r);
  Result<std::string> DeltaOpen(serve::PayloadReader& r);
  Result<std::string> DeltaSig(serve::PayloadReader& r);
  Result<std::string> DeltaNext(serve::PayloadReader& r);
  Result<std::string> DeltaClose(serve::PayloadReader& r);
  Result<std::shared_ptr<Job>> GetJob(uint32_t id);
  void EndJob(uint32_t id);

  const ConfinedRoot& root_;
  const ServePolicy& policy_;
  struct Listed {
    std::string name, link;
    LocalStat st;
  };
  std::string list_path_;  // the cached listing's path ("" with list_ empty: none)
  std::vector<Listed> list_;
  // Guards next_job_, jobs_, signature_bytes_ and each job's base_len (a job's other
  // fields belong to the thread handling its current request). Never held while a file
  // is read or matched.
  std::mutex mu_;
  uint32_t next_job_ = 1;
  std::map<uint32_t, std::shared_ptr<Job>> jobs_;
  uint64_t signature_bytes_ = 0;  // base signature bytes held by jobs_
};

}  // namespace skiff::sync
