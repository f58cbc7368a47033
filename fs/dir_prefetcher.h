// Background listing of directories the user is likely to open next: when a directory is
// opened, its subdirectories' listings are fetched in parallel, so that a tree walk
// (`find`, `ls -R`, `du`) waits for about one round trip per level instead of several
// per directory. Results go into the DirCache only if no namespace change of ours
// happened meanwhile (DirCache::PutIfUnchanged), so a prefetch never hides our own change.
//
// Thread-safe. Owns its worker threads; Stop() (or the destructor) drops the queue and
// joins them, waiting for fetches in progress. `fetch` runs on the workers and must not
// call back into this object; its failures are the caller's to ignore.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace skiff::fs {

class DirPrefetcher {
 public:
  // `workers` threads (0: Enqueue does nothing); at most `max_queued` paths wait.
  DirPrefetcher(int workers, size_t max_queued, std::function<void(const std::string&)> fetch);
  ~DirPrefetcher();
  DirPrefetcher(const DirPrefetcher&) = delete;
  DirPrefetcher& operator=(const DirPrefetcher&) = delete;

  // Queues `dir` unless it is already queued or being fetched, or the queue is full.
  void Enqueue(const std::string& dir);
  // For a caller about to list `dir` itself: if a worker is fetching it, waits until that
  // fetch is done and returns true (the listing is then in the cache, unless the fetch
  // failed or its result was refused); if it is only queued, drops it from the queue
  // and returns false, as when it is unknown. Joining a fetch already under way is never
  // slower than starting a second listing, and spares the server one.
  bool TakeOver(const std::string& dir);
  // Waits until nothing is queued or being fetched (tests).
  void WaitIdle();
  void Stop();

 private:
  void Loop();

  std::function<void(const std::string&)> fetch_;
  size_t max_queued_;
  std::mutex mu_;                    // guards queue_, pending_, fetching_, busy_, stop_
  std::condition_variable cv_;       // work queued, or stopping (workers wait on it)
  std::condition_variable done_cv_;  // a fetch finished, or stopping (WaitIdle, TakeOver)
  std::deque<std::string> queue_;
  std::set<std::string> pending_;   // queued or being fetched
  std::set<std::string> fetching_;  // being fetched (a subset of pending_)
  int busy_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace skiff::fs
