// A fixed set of worker threads running queued tasks: for the mount's short blocking
// side jobs (the LSTAT that runs alongside an OPEN, an fsetstat queued behind writes)
// instead of a new thread per job.
//
// Thread-safe. Run never blocks. Tasks must not wait for other tasks of the same pool
// (they may wait for the network). The destructor runs every queued task, then joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace skiff::fs {

class TaskPool {
 public:
  explicit TaskPool(int workers);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void Run(std::function<void()> task);

 private:
  void Loop();

  std::mutex mu_;  // guards queue_ and stop_ (a leaf lock; tasks run without it)
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace skiff::fs
