#include "sync/repo_checker.h"

#include <sys/stat.h>

#include <algorithm>
#include <optional>

#include "sync/content_hash.h"
#include "sync/manifest.h"
#include "sync/manifest_cache.h"
#include "sync/rel_path.h"
#include "sync/remote_stream.h"
#include "sync/retention.h"

namespace skiff::sync {
namespace {

class SnapshotChecker {
 public:
  SnapshotChecker(const Repository& repo, const CheckOptions& opts, const std::string& name,
                  CheckStats& stats)
      : repo_(repo), fs_(repo.fs()), opts_(opts), name_(name), stats_(stats) {}

  Status Run() {
    auto reader = OpenRemoteManifest(repo_, name_);
    if (!reader.ok()) {
      Problem("manifest unreadable: " + reader.status().ToString());
      return Status::Ok();
    }
    reader_ = std::move(*reader);
    Advance();
    Status st = Walk(repo_.SnapshotDir(name_), "");
    if (!st.ok()) return st;
    while (cur_) {
      Problem("missing on the server: " + cur_->path);
      Advance();
    }
    return Status::Ok();
  }

 private:
  void Problem(const std::string& p) {
    ++stats_.problems;
    if (opts_.problem) opts_.problem(name_, p);
  }
  void Advance() {
    cur_.reset();
    if (!reader_ || failed_) return;
    auto r = reader_->Next();
    if (!r.ok()) {
      Problem(r.status().ToString());
      failed_ = true;
      return;
    }
    cur_ = std::move(*r);
    if (cur_) ++stats_.entries;
  }

  Status Walk(const std::string& dir, const std::string& rel_dir) {
    SKIFF_ASSIGN_OR_RETURN(auto entries, fs_.ReadDir(dir));
    std::sort(entries.begin(), entries.end(),
              [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    for (const auto& d : entries) {
      std::string rel = JoinPath(rel_dir, d.name);
      while (cur_ && RelPathLess(cur_->path, rel)) {
        Problem("missing on the server: " + cur_->path);
        Advance();
      }
      if (!cur_ || cur_->path != rel) {
        Problem("on the server but not in the manifest: " + rel);
        continue;
      }
      ManifestEntry e = std::move(*cur_);
      Advance();
      std::string path = dir + "/" + d.name;
      SKIFF_RETURN_IF_ERROR(Compare(e, path, d.attr));
      if (e.type == EntryType::kDir && d.attr.IsDir()) SKIFF_RETURN_IF_ERROR(Walk(path, rel));
    }
    return Status::Ok();
  }

  Status Compare(const ManifestEntry& e, const std::string& path, const FileAttr& a) {
    bool type_ok = (e.type == EntryType::kFile && a.IsRegular()) ||
                   (e.type == EntryType::kDir && a.IsDir()) ||
                   (e.type == EntryType::kSymlink && a.IsSymlink());
    if (!type_ok) {
      Problem("wrong type on the server: " + e.path);
      return Status::Ok();
    }
    if (e.type == EntryType::kSymlink) {
      auto t = fs_.Readlink(path);
      if (!t.ok() || *t != e.link_target) Problem("wrong symlink target: " + e.path);
      return Status::Ok();
    }
    if ((a.mode & 07777) != e.mode) Problem("mode differs: " + e.path);
    if (e.type != EntryType::kFile) return Status::Ok();
    if (a.size != e.size) {
      Problem("size differs (" + std::to_string(a.size) + " on the server, " +
              std::to_string(e.size) + " in the manifest): " + e.path);
      return Status::Ok();
    }
    if (a.mtime != e.mtime) Problem("mtime differs: " + e.path);
    if (!opts_.read_data) return Status::Ok();
    auto f = fs_.Open(path, OpenFlags::kRead);
    if (!f.ok()) {
      Problem("cannot read " + e.path + ": " + f.status().ToString());
      return Status::Ok();
    }
    ContentHasher h;
    {
      RemoteStreamReader in(**f, fs_.caps().max_read, 16);
      while (true) {
        auto chunk = in.Next();
        if (!chunk.ok()) {
          if (chunk.status().Is(Code::kConnectionLost)) return chunk.status();
          Problem("cannot read " + e.path + ": " + chunk.status().ToString());
          return Status::Ok();
        }
        if (chunk->empty()) break;
        h.Update(*chunk);
        stats_.bytes_read += chunk->size();
      }
    }
    (*f)->Close().IgnoreError();
    if (h.HexDigest() != e.hash) Problem("content does not match the manifest's hash: " + e.path);
    return Status::Ok();
  }

  const Repository& repo_;
  RemoteFs& fs_;
  const CheckOptions& opts_;
  const std::string& name_;
  CheckStats& stats_;
  std::unique_ptr<ManifestReader> reader_;
  std::optional<ManifestEntry> cur_;
  bool failed_ = false;
};

}  // namespace

Result<CheckStats> CheckRepository(const Repository& repo, const CheckOptions& opts) {
  CheckStats stats;
  SKIFF_ASSIGN_OR_RETURN(auto names, repo.ListSnapshots());
  // Snapshot directories without a manifest are damage (published ones always have one).
  SKIFF_ASSIGN_OR_RETURN(auto dirs, repo.fs().ReadDir(repo.Path("snapshots")));
  for (const auto& d : dirs)
    if (ParseSnapshotName(d.name) && std::find(names.begin(), names.end(), d.name) == names.end()) {
      ++stats.problems;
      if (opts.problem) opts.problem(d.name, "snapshot directory without a manifest");
    }
  std::vector<std::string> selected = opts.snapshots.empty() ? names : opts.snapshots;
  for (const auto& n : selected) {
    ++stats.snapshots;
    SKIFF_RETURN_IF_ERROR(SnapshotChecker(repo, opts, n, stats).Run());
  }
  return stats;
}

}  // namespace skiff::sync
