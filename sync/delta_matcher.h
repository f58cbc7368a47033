// DeltaMatcher: the sender side of the rsync algorithm, as a pure streaming component.
//
// Given the block signatures of a base (old) file and the bytes of a new file, it emits
// instructions that rebuild the new file: Copy(base_offset, length) for runs of base
// blocks found in the new file, Literal(bytes) for everything else, in output order.
//
// How it matches. A window of one block slides over the new file at every byte offset;
// its weak RollingChecksum is rolled in O(1) per byte and looked up in a hash table of the
// base's weak digests; only a weak hit costs a strong hash (XXH3_64bits) of the window.
// After a match the window jumps a whole block. The block that follows the previous match
// is tried first (rsync's trick), by its strong hash alone, so unchanged data runs at
// hashing speed and adjacent copies merge into one Copy (of at most kMaxCopyRun bytes).
// The base's short final block is matched right after its predecessor and at the end of
// the new file. Identical base blocks are indexed once. Consequence: an insertion or
// rewrite costs its own bytes plus less than two blocks of literal; appended data costs
// the appended bytes.
//
// The new file's signature. Given a signature block size, the matcher also builds the
// new file's FileSignature (exactly SignatureBuilder's over the same bytes) in the same
// pass over the data. When that block size is the base's, a block of the new file that
// was copied whole from a base block at a block boundary of the new file takes the base
// block's entry without hashing it again (unchanged files with edits that do not shift
// the data - rewritten pages, appended logs - then cost only the matcher's XXH3 per
// block). The reused entry relies on the match alone, as the copy itself does.
//
// Memory is bounded independent of the file: a window of one block, pending literal
// bytes (flushed to the sink in chunks of kLiteralChunk), less than one more block not
// yet signed, and at most kFeedChunk bytes of each Update() copied in at a time. The index costs
// ~34 bytes per base block (the block list 16, buckets 8, entries 8, filter 2), e.g. ~0.5 MiB for a
// 200 MiB base.
//
// Purity: no file descriptors, no statics, no output other than the sink.
// Thread-safety: not thread-safe; one matcher per new file.
// Ownership: `sink` must outlive the matcher; `base` is copied into the matcher's index
// and need not outlive it.
// Failure: an invalid signature (FileSignature::Validate) or a failed sink call is
// returned by Update/Finish and by every later call; the sink may then have received a
// prefix of the instructions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sync/rolling_checksum.h"
#include "sync/signature.h"
#include "transport/status.h"

namespace skiff {

class DeltaSink {
 public:
  virtual ~DeltaSink() = default;
  // Bytes [base_offset, base_offset + length) of the base file; adjacent blocks merged.
  virtual Status Copy(uint64_t base_offset, uint64_t length) = 0;
  // New bytes; the output position is implicit (sequential).
  virtual Status Literal(std::string_view bytes) = 0;
};

class DeltaMatcher {
 public:
  // Literal bytes are handed to the sink in pieces of at most this size (and a pending
  // literal run is flushed once it reaches it), bounding the matcher's buffer.
  static constexpr size_t kLiteralChunk = 256 * 1024;
  // Update() copies at most this much of its argument into the buffer at a time.
  static constexpr size_t kFeedChunk = 1024 * 1024;
  // A run of adjacent copies is handed to the sink once it covers this many bytes, so a
  // sink can act on a long unchanged stretch while the rest is still being read (a
  // `skiff serve` endpoint rebuilds it meanwhile; sync/server_file_transfer.h) instead
  // of receiving one Copy for a 200 MiB file at Finish.
  static constexpr uint64_t kMaxCopyRun = 8 << 20;

  // `signature_block_size` > 0: also build the new file's signature with that block size
  // (TakeSignature); 0: none.
  DeltaMatcher(const FileSignature& base, DeltaSink& sink, uint32_t signature_block_size = 0);
  DeltaMatcher(const DeltaMatcher&) = delete;
  DeltaMatcher& operator=(const DeltaMatcher&) = delete;

  // Feeds the next bytes of the new file (any chunk sizes).
  Status Update(std::string_view data);
  // Ends the new file: flushes the remaining literal bytes and the pending copy.
  Status Finish();
  // After a successful Finish, with a signature block size given: the new file's
  // signature (SignatureBuilder's over every byte fed). Empty otherwise.
  FileSignature TakeSignature();

  // Totals of what was emitted so far.
  uint64_t literal_bytes() const { return literal_bytes_; }
  uint64_t copied_bytes() const { return copied_bytes_; }
  uint64_t new_size() const { return new_size_; }
  // Most new-file bytes held at once (at most kFeedChunk + kLiteralChunk + 2 blocks).
  size_t peak_buffered() const { return peak_buffered_; }
  // New-file bytes whose signature entries were taken from the base instead of hashed.
  uint64_t signature_reused_bytes() const { return sig_reused_bytes_; }

 private:
  static constexpr uint32_t kNone = 0xffffffffu;

  void BuildIndex(const FileSignature& base);
  Status Process(bool at_end);
  // Index of a base block whose weak digest is `weak` and whose content equals the
  // window at buf_[pos_], or kNone.
  uint32_t FindBlock(uint32_t weak, uint32_t hash, const uint8_t* window);
  bool MatchesBlock(uint32_t index, const uint8_t* p, uint32_t length) const;
  Status EmitLiteral(size_t end);  // buf_[lit_, end) as literal; lit_ = end
  // Base block `index` (`length` bytes) is the new file's bytes at buf_[at].
  Status EmitCopy(uint32_t index, uint32_t length, size_t at);
  // Reuse mode: signs the whole signature blocks that end at or before buf_[end].
  void SignUpTo(size_t end);
  Status FlushCopy();
  void Compact();
  Status Fail(Status st);

  DeltaSink& sink_;
  Status status_;
  bool finished_ = false;

  // Base description.
  uint32_t block_size_ = 0;
  uint32_t block_count_ = 0;
  uint32_t last_length_ = 0;  // length of the last base block (<= block_size_)
  std::vector<BlockSignature> blocks_;
  // Hash table over the full-length base blocks, distinct (weak, strong) only, laid out
  // by bucket: entries of bucket h are entries_[bucket_start_[h] .. bucket_start_[h+1]).
  // hash = weak * kHashMultiplier; bucket = hash >> bucket_shift_.
  struct Entry {
    uint32_t weak;
    uint32_t index;
  };
  uint32_t bucket_shift_ = 31;
  std::vector<uint32_t> bucket_start_;
  std::vector<Entry> entries_;
  // One bit per (hash >> filter_shift_), ~16 bits per entry: the per-byte test. Most
  // offsets of changed data miss here, touching only this small (L1/L2-resident) array.
  uint32_t filter_shift_ = 31;
  std::vector<uint64_t> filter_;

  // The new file's signature (sig_ empty: not wanted). Reuse mode (the base's block
  // size): buf_ keeps bytes from sig_done_ on, whole blocks are signed from there or
  // taken from a whole-block copy; otherwise sig_ is fed in Update.
  std::optional<SignatureBuilder> sig_;
  bool sig_reuse_ = false;
  uint64_t sig_done_ = 0;  // new-file offset signed so far (reuse mode)
  uint64_t sig_reused_bytes_ = 0;

  // Stream state. buf_ holds new-file bytes from offset buf_start_ on not yet emitted
  // (or, in reuse mode, not yet signed): [lit_, pos_) is pending literal, the window
  // starts at pos_.
  std::string buf_;
  uint64_t buf_start_ = 0;
  size_t lit_ = 0;
  size_t pos_ = 0;
  RollingChecksum sum_;
  bool sum_valid_ = false;    // sum_ covers buf_[pos_, pos_ + block_size_)
  uint32_t expect_ = 0;       // block following the previous match (or block 0 at start)
  uint64_t copy_offset_ = 0;  // pending merged copy
  uint64_t copy_length_ = 0;

  uint64_t literal_bytes_ = 0;
  uint64_t copied_bytes_ = 0;
  uint64_t new_size_ = 0;
  size_t peak_buffered_ = 0;
};

}  // namespace skiff
