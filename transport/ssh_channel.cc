#include "transport/ssh_channel.h"

#include <cstring>

#include "transport/ssh_connection.h"

namespace skiff {

SshChannel::SshChannel(std::shared_ptr<SshConnection> conn, std::shared_ptr<Pipe> pipe)
    : conn_(std::move(conn)), pipe_(std::move(pipe)) {}

SshChannel::~SshChannel() { Close(); }

Status SshChannel::Write(std::string_view data) { return WriteParts({data}); }

Status SshChannel::WriteGather(std::string_view head, std::string_view tail) {
  return WriteParts({head, tail});
}

Status SshChannel::WriteParts(std::initializer_list<std::string_view> parts) {
  std::lock_guard<std::mutex> serial(write_mu_);
  std::unique_lock<std::mutex> lock(pipe_->mu);
  // The I/O thread drains `out` until it is empty or the window closes; it needs a
  // wakeup only when it may have found nothing to send, and only once all the parts
  // are in (so a header is not sent as a packet of its own) or before this waits.
  bool wake = false;
  auto wake_io = [&] {
    if (!wake) return;
    wake = false;
    lock.unlock();
    conn_->Wake();
    lock.lock();
  };
  for (std::string_view data : parts) {
    while (!data.empty()) {
      if (pipe_->out.free() == 0) wake_io();
      pipe_->writable.wait(lock, [&] {
        return pipe_->out.free() > 0 || pipe_->closed || !pipe_->failure.ok() || pipe_->peer_closed;
      });
      if (pipe_->closed) return Status(Code::kCancelled, "ssh channel closed");
      if (!pipe_->failure.ok()) return pipe_->failure;
      if (pipe_->peer_closed) {
        return Status::Io("the server closed the ssh channel (exit status " +
                          std::to_string(pipe_->exit_status) + "); nothing more can be written");
      }
      if (pipe_->eof_requested) return Status::Invalid("write on an ssh channel after SendEof");
      wake |= pipe_->out.size() == 0;
      while (!data.empty() && pipe_->out.free() > 0) {
        auto [dst, room] = pipe_->out.WriteRegion();
        size_t n = std::min(room, data.size());
        std::memcpy(dst, data.data(), n);
        pipe_->out.Commit(n);
        data.remove_prefix(n);
      }
    }
  }
  wake_io();
  return Status::Ok();
}

Result<size_t> SshChannel::Read(char* buf, size_t n) {
  if (n == 0) return size_t{0};
  std::unique_lock<std::mutex> lock(pipe_->mu);
  pipe_->readable.wait(lock, [&] {
    return pipe_->in.size() > 0 || pipe_->in_eof || pipe_->closed || !pipe_->failure.ok();
  });
  if (pipe_->closed) return Status(Code::kCancelled, "ssh channel closed");
  if (pipe_->in.size() == 0) {
    if (pipe_->in_eof) return size_t{0};  // clean EOF
    return pipe_->failure;
  }
  size_t done = 0;
  while (done < n && pipe_->in.size() > 0) {
    auto [src, len] = pipe_->in.ReadRegion();
    size_t k = std::min(len, n - done);
    std::memcpy(buf + done, src, k);
    pipe_->in.Consume(k);
    done += k;
  }
  // Wake the I/O thread only when it parked for lack of space and a useful amount is
  // free again (a quarter of the ring), not on every small read.
  if (pipe_->io_wants_space && pipe_->in.free() >= pipe_->in.capacity() / 4) {
    pipe_->io_wants_space = false;
    lock.unlock();
    conn_->Wake();
  }
  return done;
}

Status SshChannel::SendEof() {
  std::lock_guard<std::mutex> serial(write_mu_);
  {
    std::lock_guard<std::mutex> lock(pipe_->mu);
    if (pipe_->closed) return Status(Code::kCancelled, "ssh channel closed");
    if (!pipe_->failure.ok()) return pipe_->failure;
    pipe_->eof_requested = true;
  }
  conn_->Wake();
  return Status::Ok();
}

void SshChannel::Close() {
  {
    std::lock_guard<std::mutex> lock(pipe_->mu);
    if (pipe_->closed) return;
    pipe_->closed = true;
  }
  pipe_->readable.notify_all();
  pipe_->writable.notify_all();
  conn_->Wake();
}

int SshChannel::ExitStatus() const {
  std::lock_guard<std::mutex> lock(pipe_->mu);
  return pipe_->exit_status;
}

std::string SshChannel::StderrTail() const {
  std::lock_guard<std::mutex> lock(pipe_->mu);
  return pipe_->stderr_tail;
}

}  // namespace skiff
