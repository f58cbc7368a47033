#include "sync/backup_engine.h"

#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "sync/backup_file_job.h"
#include "sync/dir_gate.h"
#include "sync/job_window.h"
#include "sync/manifest.h"
#include "sync/manifest_cache.h"
#include "sync/manifest_upload.h"
#include "sync/prev_manifest_cursor.h"
#include "sync/rel_path.h"
#include "sync/remote_stream.h"
#include "sync/repo_connect.h"
#include "sync/retention.h"

namespace skiff::sync {
namespace {

// Files in flight. Each new small file costs ~5 sequential round trips (open, write,
// fsetstat, close, rename) and an unchanged one 1 (hardlink), so throughput on a tree of
// small files is bounded by latency unless many files overlap. Measured on loopback
// through the benchmark's counting relay (5000 small files, load ~9 on 2 cores): 16
// workers 15.5 s, 64 workers 4.9 s (rsync 1.9 s). The SFTP client caps
// what is in flight (64 requests / 16 MiB), so more workers than that gain nothing.
// Memory: a worker holds at most one 1 MiB read chunk; its writes wait in the client.
// 32 since unchanged files' links and a small file's FSETSTAT+CLOSE stopped holding a
// worker: the full backup of bench/lib.sh's data set (scale 1, /tmp/s6-backup2/ab_full.sh,
// interleaved, load 9.5-11.5 on 2 cores) took 3.90 4.24 4.05 s with 64, 3.16 3.23 3.35 s
// with 32, 3.25 3.35 2.97 s with 16; the client's context switches (perf stat, 2 runs)
// 85-87 k with 64, 49-55 k with 32.
constexpr int kFileWorkers = 32;
// Outstanding entries (including finished ones waiting for an earlier one). Big files
// sort first in the benchmark's tree (app.log, bin1, bin2 before small/): with 1024 the
// scan stopped behind their server-side copies with one request in flight (SFTP trace of
// the incremental: 0.6 s of 4.7 s), so the window lets the scan run past several
// thousand entries. Each pending entry holds its closures and manifest entry, ~1 KiB.
constexpr size_t kMaxPendingEntries = 8192;

}  // namespace

bool MatchesExclude(const std::vector<std::string>& patterns, const std::string& rel) {
  std::string_view base = BaseName(rel);
  for (const auto& p : patterns) {
    if (p.empty()) continue;
    if (p.find('/') == std::string::npos) {
      if (fnmatch(p.c_str(), std::string(base).c_str(), FNM_PERIOD) == 0) return true;
    } else {
      std::string pat = p.front() == '/' ? p.substr(1) : p;
      while (!pat.empty() && pat.back() == '/') pat.pop_back();
      if (fnmatch(pat.c_str(), rel.c_str(), FNM_PATHNAME | FNM_LEADING_DIR) == 0) return true;
    }
  }
  return false;
}

class BackupEngine::Impl {
 public:
  Impl(const Repository& repo, LocalFs& local, BackupOptions opts)
      : repo_(repo), fs_(repo.fs()), local_(local), opts_(std::move(opts)) {}

  Result<BackupStats> Run() {
    run_thread_ = std::this_thread::get_id();
    auto r = RunInner();
    FlushWarnings();  // also those of a failed run
    return r;
  }

 private:
  // Names of a directory's entries that made it into the snapshot (resume cleanup).
  using Written = std::shared_ptr<std::set<std::string>>;
  Result<BackupStats> RunInner();
  Status ProcessSource(const std::string& local, const std::string& rel, const Written& written);
  Status ProcessEntry(const std::string& local, const std::string& rel, uint64_t root_dev,
                      const Written& written);
  Status ProcessDir(const std::string& local, const std::string& rel, const LocalStat& st,
                    uint64_t root_dev);
  Status ProcessFile(const std::string& local, const std::string& rel, const LocalStat& st,
                     const Written& written);
  Status RemoveExtras(const std::string& remote_dir, const std::set<std::string>& keep);
  Status SetDirAttrs(const std::string& dst, const ManifestEntry& e);  // any thread

  // Any thread. opts_.warn is only ever called on the thread running Run: a worker's
  // warning waits in queued_warnings_ until the next finisher (or the end of Run).
  void Warn(const std::string& msg) {
    {
      std::lock_guard<std::mutex> l(warn_mu_);
      ++warnings_;
      if (std::this_thread::get_id() != run_thread_) {
        queued_warnings_.push_back(msg);
        return;
      }
    }
    FlushWarnings();
    if (opts_.warn) opts_.warn(msg);
  }
  // The Run thread only.
  void FlushWarnings() {
    std::vector<std::string> q;
    {
      std::lock_guard<std::mutex> l(warn_mu_);
      q.swap(queued_warnings_);
    }
    if (opts_.warn)
      for (const auto& m : q) opts_.warn(m);
  }
  void SyncWarnings() {
    FlushWarnings();
    std::lock_guard<std::mutex> l(warn_mu_);
    stats_.warnings = warnings_;
  }
  std::string Dst(const std::string& rel) const { return files_->Dst(rel); }
  Status ClearRemote(const std::string& path) { return sync::ClearRemote(fs_, path); }
  Status Add(const ManifestEntry& e) { return manifest_->Add(e); }

  // Threading: the scan (ProcessEntry and below) and every JobWindow finisher run on the
  // thread that called Run; BackupFileJob::Run runs on the window's workers and
  // touch only the thread-safe members marked below.

  const Repository& repo_;
  RemoteFs& fs_;
  LocalFs& local_;
  BackupOptions opts_;
  BackupStats stats_;
  std::string incomplete_;
  std::string prev_name_;
  int64_t prev_time_ = 0;  // start time of the previous snapshot
  bool resuming_ = false;
  std::unique_ptr<PrevCursor> prev_;
  std::unique_ptr<ManifestWriter> manifest_;
  uint64_t next_group_ = 0;
  struct GroupInfo {
    uint64_t id;
    std::string rel;
    ManifestEntry entry;
    bool ready;  // false while the first name is in flight (or if it vanished)
  };
  std::map<std::pair<uint64_t, uint64_t>, GroupInfo> groups_;  // (dev, ino) of nlink > 1
  std::mutex warn_mu_;                        // guards warnings_ and calls of opts_.warn
  uint64_t warnings_ = 0;                     // guarded by warn_mu_
  std::vector<std::string> queued_warnings_;  // guarded by warn_mu_
  std::thread::id run_thread_ = std::this_thread::get_id();
  // Directories (path, entry) whose attributes are set at the end (not when resuming).
  std::vector<std::pair<std::string, ManifestEntry>> deferred_dirs_;
  // The directory being scanned while it is created by a job (null: it exists).
  std::shared_ptr<DirGate> parent_gate_;
  std::unique_ptr<BackupFileJob> files_;  // the per-file work (thread-safe); set in RunInner
  std::unique_ptr<JobWindow> window_;     // during Run; destroyed before the members above
};

BackupEngine::BackupEngine(const Repository& repo, LocalFs& local, BackupOptions opts)
    : impl_(std::make_unique<Impl>(repo, local, std::move(opts))) {}
BackupEngine::~BackupEngine() = default;
Result<BackupStats> BackupEngine::Run() { return impl_->Run(); }

Status BackupEngine::Impl::ProcessFile(const std::string& local, const std::string& rel,
                                       const LocalStat& st, const Written& written) {
  ManifestEntry e;
  e.type = EntryType::kFile;
  e.path = rel;
  e.mode = st.mode & 07777;
  e.uid = opts_.preserve_owner ? st.uid : 0;
  e.gid = opts_.preserve_owner ? st.gid : 0;
  e.mtime = st.mtime;
  e.size = st.size;
  e.ino = st.ino;
  e.ctime = st.ctime;
  const std::string dst = Dst(rel);
  const std::string name(BaseName(rel));

  // A further name of a file already in this snapshot: link to it. The first name may
  // still be in flight: wait for everything before it (rare: hard links in the source).
  std::pair<uint64_t, uint64_t> key{st.dev, st.ino};
  if (st.nlink > 1 && groups_.count(key)) {
    SKIFF_RETURN_IF_ERROR(window_->Drain());
    auto it = groups_.find(key);
    if (!it->second.ready) {
      groups_.erase(it);  // the first name vanished: this one becomes the first
    } else {
      const ManifestEntry& first = it->second.entry;
      e.size = first.size;
      e.hash = first.hash;
      e.has_signature = first.has_signature;
      e.link_group = it->second.id;
      SKIFF_RETURN_IF_ERROR(ClearRemote(dst));
      Status st2 = fs_.Hardlink(Dst(it->second.rel), dst);
      if (!st2.ok()) {
        // No hardlink: a server-side copy of the first name.
        SKIFF_ASSIGN_OR_RETURN(auto src, fs_.Open(Dst(it->second.rel), OpenFlags::kRead));
        std::string tmp = files_->NewTmpPath("f");
        SKIFF_ASSIGN_OR_RETURN(
            auto out,
            fs_.Open(tmp, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kTruncate, 0600));
        SKIFF_RETURN_IF_ERROR(fs_.CopyData(*src, 0, 0, *out, 0));
        SKIFF_RETURN_IF_ERROR(
            files_->SetRemoteMeta(*out, first.mode, first.mtime, first.uid, first.gid));
        SKIFF_RETURN_IF_ERROR(out->Close());
        SKIFF_RETURN_IF_ERROR(files_->PlaceFile(tmp, dst));
      }
      ++stats_.files;
      written->insert(name);
      return Add(e);
    }
  }
  if (st.nlink > 1) groups_.emplace(key, GroupInfo{0, rel, ManifestEntry{}, false});

  std::optional<ManifestEntry> prev;
  if (prev_) {
    const ManifestEntry* p = prev_->Find(rel);
    if (p && p->type == EntryType::kFile) prev = *p;
  }
  auto job = std::make_shared<FileJobOutcome>();
  // An unchanged file's hard link (SFTP or a serve endpoint) is asked for without waiting:
  // the worker moves on and the job completes when the answer comes, so the links of
  // thousands of unchanged files are in flight together instead of one per worker, each
  // worker waiting a round trip per link (the serve incremental's link phase was a chain
  // of ~150 round trips for 4850 links on 64 workers; over SFTP 35-48 requests were in
  // flight during the incremental, each link waited for by its worker).
  struct AsyncLink {
    bool answered = false;  // written before Complete, read by the finisher after it
    Status status;
  };
  auto link = std::make_shared<AsyncLink>();
  auto work = [this, local, rel, st, e, prev, job, link,
               gate = parent_gate_](JobWindow::Complete complete) {
    if (gate) {
      Status g = gate->Wait();
      if (!g.ok()) {
        job->status = g;
        complete();
        return;
      }
    }
    if (files_->LinkUnchangedAsync(rel, st, e, prev, [link, complete](Status s) {
          link->status = std::move(s);
          link->answered = true;
          complete();
        }))
      return;
    *job = files_->Run(local, rel, st, e, prev);
    complete();
  };
  auto finish = [this, local, rel, st, e, prev, key, job, link, written, name,
                 had_prev = prev.has_value(), nlink = st.nlink]() mutable -> Status {
    if (link->answered) {
      if (link->status.ok()) {
        job->result = FileResult{prev->hash, prev->size, prev->has_signature};
        job->unchanged = true;
      } else {
        *job = files_->Run(local, rel, st, e, prev);  // the link failed: the other steps
      }
    }
    FlushWarnings();
    if (!job->status.ok()) return job->status;
    if (!job->result) return Status::Ok();  // vanished or unreadable: warned
    const FileResult& r = *job->result;
    if (job->reused) ++stats_.reused_files;
    if (job->unchanged) ++stats_.unchanged_files;
    if (job->transferred) {
      if (had_prev)
        ++stats_.changed_files;
      else
        ++stats_.new_files;
    }
    if (r.delta) ++stats_.delta_files;
    stats_.bytes_copied += r.bytes_copied;
    stats_.bytes_sent += r.bytes_sent;
    e.size = r.size;
    e.hash = r.hash;
    e.has_signature = r.has_signature;
    if (nlink > 1) {
      e.link_group = ++next_group_;
      groups_[key] = GroupInfo{e.link_group, e.path, e, true};
    }
    ++stats_.files;
    stats_.bytes += e.size;
    written->insert(name);
    if (opts_.progress) {
      SyncWarnings();
      opts_.progress(stats_);
    }
    return Add(e);
  };
  return window_->SubmitAsync(std::move(work), std::move(finish));
}

Status BackupEngine::Impl::RemoveExtras(const std::string& remote_dir,
                                        const std::set<std::string>& keep) {
  SKIFF_ASSIGN_OR_RETURN(auto entries, fs_.ReadDir(remote_dir));
  for (const auto& d : entries)
    if (!keep.count(d.name)) SKIFF_RETURN_IF_ERROR(ClearRemote(remote_dir + "/" + d.name));
  return Status::Ok();
}

Status BackupEngine::Impl::ProcessDir(const std::string& local, const std::string& rel,
                                      const LocalStat& st, uint64_t root_dev) {
  ManifestEntry e;
  e.type = EntryType::kDir;
  e.path = rel;
  e.mode = st.mode & 07777;
  e.uid = opts_.preserve_owner ? st.uid : 0;
  e.gid = opts_.preserve_owner ? st.gid : 0;
  e.mtime = st.mtime;
  e.ino = st.ino;
  e.ctime = st.ctime;
  const std::string dst = Dst(rel);
  std::shared_ptr<DirGate> gate;
  if (resuming_) {
    Status mk = fs_.Mkdir(dst, 0700);
    if (!mk.ok()) {
      auto a = fs_.Lstat(dst);
      if (!a.ok()) return mk.WithContext("creating " + dst);
      if (!a->IsDir()) {
        SKIFF_RETURN_IF_ERROR(ClearRemote(dst));
        SKIFF_RETURN_IF_ERROR(fs_.Mkdir(dst, 0700).WithContext("creating " + dst));
      }
    }
    SKIFF_RETURN_IF_ERROR(window_->Then([this, e] {
      ++stats_.dirs;
      return Add(e);
    }));
  } else {
    // A fresh tree: created by a job like the files, so the scan does not wait for it;
    // the jobs below wait for the gate instead.
    gate = std::make_shared<DirGate>();
    SKIFF_RETURN_IF_ERROR(window_->Submit(
        [this, dst, gate, parent = parent_gate_] {
          Status st = parent ? parent->Wait() : Status::Ok();
          if (st.ok()) st = fs_.Mkdir(dst, 0700).WithContext("creating " + dst);
          gate->Open(st);
        },
        [this, e, gate] {
          SKIFF_RETURN_IF_ERROR(gate->Wait());
          ++stats_.dirs;
          return Add(e);
        }));
  }
  bool descend = !(opts_.one_file_system && st.dev != root_dev);
  auto written = std::make_shared<std::set<std::string>>();
  if (descend) {
    auto names = local_.ListDir(local);
    if (!names.ok()) {
      Warn("cannot list " + local + ": " + names.status().ToString());
    } else {
      std::sort(names->begin(), names->end());
      std::shared_ptr<DirGate> outer = parent_gate_;
      parent_gate_ = gate;
      for (const auto& n : *names) {
        Status st2 = ProcessEntry(local + "/" + n, rel + "/" + n, root_dev, written);
        if (!st2.ok()) {
          parent_gate_ = outer;
          return st2;
        }
      }
      parent_gate_ = outer;
    }
  }
  // After every entry below has finished: their renames and links touch the mtime.
  if (resuming_) {
    return window_->Then([this, e, dst, written]() -> Status {
      SKIFF_RETURN_IF_ERROR(RemoveExtras(dst, *written));
      return SetDirAttrs(dst, e);
    });
  }
  // A fresh tree: the attributes are set once the whole tree is there (Run), all
  // directories in flight at once, so the scan never waits behind the files' requests.
  deferred_dirs_.emplace_back(dst, e);
  return Status::Ok();
}

Status BackupEngine::Impl::SetDirAttrs(const std::string& dst, const ManifestEntry& e) {
  return files_
      ->ApplyAttrs([&](const FileAttr& a) { return fs_.SetStat(dst, a); }, e.mode, e.mtime, e.uid,
                   e.gid)
      .WithContext("setting attributes of " + dst);
}

Status BackupEngine::Impl::ProcessEntry(const std::string& local, const std::string& rel,
                                        uint64_t root_dev, const Written& written) {
  if (MatchesExclude(opts_.excludes, rel)) return Status::Ok();
  if (!ValidateRelPath(rel).ok()) {
    Warn("skipping unsupported name: " + local);
    return Status::Ok();
  }
  auto st = local_.Lstat(local);
  if (!st.ok()) {
    Warn(st.status().Is(Code::kNotFound) ? "vanished during backup: " + local
                                         : "cannot stat " + local + ": " + st.status().ToString());
    return Status::Ok();
  }
  const std::string name(BaseName(rel));
  if (S_ISDIR(st->mode)) {
    written->insert(name);
    return ProcessDir(local, rel, *st, root_dev);
  }
  if (S_ISREG(st->mode)) return ProcessFile(local, rel, *st, written);
  if (S_ISLNK(st->mode)) {
    auto target = local_.Readlink(local);
    if (!target.ok()) {
      Warn("cannot read symlink " + local + ": " + target.status().ToString());
      return Status::Ok();
    }
    if (target->empty()) {
      Warn("skipping empty symlink " + local);
      return Status::Ok();
    }
    ManifestEntry e;
    e.type = EntryType::kSymlink;
    e.path = rel;
    e.mode = st->mode & 07777;
    e.uid = opts_.preserve_owner ? st->uid : 0;
    e.gid = opts_.preserve_owner ? st->gid : 0;
    e.mtime = st->mtime;
    e.ino = st->ino;
    e.ctime = st->ctime;
    e.link_target = *target;
    const std::string dst = Dst(rel);
    if (parent_gate_) SKIFF_RETURN_IF_ERROR(parent_gate_->Wait());
    if (resuming_) SKIFF_RETURN_IF_ERROR(ClearRemote(dst));
    SKIFF_RETURN_IF_ERROR(fs_.Symlink(*target, dst).WithContext("creating symlink " + dst));
    if (fs_.caps().lsetstat) {
      FileAttr a;
      a.valid = FileAttr::kTimes;
      a.atime = a.mtime = e.mtime;
      fs_.LSetStat(dst, a).IgnoreError();  // cosmetic: a symlink's time
    }
    written->insert(name);
    return window_->Then([this, e] {
      ++stats_.symlinks;
      return Add(e);
    });
  }
  Warn("skipping special file (socket, device or FIFO): " + local);
  return Status::Ok();
}

Status BackupEngine::Impl::ProcessSource(const std::string& local, const std::string& rel,
                                         const Written& written) {
  auto st = local_.Lstat(local);
  if (!st.ok()) return st.status().WithContext("source " + local);
  return ProcessEntry(local, rel, st->dev, written);
}

Result<BackupStats> BackupEngine::Impl::RunInner() {
  // Sources: each becomes the top-level entry named by its last component.
  std::vector<std::pair<std::string, std::string>> sources;  // (name, local path)
  for (std::string s : opts_.sources) {
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    std::string name(BaseName(s));
    if (name.empty() || name == "/" || name == "." || name == "..")
      return Status::Invalid("cannot name source '" + s +
                             "' in the snapshot; give a directory path like /home/alice");
    for (const auto& [n, p] : sources)
      if (n == name)
        return Status::Invalid("sources '" + p + "' and '" + s + "' have the same name '" + name +
                               "'");
    sources.emplace_back(name, s);
  }
  if (sources.empty()) return Status::Invalid("no source given");
  std::sort(sources.begin(), sources.end());

  std::string broke;
  SKIFF_ASSIGN_OR_RETURN(auto lock, RepoLock::Acquire(repo_, opts_.lock, &broke));
  if (!broke.empty()) Warn(broke);

  // Leftovers of an interrupted run in .skiff/tmp (partial uploads) are never reused.
  {
    SKIFF_ASSIGN_OR_RETURN(auto leftovers, fs_.ReadDir(repo_.TmpDir()));
    for (const auto& l : leftovers)
      SKIFF_RETURN_IF_ERROR(ClearRemote(repo_.TmpDir() + "/" + l.name));
  }
  SKIFF_ASSIGN_OR_RETURN(auto names, repo_.ListSnapshots());
  std::string name = FormatSnapshotName(opts_.now);
  for (int i = 1;
       std::find(names.begin(), names.end(), name) != names.end() ||
       (!names.empty() && ParseSnapshotName(names.back()) == opts_.now && name <= names.back());
       ++i)
    name = FormatSnapshotName(opts_.now) + "." + std::to_string(i);
  stats_.snapshot = name;

  ManifestCache cache(opts_.cache_dir);
  if (!names.empty()) {
    prev_name_ = names.back();
    prev_time_ = ParseSnapshotName(prev_name_).value_or(0);
    auto reader = cache.OpenLatest(repo_, prev_name_);
    if (reader.ok())
      prev_ = std::make_unique<PrevCursor>(std::move(*reader),
                                           [this](const std::string& m) { Warn(m); });
    else
      Warn("previous snapshot's manifest unreadable; uploading everything: " +
           reader.status().ToString());
  }

  incomplete_ = repo_.IncompleteDir();
  auto inc = fs_.Lstat(incomplete_);
  resuming_ = inc.ok();
  stats_.resumed = resuming_;
  if (resuming_ && !inc->IsDir()) {
    SKIFF_RETURN_IF_ERROR(fs_.Remove(incomplete_));
    resuming_ = false;
  }
  if (!resuming_) SKIFF_RETURN_IF_ERROR(fs_.Mkdir(incomplete_, 0700));
  FileJobConfig fc;
  fc.checksum = opts_.checksum;
  fc.preserve_owner = opts_.preserve_owner;
  fc.resuming = resuming_;
  fc.incomplete_dir = incomplete_;
  if (!prev_name_.empty()) fc.prev_dir = repo_.SnapshotDir(prev_name_);
  fc.prev_time = prev_time_;
  fc.warn = [this](const std::string& m) { Warn(m); };
  // With a previous snapshot, unchanged files become hard links and the manifest is
  // mostly the previous one's: both go over the compressed session (doc/FORMAT.md
  // "Connections"), file data over the others.
  RemoteFs* compressed = nullptr;
  fc.sessions = FileSessions(fs_, opts_.sessions, prev_name_.empty() ? nullptr : &compressed);
  fc.link_session = compressed;
  files_ = std::make_unique<BackupFileJob>(repo_, local_, std::move(fc));

  // The manifest goes to .skiff/tmp and, in parallel, to the local cache.
  std::string manifest_tmp = repo_.TmpDir() + "/manifest";
  SKIFF_ASSIGN_OR_RETURN(auto mupload,
                         ManifestUpload::Begin(compressed ? *compressed : fs_, manifest_tmp));
  auto cache_writer = cache.BeginWrite(name);
  manifest_ = std::make_unique<ManifestWriter>(name, [&](std::string_view bytes) -> Status {
    if (cache_writer) cache_writer->Write(bytes);
    return mupload->Append(bytes);
  });

  auto top = std::make_shared<std::set<std::string>>();
  {
    // Destroyed (waiting for work in flight) before anything the jobs use, on every path.
    struct WindowReset {
      std::unique_ptr<JobWindow>& w;
      ~WindowReset() { w.reset(); }
    } reset{window_};
    window_ = std::make_unique<JobWindow>(kFileWorkers, kMaxPendingEntries);
    for (const auto& [n, p] : sources) SKIFF_RETURN_IF_ERROR(ProcessSource(p, n, top));
    SKIFF_RETURN_IF_ERROR(window_->Drain());
    // Every file is in place: nothing below changes a directory's mtime any more.
    auto results = std::make_shared<std::vector<Status>>(deferred_dirs_.size());
    for (size_t i = 0; i < deferred_dirs_.size(); ++i)
      SKIFF_RETURN_IF_ERROR(window_->Submit(
          [this, i, results] {
            (*results)[i] = SetDirAttrs(deferred_dirs_[i].first, deferred_dirs_[i].second);
          },
          [i, results] { return (*results)[i]; }));
    SKIFF_RETURN_IF_ERROR(window_->Drain());
    deferred_dirs_.clear();
  }
  if (resuming_) SKIFF_RETURN_IF_ERROR(RemoveExtras(incomplete_, *top));

  SKIFF_RETURN_IF_ERROR(manifest_->Finish());
  SKIFF_RETURN_IF_ERROR(mupload->Finish());
  Status st = fs_.Rename(manifest_tmp, repo_.ManifestPath(name), RenameMode::kNoReplace);
  if (!st.ok()) return st.WithContext("publishing the manifest of " + name);
  FileAttr root_attr;
  root_attr.valid = FileAttr::kPermissions | FileAttr::kTimes;
  root_attr.mode = 0755;
  root_attr.atime = root_attr.mtime = opts_.now;
  SKIFF_RETURN_IF_ERROR(fs_.SetStat(incomplete_, root_attr));
  SKIFF_RETURN_IF_ERROR(fs_.Rename(incomplete_, repo_.SnapshotDir(name), RenameMode::kNoReplace)
                            .WithContext("publishing snapshot " + name));
  if (cache_writer) cache_writer->Commit(repo_, name);
  SKIFF_RETURN_IF_ERROR(lock->Release());
  SyncWarnings();
  return stats_;
}

}  // namespace skiff::sync
