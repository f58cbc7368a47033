// The one call that turns ssh options into a working remote filesystem: connect (or use
// an existing SshConnection), open the "sftp" subsystem, run SFTP INIT.
//
// The returned SftpRemoteFs keeps its SshConnection alive and releases it after the
// channel is closed. Failures are those of SshConnection::Connect, of opening the
// subsystem (kUnsupported when the server has no sftp subsystem) and of SFTP INIT.
// Thread-safety: free functions; the result is as thread-safe as RemoteFs promises.
#pragma once

#include <memory>

#include "transport/remote_fs.h"
#include "transport/sftp_client.h"  // SftpOptions
#include "transport/ssh_connection.h"
#include "transport/ssh_options.h"

namespace skiff {

Result<std::unique_ptr<RemoteFs>> ConnectSftp(const SshOptions& ssh, SftpOptions sftp = {});
Result<std::unique_ptr<RemoteFs>> ConnectSftp(std::shared_ptr<SshConnection> conn,
                                              SftpOptions sftp = {});

}  // namespace skiff
