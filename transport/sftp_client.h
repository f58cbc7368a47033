// A pipelined SFTP v3 client on a Channel.
//
// Requests carry ids; any number of threads submit, one internal reader thread decodes
// replies and completes the matching request, so many requests are in flight at once.
// In-flight requests are bounded (count and bytes, SftpOptions) so memory stays bounded:
// a submitter blocks while the window is full. Replies are matched by id, never by order.
//
// Session start: INIT/VERSION, the advertised extensions are recorded, and when
// limits@openssh.com is offered the read/write sizes are taken from it.
//
// Thread-safety: every method may be called from any thread. Callbacks run on the reader
// thread and must be short; they may Submit (which never blocks on the reader thread, so
// the window may then be exceeded by such requests) but must never wait for a reply.
// If the session is already dead, Submit runs the callback before returning, on the
// caller's thread — do not hold a lock the callback needs while submitting.
//
// Failure: when the channel dies (EOF, read or write error, Close) every pending and
// later request fails with kConnectionLost (retryable); when the server sends a reply
// that does not decode, they fail with kCorrupt naming the problem. Nothing hangs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "transport/channel.h"
#include "transport/remote_fs.h"
#include "transport/sftp_codec.h"
#include "transport/status.h"

namespace skiff {

struct SftpOptions {
  // Extensions not to use even when advertised, e.g. "posix-rename@openssh.com" (the
  // short form "posix-rename" works too). Used to select the documented fallbacks.
  std::set<std::string> disabled_extensions;
  // In-flight window. 64 requests of up to 255 KiB keep a loopback or LAN link busy
  // (a 16 MiB window covers 1 Gbit/s at 130 ms RTT) while bounding memory to ~16 MiB.
  uint32_t max_requests_in_flight = 64;
  uint64_t max_bytes_in_flight = 16u << 20;
};

// One reply: its type and the bytes after the request id. For DATA replies `body` is the
// payload itself (already stripped of its length), read straight from the channel.
struct SftpReply {
  uint8_t type = 0;
  std::string body;
};

class SftpClient {
 public:
  using Callback = std::function<void(Result<SftpReply>)>;

  // Performs INIT/VERSION on `channel` and starts the reader thread. Fails with
  // kCorrupt if the peer does not answer with an SFTP v3 VERSION, kConnectionLost if the
  // channel closes first.
  static Result<std::unique_ptr<SftpClient>> Start(std::unique_ptr<Channel> channel,
                                                   SftpOptions opts = {});
  // Closes the channel, fails pending requests with kConnectionLost and joins the reader.
  ~SftpClient();
  SftpClient(const SftpClient&) = delete;
  SftpClient& operator=(const SftpClient&) = delete;

  const Capabilities& caps() const { return caps_; }
  // True when the server advertised `name` (full name, e.g. "copy-data") and the options
  // did not disable it.
  bool HasExtension(const std::string& name) const;
  uint32_t server_version() const { return server_version_; }

  // A request packet under construction: type and a fresh id are already written.
  struct Request {
    uint32_t id = 0;
    sftp::PacketWriter packet;
  };
  Request NewRequest(uint8_t type, size_t reserve = 64);
  // An SSH_FXP_EXTENDED request for extension `name`.
  Request NewExtended(const std::string& name, size_t reserve = 64);

  // Sends `req`; `cb` receives the reply (any type, including STATUS). `reply_bytes` is
  // the size of the expected reply payload (READ length), counted against the window.
  void Submit(Request req, Callback cb, uint32_t reply_bytes = 0);
  // Submit with `payload` appended to the packet as it goes out (a WRITE's data, after
  // its length field), copied straight into the channel instead of into the packet.
  // `payload` is no longer needed once this returns.
  void SubmitWithPayload(Request req, std::string_view payload, Callback cb);
  // Submit and wait for the reply.
  Result<SftpReply> Call(Request req, uint32_t reply_bytes = 0);

  // Helpers that interpret common replies; `context` prefixes error messages.
  // STATUS OK -> Ok; any other STATUS -> StatusFromSftp; other types -> kCorrupt.
  static Status ExpectOk(const Result<SftpReply>& r, std::string_view context);
  // Fails unless the reply is `type` (a STATUS becomes its Status).
  static Status ExpectType(const Result<SftpReply>& r, uint8_t type, std::string_view context);

  // The status requests fail with once the session is dead; OK while alive.
  Status dead_status() const;

 private:
  SftpClient(std::unique_ptr<Channel> channel, SftpOptions opts);
  Status Handshake();
  // Submit; `waited` says whether the caller blocks for the reply (SftpTrace only).
  void SubmitTraced(Request req, std::string_view payload, Callback cb, uint32_t reply_bytes,
                    bool waited);
  void QueryLimits();
  void ReaderLoop();
  Result<SftpReply> ReadReply(uint32_t* id);
  Status Fill(size_t need);
  void Fail(Status st);

  std::unique_ptr<Channel> channel_;
  const SftpOptions opts_;
  Capabilities caps_;
  uint32_t server_version_ = 0;
  std::map<std::string, std::string> extensions_;  // as advertised; fixed after Start

  // Receive buffer, touched only by the reader (or by Start before the reader runs).
  std::vector<char> rbuf_;
  size_t rstart_ = 0, rend_ = 0;

  std::atomic<uint32_t> next_id_{1};
  std::thread reader_;
  std::thread::id reader_id_;

  struct Pending {
    Callback cb;
    uint64_t bytes = 0;
  };
  mutable std::mutex mu_;  // guards everything below; never held while calling back or doing I/O
  std::condition_variable window_cv_;
  std::unordered_map<uint32_t, Pending> pending_;
  uint64_t bytes_in_flight_ = 0;
  int window_waiters_ = 0;  // submitters blocked on window_cv_
  Status dead_;             // OK while the session lives
};

}  // namespace skiff
