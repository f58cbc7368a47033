#include "cli/backup_cli.h"

#include <cstdio>
#include <iostream>

#include "transport/serve_remote_fs.h"
#include "transport/ssh_connection.h"

namespace skiff::cli {

Result<std::unique_ptr<OpenRepo>> OpenRepository(const std::string& arg, const SshOptions& ssh,
                                                 bool create) {
  auto r = std::make_unique<OpenRepo>();
  // A local path gets direct system calls (LocalRemoteFs), as sync/repo_connect.h says.
  SKIFF_ASSIGN_OR_RETURN(r->conn, sync::ConnectRepository(arg, ssh));
  SKIFF_ASSIGN_OR_RETURN(auto repo, sync::Repository::Open(*r->conn.fs, r->conn.root, create));
  r->repo.emplace(std::move(repo));
  return r;
}

Result<std::unique_ptr<sync::ServeSourceFs>> ConnectPullSource(const SshOptions& ssh) {
  SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<SshConnection> conn, SshConnection::Connect(ssh));
  const std::string need = ": a pull backup needs a key on " + ssh.host +
                           " whose forced command is `skiff serve --read-only --root DIR` "
                           "(skiff authorize prints it; doc/SERVE.md, Pull backups)";
  auto ch = conn->OpenExec("skiff serve");
  if (!ch.ok()) return Status(ch.status().code(), ch.status().message() + need);
  auto remote = ServeRemoteFs::Create(std::move(ch).value(), conn);
  if (!remote.ok()) {
    if (remote.status().Is(Code::kConnectionLost) || remote.status().Is(Code::kCorrupt) ||
        remote.status().Is(Code::kUnsupported))
      return Status::Unsupported(ssh.host + " is not a skiff serve endpoint (" +
                                 remote.status().message() + ")" + need);
    return remote.status();
  }
  return sync::ServeSourceFs::Create(std::move(remote).value());
}

int FailWith(const std::string& command, const Status& st) {
  std::cerr << "skiff " << command << ": " << st.ToString() << "\n";
  if (st.Is(Code::kConnectionLost) || st.Is(Code::kTimeout)) return 75;
  return 2;
}

std::string JsonString(std::string_view s) {
  std::string r = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        r += "\\\"";
        break;
      case '\\':
        r += "\\\\";
        break;
      case '\n':
        r += "\\n";
        break;
      case '\t':
        r += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          snprintf(buf, sizeof buf, "\\u%04x", c);
          r += buf;
        } else {
          r += static_cast<char>(c);
        }
    }
  }
  return r + "\"";
}

bool TakeFlag(std::vector<std::string>& args, std::string_view flag) {
  bool found = false;
  for (auto it = args.begin(); it != args.end();) {
    if (*it == "--") break;
    if (*it == flag) {
      it = args.erase(it);
      found = true;
    } else {
      ++it;
    }
  }
  return found;
}

Result<std::vector<std::string>> TakeValues(std::vector<std::string>& args, std::string_view name) {
  std::vector<std::string> out;
  std::string eq = std::string(name) + "=";
  for (size_t i = 0; i < args.size();) {
    if (args[i] == "--") break;
    if (args[i] == name) {
      if (i + 1 >= args.size()) return Status::Invalid(std::string(name) + " needs a value");
      out.push_back(args[i + 1]);
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
    } else if (args[i].rfind(eq, 0) == 0) {
      out.push_back(args[i].substr(eq.size()));
      args.erase(args.begin() + static_cast<long>(i));
    } else {
      ++i;
    }
  }
  return out;
}

}  // namespace skiff::cli
