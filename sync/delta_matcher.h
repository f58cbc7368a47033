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
// Memory is bounded independent of the file: a window of one block, pending literal
// bytes (flushed to the sink in chunks of kLiteralChunk), and at most kFeedChunk bytes of
// each Update() copied in at a time. The index costs ~34 bytes per base block (the block
// list 16, buckets 8, entries 8, filter 2), e.g. ~0.5 MiB for a 200 MiB base.
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

  DeltaMatcher(const FileSignature& base, DeltaSink& sink);
  DeltaMatcher(const DeltaMatcher&) = delete;
  DeltaMatcher& operator=(const DeltaMatcher&) = delete;

  // Feeds the next bytes of the new file (any chunk sizes).
  Status Update(std::string_view data);
  // Ends the new file: flushes the remaining literal bytes and the pending copy.
  Status Finish();

  // Totals of what was emitted so far.
  uint64_t literal_bytes() const { return literal_bytes_; }
  uint64_t copied_bytes() const { return copied_bytes_; }
  uint64_t new_size() const { return new_size_; }
  // Most new-file bytes held at once (at most kFeedChunk + kLiteralChunk + block size).
  size_t peak_buffered() const { return peak_buffered_; }

 private:
  static constexpr uint32_t kNone = 0xffffffffu;

  void BuildIndex(const FileSignature& base);
  Status Process(bool at_end);
  // Index of a base block whose weak digest is `weak` and whose content equals the
  // window at buf_[pos_], or kNone.
  uint32_t FindBlock(uint32_t weak, uint32_t hash, const uint8_t* window);
  bool MatchesBlock(uint32_t index, const uint8_t* p, uint32_t length) const;
  Status EmitLiteral(size_t end);  // buf_[lit_, end) as literal; lit_ = end
  Status EmitCopy(uint32_t index, uint32_t length);
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

  // Stream state. buf_ holds new-file bytes not yet emitted: [lit_, pos_) is pending
  // literal, the window starts at pos_.
  std::string buf_;
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
