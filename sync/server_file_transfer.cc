#include "sync/server_file_transfer.h"

#include "sync/content_hash.h"
#include "sync/delta_matcher.h"
#include "sync/signature.h"

namespace skiff::sync {
namespace {

constexpr size_t kReadChunk = 1 << 20;

class BuildSink : public DeltaSink {
 public:
  explicit BuildSink(RemoteBuild& b) : b_(b) {}
  Status Copy(uint64_t off, uint64_t len) override {
    copied_ += len;
    return b_.Copy(off, len);
  }
  Status Literal(std::string_view d) override { return b_.Literal(d); }
  uint64_t copied() const { return copied_; }

 private:
  RemoteBuild& b_;
  uint64_t copied_ = 0;
};

// One attempt; `use_base` false sends literals only.
Result<std::optional<FileResult>> Attempt(ServerBuildFs& server, LocalFs& local,
                                          const ServerTransfer& t, bool use_base,
                                          const std::function<void(const std::string&)>& warn) {
  auto reader = local.OpenRead(t.local);
  if (!reader.ok()) {
    warn(reader.status().Is(Code::kNotFound)
             ? "vanished during backup: " + t.local
             : "cannot read " + t.local + ": " + reader.status().ToString());
    return std::optional<FileResult>();
  }
  std::optional<FileSignature> sig;
  if (use_base && !t.base.empty()) {
    // No signature (a write-only key asked to compute one, a base gone): upload.
    auto bytes = server.BaseSignature(t.base, t.stored_sig, 0);
    if (bytes.ok()) {
      auto decoded = FileSignature::Decode(*bytes);
      if (decoded.ok()) sig = std::move(*decoded);
    }
  }
  BuildSpec spec;
  spec.base = sig ? t.base : "";
  spec.tmp = t.tmp;
  spec.dst = t.dst;
  spec.replace = t.replace;
  spec.sig_block_size = t.sig_block_size;
  spec.sig_tmp = t.sig_tmp;
  if (sig) spec.base_sig = t.stored_sig;
  auto build = server.BeginBuild(spec);
  BuildSink sink(*build);
  std::optional<DeltaMatcher> matcher;
  if (sig) matcher.emplace(*sig, sink);
  ContentHasher hasher;
  FileResult r;
  Status failed;
  while (failed.ok()) {
    auto chunk = (*reader)->Read(kReadChunk);
    if (!chunk.ok()) {
      failed = chunk.status();
      break;
    }
    if (chunk->empty()) break;
    hasher.Update(*chunk);
    r.size += chunk->size();
    failed = matcher ? matcher->Update(*chunk) : build->Literal(*chunk);
  }
  if (failed.ok() && matcher) failed = matcher->Finish();
  if (!failed.ok()) return failed.WithContext("backing up " + t.local);
  r.hash = hasher.HexDigest();
  auto stored = build->Commit(r.size, r.hash, t.attr, t.sig_path(r.hash));
  if (!stored.ok()) {
    if (sig && stored.status().Is(Code::kCorrupt)) {
      warn("the delta of " + t.local + " did not rebuild it (" + stored.status().message() +
           "); uploading it whole");
      return Attempt(server, local, t, false, warn);
    }
    return stored.status().WithContext("backing up " + t.local);
  }
  auto after = (*reader)->Stat();
  if (after.ok() && (after->size != t.st.size || after->mtime != t.st.mtime || r.size != t.st.size))
    warn("changed during backup (the snapshot holds what was read): " + t.local);
  r.delta = matcher.has_value();
  r.bytes_copied = sink.copied();
  r.bytes_sent = build->literal_bytes();
  r.has_signature = *stored && r.size >= kDeltaMinSize;
  return std::optional<FileResult>(std::move(r));
}

}  // namespace

Result<std::optional<FileResult>> TransferThroughServer(
    ServerBuildFs& server, LocalFs& local, const ServerTransfer& t,
    const std::function<void(const std::string&)>& warn) {
  return Attempt(server, local, t, true, warn);
}

}  // namespace skiff::sync
