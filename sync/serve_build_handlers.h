// ServeBuildHandlers: the server side of the server-side delta (protocol version 2, ops
// 40-49; doc/SERVE.md "Server-side delta"). A push backup through `skiff serve` uses
// them instead of the SFTP-style requests, so the previous version's signature is read
// (or computed) here, a changed file is rebuilt here from one compact stream of copy
// ranges and literals, and the new file's hash is checked and its signature computed
// and stored here: no signature upload, no request per copy instruction, and many hard
// links per request.
//
// Requests (fields as serve::PayloadWriter writes them):
//   kBaseSignature  str base, str stored_sig, u32 block_size, u64 offset
//                   -> u64 total, str chunk
//       The encoded FileSignature (sync/signature.h) of the regular file `base`: the
//       one stored at `stored_sig` when it decodes and matches base's size, else
//       computed from base with `block_size` (0: ChooseBlockSize). Replies carry at most
//       kSignatureChunk bytes from `offset`; a request with offset > 0 continues the
//       signature of the previous request (same fields), else kInvalid.
//   kBuild          u32 build, u8 flags,
//                   [kBegin: str base ("" = none), str tmp, str dst, u32 sig_block_size,
//                            [kBaseSig: str base_sig]],
//                   u32 n, n x (u8 0, u64 base_offset, u64 length | u8 1, str literal |
//                            u8 2, u64 length, str zlib-compressed literal),
//                   [kEnd: u64 size, str xxh128 hex, attr, str sig_path, str sig_tmp]
//                   -> kEnd: u8 signature_stored; else ()
//       Builds `tmp` (created exclusively) from the instructions, in order, across as
//       many requests as the client likes (ids are the client's, so they pipeline). At
//       kEnd: the size and whole-file xxh128 must match what was written (else kCorrupt
//       and nothing is kept), the attributes (mode, times, owner when permitted) are set,
//       tmp is renamed to `dst` without replacing (kReplace: an existing non-directory
//       dst is removed first), and with sig_block_size > 0 the new content's signature is
//       written to sig_tmp and renamed to sig_path (an existing one is kept: signatures
//       are content-addressed). kSync (with kEnd) fsyncs the file before the rename.
//       kBaseSig (protocol version 3) names base's stored signature: when it is valid
//       for base (its size) at sig_block_size, a whole base block copied to a block
//       boundary of the new file gives the new signature that block's entry without
//       hashing it (an unchanged stretch of a big file costs no signature work). A wrong
//       one only makes the stored signature wrong, which the next delta's hash check
//       catches (the file is then uploaded whole); the content is always checked.
//       kAbort drops the build and its tmp. A failed request
//       drops its build too; later requests for it get kInvalid.
//   kLinkBatch      u32 n, n x (u16 keep, str tail, u16 keep, str tail)
//                   -> u32 n, n x (u8 code, [code != 0: str message])
//       n hard links (existing -> new path). Each path is the previous item's same path
//       cut to `keep` bytes plus `tail` (the first item's keeps are 0).
//
// Policy: every path goes through ConfinedRoot::ParsePath and every change through the
// same ServePolicy checks as the plain requests: building needs CheckOpen(create) on tmp
// and CheckWriteHandle on it, a rename CheckRename (and a build may not publish: in
// the restricted modes a tmp -> dst that ServePolicy::Publishes is refused; publishing
// stays a plain rename), a replaced dst CheckRemove, links CheckHardlink, a computed
// base signature CheckReadData on base (a write-only key gets only stored signatures).
// Read-only keys can ask for signatures only.
//
// Limits: kMaxBuilds builds at once; signatures of at most kMaxSignatureBlocks blocks
// (larger: computed base signatures are refused, new ones are not stored); kLinkBatch
// at most kMaxLinks items and paths of at most kMaxPath bytes.
//
// Thread-safety: kBuild requests of different builds may be handled on different
// threads at once; the requests of one build, and every kBaseSignature and kLinkBatch,
// must come from one thread at a time (ServeServer queues each build's requests in
// order). `root` and `policy` must outlive it.
// Destruction closes every build (their tmp files stay in the scratch area, which the
// next backup clears).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "sync/confined_root.h"
#include "sync/serve_policy.h"
#include "sync/signature.h"
#include "transport/serve_protocol.h"

namespace skiff::sync {

class ServeBuildHandlers {
 public:
  static constexpr size_t kMaxBuilds = 128;
  static constexpr size_t kSignatureChunk = 512 * 1024;
  // 4 Mi blocks: a 64 MiB encoded signature, the blocks of a 2.7 GiB file at the
  // smallest block size or of a 512 GiB file at the largest.
  static constexpr uint64_t kMaxSignatureBlocks = 4u << 20;
  // 512 links per batch with at most 1 KiB of message each: a reply stays below
  // serve::kMaxData even when every link is refused.
  static constexpr uint32_t kMaxLinks = 512;
  static constexpr size_t kMaxLinkMessage = 1024;
  static constexpr size_t kMaxPath = 4096;
  // Largest compressed literal once inflated (the client sends 256 KiB pieces).
  static constexpr uint64_t kMaxInflated = 4u << 20;
  // kBuild flags.
  static constexpr uint8_t kBegin = 1, kEnd = 2, kReplace = 4, kAbort = 8, kSync = 16,
                           kBaseSig = 32;
  // Largest stored base signature a build loads to reuse its entries (kBaseSig): 43 690
  // blocks, e.g. a 680 MiB file at 16 KiB blocks; kMaxBuilds of them are 64 MiB.
  static constexpr uint64_t kMaxReusedSignatureBytes = 512 * 1024;

  ServeBuildHandlers(const ConfinedRoot& root, const ServePolicy& policy);
  ~ServeBuildHandlers();
  ServeBuildHandlers(const ServeBuildHandlers&) = delete;
  ServeBuildHandlers& operator=(const ServeBuildHandlers&) = delete;

  static bool Handles(serve::Op op);
  // Whether a kBuild payload is complete and well-formed, without acting on it (so a
  // malformed one ends the session before it is queued); sets *id. An unknown
  // instruction kind counts as well-formed (its build fails with kCorrupt).
  static bool WellFormedBuild(std::string_view payload, uint32_t* id);
  // Handles one request; the result fields of the reply, or its failure. A short or
  // malformed payload leaves `r` not ok (the caller ends the session).
  Result<std::string> Handle(serve::Op op, serve::PayloadReader& r);
  // After a rename published `published` (its lstat from before the rename) out of the
  // scratch area: every build writing that file (by device and inode, so a hard link
  // of a build's scratch file counts), or every build when it is a directory, is
  // revoked: its later requests fail with kPermission and its file is not touched
  // again, so nothing published changes through a build begun before. Call it while
  // no build request runs (ServeServer holds its publish lock exclusively).
  void RevokePublished(const struct stat& published);

  // Creates `to` as a hard link to `from` (paths as the client names them, confined to
  // the root, as the policy allows): a link batch's entries and the single kHardlink
  // request. Touches no build state; callable from any thread.
  Status Link(std::string_view from, std::string_view to) const;

 private:
  struct Build;

  Result<std::string> BaseSignature(serve::PayloadReader& r);
  Result<std::string> DoBuild(serve::PayloadReader& r);
  Status BeginBuild(uint32_t id, serve::PayloadReader& r, bool replace, bool with_base_sig);
  // The valid signature stored at `path` (at most max_bytes), if the policy lets this
  // key read it; else none.
  std::optional<FileSignature> ReadStoredSignature(std::string_view path, uint64_t max_bytes) const;
  Status Apply(Build& b, serve::PayloadReader& r);
  Result<std::string> EndBuild(Build& b, serve::PayloadReader& r, bool sync);
  bool StoreSignature(const std::string& encoded, std::string_view sig_path,
                      std::string_view sig_tmp);
  Result<std::string> LinkBatch(serve::PayloadReader& r);
  Result<int> OpenNoFollow(const ConfinedPath& p, int flags) const;
  void Drop(uint32_t id);

  const ConfinedRoot& root_;
  const ServePolicy& policy_;
  std::mutex builds_mu_;  // guards builds_ (not the Builds: one thread per build)
  std::map<uint32_t, std::unique_ptr<Build>> builds_;
  std::string sig_key_;  // the request the cached signature answers ("" = none)
  std::string sig_;      // its encoded signature
};

}  // namespace skiff::sync
