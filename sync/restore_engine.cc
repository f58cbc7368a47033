#include "sync/restore_engine.h"

#include <fnmatch.h>

#include <map>
#include <vector>

#include "sync/content_hash.h"
#include "sync/manifest_cache.h"
#include "sync/rel_path.h"
#include "sync/remote_stream.h"

namespace skiff::sync {
namespace {

// Holes are made at this granularity (the usual filesystem block).
constexpr size_t kHoleBlock = 4096;

LocalMeta MetaOf(const ManifestEntry& e, bool owner) {
  LocalMeta m;
  m.mode = e.mode;
  m.mtime = e.mtime;
  m.set_owner = owner;
  m.uid = e.uid;
  m.gid = e.gid;
  return m;
}

}  // namespace

bool RestoreSelected(const std::vector<std::string>& patterns, const std::string& path) {
  if (patterns.empty()) return true;
  for (std::string p : patterns) {
    while (!p.empty() && p.front() == '/') p.erase(0, 1);
    while (!p.empty() && p.back() == '/') p.pop_back();
    if (p.empty()) return true;
    if (IsUnder(path, p)) return true;
    if (fnmatch(p.c_str(), path.c_str(), FNM_PATHNAME | FNM_LEADING_DIR) == 0) return true;
  }
  return false;
}

Result<RestoreStats> RestoreEngine::Run() {
  // Pass 1: the manifest must be entirely well-formed before anything is written.
  {
    SKIFF_ASSIGN_OR_RETURN(auto reader, OpenRemoteManifest(repo_, opts_.snapshot));
    while (true) {
      auto e = reader->Next();
      if (!e.ok())
        return e.status().WithContext("refusing to restore from snapshot " + opts_.snapshot);
      if (!e->has_value()) break;
    }
  }
  SKIFF_RETURN_IF_ERROR(local_.MakeRoot(opts_.target));
  SKIFF_ASSIGN_OR_RETURN(auto reader, OpenRemoteManifest(repo_, opts_.snapshot));
  RemoteFs& fs = repo_.fs();
  const std::string snap = repo_.SnapshotDir(opts_.snapshot);
  const std::string& root = opts_.target;
  RestoreStats stats;
  auto fail = [&](const std::string& msg) {
    ++stats.errors;
    if (opts_.error) opts_.error(msg);
  };
  // Directories whose metadata is set once their content is done.
  std::vector<ManifestEntry> open_dirs;
  std::string made_parents;                // deepest directory known to exist
  std::map<uint64_t, std::string> groups;  // link group -> first restored path
  auto close_dirs_until = [&](const std::string& path) {
    while (!open_dirs.empty() && !IsUnder(path, open_dirs.back().path)) {
      Status st = local_.SetMetaUnder(root, open_dirs.back().path,
                                      MetaOf(open_dirs.back(), opts_.preserve_owner), false);
      if (!st.ok()) fail(st.ToString());
      open_dirs.pop_back();
    }
  };
  auto ensure_parents = [&](const std::string& path) -> Status {
    std::string dir(DirName(path));
    if (dir.empty() || IsUnder(made_parents, dir)) return Status::Ok();
    size_t i = 0;
    while (true) {
      size_t j = dir.find('/', i);
      std::string prefix = j == std::string::npos ? dir : dir.substr(0, j);
      SKIFF_RETURN_IF_ERROR(local_.MkdirUnder(root, prefix));
      if (j == std::string::npos) break;
      i = j + 1;
    }
    made_parents = dir;
    return Status::Ok();
  };

  while (true) {
    SKIFF_ASSIGN_OR_RETURN(auto next, reader->Next());
    if (!next) break;
    const ManifestEntry& e = *next;
    close_dirs_until(e.path);
    if (!RestoreSelected(opts_.patterns, e.path)) continue;
    Status st = ensure_parents(e.path);
    if (!st.ok()) {
      fail(st.ToString());
      continue;
    }
    if (e.type == EntryType::kDir) {
      st = local_.MkdirUnder(root, e.path);
      if (!st.ok()) {
        fail(st.ToString());
        continue;
      }
      made_parents = e.path;
      open_dirs.push_back(e);
      ++stats.dirs;
      continue;
    }
    if (e.type == EntryType::kSymlink) {
      st = local_.SymlinkUnder(root, e.path, e.link_target);
      if (st.ok()) st = local_.SetMetaUnder(root, e.path, MetaOf(e, opts_.preserve_owner), true);
      if (!st.ok())
        fail(st.ToString());
      else
        ++stats.symlinks;
      continue;
    }
    // Regular file: a further name of a restored group is a hard link.
    if (e.link_group != 0) {
      auto it = groups.find(e.link_group);
      if (it != groups.end()) {
        st = local_.LinkUnder(root, it->second, e.path);
        if (!st.ok())
          fail(st.ToString());
        else
          ++stats.files;
        continue;
      }
    }
    auto writer = local_.CreateUnder(root, e.path);
    if (!writer.ok()) {
      fail(writer.status().ToString());
      continue;
    }
    auto remote = fs.Open(snap + "/" + e.path, OpenFlags::kRead);
    if (!remote.ok()) {
      fail("reading " + e.path + " from the repository: " + remote.status().ToString());
      continue;
    }
    ContentHasher hasher;
    uint64_t off = 0;
    {
      RemoteStreamReader in(**remote, fs.caps().max_read, 16);
      while (st.ok()) {
        auto chunk = in.Next();
        if (!chunk.ok()) {
          st = chunk.status();
          break;
        }
        if (chunk->empty()) break;
        hasher.Update(*chunk);
        std::string_view c(*chunk);
        for (size_t i = 0; i < c.size() && st.ok(); i += kHoleBlock) {
          std::string_view block = c.substr(i, kHoleBlock);
          if (block.find_first_not_of('\0') != std::string_view::npos)
            st = (*writer)->Write(off + i, block);
        }
        off += c.size();
      }
    }
    (*remote)->Close().IgnoreError();
    if (st.ok()) st = (*writer)->Truncate(off);
    if (st.ok()) st = (*writer)->Close();
    if (st.ok() && (off != e.size || hasher.HexDigest() != e.hash))
      st = Status::Corrupt("content of " + e.path + " does not match the manifest (size " +
                           std::to_string(off) + " vs " + std::to_string(e.size) + ", hash " +
                           hasher.HexDigest() + " vs " + e.hash + ")");
    if (st.ok()) st = local_.SetMetaUnder(root, e.path, MetaOf(e, opts_.preserve_owner), false);
    if (!st.ok()) {
      fail(st.ToString());
      continue;
    }
    if (e.link_group != 0) groups[e.link_group] = e.path;
    ++stats.files;
    stats.bytes += off;
    if (opts_.progress) opts_.progress(stats.files, stats.bytes);
  }
  close_dirs_until("");
  return stats;
}

}  // namespace skiff::sync
