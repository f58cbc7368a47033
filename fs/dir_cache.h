// Cache of directory listings (name -> attributes) with a timeout, kept up to date by
// our own namespace changes rather than dropped: after mkdir the new directory is known
// to be empty, after create the new name is added. This is what lets an untar answer
// "does this name exist?" without a round trip, and lets `find -ls` run warm from
// memory.
//
// Thread-safe: one mutex (a leaf lock) guards the map; nothing blocks while holding it.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "transport/remote_fs.h"

namespace skiff::fs {

class DirCache {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  enum class Presence { kUnknown, kAbsent, kPresent };

  // A fresh listing of `dir`, or nullopt.
  std::optional<std::vector<DirEntry>> Get(const std::string& dir, TimePoint now) const;
  void Put(const std::string& dir, const std::vector<DirEntry>& entries, TimePoint expiry);
  // Counts our namespace changes (Add, Erase, UpdateAttr, Invalidate*). Read it before
  // fetching a listing in the background, and store the result with PutIfUnchanged.
  uint64_t generation() const;
  // Put, unless a change was recorded since `generation` or a fresh listing is cached.
  // Returns whether it stored the listing.
  bool PutIfUnchanged(const std::string& dir, const std::vector<DirEntry>& entries,
                      TimePoint expiry, uint64_t generation, TimePoint now);
  // Whether a fresh listing of `dir` is cached (no copy made).
  bool Fresh(const std::string& dir, TimePoint now) const;
  // Whether `name` is in a fresh listing of `dir`; fills `attr` when present.
  Presence Lookup(const std::string& dir, const std::string& name, TimePoint now,
                  FileAttr* attr) const;
  // Keep a cached listing of `dir` (if any) in step with our own change.
  void Add(const std::string& dir, const std::string& name, const FileAttr& attr);
  void Erase(const std::string& dir, const std::string& name);
  void UpdateAttr(const std::string& dir, const std::string& name, const FileAttr& attr);
  // Drops the listing of `dir` and of every directory below it.
  void InvalidateTree(const std::string& dir);
  void Invalidate(const std::string& dir);

 private:
  struct Listing {
    std::map<std::string, FileAttr> entries;
    TimePoint expiry;
  };
  mutable std::mutex mu_;  // guards listings_, generation_
  std::map<std::string, Listing> listings_;
  uint64_t generation_ = 0;
};

}  // namespace skiff::fs
