#include "transport/serve_build.h"

#include <zlib.h>

#include <cstdlib>

#include "transport/serve_remote_fs.h"

namespace skiff {

using serve::Op;
using serve::PayloadReader;
using serve::PayloadWriter;

namespace {
// kBuild flags (sync/serve_build_handlers.h).
constexpr uint8_t kBegin = 1, kEnd = 2, kReplace = 4, kAbort = 8, kSync = 16, kBaseSig = 32;
// Largest literal piece in one instruction: requests stay well below serve::kMaxData.
constexpr size_t kMaxLiteral = 256 * 1024;
}  // namespace

ServeBuild::ServeBuild(ServeRemoteFs& fs, uint32_t id, BuildSpec spec)
    : fs_(fs), id_(id), spec_(std::move(spec)) {
  const char* env = getenv("SKIFF_SERVE_COMPRESS");
  compress_ = !(env && std::string_view(env) == "0");
}

ServeBuild::~ServeBuild() {
  WaitBelow(1).IgnoreError();
  if (begun_ && !done_) {
    // Abandoned: the server drops the build and its tmp (fire and forget).
    fs_.CallAsync(Op::kBuild, PayloadWriter().U32(id_).U8(kAbort).U32(0).Take(),
                  [](Result<std::string>) {});
  }
}

std::string ServeBuild::Request(uint8_t flags) {
  PayloadWriter w;
  w.U32(id_);
  if (!begun_) {
    const bool base_sig = !spec_.base.empty() && !spec_.base_sig.empty() &&
                          spec_.sig_block_size > 0 && fs_.protocol_version() >= 3;
    w.U8(flags | kBegin | (spec_.replace ? kReplace : 0) | (base_sig ? kBaseSig : 0));
    w.Str(spec_.base).Str(spec_.tmp).Str(spec_.dst).U32(spec_.sig_block_size);
    if (base_sig) w.Str(spec_.base_sig);
    begun_ = true;
  } else {
    w.U8(flags);
  }
  w.U32(count_);
  std::string out = w.Take();
  out += body_;
  body_.clear();
  count_ = 0;
  described_ = 0;
  return out;
}

void ServeBuild::EncodePendingCopy() {
  if (copy_len_ == 0) return;
  body_ += PayloadWriter().U8(0).U64(copy_off_).U64(copy_len_).Take();
  ++count_;
  copy_len_ = 0;
}

Status ServeBuild::WaitBelow(int n) {
  std::unique_lock<std::mutex> l(shared_->mu);
  shared_->cv.wait(l, [&] { return shared_->inflight < n; });
  return shared_->error;
}

Status ServeBuild::Send() {
  SKIFF_RETURN_IF_ERROR(WaitBelow(kInFlight));
  {
    std::lock_guard<std::mutex> l(shared_->mu);
    ++shared_->inflight;
  }
  fs_.CallAsync(Op::kBuild, Request(0), [s = shared_](Result<std::string> r) {
    std::lock_guard<std::mutex> l(s->mu);
    if (!r.ok() && s->error.ok()) s->error = r.status();
    --s->inflight;
    s->cv.notify_all();
  });
  return Status::Ok();
}

Status ServeBuild::Copy(uint64_t base_offset, uint64_t length) {
  if (done_) return Status::Invalid("build already committed");
  if (length == 0) return Status::Ok();
  described_ += length;
  if (copy_len_ > 0 && copy_off_ + copy_len_ == base_offset) {
    copy_len_ += length;
  } else {
    EncodePendingCopy();
    copy_off_ = base_offset;
    copy_len_ = length;
  }
  if (described_ >= kDescribedBytes) {
    EncodePendingCopy();
    return Send();
  }
  if (body_.size() >= kRequestBytes) return Send();
  return Status::Ok();
}

Status ServeBuild::Literal(std::string_view bytes) {
  if (done_) return Status::Invalid("build already committed");
  EncodePendingCopy();
  while (!bytes.empty()) {
    std::string_view piece = bytes.substr(0, kMaxLiteral);
    if (compress_ && piece.size() >= kMinCompress) {
      uLongf n = compressBound(piece.size());
      std::string z(n, '\0');
      if (compress2(reinterpret_cast<Bytef*>(z.data()), &n,
                    reinterpret_cast<const Bytef*>(piece.data()), piece.size(),
                    Z_BEST_SPEED) == Z_OK &&
          n < piece.size() - piece.size() / 8) {
        z.resize(n);
        body_ += PayloadWriter().U8(2).U64(piece.size()).Str(z).Take();
      } else {
        // Incompressible (random or already compressed data): stop trying for this file.
        compress_ = false;
        body_ += PayloadWriter().U8(1).Str(piece).Take();
      }
    } else {
      body_ += PayloadWriter().U8(1).Str(piece).Take();
    }
    ++count_;
    literal_bytes_ += piece.size();
    described_ += piece.size();
    bytes.remove_prefix(piece.size());
    if (body_.size() >= kRequestBytes || described_ >= kDescribedBytes)
      SKIFF_RETURN_IF_ERROR(Send());
  }
  return Status::Ok();
}

Result<bool> ServeBuild::Commit(uint64_t size, const std::string& hash, const FileAttr& attr,
                                const std::string& sig_path) {
  if (done_) return Status::Invalid("build already committed");
  EncodePendingCopy();
  std::string req = Request(kEnd | (spec_.sync ? kSync : 0));
  req += PayloadWriter().U64(size).Str(hash).Attr(attr).Str(sig_path).Str(spec_.sig_tmp).Take();
  done_ = true;
  auto r = fs_.Call(Op::kBuild, std::move(req));
  Status earlier = WaitBelow(1);
  // The first failure is the cause; a later one is usually "no build" after it.
  if (!earlier.ok()) return earlier.WithContext("building " + spec_.dst);
  if (!r.ok()) return r.status().WithContext("building " + spec_.dst);
  PayloadReader rd(*r);
  bool stored = rd.U8() != 0;
  SKIFF_RETURN_IF_ERROR(rd.Finish("build reply"));
  return stored;
}

}  // namespace skiff
