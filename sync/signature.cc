#include "sync/signature.h"

#include <xxhash.h>

#include <cassert>
#include <cmath>
#include <cstring>

#include "sync/rolling_checksum.h"

namespace skiff {
namespace {

constexpr char kMagic[4] = {'S', 'K', 'S', 'G'};
constexpr size_t kHeaderSize = 28;
constexpr size_t kEntrySize = 12;
constexpr size_t kTrailerSize = 8;

void PutU32(std::string& s, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  s.append(b, 4);
}
void PutU64(std::string& s, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  s.append(b, 8);
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// ceil(file_size / block_size) without overflow; block_size > 0.
uint64_t BlockCount(uint64_t file_size, uint32_t block_size) {
  return file_size / block_size + (file_size % block_size != 0 ? 1 : 0);
}

}  // namespace

uint32_t FileSignature::BlockLength(size_t index) const {
  const uint64_t start = static_cast<uint64_t>(index) * block_size;
  if (start >= file_size) return 0;
  const uint64_t rest = file_size - start;
  return rest < block_size ? static_cast<uint32_t>(rest) : block_size;
}

Status FileSignature::Validate() const {
  if (block_size == 0 || block_size > kMaxSignatureBlockSize) {
    return Status::Invalid("signature block size " + std::to_string(block_size) +
                           " is outside 1.." + std::to_string(kMaxSignatureBlockSize));
  }
  const uint64_t want = BlockCount(file_size, block_size);
  if (blocks.size() != want) {
    return Status::Invalid("signature has " + std::to_string(blocks.size()) +
                           " blocks, but a file of " + std::to_string(file_size) +
                           " bytes in blocks of " + std::to_string(block_size) + " has " +
                           std::to_string(want));
  }
  return Status::Ok();
}

std::string FileSignature::Encode() const {
  std::string s;
  s.reserve(kHeaderSize + blocks.size() * kEntrySize + kTrailerSize);
  s.append(kMagic, 4);
  PutU32(s, kSignatureFormatVersion);
  PutU32(s, block_size);
  PutU64(s, file_size);
  PutU64(s, blocks.size());
  for (const BlockSignature& b : blocks) {
    PutU32(s, b.weak);
    PutU64(s, b.strong);
  }
  PutU64(s, XXH3_64bits(s.data(), s.size()));
  return s;
}

Result<FileSignature> FileSignature::Decode(std::string_view bytes) {
  if (bytes.size() < kHeaderSize + kTrailerSize) {
    return Status::Corrupt("block signature is truncated: " + std::to_string(bytes.size()) +
                           " bytes, the header alone needs " +
                           std::to_string(kHeaderSize + kTrailerSize));
  }
  const char* p = bytes.data();
  if (std::memcmp(p, kMagic, 4) != 0) {
    return Status::Corrupt("block signature has a wrong magic (not a skiff signature)");
  }
  const uint32_t version = GetU32(p + 4);
  if (version != kSignatureFormatVersion) {
    return Status::Corrupt("block signature format version " + std::to_string(version) +
                           " is not supported (this skiff reads version " +
                           std::to_string(kSignatureFormatVersion) + ")");
  }
  FileSignature sig;
  sig.block_size = GetU32(p + 8);
  sig.file_size = GetU64(p + 12);
  const uint64_t count = GetU64(p + 20);
  if (sig.block_size == 0 || sig.block_size > kMaxSignatureBlockSize) {
    return Status::Corrupt("block signature has an invalid block size " +
                           std::to_string(sig.block_size));
  }
  if (count != BlockCount(sig.file_size, sig.block_size)) {
    return Status::Corrupt("block signature count " + std::to_string(count) +
                           " does not match file size " + std::to_string(sig.file_size) +
                           " and block size " + std::to_string(sig.block_size));
  }
  const size_t body = bytes.size() - kHeaderSize - kTrailerSize;
  if (body % kEntrySize != 0 || count != body / kEntrySize) {
    return Status::Corrupt("block signature claims " + std::to_string(count) +
                           " blocks but holds " + std::to_string(bytes.size()) + " bytes");
  }
  const size_t hashed = bytes.size() - kTrailerSize;
  if (GetU64(p + hashed) != XXH3_64bits(p, hashed)) {
    return Status::Corrupt("block signature checksum mismatch (damaged file)");
  }
  // count is now bounded by bytes.size() / 12.
  sig.blocks.resize(static_cast<size_t>(count));
  const char* e = p + kHeaderSize;
  for (BlockSignature& b : sig.blocks) {
    b.weak = GetU32(e);
    b.strong = GetU64(e + 4);
    e += kEntrySize;
  }
  return sig;
}

namespace {
// Square root above which block sizes are powers of two (files > 1 MiB).
constexpr uint64_t kStableBlockFrom = 1024;
}  // namespace

uint32_t ChooseBlockSize(uint64_t file_size) {
  if (file_size <= static_cast<uint64_t>(kMinBlockSize) * kMinBlockSize) return kMinBlockSize;
  if (file_size >= static_cast<uint64_t>(kMaxBlockSize) * kMaxBlockSize) return kMaxBlockSize;
  // Integer square root (floor), corrected after the floating-point estimate.
  uint64_t r = static_cast<uint64_t>(std::sqrt(static_cast<double>(file_size)));
  while (r * r > file_size) --r;
  while ((r + 1) * (r + 1) <= file_size) ++r;
  if (r >= kMaxBlockSize) return kMaxBlockSize;
  if (r > kStableBlockFrom) {
    // Above 1 MiB: the power of two nearest to the square root (in log scale), so the
    // block size stays the same while a file grows (or shrinks) by less than half its
    // size either side of 2^(2k+1) bytes. A growing log then keeps its blocks: the new
    // signature is the old one plus entries for the appended blocks, which the engine
    // stores by patching the old signature file on the server instead of uploading all
    // of it (BackupFileJob::PutSignature). The cost is at most sqrt(2) larger or smaller
    // blocks than the square root (signature vs literal bytes balance, as in rsync).
    uint64_t p = kStableBlockFrom;
    while (p * 2 <= r) p *= 2;
    // r in [p, 2p): nearer to 2p in log scale when r*r >= 2*p*p.
    if (r * r >= 2 * p * p) p *= 2;
    return static_cast<uint32_t>(std::min<uint64_t>(p, kMaxBlockSize));
  }
  return static_cast<uint32_t>(r) & ~7u;
}

SignatureBuilder::SignatureBuilder(uint32_t block_size)
    : block_size_(block_size == 0 ? kMinBlockSize : block_size) {}

void SignatureBuilder::AddBlock(const char* p, size_t n) {
  BlockSignature b;
  b.weak = RollingChecksum::Compute(std::string_view(p, n));
  b.strong = XXH3_64bits(p, n);
  blocks_.push_back(b);
}

void SignatureBuilder::Update(std::string_view data) {
  file_size_ += data.size();
  if (!partial_.empty()) {
    const size_t take = std::min<size_t>(block_size_ - partial_.size(), data.size());
    partial_.append(data.data(), take);
    data.remove_prefix(take);
    if (partial_.size() < block_size_) return;
    AddBlock(partial_.data(), partial_.size());
    partial_.clear();
  }
  while (data.size() >= block_size_) {
    AddBlock(data.data(), block_size_);
    data.remove_prefix(block_size_);
  }
  partial_.assign(data.data(), data.size());
}

void SignatureBuilder::AppendKnownBlock(const BlockSignature& block) {
  assert(partial_.empty());
  file_size_ += block_size_;
  blocks_.push_back(block);
}

FileSignature SignatureBuilder::Finish() {
  if (!partial_.empty()) AddBlock(partial_.data(), partial_.size());
  FileSignature sig;
  sig.block_size = block_size_;
  sig.file_size = file_size_;
  sig.blocks = std::move(blocks_);
  blocks_.clear();
  partial_.clear();
  file_size_ = 0;
  return sig;
}

}  // namespace skiff
