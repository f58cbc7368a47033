#include "sync/serve_source_handlers.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <deque>

#include "sync/content_hash.h"
#include "sync/delta_matcher.h"
#include "sync/posix_local_fs.h"
#include "sync/serve_source_protocol.h"
#include "sync/signature.h"

namespace skiff::sync {

using serve::Op;
using serve::PayloadReader;
using serve::PayloadWriter;

namespace {

// File bytes read per pread while matching.
constexpr size_t kReadChunk = 256 * 1024;
// A delta-next stops reading once this much output is queued (it is sent over the next
// replies); with records of at most kPiece bytes the queue stays below ~2 MiB.
constexpr size_t kQueueTarget = 1 << 20;
// Literal and signature records carry at most this many bytes each.
constexpr size_t kPiece = 256 * 1024;
// Reply bodies stay below this (a frame holds kMaxData plus headers).
constexpr size_t kReplyBudget = serve::kMaxData - 64;
// A listing batch stops at this many bytes (or kMaxDirBatch entries).
constexpr size_t kListBudget = 512 * 1024;

std::string StatReply(const struct stat& st) {
  PayloadWriter w;
  PutLocalStat(w, LocalStatFromStat(st));
  return w.Take();
}

std::string Shown(const ConfinedPath& p) { return p.rel.empty() ? "." : p.rel; }

// Queues the matcher's instructions as encoded records.
class RecordQueue : public DeltaSink {
 public:
  Status Copy(uint64_t base_offset, uint64_t length) override {
    PayloadWriter w;
    w.U8(static_cast<uint8_t>(DeltaRecord::kCopy)).U64(base_offset).U64(length);
    Push(w.Take());
    return Status::Ok();
  }
  Status Literal(std::string_view bytes) override {
    PutPieces(DeltaRecord::kLiteral, bytes);
    return Status::Ok();
  }
  void PutPieces(DeltaRecord kind, std::string_view bytes) {
    while (!bytes.empty()) {
      std::string_view piece = bytes.substr(0, kPiece);
      Push(PayloadWriter().U8(static_cast<uint8_t>(kind)).Str(piece).Take());
      bytes.remove_prefix(piece.size());
    }
  }
  void Push(std::string rec) {
    bytes_ += rec.size();
    q_.push_back(std::move(rec));
  }
  bool empty() const { return q_.empty(); }
  size_t bytes() const { return bytes_; }
  const std::string& front() const { return q_.front(); }
  void Pop() {
    bytes_ -= q_.front().size();
    q_.pop_front();
  }

 private:
  std::deque<std::string> q_;
  size_t bytes_ = 0;
};

}  // namespace

struct ServeSourceHandlers::Job {
  ~Job() {
    if (fd >= 0) close(fd);
  }
  int fd = -1;
  std::string rel;
  uint32_t sig_block_size = 0;  // 0: the new file's signature is not wanted (else the
                                // matcher builds it)
  uint64_t base_len = 0;        // announced length of the base signature
  std::string base;             // the base signature while it arrives
  bool started = false;         // base complete, matcher built
  RecordQueue out;
  std::unique_ptr<DeltaMatcher> matcher;
  ContentHasher hasher;
  uint64_t offset = 0;
  bool ended = false;  // the end record is queued
};

ServeSourceHandlers::ServeSourceHandlers(const ConfinedRoot& root, const ServePolicy& policy)
    : root_(root), policy_(policy) {}
ServeSourceHandlers::~ServeSourceHandlers() = default;

bool ServeSourceHandlers::Handles(Op op) {
  switch (op) {
    case Op::kSourceRoot:
    case Op::kSourceLstat:
    case Op::kSourceList:
    case Op::kSourceDeltaOpen:
    case Op::kSourceDeltaSig:
    case Op::kSourceDeltaNext:
    case Op::kSourceDeltaClose:
      return true;
    default:
      return false;
  }
}

bool ServeSourceHandlers::JobOf(uint8_t op, std::string_view payload, uint32_t* job) {
  if (op != static_cast<uint8_t>(Op::kSourceDeltaSig) &&
      op != static_cast<uint8_t>(Op::kSourceDeltaNext) &&
      op != static_cast<uint8_t>(Op::kSourceDeltaClose))
    return false;
  PayloadReader r(payload);
  *job = r.U32();
  return r.ok();
}

Result<std::string> ServeSourceHandlers::Handle(Op op, PayloadReader& r) {
  switch (op) {
    case Op::kSourceRoot:
      return Root();
    case Op::kSourceLstat:
      return Lstat(r);
    case Op::kSourceList:
      return List(r);
    case Op::kSourceDeltaOpen:
      return DeltaOpen(r);
    case Op::kSourceDeltaSig:
      return DeltaSig(r);
    case Op::kSourceDeltaNext:
      return DeltaNext(r);
    case Op::kSourceDeltaClose:
      return DeltaClose(r);
    default:
      return Status::Unsupported("serve protocol: not a pull-source request");
  }
}

Result<std::string> ServeSourceHandlers::Root() {
  char buf[PATH_MAX];
  std::string proc = "/proc/self/fd/" + std::to_string(root_.fd());
  ssize_t n = readlink(proc.c_str(), buf, sizeof buf);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof buf || buf[0] != '/')
    return Status::Io("cannot name the serve root (" + proc + ")");
  return PayloadWriter().Str(std::string_view(buf, static_cast<size_t>(n))).Take();
}

Result<std::string> ServeSourceHandlers::Lstat(PayloadReader& r) {
  std::string_view s = r.Str();
  if (!r.ok()) return std::string();
  SKIFF_ASSIGN_OR_RETURN(ConfinedPath p, ConfinedRoot::ParsePath(s));
  SKIFF_ASSIGN_OR_RETURN(struct stat st, root_.Lstat(p));
  return StatReply(st);
}

Result<std::string> ServeSourceHandlers::List(PayloadReader& r) {
  std::string_view s = r.Str();
  uint32_t start = r.U32();
  if (!r.ok()) return std::string();
  SKIFF_ASSIGN_OR_RETURN(ConfinedPath p, ConfinedRoot::ParsePath(s));
  if (start == 0 || list_path_ != p.rel) {
    list_.clear();
    list_path_.clear();
    if (start != 0) return Status::Invalid("listing batch of " + Shown(p) + " without its start");
    SKIFF_ASSIGN_OR_RETURN(int fd, root_.OpenDir(p));
    DIR* d = fdopendir(fd);
    if (!d) {
      int e = errno;
      close(fd);
      return ErrnoStatus(e, Shown(p));
    }
    while (struct dirent* de = readdir(d)) {
      std::string_view name = de->d_name;
      if (name == "." || name == "..") continue;
      struct stat st;
      if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // vanished
      Listed e{std::string(name), std::string(), LocalStatFromStat(st)};
      if (S_ISLNK(st.st_mode)) {
        char buf[PATH_MAX];
        ssize_t n = readlinkat(dirfd(d), de->d_name, buf, sizeof buf);
        if (n > 0) e.link.assign(buf, static_cast<size_t>(n));  // else: the client asks again
      }
      list_.push_back(std::move(e));
    }
    closedir(d);
    list_path_ = p.rel;
  }
  if (start > list_.size()) return Status::Invalid("listing batch start past the end");
  PayloadWriter body;
  uint32_t n = 0;
  size_t i = start;
  for (; i < list_.size() && n < serve::kMaxDirBatch && body.data().size() < kListBudget;
       ++i, ++n) {
    body.Str(list_[i].name);
    PutLocalStat(body, list_[i].st);
    body.Str(list_[i].link);
  }
  bool more = i < list_.size();
  std::string out = PayloadWriter().U8(more).U32(n).Take();
  out += body.data();
  if (!more) {
    list_.clear();
    list_.shrink_to_fit();
    list_path_.clear();
  }
  return out;
}

Result<std::string> ServeSourceHandlers::DeltaOpen(PayloadReader& r) {
  std::string_view s = r.Str();
  uint32_t block = r.U32();
  uint64_t base_len = r.U64();
  if (!r.ok()) return std::string();
  SKIFF_ASSIGN_OR_RETURN(ConfinedPath p, ConfinedRoot::ParsePath(s));
  if (p.is_root()) return Status{Code::kIsDirectory, "the serve root is a directory"};
  SKIFF_RETURN_IF_ERROR(policy_.CheckReadData(p));
  if (block > kMaxSignatureBlockSize)
    return Status::Invalid("signature block size " + std::to_string(block) + " is too large");
  {
    std::lock_guard<std::mutex> l(mu_);
    if (base_len == 0 || base_len > kMaxSourceSignature - signature_bytes_)
      return Status::Invalid("base signature of " + std::to_string(base_len) +
                             " bytes refused (at most " + std::to_string(kMaxSourceSignature) +
                             " bytes per session)");
    if (jobs_.size() >= kMaxSourceDeltaJobs)
      return Status::Invalid("too many delta jobs at once (limit " +
                             std::to_string(kMaxSourceDeltaJobs) + ")");
  }
  SKIFF_ASSIGN_OR_RETURN(int dir, root_.OpenParent(p));
  int fd = openat(dir, p.name().c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  int e = errno;
  close(dir);
  if (fd < 0) return ErrnoStatus(e, p.rel);
  auto job = std::make_shared<Job>();
  job->fd = fd;
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, p.rel);
  if (!S_ISREG(st.st_mode)) return Status{Code::kIsDirectory, p.rel + " is not a regular file"};
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  job->rel = p.rel;
  job->sig_block_size = block;
  job->base_len = base_len;
  std::lock_guard<std::mutex> l(mu_);  // only this thread adds jobs: the limits still hold
  signature_bytes_ += base_len;
  uint32_t id = next_job_++;
  if (next_job_ == 0) next_job_ = 1;
  jobs_[id] = std::move(job);
  return PayloadWriter().U32(id).Take() + StatReply(st);
}

Result<std::shared_ptr<ServeSourceHandlers::Job>> ServeSourceHandlers::GetJob(uint32_t id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return Status::Invalid("unknown delta job " + std::to_string(id));
  return it->second;
}

void ServeSourceHandlers::EndJob(uint32_t id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  signature_bytes_ -= it->second->base_len;
  jobs_.erase(it);
}

Result<std::string> ServeSourceHandlers::DeltaSig(PayloadReader& r) {
  uint32_t id = r.U32();
  std::string_view chunk = r.Str();
  if (!r.ok()) return std::string();
  SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, GetJob(id));
  if (job->started || chunk.size() > job->base_len - job->base.size()) {
    EndJob(id);
    return Status::Invalid("delta job " + std::to_string(id) +
                           ": more base signature than announced");
  }
  job->base.append(chunk);
  if (job->base.size() < job->base_len) return std::string();
  auto sig = FileSignature::Decode(job->base);
  if (!sig.ok()) {
    Status st = sig.status().WithContext("base signature for " + job->rel);
    EndJob(id);
    return st;
  }
  Status valid = sig->Validate();
  if (!valid.ok()) {
    EndJob(id);
    return valid.WithContext("base signature for " + job->rel);
  }
  job->matcher = std::make_unique<DeltaMatcher>(*sig, job->out, job->sig_block_size);
  {
    std::lock_guard<std::mutex> l(mu_);
    signature_bytes_ -= job->base_len;
    job->base_len = 0;
  }
  std::string().swap(job->base);
  job->started = true;
  return std::string();
}

Result<std::string> ServeSourceHandlers::DeltaNext(PayloadReader& r) {
  uint32_t id = r.U32();
  if (!r.ok()) return std::string();
  SKIFF_ASSIGN_OR_RETURN(std::shared_ptr<Job> job, GetJob(id));
  if (!job->started)
    return Status::Invalid("delta job " + std::to_string(id) + ": base incomplete");
  auto fail = [&](Status st) -> Status {
    st = st.WithContext("matching " + job->rel);
    EndJob(id);
    return st;
  };
  std::string buf;
  uint64_t read_now = 0;
  while (!job->ended && job->out.bytes() < kQueueTarget && read_now < kMaxReadPerNext) {
    if (buf.empty()) buf.resize(kReadChunk);
    ssize_t n = pread(job->fd, buf.data(), buf.size(), static_cast<off_t>(job->offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(ErrnoStatus(errno, "reading " + job->rel));
    if (n == 0) {
      Status fin = job->matcher->Finish();
      if (!fin.ok()) return fail(fin);
      if (job->sig_block_size > 0)
        job->out.PutPieces(DeltaRecord::kSignature, job->matcher->TakeSignature().Encode());
      struct stat st;
      if (fstat(job->fd, &st) != 0) return fail(ErrnoStatus(errno, job->rel));
      PayloadWriter w;
      w.U8(static_cast<uint8_t>(DeltaRecord::kEnd)).Str(job->hasher.HexDigest()).U64(job->offset);
      PutLocalStat(w, LocalStatFromStat(st));
      job->out.Push(w.Take());
      job->ended = true;
      break;
    }
    std::string_view data(buf.data(), static_cast<size_t>(n));
    job->hasher.Update(data);
    Status st = job->matcher->Update(data);
    if (!st.ok()) return fail(st);
    job->offset += static_cast<uint64_t>(n);
    read_now += static_cast<uint64_t>(n);
  }
  std::string body;
  uint32_t n = 0;
  while (!job->out.empty() && (n == 0 || body.size() + job->out.front().size() <= kReplyBudget)) {
    body += job->out.front();
    job->out.Pop();
    ++n;
  }
  bool done = job->ended && job->out.empty();
  if (done) EndJob(id);
  std::string out = PayloadWriter().U8(done).U32(n).Take();
  out += body;
  return out;
}

Result<std::string> ServeSourceHandlers::DeltaClose(PayloadReader& r) {
  uint32_t id = r.U32();
  if (!r.ok()) return std::string();
  EndJob(id);  // an unknown job is fine: it ended with its last reply
  return std::string();
}

}  // namespace skiff::sync
