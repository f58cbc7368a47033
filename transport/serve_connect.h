// Choosing the endpoint of an SSH repository: `skiff serve` when the account offers it,
// else SFTP (the backup path that needs nothing installed on the server).
//
// The probe is an exec of "skiff serve" followed by the serve hello. It is harmless
// everywhere: a forced-command `skiff serve` key answers the hello; a key or account
// whose forced command is sftp-server / internal-sftp reads the hello as a malformed
// SFTP packet and exits; a plain shell account without skiff says "command not found".
// In each case but the first the same SSH connection then opens the "sftp" subsystem.
// $SKIFF_TRANSPORT=sftp skips the probe; =serve makes a failed probe an error.
//
// Free function; thread-safe.
#pragma once

#include <memory>
#include <string>

#include "transport/remote_fs.h"
#include "transport/sftp_client.h"
#include "transport/ssh_options.h"

namespace skiff {

// *used (optional) receives "serve" or "sftp".
Result<std::unique_ptr<RemoteFs>> ConnectServeOrSftp(const SshOptions& ssh, SftpOptions sftp = {},
                                                     std::string* used = nullptr);

}  // namespace skiff
