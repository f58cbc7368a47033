// ZfsServeTarget: the client side of a `skiff serve --zfs-receive POOL/PREFIX` endpoint
// (sync/serve_zfs_receive.h), as a ZfsStreamTarget so ZfsSender works unchanged:
// Snapshots() lists the receiving dataset's snapshots (their guids pick the incremental
// base), Begin() starts a `zfs receive` on the server and the upload streams into it.
//
// Streaming: each Write() sends one kZfsData frame (up to serve::kMaxData bytes) without
// waiting for its reply; at most kWindowBytes are unacknowledged, so the link stays busy
// and memory stays bounded. The first failed frame's error (zfs's own message) is
// returned by the next Write() or by Commit().
//
// Thread-safety: one thread at a time (replies arrive on the ServeRemoteFs reader thread
// and only touch the upload's guarded counters). `fs` must outlive the target and its
// uploads. State after failure: destroying an upload without Commit() aborts the receive
// on the server; zfs commits nothing of a stream it did not get to the end.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sync/zfs_stream_target.h"
#include "transport/serve_remote_fs.h"

namespace skiff::sync {

class ZfsServeTarget : public ZfsStreamTarget {
 public:
  // 16 MiB unacknowledged: 16 frames of 1 MiB. On loopback 4 frames already keep ssh
  // busy; the rest covers a LAN/WAN round trip at a few hundred MB/s.
  static constexpr size_t kWindowBytes = 16u << 20;

  // Asks the endpoint about `name` (the dataset relative to its prefix). kUnsupported
  // when the endpoint has no --zfs-receive (the caller then stores stream files); any
  // other error is the endpoint's refusal (a name outside the prefix, ...).
  static Result<std::unique_ptr<ZfsServeTarget>> Open(ServeRemoteFs& fs, std::string name,
                                                      std::string description);

  // The dataset on the server ("pool/prefix/name") and whether it exists yet.
  const std::string& dataset() const { return dataset_; }
  bool exists() const { return exists_; }

  Result<std::vector<ZfsSnapshot>> Snapshots() override;
  Result<std::unique_ptr<ZfsStreamUpload>> Begin(const ZfsStreamHeader& header) override;
  std::string Describe() const override { return description_; }

 private:
  ZfsServeTarget(ServeRemoteFs& fs, std::string name, std::string description)
      : fs_(fs), name_(std::move(name)), description_(std::move(description)) {}
  Status Query();

  ServeRemoteFs& fs_;
  std::string name_;
  std::string description_;
  std::string dataset_;
  bool exists_ = false;
  std::vector<ZfsSnapshot> snapshots_;
  bool fresh_ = false;  // snapshots_ is from a query no caller has seen yet
};

}  // namespace skiff::sync
