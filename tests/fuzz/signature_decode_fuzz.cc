// Fuzzes FileSignature::Decode with hostile bytes: it must return a Status (never crash,
// never allocate from an unchecked count), and whatever it accepts must be a consistent
// signature that re-encodes to the same bytes and that a DeltaMatcher can run on, emitting
// copies only inside the described base.
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sync/delta_matcher.h"
#include "sync/signature.h"

using namespace skiff;

namespace {
class BoundsSink : public DeltaSink {
 public:
  explicit BoundsSink(uint64_t base_size) : base_size_(base_size) {}
  Status Copy(uint64_t off, uint64_t len) override {
    if (len == 0 || off > base_size_ || len > base_size_ - off) std::abort();
    total += len;
    return Status::Ok();
  }
  Status Literal(std::string_view b) override {
    if (b.empty()) std::abort();
    total += b.size();
    return Status::Ok();
  }
  uint64_t total = 0;

 private:
  uint64_t base_size_;
};

void DecodeOne(std::string_view in) {
  auto sig = FileSignature::Decode(in);
  if (!sig.ok()) {
    if (sig.status().code() != Code::kCorrupt || sig.status().message().empty()) std::abort();
    return;
  }
  if (!sig->Validate().ok()) std::abort();
  if (sig->Encode() != in) std::abort();
  // Match the input itself against the decoded signature.
  BoundsSink sink(sig->file_size);
  DeltaMatcher matcher(*sig, sink);
  if (!matcher.Update(in).ok() || !matcher.Finish().ok()) std::abort();
  if (sink.total != in.size()) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  DecodeOne(in);
  // The fuzzer cannot forge the trailing hash; also try the input with a correct one, so
  // the checks behind it (counts, sizes) get explored.
  if (in.size() >= 8) {
    std::string fixed(in);
    const uint64_t h = XXH3_64bits(fixed.data(), fixed.size() - 8);
    for (int i = 0; i < 8; ++i) fixed[fixed.size() - 8 + i] = static_cast<char>(h >> (8 * i));
    DecodeOne(fixed);
  }
  return 0;
}
