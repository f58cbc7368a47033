#include "tests/support/fault_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <iterator>
#include <list>
#include <stdexcept>
#include <vector>

namespace skiff::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Largest single read; big enough for loopback throughput without starving fairness.
constexpr size_t kReadChunk = 256 * 1024;
// A throttled direction may send this much ahead of the rate (the bucket's depth, as a
// fraction of one second): 20 ms keeps the rate smooth at benchmark time scales.
constexpr double kBurstSeconds = 0.02;
constexpr double kMinBurstBytes = 4096;

Status Errno(const std::string& what) { return Status::Io(what + ": " + std::strerror(errno)); }

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// Closes with an RST instead of a FIN, as a cut network path would look to the peer.
void AbortFd(int& fd) {
  if (fd < 0) return;
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  CloseFd(fd);
}

struct Chunk {
  Clock::time_point due;
  std::string data;
  size_t off = 0;
  bool eof = false;  // the source half-closed: shut down the destination's write side
};

// One direction of one connection.
struct Pipe {
  std::deque<Chunk> queue;
  size_t queued = 0;        // payload bytes in queue
  bool src_eof = false;     // read returned 0: no more reads
  bool dst_shut = false;    // EOF delivered to the destination
  bool want_write = false;  // the destination's send buffer was full
};

struct Conn {
  int client = -1;
  int upstream = -1;
  bool connecting = true;
  bool dead = false;
  Pipe up;    // client -> upstream
  Pipe down;  // upstream -> client
};

// A token bucket per direction, shared by every connection.
struct Bucket {
  double tokens = 0;
  Clock::time_point last = Clock::now();
  void Refill(Clock::time_point now, uint64_t rate) {
    double depth = std::max(static_cast<double>(rate) * kBurstSeconds, kMinBurstBytes);
    tokens = std::min(depth, tokens + std::chrono::duration<double>(now - last).count() *
                                          static_cast<double>(rate));
    last = now;
  }
};

}  // namespace

struct FaultProxy::Impl {
  explicit Impl(FaultProxy* owner) : owner(owner) {}
  ~Impl() {
    for (Conn& c : conns) {
      CloseFd(c.client);
      CloseFd(c.upstream);
    }
    CloseFd(listen_fd);
    CloseFd(wake_fd);
  }

  void Run();
  void Accept(Clock::time_point now);
  void StartConnect(Conn& c);
  void ReadInto(Conn& c, int src, Pipe& p, Clock::time_point now);
  // Writes what is due; lowers next_wake to when the next chunk or token is available.
  void Flush(Conn& c, Pipe& p, int dst, Bucket& bucket, std::atomic<uint64_t>& counter,
             Clock::time_point now, Clock::time_point& next_wake);

  FaultProxy* owner;
  int listen_fd = -1;
  int wake_fd = -1;
  sockaddr_storage target{};
  socklen_t target_len = 0;
  std::list<Conn> conns;
  Bucket up_bucket, down_bucket;
  std::vector<char> buf = std::vector<char>(kReadChunk);

  // Settings copied from the owner at the top of each iteration.
  std::chrono::microseconds delay{0};
  uint64_t rate = 0;
  bool blackhole = false;
};

FaultProxy::FaultProxy() : impl_(std::make_unique<Impl>(this)) {}

FaultProxy::FaultProxy(uint16_t target_port) : FaultProxy() {
  if (Status st = Init("127.0.0.1", target_port, 0); !st.ok()) {
    throw std::runtime_error("FaultProxy: " + st.ToString());
  }
}

Result<std::unique_ptr<FaultProxy>> FaultProxy::Create(const std::string& target_host,
                                                       uint16_t target_port, uint16_t listen_port) {
  std::unique_ptr<FaultProxy> p(new FaultProxy());
  SKIFF_RETURN_IF_ERROR(p->Init(target_host, target_port, listen_port));
  return p;
}

Status FaultProxy::Init(const std::string& target_host, uint16_t target_port,
                        uint16_t listen_port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(target_port);
  if (int rc = ::getaddrinfo(target_host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    return Status::Invalid("cannot resolve proxy target " + target_host + ": " +
                           ::gai_strerror(rc));
  }
  std::memcpy(&impl_->target, res->ai_addr, res->ai_addrlen);
  impl_->target_len = res->ai_addrlen;
  ::freeaddrinfo(res);

  impl_->listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (impl_->listen_fd < 0) return Errno("socket");
  int one = 1;
  ::setsockopt(impl_->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(listen_port);
  if (::bind(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return Errno("binding proxy to 127.0.0.1:" + std::to_string(listen_port));
  }
  if (::listen(impl_->listen_fd, 128) != 0) return Errno("listen");
  socklen_t len = sizeof(addr);
  if (::getsockname(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Errno("getsockname");
  }
  port_ = ntohs(addr.sin_port);
  impl_->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl_->wake_fd < 0) return Errno("eventfd");
  thread_ = std::thread([this] { impl_->Run(); });
  return Status::Ok();
}

FaultProxy::~FaultProxy() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
}

void FaultProxy::Wake() {
  if (impl_->wake_fd < 0) return;
  uint64_t one = 1;
  // A full counter (EAGAIN) already means "wake up".
  [[maybe_unused]] ssize_t w = ::write(impl_->wake_fd, &one, sizeof(one));
}

void FaultProxy::SetDelay(std::chrono::milliseconds one_way) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    delay_ = one_way;
  }
  Wake();
}

void FaultProxy::SetRateLimit(uint64_t bytes_per_sec) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    rate_ = bytes_per_sec;
  }
  Wake();
}

void FaultProxy::Blackhole(bool on) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    blackhole_ = on;
  }
  Wake();
}

void FaultProxy::CutAll() { Cut(false); }

void FaultProxy::CutNewest() { Cut(true); }

void FaultProxy::Cut(bool newest_only) {
  std::unique_lock<std::mutex> lock(mu_);
  // A pending cut of everything stays one (it covers the newest connection too).
  cut_newest_only_ = newest_only && (cut_requested_ == cut_done_ || cut_newest_only_);
  uint64_t ticket = ++cut_requested_;
  lock.unlock();
  Wake();
  lock.lock();
  cut_done_cv_.wait(lock, [&] { return cut_done_ >= ticket || stop_; });
}

void FaultProxy::Impl::StartConnect(Conn& c) {
  c.upstream = ::socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c.upstream < 0) {
    c.dead = true;
    return;
  }
  int one = 1;
  ::setsockopt(c.upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(c.upstream, reinterpret_cast<sockaddr*>(&target), target_len) == 0) {
    c.connecting = false;
  } else if (errno != EINPROGRESS) {
    c.dead = true;
  }
}

void FaultProxy::Impl::Accept(Clock::time_point now) {
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a transient error (EMFILE...): retry on next POLLIN
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    Conn& c = conns.emplace_back();
    c.client = fd;
    StartConnect(c);
    owner->accepted_++;
  }
}

void FaultProxy::Impl::ReadInto(Conn& c, int src, Pipe& p, Clock::time_point now) {
  ssize_t r = ::recv(src, buf.data(), buf.size(), MSG_DONTWAIT);
  if (r > 0) {
    Chunk chunk;
    chunk.due = now + delay;
    chunk.data.assign(buf.data(), static_cast<size_t>(r));
    p.queued += chunk.data.size();
    p.queue.push_back(std::move(chunk));
  } else if (r == 0) {
    p.src_eof = true;
    Chunk eof;
    eof.due = now + delay;
    eof.eof = true;
    p.queue.push_back(std::move(eof));
  } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    c.dead = true;  // reset by the peer: drop the whole connection
  }
}

void FaultProxy::Impl::Flush(Conn& c, Pipe& p, int dst, Bucket& bucket,
                             std::atomic<uint64_t>& counter, Clock::time_point now,
                             Clock::time_point& next_wake) {
  p.want_write = false;
  while (!p.queue.empty() && !c.dead) {
    Chunk& front = p.queue.front();
    if (front.due > now) {
      next_wake = std::min(next_wake, front.due);
      return;
    }
    if (front.eof) {
      ::shutdown(dst, SHUT_WR);
      p.dst_shut = true;
      p.queue.pop_front();
      continue;
    }
    size_t want = front.data.size() - front.off;
    if (rate != 0) {
      bucket.Refill(now, rate);
      if (bucket.tokens < 1) {
        // Wait until a reasonable slice is available rather than trickling single bytes.
        double need =
            std::min<double>(static_cast<double>(want),
                             std::max(static_cast<double>(rate) * kBurstSeconds / 4, 1.0));
        auto wait =
            std::chrono::duration<double>((need - bucket.tokens) / static_cast<double>(rate));
        next_wake = std::min(next_wake, now + std::chrono::duration_cast<Clock::duration>(wait) +
                                            std::chrono::microseconds(1));
        return;
      }
      want = std::min(want, static_cast<size_t>(bucket.tokens));
    }
    ssize_t w = ::send(dst, front.data.data() + front.off, want, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        p.want_write = true;
      } else if (errno != EINTR) {
        c.dead = true;
      }
      return;
    }
    counter += static_cast<uint64_t>(w);
    if (rate != 0) bucket.tokens -= static_cast<double>(w);
    front.off += static_cast<size_t>(w);
    p.queued -= static_cast<size_t>(w);
    if (front.off == front.data.size()) p.queue.pop_front();
  }
}

void FaultProxy::Impl::Run() {
  std::vector<pollfd> fds;
  // Per pollfd: which connection and socket it belongs to (nullptr for listen/wake).
  std::vector<std::pair<Conn*, int>> owners;
  for (;;) {
    uint64_t cut_ticket = 0;
    bool cut_newest_only = false;
    {
      std::lock_guard<std::mutex> lock(owner->mu_);
      if (owner->stop_) break;
      delay = owner->delay_;
      rate = owner->rate_;
      blackhole = owner->blackhole_;
      if (owner->cut_requested_ > owner->cut_done_) cut_ticket = owner->cut_requested_;
      cut_newest_only = owner->cut_newest_only_;
    }
    if (cut_ticket != 0) {
      // conns is in accept order, so the newest is the last one.
      auto first = cut_newest_only && !conns.empty() ? std::prev(conns.end()) : conns.begin();
      for (auto it = first; it != conns.end(); ++it) {
        AbortFd(it->client);
        AbortFd(it->upstream);
      }
      conns.erase(first, conns.end());
      owner->active_ = conns.size();
      std::lock_guard<std::mutex> lock(owner->mu_);
      owner->cut_done_ = cut_ticket;
      owner->cut_done_cv_.notify_all();
    }

    Clock::time_point now = Clock::now();
    Clock::time_point next_wake = Clock::time_point::max();
    if (!blackhole) {
      for (Conn& c : conns) {
        if (c.dead || c.connecting) continue;
        Flush(c, c.up, c.upstream, up_bucket, owner->bytes_up_, now, next_wake);
        Flush(c, c.down, c.client, down_bucket, owner->bytes_down_, now, next_wake);
      }
    }
    // Reap connections that failed or finished in both directions.
    for (auto it = conns.begin(); it != conns.end();) {
      bool finished = it->up.dst_shut && it->down.dst_shut;
      if (it->dead || finished) {
        CloseFd(it->client);
        CloseFd(it->upstream);
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
    owner->active_ = conns.size();

    fds.clear();
    owners.clear();
    fds.push_back({wake_fd, POLLIN, 0});
    owners.push_back({nullptr, -1});
    fds.push_back({listen_fd, POLLIN, 0});
    owners.push_back({nullptr, -1});
    if (!blackhole) {
      for (Conn& c : conns) {
        if (c.connecting) {
          fds.push_back({c.upstream, POLLOUT, 0});
          owners.push_back({&c, c.upstream});
          continue;
        }
        short client_ev = 0, upstream_ev = 0;
        if (!c.up.src_eof && c.up.queued < kMaxQueuedBytes) client_ev |= POLLIN;
        if (!c.down.src_eof && c.down.queued < kMaxQueuedBytes) upstream_ev |= POLLIN;
        if (c.up.want_write) upstream_ev |= POLLOUT;
        if (c.down.want_write) client_ev |= POLLOUT;
        if (client_ev != 0) {
          fds.push_back({c.client, client_ev, 0});
          owners.push_back({&c, c.client});
        }
        if (upstream_ev != 0) {
          fds.push_back({c.upstream, upstream_ev, 0});
          owners.push_back({&c, c.upstream});
        }
      }
    }
    timespec ts{};
    timespec* timeout = nullptr;
    if (next_wake != Clock::time_point::max()) {
      auto left = std::max(Clock::duration::zero(), next_wake - Clock::now());
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      ts.tv_sec = static_cast<time_t>(ns / 1000000000);
      ts.tv_nsec = static_cast<long>(ns % 1000000000);
      timeout = &ts;
    }
    int n = ::ppoll(fds.data(), fds.size(), timeout, nullptr);
    if (n < 0) continue;  // EINTR; anything else would repeat and is not expected
    now = Clock::now();
    if (fds[0].revents != 0) {
      uint64_t v;
      [[maybe_unused]] ssize_t r = ::read(wake_fd, &v, sizeof(v));
    }
    // Accepted even while blackholed: the connection is then held open, forwarding nothing.
    if (fds[1].revents != 0) Accept(now);
    for (size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Conn& c = *owners[i].first;
      int fd = owners[i].second;
      if (c.dead) continue;
      if (c.connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          c.dead = true;  // target refused: the client sees its connection close
        } else {
          c.connecting = false;
        }
        continue;
      }
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        if (fd == c.client && !c.up.src_eof) ReadInto(c, c.client, c.up, now);
        if (fd == c.upstream && !c.down.src_eof) ReadInto(c, c.upstream, c.down, now);
      }
      // POLLOUT needs no handling here: the next Flush retries the pending write.
    }
  }
  // Wake anyone blocked in CutAll during shutdown.
  std::lock_guard<std::mutex> lock(owner->mu_);
  owner->cut_done_cv_.notify_all();
}

}  // namespace skiff::testing
