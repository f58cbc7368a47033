// Helpers shared by the delta tests: deterministic data, a recording sink, and a one-call
// signature -> match -> apply pipeline.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "sync/delta_apply.h"
#include "sync/delta_matcher.h"
#include "sync/signature.h"

namespace skiff::delta_test {

inline std::string RandomBytes(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    for (int k = 0; k < 8; ++k) s[i + k] = static_cast<char>(v >> (8 * k));
  }
  for (; i < n; ++i) s[i] = static_cast<char>(rng());
  return s;
}

struct Op {
  bool copy;
  uint64_t offset;  // copy only
  uint64_t length;
};

// Records the instructions and rebuilds the output from an in-memory base.
class RecordingSink : public DeltaSink {
 public:
  explicit RecordingSink(std::string_view base) : apply_(base, &out_) {}
  Status Copy(uint64_t off, uint64_t len) override {
    if (len == 0) return Status::Invalid("empty copy");
    if (!ops_.empty() && ops_.back().copy && ops_.back().offset + ops_.back().length == off) {
      unmerged_adjacent_copies_++;
    }
    ops_.push_back({true, off, len});
    copied_ += len;
    return apply_.Copy(off, len);
  }
  Status Literal(std::string_view b) override {
    if (b.empty()) return Status::Invalid("empty literal");
    if (b.size() > DeltaMatcher::kLiteralChunk) return Status::Invalid("literal too large");
    ops_.push_back({false, 0, b.size()});
    literal_ += b.size();
    return apply_.Literal(b);
  }
  const std::vector<Op>& ops() const { return ops_; }
  const std::string& out() const { return out_; }
  uint64_t literal() const { return literal_; }
  uint64_t copied() const { return copied_; }
  int unmerged_adjacent_copies() const { return unmerged_adjacent_copies_; }
  size_t copy_ops() const {
    size_t n = 0;
    for (const Op& o : ops_) n += o.copy;
    return n;
  }

 private:
  std::string out_;
  DeltaApply apply_;
  std::vector<Op> ops_;
  uint64_t literal_ = 0, copied_ = 0;
  int unmerged_adjacent_copies_ = 0;
};

inline FileSignature SignatureOf(std::string_view data, uint32_t block_size) {
  SignatureBuilder b(block_size);
  b.Update(data);
  return b.Finish();
}

// Runs the matcher over `updated`, fed in `chunk`-byte pieces (0 = all at once). The
// matcher also builds the new file's signature (block size `block_size`, so it reuses
// base entries), which must equal SignatureBuilder's over `updated`.
inline Status RunDelta(std::string_view base, std::string_view updated, uint32_t block_size,
                       RecordingSink& sink, size_t chunk = 0) {
  FileSignature sig = SignatureOf(base, block_size);
  DeltaMatcher m(sig, sink, block_size);
  if (chunk == 0) chunk = updated.size() + 1;
  for (size_t i = 0; i < updated.size(); i += chunk) {
    Status st = m.Update(updated.substr(i, chunk));
    if (!st.ok()) return st;
  }
  Status st = m.Finish();
  if (!st.ok()) return st;
  if (m.literal_bytes() != sink.literal() || m.copied_bytes() != sink.copied()) {
    return Status::Io("matcher totals disagree with the sink");
  }
  if (!(m.TakeSignature() == SignatureOf(updated, block_size)))
    return Status::Io("the matcher's new signature differs from SignatureBuilder's");
  return Status::Ok();
}

}  // namespace skiff::delta_test
