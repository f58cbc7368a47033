// OrderedWorkPool: runs tasks on a few worker threads. Tasks submitted with the same key
// run one at a time, in submission order; tasks with different keys run in parallel.
// `skiff serve` uses it for the requests of its server-side builds (one key per build),
// so rebuilding a large file does not hold up the session's other requests.
//
// Memory is bounded: Submit blocks while max_tasks tasks or max_bytes (as the caller
// counts them) are queued or running, which stops the submitting reader from reading
// more (backpressure to the peer).
//
// Thread-safety: Submit, Drain and Cancel are called by one thread (the owner); tasks run
// on the workers and must not call into the pool. Destruction Cancel()s and joins.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace skiff::sync {

class OrderedWorkPool {
 public:
  OrderedWorkPool(int workers, size_t max_tasks, size_t max_bytes);
  ~OrderedWorkPool();
  OrderedWorkPool(const OrderedWorkPool&) = delete;
  OrderedWorkPool& operator=(const OrderedWorkPool&) = delete;

  // Queues `task` behind the earlier tasks of `key`; blocks while the pool is full.
  void Submit(uint64_t key, size_t bytes, std::function<void()> task);
  // Waits until every submitted task has run.
  void Drain();
  // Drops the tasks that have not started and waits for the running ones.
  void Cancel();

 private:
  struct Task {
    size_t bytes;
    std::function<void()> run;
  };
  void Work();

  const size_t max_tasks_, max_bytes_;
  std::mutex mu_;                                // guards everything below
  std::condition_variable work_;                 // a key became ready, or stop_
  std::condition_variable space_;                // a task finished
  std::map<uint64_t, std::deque<Task>> queues_;  // per key; the front runs first
  std::deque<uint64_t> ready_;                   // keys with queued tasks and none running
  size_t tasks_ = 0, bytes_ = 0;                 // queued or running
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace skiff::sync
