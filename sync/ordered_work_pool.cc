#include "sync/ordered_work_pool.h"

namespace skiff::sync {

OrderedWorkPool::OrderedWorkPool(int workers, size_t max_tasks, size_t max_bytes)
    : max_tasks_(max_tasks < 1 ? 1 : max_tasks), max_bytes_(max_bytes) {
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { Work(); });
}

OrderedWorkPool::~OrderedWorkPool() {
  Cancel();
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  work_.notify_all();
  for (auto& t : workers_) t.join();
}

void OrderedWorkPool::Submit(uint64_t key, size_t bytes, std::function<void()> task) {
  std::unique_lock<std::mutex> l(mu_);
  // A task larger than max_bytes alone is still accepted once the pool is empty.
  space_.wait(l,
              [&] { return tasks_ == 0 || (tasks_ < max_tasks_ && bytes_ + bytes <= max_bytes_); });
  ++tasks_;
  bytes_ += bytes;
  auto& q = queues_[key];
  q.push_back(Task{bytes, std::move(task)});
  if (q.size() == 1) {  // the key was idle
    ready_.push_back(key);
    work_.notify_one();
  }
}

void OrderedWorkPool::Drain() {
  std::unique_lock<std::mutex> l(mu_);
  space_.wait(l, [&] { return tasks_ == 0; });
}

void OrderedWorkPool::Cancel() {
  std::unique_lock<std::mutex> l(mu_);
  // Keep only each running front task (a key in ready_ has not started).
  for (uint64_t key : ready_) {
    auto it = queues_.find(key);
    for (auto& t : it->second) {
      --tasks_;
      bytes_ -= t.bytes;
    }
    queues_.erase(it);
  }
  ready_.clear();
  for (auto& [key, q] : queues_) {
    while (q.size() > 1) {
      --tasks_;
      bytes_ -= q.back().bytes;
      q.pop_back();
    }
  }
  space_.wait(l, [&] { return tasks_ == 0; });
}

void OrderedWorkPool::Work() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    work_.wait(l, [&] { return stop_ || !ready_.empty(); });
    if (ready_.empty()) return;  // stop_
    uint64_t key = ready_.front();
    ready_.pop_front();
    auto it = queues_.find(key);
    std::function<void()> run = std::move(it->second.front().run);
    l.unlock();
    run();
    run = nullptr;  // whatever the task holds goes before the pool counts it done
    l.lock();
    it = queues_.find(key);
    const size_t bytes = it->second.front().bytes;
    it->second.pop_front();
    --tasks_;
    bytes_ -= bytes;
    if (it->second.empty()) {
      queues_.erase(it);
    } else {
      ready_.push_back(key);
      work_.notify_one();
    }
    space_.notify_all();
  }
}

}  // namespace skiff::sync
