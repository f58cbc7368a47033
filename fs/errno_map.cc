#include "fs/errno_map.h"

#include <cerrno>

namespace skiff::fs {

int StatusToErrno(const Status& status, FsOp op) {
  switch (status.code()) {
    case Code::kOk:
      return 0;
    case Code::kNotFound:
      return ENOENT;
    case Code::kPermission:
      // SFTP v3 has one "permission denied" code for both "not allowed by mode bits" and
      // "not allowed at all" (e.g. chown by a non-root server user). EACCES is what
      // sshfs and NFS report and what tools like cp and tar expect. For setattr the man
      // pages of chmod(2), chown(2) and utimensat(2) prescribe EPERM ("not the owner",
      // "not privileged"), which is what a refused SETSTAT means.
      return op == FsOp::kSetAttr ? EPERM : EACCES;
    case Code::kExists:
      return EEXIST;
    case Code::kNotDirectory:
      return ENOTDIR;
    case Code::kIsDirectory:
      return EISDIR;
    case Code::kNotEmpty:
      return ENOTEMPTY;
    case Code::kInvalidArgument:
      return EINVAL;
    case Code::kUnsupported:
      // mknod(2) and link(2) both document EPERM for "the filesystem does not support
      // this kind of node / hard links": a fifo or device cannot be made over SFTP, and
      // without hardlink@openssh.com no link can be made. Tools (cp -a, tar) recognise
      // EPERM there and carry on.
      if (op == FsOp::kMknod || op == FsOp::kLink) return EPERM;
      // Elsewhere the server lacks an extension the operation needs. EPERM would claim
      // a permission problem and ENOSYS makes the kernel stop calling that operation
      // forever; EOPNOTSUPP says exactly "this filesystem cannot do that".
      return EOPNOTSUPP;
    case Code::kStale:
      // A handle outlived its connection (not reopened after a reconnect because data
      // could have been lost) or the object vanished underneath: the NFS meaning.
      return ESTALE;
    case Code::kConnectionLost:
      // The operation could not complete because the SSH connection died. ENOTCONN is
      // what the kernel reports once the whole mount is gone ("Transport endpoint is not
      // connected"), which would wrongly suggest the mount is dead even though the next
      // operation may reconnect. EIO is the honest "this operation failed" answer, and
      // the one sshfs gives.
      return EIO;
    case Code::kTimeout:
      return ETIMEDOUT;
    case Code::kCorrupt:
      // A malformed server reply: the data cannot be trusted.
      return EIO;
    case Code::kNoSpace:
      // SFTP v3 cannot tell "disk full" from "quota exceeded"; ENOSPC covers both for
      // callers (EDQUOT is rarely handled specially).
      return ENOSPC;
    case Code::kHostKey:
    case Code::kAuth:
      // Only possible while reconnecting: the server identity or our credentials are no
      // longer accepted. The operation cannot proceed; EACCES tells the user it is an
      // access problem rather than a flaky disk.
      return EACCES;
    case Code::kCancelled:
      return EINTR;
    case Code::kBusy:
      return EBUSY;
    case Code::kIo:
      return EIO;
  }
  // Unreachable with a valid Code; -Wswitch flags a missing case at compile time.
  return EIO;
}

}  // namespace skiff::fs
