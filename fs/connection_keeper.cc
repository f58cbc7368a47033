#include "fs/connection_keeper.h"

#include <algorithm>
#include <string>

namespace skiff::fs {

// Backoff between failed reconnect attempts: the first attempt is immediate, then
// 0.5 s doubling to 16 s, so a server that is back within seconds is found quickly and a
// long outage costs one connection attempt per 16 s.
constexpr std::chrono::milliseconds kFirstBackoff{500};
constexpr std::chrono::milliseconds kMaxBackoff{16000};

ConnectionKeeper::ConnectionKeeper(std::vector<std::shared_ptr<RemoteFs>> initial,
                                   Connector reconnect, Clock clock)
    : connector_(std::move(reconnect)), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
  caps_ = initial.front()->caps();
  for (auto& fs : initial) {
    Slot s;
    s.fs = std::move(fs);
    slots_.push_back(std::move(s));
  }
}

Result<std::shared_ptr<RemoteFs>> ConnectionKeeper::Get() {
  std::unique_lock<std::mutex> l(mu_);
  size_t i = next_++ % slots_.size();
  Slot& slot = slots_[i];
  if (slot.fs) return slot.fs;
  if (connector_) {
    if (slot.connecting) {
      cv_.wait(l, [&] { return !slot.connecting; });
      if (slot.fs) return slot.fs;
    } else if (clock_() >= slot.next_attempt) {
      slot.connecting = true;
      l.unlock();
      Result<std::shared_ptr<RemoteFs>> r = connector_();
      l.lock();
      slot.connecting = false;
      if (r.ok()) {
        slot.fs = std::move(r).value();
        slot.backoff = std::chrono::milliseconds(0);
        ++reconnects_;
        cv_.notify_all();
        return slot.fs;
      }
      slot.backoff = std::min(kMaxBackoff, slot.backoff.count() ? slot.backoff * 2 : kFirstBackoff);
      slot.next_attempt = clock_() + slot.backoff;
      cv_.notify_all();
      Status failed = r.status();
      // Another slot may still be healthy.
      for (auto& s : slots_)
        if (s.fs) return s.fs;
      return Status(Code::kConnectionLost,
                    "connection lost and reconnecting failed (" + failed.ToString() +
                        "); next attempt in " + std::to_string(slot.backoff.count()) + " ms",
                    /*retryable=*/true);
    }
  }
  for (auto& s : slots_)
    if (s.fs) return s.fs;
  return Status::ConnectionLost(connector_ ? "connection lost; waiting before the next reconnect"
                                           : "connection lost (mount with -o reconnect to "
                                             "reconnect automatically)");
}

void ConnectionKeeper::ReportLost(const std::shared_ptr<RemoteFs>& fs) {
  std::lock_guard<std::mutex> l(mu_);
  for (auto& s : slots_) {
    if (s.fs == fs) {
      s.fs.reset();
      std::erase_if(lost_, [](const std::weak_ptr<RemoteFs>& w) { return w.expired(); });
      lost_.push_back(fs);
    }
  }
}

bool ConnectionKeeper::IsLost(const std::shared_ptr<RemoteFs>& fs) const {
  std::lock_guard<std::mutex> l(mu_);
  return std::any_of(lost_.begin(), lost_.end(),
                     [&](const std::weak_ptr<RemoteFs>& w) { return w.lock() == fs; });
}

uint64_t ConnectionKeeper::reconnects() const {
  std::lock_guard<std::mutex> l(mu_);
  return reconnects_;
}

}  // namespace skiff::fs
