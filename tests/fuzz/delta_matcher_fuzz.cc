// Fuzzes the whole delta pipeline against the reference reconstruction: the input makes a
// base file and a new file (either split raw, or the new file built from the base by an
// edit script so that many blocks match), then signature -> encode/decode -> match ->
// apply must rebuild the new file exactly. Any disagreement abort()s.
//
// Input: [mode][block size: 2 bytes][feed chunk: 1 byte][split: 2 bytes][payload...]
//   mode bit 0: 0 = base and new are the payload split at `split`;
//               1 = base is payload[0, split), new is built by the script payload[split..)
//   mode bit 1: block sizes up to 4096 instead of up to 64
//   mode bit 2: the matcher's new-file signature uses another block size than the base's
//               (else the same, where it reuses base entries); either way it must equal
//               SignatureBuilder's over the new file
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sync/delta_apply.h"
#include "sync/delta_matcher.h"
#include "sync/signature.h"

using namespace skiff;

namespace {

class CheckingSink : public DeltaSink {
 public:
  CheckingSink(std::string_view base, std::string* out)
      : apply_(base, out), base_size_(base.size()) {}
  Status Copy(uint64_t off, uint64_t len) override {
    if (len == 0 || off > base_size_ || len > base_size_ - off) std::abort();
    if (last_was_copy_ && last_end_ == off) std::abort();  // adjacent copies must be merged
    last_was_copy_ = true;
    last_end_ = off + len;
    return apply_.Copy(off, len);
  }
  Status Literal(std::string_view b) override {
    if (b.empty() || b.size() > DeltaMatcher::kLiteralChunk) std::abort();
    last_was_copy_ = false;
    return apply_.Literal(b);
  }

 private:
  DeltaApply apply_;
  uint64_t base_size_;
  bool last_was_copy_ = false;
  uint64_t last_end_ = 0;
};

uint32_t U16(std::string_view s, size_t at) {
  return static_cast<uint8_t>(s[at]) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 8);
}

// Builds the new file from the base by a script of ops.
std::string Script(std::string_view base, std::string_view script, uint32_t bs) {
  std::string out;
  size_t i = 0;
  auto next = [&]() -> uint32_t {
    return i < script.size() ? static_cast<uint8_t>(script[i++]) : 0;
  };
  while (i < script.size() && out.size() < (1u << 20)) {
    switch (next() % 4) {
      case 0: {  // a run of base bytes from anywhere
        if (base.empty()) break;
        const uint32_t off = (next() | (next() << 8)) % base.size();
        const uint32_t len = (next() | (next() << 8)) % (4 * bs + 1);
        out.append(base.substr(off, len));
        break;
      }
      case 1: {  // literal bytes from the script
        const uint32_t n = next();
        out.append(script.substr(std::min(i, script.size()), n));
        i += n;
        break;
      }
      case 2: {  // aligned base blocks (the last one may be short)
        if (base.empty()) break;
        const uint64_t blocks = (base.size() + bs - 1) / bs;
        const uint64_t k = (next() | (next() << 8)) % blocks;
        const uint32_t count = 1 + next() % 8;
        out.append(base.substr(k * bs, uint64_t{count} * bs));
        break;
      }
      case 3: {  // one changed byte
        if (!out.empty())
          out[out.size() - 1 - next() % out.size()] ^= static_cast<char>(1 + next() % 255);
        break;
      }
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.size() < 6) return 0;
  const uint8_t mode = static_cast<uint8_t>(in[0]);
  const uint32_t bs = 1 + U16(in, 1) % ((mode & 2) ? 4096 : 64);
  const size_t feed = static_cast<uint8_t>(in[3]);
  const std::string_view payload = in.substr(6);
  const size_t split = U16(in, 4) % (payload.size() + 1);
  const std::string_view base = payload.substr(0, split);
  std::string updated;
  if (mode & 1) {
    updated = Script(base, payload.substr(split), bs);
  } else {
    updated = std::string(payload.substr(split));
  }
  const size_t chunk = feed == 0 ? updated.size() + base.size() + 1 : feed;

  SignatureBuilder builder(bs);
  for (size_t i = 0; i < base.size(); i += chunk) builder.Update(base.substr(i, chunk));
  const FileSignature sig = builder.Finish();
  if (!sig.Validate().ok()) std::abort();
  auto decoded = FileSignature::Decode(sig.Encode());
  if (!decoded.ok() || !(*decoded == sig)) std::abort();

  std::string out;
  CheckingSink sink(base, &out);
  const uint32_t new_bs = (mode & 4) ? 1 + (bs * 7 + 3) % 97 : bs;
  DeltaMatcher matcher(*decoded, sink, new_bs);
  for (size_t i = 0; i < updated.size(); i += chunk) {
    if (!matcher.Update(std::string_view(updated).substr(i, chunk)).ok()) std::abort();
  }
  if (!matcher.Finish().ok()) std::abort();
  if (out != updated) std::abort();
  SignatureBuilder new_builder(new_bs);
  new_builder.Update(updated);
  if (!(matcher.TakeSignature() == new_builder.Finish())) std::abort();
  if (matcher.literal_bytes() + matcher.copied_bytes() != updated.size()) std::abort();
  if (updated == base && !base.empty() && matcher.literal_bytes() != 0) std::abort();
  return 0;
}
