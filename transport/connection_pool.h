// N SSH connections to one destination, for parallel throughput (`skiff mount -o
// max_conns=N`): each connection has its own I/O thread, so N connections use N cores
// for cipher work and N TCP windows.
//
// Slots are connected lazily on first Get(). A slot whose connection died (health() not
// OK) is reconnected on the next Get(), with exponential backoff after failed attempts:
// within the backoff period Get() returns the last failure at once instead of hammering
// the server (kConnectionLost and kTimeout stay retryable).
//
// Thread-safety: all methods may be called from any thread; connecting one slot does not
// block Get() on another. Ownership: connections are shared; a caller may keep using a
// connection it got after the pool replaced it (it fails on its own once dead).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "transport/ssh_connection.h"
#include "transport/ssh_options.h"

namespace skiff {

class ConnectionPool {
 public:
  using Connector = std::function<Result<std::shared_ptr<SshConnection>>(const SshConfig&)>;
  // Backoff after a failed connect: doubles from kMinBackoff up to kMaxBackoff.
  static constexpr std::chrono::milliseconds kMinBackoff{250};
  static constexpr std::chrono::milliseconds kMaxBackoff{30000};

  // `size` >= 1. `connector` defaults to SshConnection::Connect (tests inject one).
  ConnectionPool(SshConfig config, size_t size, Connector connector = nullptr);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // The live connection of slot `index % size()`, connecting it if needed.
  Result<std::shared_ptr<SshConnection>> Get(size_t index);
  // Get() on slots in round-robin order.
  Result<std::shared_ptr<SshConnection>> Next();
  size_t size() const { return slots_.size(); }
  const SshConfig& config() const { return config_; }

 private:
  struct Slot {
    std::mutex mu;  // guards the fields below; held while this slot connects
    std::shared_ptr<SshConnection> conn;
    Status last_error;
    std::chrono::steady_clock::time_point retry_after{};
    std::chrono::milliseconds backoff{0};
  };
  const SshConfig config_;
  Connector connector_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::mutex next_mu_;  // guards next_
  size_t next_ = 0;
};

}  // namespace skiff
