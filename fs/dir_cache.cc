#include "fs/dir_cache.h"

namespace skiff::fs {

std::optional<std::vector<DirEntry>> DirCache::Get(const std::string& dir, TimePoint now) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = listings_.find(dir);
  if (it == listings_.end() || now >= it->second.expiry) return std::nullopt;
  std::vector<DirEntry> out;
  out.reserve(it->second.entries.size());
  for (const auto& [name, attr] : it->second.entries) out.push_back({name, attr});
  return out;
}

void DirCache::Put(const std::string& dir, const std::vector<DirEntry>& entries, TimePoint expiry) {
  Listing listing;
  for (const auto& e : entries) listing.entries.emplace(e.name, e.attr);
  listing.expiry = expiry;
  std::lock_guard<std::mutex> l(mu_);
  listings_[dir] = std::move(listing);
}

uint64_t DirCache::generation() const {
  std::lock_guard<std::mutex> l(mu_);
  return generation_;
}

bool DirCache::PutIfUnchanged(const std::string& dir, const std::vector<DirEntry>& entries,
                              TimePoint expiry, uint64_t generation, TimePoint now) {
  Listing listing;
  for (const auto& e : entries) listing.entries.emplace(e.name, e.attr);
  listing.expiry = expiry;
  std::lock_guard<std::mutex> l(mu_);
  if (generation != generation_) return false;
  auto it = listings_.find(dir);
  if (it != listings_.end() && now < it->second.expiry) return false;
  listings_[dir] = std::move(listing);
  return true;
}

bool DirCache::Fresh(const std::string& dir, TimePoint now) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = listings_.find(dir);
  return it != listings_.end() && now < it->second.expiry;
}

DirCache::Presence DirCache::Lookup(const std::string& dir, const std::string& name, TimePoint now,
                                    FileAttr* attr) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = listings_.find(dir);
  if (it == listings_.end() || now >= it->second.expiry) return Presence::kUnknown;
  auto e = it->second.entries.find(name);
  if (e == it->second.entries.end()) return Presence::kAbsent;
  if (attr) *attr = e->second;
  return Presence::kPresent;
}

void DirCache::Add(const std::string& dir, const std::string& name, const FileAttr& attr) {
  std::lock_guard<std::mutex> l(mu_);
  ++generation_;
  auto it = listings_.find(dir);
  if (it != listings_.end()) it->second.entries[name] = attr;
}

void DirCache::Erase(const std::string& dir, const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  ++generation_;
  auto it = listings_.find(dir);
  if (it != listings_.end()) it->second.entries.erase(name);
}

void DirCache::UpdateAttr(const std::string& dir, const std::string& name, const FileAttr& attr) {
  std::lock_guard<std::mutex> l(mu_);
  ++generation_;
  auto it = listings_.find(dir);
  if (it == listings_.end()) return;
  auto e = it->second.entries.find(name);
  if (e != it->second.entries.end()) e->second = attr;
}

void DirCache::InvalidateTree(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  ++generation_;
  listings_.erase(dir);
  std::string prefix = dir == "/" ? dir : dir + "/";
  for (auto it = listings_.lower_bound(prefix);
       it != listings_.end() && it->first.compare(0, prefix.size(), prefix) == 0;)
    it = listings_.erase(it);
}

void DirCache::Invalidate(const std::string& dir) {
  std::lock_guard<std::mutex> l(mu_);
  ++generation_;
  listings_.erase(dir);
}

}  // namespace skiff::fs
