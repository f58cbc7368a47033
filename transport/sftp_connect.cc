#include "transport/sftp_connect.h"

#include "transport/sftp_remote_fs.h"

namespace skiff {

Result<std::unique_ptr<RemoteFs>> ConnectSftp(const SshOptions& ssh, SftpOptions sftp) {
  SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<SshConnection> conn, SshConnection::Connect(ssh));
  return ConnectSftp(std::move(conn), std::move(sftp));
}

Result<std::unique_ptr<RemoteFs>> ConnectSftp(std::shared_ptr<SshConnection> conn,
                                              SftpOptions sftp) {
  if (!conn) return Status::Invalid("ConnectSftp: no connection");
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<Channel> channel, conn->OpenSubsystem("sftp"));
  const std::string who = conn->Describe();
  auto fs = SftpRemoteFs::Create(std::move(channel), sftp, conn);
  if (!fs.ok()) return fs.status().WithContext("starting SFTP on " + who);
  // Siblings: another "sftp" channel on the same connection each.
  (*fs)->set_session_opener([conn, sftp]() -> Result<std::unique_ptr<SftpRemoteFs>> {
    SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<Channel> ch, conn->OpenSubsystem("sftp"));
    return SftpRemoteFs::Create(std::move(ch), sftp, conn);
  });
  return std::unique_ptr<RemoteFs>(std::move(fs).value());
}

}  // namespace skiff
