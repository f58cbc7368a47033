// Turning a REPO argument into a connected RemoteFs.
//
//   [user@]host:path   over SSH with ConnectSftp (path "" = the login directory)
//   /local/path        a local repository on direct system calls (LocalRemoteFs,
//                      sync/local_remote_fs.h): no child process, no pipe, CopyData by
//                      copy_file_range. With SKIFF_LOCAL_REPO=sftp or SKIFF_SFTP_SERVER
//                      set, OpenSSH's own sftp-server (/usr/lib/openssh/sftp-server, or
//                      $SKIFF_SFTP_SERVER) run as a child through ProcessChannel instead,
//                      so the SFTP code path can be exercised without sshd.
// Every command that takes a REPO or DEST (backup, restore, zfs, ...) comes through here.
// REPO@SNAPSHOT selects a snapshot: the part after the last '@' when it holds no '/' or
// ':' (so user@host: is not mistaken for one).
//
// Free functions; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "transport/remote_fs.h"
#include "transport/sftp_client.h"
#include "transport/ssh_options.h"

namespace skiff::sync {

struct RepoArg {
  std::string repo;      // without @SNAPSHOT
  std::string snapshot;  // "" when not given
};
RepoArg SplitSnapshot(const std::string& arg);

struct RepoConnection {
  std::unique_ptr<RemoteFs> fs;
  std::string root;  // repository path as the server sees it
  std::string id;    // stable identity for the local cache ("ssh:user@host:port:path")
};

Result<RepoConnection> ConnectRepository(const std::string& repo, const SshOptions& ssh,
                                         SftpOptions sftp = {});

// Sessions that whole-file work (backup and restore jobs) is spread over: `fs` first,
// then the SFTP siblings it could open (sftp_remote_fs.h), up to `n` in all; just `fs`
// for a transport without siblings (skiff serve, in-memory). Call before `fs` is used
// from several threads; the sessions live as long as `fs`. With `compressed`, also
// (concurrently) one further session whose connection compresses, for small requests
// (SftpRemoteFs::compressed_session); *compressed is null when there is none.
std::vector<RemoteFs*> FileSessions(RemoteFs& fs, size_t n, RemoteFs** compressed = nullptr);

// ~/.cache/skiff/<hash of id> ($XDG_CACHE_HOME honoured); "" if no home is known.
std::string CacheDirFor(const std::string& id);

}  // namespace skiff::sync
