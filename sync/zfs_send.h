// `skiff zfs send`: decide what to send (PlanZfsSend, pure) and send it (ZfsSender).
//
// The newest snapshot both sides share is found by guid, never by name. Each local
// snapshot newer than it becomes one incremental stream (`zfs send -i prev snap`), so
// the destination can restore every one of them. A destination whose newest snapshot
// is not that shared one has diverged (the source was rolled back, or another dataset
// sends there) and is refused with a message saying what diverged and what to do; a
// full stream starting a new chain is sent only with allow_full.
//
// Each stream runs `zfs send` on a producer thread into a bounded ZfsPipeBuffer that
// the calling thread drains into the target, so both stay busy.
//
// Thread-safety: a ZfsSender is used by one thread; host and target must outlive it.
// State after failure: every stream committed before the failure stays stored and
// indexed; the failed one leaves nothing that looks complete (see ZfsStreamTarget).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sync/zfs_host.h"
#include "sync/zfs_stream_target.h"

namespace skiff::sync {

struct ZfsSendPlan {
  std::optional<ZfsSnapshot> base;   // shared snapshot the first incremental starts from
  std::vector<ZfsSnapshot> to_send;  // in order; empty = destination is up to date
  bool new_chain = false;            // the first stream is a full one
};

// `local`: the dataset's snapshots oldest first; `remote`: the target's, oldest first.
// `dataset` and `dest` only name things in messages.
Result<ZfsSendPlan> PlanZfsSend(const std::vector<ZfsSnapshot>& local,
                                const std::vector<ZfsSnapshot>& remote, const std::string& dataset,
                                const std::string& dest, bool allow_full);

// "skiff-20261122T005500Z" for `t` (UTC).
std::string ZfsSnapshotNameFor(int64_t unix_seconds);

struct ZfsSendOptions {
  std::string dataset;
  bool create_snapshot = false;  // --snapshot
  bool raw = false;              // --raw (zfs send -w)
  bool compressed = false;       // --compressed (zfs send -c)
  bool allow_full = false;       // --allow-full
  // Bytes buffered between `zfs send` and the target. 64 MiB absorbs the bursts of
  // zfs send (it stalls on metadata, then produces at disk speed) on a 1 Gbit/s link
  // for about half a second.
  size_t buffer_bytes = 64ull << 20;
  size_t chunk_bytes = 1ull << 20;
  // Called with the snapshot being sent and its bytes so far (on the calling thread).
  std::function<void(const std::string& snapshot, uint64_t bytes)> progress;
  // Clock for --snapshot names (tests pin it); default: the system clock.
  std::function<int64_t()> now;
};

struct ZfsSentStream {
  std::string snapshot;
  std::string from;  // "" for a full stream
  uint64_t bytes = 0;
  std::string xxh128;
};

struct ZfsSendResult {
  std::string created_snapshot;  // with --snapshot
  std::vector<ZfsSentStream> sent;
};

class ZfsSender {
 public:
  ZfsSender(ZfsHost& host, ZfsStreamTarget& target, ZfsSendOptions options)
      : host_(host), target_(target), options_(std::move(options)) {}
  Result<ZfsSendResult> Run();

 private:
  Result<ZfsSentStream> SendOne(const ZfsSnapshot& snap, const std::optional<ZfsSnapshot>& from);

  ZfsHost& host_;
  ZfsStreamTarget& target_;
  ZfsSendOptions options_;
};

}  // namespace skiff::sync
