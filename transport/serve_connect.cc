#include "transport/serve_connect.h"

#include <cstdlib>

#include "transport/serve_remote_fs.h"
#include "transport/sftp_connect.h"
#include "transport/ssh_connection.h"

namespace skiff {

Result<std::unique_ptr<RemoteFs>> ConnectServeOrSftp(const SshOptions& ssh, SftpOptions sftp,
                                                     std::string* used) {
  const char* env = getenv("SKIFF_TRANSPORT");
  std::string want = env ? env : "";
  if (!want.empty() && want != "sftp" && want != "serve" && want != "auto")
    return Status::Invalid("SKIFF_TRANSPORT must be sftp, serve or auto, not '" + want + "'");
  SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<SshConnection> conn, SshConnection::Connect(ssh));
  if (want != "sftp") {
    Status why;
    auto ch = conn->OpenExec("skiff serve");
    if (ch.ok()) {
      auto fs = ServeRemoteFs::Create(std::move(ch).value(), conn);
      if (fs.ok()) {
        if (used) *used = "serve";
        return std::unique_ptr<RemoteFs>(std::move(fs).value());
      }
      why = fs.status();
    } else {
      why = ch.status();
    }
    if (want == "serve") return why.WithContext("SKIFF_TRANSPORT=serve");
    // Only a peer that did not speak serve falls back; a refusal by a real serve
    // endpoint (version mismatch, bad root) is the answer.
    if (!why.Is(Code::kUnsupported) && !why.Is(Code::kConnectionLost) && !why.Is(Code::kCorrupt) &&
        !why.Is(Code::kCancelled))
      return why;
  }
  if (used) *used = "sftp";
  return ConnectSftp(std::move(conn), std::move(sftp));
}

}  // namespace skiff
