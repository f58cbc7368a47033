// JobWindow: a bounded window of jobs run concurrently on worker threads, whose
// completion steps ("finishers") run on the submitting thread in submission order.
//
// The backup and restore engines use it to keep many files in flight (each file's
// remote round trips overlap with the others') while everything order-sensitive — the
// manifest, statistics, directory metadata after the directory's content — happens in
// the finishers, in exactly the order the entries were scanned.
//
// Thread-safety: Submit/Then/Drain belong to one thread (the owner). `work` runs on a
// worker thread and must only touch state that is thread-safe or owned by that job;
// `finish` runs on the owner's thread after its `work` and after every earlier finisher.
// State after failure: the first finisher that returns an error stops the window: no
// later finisher runs, and Submit/Then/Drain return that error from then on. Work
// already started still runs to completion; the destructor waits for it and drops work
// not yet started, so everything a job references must outlive the window.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "transport/status.h"

namespace skiff::sync {

class JobWindow {
 public:
  // `threads` workers (at least 1); Submit blocks while more than `max_pending` jobs
  // (started, queued, or finished but waiting for an earlier finisher) are outstanding.
  JobWindow(int threads, size_t max_pending);
  ~JobWindow();
  JobWindow(const JobWindow&) = delete;
  JobWindow& operator=(const JobWindow&) = delete;

  // Queues `work` for a worker and `finish` for the owner's thread; runs the finishers
  // that are ready. Returns the first finisher error (see the file comment).
  Status Submit(std::function<void()> work, std::function<Status()> finish);
  // As Submit, but the job is done only once `work` has called the Complete it is given
  // (exactly once, from any thread, possibly after `work` returned): a job that waits for
  // an asynchronous answer frees its worker at once, and its finisher runs after the
  // answer came. The destructor waits for every started job's Complete.
  using Complete = std::function<void()>;
  Status SubmitAsync(std::function<void(Complete)> work, std::function<Status()> finish);
  // A finisher with no work: runs once everything submitted before it has finished.
  Status Then(std::function<Status()> finish) { return Submit(nullptr, std::move(finish)); }
  // Waits for every job and runs every finisher.
  Status Drain() { return RunFinishers(0); }

 private:
  struct Item {
    std::function<void()> work;
    std::function<void(Complete)> async_work;  // instead of work (SubmitAsync)
    std::function<Status()> finish;
    bool done = false;  // guarded by mu_
  };
  void WorkerLoop();
  // Marks `item` done; wakes the owner if it waits for exactly this item.
  void MarkDone(Item& item, bool async);
  // Runs ready finishers from the front; waits while more than `keep` are outstanding.
  Status RunFinishers(size_t keep);

  const size_t max_pending_;
  std::mutex mu_;  // guards queue_, stop_, async_open_, waiting_for_, dtor_waiting_, Item::done
  std::condition_variable work_cv_;          // queue_ non-empty or stop_
  std::condition_variable done_cv_;          // some Item::done became true
  std::deque<std::shared_ptr<Item>> queue_;  // work not yet started
  bool stop_ = false;
  // The item the owner (RunFinishers) or the destructor is blocked on, else null: a
  // worker wakes the owner only for that item, not for every job that completes out of
  // order (at the end of a backup every one of ~5000 completions woke it to find the
  // front still running).
  const Item* waiting_for_ = nullptr;
  bool dtor_waiting_ = false;
  size_t async_open_ = 0;  // async jobs started whose Complete has not been called
  std::deque<std::shared_ptr<Item>> order_;  // owner thread only: submission order
  Status error_;                             // owner thread only
  std::vector<std::thread> threads_;
};

}  // namespace skiff::sync
