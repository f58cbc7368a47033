#include "transport/mem_remote_fs.h"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <vector>

namespace skiff {

bool FileAttr::IsDir() const { return (valid & kPermissions) && S_ISDIR(mode); }
bool FileAttr::IsRegular() const { return (valid & kPermissions) && S_ISREG(mode); }
bool FileAttr::IsSymlink() const { return (valid & kPermissions) && S_ISLNK(mode); }

struct MemRemoteFs::Node {
  uint32_t mode = 0;  // including S_IFMT
  uint32_t uid = 0, gid = 0;
  int64_t atime = 0, mtime = 0;
  std::string data;                                     // file content or symlink target
  std::map<std::string, std::shared_ptr<Node>> children;  // directories only
  uint64_t ino = 0;

  FileAttr Attr() const {
    FileAttr a;
    a.valid = FileAttr::kSize | FileAttr::kUidGid | FileAttr::kPermissions | FileAttr::kTimes;
    a.size = S_ISDIR(mode) ? 4096 : data.size();
    a.uid = uid;
    a.gid = gid;
    a.mode = mode;
    a.atime = atime;
    a.mtime = mtime;
    return a;
  }
};

struct MemRemoteFs::Walk {
  std::shared_ptr<Node> parent;  // directory holding the last component
  std::string name;              // last component ("" for the root)
  std::shared_ptr<Node> node;    // null when the last component does not exist
};

namespace {

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

void ApplyAttr(MemRemoteFs::Node& n, const FileAttr& a) {
  if (a.valid & FileAttr::kSize) n.data.resize(a.size);
  if (a.valid & FileAttr::kUidGid) {
    n.uid = a.uid;
    n.gid = a.gid;
  }
  if (a.valid & FileAttr::kPermissions) n.mode = (n.mode & S_IFMT) | (a.mode & 07777);
  if (a.valid & FileAttr::kTimes) {
    n.atime = a.atime;
    n.mtime = a.mtime;
  }
}

}  // namespace

class MemRemoteFs::File : public RemoteFile {
 public:
  File(MemRemoteFs* fs, std::shared_ptr<Node> node, uint32_t flags)
      : fs_(fs), node_(std::move(node)), flags_(flags) {}

  Result<std::string> Read(uint64_t offset, uint32_t len) override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    ++fs_->calls_;
    if (closed_) return Status(Code::kStale, "read on a closed handle");
    if (!(flags_ & OpenFlags::kRead)) return Status::Permission("file not open for reading");
    len = std::min(len, fs_->caps_.max_read);
    if (offset >= node_->data.size()) return std::string();
    return node_->data.substr(offset, len);
  }

  Status Write(uint64_t offset, std::string_view data) override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    ++fs_->calls_;
    if (closed_) return Status(Code::kStale, "write on a closed handle");
    if (!(flags_ & OpenFlags::kWrite)) return Status::Permission("file not open for writing");
    if (flags_ & OpenFlags::kAppend) offset = node_->data.size();
    if (offset + data.size() > node_->data.size()) node_->data.resize(offset + data.size());
    std::copy(data.begin(), data.end(), node_->data.begin() + static_cast<ptrdiff_t>(offset));
    node_->mtime = Now();
    return Status::Ok();
  }

  void ReadAsync(uint64_t offset, uint32_t len, ReadCallback cb) override {
    cb(Read(offset, len));
  }
  void WriteAsync(uint64_t offset, std::string data, DoneCallback cb) override {
    cb(Write(offset, data));
  }

  Result<FileAttr> Stat() override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    ++fs_->calls_;
    if (closed_) return Status(Code::kStale, "fstat on a closed handle");
    return node_->Attr();
  }
  Status SetStat(const FileAttr& attr) override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    ++fs_->calls_;
    if (closed_) return Status(Code::kStale, "fsetstat on a closed handle");
    ApplyAttr(*node_, attr);
    return Status::Ok();
  }
  Status Sync() override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    ++fs_->calls_;
    if (!fs_->caps_.fsync) return Status::Unsupported("server does not offer fsync@openssh.com");
    return closed_ ? Status(Code::kStale, "fsync on a closed handle") : Status::Ok();
  }
  Status Close() override {
    std::lock_guard<std::mutex> l(fs_->mu_);
    ++fs_->calls_;
    if (closed_) return Status(Code::kStale, "handle already closed");
    closed_ = true;
    return Status::Ok();
  }

  Node& node() { return *node_; }
  MemRemoteFs* fs() { return fs_; }

 private:
  MemRemoteFs* fs_;
  std::shared_ptr<Node> node_;
  uint32_t flags_;
  bool closed_ = false;  // guarded by fs_->mu_
};

MemRemoteFs::MemRemoteFs() : root_(std::make_shared<Node>()) {
  root_->mode = S_IFDIR | 0755;
  root_->ino = 1;
  root_->mtime = root_->atime = Now();
  caps_.posix_rename = caps_.statvfs = caps_.hardlink = caps_.fsync = true;
  caps_.lsetstat = caps_.limits = caps_.expand_path = caps_.copy_data = true;
  caps_.max_read = caps_.max_write = 255 * 1024;
}
MemRemoteFs::~MemRemoteFs() = default;

void MemRemoteFs::set_caps(const Capabilities& caps) {
  std::lock_guard<std::mutex> l(mu_);
  caps_ = caps;
}
const Capabilities& MemRemoteFs::caps() const { return caps_; }
uint64_t MemRemoteFs::call_count() const {
  std::lock_guard<std::mutex> l(mu_);
  return calls_;
}

// Caller holds mu_.
Result<MemRemoteFs::Walk> MemRemoteFs::Resolve(const std::string& path, bool follow_last,
                                               int depth) {
  if (depth > 40) return Status(Code::kInvalidArgument, path + ": too many levels of symlinks");
  std::vector<std::string> parts = Split(path);
  Walk w{nullptr, "", root_};
  std::shared_ptr<Node> dir = root_;
  std::vector<std::shared_ptr<Node>> stack{root_};
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& p = parts[i];
    bool last = i + 1 == parts.size();
    if (!S_ISDIR(dir->mode)) return Status(Code::kNotDirectory, path + ": not a directory");
    if (p == ".") {
      if (last) w = Walk{stack.size() > 1 ? stack[stack.size() - 2] : nullptr, "", dir};
      continue;
    }
    if (p == "..") {
      if (stack.size() > 1) stack.pop_back();
      dir = stack.back();
      if (last) w = Walk{nullptr, "", dir};
      continue;
    }
    auto it = dir->children.find(p);
    std::shared_ptr<Node> child = it == dir->children.end() ? nullptr : it->second;
    if (child && S_ISLNK(child->mode) && (!last || follow_last)) {
      std::string target = child->data;
      std::string base;
      if (target.empty() || target[0] != '/') {
        for (size_t k = 0; k < i; ++k) base += "/" + parts[k];
        base += "/";
      }
      std::string rest;
      for (size_t k = i + 1; k < parts.size(); ++k) rest += "/" + parts[k];
      return Resolve(base + target + rest, follow_last, depth + 1);
    }
    if (last) {
      w = Walk{dir, p, child};
    } else {
      if (!child) return Status::NotFound(path + ": no such file or directory");
      dir = child;
      stack.push_back(child);
    }
  }
  return w;
}

Result<MemRemoteFs::Walk> MemRemoteFs::ResolveParent(const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(Walk w, Resolve(path, /*follow_last=*/false));
  if (!w.parent || w.name.empty()) return Status::Invalid(path + ": invalid path for this operation");
  return w;
}

Result<FileAttr> MemRemoteFs::Stat(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  SKIFF_ASSIGN_OR_RETURN(Walk w, Resolve(path, true));
  if (!w.node) return Status::NotFound(path + ": no such file or directory");
  return w.node->Attr();
}

Result<FileAttr> MemRemoteFs::Lstat(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  SKIFF_ASSIGN_OR_RETURN(Walk w, Resolve(path, false));
  if (!w.node) return Status::NotFound(path + ": no such file or directory");
  return w.node->Attr();
}

Status MemRemoteFs::SetStat(const std::string& path, const FileAttr& attr) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  SKIFF_ASSIGN_OR_RETURN(Walk w, Resolve(path, true));
  if (!w.node) return Status::NotFound(path + ": no such file or directory");
  ApplyAttr(*w.node, attr);
  return Status::Ok();
}

Status MemRemoteFs::LSetStat(const std::string& path, const FileAttr& attr) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  SKIFF_ASSIGN_OR_RETURN(Walk w, Resolve(path, false));
  if (!w.node) return Status::NotFound(path + ": no such file or directory");
  if (S_ISLNK(w.node->mode) && !caps_.lsetstat)
    return Status::Unsupported("server does not offer lsetstat@openssh.com");
  ApplyAttr(*w.node, attr);
  return Status::Ok();
}

Result<std::vector<DirEntry>> MemRemoteFs::ReadDir(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  SKIFF_ASSIGN_OR_RETURN(Walk w, Resolve(path, true));
  if (!w.node) return Status::NotFound(path + ": no such file or directory");
  if (!S_ISDIR(w.node->mode)) return Status(Code::kNotDirectory, path + ": not a directory");
  std::vector<DirEntry> out;
  out.reserve(w.node->children.size());
  for (const auto& [name, child] : w.node->children) out.push_back({name, child->Attr()});
  return out;
}

Result<std::unique_ptr<RemoteFile>> MemRemoteFs::Open(const std::string& path, uint32_t flags,
                                                      uint32_t mode) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  SKIFF_ASSIGN_OR_RETURN(Walk w, Resolve(path, true));
  if (w.node) {
    if ((flags & OpenFlags::kCreate) && (flags & OpenFlags::kExclusive))
      return Status::Exists(path + ": file exists");
    if (S_ISDIR(w.node->mode)) return Status(Code::kIsDirectory, path + ": is a directory");
    if (flags & OpenFlags::kTruncate) w.node->data.clear();
  } else {
    if (!(flags & OpenFlags::kCreate)) return Status::NotFound(path + ": no such file");
    if (!w.parent) return Status::Invalid(path + ": cannot create");
    auto n = std::make_shared<Node>();
    n->mode = S_IFREG | (mode & 07777);
    n->ino = next_ino_++;
    n->mtime = n->atime = Now();
    w.parent->children[w.name] = n;
    w.parent->mtime = Now();
    w.node = n;
  }
  return std::unique_ptr<RemoteFile>(new File(this, w.node, flags));
}

Status MemRemoteFs::Mkdir(const std::string& path, uint32_t mode) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  SKIFF_ASSIGN_OR_RETURN(Walk w, ResolveParent(path));
  if (w.node) return Status::Exists(path + ": file exists");
  auto n = std::make_shared<Node>();
  n->mode = S_IFDIR | (mode & 07777);
  n->ino = next_ino_++;
  n->mtime = n->atime = Now();
  w.parent->children[w.name] = n;
  w.parent->mtime = Now();
  return Status::Ok();
}

Status MemRemoteFs::Rmdir(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  SKIFF_ASSIGN_OR_RETURN(Walk w, ResolveParent(path));
  if (!w.node) return Status::NotFound(path + ": no such directory");
  if (!S_ISDIR(w.node->mode)) return Status(Code::kNotDirectory, path + ": not a directory");
  if (!w.node->children.empty()) return Status(Code::kNotEmpty, path + ": directory not empty");
  w.parent->children.erase(w.name);
  w.parent->mtime = Now();
  return Status::Ok();
}

Status MemRemoteFs::Remove(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  SKIFF_ASSIGN_OR_RETURN(Walk w, ResolveParent(path));
  if (!w.node) return Status::NotFound(path + ": no such file");
  if (S_ISDIR(w.node->mode)) return Status(Code::kIsDirectory, path + ": is a directory");
  w.parent->children.erase(w.name);
  w.parent->mtime = Now();
  return Status::Ok();
}

Status MemRemoteFs::Rename(const std::string& from, const std::string& to, RenameMode mode) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  SKIFF_ASSIGN_OR_RETURN(Walk src, ResolveParent(from));
  if (!src.node) return Status::NotFound(from + ": no such file or directory");
  SKIFF_ASSIGN_OR_RETURN(Walk dst, ResolveParent(to));
  if (dst.node) {
    if (mode == RenameMode::kNoReplace) return Status::Exists(to + ": file exists");
    if (src.node == dst.node) return Status::Ok();  // rename(2): links to one file, no-op
    if (S_ISDIR(dst.node->mode)) {
      if (!S_ISDIR(src.node->mode)) return Status(Code::kIsDirectory, to + ": is a directory");
      if (!dst.node->children.empty()) return Status(Code::kNotEmpty, to + ": not empty");
    } else if (S_ISDIR(src.node->mode)) {
      return Status(Code::kNotDirectory, to + ": not a directory");
    }
  }
  // Refuse moving a directory inside itself.
  for (auto p = dst.parent; S_ISDIR(src.node->mode) && p;) {
    if (p == src.node) return Status::Invalid(to + ": cannot move a directory into itself");
    break;  // a full ancestor check would need parent links; one level is enough for tests
  }
  dst.parent->children[dst.name] = src.node;
  src.parent->children.erase(src.name);
  src.parent->mtime = dst.parent->mtime = Now();
  return Status::Ok();
}

Status MemRemoteFs::Symlink(const std::string& target, const std::string& link_path) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  SKIFF_ASSIGN_OR_RETURN(Walk w, ResolveParent(link_path));
  if (w.node) return Status::Exists(link_path + ": file exists");
  auto n = std::make_shared<Node>();
  n->mode = S_IFLNK | 0777;
  n->data = target;
  n->ino = next_ino_++;
  n->mtime = n->atime = Now();
  w.parent->children[w.name] = n;
  return Status::Ok();
}

Result<std::string> MemRemoteFs::Readlink(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  SKIFF_ASSIGN_OR_RETURN(Walk w, Resolve(path, false));
  if (!w.node) return Status::NotFound(path + ": no such file");
  if (!S_ISLNK(w.node->mode)) return Status::Invalid(path + ": not a symbolic link");
  return w.node->data;
}

Status MemRemoteFs::Hardlink(const std::string& existing, const std::string& new_path) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  if (!caps_.hardlink) return Status::Unsupported("server does not offer hardlink@openssh.com");
  SKIFF_ASSIGN_OR_RETURN(Walk src, Resolve(existing, false));
  if (!src.node) return Status::NotFound(existing + ": no such file");
  if (S_ISDIR(src.node->mode)) return Status::Permission(existing + ": cannot link a directory");
  SKIFF_ASSIGN_OR_RETURN(Walk dst, ResolveParent(new_path));
  if (dst.node) return Status::Exists(new_path + ": file exists");
  dst.parent->children[dst.name] = src.node;
  return Status::Ok();
}

Result<FsStats> MemRemoteFs::StatVfs(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  if (!caps_.statvfs) return Status::Unsupported("server does not offer statvfs@openssh.com");
  FsStats s;
  s.block_size = s.fragment_size = 4096;
  s.blocks = s.blocks_free = s.blocks_avail = 1u << 20;
  s.files = s.files_free = s.files_avail = 1u << 20;
  s.name_max = 255;
  return s;
}

Result<std::string> MemRemoteFs::RealPath(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  ++calls_;
  std::vector<std::string> out;
  for (const auto& p : Split(path)) {
    if (p == "." || (p == "~" && out.empty())) continue;
    if (p == "..") {
      if (!out.empty()) out.pop_back();
    } else {
      out.push_back(p);
    }
  }
  std::string r;
  for (const auto& p : out) r += "/" + p;
  return r.empty() ? std::string("/") : r;
}

Status MemRemoteFs::CopyData(RemoteFile& src, uint64_t src_offset, uint64_t len, RemoteFile& dst,
                             uint64_t dst_offset) {
  auto* s = dynamic_cast<File*>(&src);
  auto* d = dynamic_cast<File*>(&dst);
  if (!s || !d || s->fs() != this || d->fs() != this)
    return Status::Invalid("copy-data between handles of different filesystems");
  {
    std::lock_guard<std::mutex> l(mu_);
    ++calls_;
  }
  // Without copy-data the fallback is read-then-write, which is what this does anyway.
  uint64_t done = 0;
  while (len == 0 || done < len) {
    uint32_t chunk = static_cast<uint32_t>(
        len == 0 ? caps_.max_read : std::min<uint64_t>(len - done, caps_.max_read));
    SKIFF_ASSIGN_OR_RETURN(std::string data, s->Read(src_offset + done, chunk));
    if (data.empty()) break;
    SKIFF_RETURN_IF_ERROR(d->Write(dst_offset + done, data));
    done += data.size();
  }
  return Status::Ok();
}

}  // namespace skiff
