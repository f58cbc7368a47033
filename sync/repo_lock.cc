#include "sync/repo_lock.h"

#include <charconv>
#include <vector>

#include "sync/remote_stream.h"

namespace skiff::sync {

Result<std::unique_ptr<RepoLock>> RepoLock::Acquire(const Repository& repo, const LockIdentity& me,
                                                    std::string* broke_stale) {
  RemoteFs& fs = repo.fs();
  const std::string path = repo.LockPath();
  const std::string content =
      me.host + "\t" + std::to_string(me.pid) + "\t" + std::to_string(me.now) + "\n";
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto f = fs.Open(path, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kExclusive, 0644);
    if (f.ok()) {
      Status st = (*f)->Write(0, content);
      if (st.ok()) st = (*f)->Close();
      if (!st.ok()) {
        fs.Remove(path).IgnoreError();
        return st.WithContext("writing the lock " + path);
      }
      return std::unique_ptr<RepoLock>(new RepoLock(fs, path));
    }
    if (!f.status().Is(Code::kExists) && !f.status().Is(Code::kIo) &&
        !f.status().Is(Code::kPermission))
      return f.status().WithContext("creating the lock " + path);
    // Someone holds it (some servers report an existing file as a generic failure).
    auto held = ReadWholeFile(fs, path, 4096);
    if (!held.ok()) {
      if (held.status().Is(Code::kNotFound) && attempt == 0) continue;  // released meanwhile
      return f.status().WithContext("creating the lock " + path);
    }
    std::string host, pid_s, time_s;
    {
      std::string line = held->substr(0, held->find('\n'));
      size_t a = line.find('\t'), b = line.find('\t', a == std::string::npos ? a : a + 1);
      if (a != std::string::npos && b != std::string::npos) {
        host = line.substr(0, a);
        pid_s = line.substr(a + 1, b - a - 1);
        time_s = line.substr(b + 1);
      }
    }
    int64_t pid = 0, t = 0;
    bool parsed =
        !host.empty() &&
        std::from_chars(pid_s.data(), pid_s.data() + pid_s.size(), pid).ec == std::errc() &&
        std::from_chars(time_s.data(), time_s.data() + time_s.size(), t).ec == std::errc();
    std::string holder = parsed ? "host " + host + ", pid " + pid_s + ", since " + time_s + " (" +
                                      std::to_string(me.now - t) + " s ago)"
                                : "unreadable lock content";
    bool stale = false;
    std::string why;
    if (!parsed) {
      stale = false;
    } else if (host == me.host && me.pid_alive && !me.pid_alive(pid)) {
      stale = true;
      why = "its process is gone";
    } else if (me.now - t > me.max_age) {
      stale = true;
      why = "it is older than " + std::to_string(me.max_age) + " s";
    }
    if (!stale || attempt > 0)
      return Status(Code::kBusy, "repository is locked by " + holder +
                                     ". If no skiff is running there, remove the lock file '" +
                                     path + "' (e.g. `sftp` then `rm " + path + "`) and retry");
    if (broke_stale) *broke_stale = "broke a stale lock (" + holder + "): " + why;
    SKIFF_RETURN_IF_ERROR(fs.Remove(path).WithContext("removing the stale lock " + path));
  }
  return Status(Code::kBusy, "could not take the lock " + path);
}

RepoLock::~RepoLock() { Release().IgnoreError(); }

Status RepoLock::Release() {
  if (!held_) return Status::Ok();
  held_ = false;
  return fs_.Remove(path_).WithContext("removing the lock " + path_);
}

}  // namespace skiff::sync
