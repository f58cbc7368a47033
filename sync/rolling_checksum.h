// RollingChecksum: the weak, O(1)-rollable checksum of the rsync algorithm.
//
// It is rsync's two running sums (Tridgell's thesis, rsync `checksum.c`): over a window of
// bytes x_1..x_n,
//     a = sum T[x_i]                 b = sum (n - i + 1) * T[x_i]        (both mod 2^32)
//     digest = (a & 0xffff) | (b << 16)
// with one change that keeps the O(1) roll: each byte is first replaced by a fixed
// pseudo-random 32-bit value T[x] (a substitution table, as in Adler-style "buzhash"
// variants). Plain rsync sums bytes directly, so text and other low-entropy data crowd
// into few digests (a of a 700-byte ASCII block spans only ~16 bits of range); the table
// spreads them over all 2^32 digests at the same cost, which means fewer weak hits that
// have to be refuted with a strong hash.
//
// Sliding the window one byte (drop `out`, take `in`) is
//     a' = a - T[out] + T[in]        b' = b - n * T[out] + a'
//
// The digest is part of the stored signature format (signature.h, format version 1): the
// table and the formula must never change without a new format version. A golden-value
// unit test pins them.
//
// Thread-safety: a value type; distinct objects may be used concurrently.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace skiff {

namespace rolling_internal {
// SplitMix64 (Steele, Lea, Flood 2014), used only to fill the table deterministically.
constexpr uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> t{};
  uint64_t state = 0x736b696666ull;  // "skiff"
  for (auto& v : t) v = static_cast<uint32_t>(SplitMix64(state) >> 32);
  return t;
}
inline constexpr std::array<uint32_t, 256> kByteTable = MakeTable();
}  // namespace rolling_internal

class RollingChecksum {
 public:
  RollingChecksum() = default;

  // Empties the window.
  void Reset() {
    a_ = 0;
    b_ = 0;
    count_ = 0;
  }

  // Appends bytes to the window (the window grows by data.size()).
  void Update(std::string_view data) {
    Update(reinterpret_cast<const uint8_t*>(data.data()), data.size());
  }
  void Update(const uint8_t* p, size_t n) {
    uint32_t a = a_, b = b_;
    size_t i = 0;
    // Four bytes per step: b gains 4a + 4t0 + 3t1 + 2t2 + t3 and a gains t0+..+t3, the
    // same sums as four single steps (mod 2^32) with a quarter of the dependent additions
    // (the one-byte loop was 6.7% of the client's CPU in a full backup, `perf record`).
    for (; i + 4 <= n; i += 4) {
      const uint32_t t0 = rolling_internal::kByteTable[p[i]];
      const uint32_t t1 = rolling_internal::kByteTable[p[i + 1]];
      const uint32_t t2 = rolling_internal::kByteTable[p[i + 2]];
      const uint32_t t3 = rolling_internal::kByteTable[p[i + 3]];
      b += 4 * a + 4 * t0 + 3 * t1 + 2 * t2 + t3;
      a += t0 + t1 + t2 + t3;
    }
    for (; i < n; ++i) {
      a += rolling_internal::kByteTable[p[i]];
      b += a;
    }
    a_ = a;
    b_ = b;
    count_ += static_cast<uint32_t>(n);
  }

  // Slides the window by one byte: `out` (its first byte) leaves, `in` enters at the end.
  // The window length is unchanged; O(1).
  void Roll(uint8_t out, uint8_t in) {
    const uint32_t t_out = rolling_internal::kByteTable[out];
    a_ += rolling_internal::kByteTable[in] - t_out;
    b_ += a_ - count_ * t_out;
  }

  uint32_t Digest() const { return (a_ & 0xffffu) | (b_ << 16); }

  // Bytes in the window (mod 2^32).
  uint32_t count() const { return count_; }

  // The digest of `data` as one window.
  static uint32_t Compute(std::string_view data);

 private:
  uint32_t a_ = 0;
  uint32_t b_ = 0;
  uint32_t count_ = 0;
};

}  // namespace skiff
