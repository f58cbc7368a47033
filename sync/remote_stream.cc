#include "sync/remote_stream.h"

#include <algorithm>

namespace skiff::sync {

struct RemoteStreamReader::Slot {
  uint32_t len = 0;  // bytes asked for: a shorter answer means EOF
  std::mutex mu;     // guards done and result
  std::condition_variable cv;
  bool done = false;
  Result<std::string> result = Status::Io("pending");
};

RemoteStreamReader::RemoteStreamReader(RemoteFile& file, uint32_t chunk, int depth)
    : file_(file), chunk_(chunk), depth_(std::max(depth, 1)) {}

RemoteStreamReader::~RemoteStreamReader() {
  for (auto& s : inflight_) {
    std::unique_lock<std::mutex> l(s->mu);
    s->cv.wait(l, [&] { return s->done; });
  }
}

void RemoteStreamReader::Issue() {
  while (!eof_seen_ && static_cast<int>(inflight_.size()) < depth_) {
    // Past the expected size only one read at a time (it shows EOF or more data).
    if (next_offset_ > size_hint_ && !inflight_.empty()) break;
    if (exact_ && next_offset_ >= size_hint_) break;
    auto slot = std::make_shared<Slot>();
    // Up to the expected end plus one byte, so that the short answer shows EOF: a small
    // file's read then counts its own size, not a whole chunk, against the SFTP
    // client's in-flight byte window (5000 small files x 255 KiB kept the window full).
    slot->len = chunk_;
    if (next_offset_ <= size_hint_ && size_hint_ - next_offset_ < chunk_) {
      slot->len = static_cast<uint32_t>(size_hint_ - next_offset_ + (exact_ ? 0 : 1));
    }
    inflight_.push_back(slot);
    uint64_t off = next_offset_;
    next_offset_ += slot->len;
    file_.ReadAsync(off, slot->len, [slot](Result<std::string> r) {
      std::lock_guard<std::mutex> l(slot->mu);
      slot->result = std::move(r);
      slot->done = true;
      slot->cv.notify_all();
    });
  }
}

Result<std::string> RemoteStreamReader::Next() {
  while (true) {
    Issue();
    if (inflight_.empty()) return std::string();
    auto slot = inflight_.front();
    {
      std::unique_lock<std::mutex> l(slot->mu);
      slot->cv.wait(l, [&] { return slot->done; });
    }
    inflight_.pop_front();
    if (!slot->result.ok()) return slot->result.status();
    std::string data = std::move(slot->result).value();
    if (data.size() < slot->len) {
      // Short read: EOF. Later slots were issued beyond it; drain them.
      eof_seen_ = true;
      for (auto& s : inflight_) {
        std::unique_lock<std::mutex> l(s->mu);
        s->cv.wait(l, [&] { return s->done; });
      }
      inflight_.clear();
      if (data.empty()) return std::string();
    }
    consumed_ += data.size();
    return data;
  }
}

RemoteStreamWriter::RemoteStreamWriter(RemoteFile& file, uint32_t chunk, int depth,
                                       bool skip_zero_chunks)
    : file_(file),
      chunk_(chunk),
      depth_(std::max(depth, 1)),
      skip_zero_(skip_zero_chunks),
      shared_(std::make_shared<Shared>()) {}

RemoteStreamWriter::~RemoteStreamWriter() { WaitBelow(1).IgnoreError(); }

Status RemoteStreamWriter::WaitBelow(int n) {
  std::unique_lock<std::mutex> l(shared_->mu);
  shared_->cv.wait(l, [&] { return shared_->inflight < n; });
  return shared_->error;
}

Status RemoteStreamWriter::WriteAt(uint64_t offset, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    size_t n = std::min<size_t>(chunk_, data.size() - done);
    std::string_view piece = data.substr(done, n);
    uint64_t off = offset + done;
    done += n;
    if (skip_zero_ && piece.find_first_not_of('\0') == std::string_view::npos) continue;
    SKIFF_RETURN_IF_ERROR(WaitBelow(depth_));
    {
      std::lock_guard<std::mutex> l(shared_->mu);
      ++shared_->inflight;
    }
    sent_ += n;
    ++write_requests_;
    end_sent_ = std::max(end_sent_, off + n);
    auto shared = shared_;
    // From the caller's bytes: copied into the request before this returns (no copy of
    // every byte into a string of its own first).
    file_.WriteAsyncFrom(off, piece, [shared](Status st) {
      std::lock_guard<std::mutex> l(shared->mu);
      --shared->inflight;
      if (!st.ok() && shared->error.ok()) shared->error = st;
      shared->cv.notify_all();
    });
  }
  position_ = std::max(position_, offset + data.size());
  return Status::Ok();
}

Status RemoteStreamWriter::Append(std::string_view data) { return WriteAt(position_, data); }

Status RemoteStreamWriter::Finish(uint64_t final_size) {
  SKIFF_RETURN_IF_ERROR(WaitBelow(1));
  if (skip_zero_ && end_sent_ != final_size) {
    FileAttr a;
    a.valid = FileAttr::kSize;
    a.size = final_size;
    SKIFF_RETURN_IF_ERROR(file_.SetStat(a));
  }
  return Status::Ok();
}

Result<std::string> ReadWholeFile(RemoteFs& fs, const std::string& path, uint64_t limit) {
  SKIFF_ASSIGN_OR_RETURN(auto f, fs.Open(path, OpenFlags::kRead));
  std::string out;
  while (true) {
    SKIFF_ASSIGN_OR_RETURN(std::string piece, f->Read(out.size(), fs.caps().max_read));
    if (piece.empty()) break;
    out += piece;
    if (out.size() > limit)
      return Status::Corrupt(path + " is larger than the " + std::to_string(limit) +
                             " bytes expected");
  }
  f->Close().IgnoreError();
  return out;
}

}  // namespace skiff::sync
