#include "fs/open_file.h"

namespace skiff::fs {

OpenFile::Backing::~Backing() {
  write_behind.reset();
  read_ahead.reset();
  file.reset();
}

OpenFile::OpenFile(uint64_t ino, uint32_t remote_flags, const MountOptions& opts)
    : ino_(ino),
      flags_(remote_flags),
      readahead_requests_(opts.readahead_requests),
      write_behind_bytes_(opts.write_behind_bytes) {}

std::shared_ptr<OpenFile::Backing> OpenFile::MakeBacking(std::shared_ptr<RemoteFs> fs,
                                                         std::unique_ptr<RemoteFile> file,
                                                         uint64_t size_hint,
                                                         WriteBehind::StripeConfig stripes,
                                                         TaskPool* pool) const {
  auto b = std::make_shared<Backing>();
  const Capabilities& caps = fs->caps();
  b->fs = std::move(fs);
  b->file = std::move(file);
  if (readable()) {
    b->read_ahead = std::make_unique<ReadAhead>(b->file.get(), caps.max_read, readahead_requests_);
    b->read_ahead->SetSizeHint(size_hint);
  }
  if (writable())
    b->write_behind = std::make_unique<WriteBehind>(
        b->file.get(), caps.max_write, write_behind_bytes_,
        may_stripe() ? std::move(stripes) : WriteBehind::StripeConfig{}, pool);
  return b;
}

std::shared_ptr<OpenFile::Backing> OpenFile::backing() const {
  std::lock_guard<std::mutex> l(mu_);
  return backing_;
}

void OpenFile::set_backing(std::shared_ptr<Backing> b) {
  std::shared_ptr<Backing> old;
  {
    std::lock_guard<std::mutex> l(mu_);
    old = std::move(backing_);
    backing_ = std::move(b);
  }
  // `old` is destroyed here, outside the lock (it may wait for in-flight requests).
}

uint32_t OpenFile::reopen_flags() const {
  return flags_ & ~(OpenFlags::kCreate | OpenFlags::kTruncate | OpenFlags::kExclusive);
}
bool OpenFile::readable() const { return flags_ & OpenFlags::kRead; }
bool OpenFile::writable() const { return flags_ & OpenFlags::kWrite; }
bool OpenFile::may_stripe() const {
  return writable() && !readable() && !(flags_ & OpenFlags::kAppend);
}

}  // namespace skiff::fs
