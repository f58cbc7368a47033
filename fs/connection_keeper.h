// Holds the mount's SFTP connection(s) and replaces lost ones.
//
// With max_conns=N there are N slots; Get() hands them out round-robin (an open file
// keeps the RemoteFs it was opened on). When an operation sees kConnectionLost it calls
// ReportLost; the next Get() for that slot reconnects through the Connector, if one was
// given (-o reconnect), with exponential backoff between failed attempts. While a slot
// is down and not yet due for another attempt, Get() returns another healthy slot or
// fails at once with kConnectionLost: an operation never waits out a backoff.
//
// Thread-safe. Connecting happens with no lock held (one thread connects a slot; others
// wanting that slot wait for its outcome, bounded by the connector's own timeout).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "transport/remote_fs.h"

namespace skiff::fs {

class ConnectionKeeper {
 public:
  using Connector = std::function<Result<std::shared_ptr<RemoteFs>>()>;
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `initial` must not be empty; `reconnect` may be null (no reconnecting).
  ConnectionKeeper(std::vector<std::shared_ptr<RemoteFs>> initial, Connector reconnect,
                   Clock clock);

  Result<std::shared_ptr<RemoteFs>> Get();
  // `fs` failed with kConnectionLost. Idempotent; ignores an fs already replaced.
  void ReportLost(const std::shared_ptr<RemoteFs>& fs);
  // Whether `fs` is known to be lost (its handles must not be used any more).
  bool IsLost(const std::shared_ptr<RemoteFs>& fs) const;
  bool can_reconnect() const { return static_cast<bool>(connector_); }
  uint64_t reconnects() const;
  // Capabilities of the first connection (all connections go to the same server).
  const Capabilities& caps() const { return caps_; }

 private:
  struct Slot {
    std::shared_ptr<RemoteFs> fs;  // null while lost
    bool connecting = false;
    std::chrono::steady_clock::time_point next_attempt{};
    std::chrono::milliseconds backoff{0};
  };

  Connector connector_;
  Clock clock_;
  Capabilities caps_;
  mutable std::mutex mu_;  // guards everything below; a leaf lock, never held while connecting
  std::condition_variable cv_;
  std::vector<Slot> slots_;
  std::vector<std::weak_ptr<RemoteFs>> lost_;  // lost connections still referenced by open files
  size_t next_ = 0;
  uint64_t reconnects_ = 0;
};

}  // namespace skiff::fs
