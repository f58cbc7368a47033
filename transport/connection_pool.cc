#include "transport/connection_pool.h"

#include <algorithm>

namespace skiff {

ConnectionPool::ConnectionPool(SshConfig config, size_t size, Connector connector)
    : config_(std::move(config)), connector_(std::move(connector)) {
  if (!connector_) {
    connector_ = [](const SshConfig& c) { return SshConnection::Connect(c); };
  }
  for (size_t i = 0; i < std::max<size_t>(size, 1); ++i) slots_.push_back(std::make_unique<Slot>());
}

Result<std::shared_ptr<SshConnection>> ConnectionPool::Get(size_t index) {
  Slot& s = *slots_[index % slots_.size()];
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.conn && s.conn->health().ok()) return s.conn;
  s.conn.reset();
  const auto now = std::chrono::steady_clock::now();
  if (!s.last_error.ok() && now < s.retry_after) return s.last_error;
  auto conn = connector_(config_);
  if (!conn.ok()) {
    s.last_error = conn.status();
    s.backoff = std::clamp(s.backoff * 2, kMinBackoff, kMaxBackoff);
    s.retry_after = std::chrono::steady_clock::now() + s.backoff;
    return s.last_error;
  }
  s.last_error = Status::Ok();
  s.backoff = std::chrono::milliseconds(0);
  s.conn = std::move(conn).value();
  return s.conn;
}

Result<std::shared_ptr<SshConnection>> ConnectionPool::Next() {
  size_t i;
  {
    std::lock_guard<std::mutex> lock(next_mu_);
    i = next_++;
  }
  return Get(i);
}

}  // namespace skiff
