// Whole-file and whole-tree copies between the local filesystem and a RemoteFs, with
// reads/writes pipelined (`window` requests in flight), as used by `skiff cp`.
//
// Atomicity and resume: data goes to "DEST.skiff-partial" next to DEST, which is renamed
// over DEST only once complete, so DEST is never seen half-written. On failure the
// partial file is removed, unless `keep_partial` is set: then it stays, and the next run
// with `keep_partial` resumes from its size (like rsync --partial --append: the bytes
// already there are trusted to be a prefix of the unchanged source; a partial file
// larger than the source is discarded).
//
// Thread-safety: each call is independent; the RemoteFs may be shared with other threads.
// Calls block until done. State after failure: DEST is untouched (see above for the
// partial file); in tree copies, files copied before the failure stay.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "transport/remote_fs.h"
#include "transport/status.h"

namespace skiff {

struct TransferOptions {
  bool recursive = false;     // copy directories (cp -r)
  bool preserve = false;      // keep permission bits and mtime/atime (cp -p)
  bool keep_partial = false;  // keep and resume DEST.skiff-partial (cp --partial)
  // Requests in flight per file. 64 x 255 KiB = 16 MiB, the SftpClient's default
  // byte window: enough to fill loopback and 1 Gbit/s links with up to ~100 ms RTT.
  uint32_t window = 64;
  // Called on the calling thread after each completed chunk: the file being copied,
  // bytes done and total for that file.
  std::function<void(const std::string& name, uint64_t done, uint64_t total)> progress;
  // Called for each file that failed in a tree copy (the copy goes on with the rest).
  std::function<void(const Status&)> on_error;
};

// Suffix of the in-progress file next to the destination.
inline constexpr char kPartialSuffix[] = ".skiff-partial";

// Copies the remote file `remote` to the local path `local` (the full destination
// name). Fails with kIsDirectory for a directory.
Status DownloadFile(RemoteFs& fs, const std::string& remote, const std::string& local,
                    const TransferOptions& opts);
// Copies the local file `local` to `remote` (the full destination name).
Status UploadFile(RemoteFs& fs, const std::string& local, const std::string& remote,
                  const TransferOptions& opts);

// As above, but a directory source is copied recursively (when opts.recursive, else
// kIsDirectory naming -r) into `dest`, created if missing. Symlinks are followed, as
// scp does. Failures of single files are reported through on_error and the copy goes
// on; the result then fails with kIo counting them.
Status Download(RemoteFs& fs, const std::string& remote, const std::string& local,
                const TransferOptions& opts);
Status Upload(RemoteFs& fs, const std::string& local, const std::string& remote,
              const TransferOptions& opts);

}  // namespace skiff
