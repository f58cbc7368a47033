#include "sync/delta_matcher.h"

#include <xxhash.h>

#include <algorithm>
#include <numeric>

namespace skiff {
namespace {

// Fibonacci hashing of the weak digest (its top bits index the filter and the buckets):
// the digest's two 16-bit halves are sums, not uniform enough to be masked directly.
inline uint32_t HashOf(uint32_t weak) { return weak * 0x9E3779B1u; }

inline uint32_t CeilLog2(uint64_t n) {
  uint32_t bits = 0;
  while ((uint64_t{1} << bits) < n) ++bits;
  return bits;
}

}  // namespace

DeltaMatcher::DeltaMatcher(const FileSignature& base, DeltaSink& sink,
                           uint32_t signature_block_size)
    : sink_(sink) {
  if (signature_block_size > 0) sig_.emplace(signature_block_size);
  Status st = base.Validate();
  if (!st.ok()) {
    status_ = st.WithContext("delta matcher");
    return;
  }
  if (base.blocks.size() >= kNone) {
    status_ = Status::Invalid("delta matcher: signature has too many blocks (" +
                              std::to_string(base.blocks.size()) + ")");
    return;
  }
  BuildIndex(base);
  sig_reuse_ = sig_ && block_count_ > 0 && signature_block_size == block_size_;
}

void DeltaMatcher::BuildIndex(const FileSignature& base) {
  block_size_ = base.block_size;
  blocks_ = base.blocks;
  block_count_ = static_cast<uint32_t>(blocks_.size());
  last_length_ = block_count_ == 0 ? 0 : base.BlockLength(block_count_ - 1);
  expect_ = block_count_ == 0 ? kNone : 0;

  // Full-length blocks, one per distinct (weak, strong): a duplicate adds nothing to a
  // lookup (the first copy serves), and dropping them keeps chains short on data such as
  // runs of zeros. The "block after the previous match" check still finds duplicates.
  std::vector<uint32_t> idx;
  idx.reserve(block_count_);
  for (uint32_t i = 0; i < block_count_; ++i) {
    if (base.BlockLength(i) == block_size_) idx.push_back(i);
  }
  std::sort(idx.begin(), idx.end(), [&](uint32_t x, uint32_t y) {
    const BlockSignature &a = blocks_[x], &b = blocks_[y];
    if (a.weak != b.weak) return a.weak < b.weak;
    if (a.strong != b.strong) return a.strong < b.strong;
    return x < y;
  });
  idx.erase(std::unique(idx.begin(), idx.end(),
                        [&](uint32_t x, uint32_t y) { return blocks_[x] == blocks_[y]; }),
            idx.end());

  // At least twice as many buckets as entries (4 bytes each), and a filter of 16 bits per
  // entry: a random miss passes the filter with probability ~1/16 and then usually finds
  // an empty bucket.
  const uint32_t bits = std::clamp<uint32_t>(CeilLog2(2 * uint64_t{idx.size()}), 1, 30);
  bucket_shift_ = 32 - bits;
  const size_t buckets = size_t{1} << bits;
  bucket_start_.assign(buckets + 1, 0);
  for (uint32_t i : idx) ++bucket_start_[(HashOf(blocks_[i].weak) >> bucket_shift_) + 1];
  std::partial_sum(bucket_start_.begin(), bucket_start_.end(), bucket_start_.begin());
  entries_.resize(idx.size());
  std::vector<uint32_t> fill(bucket_start_.begin(), bucket_start_.end() - 1);
  std::sort(idx.begin(), idx.end());  // earliest block first within a bucket
  for (uint32_t i : idx) {
    entries_[fill[HashOf(blocks_[i].weak) >> bucket_shift_]++] = Entry{blocks_[i].weak, i};
  }
  const uint32_t filter_bits = std::clamp<uint32_t>(CeilLog2(16 * uint64_t{idx.size()}), 6, 31);
  filter_shift_ = 32 - filter_bits;
  filter_.assign((size_t{1} << filter_bits) / 64, 0);
  for (uint32_t i : idx) {
    const uint32_t f = HashOf(blocks_[i].weak) >> filter_shift_;
    filter_[f >> 6] |= uint64_t{1} << (f & 63);
  }
}

Status DeltaMatcher::Fail(Status st) {
  status_ = std::move(st);
  return status_;
}

bool DeltaMatcher::MatchesBlock(uint32_t index, const uint8_t* p, uint32_t length) const {
  const BlockSignature& b = blocks_[index];
  return XXH3_64bits(p, length) == b.strong &&
         RollingChecksum::Compute(std::string_view(reinterpret_cast<const char*>(p), length)) ==
             b.weak;
}

uint32_t DeltaMatcher::FindBlock(uint32_t weak, uint32_t hash, const uint8_t* window) {
  uint64_t strong = 0;
  bool have_strong = false;
  // rsync's trick: prefer the block after the previous match, so copies merge.
  if (expect_ != kNone && blocks_[expect_].weak == weak &&
      (expect_ + 1 < block_count_ || last_length_ == block_size_)) {
    strong = XXH3_64bits(window, block_size_);
    have_strong = true;
    if (strong == blocks_[expect_].strong) return expect_;
  }
  const uint32_t h = hash >> bucket_shift_;
  for (uint32_t e = bucket_start_[h], end = bucket_start_[h + 1]; e < end; ++e) {
    if (entries_[e].weak != weak) continue;
    const uint32_t i = entries_[e].index;
    if (!have_strong) {
      strong = XXH3_64bits(window, block_size_);
      have_strong = true;
    }
    if (blocks_[i].strong == strong) return i;
  }
  return kNone;
}

Status DeltaMatcher::FlushCopy() {
  if (copy_length_ == 0) return Status::Ok();
  const uint64_t off = copy_offset_, len = copy_length_;
  copy_length_ = 0;
  return sink_.Copy(off, len);
}

void DeltaMatcher::SignUpTo(size_t end) {
  const uint64_t stop = buf_start_ + end;
  while (sig_done_ + block_size_ <= stop) {
    sig_->Update(std::string_view(buf_.data() + (sig_done_ - buf_start_), block_size_));
    sig_done_ += block_size_;
  }
}

Status DeltaMatcher::EmitCopy(uint32_t index, uint32_t length, size_t at) {
  if (sig_reuse_) {
    SignUpTo(at);
    if (length == block_size_ && sig_done_ == buf_start_ + at) {
      sig_->AppendKnownBlock(blocks_[index]);
      sig_done_ += length;
      sig_reused_bytes_ += length;
    }
  }
  const uint64_t off = uint64_t{index} * block_size_;
  copied_bytes_ += length;
  if (copy_length_ != 0 && copy_offset_ + copy_length_ == off) {
    copy_length_ += length;
    return copy_length_ >= kMaxCopyRun ? FlushCopy() : Status::Ok();
  }
  SKIFF_RETURN_IF_ERROR(FlushCopy());
  copy_offset_ = off;
  copy_length_ = length;
  return Status::Ok();
}

Status DeltaMatcher::EmitLiteral(size_t end) {
  if (end <= lit_) return Status::Ok();
  SKIFF_RETURN_IF_ERROR(FlushCopy());
  while (lit_ < end) {
    const size_t n = std::min(end - lit_, kLiteralChunk);
    SKIFF_RETURN_IF_ERROR(sink_.Literal(std::string_view(buf_.data() + lit_, n)));
    lit_ += n;
    literal_bytes_ += n;
  }
  return Status::Ok();
}

Status DeltaMatcher::Process(bool at_end) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(buf_.data());
  const size_t avail = buf_.size();
  const uint32_t bs = block_size_;
  for (;;) {
    // The base's short final block, right after its predecessor (or as the whole base).
    if (expect_ != kNone && expect_ + 1 == block_count_ && last_length_ < bs) {
      if (avail - pos_ < last_length_) {
        if (!at_end) return Status::Ok();  // wait for more bytes
        expect_ = kNone;
      } else if (MatchesBlock(expect_, p + pos_, last_length_)) {
        SKIFF_RETURN_IF_ERROR(EmitLiteral(pos_));
        SKIFF_RETURN_IF_ERROR(EmitCopy(expect_, last_length_, pos_));
        pos_ += last_length_;
        lit_ = pos_;
        sum_valid_ = false;
        expect_ = kNone;
        continue;
      } else {
        expect_ = kNone;
      }
    }
    if (avail - pos_ < bs) break;
    if (!sum_valid_) {
      // Unchanged data: the next base block, by its strong hash alone (one XXH3 per
      // block, no weak sum), see the collision note in signature.h.
      if (expect_ != kNone && (expect_ + 1 < block_count_ || last_length_ == bs) &&
          XXH3_64bits(p + pos_, bs) == blocks_[expect_].strong) {
        const uint32_t k = expect_;
        SKIFF_RETURN_IF_ERROR(EmitLiteral(pos_));
        SKIFF_RETURN_IF_ERROR(EmitCopy(k, bs, pos_));
        pos_ += bs;
        lit_ = pos_;
        expect_ = k + 1 < block_count_ ? k + 1 : kNone;
        continue;
      }
      sum_.Reset();
      sum_.Update(p + pos_, bs);
      sum_valid_ = true;
    }
    // Slide the window a byte at a time until a block matches, the data runs out, or the
    // pending literal reaches a chunk.
    const size_t last_pos = avail - bs;
    const size_t flush_pos = lit_ + kLiteralChunk;
    const size_t stop = std::min(last_pos, flush_pos);
    const uint64_t* filter = filter_.data();
    const uint32_t fshift = filter_shift_;
    RollingChecksum sum = sum_;  // a local the compiler keeps in registers
    size_t pos = pos_;
    uint32_t found = kNone;
    for (;;) {
      const uint32_t weak = sum.Digest();
      const uint32_t hash = HashOf(weak);
      const uint32_t f = hash >> fshift;
      if ((filter[f >> 6] >> (f & 63)) & 1) {
        found = FindBlock(weak, hash, p + pos);
        if (found != kNone) break;
      }
      if (pos >= stop) break;
      sum.Roll(p[pos], p[pos + bs]);
      ++pos;
    }
    sum_ = sum;
    pos_ = pos;
    if (found != kNone) {
      SKIFF_RETURN_IF_ERROR(EmitLiteral(pos_));
      SKIFF_RETURN_IF_ERROR(EmitCopy(found, bs, pos_));
      pos_ += bs;
      lit_ = pos_;
      sum_valid_ = false;
      expect_ = found + 1 < block_count_ ? found + 1 : kNone;
      continue;
    }
    if (pos_ >= flush_pos) {
      SKIFF_RETURN_IF_ERROR(EmitLiteral(lit_ + kLiteralChunk));
      continue;
    }
    break;  // pos_ == last_pos: the window needs the next byte
  }
  if (!at_end) return Status::Ok();

  // End of the new file: the base's short final block may sit at the very end.
  if (block_count_ > 0 && last_length_ < bs && avail - lit_ >= last_length_) {
    const size_t start = avail - last_length_;
    if (MatchesBlock(block_count_ - 1, p + start, last_length_)) {
      SKIFF_RETURN_IF_ERROR(EmitLiteral(start));
      SKIFF_RETURN_IF_ERROR(EmitCopy(block_count_ - 1, last_length_, start));
      lit_ = pos_ = avail;
    }
  }
  SKIFF_RETURN_IF_ERROR(EmitLiteral(avail));
  pos_ = avail;
  return FlushCopy();
}

void DeltaMatcher::Compact() {
  size_t cut = lit_;
  if (sig_reuse_) {
    SignUpTo(lit_);
    cut = std::min<size_t>(cut, sig_done_ - buf_start_);
  }
  if (cut == 0) return;
  buf_.erase(0, cut);
  buf_start_ += cut;
  pos_ -= cut;
  lit_ -= cut;
}

Status DeltaMatcher::Update(std::string_view data) {
  if (!status_.ok()) return status_;
  if (finished_) return Fail(Status::Invalid("delta matcher: Update after Finish"));
  new_size_ += data.size();
  if (sig_ && !sig_reuse_) sig_->Update(data);
  if (block_count_ == 0) {  // empty base: everything is literal, no need to buffer
    while (!data.empty()) {
      const size_t n = std::min(data.size(), kLiteralChunk);
      Status st = sink_.Literal(data.substr(0, n));
      if (!st.ok()) return Fail(std::move(st));
      literal_bytes_ += n;
      data.remove_prefix(n);
    }
    return Status::Ok();
  }
  while (!data.empty()) {
    const size_t n = std::min(data.size(), kFeedChunk);
    buf_.append(data.data(), n);
    data.remove_prefix(n);
    peak_buffered_ = std::max(peak_buffered_, buf_.size());
    Status st = Process(/*at_end=*/false);
    if (!st.ok()) return Fail(std::move(st));
    Compact();
  }
  return Status::Ok();
}

Status DeltaMatcher::Finish() {
  if (!status_.ok()) return status_;
  if (finished_) return Fail(Status::Invalid("delta matcher: Finish called twice"));
  finished_ = true;
  if (block_count_ == 0) return Status::Ok();
  Status st = Process(/*at_end=*/true);
  if (!st.ok()) return Fail(std::move(st));
  if (sig_reuse_) {
    SignUpTo(buf_.size());
    sig_->Update(std::string_view(buf_).substr(sig_done_ - buf_start_));  // the short last block
    sig_done_ = new_size_;
  }
  buf_.clear();
  buf_.shrink_to_fit();
  lit_ = pos_ = 0;
  return Status::Ok();
}

FileSignature DeltaMatcher::TakeSignature() {
  if (!sig_ || !finished_ || !status_.ok()) return FileSignature();
  FileSignature sig = sig_->Finish();
  sig_.reset();
  return sig;
}

}  // namespace skiff
