#include "transport/serve_remote_fs.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>

#include "transport/serve_build.h"

namespace skiff {

using serve::Op;
using serve::PayloadReader;
using serve::PayloadWriter;

namespace {

class ServeFile : public RemoteFile {
 public:
  ServeFile(ServeRemoteFs& fs, uint32_t handle, std::string path)
      : fs_(fs), handle_(handle), path_(std::move(path)) {}
  ~ServeFile() override { Close().IgnoreError(); }

  uint32_t handle() const { return handle_; }
  const std::string& path() const { return path_; }

  Result<std::string> Read(uint64_t offset, uint32_t len) override {
    SKIFF_ASSIGN_OR_RETURN(std::string r, fs_.Call(Op::kRead, ReadReq(offset, len)));
    return ParseRead(r);
  }
  Status Write(uint64_t offset, std::string_view data) override {
    const uint32_t max = fs_.caps().max_write;
    do {
      std::string_view piece = data.substr(0, max);
      auto r = fs_.Call(Op::kWrite, WriteReq(offset, piece));
      if (!r.ok()) return r.status().WithContext("writing " + path_);
      offset += piece.size();
      data.remove_prefix(piece.size());
    } while (!data.empty());
    return Status::Ok();
  }
  void ReadAsync(uint64_t offset, uint32_t len, ReadCallback cb) override {
    fs_.CallAsync(Op::kRead, ReadReq(offset, len),
                  [this, cb = std::move(cb)](Result<std::string> r) {
                    if (!r.ok()) return cb(r.status().WithContext("reading " + path_));
                    cb(ParseRead(*r));
                  });
  }
  void WriteAsync(uint64_t offset, std::string data, DoneCallback cb) override {
    const uint32_t max = fs_.caps().max_write;
    if (data.size() <= max) {
      fs_.CallAsync(Op::kWrite, WriteReq(offset, data),
                    [this, cb = std::move(cb)](Result<std::string> r) {
                      cb(r.ok() ? Status::Ok() : r.status().WithContext("writing " + path_));
                    });
      return;
    }
    // Larger than one frame: split, and report once when every piece is done.
    struct Join {
      std::mutex mu;
      size_t left;
      Status first;
      DoneCallback cb;
    };
    size_t pieces = (data.size() + max - 1) / max;
    auto join = std::make_shared<Join>();
    join->left = pieces;
    join->cb = std::move(cb);
    for (size_t i = 0; i < pieces; ++i) {
      std::string_view piece = std::string_view(data).substr(i * max, max);
      fs_.CallAsync(Op::kWrite, WriteReq(offset + i * max, piece),
                    [this, join](Result<std::string> r) {
                      bool last;
                      {
                        std::lock_guard<std::mutex> l(join->mu);
                        if (!r.ok() && join->first.ok())
                          join->first = r.status().WithContext("writing " + path_);
                        last = --join->left == 0;
                      }
                      if (last) join->cb(join->first);
                    });
    }
  }
  Result<FileAttr> Stat() override {
    SKIFF_ASSIGN_OR_RETURN(std::string r,
                           fs_.Call(Op::kFstat, PayloadWriter().U32(handle_).Take()));
    PayloadReader rd(r);
    FileAttr a = rd.Attr();
    SKIFF_RETURN_IF_ERROR(rd.Finish("fstat reply"));
    return a;
  }
  Status SetStat(const FileAttr& attr) override {
    return fs_.Call(Op::kFsetStat, PayloadWriter().U32(handle_).Attr(attr).Take()).status();
  }
  Status Sync() override {
    return fs_.Call(Op::kFsync, PayloadWriter().U32(handle_).Take()).status();
  }
  Status Close() override {
    if (closed_) return Status::Ok();
    closed_ = true;
    return fs_.Call(Op::kClose, PayloadWriter().U32(handle_).Take()).status();
  }

 private:
  std::string ReadReq(uint64_t offset, uint32_t len) const {
    return PayloadWriter().U32(handle_).U64(offset).U32(len).Take();
  }
  std::string WriteReq(uint64_t offset, std::string_view data) const {
    return PayloadWriter().U32(handle_).U64(offset).Str(data).Take();
  }
  static Result<std::string> ParseRead(const std::string& r) {
    PayloadReader rd(r);
    std::string data(rd.Str());
    SKIFF_RETURN_IF_ERROR(rd.Finish("read reply"));
    return data;
  }

  ServeRemoteFs& fs_;
  uint32_t handle_;
  std::string path_;
  bool closed_ = false;
};

}  // namespace

ServeRemoteFs::ServeRemoteFs(std::unique_ptr<Channel> ch, std::shared_ptr<void> keepalive)
    : channel_(std::move(ch)), keepalive_(std::move(keepalive)) {}

ServeRemoteFs::~ServeRemoteFs() {
  {
    std::lock_guard<std::mutex> l(link_mu_);
    link_stop_ = true;
  }
  link_cv_.notify_one();
  if (link_sender_.joinable()) link_sender_.join();
  channel_->SendEof().IgnoreError();
  channel_->Close();
  if (reader_.joinable()) reader_.join();
  FailAll(Status::ConnectionLost("serve connection closed"));
  if (getenv("SKIFF_SERVE_STATS")) {
    OpStats total;
    for (const auto& [op, s] : op_stats_) {
      fprintf(stderr, "serve op %3u: %8llu calls %12llu B out %12llu B in\n", op,
              static_cast<unsigned long long>(s.calls), static_cast<unsigned long long>(s.out),
              static_cast<unsigned long long>(s.in));
      total.calls += s.calls;
      total.out += s.out;
      total.in += s.in;
    }
    fprintf(stderr, "serve total : %8llu calls %12llu B out %12llu B in\n",
            static_cast<unsigned long long>(total.calls),
            static_cast<unsigned long long>(total.out), static_cast<unsigned long long>(total.in));
  }
  channel_.reset();
  keepalive_.reset();
}

// How long the probe waits for a serve endpoint's hello reply. A real endpoint answers
// in one round trip plus its start-up (a few ms on loopback, well under a second on a
// slow link); 10 s leaves room for a loaded server without stalling a fallback long.
constexpr std::chrono::seconds kHelloTimeout{10};

Result<std::unique_ptr<ServeRemoteFs>> ServeRemoteFs::Create(std::unique_ptr<Channel> channel,
                                                             std::shared_ptr<void> keepalive) {
  if (!channel) return Status::Invalid("ServeRemoteFs: no channel");
  std::unique_ptr<ServeRemoteFs> fs(new ServeRemoteFs(std::move(channel), std::move(keepalive)));
  std::string hello = PayloadWriter().Str(serve::kMagic).U32(serve::kProtocolVersion).Take();
  auto unsupported = [&](const std::string& why) {
    std::string peer = fs->read_buf_.substr(0, 300);
    return Status::Unsupported("the endpoint does not speak skiff serve (" + why + ")" +
                               (peer.empty() ? "" : ": " + peer));
  };
  // A peer that is not skiff serve (internal-sftp behind ForceCommand, a shell without
  // skiff) may exit before or while the hello is written: that is "not serve" too, so
  // the caller can fall back to SFTP, whichever of the write or the read notices first.
  Status sent = fs->channel_->Write(serve::EncodeFrame(static_cast<uint8_t>(Op::kHello), 0, hello));
  if (!sent.ok()) {
    if (sent.Is(Code::kCancelled)) return sent;
    return unsupported(sent.message());
  }
  // A forced command that is neither serve nor quick to exit (e.g. a key forced to
  // sftp-server, which waits for the rest of what it takes for a packet) would leave
  // the read blocked for ever: close the channel if no answer comes in time.
  std::mutex probe_mu;
  std::condition_variable probe_cv;
  bool answered = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> l(probe_mu);
    if (!probe_cv.wait_for(l, kHelloTimeout, [&] { return answered; })) fs->channel_->Close();
  });
  auto frame = serve::ReadFrame(*fs->channel_, fs->read_buf_);
  {
    std::lock_guard<std::mutex> l(probe_mu);
    answered = true;
  }
  probe_cv.notify_all();
  watchdog.join();
  if (!frame.ok()) {
    if (frame.status().Is(Code::kCancelled))
      return unsupported("no answer to the hello within " + std::to_string(kHelloTimeout.count()) +
                         " s");
    return unsupported(frame.status().message());
  }
  if (frame->type != static_cast<uint8_t>(Op::kReply) || frame->id != 0)
    return unsupported("unexpected first frame");
  auto first = serve::DecodeReply(frame->payload);
  if (!first.ok() && first.status().Is(Code::kUnsupported) &&
      first.status().message().find("protocol version") != std::string::npos) {
    // A version-1 server refuses our newer hello but keeps the session open: say hello
    // again in its version and work without the version-2 requests.
    SKIFF_RETURN_IF_ERROR(fs->channel_->Write(serve::EncodeFrame(
        static_cast<uint8_t>(Op::kHello), 0,
        PayloadWriter().Str(serve::kMagic).U32(serve::kMinProtocolVersion).Take())));
    frame = serve::ReadFrame(*fs->channel_, fs->read_buf_);
    if (!frame.ok()) return frame.status();
    if (frame->type != static_cast<uint8_t>(Op::kReply) || frame->id != 0)
      return unsupported("unexpected reply to the second hello");
    first = serve::DecodeReply(frame->payload);
  }
  SKIFF_ASSIGN_OR_RETURN(std::string_view body, std::move(first));
  PayloadReader r(body);
  uint32_t version = r.U32();
  uint32_t max_data = r.U32();
  uint8_t mode = r.U8();
  SKIFF_RETURN_IF_ERROR(r.Finish("hello reply"));
  if (version < serve::kMinProtocolVersion || version > serve::kProtocolVersion)
    return Status::Unsupported("skiff serve speaks protocol version " + std::to_string(version) +
                               ", this client " + std::to_string(serve::kMinProtocolVersion) +
                               " to " + std::to_string(serve::kProtocolVersion));
  fs->version_ = version;
  if (max_data < 4096 || max_data > serve::kMaxData || mode > 3)
    return Status::Corrupt("serve protocol: hello reply with bad limits");
  fs->mode_ = static_cast<serve::Mode>(mode);
  Capabilities& c = fs->caps_;
  c.posix_rename = c.statvfs = c.hardlink = c.fsync = c.lsetstat = c.limits = true;
  c.expand_path = false;
  c.copy_data = true;
  c.max_read = c.max_write = max_data;
  fs->reader_ = std::thread([p = fs.get()] { p->ReaderLoop(); });
  return fs;
}

bool ServeRemoteFs::TraceRequested() {
  const char* v = getenv("SKIFF_SERVE_STATS");
  return v && std::string_view(v) == "trace";
}

void ServeRemoteFs::ReaderLoop() {
  for (;;) {
    auto f = serve::ReadFrame(*channel_, read_buf_);
    if (!f.ok()) {
      FailAll(f.status().Is(Code::kCancelled) ? Status::ConnectionLost("serve connection closed")
                                              : Status::ConnectionLost(f.status().message()));
      return;
    }
    ReplyCallback cb;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = pending_.find(f->id);
      if (f->type != static_cast<uint8_t>(Op::kReply) || it == pending_.end()) {
        // A reply nobody asked for: the stream cannot be trusted any more.
        ;
      } else {
        cb = std::move(it->second.cb);
        op_stats_[it->second.op].in += serve::kFrameHeader + f->payload.size();
        if (trace_) {
          auto now = std::chrono::steady_clock::now();
          fprintf(stderr, "serve-client trace %.6f op %u id %u rtt %.6f\n",
                  std::chrono::duration<double>(it->second.sent.time_since_epoch()).count(),
                  it->second.op, f->id,
                  std::chrono::duration<double>(now - it->second.sent).count());
        }
        pending_.erase(it);
      }
    }
    if (!cb) {
      auto st = serve::DecodeReply(f->payload);
      FailAll(Status::ConnectionLost(st.ok() ? "serve protocol: unexpected frame from the server"
                                             : "serve endpoint failed: " + st.status().message()));
      channel_->Close();
      return;
    }
    auto body = serve::DecodeReply(f->payload);
    if (body.ok())
      cb(std::string(*body));
    else
      cb(body.status());
  }
}

void ServeRemoteFs::FailAll(const Status& st) {
  std::map<uint32_t, Pending> pending;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (dead_.ok()) dead_ = st;
    pending.swap(pending_);
  }
  for (auto& [id, p] : pending) p.cb(dead_);
}

void ServeRemoteFs::CallAsync(Op op, std::string payload, ReplyCallback cb) {
  uint32_t id = 0;
  Status dead;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (dead_.ok()) {
      id = next_id_++;
      if (next_id_ == 0) next_id_ = 1;
      pending_.emplace(id, Pending{std::move(cb), static_cast<uint8_t>(op),
                                   trace_ ? std::chrono::steady_clock::now()
                                          : std::chrono::steady_clock::time_point()});
      OpStats& s = op_stats_[static_cast<uint8_t>(op)];
      ++s.calls;
      s.out += serve::kFrameHeader + payload.size();
    } else {
      dead = dead_;
    }
  }
  if (!dead.ok()) return cb(dead);
  Status st = channel_->Write(serve::EncodeFrame(static_cast<uint8_t>(op), id, payload));
  if (!st.ok()) {
    ReplyCallback mine;
    {
      std::lock_guard<std::mutex> l(mu_);
      auto it = pending_.find(id);
      if (it != pending_.end()) {
        mine = std::move(it->second.cb);
        pending_.erase(it);
      }
    }
    if (mine) mine(Status::ConnectionLost("serve protocol: sending a request: " + st.message()));
  }
}

Result<std::string> ServeRemoteFs::Call(Op op, std::string payload) {
  std::promise<Result<std::string>> p;
  auto fut = p.get_future();
  CallAsync(op, std::move(payload), [&p](Result<std::string> r) { p.set_value(std::move(r)); });
  return fut.get();
}

Status ServeRemoteFs::SimpleCall(Op op, std::string payload, std::string_view what) {
  auto r = Call(op, std::move(payload));
  if (!r.ok()) return r.status().WithContext(what);
  return Status::Ok();
}

Result<FileAttr> ServeRemoteFs::AttrCall(Op op, std::string payload, std::string_view what) {
  auto r = Call(op, std::move(payload));
  if (!r.ok()) return r.status().WithContext(what);
  PayloadReader rd(*r);
  FileAttr a = rd.Attr();
  SKIFF_RETURN_IF_ERROR(rd.Finish("attribute reply"));
  return a;
}

Result<FileAttr> ServeRemoteFs::Stat(const std::string& path) {
  return AttrCall(Op::kStat, PayloadWriter().Str(path).Take(), "stat " + path);
}
Result<FileAttr> ServeRemoteFs::Lstat(const std::string& path) {
  return AttrCall(Op::kLstat, PayloadWriter().Str(path).Take(), "lstat " + path);
}
Status ServeRemoteFs::SetStat(const std::string& path, const FileAttr& attr) {
  return SimpleCall(Op::kSetStat, PayloadWriter().Str(path).Attr(attr).Take(), "setstat " + path);
}
Status ServeRemoteFs::LSetStat(const std::string& path, const FileAttr& attr) {
  return SimpleCall(Op::kLSetStat, PayloadWriter().Str(path).Attr(attr).Take(), "lsetstat " + path);
}

Result<std::vector<DirEntry>> ServeRemoteFs::ReadDir(const std::string& path) {
  std::vector<DirEntry> out;
  for (;;) {
    auto r = Call(Op::kReadDir, PayloadWriter().Str(path).U32(out.size()).Take());
    if (!r.ok()) return r.status().WithContext("reading directory " + path);
    PayloadReader rd(*r);
    bool more = rd.U8() != 0;
    uint32_t n = rd.U32();
    if (n > serve::kMaxDirBatch)
      return Status::Corrupt("serve protocol: oversized directory batch");
    for (uint32_t i = 0; i < n && rd.ok(); ++i) {
      DirEntry e;
      e.name = std::string(rd.Str());
      e.attr = rd.Attr();
      out.push_back(std::move(e));
    }
    SKIFF_RETURN_IF_ERROR(rd.Finish("directory reply"));
    if (!more) return out;
    if (n == 0) return Status::Corrupt("serve protocol: empty directory batch with more to come");
  }
}

Result<std::unique_ptr<RemoteFile>> ServeRemoteFs::Open(const std::string& path, uint32_t flags,
                                                        uint32_t mode) {
  auto r = Call(Op::kOpen, PayloadWriter().Str(path).U32(flags).U32(mode).Take());
  if (!r.ok()) return r.status().WithContext("opening " + path);
  PayloadReader rd(*r);
  uint32_t h = rd.U32();
  SKIFF_RETURN_IF_ERROR(rd.Finish("open reply"));
  return std::unique_ptr<RemoteFile>(new ServeFile(*this, h, path));
}

Status ServeRemoteFs::Mkdir(const std::string& path, uint32_t mode) {
  return SimpleCall(Op::kMkdir, PayloadWriter().Str(path).U32(mode).Take(), "mkdir " + path);
}
Status ServeRemoteFs::Rmdir(const std::string& path) {
  return SimpleCall(Op::kRmdir, PayloadWriter().Str(path).Take(), "rmdir " + path);
}
Status ServeRemoteFs::Remove(const std::string& path) {
  return SimpleCall(Op::kRemove, PayloadWriter().Str(path).Take(), "removing " + path);
}
Status ServeRemoteFs::Rename(const std::string& from, const std::string& to, RenameMode mode) {
  return SimpleCall(Op::kRename,
                    PayloadWriter().Str(from).Str(to).U8(mode == RenameMode::kReplace).Take(),
                    "renaming " + from + " to " + to);
}
Status ServeRemoteFs::Symlink(const std::string& target, const std::string& link_path) {
  return SimpleCall(Op::kSymlink, PayloadWriter().Str(target).Str(link_path).Take(),
                    "symlink " + link_path);
}
Result<std::string> ServeRemoteFs::Readlink(const std::string& path) {
  auto r = Call(Op::kReadlink, PayloadWriter().Str(path).Take());
  if (!r.ok()) return r.status().WithContext("readlink " + path);
  PayloadReader rd(*r);
  std::string t(rd.Str());
  SKIFF_RETURN_IF_ERROR(rd.Finish("readlink reply"));
  return t;
}

Status ServeRemoteFs::Hardlink(const std::string& existing, const std::string& new_path) {
  if (version_ < 2)
    return SimpleCall(Op::kHardlink, PayloadWriter().Str(existing).Str(new_path).Take(),
                      "hard link " + new_path);
  // Shared: the promise must outlive set_value on the reader thread.
  auto linked = std::make_shared<std::promise<Status>>();
  std::future<Status> result = linked->get_future();
  HardlinkAsync(existing, new_path, [linked](Status st) { linked->set_value(std::move(st)); });
  Status st = result.get();
  return st.ok() ? st : st.WithContext("hard link " + new_path);
}

void ServeRemoteFs::HardlinkAsync(const std::string& existing, const std::string& new_path,
                                  std::function<void(Status)> done) {
  if (version_ < 2) {
    done(Hardlink(existing, new_path));
    return;
  }
  {
    std::lock_guard<std::mutex> l(link_mu_);
    if (!link_stop_) {
      link_queue_.push_back(LinkRequest{existing, new_path, std::move(done)});
      if (!link_sender_.joinable()) link_sender_ = std::thread([this] { LinkSenderLoop(); });
      link_cv_.notify_one();
      return;
    }
  }
  done(Status::ConnectionLost("serve connection closed"));
}

void ServeRemoteFs::LinkSenderLoop() {
  std::unique_lock<std::mutex> l(link_mu_);
  for (;;) {
    link_cv_.wait(l, [&] {
      return link_stop_ || (!link_queue_.empty() && links_in_flight_ < kLinkBatchesInFlight);
    });
    if (link_stop_) break;
    // What gathered while the batches were in flight travels together.
    const size_t n = std::min(link_queue_.size(), kMaxLinkBatch);
    std::vector<LinkRequest> batch(std::make_move_iterator(link_queue_.begin()),
                                   std::make_move_iterator(link_queue_.begin() + n));
    link_queue_.erase(link_queue_.begin(), link_queue_.begin() + n);
    ++links_in_flight_;
    l.unlock();
    SendLinkBatch(std::move(batch));
    l.lock();
  }
  std::vector<LinkRequest> left;
  left.swap(link_queue_);
  l.unlock();
  for (auto& r : left) r.done(Status::ConnectionLost("serve connection closed"));
}

void ServeRemoteFs::SendLinkBatch(std::vector<LinkRequest> batch) {
  // Each path is sent as the length it shares with the previous item's and the rest.
  auto put = [](PayloadWriter& w, const std::string& prev, const std::string& path) {
    size_t keep = 0;
    const size_t max = std::min({prev.size(), path.size(), size_t{65535}});
    while (keep < max && prev[keep] == path[keep]) ++keep;
    w.U8(static_cast<uint8_t>(keep >> 8)).U8(static_cast<uint8_t>(keep));
    w.Str(std::string_view(path).substr(keep));
  };
  PayloadWriter w;
  w.U32(static_cast<uint32_t>(batch.size()));
  static const std::string kNone;
  for (size_t i = 0; i < batch.size(); ++i) {
    put(w, i ? batch[i - 1].from : kNone, batch[i].from);
    put(w, i ? batch[i - 1].to : kNone, batch[i].to);
  }
  auto reqs = std::make_shared<std::vector<LinkRequest>>(std::move(batch));
  CallAsync(Op::kLinkBatch, w.Take(), [this, reqs](Result<std::string> r) {
    const auto& batch = *reqs;
    std::vector<Status> results(batch.size());
    if (!r.ok()) {
      for (auto& s : results) s = r.status();
    } else {
      PayloadReader rd(*r);
      uint32_t n = rd.U32();
      if (n != batch.size()) {
        for (auto& s : results) s = Status::Corrupt("serve protocol: link batch reply size");
      } else {
        for (auto& s : results) {
          uint8_t code = rd.U8();
          if (code == 0) continue;
          std::string msg(rd.Str());
          s = code > static_cast<uint8_t>(Code::kIo)
                  ? Status::Corrupt("serve protocol: bad status in a link batch reply")
                  : Status(static_cast<Code>(code), "server: " + msg);
        }
        Status fin = rd.Finish("link batch reply");
        if (!fin.ok())
          for (auto& s : results) s = fin;
      }
    }
    {
      std::lock_guard<std::mutex> l(link_mu_);
      --links_in_flight_;
    }
    link_cv_.notify_one();
    for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
  });
}

Result<std::string> ServeRemoteFs::BaseSignature(const std::string& base,
                                                 const std::string& stored_sig,
                                                 uint32_t block_size) {
  if (version_ < 2) return Status::Unsupported("the serve endpoint has no server-side delta");
  std::string out;
  for (;;) {
    auto r = Call(Op::kBaseSignature,
                  PayloadWriter().Str(base).Str(stored_sig).U32(block_size).U64(out.size()).Take());
    if (!r.ok()) return r.status().WithContext("signature of " + base);
    PayloadReader rd(*r);
    uint64_t total = rd.U64();
    std::string_view chunk = rd.Str();
    SKIFF_RETURN_IF_ERROR(rd.Finish("signature reply"));
    if (total > (uint64_t{256} << 20) || out.size() + chunk.size() > total ||
        (chunk.empty() && out.size() < total))
      return Status::Corrupt("serve protocol: bad signature reply for " + base);
    out.append(chunk);
    if (out.size() == total) return out;
  }
}

std::unique_ptr<RemoteBuild> ServeRemoteFs::BeginBuild(BuildSpec spec) {
  return std::make_unique<ServeBuild>(*this, next_build_++, std::move(spec));
}
Result<FsStats> ServeRemoteFs::StatVfs(const std::string& path) {
  auto r = Call(Op::kStatVfs, PayloadWriter().Str(path).Take());
  if (!r.ok()) return r.status().WithContext("statvfs " + path);
  PayloadReader rd(*r);
  FsStats s;
  for (uint64_t* f : {&s.block_size, &s.fragment_size, &s.blocks, &s.blocks_free, &s.blocks_avail,
                      &s.files, &s.files_free, &s.files_avail, &s.fsid, &s.flags, &s.name_max})
    *f = rd.U64();
  SKIFF_RETURN_IF_ERROR(rd.Finish("statvfs reply"));
  return s;
}
Result<std::string> ServeRemoteFs::RealPath(const std::string& path) {
  auto r = Call(Op::kRealPath, PayloadWriter().Str(path).Take());
  if (!r.ok()) return r.status().WithContext("realpath " + path);
  PayloadReader rd(*r);
  std::string p(rd.Str());
  SKIFF_RETURN_IF_ERROR(rd.Finish("realpath reply"));
  return p;
}
Status ServeRemoteFs::CopyData(RemoteFile& src, uint64_t src_offset, uint64_t len, RemoteFile& dst,
                               uint64_t dst_offset) {
  auto* s = dynamic_cast<ServeFile*>(&src);
  auto* d = dynamic_cast<ServeFile*>(&dst);
  if (!s || !d) return Status::Invalid("CopyData: files of another RemoteFs");
  return SimpleCall(Op::kCopyData,
                    PayloadWriter()
                        .U32(s->handle())
                        .U64(src_offset)
                        .U64(len)
                        .U32(d->handle())
                        .U64(dst_offset)
                        .Take(),
                    "copying " + s->path() + " into " + d->path());
}

}  // namespace skiff
