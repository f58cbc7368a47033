#include "sync/serve_build_handlers.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <optional>

#include "sync/content_hash.h"
#include "sync/signature.h"

namespace skiff::sync {

using serve::Op;
using serve::PayloadReader;
using serve::PayloadWriter;

namespace {

// Literal or copied pieces of at least this size that are all zero are not written, so
// holes stay holes (the final ftruncate sets the size).
constexpr size_t kHoleMin = 4096;
constexpr size_t kCopyChunk = 1 << 20;

bool AllZero(std::string_view d) {
  return d.size() >= kHoleMin && d.find_first_not_of('\0') == std::string_view::npos;
}

Status PwriteAll(int fd, std::string_view d, uint64_t off, const std::string& what) {
  while (!d.empty()) {
    ssize_t n = pwrite(fd, d.data(), d.size(), static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "writing " + what);
    d.remove_prefix(static_cast<size_t>(n));
    off += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

Status PreadAll(int fd, char* p, size_t len, uint64_t off, const std::string& what) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, p + got, len - got, static_cast<off_t>(off + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "reading " + what);
    if (n == 0) return Status::Corrupt(what + " ended while it was read");
    got += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

struct ServeBuildHandlers::Build {
  int base = -1, out = -1;
  uint64_t base_size = 0;
  ConfinedPath tmp, dst;
  uint64_t offset = 0;
  ContentHasher hasher;
  // The new content's signature: the entries of the blocks before `sig`'s, then `sig`,
  // which computes the blocks since the last entry reused from base_sig.
  std::optional<SignatureBuilder> sig;
  std::vector<BlockSignature> sig_blocks;
  uint64_t sig_block_size = 0;
  // The base's stored signature at the same block size (kBaseSig), when it was valid
  // for the base: a whole block copied from a block boundary of the base to one of the
  // new file takes the base's entry instead of hashing it again.
  std::optional<FileSignature> base_sig;
  bool replace = false;      // kReplace: an existing dst is replaced at the end
  bool tmp_created = false;  // tmp is ours (created exclusively) until it is renamed
  dev_t dev = 0;             // tmp's identity, for RevokePublished
  ino_t ino = 0;
  // Set (under the server's exclusive publish lock) once tmp, or a directory holding it,
  // was published: the build's later requests are refused and its file left alone.
  std::atomic<bool> revoked{false};
  ~Build() {
    if (base >= 0) close(base);
    if (out >= 0) close(out);
  }
  // Feeds the bytes just placed at the end of the file to the hash and signature;
  // `base_off`: where they were copied from in the base (literals: none).
  void Account(std::string_view d, std::optional<uint64_t> base_off = std::nullopt) {
    hasher.Update(d);
    if (!sig) {
      offset += d.size();
      return;
    }
    const uint64_t bs = sig_block_size;
    while (!d.empty()) {
      if (base_off && base_sig && offset % bs == 0 && *base_off % bs == 0 && d.size() >= bs &&
          *base_off / bs < base_sig->blocks.size() && base_sig->BlockLength(*base_off / bs) == bs) {
        // The pending computed blocks are whole here (offset is on a boundary).
        for (const auto& b : sig->Finish().blocks) sig_blocks.push_back(b);
        sig_blocks.push_back(base_sig->blocks[*base_off / bs]);
        d.remove_prefix(bs);
        offset += bs;
        *base_off += bs;
      } else {
        // Up to the next block boundary of the new file, where reuse may start again.
        size_t n = static_cast<size_t>(std::min<uint64_t>(d.size(), bs - offset % bs));
        if (!base_off || !base_sig) n = d.size();
        sig->Update(d.substr(0, n));
        d.remove_prefix(n);
        offset += n;
        if (base_off) *base_off += n;
      }
    }
    if (offset / bs > kMaxSignatureBlocks) sig.reset();  // too big to keep
  }
  // The new content's signature (sig must be set); ends the builder.
  FileSignature FinishSignature() {
    FileSignature tail = sig->Finish();
    FileSignature out;
    out.block_size = static_cast<uint32_t>(sig_block_size);
    out.file_size = offset;
    out.blocks = std::move(sig_blocks);
    out.blocks.insert(out.blocks.end(), tail.blocks.begin(), tail.blocks.end());
    return out;
  }
};

ServeBuildHandlers::ServeBuildHandlers(const ConfinedRoot& root, const ServePolicy& policy)
    : root_(root), policy_(policy) {}
ServeBuildHandlers::~ServeBuildHandlers() = default;

bool ServeBuildHandlers::Handles(Op op) {
  return op == Op::kBaseSignature || op == Op::kBuild || op == Op::kLinkBatch;
}

Result<std::string> ServeBuildHandlers::Handle(Op op, PayloadReader& r) {
  switch (op) {
    case Op::kBaseSignature:
      return BaseSignature(r);
    case Op::kBuild:
      return DoBuild(r);
    case Op::kLinkBatch:
      return LinkBatch(r);
    default:
      break;
  }
  return Status::Unsupported("serve protocol: not a server-side delta request");
}

Result<int> ServeBuildHandlers::OpenNoFollow(const ConfinedPath& p, int flags) const {
  if (p.is_root()) return Status{Code::kIsDirectory, "the serve root is a directory"};
  SKIFF_ASSIGN_OR_RETURN(int dir, root_.OpenParent(p));
  FdCloser c{dir};
  int fd = openat(dir, p.name().c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, p.rel);
  return fd;
}

Result<std::string> ServeBuildHandlers::BaseSignature(PayloadReader& r) {
  std::string_view base_s = r.Str();
  std::string_view stored_s = r.Str();
  uint32_t block = r.U32();
  uint64_t offset = r.U64();
  if (!r.ok()) return std::string();
  std::string key =
      std::string(base_s) + '\0' + std::string(stored_s) + '\0' + std::to_string(block);
  if (offset == 0 || key != sig_key_) {
    if (offset != 0) return Status::Invalid("base signature continued without its first request");
    sig_key_.clear();
    sig_.clear();
    SKIFF_ASSIGN_OR_RETURN(ConfinedPath base, ConfinedRoot::ParsePath(base_s));
    SKIFF_ASSIGN_OR_RETURN(int bfd, OpenNoFollow(base, O_RDONLY | O_NONBLOCK));
    FdCloser bc{bfd};
    struct stat bst;
    if (fstat(bfd, &bst) != 0) return ErrnoStatus(errno, base.rel);
    if (!S_ISREG(bst.st_mode)) return Status{Code::kIsDirectory, base.rel + " is not a file"};
    const uint64_t size = static_cast<uint64_t>(bst.st_size);
    if (!stored_s.empty()) {
      SKIFF_ASSIGN_OR_RETURN(ConfinedPath stored, ConfinedRoot::ParsePath(stored_s));
      SKIFF_RETURN_IF_ERROR(policy_.CheckReadData(stored));
      auto sfd = OpenNoFollow(stored, O_RDONLY | O_NONBLOCK);
      struct stat sst;
      if (sfd.ok()) {
        FdCloser sc{*sfd};
        if (fstat(*sfd, &sst) == 0 && S_ISREG(sst.st_mode) &&
            static_cast<uint64_t>(sst.st_size) <= 40 + 12 * kMaxSignatureBlocks) {
          std::string bytes(static_cast<size_t>(sst.st_size), '\0');
          if (PreadAll(*sfd, bytes.data(), bytes.size(), 0, stored.rel).ok()) {
            auto sig = FileSignature::Decode(bytes);
            if (sig.ok() && sig->file_size == size) sig_ = std::move(bytes);
          }
        }
      }
    }
    if (sig_.empty()) {
      // Computed here: that reads the file's content (never sent; only block hashes are),
      // which a write-only key may not.
      SKIFF_RETURN_IF_ERROR(policy_.CheckReadData(base));
      uint32_t bs = block == 0 ? ChooseBlockSize(size)
                               : std::clamp<uint32_t>(block, kMinBlockSize, kMaxBlockSize);
      if (size / bs > kMaxSignatureBlocks)
        return Status::Invalid(base.rel + " is too large for a computed signature");
      SignatureBuilder sb(bs);
      std::string buf(kCopyChunk, '\0');
      for (uint64_t off = 0; off < size;) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(kCopyChunk, size - off));
        SKIFF_RETURN_IF_ERROR(PreadAll(bfd, buf.data(), n, off, base.rel));
        sb.Update(std::string_view(buf.data(), n));
        off += n;
      }
      sig_ = sb.Finish().Encode();
    }
    sig_key_ = std::move(key);
  }
  if (offset > sig_.size()) return Status::Invalid("base signature offset past its end");
  return PayloadWriter()
      .U64(sig_.size())
      .Str(std::string_view(sig_).substr(static_cast<size_t>(offset), kSignatureChunk))
      .Take();
}

bool ServeBuildHandlers::WellFormedBuild(std::string_view payload, uint32_t* id) {
  PayloadReader r(payload);
  *id = r.U32();
  uint8_t flags = r.U8();
  if (flags & kBegin) {
    r.Str(), r.Str(), r.Str();
    r.U32();
    if (flags & kBaseSig) r.Str();
  }
  if (flags & kAbort) return r.done();
  uint32_t n = r.U32();
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    uint8_t kind = r.U8();
    if (kind == 0) {
      r.U64(), r.U64();
    } else if (kind == 1) {
      r.Str();
    } else if (kind == 2) {
      r.U64();
      r.Str();
    } else {
      return r.ok();  // the build fails with "unknown build instruction"
    }
  }
  if (flags & kEnd) {
    r.U64();
    r.Str();
    r.Attr();
    r.Str(), r.Str();
  }
  return r.done();
}

void ServeBuildHandlers::RevokePublished(const struct stat& published) {
  std::lock_guard<std::mutex> l(builds_mu_);
  for (auto& [id, b] : builds_)
    if (S_ISDIR(published.st_mode) || (b->dev == published.st_dev && b->ino == published.st_ino))
      b->revoked = true;
}

void ServeBuildHandlers::Drop(uint32_t id) {
  std::unique_ptr<Build> owned;
  {
    std::lock_guard<std::mutex> l(builds_mu_);
    auto it = builds_.find(id);
    if (it == builds_.end()) return;
    owned = std::move(it->second);
    builds_.erase(it);
  }
  Build& b = *owned;
  if (b.tmp_created) {
    // The scratch file goes with the build (it was created by it, exclusively).
    if (auto dir = root_.OpenParent(b.tmp); dir.ok()) {
      unlinkat(*dir, b.tmp.name().c_str(), 0);
      close(*dir);
    }
  }
}

Result<std::string> ServeBuildHandlers::DoBuild(PayloadReader& r) {
  uint32_t id = r.U32();
  uint8_t flags = r.U8();
  if (!r.ok()) return std::string();
  if (flags & kBegin) {
    {
      std::lock_guard<std::mutex> l(builds_mu_);
      if (builds_.count(id)) return Status::Invalid("build " + std::to_string(id) + " exists");
    }
    Status st = BeginBuild(id, r, flags & kReplace, flags & kBaseSig);
    if (!r.ok()) return std::string();
    if (!st.ok()) {
      Drop(id);
      return st;
    }
  }
  Build* found = nullptr;
  {
    std::lock_guard<std::mutex> l(builds_mu_);
    auto it = builds_.find(id);
    if (it != builds_.end()) found = it->second.get();
  }
  // Only this build's own (ordered) requests remove it, so `b` stays valid here.
  if (!found) return Status::Invalid("no build " + std::to_string(id));
  Build& b = *found;
  if (b.revoked) {
    b.tmp_created = false;  // published: no longer ours to remove
    std::string what = b.tmp.rel;
    Drop(id);
    return Status::Permission(what +
                              " was published while it was being built; the build is revoked");
  }
  if (flags & kAbort) {
    Drop(id);
    return std::string();
  }
  Status st = Apply(b, r);
  if (!r.ok()) return std::string();
  if (!st.ok()) {
    std::string what = "building " + b.dst.rel;
    Drop(id);
    return st.WithContext(what);
  }
  if (!(flags & kEnd)) return std::string();
  auto res = EndBuild(b, r, flags & kSync);
  if (!r.ok()) return std::string();
  if (!res.ok()) {
    std::string what = "building " + b.dst.rel;
    Drop(id);
    return res.status().WithContext(what);
  }
  {
    std::lock_guard<std::mutex> l(builds_mu_);
    builds_.erase(id);  // complete: tmp was renamed to dst
  }
  return res;
}

Status ServeBuildHandlers::BeginBuild(uint32_t id, PayloadReader& r, bool replace,
                                      bool with_base_sig) {
  std::string_view base_s = r.Str();
  std::string_view tmp_s = r.Str();
  std::string_view dst_s = r.Str();
  uint32_t sig_block = r.U32();
  std::string_view base_sig_s = with_base_sig ? r.Str() : std::string_view();
  if (!r.ok()) return Status::Ok();
  {
    std::lock_guard<std::mutex> l(builds_mu_);
    if (builds_.size() >= kMaxBuilds)
      return Status::Invalid("too many builds at once (limit " + std::to_string(kMaxBuilds) + ")");
  }
  auto b = std::make_unique<Build>();
  b->replace = replace;
  SKIFF_ASSIGN_OR_RETURN(b->tmp, ConfinedRoot::ParsePath(tmp_s));
  SKIFF_ASSIGN_OR_RETURN(b->dst, ConfinedRoot::ParsePath(dst_s));
  if (b->tmp.is_root() || b->dst.is_root()) return Status::Invalid("cannot build the serve root");
  SKIFF_RETURN_IF_ERROR(policy_.CheckRename(b->tmp, b->dst, false));
  if (policy_.mode() != serve::Mode::kFull && policy_.Publishes(b->tmp, b->dst))
    return Status::Permission(b->dst.rel + ": a build cannot publish (rename it instead)");
  if (!base_s.empty()) {
    SKIFF_ASSIGN_OR_RETURN(ConfinedPath base, ConfinedRoot::ParsePath(base_s));
    SKIFF_ASSIGN_OR_RETURN(b->base, OpenNoFollow(base, O_RDONLY | O_NONBLOCK));
    struct stat st;
    if (fstat(b->base, &st) != 0) return ErrnoStatus(errno, base.rel);
    if (!S_ISREG(st.st_mode)) return Status{Code::kIsDirectory, base.rel + " is not a file"};
    b->base_size = static_cast<uint64_t>(st.st_size);
  }
  const uint32_t flags = OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kExclusive;
  auto existing = root_.Lstat(b->tmp);
  if (!existing.ok() && !existing.status().Is(Code::kNotFound)) return existing.status();
  SKIFF_RETURN_IF_ERROR(policy_.CheckOpen(b->tmp, flags, existing.ok() ? &*existing : nullptr));
  SKIFF_ASSIGN_OR_RETURN(int out, OpenNoFollow(b->tmp, O_WRONLY | O_CREAT | O_EXCL));
  b->out = out;
  b->tmp_created = true;
  Build* raw = b.get();
  {
    // From here on a failure drops it (and its tmp). Two builds that passed the limit
    // check together may exceed it by the number of worker threads.
    std::lock_guard<std::mutex> l(builds_mu_);
    builds_[id] = std::move(b);
  }
  auto& bb = *raw;
  struct stat ost;
  if (fstat(out, &ost) != 0) return ErrnoStatus(errno, bb.tmp.rel);
  bb.dev = ost.st_dev;
  bb.ino = ost.st_ino;
  SKIFF_RETURN_IF_ERROR(policy_.CheckWriteHandle(bb.tmp, ost));
  if (sig_block != 0) {
    bb.sig_block_size = std::clamp<uint32_t>(sig_block, kMinBlockSize, kMaxBlockSize);
    bb.sig.emplace(static_cast<uint32_t>(bb.sig_block_size));
    if (bb.base >= 0 && !base_sig_s.empty()) {
      auto stored = ReadStoredSignature(base_sig_s, kMaxReusedSignatureBytes);
      if (stored && stored->file_size == bb.base_size && stored->block_size == bb.sig_block_size)
        bb.base_sig = std::move(stored);
    }
  }
  return Status::Ok();
}

std::optional<FileSignature> ServeBuildHandlers::ReadStoredSignature(std::string_view path,
                                                                     uint64_t max_bytes) const {
  auto p = ConfinedRoot::ParsePath(path);
  if (!p.ok() || !policy_.CheckReadData(*p).ok()) return std::nullopt;
  auto fd = OpenNoFollow(*p, O_RDONLY | O_NONBLOCK);
  if (!fd.ok()) return std::nullopt;
  FdCloser c{*fd};
  struct stat st;
  if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > max_bytes)
    return std::nullopt;
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  if (!PreadAll(*fd, bytes.data(), bytes.size(), 0, p->rel).ok()) return std::nullopt;
  auto sig = FileSignature::Decode(bytes);
  if (!sig.ok()) return std::nullopt;
  return std::move(*sig);
}

Status ServeBuildHandlers::Apply(Build& b, PayloadReader& r) {
  uint32_t n = r.U32();
  std::string buf;
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    uint8_t kind = r.U8();
    if (kind == 0) {
      uint64_t off = r.U64();
      uint64_t len = r.U64();
      if (!r.ok()) break;
      if (b.base < 0) return Status::Invalid("copy instruction in a build without a base");
      if (off > b.base_size || len > b.base_size - off)
        return Status::Corrupt("copy instruction past the end of the base");
      if (buf.empty() && len > 0) buf.resize(kCopyChunk);
      while (len > 0) {
        size_t piece = static_cast<size_t>(std::min<uint64_t>(len, kCopyChunk));
        SKIFF_RETURN_IF_ERROR(PreadAll(b.base, buf.data(), piece, off, "the base"));
        std::string_view d(buf.data(), piece);
        if (!AllZero(d)) SKIFF_RETURN_IF_ERROR(PwriteAll(b.out, d, b.offset, b.tmp.rel));
        b.Account(d, off);
        off += piece;
        len -= piece;
      }
    } else if (kind == 1) {
      std::string_view d = r.Str();
      if (!r.ok()) break;
      if (!AllZero(d)) SKIFF_RETURN_IF_ERROR(PwriteAll(b.out, d, b.offset, b.tmp.rel));
      b.Account(d);
    } else if (kind == 2) {
      // A zlib-compressed literal of `raw` bytes; never inflated past that.
      uint64_t raw = r.U64();
      std::string_view z = r.Str();
      if (!r.ok()) break;
      if (raw > kMaxInflated)
        return Status::Corrupt("compressed literal of " + std::to_string(raw) + " bytes");
      std::string d(static_cast<size_t>(raw), '\0');
      uLongf n = static_cast<uLongf>(raw);
      if (uncompress(reinterpret_cast<Bytef*>(d.data()), &n,
                     reinterpret_cast<const Bytef*>(z.data()), z.size()) != Z_OK ||
          n != raw)
        return Status::Corrupt("a compressed literal does not decompress to its length");
      if (!AllZero(d)) SKIFF_RETURN_IF_ERROR(PwriteAll(b.out, d, b.offset, b.tmp.rel));
      b.Account(d);
    } else {
      return Status::Corrupt("unknown build instruction " + std::to_string(kind));
    }
  }
  return Status::Ok();
}

Result<std::string> ServeBuildHandlers::EndBuild(Build& b, PayloadReader& r, bool sync) {
  uint64_t size = r.U64();
  std::string_view hash = r.Str();
  FileAttr a = r.Attr();
  std::string_view sig_path = r.Str();
  std::string_view sig_tmp = r.Str();
  if (!r.ok()) return std::string();
  if (size != b.offset)
    return Status::Corrupt("built " + std::to_string(b.offset) + " bytes, the client sent " +
                           std::to_string(size));
  if (b.hasher.HexDigest() != hash)
    return Status::Corrupt("the rebuilt content does not match the client's hash");
  if (ftruncate(b.out, static_cast<off_t>(size)) != 0) return ErrnoStatus(errno, b.tmp.rel);
  struct stat st;
  if (fstat(b.out, &st) != 0) return ErrnoStatus(errno, b.tmp.rel);
  SKIFF_RETURN_IF_ERROR(policy_.CheckWriteHandle(b.tmp, st));
  if (a.valid & FileAttr::kUidGid) {
    // Owners the account may not set stay in the manifest only (doc/FORMAT.md).
    if (fchown(b.out, a.uid, a.gid) != 0 && errno != EPERM) return ErrnoStatus(errno, b.tmp.rel);
  }
  if (a.valid & FileAttr::kPermissions) {
    mode_t m = a.mode & 07777;
    if (policy_.mode() != serve::Mode::kFull) m &= 0777;  // never setuid/setgid
    if (fchmod(b.out, m) != 0) return ErrnoStatus(errno, b.tmp.rel);
  }
  if (a.valid & FileAttr::kTimes) {
    struct timespec ts[2] = {{a.atime, 0}, {a.mtime, 0}};
    if (futimens(b.out, ts) != 0) return ErrnoStatus(errno, b.tmp.rel);
  }
  if (sync && fsync(b.out) != 0) return ErrnoStatus(errno, "fsync " + b.tmp.rel);
  int rc = close(b.out);
  b.out = -1;
  if (rc != 0) return ErrnoStatus(errno, "closing " + b.tmp.rel);
  SKIFF_ASSIGN_OR_RETURN(int fd, root_.OpenParent(b.tmp));
  FdCloser c1{fd};
  SKIFF_ASSIGN_OR_RETURN(int td, root_.OpenParent(b.dst));
  FdCloser c2{td};
  auto rename = [&] {
    return syscall(SYS_renameat2, fd, b.tmp.name().c_str(), td, b.dst.name().c_str(),
                   RENAME_NOREPLACE) == 0;
  };
  bool renamed = rename();
  if (!renamed && errno == EEXIST && b.replace) {
    // Resume: what an interrupted run left at dst goes, if the policy allows it.
    struct stat dst_st;
    if (fstatat(td, b.dst.name().c_str(), &dst_st, AT_SYMLINK_NOFOLLOW) == 0 &&
        !S_ISDIR(dst_st.st_mode)) {
      SKIFF_RETURN_IF_ERROR(policy_.CheckRemove(b.dst, false));
      if (unlinkat(td, b.dst.name().c_str(), 0) == 0) renamed = rename();
    } else {
      errno = EEXIST;
    }
  }
  if (!renamed) return ErrnoStatus(errno, "renaming " + b.tmp.rel + " to " + b.dst.rel);
  b.tmp_created = false;
  bool stored = false;
  if (b.sig && !sig_path.empty() && !sig_tmp.empty())
    stored = StoreSignature(b.FinishSignature().Encode(), sig_path, sig_tmp);
  return PayloadWriter().U8(stored).Take();
}

bool ServeBuildHandlers::StoreSignature(const std::string& encoded, std::string_view sig_path,
                                        std::string_view sig_tmp) {
  auto path = ConfinedRoot::ParsePath(sig_path);
  auto tmp = ConfinedRoot::ParsePath(sig_tmp);
  if (!path.ok() || !tmp.ok() || path->is_root() || tmp->is_root()) return false;
  const uint32_t flags = OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kExclusive;
  if (!policy_.CheckOpen(*tmp, flags, nullptr).ok() ||
      !policy_.CheckRename(*tmp, *path, false).ok())
    return false;
  // The signature directory (.skiff/sigs/xx) may not exist yet.
  ConfinedPath parent = *path;
  parent.parts.pop_back();
  parent.rel = path->parent_rel();
  if (!parent.is_root() && !root_.Lstat(parent).ok()) {
    if (!policy_.CheckMkdir(parent).ok()) return false;
    auto pd = root_.OpenParent(parent);
    if (!pd.ok()) return false;
    int rc = mkdirat(*pd, parent.name().c_str(), 0700);
    int e = errno;
    close(*pd);
    if (rc != 0 && e != EEXIST) return false;
  }
  auto out = OpenNoFollow(*tmp, O_WRONLY | O_CREAT | O_EXCL);
  if (!out.ok()) return false;
  bool ok = PwriteAll(*out, encoded, 0, tmp->rel).ok();
  ok = close(*out) == 0 && ok;
  auto fd = root_.OpenParent(*tmp);
  if (!fd.ok()) return false;
  FdCloser c1{*fd};
  auto td = root_.OpenParent(*path);
  if (!td.ok()) {
    unlinkat(*fd, tmp->name().c_str(), 0);
    return false;
  }
  FdCloser c2{*td};
  if (ok && syscall(SYS_renameat2, *fd, tmp->name().c_str(), *td, path->name().c_str(),
                    RENAME_NOREPLACE) == 0)
    return true;
  // An existing signature of the same content is as good as ours.
  bool exists = ok && errno == EEXIST;
  unlinkat(*fd, tmp->name().c_str(), 0);
  return exists;
}

Result<std::string> ServeBuildHandlers::LinkBatch(PayloadReader& r) {
  uint32_t n = r.U32();
  if (!r.ok()) return std::string();
  if (n > kMaxLinks)
    return Status::Invalid("link batch of " + std::to_string(n) + " items (limit " +
                           std::to_string(kMaxLinks) + ")");
  std::string from, to;
  PayloadWriter out;
  out.U32(n);
  auto next = [&](std::string& path) -> Status {
    uint32_t keep = r.U8();
    keep = (keep << 8) | r.U8();
    std::string_view tail = r.Str();
    if (!r.ok()) return Status::Ok();
    if (keep > path.size() || keep + tail.size() > kMaxPath)
      return Status::Corrupt("serve protocol: bad path compression in a link batch");
    path.resize(keep);
    path.append(tail);
    return Status::Ok();
  };
  for (uint32_t i = 0; i < n; ++i) {
    SKIFF_RETURN_IF_ERROR(next(from));
    SKIFF_RETURN_IF_ERROR(next(to));
    if (!r.ok()) return std::string();
    Status st = Link(from, to);
    out.U8(static_cast<uint8_t>(st.code()));
    if (!st.ok()) out.Str(std::string_view(st.message()).substr(0, kMaxLinkMessage));
  }
  return out.Take();
}

Status ServeBuildHandlers::Link(std::string_view e, std::string_view s) const {
  SKIFF_ASSIGN_OR_RETURN(ConfinedPath from, ConfinedRoot::ParsePath(e));
  SKIFF_ASSIGN_OR_RETURN(ConfinedPath to, ConfinedRoot::ParsePath(s));
  if (from.is_root() || to.is_root()) return Status::Invalid("cannot link the serve root");
  SKIFF_RETURN_IF_ERROR(policy_.CheckHardlink(from, to));
  SKIFF_ASSIGN_OR_RETURN(int fd, root_.OpenParent(from));
  FdCloser c1{fd};
  SKIFF_ASSIGN_OR_RETURN(int td, root_.OpenParent(to));
  FdCloser c2{td};
  if (linkat(fd, from.name().c_str(), td, to.name().c_str(), 0) != 0)
    return ErrnoStatus(errno, "linking " + to.rel);
  return Status::Ok();
}

}  // namespace skiff::sync
