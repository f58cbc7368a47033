// Hand-run timing of the delta pipeline (not a test): signature building and matching
// over a file of SIZE MiB (default 200) of pseudo-random bytes, unchanged and changed;
// the matcher with the new file's signature built beside it or by the matcher itself;
// the whole-file xxh128.
//   delta_speed [SIZE_MIB]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>

#include "sync/content_hash.h"
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

// Wall and CPU time of this thread: on a shared machine the wall figure depends on the
// other load, the CPU figure much less.
struct Timer {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  double cpu = CpuSeconds();
  static double CpuSeconds() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
  }
  void Print(const char* what, size_t bytes) const {
    const double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
    const double c = CpuSeconds() - cpu;
    std::printf("%-28s %8.1f MB/s wall (%.3f s)  %8.1f MB/s cpu (%.3f s)\n", what, bytes / w / 1e6,
                w, bytes / c / 1e6, c);
  }
};

// How the caller gets the new file's signature: none, a SignatureBuilder fed the same
// chunks, or the matcher's own (which reuses base entries of blocks copied in place).
enum class NewSig { kNone, kBuilder, kMatcher };

void Match(const char* name, const FileSignature& sig, const std::string& data,
           NewSig new_sig = NewSig::kNone) {
  CountingSink sink;
  Timer t;
  DeltaMatcher m(sig, sink, new_sig == NewSig::kMatcher ? sig.block_size : 0);
  SignatureBuilder b(sig.block_size);
  constexpr size_t kChunk = 256 << 10;  // as the delta jobs read
  for (size_t i = 0; i < data.size(); i += kChunk) {
    const std::string_view c = std::string_view(data).substr(i, kChunk);
    if (new_sig == NewSig::kBuilder) b.Update(c);
    if (!m.Update(c).ok()) std::abort();
  }
  if (!m.Finish().ok()) std::abort();
  const size_t blocks =
      new_sig == NewSig::kBuilder ? b.Finish().blocks.size() : m.TakeSignature().blocks.size();
  t.Print(name, data.size());
  std::printf("    literal %llu B, copies %llu, new signature %zu blocks (%llu B reused)\n",
              static_cast<unsigned long long>(sink.literal),
              static_cast<unsigned long long>(sink.copies), blocks,
              static_cast<unsigned long long>(m.signature_reused_bytes()));
}

}  // namespace

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200;
  const std::string base = Random(1, mib << 20);
  const uint32_t bs = ChooseBlockSize(base.size());

  Timer t;
  SignatureBuilder b(bs);
  for (size_t i = 0; i < base.size(); i += 1 << 20)
    b.Update(std::string_view(base).substr(i, 1 << 20));
  FileSignature sig = b.Finish();
  std::printf("file %zu MiB, block %u, %zu blocks\n", mib, bs, sig.blocks.size());
  t.Print("signature", base.size());

  Match("match unchanged", sig, base);
  std::string ins = base;
  ins.insert(ins.size() / 2, Random(2, 1000));
  Match("match 1000 B inserted", sig, ins);
  std::string pages = base;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 10; ++i)
    pages.replace((rng() % (pages.size() / 4096)) * 4096, 4096, Random(4 + i, 4096));
  Match("match ten 4 KiB pages", sig, pages);
  Match("match all different", sig, Random(99, base.size()));
  Match("match+builder: inserted", sig, ins, NewSig::kBuilder);
  Match("match+own sig: inserted", sig, ins, NewSig::kMatcher);
  Match("match+builder: pages", sig, pages, NewSig::kBuilder);
  Match("match+own sig: pages", sig, pages, NewSig::kMatcher);
  {
    Timer th;
    sync::ContentHasher h;
    for (size_t i = 0; i < base.size(); i += 256 << 10)
      h.Update(std::string_view(base).substr(i, 256 << 10));
    if (h.HexDigest().empty()) std::abort();
    th.Print("xxh128 (ContentHasher)", base.size());
  }

  // A text log with 1 MiB appended (low-entropy data: many weak-checksum near-misses).
  std::string log;
  std::mt19937_64 lr(5);
  while (log.size() < base.size() / 3) {
    log += "2024-05-01T12:" + std::to_string(10 + lr() % 50) + ":" +
           std::to_string(10 + lr() % 50) + " INFO worker-" + std::to_string(lr() % 16) +
           " served /api/v1/items/" + std::to_string(lr() % 100000) + " in " +
           std::to_string(lr() % 900) + " ms\n";
  }
  SignatureBuilder lb(ChooseBlockSize(log.size()));
  lb.Update(log);
  const FileSignature log_sig = lb.Finish();
  std::string grown = log;
  while (grown.size() < log.size() + (1 << 20)) grown += log.substr(lr() % (log.size() - 200), 100);
  Match("match log + 1 MiB appended", log_sig, grown);
  std::string rewritten = log;
  for (size_t i = 0; i < rewritten.size(); i += 1 + lr() % 3000) rewritten[i] = ' ';
  Match("match log, all blocks edited", log_sig, rewritten);
  return 0;
}
