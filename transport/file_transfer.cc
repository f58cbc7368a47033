#include "transport/file_transfer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>

namespace skiff {
namespace {

// Local errors are converted here, for the local side of a copy only.
Status LocalError(const std::string& what, const std::string& path, int err) {
  std::string m = what + " " + path + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      return Status::NotFound(m);
    case EACCES:
    case EPERM:
      return Status::Permission(m);
    case EEXIST:
      return Status::Exists(m);
    case ENOTDIR:
      return Status(Code::kNotDirectory, m);
    case EISDIR:
      return Status(Code::kIsDirectory, m);
    case ENOSPC:
    case EDQUOT:
      return Status(Code::kNoSpace, m);
    default:
      return Status::Io(m);
  }
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Completions of pipelined requests, handed from the client's thread to the copying
// thread. Shared, so that a late callback never touches a finished copy's stack.
struct Completions {
  struct Item {
    uint64_t offset = 0;
    uint32_t asked = 0;
    Result<std::string> data = std::string();
  };
  std::mutex mu;  // guards items
  std::condition_variable cv;
  std::deque<Item> items;

  void Push(Item item) {
    {
      std::lock_guard<std::mutex> l(mu);
      items.push_back(std::move(item));
    }
    cv.notify_one();
  }
  Item Pop() {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return !items.empty(); });
    Item it = std::move(items.front());
    items.pop_front();
    return it;
  }
};

std::string Join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace

Status DownloadFile(RemoteFs& fs, const std::string& remote, const std::string& local,
                    const TransferOptions& opts) {
  SKIFF_ASSIGN_OR_RETURN(auto file, fs.Open(remote, OpenFlags::kRead));
  SKIFF_ASSIGN_OR_RETURN(FileAttr attr, file->Stat());
  if (attr.IsDir()) return Status(Code::kIsDirectory, remote + " is a directory (use -r)");
  const uint64_t size = attr.size;
  const std::string partial = local + kPartialSuffix;
  const uint32_t create_mode = (attr.valid & FileAttr::kPermissions) ? (attr.mode & 0777) : 0644;
  Fd fd(open(partial.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, create_mode | 0600));
  if (fd.get() < 0) return LocalError("creating", partial, errno);
  uint64_t start = 0;
  if (opts.keep_partial) {
    struct stat st;
    if (fstat(fd.get(), &st) == 0 && static_cast<uint64_t>(st.st_size) <= size) start = st.st_size;
  }
  if (ftruncate(fd.get(), start) != 0) return LocalError("truncating", partial, errno);

  auto fail = [&](Status st) {
    if (!opts.keep_partial) unlink(partial.c_str());
    return st;
  };
  const uint32_t chunk = fs.caps().max_read;
  auto done = std::make_shared<Completions>();
  uint64_t next = start, end = size, written = start;
  uint32_t inflight = 0;
  Status first;
  for (;;) {
    while (first.ok() && inflight < opts.window && next < end) {
      uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(chunk, end - next));
      file->ReadAsync(next, len, [done, next, len](Result<std::string> r) {
        done->Push({next, len, std::move(r)});
      });
      next += len;
      ++inflight;
    }
    if (inflight == 0) break;
    Completions::Item it = done->Pop();
    --inflight;
    if (!first.ok()) continue;  // draining after a failure
    if (!it.data.ok()) {
      first = it.data.status();
      continue;
    }
    const std::string& d = *it.data;
    if (d.size() < it.asked) {
      // The file shrank while we copied: it now ends here.
      end = std::min(end, it.offset + d.size());
    }
    if (!d.empty() && pwrite(fd.get(), d.data(), d.size(), it.offset) != ssize_t(d.size())) {
      first = LocalError("writing", partial, errno ? errno : EIO);
      continue;
    }
    written += d.size();
    if (opts.progress) opts.progress(remote, std::min(written, end), end);
  }
  if (!first.ok()) return fail(first.WithContext("downloading " + remote));
  if (end < size && ftruncate(fd.get(), end) != 0) {
    return fail(LocalError("truncating", partial, errno));
  }
  if (opts.preserve) {
    if ((attr.valid & FileAttr::kPermissions) && fchmod(fd.get(), attr.mode & 07777) != 0) {
      return fail(LocalError("chmod", partial, errno));
    }
    if (attr.valid & FileAttr::kTimes) {
      struct timespec ts[2] = {{attr.atime, 0}, {attr.mtime, 0}};
      if (futimens(fd.get(), ts) != 0) return fail(LocalError("setting times of", partial, errno));
    }
  }
  if (close(fd.Release()) != 0) return fail(LocalError("closing", partial, errno));
  file->Close().IgnoreError();  // read-only handle: nothing can be lost
  if (rename(partial.c_str(), local.c_str()) != 0) {
    return fail(LocalError("renaming into place", local, errno));
  }
  return Status::Ok();
}

Status UploadFile(RemoteFs& fs, const std::string& local, const std::string& remote,
                  const TransferOptions& opts) {
  Fd fd(open(local.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return LocalError("opening", local, errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return LocalError("stat", local, errno);
  if (S_ISDIR(st.st_mode)) return Status(Code::kIsDirectory, local + " is a directory (use -r)");
  const uint64_t size = st.st_size;
  const std::string partial = remote + kPartialSuffix;
  uint64_t start = 0;
  if (opts.keep_partial) {
    auto have = fs.Lstat(partial);
    if (have.ok() && have->IsRegular() && have->size <= size) start = have->size;
  }
  uint32_t flags =
      OpenFlags::kWrite | OpenFlags::kCreate | (start == 0 ? uint32_t{OpenFlags::kTruncate} : 0u);
  SKIFF_ASSIGN_OR_RETURN(auto file, fs.Open(partial, flags, st.st_mode & 0777));
  auto fail = [&](Status st) {
    file->Close().IgnoreError();
    if (!opts.keep_partial) fs.Remove(partial).IgnoreError();
    return st;
  };
  if (start > 0) {
    // Drop anything past the resume point (a partial file larger than the source was
    // already excluded; this also cuts a torn last write).
    FileAttr cut;
    cut.valid = FileAttr::kSize;
    cut.size = start;
    if (Status s = file->SetStat(cut); !s.ok()) return fail(s);
  }

  const uint32_t chunk = fs.caps().max_write;
  auto done = std::make_shared<Completions>();
  uint64_t next = start, acked = start;
  uint32_t inflight = 0;
  Status first;
  for (;;) {
    while (first.ok() && inflight < opts.window && next < size) {
      uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(chunk, size - next));
      std::string buf(len, '\0');
      ssize_t n = pread(fd.get(), buf.data(), len, next);
      if (n <= 0) {
        first = n < 0 ? LocalError("reading", local, errno)
                      : Status::Io("reading " + local + ": file shrank while being copied");
        break;
      }
      buf.resize(n);
      file->WriteAsync(next, std::move(buf), [done, next, n](Status s) {
        Completions::Item it{next, static_cast<uint32_t>(n), std::string()};
        if (!s.ok()) it.data = s;
        done->Push(std::move(it));
      });
      next += n;
      ++inflight;
    }
    if (inflight == 0) break;
    Completions::Item it = done->Pop();
    --inflight;
    if (!it.data.ok()) {
      if (first.ok()) first = it.data.status();
      continue;
    }
    acked += it.asked;
    if (first.ok() && opts.progress) opts.progress(local, acked, size);
  }
  if (!first.ok()) return fail(first.WithContext("uploading " + local));
  if (opts.preserve) {
    FileAttr a;
    a.valid = FileAttr::kPermissions | FileAttr::kTimes;
    a.mode = st.st_mode & 07777;
    a.atime = st.st_atime;
    a.mtime = st.st_mtime;
    if (Status s = file->SetStat(a); !s.ok()) return fail(s);
  }
  if (Status s = file->Close(); !s.ok()) {
    if (!opts.keep_partial) fs.Remove(partial).IgnoreError();
    return s;
  }
  Status r = fs.Rename(partial, remote, RenameMode::kReplace);
  if (!r.ok() && !opts.keep_partial) fs.Remove(partial).IgnoreError();
  return r;
}

Status Download(RemoteFs& fs, const std::string& remote, const std::string& local,
                const TransferOptions& opts) {
  SKIFF_ASSIGN_OR_RETURN(FileAttr attr, fs.Stat(remote));
  if (!attr.IsDir()) return DownloadFile(fs, remote, local, opts);
  if (!opts.recursive) return Status(Code::kIsDirectory, remote + " is a directory (use -r)");
  if (mkdir(local.c_str(), 0700) != 0) {
    struct stat st;
    if (errno != EEXIST) return LocalError("creating directory", local, errno);
    if (stat(local.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return Status(Code::kNotDirectory, local + " exists and is not a directory");
    }
  }
  SKIFF_ASSIGN_OR_RETURN(auto entries, fs.ReadDir(remote));
  int failures = 0;
  for (const auto& e : entries) {
    const std::string src = Join(remote, e.name), dst = Join(local, e.name);
    Status st = Download(fs, src, dst, opts);
    if (!st.ok()) {
      ++failures;
      if (opts.on_error) opts.on_error(st);
    }
  }
  if (opts.preserve || (attr.valid & FileAttr::kPermissions)) {
    chmod(local.c_str(), opts.preserve ? (attr.mode & 07777) : ((attr.mode & 0777) | 0700));
  }
  if (opts.preserve && (attr.valid & FileAttr::kTimes)) {
    struct timespec ts[2] = {{attr.atime, 0}, {attr.mtime, 0}};
    utimensat(AT_FDCWD, local.c_str(), ts, 0);
  }
  if (failures > 0) {
    return Status::Io(std::to_string(failures) + " entries of " + remote + " failed to copy");
  }
  return Status::Ok();
}

Status Upload(RemoteFs& fs, const std::string& local, const std::string& remote,
              const TransferOptions& opts) {
  struct stat st;
  if (stat(local.c_str(), &st) != 0) return LocalError("stat", local, errno);
  if (!S_ISDIR(st.st_mode)) return UploadFile(fs, local, remote, opts);
  if (!opts.recursive) return Status(Code::kIsDirectory, local + " is a directory (use -r)");
  Status mk = fs.Mkdir(remote, 0700);
  if (mk.Is(Code::kExists)) {
    SKIFF_ASSIGN_OR_RETURN(FileAttr a, fs.Stat(remote));
    if (!a.IsDir()) return Status(Code::kNotDirectory, remote + " exists and is not a directory");
  } else if (!mk.ok()) {
    return mk;
  }
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(local, ec)) {
    names.push_back(e.path().filename().string());
  }
  if (ec) return LocalError("reading directory", local, ec.value());
  int failures = 0;
  for (const auto& name : names) {
    Status s = Upload(fs, Join(local, name), Join(remote, name), opts);
    if (!s.ok()) {
      ++failures;
      if (opts.on_error) opts.on_error(s);
    }
  }
  FileAttr a;
  a.valid = FileAttr::kPermissions;
  a.mode = opts.preserve ? (st.st_mode & 07777) : (st.st_mode & 0777);
  if (opts.preserve) {
    a.valid |= FileAttr::kTimes;
    a.atime = st.st_atime;
    a.mtime = st.st_mtime;
  }
  Status set = fs.SetStat(remote, a);
  if (failures > 0) {
    return Status::Io(std::to_string(failures) + " entries of " + local + " failed to copy");
  }
  return set;
}

}  // namespace skiff
