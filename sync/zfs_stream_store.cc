#include "sync/zfs_stream_store.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>

#include "sync/content_hash.h"
#include "sync/remote_stream.h"

namespace skiff::sync {
namespace {

// Writes in flight per upload. 16 x 32 KiB..256 KiB keeps a LAN link full without
// holding much memory in the SFTP layer (the send buffer is in front of it).
constexpr int kWriteDepth = 32;
constexpr int kReadDepth = 32;
constexpr uint64_t kIndexLimit = 64ull << 20;

int64_t NowUnix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string RandomSuffix() {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ ++counter;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%d-%016llx", static_cast<int>(::getpid()),
                static_cast<unsigned long long>(v));
  return buf;
}

// Writes `data` to `path` via a temporary name and renames it into place.
Status WriteFileAtomically(RemoteFs& fs, const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp-" + RandomSuffix();
  {
    SKIFF_ASSIGN_OR_RETURN(
        auto f, fs.Open(tmp, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kExclusive, 0644));
    Status st = f->Write(0, data);
    if (st.ok()) {
      Status sync = f->Sync();
      if (!sync.ok() && !sync.Is(Code::kUnsupported)) st = sync;
    }
    Status closed = f->Close();
    if (st.ok()) st = closed;
    if (!st.ok()) {
      fs.Remove(tmp).IgnoreError();
      return st.WithContext("writing " + tmp);
    }
  }
  Status st = fs.Rename(tmp, path, RenameMode::kReplace);
  if (!st.ok()) {
    fs.Remove(tmp).IgnoreError();
    return st.WithContext("renaming " + tmp + " to " + path);
  }
  return Status::Ok();
}

class StoreUpload : public ZfsStreamUpload {
 public:
  StoreUpload(ZfsStreamStore& store, ZfsStreamHeader h, std::string tmp,
              std::unique_ptr<RemoteFile> file)
      : store_(store),
        header_(std::move(h)),
        tmp_(std::move(tmp)),
        file_(std::move(file)),
        writer_(std::make_unique<RemoteStreamWriter>(*file_, store.fs().caps().max_write,
                                                     kWriteDepth)) {}

  ~StoreUpload() override {
    if (committed_) return;
    writer_.reset();  // waits for writes in flight
    if (file_) file_->Close().IgnoreError();
    store_.fs().Remove(tmp_).IgnoreError();
  }

  Status Write(std::string_view data) override {
    hasher_.Update(data);
    size_ += data.size();
    return writer_->Append(data);
  }

  Result<Stored> Commit() override {
    Status st = writer_->Finish(size_);
    writer_.reset();
    if (st.ok()) {
      Status sync = file_->Sync();
      if (!sync.ok() && !sync.Is(Code::kUnsupported)) st = sync;
    }
    Status closed = file_->Close();
    file_.reset();
    if (st.ok()) st = closed;
    SKIFF_RETURN_IF_ERROR(st.WithContext("storing " + tmp_));
    SKIFF_ASSIGN_OR_RETURN(FileAttr attr, store_.fs().Stat(tmp_));
    if (attr.size != size_)
      return Status::Corrupt("stored stream " + tmp_ + " has " + std::to_string(attr.size) +
                             " bytes, " + std::to_string(size_) + " were sent");
    if (store_.verify_uploads()) {
      SKIFF_RETURN_IF_ERROR(store_
                                .ReadChecked(tmp_, size_, hasher_.HexDigest(),
                                             [](std::string_view) { return Status::Ok(); })
                                .WithContext("reading back the uploaded stream"));
    }
    ZfsStreamEntry e;
    e.file = ZfsStreamFileName(header_.guid, header_.parent_guid);
    e.snapshot = header_.snapshot;
    e.guid = header_.guid;
    e.parent_guid = header_.parent_guid;
    e.size = size_;
    e.xxh128 = hasher_.HexDigest();
    e.created = NowUnix();
    std::string final_path = store_.Path(e.file);
    // A file of the same name can only be the leftover of an earlier attempt that died
    // between this rename and the index update: it is not in the index, replace it.
    SKIFF_RETURN_IF_ERROR(store_.fs()
                              .Rename(tmp_, final_path, RenameMode::kReplace)
                              .WithContext("renaming " + tmp_ + " to " + final_path));
    committed_ = true;
    SKIFF_RETURN_IF_ERROR(store_.AddCommitted(e));
    return Stored{e.size, e.xxh128};
  }

 private:
  ZfsStreamStore& store_;
  ZfsStreamHeader header_;
  std::string tmp_;
  std::unique_ptr<RemoteFile> file_;
  std::unique_ptr<RemoteStreamWriter> writer_;
  ContentHasher hasher_;
  uint64_t size_ = 0;
  bool committed_ = false;
};

}  // namespace

Result<std::unique_ptr<ZfsStreamStore>> ZfsStreamStore::Open(RemoteFs& fs, std::string root,
                                                             bool write, std::string description) {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  if (description.empty()) description = root.empty() ? "." : root;
  std::unique_ptr<ZfsStreamStore> s(new ZfsStreamStore(fs, root, write, description));
  if (write) {
    // mkdir -p root: each missing component in turn.
    for (size_t pos = 1; !root.empty() && pos <= root.size(); ++pos) {
      if (pos < root.size() && root[pos] != '/') continue;
      std::string dir = root.substr(0, pos);
      if (fs.Stat(dir).ok()) continue;
      Status st = fs.Mkdir(dir, 0755);
      if (!st.ok() && !fs.Stat(dir).ok()) return st.WithContext("creating " + dir);
    }
    SKIFF_RETURN_IF_ERROR(s->TakeLock());
    Status st = fs.Mkdir(s->Path("streams"), 0755);
    if (!st.ok()) {
      auto a = fs.Stat(s->Path("streams"));
      if (!a.ok() || !a->IsDir()) return st.WithContext("creating " + s->Path("streams"));
    }
  }
  SKIFF_RETURN_IF_ERROR(s->Load());
  if (write) SKIFF_RETURN_IF_ERROR(s->RemoveStaleTemps());
  return s;
}

ZfsStreamStore::~ZfsStreamStore() {
  if (locked_) fs_.Remove(Path(kLockName)).IgnoreError();
}

Status ZfsStreamStore::TakeLock() {
  std::string path = Path(kLockName);
  auto f = fs_.Open(path, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kExclusive, 0644);
  if (!f.ok()) {
    if (f.status().Is(Code::kExists) || f.status().Is(Code::kPermission)) {
      auto held = fs_.Stat(path);
      if (held.ok()) {
        std::string who;
        if (auto text = ReadWholeFile(fs_, path, 4096); text.ok()) who = *text;
        while (!who.empty() && who.back() == '\n') who.pop_back();
        return Status(Code::kBusy, "zfs stream store " + description_ +
                                       " is locked by another writer (" + who +
                                       "); if no skiff zfs is running there, remove " + path);
      }
    }
    return f.status().WithContext("creating lock " + path);
  }
  char host[256] = "?";
  ::gethostname(host, sizeof(host) - 1);
  std::string text = std::string("host ") + host + " pid " + std::to_string(::getpid()) +
                     " since " + std::to_string(NowUnix()) + "\n";
  Status st = (*f)->Write(0, text);
  Status closed = (*f)->Close();
  locked_ = true;
  if (!st.ok()) return st.WithContext("writing lock " + path);
  return closed;
}

Status ZfsStreamStore::Load() {
  std::string path = Path(kIndexName);
  auto text = ReadWholeFile(fs_, path, kIndexLimit);
  if (!text.ok()) {
    if (!text.status().Is(Code::kNotFound)) return text.status().WithContext("reading " + path);
    if (!write_) {
      auto st = fs_.Stat(root_.empty() ? "." : root_);
      if (!st.ok()) return st.status().WithContext("zfs stream store " + description_);
      return Status::NotFound("no zfs streams stored in " + description_ + " (no " + kIndexName +
                              ")");
    }
    index_ = ZfsStreamIndex();
    return Status::Ok();
  }
  SKIFF_ASSIGN_OR_RETURN(index_, ZfsStreamIndex::Parse(*text));
  return Status::Ok();
}

Status ZfsStreamStore::RemoveStaleTemps() {
  SKIFF_ASSIGN_OR_RETURN(auto entries, fs_.ReadDir(Path("streams")));
  for (const auto& d : entries) {
    if (d.name.rfind(".tmp-", 0) == 0) SKIFF_RETURN_IF_ERROR(fs_.Remove(Path("streams/" + d.name)));
  }
  return Status::Ok();
}

Status ZfsStreamStore::SaveIndex(const ZfsStreamIndex& index) {
  if (!locked_) return Status::Invalid("zfs stream store opened read-only");
  SKIFF_RETURN_IF_ERROR(WriteFileAtomically(fs_, Path(kIndexName), index.Serialize()));
  index_ = index;
  return Status::Ok();
}

Status ZfsStreamStore::AddCommitted(ZfsStreamEntry e) {
  ZfsStreamIndex next = index_;
  SKIFF_RETURN_IF_ERROR(next.Add(std::move(e)));
  return SaveIndex(next);
}

Result<std::vector<ZfsSnapshot>> ZfsStreamStore::Snapshots() {
  std::vector<ZfsSnapshot> out;
  for (const auto& e : index_.streams()) out.push_back({e.snapshot, e.guid});
  return out;
}

Result<std::unique_ptr<ZfsStreamUpload>> ZfsStreamStore::Begin(const ZfsStreamHeader& h) {
  if (!locked_) return Status::Invalid("zfs stream store opened read-only");
  if (!IsValidZfsSnapshotName(h.snapshot) || h.guid == 0)
    return Status::Invalid("bad stream header for snapshot '" + h.snapshot + "'");
  if (index_.FindGuid(h.guid))
    return Status::Exists("snapshot " + h.snapshot + " (guid " + std::to_string(h.guid) +
                          ") is already stored in " + description_);
  if (h.parent_guid != 0 && !index_.FindGuid(h.parent_guid))
    return Status::Invalid("the origin of incremental " + h.snapshot + " is not stored in " +
                           description_);
  if (index_.dataset().empty() && !h.dataset.empty()) {
    ZfsStreamIndex next = index_;
    next.set_dataset(h.dataset);
    SKIFF_RETURN_IF_ERROR(SaveIndex(next));
  }
  std::string tmp = Path("streams/.tmp-" + RandomSuffix());
  SKIFF_ASSIGN_OR_RETURN(
      auto f, fs_.Open(tmp, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kExclusive, 0644));
  return std::unique_ptr<ZfsStreamUpload>(new StoreUpload(*this, h, tmp, std::move(f)));
}

Status ZfsStreamStore::ReadStream(const ZfsStreamEntry& e,
                                  const std::function<Status(std::string_view)>& sink,
                                  const std::function<void(uint64_t)>& progress) {
  return ReadChecked(Path(e.file), e.size, e.xxh128, sink, progress);
}

Status ZfsStreamStore::ReadChecked(const std::string& path, uint64_t size,
                                   const std::string& xxh128,
                                   const std::function<Status(std::string_view)>& sink,
                                   const std::function<void(uint64_t)>& progress) {
  SKIFF_ASSIGN_OR_RETURN(auto f, fs_.Open(path, OpenFlags::kRead));
  ContentHasher hasher;
  uint64_t total = 0;
  {
    RemoteStreamReader reader(*f, fs_.caps().max_read, kReadDepth);
    for (;;) {
      SKIFF_ASSIGN_OR_RETURN(std::string chunk, reader.Next());
      if (chunk.empty()) break;
      total += chunk.size();
      if (total > size)
        return Status::Corrupt("stream file " + path + " is longer than the " +
                               std::to_string(size) + " bytes the index records");
      hasher.Update(chunk);
      SKIFF_RETURN_IF_ERROR(sink(chunk));
      if (progress) progress(total);
    }
  }
  f->Close().IgnoreError();
  if (total != size)
    return Status::Corrupt("stream file " + path + " has " + std::to_string(total) +
                           " bytes, the index records " + std::to_string(size));
  std::string digest = hasher.HexDigest();
  if (digest != xxh128)
    return Status::Corrupt("stream file " + path + " is damaged: xxh128 " + digest +
                           ", the index records " + xxh128);
  return Status::Ok();
}

Status ZfsStreamStore::Verify(const ZfsStreamEntry& e,
                              const std::function<void(uint64_t)>& progress) {
  return ReadStream(
      e, [](std::string_view) { return Status::Ok(); }, progress);
}

Status ZfsStreamStore::RemoveFiles(const std::vector<ZfsStreamEntry>& entries) {
  for (const auto& e : entries) {
    Status st = fs_.Remove(Path(e.file));
    if (!st.ok() && !st.Is(Code::kNotFound)) return st.WithContext("removing " + Path(e.file));
  }
  return Status::Ok();
}

}  // namespace skiff::sync
