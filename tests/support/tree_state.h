// A snapshot of a local directory tree that tests compare before and after an operation
// which must leave the tree unchanged (attacks refused, read-only endpoints, pulls).
//
// Header-only (inline) so that suites which do not link skiff_testsupport can use it.
// No shared state: safe from any thread.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "tests/support/test_data.h"

namespace skiff::testing {

// What TreeState records of each entry besides its path, type bits and mtime.
struct TreeStateOptions {
  // st_mode is recorded masked with this (0170777 leaves out setuid/setgid/sticky).
  mode_t mode_mask = static_cast<mode_t>(~0u);
  // Directories' st_size (false: recorded as 0; it depends on the file system's layout).
  bool dir_size = true;
  // st_nlink (hard links made or removed show up).
  bool nlink = false;
  // Symlinks' targets.
  bool link_targets = true;
};

// Every entry under `root`, not following symlinks, keyed by its path relative to `root`:
// "mode/mtime/size[/nlink][/content or link target]". Directory mtimes are recorded as 0:
// they change legitimately (a lock taken and released, a scratch area); what directories
// hold is compared entry by entry. Regular files carry their whole content.
inline std::map<std::string, std::string> TreeState(const std::filesystem::path& root,
                                                    const TreeStateOptions& o = {}) {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> m;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    struct stat st {};
    ::lstat(it->path().c_str(), &st);
    const bool dir = S_ISDIR(st.st_mode);
    int64_t mtime = dir ? 0 : st.st_mtime;
    std::string v = std::to_string(st.st_mode & o.mode_mask) + "/" + std::to_string(mtime) + "/" +
                    std::to_string(dir && !o.dir_size ? 0 : st.st_size);
    if (o.nlink) v += "/" + std::to_string(st.st_nlink);
    if (S_ISREG(st.st_mode)) v += "/" + ReadLocalFile(it->path());
    if (o.link_targets && S_ISLNK(st.st_mode)) v += "/" + fs::read_symlink(it->path()).string();
    m[it->path().lexically_relative(root).string()] = v;
  }
  return m;
}

// "" when `a` and `b` are equal, else one line per entry that differs.
inline std::string TreeDiff(const std::map<std::string, std::string>& a,
                            const std::map<std::string, std::string>& b) {
  std::string d;
  for (auto& [k, v] : a)
    if (!b.count(k) || b.at(k) != v) d += "changed or removed: " + k + "\n";
  for (auto& [k, v] : b)
    if (!a.count(k)) d += "added: " + k + "\n";
  return d;
}

}  // namespace skiff::testing
