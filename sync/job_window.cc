#include "sync/job_window.h"

#include <algorithm>

namespace skiff::sync {

JobWindow::JobWindow(int threads, size_t max_pending)
    : max_pending_(std::max<size_t>(max_pending, 1)) {
  threads = std::max(threads, 1);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { WorkerLoop(); });
}

JobWindow::~JobWindow() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
    queue_.clear();
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
  // A started async job's Complete still refers to this window.
  std::unique_lock<std::mutex> l(mu_);
  dtor_waiting_ = true;
  done_cv_.wait(l, [&] { return async_open_ == 0; });
}

void JobWindow::MarkDone(Item& item, bool async) {
  bool wake;
  {
    std::lock_guard<std::mutex> l(mu_);
    item.done = true;
    if (async) --async_open_;
    wake = waiting_for_ == &item || (dtor_waiting_ && async_open_ == 0);
  }
  if (wake) done_cv_.notify_all();
}

void JobWindow::WorkerLoop() {
  while (true) {
    std::shared_ptr<Item> item;
    {
      std::unique_lock<std::mutex> l(mu_);
      work_cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      item = std::move(queue_.front());
      queue_.pop_front();
      if (item->async_work) ++async_open_;
    }
    if (item->async_work) {
      item->async_work([this, item] { MarkDone(*item, true); });
      continue;
    }
    item->work();
    MarkDone(*item, false);
  }
}

Status JobWindow::Submit(std::function<void()> work, std::function<Status()> finish) {
  if (!error_.ok()) return error_;
  auto item = std::make_shared<Item>();
  item->finish = std::move(finish);
  if (work) {
    item->work = std::move(work);
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.push_back(item);
    }
    work_cv_.notify_one();
  } else {
    item->done = true;  // not shared with any worker yet
  }
  order_.push_back(std::move(item));
  return RunFinishers(max_pending_);
}

Status JobWindow::SubmitAsync(std::function<void(Complete)> work, std::function<Status()> finish) {
  if (!error_.ok()) return error_;
  auto item = std::make_shared<Item>();
  item->finish = std::move(finish);
  item->async_work = std::move(work);
  {
    std::lock_guard<std::mutex> l(mu_);
    queue_.push_back(item);
  }
  work_cv_.notify_one();
  order_.push_back(std::move(item));
  return RunFinishers(max_pending_);
}

Status JobWindow::RunFinishers(size_t keep) {
  if (!error_.ok()) return error_;
  while (!order_.empty()) {
    std::shared_ptr<Item> front = order_.front();
    {
      std::unique_lock<std::mutex> l(mu_);
      if (!front->done) {
        if (order_.size() <= keep) break;
        waiting_for_ = front.get();
        done_cv_.wait(l, [&] { return front->done; });
        waiting_for_ = nullptr;
      }
    }
    order_.pop_front();
    if (front->finish) {
      Status st = front->finish();
      if (!st.ok()) {
        error_ = st;
        return st;
      }
    }
  }
  return Status::Ok();
}

}  // namespace skiff::sync
