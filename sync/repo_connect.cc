#include "sync/repo_connect.h"

#include <unistd.h>
#include <xxhash.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "sync/local_remote_fs.h"
#include "transport/process_channel.h"
#include "transport/serve_connect.h"
#include "transport/sftp_connect.h"
#include "transport/sftp_remote_fs.h"

namespace skiff::sync {

RepoArg SplitSnapshot(const std::string& arg) {
  size_t at = arg.rfind('@');
  if (at != std::string::npos && at + 1 < arg.size()) {
    std::string tail = arg.substr(at + 1);
    if (tail.find('/') == std::string::npos && tail.find(':') == std::string::npos)
      return {arg.substr(0, at), tail};
  }
  return {arg, ""};
}

Result<RepoConnection> ConnectRepository(const std::string& repo, const SshOptions& ssh_in,
                                         SftpOptions sftp) {
  if (repo.empty()) return Status::Invalid("empty repository argument");
  RemoteSpec spec = ParseRemoteSpec(repo);
  RepoConnection c;
  if (spec.remote) {
    SshOptions ssh = ssh_in;
    ssh.host = spec.host;
    if (!spec.user.empty()) ssh.user = spec.user;
    SKIFF_ASSIGN_OR_RETURN(c.fs, ConnectServeOrSftp(ssh, sftp));  // serve_connect.h
    c.root = spec.path.empty() ? "." : spec.path;
    c.id = "ssh:" + ssh.user + "@" + ssh.host + ":" + std::to_string(ssh.port) + ":" + c.root;
    return c;
  }
  c.root = repo;
  if (repo.front() != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd)) c.root = std::string(cwd) + "/" + repo;
  }
  while (c.root.size() > 1 && c.root.back() == '/') c.root.pop_back();
  c.id = "local:" + c.root;
  const char* server = getenv("SKIFF_SFTP_SERVER");
  const char* how = getenv("SKIFF_LOCAL_REPO");
  if (!(server && *server) && !(how && std::string_view(how) == "sftp")) {
    c.fs = std::make_unique<LocalRemoteFs>();
    return c;
  }
  std::string program = server && *server ? server : "/usr/lib/openssh/sftp-server";
  if (access(program.c_str(), X_OK) != 0)
    return Status::Unsupported(
        "a local repository through sftp-server (SKIFF_LOCAL_REPO=sftp) needs "
        "OpenSSH's sftp-server at " +
        program + " (install openssh-sftp-server, or set SKIFF_SFTP_SERVER)");
  SKIFF_ASSIGN_OR_RETURN(auto channel, ProcessChannel::Spawn({program}));
  SKIFF_ASSIGN_OR_RETURN(auto fs, SftpRemoteFs::Create(std::move(channel), sftp));
  // Siblings: another sftp-server process each.
  // (`compressed` means nothing for a pipe.)
  fs->set_session_opener([program, sftp](bool) -> Result<std::unique_ptr<SftpRemoteFs>> {
    SKIFF_ASSIGN_OR_RETURN(auto ch, ProcessChannel::Spawn({program}));
    return SftpRemoteFs::Create(std::move(ch), sftp);
  });
  c.fs = std::move(fs);
  return c;
}

std::vector<RemoteFs*> FileSessions(RemoteFs& fs, size_t n, RemoteFs** compressed) {
  std::vector<RemoteFs*> out{&fs};
  if (compressed) *compressed = nullptr;
  if (auto* sftp = dynamic_cast<SftpRemoteFs*>(&fs)) {
    const size_t have = sftp->OpenSessions(n, compressed != nullptr);
    for (size_t i = 1; i < have; ++i) out.push_back(&sftp->session(i));
    if (compressed) *compressed = sftp->compressed_session();
  }
  return out;
}

std::string CacheDirFor(const std::string& id) {
  std::string base;
  if (const char* x = getenv("XDG_CACHE_HOME"); x && *x)
    base = x;
  else if (const char* h = getenv("HOME"); h && *h)
    base = std::string(h) + "/.cache";
  else
    return "";
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx",
           static_cast<unsigned long long>(XXH3_64bits(id.data(), id.size())));
  return base + "/skiff/" + hex;
}

}  // namespace skiff::sync
