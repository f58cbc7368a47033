// The local ZFS as skiff's zfs commands see it: list a dataset's snapshots with their
// guids, create a snapshot, produce a send stream, consume a receive stream.
//
// Production: ZfsCliHost (zfs_cli_host.h) runs the `zfs` program. Tests: an in-memory
// fake (tests/zfs/fake_zfs_host.h), so the chain logic is tested without a pool.
//
// Thread-safety: implementations are used from one thread at a time. A stream or sink
// must be finished or destroyed before the host that made it. Destroying a stream or a
// sink without Finish() aborts it (for a receive: nothing is committed, as `zfs receive`
// of a truncated stream commits nothing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transport/status.h"

namespace skiff::sync {

struct ZfsSnapshot {
  std::string name;   // the part after '@'
  uint64_t guid = 0;  // the snapshot's guid property: equal guids are the same snapshot
};

// Bytes of a `zfs send` as they are produced.
class ZfsSendStream {
 public:
  virtual ~ZfsSendStream() = default;
  // Up to `n` bytes; 0 at the end of the stream.
  virtual Result<size_t> Read(char* buf, size_t n) = 0;
  // After the last Read: OK if the sender succeeded, else its own message.
  virtual Status Finish() = 0;
};

// A `zfs receive` being fed.
class ZfsReceiveSink {
 public:
  virtual ~ZfsReceiveSink() = default;
  virtual Status Write(std::string_view data) = 0;
  // End of input: OK once the receive committed, else its own message.
  virtual Status Finish() = 0;
};

struct ZfsSendSpec {
  std::string dataset;      // pool/fs
  std::string from;         // snapshot name for an incremental (`-i @from`); "" = full
  std::string to;           // snapshot name to send
  bool raw = false;         // -w (encrypted datasets as stored)
  bool compressed = false;  // -c (blocks as compressed on disk)
};

class ZfsHost {
 public:
  virtual ~ZfsHost() = default;
  // Snapshots of exactly `dataset` (not its children), oldest first (creation order).
  // kNotFound if the dataset does not exist.
  virtual Result<std::vector<ZfsSnapshot>> ListSnapshots(const std::string& dataset) = 0;
  virtual Result<bool> DatasetExists(const std::string& dataset) = 0;
  virtual Status CreateSnapshot(const std::string& dataset, const std::string& name) = 0;
  virtual Result<std::unique_ptr<ZfsSendStream>> Send(const ZfsSendSpec& spec) = 0;
  // Receives into `dataset` (created by a full stream; must hold the stream's origin
  // snapshot as its newest for an incremental). `force` rolls back local changes made
  // since that snapshot (`-F`).
  virtual Result<std::unique_ptr<ZfsReceiveSink>> Receive(const std::string& dataset,
                                                          bool force) = 0;
};

}  // namespace skiff::sync
