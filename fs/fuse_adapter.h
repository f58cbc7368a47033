// The FUSE side of `skiff mount`: a libfuse3 low-level session whose handlers only
// translate. Each handler takes the request, calls RemoteFilesystem, and sends exactly
// one reply; every error reply goes through one function that logs and replies
// (StatusToErrno decides the errno). State is reached through fuse_req_userdata; there
// are no globals. This is the only code in skiff that includes or links fuse3.
//
// Lifetime: Mount() creates the session and mounts; Run() serves requests on a
// multi-threaded loop until the filesystem is unmounted (skiff umount, fusermount3 -u)
// or SIGINT/SIGTERM/SIGHUP arrives; the destructor unmounts (if still mounted) and
// destroys the session. The RemoteFilesystem must outlive the adapter.
#pragma once

#include <string>
#include <vector>

#include "fs/remote_filesystem.h"
#include "transport/status.h"

struct fuse_session;

namespace skiff::fs {

struct FuseConfig {
  std::string mountpoint;
  std::string fsname;  // shown by mount(8) and df, e.g. "user@host:/path"
  bool allow_other = false;
  bool default_permissions = false;
  bool read_only = false;
  bool debug = false;                     // log every failed request, libfuse debug output
  std::vector<std::string> fuse_options;  // extra "name=value" FUSE mount options
  unsigned max_threads = 32;              // FUSE worker threads (requests in progress)
};

class FuseAdapter {
 public:
  explicit FuseAdapter(RemoteFilesystem* fs);
  ~FuseAdapter();
  FuseAdapter(const FuseAdapter&) = delete;
  FuseAdapter& operator=(const FuseAdapter&) = delete;

  Status Mount(const FuseConfig& config);
  // Serves requests until unmounted or signalled. Returns OK on a clean unmount.
  Status Run();

  RemoteFilesystem* fs() const { return fs_; }
  bool debug() const { return config_.debug; }

 private:
  RemoteFilesystem* fs_;
  FuseConfig config_;
  fuse_session* session_ = nullptr;
  bool mounted_ = false;
  bool signals_ = false;
};

}  // namespace skiff::fs
