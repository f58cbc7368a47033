#include "sync/backup_file_job.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <string_view>

#include "sync/content_hash.h"
#include "sync/delta_matcher.h"
#include "sync/rel_path.h"
#include "sync/remote_stream.h"
#include "sync/server_file_transfer.h"
#include "transport/async_hardlink.h"

namespace skiff::sync {
namespace {

// Local read size: large enough for few syscalls, small enough to bound memory.
constexpr size_t kReadChunk = 1 << 20;

// The read size for a file scanned at `size` bytes: a small file is read with a buffer
// just past its size (one read for the content, one that shows EOF) instead of 1 MiB.
// LocalReader::Read zero-fills its buffer first: 1 MiB per file was 5 GiB of memset on
// the benchmark's 5000 small files (8% of the client's CPU in `perf record`).
size_t ReadSizeFor(uint64_t size) {
  return static_cast<size_t>(std::min<uint64_t>(kReadChunk, std::max<uint64_t>(size + 1, 4096)));
}
// Signatures of the biggest files (a 1 TiB file at 128 KiB blocks is ~100 MiB of
// signature); refuse anything beyond as corrupt.
constexpr uint64_t kMaxSignatureBytes = 256ull << 20;

}  // namespace

BackupFileJob::BackupFileJob(const Repository& repo, LocalFs& local, FileJobConfig config)
    : repo_(repo), fs_(repo.fs()), local_(local), config_(std::move(config)) {
  for (RemoteFs* f : config_.sessions) sessions_.push_back(f);
  if (sessions_.empty()) sessions_.push_back(&fs_);
  picker_ = std::make_unique<SessionPicker>(sessions_.size());
}

// Holds a session for one file's transfer; a big file counts in the picker while it lives.
class BackupFileJob::SessionLease {
 public:
  SessionLease(SessionPicker& picker, uint64_t size)
      : picker_(picker), size_(size), index_(picker.Pick(size)) {}
  SessionLease(const SessionLease&) = delete;
  SessionLease& operator=(const SessionLease&) = delete;
  ~SessionLease() { picker_.Done(index_, size_); }
  size_t index() const { return index_; }

 private:
  SessionPicker& picker_;
  uint64_t size_;
  size_t index_;
};

BackupFileJob::SessionLease BackupFileJob::LeaseSession(uint64_t size) {
  return SessionLease(*picker_, size);
}

std::string BackupFileJob::NewTmpPath(const char* kind) {
  return repo_.TmpDir() + "/" + kind + "." + std::to_string(++tmp_seq_);
}

FileJobOutcome BackupFileJob::Run(const std::string& local, const std::string& rel,
                                  const LocalStat& st, const ManifestEntry& e,
                                  const std::optional<ManifestEntry>& prev) {
  FileJobOutcome job;
  FileResult r;
  // The whole file on one session (its handles and copy-data stay together).
  const SessionLease lease = LeaseSession(st.size);
  RemoteFs& fs = *sessions_[lease.index()];
  auto step = TryResume(fs, local, rel, st, e, prev, &r);
  if (step.ok() && *step == Step::kDone) job.reused = true;
  if (step.ok() && *step == Step::kNext && prev) {
    step = TryUnchanged(fs, local, rel, st, e, *prev, &r);
    if (step.ok() && *step == Step::kDone) job.unchanged = true;
  }
  if (!step.ok()) {
    job.status = step.status();
    return job;
  }
  if (*step == Step::kGone) return job;
  if (*step == Step::kDone) {
    job.result = std::move(r);
    return job;
  }
  Result<std::optional<FileResult>> t = std::optional<FileResult>();
  if (auto* server = dynamic_cast<ServerBuildFs*>(&fs_); server && server->server_build()) {
    // The server rebuilds the file itself (skiff serve; sync/server_file_transfer.h).
    ServerTransfer s;
    s.local = local;
    s.st = st;
    s.tmp = NewTmpPath("f");
    s.dst = Dst(rel);
    s.replace = config_.resuming;
    if (prev && !config_.prev_dir.empty() && prev->size >= kServerDeltaMinSize &&
        st.size >= kServerDeltaMinSize) {
      s.base = config_.prev_dir + "/" + rel;
      if (prev->has_signature) s.stored_sig = repo_.SignaturePath(prev->hash);
    }
    if (st.size >= kDeltaMinSize) {
      s.sig_block_size = ChooseBlockSize(st.size);
      s.sig_tmp = NewTmpPath("sig");
    }
    s.sig_path = [this](const std::string& hash) { return repo_.SignaturePath(hash); };
    s.attr.valid = FileAttr::kPermissions | FileAttr::kTimes |
                   (config_.preserve_owner ? FileAttr::kUidGid : 0u);
    s.attr.mode = st.mode & 07777;
    s.attr.atime = s.attr.mtime = st.mtime;
    s.attr.uid = st.uid;
    s.attr.gid = st.gid;
    t = TransferThroughServer(*server, local_, s, config_.warn);
  } else {
    if (prev) {
      auto same = TrySameContent(fs, local, rel, st, *prev, &r);
      if (!same.ok()) {
        job.status = same.status();
        return job;
      }
      if (*same == Step::kDone) {
        job.result = std::move(r);
        job.transferred = true;
        return job;
      }
    }
    const ManifestEntry* base = nullptr;
    if (prev && prev->has_signature && fs.caps().copy_data && st.size >= kDeltaMinSize)
      base = &*prev;
    t = Transfer(fs, local, rel, st, base);
  }
  if (!t.ok()) {
    job.status = t.status();
    return job;
  }
  job.result = std::move(*t);  // empty: vanished or unreadable, warned
  job.transferred = job.result.has_value();
  return job;
}

Result<BackupFileJob::Step> BackupFileJob::TryResume(RemoteFs& fs, const std::string& local,
                                                     const std::string& rel, const LocalStat& st,
                                                     const ManifestEntry& e,
                                                     const std::optional<ManifestEntry>& prev,
                                                     FileResult* out) {
  if (!config_.resuming) return Step::kNext;
  auto a = fs.Lstat(Dst(rel));
  if (!a.ok() || !a->IsRegular() || a->size != st.size || a->mtime != st.mtime ||
      (a->mode & 07777) != e.mode)
    return Step::kNext;
  if (prev && !config_.checksum && prev->size == st.size && prev->mtime == st.mtime &&
      prev->ino == st.ino && prev->ctime == st.ctime && st.mtime < config_.prev_time &&
      st.ctime < config_.prev_time) {
    *out = FileResult{prev->hash, prev->size, prev->has_signature};
    return Step::kDone;
  }
  SKIFF_ASSIGN_OR_RETURN(auto h, HashLocal(fs, local, st, /*store_signature=*/true));
  if (!h) return Step::kGone;
  *out = std::move(*h);
  return Step::kDone;
}

bool BackupFileJob::UnchangedByMetadata(const LocalStat& st, const ManifestEntry& e,
                                        const ManifestEntry& prev, bool* same_meta) const {
  *same_meta = prev.size == st.size && prev.mtime == st.mtime && prev.mode == e.mode &&
               prev.uid == e.uid && prev.gid == e.gid;
  // A file modified in the second the previous snapshot started, or later, may have
  // changed again without its (second-resolution) times moving: do not trust them.
  bool racy = st.mtime >= config_.prev_time || st.ctime >= config_.prev_time;
  return *same_meta && prev.ino == st.ino && prev.ctime == st.ctime && !racy;
}

bool BackupFileJob::LinkUnchangedAsync(const std::string& rel, const LocalStat& st,
                                       const ManifestEntry& e,
                                       const std::optional<ManifestEntry>& prev,
                                       std::function<void(Status)> done) {
  if (!prev || config_.resuming || config_.checksum || config_.prev_dir.empty() ||
      !fs_.caps().hardlink)
    return false;
  bool same_meta = false;
  if (!UnchangedByMetadata(st, e, *prev, &same_meta)) return false;
  // On the compressed session if there is one (the links' paths are most of an
  // incremental's requests, and compress to about a third), else spread over the
  // sessions like whole files.
  RemoteFs& fs =
      config_.link_session ? *config_.link_session : *sessions_[next_session_++ % sessions_.size()];
  auto* linker = dynamic_cast<AsyncHardlinkFs*>(&fs);
  if (!linker) return false;
  linker->HardlinkAsync(config_.prev_dir + "/" + rel, Dst(rel), std::move(done));
  return true;
}

Result<BackupFileJob::Step> BackupFileJob::TryUnchanged(RemoteFs& fs, const std::string& local,
                                                        const std::string& rel, const LocalStat& st,
                                                        const ManifestEntry& e,
                                                        const ManifestEntry& prev,
                                                        FileResult* out) {
  bool same_meta = false;
  bool unchanged = UnchangedByMetadata(st, e, prev, &same_meta);
  if (config_.checksum && same_meta) {
    SKIFF_ASSIGN_OR_RETURN(auto h, HashLocal(fs, local, st, /*store_signature=*/false));
    if (!h) return Step::kGone;
    unchanged = h->hash == prev.hash;
  }
  if (!unchanged || !fs.caps().hardlink || config_.prev_dir.empty()) return Step::kNext;
  const std::string dst = Dst(rel);
  if (config_.resuming) SKIFF_RETURN_IF_ERROR(ClearRemote(fs, dst));
  if (!fs.Hardlink(config_.prev_dir + "/" + rel, dst).ok()) return Step::kNext;
  *out = FileResult{prev.hash, prev.size, prev.has_signature};
  return Step::kDone;
}

Result<BackupFileJob::Step> BackupFileJob::TrySameContent(RemoteFs& fs, const std::string& local,
                                                          const std::string& rel,
                                                          const LocalStat& st,
                                                          const ManifestEntry& prev,
                                                          FileResult* out) {
  // Only small files: a big one takes the delta, which already sends nothing but copy
  // instructions when the content did not change. Wire cost compared with an upload:
  // the request headers of two opens and a copy-data (~250 bytes) instead of the content
  // (the benchmark's 100 touched files of 200-8000 bytes: ~400 KB less on the wire).
  if (st.size >= kDeltaMinSize || st.size == 0 || prev.size != st.size || !fs.caps().copy_data ||
      config_.prev_dir.empty())
    return Step::kNext;
  auto reader = local_.OpenRead(local);
  if (!reader.ok()) return Step::kNext;  // Transfer reports it
  std::string content;
  while (content.size() <= st.size) {
    SKIFF_ASSIGN_OR_RETURN(std::string chunk, (*reader)->Read(ReadSizeFor(st.size)));
    if (chunk.empty()) break;
    content += chunk;
  }
  if (content.size() != prev.size || ContentHash(content) != prev.hash) return Step::kNext;
  // Changed while read: let Transfer read it again (and warn if it still moves).
  auto after = (*reader)->Stat();
  if (!after.ok() || after->size != st.size || after->mtime != st.mtime) return Step::kNext;

  // Any failure on the server before the rename falls back to the upload (the previous
  // copy may be missing or unreadable: check reports that, not the backup).
  auto src = fs.Open(config_.prev_dir + "/" + rel, OpenFlags::kRead);
  if (!src.ok()) return Step::kNext;
  const std::string dst = Dst(rel);
  const std::string tmp = WritePath(dst);
  {
    SKIFF_ASSIGN_OR_RETURN(auto f, fs.Open(tmp, WriteFlags(), 0600));
    // Like a hard link, this trusts the previous snapshot's copy to hold what its
    // manifest entry says (`skiff check --read-data` verifies that).
    Status st2 = fs.CopyData(**src, 0, prev.size, *f, 0);
    if (st2.ok()) st2 = SetRemoteMetaAndClose(*f, st.mode, st.mtime, st.uid, st.gid);
    (*src)->Close().IgnoreError();
    if (!st2.ok()) {
      f.reset();
      fs.Remove(tmp).IgnoreError();
      return Step::kNext;
    }
  }
  if (tmp != dst) SKIFF_RETURN_IF_ERROR(PlaceFile(fs, tmp, dst));
  *out = FileResult{prev.hash, prev.size, false};
  out->bytes_copied = prev.size;
  return Step::kDone;
}

Status ClearRemote(RemoteFs& fs, const std::string& path) {
  auto a = fs.Lstat(path);
  if (!a.ok()) return a.status().Is(Code::kNotFound) ? Status::Ok() : a.status();
  if (a->IsDir()) return RemoveTree(fs, path);
  return fs.Remove(path);
}

std::string BackupFileJob::WritePath(const std::string& dst) {
  return config_.resuming ? NewTmpPath("f") : dst;
}

uint32_t BackupFileJob::WriteFlags() const {
  // Exclusive: in a tree this run created nothing can be there, and O_TRUNC on a path
  // that somehow held a hard link would write through to the previous snapshot.
  return OpenFlags::kWrite | OpenFlags::kCreate |
         (config_.resuming ? OpenFlags::kTruncate : OpenFlags::kExclusive);
}

Status BackupFileJob::PlaceFile(RemoteFs& fs, const std::string& tmp, const std::string& dst) {
  Status st = fs.Rename(tmp, dst, RenameMode::kNoReplace);
  if (st.ok()) return st;
  if (!config_.resuming && !st.Is(Code::kExists)) return st.WithContext("renaming into " + dst);
  SKIFF_RETURN_IF_ERROR(ClearRemote(fs, dst));
  return fs.Rename(tmp, dst, RenameMode::kNoReplace).WithContext("renaming into " + dst);
}

Status BackupFileJob::ApplyAttrs(const std::function<Status(const FileAttr&)>& apply, uint32_t mode,
                                 int64_t mtime, uint32_t uid, uint32_t gid) {
  FileAttr a;
  a.valid = FileAttr::kPermissions | FileAttr::kTimes;
  a.mode = mode & 07777;
  a.atime = a.mtime = mtime;
  if (config_.preserve_owner && server_sets_owner_) {
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

Status BackupFileJob::SetRemoteMeta(RemoteFile& f, uint32_t mode, int64_t mtime, uint32_t uid,
                                    uint32_t gid) {
  return ApplyAttrs([&](const FileAttr& a) { return f.SetStat(a); }, mode, mtime, uid, gid);
}

Status BackupFileJob::SetRemoteMetaAndClose(RemoteFile& f, uint32_t mode, int64_t mtime,
                                            uint32_t uid, uint32_t gid) {
  if (config_.preserve_owner && !owner_known_) {
    // The first file finds out whether the server account may set owners (one waited
    // FSETSTAT); files that get here meanwhile wait for its answer instead of each
    // asking the same question with a waited request of their own.
    std::unique_lock<std::mutex> l(owner_mu_);
    if (!owner_known_) {
      Status st = SetRemoteMeta(f, mode, mtime, uid, gid);
      if (st.ok()) owner_known_ = true;
      l.unlock();
      SKIFF_RETURN_IF_ERROR(st);
      return f.Close();
    }
  }
  if (config_.preserve_owner && server_sets_owner_) {
    SKIFF_RETURN_IF_ERROR(SetRemoteMeta(f, mode, mtime, uid, gid));
    return f.Close();
  }
  FileAttr a;
  a.valid = FileAttr::kPermissions | FileAttr::kTimes;
  a.mode = mode & 07777;
  a.atime = a.mtime = mtime;
  struct Both {
    std::mutex mu;  // guards left and first
    std::condition_variable cv;
    int left = 2;
    Status first;
  };
  auto both = std::make_shared<Both>();
  auto done = [both](Status st) {
    std::lock_guard<std::mutex> l(both->mu);
    if (!st.ok() && both->first.ok()) both->first = std::move(st);
    if (--both->left == 0) both->cv.notify_all();
  };
  f.SetStatAsync(a, done);
  f.CloseAsync(done);
  std::unique_lock<std::mutex> l(both->mu);
  both->cv.wait(l, [&] { return both->left == 0; });
  return both->first;
}

namespace {

// Byte ranges [begin, end) where `now` differs from `base` (and all of `now` past the end
// of `base`); ranges closer than kPatchGap are merged, since a write request costs ~40
// bytes of header.
constexpr size_t kPatchGap = 64;
std::vector<std::pair<size_t, size_t>> DiffRanges(std::string_view base, std::string_view now) {
  std::vector<std::pair<size_t, size_t>> out;
  const size_t common = std::min(base.size(), now.size());
  size_t i = 0;
  while (i < common) {
    if (base[i] == now[i]) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < common && base[j] != now[j]) ++j;
    if (!out.empty() && i - out.back().second < kPatchGap)
      out.back().second = j;
    else
      out.emplace_back(i, j);
    i = j;
  }
  if (now.size() > common) {
    if (!out.empty() && common - out.back().second < kPatchGap)
      out.back().second = now.size();
    else
      out.emplace_back(common, now.size());
  }
  return out;
}

}  // namespace

Status BackupFileJob::PutSignature(RemoteFs& fs, const std::string& hash, const FileSignature& sig,
                                   const std::string& base_path, const std::string* base_bytes) {
  std::string path = repo_.SignaturePath(hash);
  std::string dir = std::string(DirName(path));
  std::unique_lock<std::mutex> sig_lock(sig_mu_);
  if (sig_dirs_made_.insert(dir).second) {
    Status st = fs.Mkdir(dir, 0700);
    if (!st.ok() && !st.Is(Code::kExists)) {
      auto a = fs.Stat(dir);
      if (!a.ok()) {
        sig_dirs_made_.erase(dir);
        return st.WithContext("creating " + dir);
      }
    }
  }
  sig_lock.unlock();
  const std::string bytes = sig.Encode();
  // A signature changes where the file changed (same block size: the entries of
  // unchanged blocks are equal at equal offsets), so a changed big file's new signature
  // is mostly its old one: build it on the server from the old file. Correct as long as
  // the old file on the server still holds `base_bytes`, which were just read from it
  // (and checked by Decode), under the same lock that keeps other writers out.
  std::vector<std::pair<size_t, size_t>> patch;
  if (base_bytes && !base_path.empty() && fs.caps().copy_data) {
    patch = DiffRanges(*base_bytes, bytes);
    size_t patched = 0;
    for (const auto& [b, e] : patch) patched += e - b;
    if (patched > bytes.size() / 2) base_bytes = nullptr;
  } else {
    base_bytes = nullptr;
  }
  // Written aside and renamed without replacing: a signature file is complete or absent,
  // and an existing one (same content, same key) is kept.
  std::string tmp = NewTmpPath("sig");
  {
    SKIFF_ASSIGN_OR_RETURN(
        auto f, fs.Open(tmp, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kTruncate, 0600));
    RemoteStreamWriter w(*f, fs.caps().max_write);
    bool patched = false;
    if (base_bytes) {
      auto base = fs.Open(base_path, OpenFlags::kRead);
      if (base.ok() &&
          fs.CopyData(**base, 0, std::min(base_bytes->size(), bytes.size()), *f, 0).ok()) {
        patched = true;
        for (const auto& [b, e] : patch) {
          Status st = w.WriteAt(b, std::string_view(bytes).substr(b, e - b));
          if (!st.ok()) return st.WithContext("storing signature " + path);
        }
      }
      if (base.ok()) (*base)->Close().IgnoreError();
    }
    if (!patched) SKIFF_RETURN_IF_ERROR(w.Append(bytes));
    SKIFF_RETURN_IF_ERROR(w.Finish(0));
    SKIFF_RETURN_IF_ERROR(f->Close());
  }
  Status st = fs.Rename(tmp, path, RenameMode::kNoReplace);
  if (!st.ok()) {
    fs.Remove(tmp).IgnoreError();
    if (!fs.Stat(path).ok()) return st.WithContext("storing signature " + path);
  }
  return Status::Ok();
}

Result<std::optional<FileResult>> BackupFileJob::HashLocal(RemoteFs& fs, const std::string& local,
                                                           const LocalStat& st,
                                                           bool store_signature) {
  auto reader = local_.OpenRead(local);
  if (!reader.ok()) {
    config_.warn("cannot read " + local + ": " + reader.status().ToString());
    return std::optional<FileResult>();
  }
  ContentHasher hasher;
  bool want_sig = store_signature && st.size >= kDeltaMinSize;
  SignatureBuilder sb(ChooseBlockSize(st.size));
  FileResult r;
  while (true) {
    SKIFF_ASSIGN_OR_RETURN(std::string chunk, (*reader)->Read(ReadSizeFor(st.size)));
    if (chunk.empty()) break;
    hasher.Update(chunk);
    if (want_sig) sb.Update(chunk);
    r.size += chunk.size();
  }
  r.hash = hasher.HexDigest();
  if (want_sig && r.size >= kDeltaMinSize) {
    SKIFF_RETURN_IF_ERROR(PutSignature(fs, r.hash, sb.Finish()));
    r.has_signature = true;
  }
  return std::optional<FileResult>(r);
}

namespace {

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

}  // namespace

Result<std::optional<FileResult>> BackupFileJob::Transfer(RemoteFs& fs, const std::string& local,
                                                          const std::string& rel,
                                                          const LocalStat& st,
                                                          const ManifestEntry* prev_for_delta) {
  auto reader = local_.OpenRead(local);
  if (!reader.ok()) {
    config_.warn(reader.status().Is(Code::kNotFound)
                     ? "vanished during backup: " + local
                     : "cannot read " + local + ": " + reader.status().ToString());
    return std::optional<FileResult>();
  }
  // The delta needs the previous version's signature and file; without them, upload.
  std::optional<FileSignature> base_sig;
  std::string base_sig_bytes;  // as stored: the new signature is built from it
  std::unique_ptr<RemoteFile> base;
  if (prev_for_delta) {
    auto bytes = ReadWholeFile(fs, repo_.SignaturePath(prev_for_delta->hash), kMaxSignatureBytes);
    if (bytes.ok()) {
      auto sig = FileSignature::Decode(*bytes);
      if (sig.ok() && sig->file_size == prev_for_delta->size) {
        base_sig = std::move(*sig);
        base_sig_bytes = std::move(*bytes);
      }
    }
    if (base_sig) {
      auto b = fs.Open(config_.prev_dir + "/" + rel, OpenFlags::kRead);
      if (b.ok())
        base = std::move(*b);
      else
        base_sig.reset();
    }
  }
  const std::string dst = Dst(rel);
  const std::string tmp = WritePath(dst);
  SKIFF_ASSIGN_OR_RETURN(auto out, fs.Open(tmp, WriteFlags(), 0600));
  RemoteStreamWriter writer(*out, fs.caps().max_write, 16, /*skip_zero_chunks=*/true);
  // Signatures only for files that were big enough when scanned (a file that grows past
  // the threshold while read just gets none: no delta next time, nothing else). With a
  // matcher, the matcher builds it (reusing the base's entries of blocks copied in place).
  const bool want_sig = st.size >= kDeltaMinSize;
  SignatureBuilder sb(ChooseBlockSize(st.size));
  std::optional<RemoteDeltaSink> sink;
  std::optional<DeltaMatcher> matcher;
  if (base_sig) {
    sink.emplace(fs, *base, *out, writer);
    matcher.emplace(*base_sig, *sink, want_sig ? ChooseBlockSize(st.size) : 0);
  }
  ContentHasher hasher;
  FileResult r;
  Status failed;
  // A remote source (pull backups) runs the matcher next to the file and returns the
  // content's hash and signature with the instructions (LocalReader::MatchAtSource).
  std::optional<SourceMatch> at_source;
  if (matcher) {
    auto m = (*reader)->MatchAtSource(*base_sig, want_sig ? ChooseBlockSize(st.size) : 0, *sink);
    if (m.ok()) {
      at_source = std::move(*m);
      r.size = at_source->size;
    } else if (!m.status().Is(Code::kUnsupported)) {
      failed = m.status();
    }
  }
  while (failed.ok() && !at_source) {
    auto chunk = (*reader)->Read(ReadSizeFor(st.size));
    if (!chunk.ok()) {
      failed = chunk.status();
      break;
    }
    if (chunk->empty()) break;
    hasher.Update(*chunk);
    if (want_sig && !matcher) sb.Update(*chunk);
    r.size += chunk->size();
    failed = matcher ? matcher->Update(*chunk) : writer.Append(*chunk);
  }
  if (failed.ok() && matcher && !at_source) failed = matcher->Finish();
  if (failed.ok() && !matcher && writer.write_requests() <= 1 && writer.bytes_sent() == r.size &&
      writer.FinishSendsNothing(r.size)) {
    // The whole content went in ONE write at offset 0 of a file this run just created
    // (every small file): the attributes and the close go right behind it, without
    // waiting for its answer first, and all three are waited for together (one round
    // trip less per file). The session runs them in order, so the attributes land after
    // the write; and if the write failed, the file is shorter than the content (empty or
    // short), so it never passes for complete (doc/FORMAT.md step 2) even with the
    // source's mode and mtime. Its error is the one reported.
    failed = SetRemoteMetaAndClose(*out, st.mode, st.mtime, st.uid, st.gid);
    if (Status w = writer.Finish(r.size); !w.ok()) failed = w;
  } else {
    if (failed.ok()) failed = writer.Finish(r.size);
    if (failed.ok()) failed = SetRemoteMetaAndClose(*out, st.mode, st.mtime, st.uid, st.gid);
  }
  if (!failed.ok()) {
    writer.Finish(0).IgnoreError();
    out.reset();
    fs.Remove(tmp).IgnoreError();
    return failed.WithContext("backing up " + local);
  }
  if (base) base->Close().IgnoreError();
  auto after = (*reader)->Stat();
  if (after.ok() && (after->size != st.size || after->mtime != st.mtime || r.size != st.size))
    config_.warn("changed during backup (the snapshot holds what was read): " + local);
  r.hash = at_source ? at_source->hash : hasher.HexDigest();
  if (matcher) {
    r.delta = true;
    r.bytes_copied = sink->copied();
  }
  r.bytes_sent = writer.bytes_sent();
  if (tmp != dst) SKIFF_RETURN_IF_ERROR(PlaceFile(fs, tmp, dst));
  if (want_sig && r.size >= kDeltaMinSize && (!at_source || at_source->has_signature)) {
    SKIFF_RETURN_IF_ERROR(
        PutSignature(fs, r.hash,
                     at_source ? at_source->signature
                     : matcher ? matcher->TakeSignature()
                               : sb.Finish(),
                     base_sig ? repo_.SignaturePath(prev_for_delta->hash) : std::string(),
                     base_sig ? &base_sig_bytes : nullptr));
    r.has_signature = true;
  }
  return std::optional<FileResult>(r);
}

}  // namespace skiff::sync
