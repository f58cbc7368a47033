// DirGate: a one-shot gate that opens once a directory exists on the server (see
// BackupEngine). Thread-safe: Open once from any thread; Wait from any thread.
#pragma once

#include <condition_variable>
#include <mutex>

#include "transport/status.h"

namespace skiff::sync {

// Opens once a directory exists on the server; jobs for entries below it wait on it.
// Jobs are started in submission order and a directory's job is submitted before any
// job below it, so a waiting job only ever waits for one already running.
class DirGate {
 public:
  void Open(Status st) {
    {
      std::lock_guard<std::mutex> l(mu_);
      status_ = std::move(st);
      done_ = true;
    }
    cv_.notify_all();
  }
  Status Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return done_; });
    return status_;
  }

 private:
  std::mutex mu_;  // guards done_ and status_
  std::condition_variable cv_;
  bool done_ = false;
  Status status_;
};

}  // namespace skiff::sync
