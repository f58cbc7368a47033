#include "sync/restore_engine.h"

#include <fnmatch.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "sync/content_hash.h"
#include "sync/job_window.h"
#include "sync/manifest_cache.h"
#include "sync/rel_path.h"
#include "sync/remote_stream.h"
#include "sync/repo_connect.h"

namespace skiff::sync {
namespace {

// Holes are made at this granularity (the usual filesystem block).
constexpr size_t kHoleBlock = 4096;
// Files in flight: a small file costs 3 sequential round trips (open, read, close), so a
// tree of small files is latency-bound unless many overlap (5000 small files through the
// benchmark relay: 12 workers ~7 s, 48 workers 4.0 s). Each worker holds at most its
// reader's window (kReadDepth x max_read, only for long files).
constexpr int kRestoreWorkers = 48;
// Entries submitted but not yet finished (finishers run in manifest order). A big file
// holds back every entry behind it once this many are waiting: at 1024, a restore of the
// bench data set (two 200 MiB files amid ~5000 small ones) spent ~1.5 s of its ~4-5 s
// with only the big files' reads in flight (SKIFF_SFTP_TRACE). An entry costs a few
// hundred bytes (its manifest entry and closures), so 8192 is a few MiB.
constexpr size_t kMaxPendingEntries = 8192;
// Reads in flight per file: deep enough to keep a long file streaming at link speed
// (16 x 255 KiB = 4 MiB), and shallow enough that two long files leave room in the SFTP
// client's window (64 requests, 16 MiB) for the small files' requests. At 32, two long
// files filled the window and every reply woke all the workers blocked on it.
constexpr int kReadDepth = 16;
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

// Restores one regular file's content and metadata; returns what went wrong, if anything.
// Runs on a worker thread (LocalFs and RemoteFs are thread-safe).
Status RestoreEngine::RestoreFile(RemoteFs& fs, const ManifestEntry& e, const std::string& snap,
                                  uint64_t* bytes) {
  const std::string& root = opts_.target;
  SKIFF_ASSIGN_OR_RETURN(auto writer, local_.CreateUnder(root, e.path));
  auto remote = fs.Open(snap + "/" + e.path, OpenFlags::kRead);
  if (!remote.ok())
    return remote.status().WithContext("reading " + e.path + " from the repository");
  ContentHasher hasher;
  uint64_t off = 0;
  Status st;
  {
    RemoteStreamReader in(**remote, fs.caps().max_read, kReadDepth);
    in.set_exact_size(e.size);  // verified below by size and hash
    while (st.ok()) {
      auto chunk = in.Next();
      if (!chunk.ok()) {
        st = chunk.status();
        break;
      }
      if (chunk->empty()) break;
      hasher.Update(*chunk);
      std::string_view c(*chunk);
      // Runs of non-zero blocks are written with one call; zero blocks become holes.
      size_t run = 0;  // start of the current run of non-zero blocks
      for (size_t i = 0; i < c.size() && st.ok(); i += kHoleBlock) {
        std::string_view block = c.substr(i, kHoleBlock);
        if (block.find_first_not_of('\0') == std::string_view::npos) {
          if (i > run) st = writer->Write(off + run, c.substr(run, i - run));
          run = i + kHoleBlock;
        }
      }
      if (st.ok() && run < c.size()) st = writer->Write(off + run, c.substr(run));
      off += c.size();
    }
  }
  // Not waited for: the content is already read and is judged by size and hash below,
  // and the server runs a session's requests in order, so a later file's requests on
  // this session are not affected. Saves a round trip per file.
  (*remote)->CloseAsync([](Status) {});
  SKIFF_RETURN_IF_ERROR(st);
  SKIFF_RETURN_IF_ERROR(writer->Truncate(off));
  if (off != e.size || hasher.HexDigest() != e.hash) {
    // Never leave content that failed verification where the user expects the file.
    writer->Close().IgnoreError();
    Status rm = local_.RemoveUnder(root, e.path);
    return Status::Corrupt("content of " + e.path + " does not match the manifest (size " +
                           std::to_string(off) + " vs " + std::to_string(e.size) + ", hash " +
                           hasher.HexDigest() + " vs " + e.hash + "); " +
                           (rm.ok() ? "not restored (removed)" : "NOT removed: " + rm.ToString()));
  }
  // Metadata through the open file (no path walk) where the writer can, else by path.
  const LocalMeta meta = MetaOf(e, opts_.preserve_owner);
  Status ms = writer->SetMeta(meta);
  if (ms.Is(Code::kUnsupported)) {
    SKIFF_RETURN_IF_ERROR(writer->Close());
    SKIFF_RETURN_IF_ERROR(local_.SetMetaUnder(root, e.path, meta, false));
  } else {
    SKIFF_RETURN_IF_ERROR(ms);
    SKIFF_RETURN_IF_ERROR(writer->Close());
  }
  *bytes = off;
  return Status::Ok();
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
  const std::string snap = repo_.SnapshotDir(opts_.snapshot);
  const std::string& root = opts_.target;
  RestoreStats stats;
  // Only called on this thread (directly or from a finisher).
  auto fail = [&](const std::string& msg) {
    ++stats.errors;
    if (opts_.error) opts_.error(msg);
  };
  std::string made_parents;                // deepest directory known to exist
  std::map<uint64_t, std::string> groups;  // link group -> first restored path (finishers)
  std::set<uint64_t> seen_groups;          // link groups whose first name was submitted
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
  // A restored file's bookkeeping, in manifest order.
  auto file_done = [&](const ManifestEntry& e, const Status& st, uint64_t bytes) {
    if (!st.ok()) {
      fail(st.ToString());
      return;
    }
    if (e.link_group != 0) groups[e.link_group] = e.path;
    ++stats.files;
    stats.bytes += bytes;
    if (opts_.progress) opts_.progress(stats.files, stats.bytes);
  };

  const std::vector<RemoteFs*> sessions = FileSessions(repo_.fs(), opts_.sessions);
  SessionPicker picker(sessions.size());
  // Files are restored by the window's workers; everything else, and every finisher,
  // runs here in manifest order. Declared after everything the jobs use.
  JobWindow window(kRestoreWorkers, kMaxPendingEntries);
  // Directories whose metadata is set once their content is done.
  std::vector<ManifestEntry> open_dirs;
  auto close_dirs_until = [&](const std::string& path) -> Status {
    while (!open_dirs.empty() && !IsUnder(path, open_dirs.back().path)) {
      ManifestEntry d = std::move(open_dirs.back());
      open_dirs.pop_back();
      SKIFF_RETURN_IF_ERROR(window.Then([&, d]() {
        Status st = local_.SetMetaUnder(root, d.path, MetaOf(d, opts_.preserve_owner), false);
        if (!st.ok()) fail(st.ToString());
        return Status::Ok();
      }));
    }
    return Status::Ok();
  };

  while (true) {
    SKIFF_ASSIGN_OR_RETURN(auto next, reader->Next());
    if (!next) break;
    const ManifestEntry& e = *next;
    SKIFF_RETURN_IF_ERROR(close_dirs_until(e.path));
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
    // Regular file: a further name of a restored group is a hard link, made once the
    // first name has finished (if it failed, this name is restored in its place).
    if (e.link_group != 0 && seen_groups.count(e.link_group)) {
      SKIFF_RETURN_IF_ERROR(window.Then([&, e]() {
        auto it = groups.find(e.link_group);
        if (it != groups.end()) {
          Status ls = local_.LinkUnder(root, it->second, e.path);
          if (!ls.ok())
            fail(ls.ToString());
          else
            ++stats.files;
          return Status::Ok();
        }
        uint64_t bytes = 0;
        Status rs = RestoreFile(repo_.fs(), e, snap, &bytes);
        file_done(e, rs, bytes);
        return Status::Ok();
      }));
      continue;
    }
    if (e.link_group != 0) seen_groups.insert(e.link_group);
    struct Job {
      Status status;
      uint64_t bytes = 0;
    };
    auto job = std::make_shared<Job>();
    // Files on different sessions are read by different server processes at once; small
    // files keep off the sessions that are streaming a big file (SessionPicker).
    const size_t si = picker.Pick(e.size);
    RemoteFs* fs = sessions[si];
    SKIFF_RETURN_IF_ERROR(window.Submit(
        [this, fs, e, &snap, job, &picker, si] {
          job->status = RestoreFile(*fs, e, snap, &job->bytes);
          picker.Done(si, e.size);
        },
        [&, e, job] {
          file_done(e, job->status, job->bytes);
          return Status::Ok();
        }));
  }
  SKIFF_RETURN_IF_ERROR(close_dirs_until(""));
  SKIFF_RETURN_IF_ERROR(window.Drain());
  return stats;
}

}  // namespace skiff::sync
