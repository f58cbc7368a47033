#include "transport/sftp_client.h"

#include <algorithm>
#include <cstring>
#include <future>

#include "transport/sftp_trace.h"

namespace skiff {
namespace {

// Receive buffer: one maximal packet plus room to read ahead. Larger reads mean fewer
// Channel::Read calls; the payload of a big DATA reply bypasses the buffer anyway.
constexpr size_t kReceiveBuffer = sftp::kMaxPacketLength + 4 + 64 * 1024;

uint32_t LoadU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

Status LostFrom(const Status& st, std::string_view what) {
  if (st.Is(Code::kCancelled)) return Status::ConnectionLost("SFTP session closed");
  return Status::ConnectionLost("SFTP connection lost while " + std::string(what) + ": " +
                                st.ToString());
}

}  // namespace

SftpClient::SftpClient(std::unique_ptr<Channel> channel, SftpOptions opts)
    : channel_(std::move(channel)), opts_(std::move(opts)), rbuf_(kReceiveBuffer) {}

Result<std::unique_ptr<SftpClient>> SftpClient::Start(std::unique_ptr<Channel> channel,
                                                      SftpOptions opts) {
  if (!channel) return Status::Invalid("SftpClient::Start: no channel");
  std::unique_ptr<SftpClient> c(new SftpClient(std::move(channel), std::move(opts)));
  SKIFF_RETURN_IF_ERROR(c->Handshake());
  c->reader_ = std::thread([p = c.get()] { p->ReaderLoop(); });
  c->reader_id_ = c->reader_.get_id();
  c->QueryLimits();
  SKIFF_RETURN_IF_ERROR(c->dead_status());
  return c;
}

SftpClient::~SftpClient() {
  channel_->Close();
  if (reader_.joinable()) reader_.join();
  Fail(Status::ConnectionLost("SFTP session closed"));
  if (SftpTrace* t = SftpTrace::Get()) t->Dump();
}

bool SftpClient::HasExtension(const std::string& name) const {
  if (!extensions_.count(name)) return false;
  if (opts_.disabled_extensions.count(name)) return false;
  auto at = name.find('@');
  if (at != std::string::npos && opts_.disabled_extensions.count(name.substr(0, at))) return false;
  return true;
}

Status SftpClient::Handshake() {
  sftp::PacketWriter init(sftp::kInit);
  init.U32(sftp::kProtocolVersion);
  Status w = channel_->Write(init.Finish());
  if (!w.ok()) return LostFrom(w, "sending SFTP INIT");
  SKIFF_RETURN_IF_ERROR(Fill(4));
  SKIFF_ASSIGN_OR_RETURN(uint32_t len,
                         sftp::DecodePacketLength({rbuf_.data() + rstart_, rend_ - rstart_}));
  rstart_ += 4;
  SKIFF_RETURN_IF_ERROR(Fill(len));
  auto v = sftp::DecodeVersion({rbuf_.data() + rstart_, len});
  rstart_ += len;
  if (!v.ok()) return v.status().WithContext("SFTP handshake");
  if (v->version < sftp::kProtocolVersion) {
    return Status::Unsupported("the server speaks SFTP version " + std::to_string(v->version) +
                               "; skiff needs version 3");
  }
  server_version_ = v->version;
  for (auto& [name, data] : v->extensions) extensions_[name] = data;
  caps_.posix_rename = HasExtension("posix-rename@openssh.com");
  caps_.statvfs = HasExtension("statvfs@openssh.com");
  caps_.hardlink = HasExtension("hardlink@openssh.com");
  caps_.fsync = HasExtension("fsync@openssh.com");
  caps_.lsetstat = HasExtension("lsetstat@openssh.com");
  caps_.limits = HasExtension("limits@openssh.com");
  caps_.expand_path = HasExtension("expand-path@openssh.com");
  caps_.copy_data = HasExtension("copy-data");
  return Status::Ok();
}

void SftpClient::QueryLimits() {
  if (!caps_.limits) return;
  auto r = Call(NewExtended("limits@openssh.com"));
  if (ExpectType(r, sftp::kExtendedReply, "limits@openssh.com").ok()) {
    auto l = sftp::DecodeLimits(r->body);
    if (l.ok()) {
      // Never exceed what our own decoder accepts, nor the server's packet limit.
      uint64_t read_cap = sftp::kMaxPacketLength - sftp::kDataReplyOverhead;
      uint64_t write_cap = 256 * 1024;
      if (l->max_packet_length > 1024) {
        write_cap = std::min<uint64_t>(write_cap, l->max_packet_length - 1024);
      }
      if (l->max_read_length > 0) {
        caps_.max_read = static_cast<uint32_t>(std::min(l->max_read_length, read_cap));
      }
      if (l->max_write_length > 0) {
        caps_.max_write = static_cast<uint32_t>(std::min(l->max_write_length, write_cap));
      }
      caps_.max_open_handles =
          static_cast<uint32_t>(std::min<uint64_t>(l->max_open_handles, UINT32_MAX));
      return;
    }
  }
  caps_.limits = false;  // keep the conservative defaults
}

SftpClient::Request SftpClient::NewRequest(uint8_t type, size_t reserve) {
  Request r{next_id_.fetch_add(1, std::memory_order_relaxed), sftp::PacketWriter(type, reserve)};
  r.packet.U32(r.id);
  return r;
}

SftpClient::Request SftpClient::NewExtended(const std::string& name, size_t reserve) {
  Request r = NewRequest(sftp::kExtended, reserve + name.size() + 4);
  r.packet.String(name);
  return r;
}

void SftpClient::Submit(Request req, Callback cb, uint32_t reply_bytes) {
  SubmitTraced(std::move(req), {}, std::move(cb), reply_bytes, /*waited=*/false);
}

void SftpClient::SubmitWithPayload(Request req, std::string_view payload, Callback cb) {
  SubmitTraced(std::move(req), payload, std::move(cb), 0, /*waited=*/false);
}

void SftpClient::SubmitTraced(Request req, std::string_view payload, Callback cb,
                              uint32_t reply_bytes, bool waited) {
  std::string packet = req.packet.Finish(payload.size());
  if (SftpTrace* t = SftpTrace::Get()) {
    size_t i = t->Begin(packet, waited, payload.size());
    cb = [t, i, cb = std::move(cb)](Result<SftpReply> r) {
      t->End(i, r.ok() ? r->body.size() : 0);
      cb(std::move(r));
    };
  }
  uint64_t bytes = packet.size() + payload.size() + reply_bytes;
  {
    std::unique_lock<std::mutex> l(mu_);
    auto fits = [&](uint64_t b) {
      return !dead_.ok() || pending_.empty() ||
             (pending_.size() < opts_.max_requests_in_flight &&
              bytes_in_flight_ + b <= opts_.max_bytes_in_flight);
    };
    if (std::this_thread::get_id() != reader_id_ && !fits(bytes)) {
      ++window_waiters_;
      window_cv_.wait(l, [&] { return fits(bytes); });
      --window_waiters_;
      // Woken alone (see ReaderLoop): pass the wake on while there is room for more.
      if (window_waiters_ > 0 && fits(1)) window_cv_.notify_one();
    }
    if (!dead_.ok()) {
      Status st = dead_;
      l.unlock();
      cb(std::move(st));
      return;
    }
    pending_.emplace(req.id, Pending{std::move(cb), bytes});
    bytes_in_flight_ += bytes;
  }
  Status w = payload.empty() ? channel_->Write(packet) : channel_->WriteGather(packet, payload);
  if (!w.ok()) Fail(LostFrom(w, "sending a request"));
}

Result<SftpReply> SftpClient::Call(Request req, uint32_t reply_bytes) {
  std::promise<Result<SftpReply>> p;
  auto f = p.get_future();
  SubmitTraced(
      std::move(req), {}, [&p](Result<SftpReply> r) { p.set_value(std::move(r)); }, reply_bytes,
      /*waited=*/true);
  return f.get();
}

Status SftpClient::ExpectType(const Result<SftpReply>& r, uint8_t type, std::string_view context) {
  if (!r.ok()) return r.status().WithContext(context);
  if (r->type == type) return Status::Ok();
  if (r->type == sftp::kStatus) {
    auto s = sftp::DecodeStatus(r->body);
    if (!s.ok()) return s.status().WithContext(context);
    if (s->code == sftp::kFxOk || s->code == sftp::kFxEof) {
      return Status::Corrupt(std::string(context) + ": server answered with status " +
                             std::to_string(s->code) + " where a reply of type " +
                             std::to_string(type) + " was expected");
    }
    return sftp::StatusFromSftp(s->code, s->message, context);
  }
  return Status::Corrupt(std::string(context) + ": server sent a reply of type " +
                         std::to_string(r->type) + " where type " + std::to_string(type) +
                         " was expected");
}

Status SftpClient::ExpectOk(const Result<SftpReply>& r, std::string_view context) {
  SKIFF_RETURN_IF_ERROR(ExpectType(r, sftp::kStatus, context));
  SKIFF_ASSIGN_OR_RETURN(sftp::StatusReply s, sftp::DecodeStatus(r->body));
  if (s.code == sftp::kFxOk) return Status::Ok();
  if (s.code == sftp::kFxEof) {
    return Status::Io(std::string(context) + ": unexpected end of file");
  }
  return sftp::StatusFromSftp(s.code, s.message, context);
}

Status SftpClient::dead_status() const {
  std::lock_guard<std::mutex> l(mu_);
  return dead_;
}

Status SftpClient::Fill(size_t need) {
  if (rend_ - rstart_ >= need) return Status::Ok();
  if (rstart_ + need > rbuf_.size()) {
    std::memmove(rbuf_.data(), rbuf_.data() + rstart_, rend_ - rstart_);
    rend_ -= rstart_;
    rstart_ = 0;
  }
  while (rend_ - rstart_ < need) {
    auto n = channel_->Read(rbuf_.data() + rend_, rbuf_.size() - rend_);
    if (!n.ok()) return LostFrom(n.status(), "reading a reply");
    if (*n == 0) return Status::ConnectionLost("the SFTP server closed the channel (EOF)");
    rend_ += *n;
  }
  return Status::Ok();
}

Result<SftpReply> SftpClient::ReadReply(uint32_t* id) {
  SKIFF_RETURN_IF_ERROR(Fill(4));
  SKIFF_ASSIGN_OR_RETURN(uint32_t len, sftp::DecodePacketLength({rbuf_.data() + rstart_, 4}));
  rstart_ += 4;
  if (len < 5) {
    return Status::Corrupt("SFTP reply of " + std::to_string(len) +
                           " bytes is too short for a type and request id");
  }
  SKIFF_RETURN_IF_ERROR(Fill(5));
  SftpReply reply;
  reply.type = static_cast<uint8_t>(rbuf_[rstart_]);
  *id = LoadU32(rbuf_.data() + rstart_ + 1);
  rstart_ += 5;
  size_t rest = len - 5;
  if (reply.type == sftp::kData && rest >= 4) {
    // Payload goes straight into the result string; only what was already read ahead
    // into the receive buffer is copied.
    SKIFF_RETURN_IF_ERROR(Fill(4));
    uint32_t dlen = LoadU32(rbuf_.data() + rstart_);
    rstart_ += 4;
    rest -= 4;
    if (dlen != rest) {
      return Status::Corrupt("SFTP DATA reply claims " + std::to_string(dlen) +
                             " payload bytes but the packet holds " + std::to_string(rest));
    }
    reply.body.resize(dlen);
    size_t have = std::min(rest, rend_ - rstart_);
    std::memcpy(reply.body.data(), rbuf_.data() + rstart_, have);
    rstart_ += have;
    while (have < dlen) {
      auto n = channel_->Read(reply.body.data() + have, dlen - have);
      if (!n.ok()) return LostFrom(n.status(), "reading data");
      if (*n == 0) return Status::ConnectionLost("the SFTP server closed the channel mid-reply");
      have += *n;
    }
    if (rstart_ == rend_) rstart_ = rend_ = 0;
    return reply;
  }
  SKIFF_RETURN_IF_ERROR(Fill(rest));
  reply.body.assign(rbuf_.data() + rstart_, rest);
  rstart_ += rest;
  if (rstart_ == rend_) rstart_ = rend_ = 0;
  if (reply.type == sftp::kData) {
    return Status::Corrupt("SFTP DATA reply too short for its length field");
  }
  return reply;
}

void SftpClient::ReaderLoop() {
  for (;;) {
    uint32_t id = 0;
    auto r = ReadReply(&id);
    if (!r.ok()) {
      Fail(r.status());
      return;
    }
    Pending p;
    bool wake = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      wake = window_waiters_ > 0;
      auto it = pending_.find(id);
      if (it == pending_.end()) {
        // A reply nobody asked for means we lost track of the stream; stop trusting it.
        if (!dead_.ok()) return;
      } else {
        p = std::move(it->second);
        pending_.erase(it);
        bytes_in_flight_ -= p.bytes;
      }
    }
    if (!p.cb) {
      Fail(Status::Corrupt("SFTP server replied to unknown request id " + std::to_string(id)));
      return;
    }
    // One reply frees one slot: wake one submitter waiting for the window, not all of
    // them (with every file worker of a backup waiting on one session, each reply woke
    // dozens of threads of which one could go on); it wakes the next while room is left.
    if (wake) window_cv_.notify_one();
    p.cb(std::move(r));
  }
}

void SftpClient::Fail(Status st) {
  std::unordered_map<uint32_t, Pending> failed;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!dead_.ok()) return;
    dead_ = st;
    failed.swap(pending_);
    bytes_in_flight_ = 0;
  }
  window_cv_.notify_all();
  // Unblock the reader (and the peer) so that nothing waits on a dead stream.
  channel_->Close();
  for (auto& [id, p] : failed) p.cb(st);
}

}  // namespace skiff
