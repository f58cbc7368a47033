// ZfsHost backed by the `zfs` program (ZfsProcess: argv, no shell, zfs's own messages).
//
// Works with OpenZFS and with zfs-fuse (pool version 23), using only options both
// understand: `list -H -o -s -d -t`, `get -H -p -o`, `send [-i]`, `receive [-F]`.
// `raw` and `compressed` pass -w / -c; a zfs that lacks them (zfs-fuse) fails with its
// own "invalid option" message.
//
// Thread-safety: stateless; safe from any thread.
#pragma once

#include "sync/zfs_host.h"

namespace skiff::sync {

class ZfsCliHost : public ZfsHost {
 public:
  Result<std::vector<ZfsSnapshot>> ListSnapshots(const std::string& dataset) override;
  Result<bool> DatasetExists(const std::string& dataset) override;
  Status CreateSnapshot(const std::string& dataset, const std::string& name) override;
  Result<std::unique_ptr<ZfsSendStream>> Send(const ZfsSendSpec& spec) override;
  Result<std::unique_ptr<ZfsReceiveSink>> Receive(const std::string& dataset, bool force) override;
};

}  // namespace skiff::sync
