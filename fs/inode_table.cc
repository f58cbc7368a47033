#include "fs/inode_table.h"

#include <vector>

namespace skiff::fs {

InodeTable::InodeTable(std::string root_path) {
  Inode root;
  root.path = std::move(root_path);
  root.lookups = 1;  // never reaches zero: the kernel does not forget the root
  by_path_[root.path] = kRootIno;
  by_ino_.emplace(kRootIno, std::move(root));
}

void InodeTable::SetRootPath(const std::string& root_path) {
  std::lock_guard<std::mutex> l(mu_);
  Inode& root = by_ino_[kRootIno];
  by_path_.erase(root.path);
  root.path = root_path;
  by_path_[root_path] = kRootIno;
}

std::pair<uint64_t, FileAttr> InodeTable::Remember(const std::string& path, const FileAttr& attr,
                                                   TimePoint expiry, uint64_t lookups,
                                                   bool authoritative, TimePoint now) {
  std::lock_guard<std::mutex> l(mu_);
  uint64_t ino;
  auto it = by_path_.find(path);
  if (it != by_path_.end()) {
    ino = it->second;
  } else {
    ino = next_ino_++;
    by_path_[path] = ino;
    by_ino_[ino].path = path;
  }
  Inode& n = by_ino_[ino];
  n.lookups += lookups;
  if (authoritative || !n.has_attr || now >= n.attr_expiry) {
    n.attr = attr;
    n.has_attr = true;
    n.attr_expiry = expiry;
  }
  return {ino, n.attr};
}

void InodeTable::Forget(uint64_t ino, uint64_t count) {
  if (ino == kRootIno) return;
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) return;
  Inode& n = it->second;
  n.lookups = count >= n.lookups ? 0 : n.lookups - count;
  if (n.lookups > 0) return;
  if (!n.detached) {
    auto p = by_path_.find(n.path);
    if (p != by_path_.end() && p->second == ino) by_path_.erase(p);
  }
  by_ino_.erase(it);
}

Result<std::string> InodeTable::Path(uint64_t ino) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end())
    return Status::NotFound("inode " + std::to_string(ino) + " is not known (already forgotten)");
  if (it->second.detached)
    return Status(Code::kStale, it->second.path + " was removed or replaced on this mount");
  return it->second.path;
}

std::optional<uint64_t> InodeTable::Find(const std::string& path) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return std::nullopt;
  return it->second;
}

std::optional<FileAttr> InodeTable::CachedAttr(uint64_t ino, TimePoint now) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end() || !it->second.has_attr || now >= it->second.attr_expiry)
    return std::nullopt;
  return it->second.attr;
}

std::optional<FileAttr> InodeTable::LastAttr(uint64_t ino) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end() || !it->second.has_attr) return std::nullopt;
  return it->second.attr;
}

void InodeTable::SetAttr(uint64_t ino, const FileAttr& attr, TimePoint expiry) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) return;
  it->second.attr = attr;
  it->second.has_attr = true;
  it->second.attr_expiry = expiry;
}

void InodeTable::InvalidateAttr(uint64_t ino) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_ino_.find(ino);
  if (it != by_ino_.end()) it->second.has_attr = false;
}

std::optional<FileAttr> InodeTable::NoteWrite(uint64_t ino, uint64_t end, int64_t mtime) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) return std::nullopt;
  Inode& n = it->second;
  n.has_version = false;
  if (!n.has_attr) return std::nullopt;
  if (end > n.attr.size) n.attr.size = end;
  n.attr.mtime = mtime;
  return n.attr;
}

std::optional<std::string> InodeTable::CachedLink(uint64_t ino, TimePoint now) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end() || !it->second.has_link || now >= it->second.link_expiry)
    return std::nullopt;
  return it->second.link;
}

void InodeTable::SetLink(uint64_t ino, const std::string& target, TimePoint expiry) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) return;
  it->second.has_link = true;
  it->second.link = target;
  it->second.link_expiry = expiry;
}

bool InodeTable::SwapContentVersion(uint64_t ino, uint64_t size, int64_t mtime) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_ino_.find(ino);
  if (it == by_ino_.end()) return false;
  Inode& n = it->second;
  bool same = n.has_version && n.version_size == size && n.version_mtime == mtime;
  n.has_version = true;
  n.version_size = size;
  n.version_mtime = mtime;
  return same;
}

void InodeTable::ForgetContentVersion(uint64_t ino) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_ino_.find(ino);
  if (it != by_ino_.end()) it->second.has_version = false;
}

void InodeTable::DetachLocked(const std::string& path) {
  auto it = by_path_.find(path);
  if (it == by_path_.end()) return;
  auto n = by_ino_.find(it->second);
  if (n != by_ino_.end()) n->second.detached = true;
  by_path_.erase(it);
}

void InodeTable::Moved(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> l(mu_);
  // Whatever lived at `to` (and below it, for a replaced empty directory) is gone.
  DetachLocked(to);
  std::string to_prefix = to + "/";
  for (auto it = by_path_.lower_bound(to_prefix);
       it != by_path_.end() && it->first.compare(0, to_prefix.size(), to_prefix) == 0;) {
    auto n = by_ino_.find(it->second);
    if (n != by_ino_.end()) n->second.detached = true;
    it = by_path_.erase(it);
  }
  // Move `from` and its subtree.
  std::vector<std::pair<std::string, uint64_t>> moved;
  auto self = by_path_.find(from);
  if (self != by_path_.end()) {
    moved.emplace_back(to, self->second);
    by_path_.erase(self);
  }
  std::string from_prefix = from + "/";
  for (auto it = by_path_.lower_bound(from_prefix);
       it != by_path_.end() && it->first.compare(0, from_prefix.size(), from_prefix) == 0;) {
    moved.emplace_back(to + it->first.substr(from.size()), it->second);
    it = by_path_.erase(it);
  }
  for (auto& [path, ino] : moved) {
    by_path_[path] = ino;
    auto n = by_ino_.find(ino);
    if (n != by_ino_.end()) n->second.path = path;
  }
}

void InodeTable::Removed(const std::string& path) {
  std::lock_guard<std::mutex> l(mu_);
  DetachLocked(path);
}

size_t InodeTable::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return by_ino_.size();
}

}  // namespace skiff::fs
