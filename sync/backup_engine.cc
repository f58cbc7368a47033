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

#include "sync/content_hash.h"
#include "sync/delta_matcher.h"
#include "sync/dir_gate.h"
#include "sync/job_window.h"
#include "sync/manifest.h"
#include "sync/manifest_cache.h"
#include "sync/prev_manifest_cursor.h"
#include "sync/rel_path.h"
#include "sync/remote_stream.h"
#include "sync/retention.h"
#include "sync/signature.h"

namespace skiff::sync {
namespace {

// Local read size: large enough for few syscalls, small enough to bound memory.
constexpr size_t kReadChunk = 1 << 20;
// Signatures of the biggest files (a 1 TiB file at 128 KiB blocks is ~100 MiB of
// signature); refuse anything beyond as corrupt.
constexpr uint64_t kMaxSignatureBytes = 256ull << 20;
// Files in flight. Each new small file costs ~5 sequential round trips (open, write,
// fsetstat, close, rename) and an unchanged one 1 (hardlink), so throughput on a tree of
// small files is bounded by latency unless many files overlap. Measured on loopback
// through the benchmark's counting relay (5000 small files, load ~9 on 2 cores): 16
// workers 15.5 s, 64 workers 4.9 s (rsync 1.9 s). The SFTP client caps
// what is in flight (64 requests / 16 MiB), so more workers than that gain nothing.
// Memory: a worker holds at most one 1 MiB read chunk; its writes wait in the client.
constexpr int kFileWorkers = 64;
// Outstanding entries (including finished ones waiting for an earlier one).
constexpr size_t kMaxPendingEntries = 1024;

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
  struct FileResult {
    std::string hash;
    uint64_t size = 0;
    bool has_signature = false;
    bool delta = false;         // rebuilt from the previous version
    uint64_t bytes_sent = 0;    // literals or upload
    uint64_t bytes_copied = 0;  // rebuilt server-side
  };
  // The worker side of one regular file; the scan thread reads it in the finisher.
  struct FileJob {
    Status status;
    std::optional<FileResult> result;
    bool reused = false, unchanged = false, transferred = false;
  };
  // Names of a directory's entries that made it into the snapshot (resume cleanup).
  using Written = std::shared_ptr<std::set<std::string>>;
  void RunFileJob(const std::string& local, const std::string& rel, const LocalStat& st,
                  const ManifestEntry& e, const std::optional<ManifestEntry>& prev, FileJob& job);
  // One upload or rebuild: reads the local file once, hashing it, building its signature
  // and feeding either the uploader or the delta matcher.
  Result<std::optional<FileResult>> TransferFile(const std::string& local, const std::string& rel,
                                                 const LocalStat& st,
                                                 const ManifestEntry* prev_for_delta);
  Result<std::optional<FileResult>> HashLocal(const std::string& local, const LocalStat& st,
                                              bool store_signature);
  Result<BackupStats> RunInner();
  Status PutSignature(const std::string& hash, const FileSignature& sig);
  Status SetRemoteMeta(RemoteFile& f, uint32_t mode, int64_t mtime, uint32_t uid, uint32_t gid);
  Status ApplyAttrs(const std::function<Status(const FileAttr&)>& apply, uint32_t mode,
                    int64_t mtime, uint32_t uid, uint32_t gid);
  Status PlaceFile(const std::string& tmp, const std::string& dst);
  Status ClearRemote(const std::string& path);

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
  std::string Dst(const std::string& rel) const { return incomplete_ + "/" + rel; }
  std::string PrevPath(const std::string& rel) const {
    return repo_.SnapshotDir(prev_name_) + "/" + rel;
  }
  Status Add(const ManifestEntry& e) { return manifest_->Add(e); }

  // Threading: the scan (ProcessEntry and below) and every JobWindow finisher run on the
  // thread that called Run; RunFileJob and what it calls run on the window's workers and
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
  std::atomic<bool> server_sets_owner_{true};  // any thread; cleared when chown is refused
  std::unique_ptr<PrevCursor> prev_;
  std::unique_ptr<ManifestWriter> manifest_;
  std::atomic<uint64_t> tmp_seq_{0};  // any thread
  uint64_t next_group_ = 0;
  struct GroupInfo {
    uint64_t id;
    std::string rel;
    ManifestEntry entry;
    bool ready;  // false while the first name is in flight (or if it vanished)
  };
  std::map<std::pair<uint64_t, uint64_t>, GroupInfo> groups_;  // (dev, ino) of nlink > 1
  std::mutex sig_mu_;                         // guards sig_dirs_made_; held while creating one
  std::set<std::string> sig_dirs_made_;       // guarded by sig_mu_
  std::mutex warn_mu_;                        // guards warnings_ and calls of opts_.warn
  uint64_t warnings_ = 0;                     // guarded by warn_mu_
  std::vector<std::string> queued_warnings_;  // guarded by warn_mu_
  std::thread::id run_thread_ = std::this_thread::get_id();
  // Directories (path, entry) whose attributes are set at the end (not when resuming).
  std::vector<std::pair<std::string, ManifestEntry>> deferred_dirs_;
  // The directory being scanned while it is created by a job (null: it exists).
  std::shared_ptr<DirGate> parent_gate_;
  std::unique_ptr<JobWindow> window_;  // during Run; destroyed before the members above
};

BackupEngine::BackupEngine(const Repository& repo, LocalFs& local, BackupOptions opts)
    : impl_(std::make_unique<Impl>(repo, local, std::move(opts))) {}
BackupEngine::~BackupEngine() = default;
Result<BackupStats> BackupEngine::Run() { return impl_->Run(); }

Status BackupEngine::Impl::ClearRemote(const std::string& path) {
  auto a = fs_.Lstat(path);
  if (!a.ok()) return a.status().Is(Code::kNotFound) ? Status::Ok() : a.status();
  if (a->IsDir()) return RemoveTree(fs_, path);
  return fs_.Remove(path);
}

Status BackupEngine::Impl::PlaceFile(const std::string& tmp, const std::string& dst) {
  Status st = fs_.Rename(tmp, dst, RenameMode::kNoReplace);
  if (st.ok()) return st;
  if (!resuming_ && !st.Is(Code::kExists)) return st.WithContext("renaming into " + dst);
  SKIFF_RETURN_IF_ERROR(ClearRemote(dst));
  return fs_.Rename(tmp, dst, RenameMode::kNoReplace).WithContext("renaming into " + dst);
}

Status BackupEngine::Impl::ApplyAttrs(const std::function<Status(const FileAttr&)>& apply,
                                      uint32_t mode, int64_t mtime, uint32_t uid, uint32_t gid) {
  FileAttr a;
  a.valid = FileAttr::kPermissions | FileAttr::kTimes;
  a.mode = mode & 07777;
  a.atime = a.mtime = mtime;
  if (opts_.preserve_owner && server_sets_owner_) {
    FileAttr with_owner = a;
    with_owner.valid |= FileAttr::kUidGid;
    with_owner.uid = uid;
    with_owner.gid = gid;
    Status st = apply(with_owner);
    if (!st.Is(Code::kPermission)) return st;
    // The server account cannot chown (not root there): the owners stay in the manifest
    // only, which is what restore uses.
    server_sets_owner_ = false;
  }
  return apply(a);
}

Status BackupEngine::Impl::SetRemoteMeta(RemoteFile& f, uint32_t mode, int64_t mtime, uint32_t uid,
                                         uint32_t gid) {
  return ApplyAttrs([&](const FileAttr& a) { return f.SetStat(a); }, mode, mtime, uid, gid);
}

Status BackupEngine::Impl::PutSignature(const std::string& hash, const FileSignature& sig) {
  std::string path = repo_.SignaturePath(hash);
  std::string dir = std::string(DirName(path));
  std::unique_lock<std::mutex> sig_lock(sig_mu_);
  if (sig_dirs_made_.insert(dir).second) {
    Status st = fs_.Mkdir(dir, 0700);
    if (!st.ok() && !st.Is(Code::kExists)) {
      auto a = fs_.Stat(dir);
      if (!a.ok()) {
        sig_dirs_made_.erase(dir);
        return st.WithContext("creating " + dir);
      }
    }
  }
  sig_lock.unlock();
  // Written aside and renamed without replacing: a signature file is complete or absent,
  // and an existing one (same content, same key) is kept.
  std::string tmp = repo_.TmpDir() + "/sig." + std::to_string(++tmp_seq_);
  {
    SKIFF_ASSIGN_OR_RETURN(
        auto f, fs_.Open(tmp, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kTruncate, 0600));
    RemoteStreamWriter w(*f, fs_.caps().max_write);
    SKIFF_RETURN_IF_ERROR(w.Append(sig.Encode()));
    SKIFF_RETURN_IF_ERROR(w.Finish(0));
    SKIFF_RETURN_IF_ERROR(f->Close());
  }
  Status st = fs_.Rename(tmp, path, RenameMode::kNoReplace);
  if (!st.ok()) {
    fs_.Remove(tmp).IgnoreError();
    if (!fs_.Stat(path).ok()) return st.WithContext("storing signature " + path);
  }
  return Status::Ok();
}

Result<std::optional<BackupEngine::Impl::FileResult>> BackupEngine::Impl::HashLocal(
    const std::string& local, const LocalStat& st, bool store_signature) {
  auto reader = local_.OpenRead(local);
  if (!reader.ok()) {
    Warn("cannot read " + local + ": " + reader.status().ToString());
    return std::optional<FileResult>();
  }
  ContentHasher hasher;
  bool want_sig = store_signature && st.size >= kDeltaMinSize;
  SignatureBuilder sb(ChooseBlockSize(st.size));
  FileResult r;
  while (true) {
    SKIFF_ASSIGN_OR_RETURN(std::string chunk, (*reader)->Read(kReadChunk));
    if (chunk.empty()) break;
    hasher.Update(chunk);
    if (want_sig) sb.Update(chunk);
    r.size += chunk.size();
  }
  r.hash = hasher.HexDigest();
  if (want_sig && r.size >= kDeltaMinSize) {
    SKIFF_RETURN_IF_ERROR(PutSignature(r.hash, sb.Finish()));
    r.has_signature = true;
  }
  return std::optional<FileResult>(r);
}

// Rebuilds a file on the server from a base file's blocks and literal bytes.
class RemoteDeltaSink : public DeltaSink {
 public:
  RemoteDeltaSink(RemoteFs& fs, RemoteFile& base, RemoteFile& out, RemoteStreamWriter& w)
      : fs_(fs), base_(base), out_(out), w_(w) {}
  Status Copy(uint64_t base_offset, uint64_t length) override {
    SKIFF_RETURN_IF_ERROR(fs_.CopyData(base_, base_offset, length, out_, pos_));
    pos_ += length;
    copied_ += length;
    return Status::Ok();
  }
  Status Literal(std::string_view bytes) override {
    SKIFF_RETURN_IF_ERROR(w_.WriteAt(pos_, bytes));
    pos_ += bytes.size();
    return Status::Ok();
  }
  uint64_t pos() const { return pos_; }
  uint64_t copied() const { return copied_; }

 private:
  RemoteFs& fs_;
  RemoteFile& base_;
  RemoteFile& out_;
  RemoteStreamWriter& w_;
  uint64_t pos_ = 0, copied_ = 0;
};

Result<std::optional<BackupEngine::Impl::FileResult>> BackupEngine::Impl::TransferFile(
    const std::string& local, const std::string& rel, const LocalStat& st,
    const ManifestEntry* prev_for_delta) {
  auto reader = local_.OpenRead(local);
  if (!reader.ok()) {
    Warn(reader.status().Is(Code::kNotFound)
             ? "vanished during backup: " + local
             : "cannot read " + local + ": " + reader.status().ToString());
    return std::optional<FileResult>();
  }
  // The delta needs the previous version's signature and file; without them, upload.
  std::optional<FileSignature> base_sig;
  std::unique_ptr<RemoteFile> base;
  if (prev_for_delta) {
    auto bytes = ReadWholeFile(fs_, repo_.SignaturePath(prev_for_delta->hash), kMaxSignatureBytes);
    if (bytes.ok()) {
      auto sig = FileSignature::Decode(*bytes);
      if (sig.ok() && sig->file_size == prev_for_delta->size) base_sig = std::move(*sig);
    }
    if (base_sig) {
      auto b = fs_.Open(PrevPath(rel), OpenFlags::kRead);
      if (b.ok())
        base = std::move(*b);
      else
        base_sig.reset();
    }
  }
  std::string tmp = repo_.TmpDir() + "/f." + std::to_string(++tmp_seq_);
  SKIFF_ASSIGN_OR_RETURN(
      auto out, fs_.Open(tmp, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kTruncate, 0600));
  RemoteStreamWriter writer(*out, fs_.caps().max_write, 16, /*skip_zero_chunks=*/true);
  std::optional<RemoteDeltaSink> sink;
  std::optional<DeltaMatcher> matcher;
  if (base_sig) {
    sink.emplace(fs_, *base, *out, writer);
    matcher.emplace(*base_sig, *sink);
  }
  ContentHasher hasher;
  // Signatures only for files that were big enough when scanned (a file that grows past
  // the threshold while read just gets none: no delta next time, nothing else).
  const bool want_sig = st.size >= kDeltaMinSize;
  SignatureBuilder sb(ChooseBlockSize(st.size));
  FileResult r;
  Status failed;
  while (failed.ok()) {
    auto chunk = (*reader)->Read(kReadChunk);
    if (!chunk.ok()) {
      failed = chunk.status();
      break;
    }
    if (chunk->empty()) break;
    hasher.Update(*chunk);
    if (want_sig) sb.Update(*chunk);
    r.size += chunk->size();
    failed = matcher ? matcher->Update(*chunk) : writer.Append(*chunk);
  }
  if (failed.ok() && matcher) failed = matcher->Finish();
  if (failed.ok()) failed = writer.Finish(r.size);
  if (failed.ok()) failed = SetRemoteMeta(*out, st.mode, st.mtime, st.uid, st.gid);
  if (failed.ok()) failed = out->Close();
  if (!failed.ok()) {
    writer.Finish(0).IgnoreError();
    out.reset();
    fs_.Remove(tmp).IgnoreError();
    return failed.WithContext("backing up " + local);
  }
  if (base) base->Close().IgnoreError();
  auto after = (*reader)->Stat();
  if (after.ok() && (after->size != st.size || after->mtime != st.mtime || r.size != st.size))
    Warn("changed during backup (the snapshot holds what was read): " + local);
  r.hash = hasher.HexDigest();
  if (matcher) {
    r.delta = true;
    r.bytes_copied = sink->copied();
  }
  r.bytes_sent = writer.bytes_sent();
  SKIFF_RETURN_IF_ERROR(PlaceFile(tmp, Dst(rel)));
  if (want_sig && r.size >= kDeltaMinSize) {
    SKIFF_RETURN_IF_ERROR(PutSignature(r.hash, sb.Finish()));
    r.has_signature = true;
  }
  return std::optional<FileResult>(r);
}

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
        std::string tmp = repo_.TmpDir() + "/f." + std::to_string(++tmp_seq_);
        SKIFF_ASSIGN_OR_RETURN(
            auto out,
            fs_.Open(tmp, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kTruncate, 0600));
        SKIFF_RETURN_IF_ERROR(fs_.CopyData(*src, 0, 0, *out, 0));
        SKIFF_RETURN_IF_ERROR(SetRemoteMeta(*out, first.mode, first.mtime, first.uid, first.gid));
        SKIFF_RETURN_IF_ERROR(out->Close());
        SKIFF_RETURN_IF_ERROR(PlaceFile(tmp, dst));
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
  auto job = std::make_shared<FileJob>();
  auto work = [this, local, rel, st, e, prev, job, gate = parent_gate_] {
    if (gate) {
      Status g = gate->Wait();
      if (!g.ok()) {
        job->status = g;
        return;
      }
    }
    RunFileJob(local, rel, st, e, prev, *job);
  };
  auto finish = [this, e, key, job, written, name, had_prev = prev.has_value(),
                 nlink = st.nlink]() mutable -> Status {
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
  return window_->Submit(std::move(work), std::move(finish));
}

void BackupEngine::Impl::RunFileJob(const std::string& local, const std::string& rel,
                                    const LocalStat& st, const ManifestEntry& e,
                                    const std::optional<ManifestEntry>& prev, FileJob& job) {
  const std::string dst = Dst(rel);
  std::optional<FileResult> result;
  auto fail = [&](Status s) { job.status = std::move(s); };

  // Resume: a complete file from the interrupted run.
  if (resuming_) {
    auto a = fs_.Lstat(dst);
    if (a.ok() && a->IsRegular() && a->size == st.size && a->mtime == st.mtime &&
        (a->mode & 07777) == e.mode) {
      if (prev && !opts_.checksum && prev->size == st.size && prev->mtime == st.mtime &&
          prev->ino == st.ino && prev->ctime == st.ctime && st.mtime < prev_time_ &&
          st.ctime < prev_time_) {
        result = FileResult{prev->hash, prev->size, prev->has_signature};
      } else {
        auto h = HashLocal(local, st, /*store_signature=*/true);
        if (!h.ok()) return fail(h.status());
        if (!*h) return;
        result = std::move(*h);
      }
      job.reused = true;
    }
  }

  if (!result && prev) {
    bool same_meta = prev->size == st.size && prev->mtime == st.mtime && prev->mode == e.mode &&
                     prev->uid == e.uid && prev->gid == e.gid;
    // A file modified in the second the previous snapshot started, or later, may have
    // changed again without its (second-resolution) times moving: do not trust them.
    bool racy = st.mtime >= prev_time_ || st.ctime >= prev_time_;
    bool unchanged = same_meta && prev->ino == st.ino && prev->ctime == st.ctime && !racy;
    if (opts_.checksum && same_meta) {
      auto h = HashLocal(local, st, /*store_signature=*/false);
      if (!h.ok()) return fail(h.status());
      if (!*h) return;
      unchanged = (*h)->hash == prev->hash;
    }
    if (unchanged && fs_.caps().hardlink) {
      if (resuming_) {
        Status c = ClearRemote(dst);
        if (!c.ok()) return fail(c);
      }
      if (fs_.Hardlink(PrevPath(rel), dst).ok()) {
        result = FileResult{prev->hash, prev->size, prev->has_signature};
        job.unchanged = true;
      }
    }
  }
  if (!result) {
    const ManifestEntry* base = nullptr;
    if (prev && prev->has_signature && fs_.caps().copy_data && st.size >= kDeltaMinSize)
      base = &*prev;
    auto t = TransferFile(local, rel, st, base);
    if (!t.ok()) return fail(t.status());
    if (!*t) return;  // vanished or unreadable: warned
    result = std::move(*t);
    job.transferred = true;
  }
  job.result = std::move(result);
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
  return ApplyAttrs([&](const FileAttr& a) { return fs_.SetStat(dst, a); }, e.mode, e.mtime, e.uid,
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

  // The manifest goes to .skiff/tmp and, in parallel, to the local cache.
  std::string manifest_tmp = repo_.TmpDir() + "/manifest";
  SKIFF_ASSIGN_OR_RETURN(
      auto mfile,
      fs_.Open(manifest_tmp, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kTruncate, 0600));
  RemoteStreamWriter mwriter(*mfile, fs_.caps().max_write);
  auto cache_writer = cache.BeginWrite(name);
  manifest_ = std::make_unique<ManifestWriter>(name, [&](std::string_view bytes) -> Status {
    if (cache_writer) cache_writer->Write(bytes);
    return mwriter.Append(bytes);
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
  SKIFF_RETURN_IF_ERROR(mwriter.Finish(0));
  Status sync = mfile->Sync();
  if (!sync.ok() && !sync.Is(Code::kUnsupported)) return sync.WithContext("fsync of the manifest");
  SKIFF_RETURN_IF_ERROR(mfile->Close());
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
