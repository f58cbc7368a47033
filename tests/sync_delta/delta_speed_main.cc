// Hand-run timing of the delta pipeline (not a test): signature building and matching
// over a file of SIZE MiB (default 200) of pseudo-random bytes, unchanged and changed.
//   delta_speed [SIZE_MIB]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "sync/delta_matcher.h"
#include "sync/signature.h"

using namespace skiff;

namespace {

class CountingSink : public DeltaSink {
 public:
  Status Copy(uint64_t, uint64_t len) override {
    copies++;
    copied += len;
    return Status::Ok();
  }
  Status Literal(std::string_view b) override {
    literal += b.size();
    return Status::Ok();
  }
  uint64_t copies = 0, copied = 0, literal = 0;
};

std::string Random(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void Match(const char* name, const FileSignature& sig, const std::string& data) {
  CountingSink sink;
  auto t0 = std::chrono::steady_clock::now();
  DeltaMatcher m(sig, sink);
  constexpr size_t kChunk = 1 << 20;
  for (size_t i = 0; i < data.size(); i += kChunk) {
    if (!m.Update(std::string_view(data).substr(i, kChunk)).ok()) std::abort();
  }
  if (!m.Finish().ok()) std::abort();
  const double s = Seconds(t0);
  std::printf("match %-22s %8.1f MB/s  (%.3f s)  literal %llu B, copies %llu\n", name,
              data.size() / s / 1e6, s, static_cast<unsigned long long>(sink.literal),
              static_cast<unsigned long long>(sink.copies));
}

}  // namespace

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200;
  const std::string base = Random(1, mib << 20);
  const uint32_t bs = ChooseBlockSize(base.size());

  auto t0 = std::chrono::steady_clock::now();
  SignatureBuilder b(bs);
  for (size_t i = 0; i < base.size(); i += 1 << 20)
    b.Update(std::string_view(base).substr(i, 1 << 20));
  FileSignature sig = b.Finish();
  const double s = Seconds(t0);
  std::printf("file %zu MiB, block %u, %zu blocks\n", mib, bs, sig.blocks.size());
  std::printf("signature                    %8.1f MB/s  (%.3f s)\n", base.size() / s / 1e6, s);

  Match("unchanged", sig, base);
  std::string ins = base;
  ins.insert(ins.size() / 2, Random(2, 1000));
  Match("1000 B inserted", sig, ins);
  std::string pages = base;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 10; ++i)
    pages.replace((rng() % (pages.size() / 4096)) * 4096, 4096, Random(4 + i, 4096));
  Match("ten 4 KiB pages", sig, pages);
  Match("all different", sig, Random(99, base.size()));
  return 0;
}
