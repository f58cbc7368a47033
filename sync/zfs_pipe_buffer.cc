#include "sync/zfs_pipe_buffer.h"

#include <algorithm>

namespace skiff::sync {

ZfsPipeBuffer::ZfsPipeBuffer(size_t capacity) : capacity_(capacity) {}

bool ZfsPipeBuffer::Push(std::string chunk) {
  std::unique_lock<std::mutex> l(mu_);
  not_full_.wait(
      l, [&] { return reader_closed_ || bytes_ == 0 || bytes_ + chunk.size() <= capacity_; });
  if (reader_closed_) return false;
  bytes_ += chunk.size();
  high_water_ = std::max(high_water_, bytes_);
  chunks_.push_back(std::move(chunk));
  not_empty_.notify_one();
  return true;
}

void ZfsPipeBuffer::CloseWriter() {
  std::lock_guard<std::mutex> l(mu_);
  writer_closed_ = true;
  not_empty_.notify_all();
}

std::optional<std::string> ZfsPipeBuffer::Pop() {
  std::unique_lock<std::mutex> l(mu_);
  not_empty_.wait(l, [&] { return !chunks_.empty() || writer_closed_; });
  if (chunks_.empty()) return std::nullopt;
  std::string c = std::move(chunks_.front());
  chunks_.pop_front();
  bytes_ -= c.size();
  not_full_.notify_one();
  return c;
}

void ZfsPipeBuffer::CloseReader() {
  std::lock_guard<std::mutex> l(mu_);
  reader_closed_ = true;
  chunks_.clear();
  bytes_ = 0;
  not_full_.notify_all();
}

size_t ZfsPipeBuffer::high_water() const {
  std::lock_guard<std::mutex> l(mu_);
  return high_water_;
}

}  // namespace skiff::sync
