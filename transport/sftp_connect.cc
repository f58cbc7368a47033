#include "transport/sftp_connect.h"

#include <algorithm>

#include "transport/sftp_remote_fs.h"

namespace skiff {
namespace {

// In-flight window of the compressed session, which carries small requests only (an
// incremental backup's hard links, ~160 bytes each: 1024 of them are ~160 KiB). With the
// default 64, the 64 backup workers that ask for links all waited on the one session's
// window, and each reply woke every one of them (strace -c -f of the benchmark's
// incremental: 514 000 futex calls, client CPU 0.6 -> 1.7 s); one server process answers
// them in order anyway, so a deeper queue only keeps it busy.
constexpr uint32_t kSmallRequestWindow = 1024;

}  // namespace

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
  // Siblings: a further SSH connection each, not another channel on this one: with four
  // busy "sftp" channels on one connection, requests on the first now and then waited
  // ~1 s (the I/O loop's poll timeout; a backup of 1000 small files over loopback: 1 to
  // 5 such stalls in 4 of 5 runs, none in 4 runs with connections). Each connection
  // also has its own sshd process for the cipher. In batch mode: a sibling never asks
  // for a passphrase again; one that would need it fails and is done without.
  (*fs)->set_session_opener([conn, sftp](bool compressed) -> Result<std::unique_ptr<SftpRemoteFs>> {
    SshConfig config = conn->config();
    config.batch_mode = true;
    config.compression = compressed;
    SftpOptions opts = sftp;
    if (compressed)
      opts.max_requests_in_flight = std::max(opts.max_requests_in_flight, kSmallRequestWindow);
    SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<SshConnection> other, SshConnection::Connect(config));
    SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<Channel> ch, other->OpenSubsystem("sftp"));
    return SftpRemoteFs::Create(std::move(ch), opts, std::move(other));
  });
  return std::unique_ptr<RemoteFs>(std::move(fs).value());
}

}  // namespace skiff
