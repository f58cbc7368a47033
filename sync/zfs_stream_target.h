// Where `skiff zfs send` puts streams: the seam between the send logic (zfs_send.h) and
// the destination.
//
// Implementations: ZfsStreamStore (stream files on any SFTP server, zfs_stream_store.h).
// A `skiff serve --zfs-receive` endpoint implements the same interface on the client
// side of its protocol: Snapshots() lists the receiving dataset's snapshots and Begin()
// feeds a `zfs receive` on the server, so ZfsSender works unchanged against either.
//
// Thread-safety: one thread at a time. An upload must be committed or destroyed before
// its target; destroying it without Commit() aborts it and leaves nothing that looks
// like a complete stream.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sync/zfs_host.h"
#include "transport/status.h"

namespace skiff::sync {

struct ZfsStreamHeader {
  std::string dataset;       // source dataset (informational for a store)
  std::string snapshot;      // snapshot name the stream produces
  uint64_t guid = 0;         // its guid
  uint64_t parent_guid = 0;  // origin of an incremental; 0 = full
};

class ZfsStreamUpload {
 public:
  virtual ~ZfsStreamUpload() = default;
  // Appends stream bytes, in order.
  virtual Status Write(std::string_view data) = 0;
  // All bytes written: make the stream durable and visible. Returns the bytes and
  // xxh128 of what was stored.
  struct Stored {
    uint64_t size = 0;
    std::string xxh128;
  };
  virtual Result<Stored> Commit() = 0;
};

class ZfsStreamTarget {
 public:
  virtual ~ZfsStreamTarget() = default;
  // Snapshots the destination holds, oldest first; the last is the one an incremental
  // must start from.
  virtual Result<std::vector<ZfsSnapshot>> Snapshots() = 0;
  // Starts storing one stream. A full stream (parent_guid 0) may start a new chain; an
  // incremental's parent must be held.
  virtual Result<std::unique_ptr<ZfsStreamUpload>> Begin(const ZfsStreamHeader& header) = 0;
  // Human-readable name for messages ("sftp:host:/path").
  virtual std::string Describe() const = 0;
};

}  // namespace skiff::sync
