#include "fs/dir_prefetcher.h"

namespace skiff::fs {

DirPrefetcher::DirPrefetcher(int workers, size_t max_queued,
                             std::function<void(const std::string&)> fetch)
    : fetch_(std::move(fetch)), max_queued_(max_queued) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { Loop(); });
}

DirPrefetcher::~DirPrefetcher() { Stop(); }

void DirPrefetcher::Enqueue(const std::string& dir) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_ || threads_.empty() || queue_.size() >= max_queued_) return;
    if (!pending_.insert(dir).second) return;
    queue_.push_back(dir);
  }
  cv_.notify_one();
}

void DirPrefetcher::WaitIdle() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return stop_ || (queue_.empty() && busy_ == 0); });
}

void DirPrefetcher::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void DirPrefetcher::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    std::string dir = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    l.unlock();
    fetch_(dir);
    l.lock();
    --busy_;
    pending_.erase(dir);
    cv_.notify_all();
  }
}

}  // namespace skiff::fs
