// `skiff authorize --key KEY.pub --root DIR [--append-only|--read-only|--write-only]`:
// prints the authorized_keys line that locks KEY to `skiff serve` (doc/SERVE.md).
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "sync/serve_zfs_receive.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff authorize --key KEY.pub --root DIR\n"
    "                       [--append-only | --read-only | --write-only]\n"
    "                       [--zfs-receive POOL/PREFIX] [--skiff PATH]\n"
    "       skiff authorize --key KEY.pub --zfs-receive POOL/PREFIX [--skiff PATH]\n"
    "\n"
    "Prints the authorized_keys line that restricts the public key KEY.pub to\n"
    "`skiff serve --root DIR` with the given mode: `restrict` (no shell, no pty, no\n"
    "forwarding) and a forced command quoted for both sshd and the login shell.\n"
    "--zfs-receive POOL/PREFIX lets the key pipe `skiff zfs send` streams into\n"
    "`zfs receive` under POOL/PREFIX (alone: and nothing else).\n"
    "--skiff PATH is the skiff program on the server (default: this program's path).\n"
    "Append the line to the backup account's ~/.ssh/authorized_keys.\n";

// Single-quotes `s` for a POSIX shell ('...' with each ' as '\'').
std::string ShellQuote(const std::string& s) {
  std::string r = "'";
  for (char c : s) {
    if (c == '\'')
      r += "'\\''";
    else
      r += c;
  }
  return r + "'";
}

// sshd's option parser turns \" into " and keeps every other byte; so only " is escaped.
std::string KeysQuote(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (c == '"') r += '\\';
    r += c;
  }
  return r;
}

bool Printable(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

int Run(const std::vector<std::string>& args) {
  std::string key_path, root, mode_flag, skiff, zfs_prefix;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--key" && i + 1 < args.size()) {
      key_path = args[++i];
    } else if (a == "--root" && i + 1 < args.size()) {
      root = args[++i];
    } else if (a == "--zfs-receive" && i + 1 < args.size()) {
      zfs_prefix = args[++i];
    } else if (a == "--skiff" && i + 1 < args.size()) {
      skiff = args[++i];
    } else if (a == "--append-only" || a == "--read-only" || a == "--write-only") {
      if (!mode_flag.empty() && mode_flag != a)
        return UsageError("authorize", "choose one of --append-only, --read-only, --write-only");
      mode_flag = a;
    } else {
      return UsageError("authorize", "unknown argument '" + a + "'\n" + kUsage);
    }
  }
  if (key_path.empty() || (root.empty() && zfs_prefix.empty()))
    return UsageError("authorize",
                      "--key and --root (or --zfs-receive) are required\n" + std::string(kUsage));
  if (!zfs_prefix.empty() && !sync::IsSafeZfsDatasetName(zfs_prefix))
    return UsageError("authorize",
                      "--zfs-receive needs a dataset name (POOL/PREFIX), not '" + zfs_prefix + "'");
  if (root.empty() && !mode_flag.empty())
    return UsageError("authorize", mode_flag + " needs --root");
  if (!root.empty() && root.front() != '/')
    return UsageError("authorize", "--root must be an absolute path");
  if (!Printable(root)) return UsageError("authorize", "--root contains control characters");
  if (skiff.empty()) {
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    skiff = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "skiff";
  }
  if (!Printable(skiff)) return UsageError("authorize", "--skiff contains control characters");

  std::ifstream in(key_path);
  if (!in) {
    std::cerr << "skiff authorize: cannot read the public key " << key_path << "\n";
    return kExitFailure;
  }
  std::string line, key;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (!key.empty()) {
      std::cerr << "skiff authorize: " << key_path << " holds more than one key\n";
      return kExitFailure;
    }
    key = line;
  }
  while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
  std::istringstream fields(key);
  std::string type, blob;
  fields >> type >> blob;
  bool known_type =
      type.rfind("ssh-", 0) == 0 || type.rfind("ecdsa-", 0) == 0 || type.rfind("sk-", 0) == 0;
  if (!known_type || blob.empty() || !Printable(key)) {
    std::cerr << "skiff authorize: " << key_path
              << " is not an OpenSSH public key line (\"ssh-ed25519 AAAA... comment\"; "
                 "remove any options in front of it)\n";
    return kExitFailure;
  }
  std::string command = ShellQuote(skiff) + " serve";
  if (!root.empty()) command += " --root " + ShellQuote(root);
  if (!mode_flag.empty()) command += " " + mode_flag;
  if (!zfs_prefix.empty()) command += " --zfs-receive " + ShellQuote(zfs_prefix);
  std::cout << "restrict,command=\"" << KeysQuote(command) << "\" " << key << "\n";
  return kExitOk;
}

const CommandRegistration kReg{
    {"authorize", "print an authorized_keys line for a skiff serve key", kUsage, Run}};

}  // namespace
}  // namespace skiff::cli
