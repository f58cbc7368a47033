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

bool DirPrefetcher::TakeOver(const std::string& dir) {
  std::unique_lock<std::mutex> l(mu_);
  if (!pending_.count(dir)) return false;
  if (!fetching_.count(dir)) {
    for (auto it = queue_.begin(); it != queue_.end(); ++it) {
      if (*it == dir) {
        queue_.erase(it);
        break;
      }
    }
    pending_.erase(dir);
    return false;
  }
  done_cv_.wait(l, [&] { return stop_ || !fetching_.count(dir); });
  return !stop_;
}

void DirPrefetcher::WaitIdle() {
  std::unique_lock<std::mutex> l(mu_);
  done_cv_.wait(l, [&] { return stop_ || (queue_.empty() && busy_ == 0); });
}

void DirPrefetcher::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    stop_ = true;
    queue_.clear();
  }
  cv_.notify_all();
  done_cv_.notify_all();
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
    fetching_.insert(dir);
    l.unlock();
    fetch_(dir);
    l.lock();
    --busy_;
    fetching_.erase(dir);
    pending_.erase(dir);
    done_cv_.notify_all();
  }
}

}  // namespace skiff::fs
