// `skiff ls`: lists a remote directory over SFTP.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>

#include "cli/command.h"
#include "transport/sftp_connect.h"
#include "transport/ssh_options.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff ls [-l] [SSH OPTIONS] [user@]host:[path]\n"
    "\n"
    "Lists a remote directory (or names a single file), sorted by name; host: alone\n"
    "lists the login directory.\n"
    "  -l   long format: type and permissions, size, modification time, name\n"
    "       (and '-> target' for symlinks)\n"
    "\n"
    "SSH OPTIONS as for ssh(1): -F CONFIG, -i IDENTITY, -p PORT, -o Option=value.\n"
    "Exit codes: 0 success, 2 failure, 64 usage error, 75 server unreachable.\n";

std::string ModeString(uint32_t mode) {
  std::string s = "?rwxrwxrwx";
  if (S_ISDIR(mode))
    s[0] = 'd';
  else if (S_ISLNK(mode))
    s[0] = 'l';
  else if (S_ISREG(mode))
    s[0] = '-';
  else if (S_ISFIFO(mode))
    s[0] = 'p';
  else if (S_ISSOCK(mode))
    s[0] = 's';
  else if (S_ISCHR(mode))
    s[0] = 'c';
  else if (S_ISBLK(mode))
    s[0] = 'b';
  for (int i = 0; i < 9; ++i) {
    if (!(mode & (1u << (8 - i)))) s[1 + i] = '-';
  }
  if (mode & S_ISUID) s[3] = (mode & S_IXUSR) ? 's' : 'S';
  if (mode & S_ISGID) s[6] = (mode & S_IXGRP) ? 's' : 'S';
  if (mode & S_ISVTX) s[9] = (mode & S_IXOTH) ? 't' : 'T';
  return s;
}

std::string Line(RemoteFs& fs, const std::string& path, const std::string& name,
                 const FileAttr& a) {
  char when[32] = "?";
  time_t t = a.mtime;
  struct tm tm;
  if (a.valid & FileAttr::kTimes)
    std::strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime_r(&t, &tm));
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s %12llu %s ", ModeString(a.mode).c_str(),
                static_cast<unsigned long long>(a.size), when);
  std::string out = buf + name;
  if (a.IsSymlink()) {
    auto target = fs.Readlink(path);
    if (target.ok()) out += " -> " + *target;
  }
  return out;
}

int Run(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  auto ssh = ParseSshFlags(args);
  if (!ssh.ok()) return UsageError("ls", ssh.status().message());
  bool longfmt = false;
  std::vector<std::string> rest;
  for (const auto& a : args) {
    if (a == "-l")
      longfmt = true;
    else if (a.size() > 1 && a[0] == '-')
      return UsageError("ls", "unknown option " + a);
    else
      rest.push_back(a);
  }
  if (rest.size() != 1) return UsageError("ls", "expected one [user@]host:path");
  RemoteSpec spec = ParseRemoteSpec(rest[0]);
  if (!spec.remote) return UsageError("ls", "'" + rest[0] + "' is not remote; write host:path");
  ssh->host = spec.host;
  if (!spec.user.empty()) ssh->user = spec.user;
  auto fs = ConnectSftp(*ssh);
  auto fail = [](const Status& s) {
    std::cerr << "skiff ls: " << s.ToString() << "\n";
    return s.retryable() ? kExitTempFail : kExitFailure;
  };
  if (!fs.ok()) return fail(fs.status().WithContext("connecting to " + spec.host));
  const std::string path = spec.path.empty() ? "." : spec.path;
  auto attr = (*fs)->Lstat(path);
  if (!attr.ok()) return fail(attr.status());
  if (attr->IsSymlink()) {
    auto followed = (*fs)->Stat(path);
    if (followed.ok() && followed->IsDir() && !longfmt) attr = followed;
  }
  if (!attr->IsDir()) {
    std::cout << (longfmt ? Line(**fs, path, path, *attr) : path) << "\n";
    return kExitOk;
  }
  auto entries = (*fs)->ReadDir(path);
  if (!entries.ok()) return fail(entries.status());
  std::sort(entries->begin(), entries->end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  for (const auto& e : *entries) {
    std::string child = path == "/" ? "/" + e.name : path + "/" + e.name;
    std::cout << (longfmt ? Line(**fs, child, e.name, e.attr) : e.name) << "\n";
  }
  return kExitOk;
}

const CommandRegistration kReg{{"ls", "list a remote directory over SFTP", kUsage, Run}};

}  // namespace
}  // namespace skiff::cli
