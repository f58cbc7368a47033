// The Channel of one SSH channel (an "sftp" subsystem or an exec'd command) on an
// SshConnection.
//
// Data moves through two bounded ring buffers shared with the connection's I/O thread
// (SshChannel::Pipe): the I/O thread fills the inbound ring from libssh and drains the
// outbound ring into libssh; user threads only touch the rings and never call libssh.
// The inbound ring's free space is what we advertise as SSH window, so a slow reader
// stops the server instead of growing memory; a full outbound ring blocks Write.
//
// Thread-safety: as Channel (channel.h): concurrent Writes are serialized, one reader at
// a time, Close from any thread. The SshChannel keeps its SshConnection alive.
// State after failure: once the connection dies every blocked and later call fails
// with the connection's Status (kConnectionLost / kTimeout); Read first returns bytes
// that had already arrived.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>

#include "transport/channel.h"

namespace skiff {

class SshConnection;

class SshChannel : public Channel {
 public:
  // Inbound ring = the most the server may send ahead of the reader: 8 MiB covers
  // ~80 MB/s at 100 ms RTT; on loopback 1 MiB already saturates libssh. Outbound ring
  // only needs to cover the server's window (OpenSSH grants 2 MiB per session channel).
  static constexpr size_t kInboundCapacity = 8 << 20;
  static constexpr size_t kOutboundCapacity = 4 << 20;

  // A fixed-size byte ring with one producer and one consumer. The producer may fill
  // WriteRegion() without holding the Pipe's mutex (the consumer never touches free
  // space) and then Commit() under it; likewise the consumer with ReadRegion/Consume.
  class Ring {
   public:
    explicit Ring(size_t capacity) : buf_(new char[capacity]), cap_(capacity) {}
    size_t size() const { return size_; }
    size_t free() const { return cap_ - size_; }
    size_t capacity() const { return cap_; }
    // Largest contiguous free / filled span.
    std::pair<char*, size_t> WriteRegion() {
      size_t tail = (head_ + size_) % cap_;
      return {buf_.get() + tail, std::min(cap_ - size_, cap_ - tail)};
    }
    std::pair<const char*, size_t> ReadRegion() const {
      return {buf_.get() + head_, std::min(size_, cap_ - head_)};
    }
    void Commit(size_t n) { size_ += n; }
    void Consume(size_t n) {
      head_ = (head_ + n) % cap_;
      size_ -= n;
      // head_ is never reset to 0 when empty: the producer may be filling the region it
      // computed from the old head_ right now, without the lock.
    }

   private:
    std::unique_ptr<char[]> buf_;  // not zero-filled: pages are touched only when used
    size_t cap_;
    size_t head_ = 0, size_ = 0;
  };

  // State shared between the user-facing SshChannel and the I/O thread.
  struct Pipe {
    Pipe() : in(kInboundCapacity), out(kOutboundCapacity) {}
    std::mutex mu;                     // guards every field below (not ring contents)
    std::condition_variable readable;  // in grew, eof, failure or close
    std::condition_variable writable;  // out shrank, failure or close
    Ring in;
    Ring out;
    bool in_eof = false;          // peer sent EOF and `in` holds all that preceded it
    bool io_wants_space = false;  // I/O thread stopped reading because `in` was full
    bool eof_requested = false;   // SendEof called: send EOF once `out` drains
    bool closed = false;          // Close called
    bool peer_closed = false;     // the server closed the channel: writes fail
    Status failure;               // set once when the channel or connection failed
    int exit_status = -1;
    std::string stderr_tail;  // last kStderrKeep bytes of an exec's stderr
  };
  static constexpr size_t kStderrKeep = 4096;

  // Called by SshConnection once the channel is open.
  SshChannel(std::shared_ptr<SshConnection> conn, std::shared_ptr<Pipe> pipe);
  ~SshChannel() override;

  Status Write(std::string_view data) override;
  Status WriteGather(std::string_view head, std::string_view tail) override;
  Result<size_t> Read(char* buf, size_t n) override;
  Status SendEof() override;
  void Close() override;
  int ExitStatus() const override;
  // The last few KiB the remote command wrote to stderr (for error messages).
  std::string StderrTail() const;

 private:
  std::shared_ptr<SshConnection> conn_;
  std::shared_ptr<Pipe> pipe_;
  // Copies `parts` in order into the outbound ring, blocking while it is full.
  Status WriteParts(std::initializer_list<std::string_view> parts);

  std::mutex write_mu_;  // serializes Write calls; taken before pipe_->mu
};

}  // namespace skiff
