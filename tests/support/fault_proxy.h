// A fault-injecting TCP proxy on 127.0.0.1 for failure tests and WAN benchmarks.
//
// Every connection accepted on port() is relayed to the target (127.0.0.1:target_port, or
// any host:port through Create). On command the proxy
//   - delays each direction by a one-way latency (SetDelay(10ms) gives a 20 ms RTT). Each
//     chunk is scheduled at arrival + delay, so latency is added once, not once per chunk,
//     and byte order is preserved;
//   - throttles each direction to a byte rate shared by all connections, like one link;
//   - blackholes: stops reading and writing every socket but keeps them open, so peers
//     see a dead network (no data, no FIN, no RST) until Blackhole(false);
//   - cuts: closes every proxied connection with a reset (CutAll), as when a NAT or
//     firewall drops state, or only the newest one (CutNewest: one of several
//     connections of a client dies). New connections are accepted afterwards as usual.
//
// Thread-safety: all public methods may be called from any thread; one internal thread
// runs a poll loop over all sockets. CutAll returns once every connection is closed.
// Memory: at most kMaxQueuedBytes are buffered per direction per connection; beyond that
// the proxy stops reading, so TCP flow control reaches the sender.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "transport/status.h"

namespace skiff::testing {

class FaultProxy {
 public:
  // Listens on an ephemeral 127.0.0.1 port and relays to 127.0.0.1:target_port. Throws
  // std::runtime_error if it cannot listen (use Create for a Status instead).
  explicit FaultProxy(uint16_t target_port);
  // Listens on 127.0.0.1:listen_port (0 = ephemeral) and relays to target_host:target_port
  // (a name or numeric address, resolved once here).
  static Result<std::unique_ptr<FaultProxy>> Create(const std::string& target_host,
                                                    uint16_t target_port, uint16_t listen_port = 0);
  // Stops the loop thread and closes every socket.
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  uint16_t port() const { return port_; }

  // One-way delay added to each direction; applies to data arriving from now on.
  void SetDelay(std::chrono::milliseconds one_way);
  // Bytes per second per direction, shared by all connections; 0 = unlimited (default).
  void SetRateLimit(uint64_t bytes_per_sec);
  // true: forward nothing (sockets stay open); false: resume forwarding what is queued.
  void Blackhole(bool on);
  // Resets and closes every current connection; returns when they are gone.
  void CutAll();
  // Resets and closes the most recently accepted connection that is still open (none:
  // nothing happens); returns when it is gone.
  void CutNewest();

  // Connections currently open / accepted since construction.
  size_t active_connections() const { return active_.load(); }
  uint64_t accepted_connections() const { return accepted_.load(); }
  // Payload bytes delivered to clients (downstream) and to the target (upstream).
  uint64_t bytes_down() const { return bytes_down_.load(); }
  uint64_t bytes_up() const { return bytes_up_.load(); }

  // Per-connection, per-direction buffer bound. 32 MiB exceeds the bandwidth-delay
  // product of loopback (~3 GB/s) at a 10 ms one-way delay, so the proxy itself does not
  // cap throughput in WAN benchmarks.
  static constexpr size_t kMaxQueuedBytes = 32u << 20;

 private:
  struct Impl;  // the poll loop's state (sockets, queues), touched only by the thread
  FaultProxy();
  Status Init(const std::string& target_host, uint16_t target_port, uint16_t listen_port);
  void Wake();
  void Cut(bool newest_only);

  uint16_t port_ = 0;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;

  // Guards the settings below; never held while doing socket I/O. Lock order: only lock.
  std::mutex mu_;
  std::condition_variable cut_done_cv_;
  std::chrono::microseconds delay_{0};  // guarded by mu_
  uint64_t rate_ = 0;                   // guarded by mu_
  bool blackhole_ = false;              // guarded by mu_
  bool stop_ = false;                   // guarded by mu_
  uint64_t cut_requested_ = 0;          // guarded by mu_
  uint64_t cut_done_ = 0;               // guarded by mu_
  bool cut_newest_only_ = false;        // guarded by mu_; the pending cut's extent

  std::atomic<size_t> active_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> bytes_down_{0};
  std::atomic<uint64_t> bytes_up_{0};
};

}  // namespace skiff::testing
