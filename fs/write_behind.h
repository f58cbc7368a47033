// Pipelined write-behind for one open file: Write hands the data to
// RemoteFile::WriteAsync and returns at once, so many writes are in flight; it blocks
// only while more than `max_bytes` are unacknowledged. The first failure is sticky:
// every later Write, Drain and the final Drain at close report it, so an error is never
// silently dropped (it surfaces at the latest on flush/fsync/close).
//
// Thread-safe. The RemoteFile must outlive this object; the destructor waits for writes
// still in flight (their errors are then only logged by the owner via Drain).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "transport/remote_fs.h"

namespace skiff::fs {

class WriteBehind {
 public:
  WriteBehind(RemoteFile* file, uint32_t max_write, uint64_t max_bytes);
  ~WriteBehind();
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // Queues `data` at `offset`. Fails with the sticky error of an earlier write.
  Status Write(uint64_t offset, std::string_view data);
  // Sends fsetstat(`attr`) after every write queued so far, without waiting for it: it
  // runs on a short-lived thread and counts as in flight, so Drain (flush/fsync/close)
  // waits for it and reports its failure (sticky, like a write's). A Write queued after
  // it waits until it is answered, so it cannot overtake (an mtime set by utimens is
  // then changed by the later write, as POSIX wants).
  // Returns false (and sends nothing) when no later flush is sure to report a failure:
  // after a Flush with no Write since (that flush may have been the last close), after
  // Seal, or once a write has failed. The caller then sets the attributes itself.
  bool SetStatBehind(const FileAttr& attr);
  // Waits until every queued write is acknowledged; returns the sticky error, if any.
  Status Drain();
  // Drain for a flush (close(2)): from now until the next Write, SetStatBehind refuses.
  Status Flush();
  // The handle is being released: SetStatBehind refuses from now on.
  void Seal();
  // Whether writes are queued but not yet acknowledged.
  bool pending() const;
  // Whether any write was ever queued (the file's content changed through us).
  bool dirty() const;

 private:
  struct State {
    mutable std::mutex mu;  // guards everything in State
    std::condition_variable cv;
    uint64_t in_flight_bytes = 0;
    int in_flight = 0;
    Status error;  // first failure, sticky
    bool dirty = false;
    int setstats = 0;      // SetStatBehind calls not yet answered
    bool flushed = false;  // Flush since the last Write
    bool sealed = false;   // Seal called
  };
  RemoteFile* file_;
  const uint32_t max_write_;
  const uint64_t max_bytes_;
  std::shared_ptr<State> state_;
};

}  // namespace skiff::fs
