#include "tests/fs/faulty_remote_fs.h"

#include <unistd.h>

namespace skiff::testing {

Status FaultyRemoteFs::Gate() {
  ++calls_;
  if (lost_) return Status::ConnectionLost("injected: connection lost");
  return Status::Ok();
}

class FaultyRemoteFs::File : public RemoteFile {
 public:
  File(FaultyRemoteFs* fs, std::unique_ptr<RemoteFile> inner) : fs_(fs), inner_(std::move(inner)) {}
  Result<std::string> Read(uint64_t offset, uint32_t len) override {
    SKIFF_RETURN_IF_ERROR(fs_->Gate());
    fs_->CountRead(len);
    return inner_->Read(offset, len);
  }
  Status Write(uint64_t offset, std::string_view data) override {
    SKIFF_RETURN_IF_ERROR(fs_->Gate());
    fs_->CountWrite();
    Status f = fs_->fail_writes();
    if (!f.ok()) return f;
    return inner_->Write(offset, data);
  }
  void ReadAsync(uint64_t offset, uint32_t len, ReadCallback cb) override { cb(Read(offset, len)); }
  void WriteAsync(uint64_t offset, std::string data, DoneCallback cb) override {
    cb(Write(offset, data));
  }
  Result<FileAttr> Stat() override {
    SKIFF_RETURN_IF_ERROR(fs_->Gate());
    return inner_->Stat();
  }
  Status SetStat(const FileAttr& attr) override {
    SKIFF_RETURN_IF_ERROR(fs_->Gate());
    fs_->NoteFileSetStatThread();
    return inner_->SetStat(attr);
  }
  // Answered at once, on the caller's thread (as MemRemoteFs would), but counted.
  void SetStatAsync(const FileAttr& attr, DoneCallback cb) override {
    ++fs_->setstat_async_;
    cb(SetStat(attr));
  }
  void CloseAsync(DoneCallback cb) override {
    ++fs_->close_async_;
    cb(Close());
  }
  Status Sync() override {
    SKIFF_RETURN_IF_ERROR(fs_->Gate());
    fs_->CountSync();
    SKIFF_RETURN_IF_ERROR(fs_->fail_syncs());
    return inner_->Sync();
  }
  Status Close() override {
    SKIFF_RETURN_IF_ERROR(fs_->Gate());
    return inner_->Close();
  }

 private:
  FaultyRemoteFs* fs_;
  std::unique_ptr<RemoteFile> inner_;
};

Result<FileAttr> FaultyRemoteFs::Stat(const std::string& p) {
  SKIFF_RETURN_IF_ERROR(Gate());
  ++stats_;
  return inner_->Stat(p);
}
Result<FileAttr> FaultyRemoteFs::Lstat(const std::string& p) {
  SKIFF_RETURN_IF_ERROR(Gate());
  ++stats_;
  return inner_->Lstat(p);
}
void FaultyRemoteFs::NoteFileSetStatThread() {
  std::lock_guard<std::mutex> l(mu_);
  setstat_threads_.insert(gettid());
}

Status FaultyRemoteFs::SetStat(const std::string& p, const FileAttr& a) {
  SKIFF_RETURN_IF_ERROR(Gate());
  return inner_->SetStat(p, a);
}
Status FaultyRemoteFs::LSetStat(const std::string& p, const FileAttr& a) {
  SKIFF_RETURN_IF_ERROR(Gate());
  return inner_->LSetStat(p, a);
}
Result<std::vector<DirEntry>> FaultyRemoteFs::ReadDir(const std::string& p) {
  SKIFF_RETURN_IF_ERROR(Gate());
  return inner_->ReadDir(p);
}
Result<std::unique_ptr<RemoteFile>> FaultyRemoteFs::Open(const std::string& p, uint32_t flags,
                                                         uint32_t mode) {
  SKIFF_RETURN_IF_ERROR(Gate());
  SKIFF_ASSIGN_OR_RETURN(std::unique_ptr<RemoteFile> f, inner_->Open(p, flags, mode));
  return std::unique_ptr<RemoteFile>(new File(this, std::move(f)));
}
Status FaultyRemoteFs::Mkdir(const std::string& p, uint32_t mode) {
  SKIFF_RETURN_IF_ERROR(Gate());
  return inner_->Mkdir(p, mode);
}
Status FaultyRemoteFs::Rmdir(const std::string& p) {
  SKIFF_RETURN_IF_ERROR(Gate());
  return inner_->Rmdir(p);
}
Status FaultyRemoteFs::Remove(const std::string& p) {
  SKIFF_RETURN_IF_ERROR(Gate());
  return inner_->Remove(p);
}
Status FaultyRemoteFs::Rename(const std::string& f, const std::string& t, RenameMode m) {
  SKIFF_RETURN_IF_ERROR(Gate());
  return inner_->Rename(f, t, m);
}
Status FaultyRemoteFs::Symlink(const std::string& t, const std::string& l) {
  SKIFF_RETURN_IF_ERROR(Gate());
  return inner_->Symlink(t, l);
}
Result<std::string> FaultyRemoteFs::Readlink(const std::string& p) {
  SKIFF_RETURN_IF_ERROR(Gate());
  return inner_->Readlink(p);
}
Status FaultyRemoteFs::Hardlink(const std::string& e, const std::string& n) {
  SKIFF_RETURN_IF_ERROR(Gate());
  return inner_->Hardlink(e, n);
}
Result<FsStats> FaultyRemoteFs::StatVfs(const std::string& p) {
  SKIFF_RETURN_IF_ERROR(Gate());
  return inner_->StatVfs(p);
}
Result<std::string> FaultyRemoteFs::RealPath(const std::string& p) {
  SKIFF_RETURN_IF_ERROR(Gate());
  return inner_->RealPath(p);
}
Status FaultyRemoteFs::CopyData(RemoteFile& src, uint64_t so, uint64_t len, RemoteFile& dst,
                                uint64_t doff) {
  return Status::Unsupported("CopyData is not used by fs/");
}

}  // namespace skiff::testing
