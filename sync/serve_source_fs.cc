#include "sync/serve_source_fs.h"

#include <sys/stat.h>

#include <deque>

#include "sync/delta_matcher.h"
#include "sync/serve_source_protocol.h"

namespace skiff::sync {

using serve::Op;
using serve::PayloadReader;
using serve::PayloadWriter;

namespace {

// Base-signature bytes per delta-sig request (a frame holds kMaxData plus headers).
constexpr size_t kSigChunk = serve::kMaxData - 1024;

// Replies of asynchronous requests, collected by sequence number. Shared with the
// callbacks, so a reply that arrives after its reader gave up lands here harmlessly.
struct Replies {
  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, Result<std::string>> done;  // guarded by mu
  uint64_t issued = 0;                           // guarded by mu
  uint64_t finished = 0;                         // guarded by mu

  std::function<void(Result<std::string>)> Callback(uint64_t seq, std::shared_ptr<Replies> self) {
    return [seq, self](Result<std::string> r) {
      std::lock_guard<std::mutex> l(self->mu);
      self->done.emplace(seq, std::move(r));
      ++self->finished;
      self->cv.notify_all();
    };
  }
  Result<std::string> Wait(uint64_t seq) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return done.count(seq) > 0; });
    auto it = done.find(seq);
    Result<std::string> r = std::move(it->second);
    done.erase(it);
    return r;
  }
  void WaitAll() {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return finished == issued; });
  }
};

LocalStat FromAttr(const FileAttr& a) {
  LocalStat s;
  s.mode = a.mode;
  s.uid = a.uid;
  s.gid = a.gid;
  s.size = a.size;
  s.mtime = a.mtime;
  return s;
}

class ServeSourceReader : public LocalReader {
 public:
  ServeSourceReader(ServeSourceFs& owner, std::unique_ptr<RemoteFile> file, std::string rel,
                    std::string path)
      : owner_(owner),
        file_(std::move(file)),
        rel_(std::move(rel)),
        path_(std::move(path)),
        replies_(std::make_shared<Replies>()) {}
  ~ServeSourceReader() override {
    // The file's read callbacks refer to it: let them finish before it closes.
    replies_->WaitAll();
  }

  Result<std::string> Read(size_t max) override {
    if (eof_ || max == 0) return std::string();
    if (chunk_ == 0)
      chunk_ = static_cast<uint32_t>(std::min<size_t>(max, owner_.remote().caps().max_read));
    // One request until the file proves larger than one chunk, then a window of them.
    const uint64_t window = big_ ? ServeSourceFs::kReadAhead : 1;
    while (next_seq_ - consumed_ < window) Issue();
    auto r = replies_->Wait(consumed_++);
    if (!r.ok()) return r.status().WithContext("reading " + path_);
    owner_.AddContentBytesRead(r->size());
    if (r->size() < chunk_)
      eof_ = true;  // reads issued beyond it return nothing and are dropped
    else
      big_ = true;
    return std::move(*r);
  }

  Result<LocalStat> Stat() override {
    if (matched_) return after_;
    SKIFF_ASSIGN_OR_RETURN(FileAttr a, file_->Stat());
    return FromAttr(a);
  }

  Result<SourceMatch> MatchAtSource(const FileSignature& base, uint32_t sig_block_size,
                                    DeltaSink& sink) override {
    owner_.AcquireDelta();
    struct Release {
      ServeSourceFs& o;
      ~Release() { o.ReleaseDelta(); }
    } release{owner_};
    ServeRemoteFs& fs = owner_.remote();
    const std::string base_bytes = base.Encode();
    SKIFF_ASSIGN_OR_RETURN(
        std::string opened,
        fs.Call(Op::kSourceDeltaOpen,
                PayloadWriter().Str(rel_).U32(sig_block_size).U64(base_bytes.size()).Take()));
    PayloadReader orr(opened);
    const uint32_t job = orr.U32();
    GetLocalStat(orr);
    SKIFF_RETURN_IF_ERROR(orr.Finish("source-delta-open reply"));
    Result<SourceMatch> m = RunJob(fs, job, base_bytes, sig_block_size, sink);
    if (!m.ok()) {
      // The server ends a job that failed on its side; this ends one abandoned here.
      fs.CallAsync(Op::kSourceDeltaClose, PayloadWriter().U32(job).Take(),
                   [](Result<std::string>) {});
      return m.status().WithContext("matching " + path_ + " on the server");
    }
    matched_ = true;
    after_ = m->after;
    return m;
  }

 private:
  void Issue() {
    uint64_t seq = next_seq_++;
    {
      std::lock_guard<std::mutex> l(replies_->mu);
      ++replies_->issued;
    }
    file_->ReadAsync(next_offset_, chunk_, replies_->Callback(seq, replies_));
    next_offset_ += chunk_;
  }

  Result<SourceMatch> RunJob(ServeRemoteFs& fs, uint32_t job, const std::string& base_bytes,
                             uint32_t sig_block_size, DeltaSink& sink) {
    for (size_t off = 0; off < base_bytes.size(); off += kSigChunk)
      SKIFF_RETURN_IF_ERROR(
          fs.Call(Op::kSourceDeltaSig, PayloadWriter()
                                           .U32(job)
                                           .Str(std::string_view(base_bytes).substr(off, kSigChunk))
                                           .Take())
              .status());
    // The server answers in order, so several delta-next requests may be in flight; the
    // ones sent after the last reply fail harmlessly (the job has ended).
    auto replies = std::make_shared<Replies>();
    uint64_t issued = 0, consumed = 0;
    std::string sig_bytes;
    SourceMatch m;
    bool ended = false;
    for (;;) {
      while (issued - consumed < static_cast<uint64_t>(ServeSourceFs::kDeltaWindow)) {
        {
          std::lock_guard<std::mutex> l(replies->mu);
          ++replies->issued;
        }
        fs.CallAsync(Op::kSourceDeltaNext, PayloadWriter().U32(job).Take(),
                     replies->Callback(issued++, replies));
      }
      SKIFF_ASSIGN_OR_RETURN(std::string reply, replies->Wait(consumed++));
      PayloadReader r(reply);
      bool done = r.U8() != 0;
      uint32_t n = r.U32();
      for (uint32_t i = 0; i < n && r.ok(); ++i) {
        if (ended) return Status::Corrupt("source-delta-next: records after the end");
        switch (static_cast<DeltaRecord>(r.U8())) {
          case DeltaRecord::kCopy: {
            uint64_t off = r.U64(), len = r.U64();
            if (r.ok()) SKIFF_RETURN_IF_ERROR(sink.Copy(off, len));
            break;
          }
          case DeltaRecord::kLiteral: {
            std::string_view bytes = r.Str();
            if (r.ok()) SKIFF_RETURN_IF_ERROR(sink.Literal(bytes));
            break;
          }
          case DeltaRecord::kSignature:
            sig_bytes.append(r.Str());
            break;
          case DeltaRecord::kEnd:
            m.hash = std::string(r.Str());
            m.size = r.U64();
            m.after = GetLocalStat(r);
            ended = true;
            break;
          default:
            return Status::Corrupt("source-delta-next: unknown record kind");
        }
      }
      SKIFF_RETURN_IF_ERROR(r.Finish("source-delta-next reply"));
      if (done != ended) return Status::Corrupt("source-delta-next: end record and flag disagree");
      if (done) break;
    }
    if (sig_block_size > 0) {
      SKIFF_ASSIGN_OR_RETURN(m.signature, FileSignature::Decode(sig_bytes));
      if (m.signature.file_size != m.size || m.signature.block_size != sig_block_size)
        return Status::Corrupt("the server's signature does not describe the matched content");
      m.has_signature = true;
    }
    return m;
  }

  ServeSourceFs& owner_;
  std::unique_ptr<RemoteFile> file_;
  std::string rel_, path_;
  std::shared_ptr<Replies> replies_;
  uint32_t chunk_ = 0;
  uint64_t next_offset_ = 0, next_seq_ = 0, consumed_ = 0;
  bool eof_ = false, big_ = false;
  bool matched_ = false;
  LocalStat after_;
};

}  // namespace

ServeSourceFs::ServeSourceFs(std::unique_ptr<ServeRemoteFs> fs, std::string root)
    : fs_(std::move(fs)), root_(std::move(root)) {}
ServeSourceFs::~ServeSourceFs() = default;

Result<std::unique_ptr<ServeSourceFs>> ServeSourceFs::Create(std::unique_ptr<ServeRemoteFs> fs) {
  auto r = fs->Call(Op::kSourceRoot, std::string());
  if (!r.ok()) {
    if (r.status().Is(Code::kUnsupported))
      return Status::Unsupported(
          "the skiff serve endpoint does not support pull backups (update skiff there): " +
          r.status().message());
    return r.status().WithContext("asking the serve endpoint for its root");
  }
  PayloadReader rd(*r);
  std::string root(rd.Str());
  SKIFF_RETURN_IF_ERROR(rd.Finish("source-root reply"));
  if (root.empty() || root[0] != '/')
    return Status::Corrupt("the serve endpoint named its root '" + root + "'");
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return std::unique_ptr<ServeSourceFs>(new ServeSourceFs(std::move(fs), std::move(root)));
}

Result<std::string> ServeSourceFs::ToRel(const std::string& path) const {
  std::string_view rest;
  if (root_ == "/" && !path.empty() && path[0] == '/') {
    rest = path;
  } else if (path == root_) {
    return std::string();
  } else if (path.size() > root_.size() && path.compare(0, root_.size(), root_) == 0 &&
             path[root_.size()] == '/') {
    rest = std::string_view(path).substr(root_.size());
  } else {
    return Status::Permission(path + " is outside " + root_ +
                              ", the only directory this serve key gives access to");
  }
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  return std::string(rest);
}

Result<LocalStat> ServeSourceFs::Lstat(const std::string& path) {
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = stats_.find(path);
    if (it != stats_.end()) {
      LocalStat st = it->second;
      stats_.erase(it);
      return st;
    }
  }
  SKIFF_ASSIGN_OR_RETURN(std::string rel, ToRel(path));
  SKIFF_ASSIGN_OR_RETURN(std::string r,
                         fs_->Call(Op::kSourceLstat, PayloadWriter().Str(rel).Take()));
  PayloadReader rd(r);
  LocalStat st = GetLocalStat(rd);
  SKIFF_RETURN_IF_ERROR(rd.Finish("source-lstat reply"));
  return st;
}

Result<std::vector<std::string>> ServeSourceFs::ListDir(const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(std::string rel, ToRel(path));
  std::vector<std::string> names;
  std::map<std::string, LocalStat> stats;
  std::map<std::string, std::string> links;
  for (uint32_t start = 0;;) {
    auto r = fs_->Call(Op::kSourceList, PayloadWriter().Str(rel).U32(start).Take());
    if (!r.ok()) return r.status().WithContext("listing " + path);
    PayloadReader rd(*r);
    bool more = rd.U8() != 0;
    uint32_t n = rd.U32();
    for (uint32_t i = 0; i < n && rd.ok(); ++i) {
      std::string name(rd.Str());
      LocalStat st = GetLocalStat(rd);
      std::string_view link = rd.Str();
      if (!rd.ok()) break;
      if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
        return Status::Corrupt("listing " + path + ": the server sent the name '" + name + "'");
      std::string child = path + "/" + name;
      stats[child] = st;
      if (!link.empty()) links[child] = std::string(link);
      names.push_back(std::move(name));
    }
    SKIFF_RETURN_IF_ERROR(rd.Finish("source-list reply"));
    if (!more) break;
    if (n == 0) return Status::Corrupt("listing " + path + ": an empty batch that is not the last");
    start += n;
  }
  std::lock_guard<std::mutex> l(mu_);
  stats_.merge(stats);
  for (auto& [k, v] : stats) stats_[k] = v;  // replace entries left from an earlier listing
  links_.merge(links);
  for (auto& [k, v] : links) links_[k] = v;
  return names;
}

Result<std::string> ServeSourceFs::Readlink(const std::string& path) {
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = links_.find(path);
    if (it != links_.end()) {
      std::string t = std::move(it->second);
      links_.erase(it);
      return t;
    }
  }
  SKIFF_ASSIGN_OR_RETURN(std::string rel, ToRel(path));
  return fs_->Readlink(rel);
}

Result<std::unique_ptr<LocalReader>> ServeSourceFs::OpenRead(const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(std::string rel, ToRel(path));
  SKIFF_ASSIGN_OR_RETURN(auto file, fs_->Open(rel, OpenFlags::kRead));
  return std::unique_ptr<LocalReader>(
      std::make_unique<ServeSourceReader>(*this, std::move(file), std::move(rel), path));
}

void ServeSourceFs::AcquireDelta() {
  std::unique_lock<std::mutex> l(delta_mu_);
  delta_cv_.wait(l, [&] { return deltas_ < kMaxDeltas; });
  ++deltas_;
}

void ServeSourceFs::ReleaseDelta() {
  std::lock_guard<std::mutex> l(delta_mu_);
  --deltas_;
  delta_cv_.notify_one();
}

Status ServeSourceFs::ReadOnly(const std::string& what) const {
  return Status::Permission(what + ": a pulled source (" + root_ + " through skiff serve) is " +
                            "only read");
}

Status ServeSourceFs::MakeRoot(const std::string& root) { return ReadOnly("creating " + root); }
Status ServeSourceFs::MkdirUnder(const std::string& root, const std::string& rel) {
  return ReadOnly("creating " + root + "/" + rel);
}
Result<std::unique_ptr<LocalWriter>> ServeSourceFs::CreateUnder(const std::string& root,
                                                                const std::string& rel) {
  return ReadOnly("creating " + root + "/" + rel);
}
Status ServeSourceFs::SymlinkUnder(const std::string& root, const std::string& rel,
                                   const std::string&) {
  return ReadOnly("creating " + root + "/" + rel);
}
Status ServeSourceFs::LinkUnder(const std::string& root, const std::string&,
                                const std::string& rel) {
  return ReadOnly("linking " + root + "/" + rel);
}
Status ServeSourceFs::SetMetaUnder(const std::string& root, const std::string& rel,
                                   const LocalMeta&, bool) {
  return ReadOnly("changing " + root + "/" + rel);
}

}  // namespace skiff::sync
