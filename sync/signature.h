// Block signatures of a file: the "base" side of the rsync algorithm.
//
// A FileSignature cuts a file into blocks of block_size bytes (the last one may be
// shorter) and records for each a weak rolling checksum (RollingChecksum) and a strong
// 64-bit hash (XXH3_64bits). The backup engine stores the encoded form next to each
// snapshot; the next backup fetches it and runs DeltaMatcher over the new file.
//
// Collision risk. A block of the new file is taken as a copy of a base block only when
// both the 32-bit weak digest and the 64-bit XXH3 agree (when the matcher checks the block
// right after the previous match it compares the 64-bit strong hash alone). XXH3 is not
// cryptographic, but for non-adversarial data the chance that some wrong block slips
// through is about (number of strong comparisons) / 2^64, i.e. below 2^-40 even for
// terabytes. Over plain SFTP the engine cannot verify a rebuilt file on the server (it
// cannot hash it there, and reading it back costs the whole file), so this bound is what
// protects a delta-built file; `skiff check --read-data` reads everything back.
//
// Encoded format, version 1 (all integers little-endian):
//   offset  size  field
//        0     4  magic "SKSG"
//        4     4  version = 1
//        8     4  block_size (1 .. kMaxSignatureBlockSize)
//       12     8  file_size
//       20     8  count = ceil(file_size / block_size)
//       28  12*n  entries: weak (u32), strong (u64)
//     last     8  XXH3_64bits of all preceding bytes
// The weak digest is RollingChecksum version 1 (see rolling_checksum.h).
//
// Thread-safety: FileSignature is a value type. SignatureBuilder is not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "transport/status.h"

namespace skiff {

inline constexpr uint32_t kMinBlockSize = 700;         // rsync's BLOCK_SIZE
inline constexpr uint32_t kMaxBlockSize = 128 * 1024;  // rsync's MAX_BLOCK_SIZE (protocol >= 30)
inline constexpr uint32_t kMaxSignatureBlockSize = 1u << 24;  // accepted by Decode (16 MiB)
inline constexpr uint32_t kSignatureFormatVersion = 1;

struct BlockSignature {
  uint32_t weak = 0;    // RollingChecksum digest of the block
  uint64_t strong = 0;  // XXH3_64bits of the block
  bool operator==(const BlockSignature&) const = default;
};

struct FileSignature {
  uint32_t block_size = 0;
  uint64_t file_size = 0;
  std::vector<BlockSignature> blocks;  // ceil(file_size / block_size) entries; last may be short

  // Length of block `index` (block_size, or less for the last block).
  uint32_t BlockLength(size_t index) const;

  // Checks that blocks.size() fits block_size and file_size. Invalid otherwise.
  Status Validate() const;

  // The versioned binary form described above.
  std::string Encode() const;

  // Parses Encode()'s output. Anything else (wrong magic/version, counts or sizes that do
  // not agree with each other or with the length of `bytes`, a bad trailing hash) is
  // kCorrupt. Memory allocated is bounded by bytes.size(): no field is trusted before it
  // has been checked against the input length.
  static Result<FileSignature> Decode(std::string_view bytes);

  bool operator==(const FileSignature&) const = default;
};

// The block size for a file of `file_size` bytes.
//
// Reasoning (as rsync's sum_sizes_sqroot): per changed region the delta pays up to about
// one block of literal bytes beyond the change itself, while the signature costs 12 bytes
// per block, i.e. 12 * file_size / block_size. For a handful of changed regions the sum
// is smallest near block_size ~ sqrt(file_size) (the ratio constant does not matter much:
// the curve is flat around the minimum). Below 700 bytes the per-block bookkeeping and the
// copy instructions cost more than they save, so files up to 700^2 bytes use 700-byte
// blocks; up to 1 MiB, sqrt(size) rounded down to a multiple of 8; above, the power of
// two nearest to sqrt(size), so that a growing file keeps its block size (its new
// signature then shares the old one's entries); capped at 128 KiB (reached at 16 GiB) so
// a change never costs more than ~256 KiB of literal and the matcher's window stays
// small. Examples: 1 MiB -> 1024, 70 MB -> 8192, 200 MiB -> 16384, 1 GiB -> 32768.
//
// Why the strong hash stays 8 bytes (rsync sends 2-4): rsync's receiver checks the
// rebuilt file's whole-file checksum and redoes the file with longer hashes on a
// mismatch. Over plain SFTP the rebuilt file is on the server, which cannot hash it, so
// a false block match would go unnoticed (reading it back costs the whole file). With
// 4-byte strong hashes a 200 MiB file with 14 000 blocks would see ~650 000 weak hits
// per pass and a silent corruption chance of ~1e-4 per such file; 8 bytes keep it
// below 1e-13.
uint32_t ChooseBlockSize(uint64_t file_size);

// Builds a FileSignature from a file fed in any chunk sizes.
class SignatureBuilder {
 public:
  // block_size 0 is treated as kMinBlockSize.
  explicit SignatureBuilder(uint32_t block_size);

  void Update(std::string_view data);

  // Appends one whole block (block_size bytes) whose entry the caller already knows, as
  // if its bytes had been fed: DeltaMatcher reuses the base's entry for a block of the
  // new file it copied whole. Precondition: the bytes fed so far are whole blocks (no
  // partial block pending).
  void AppendKnownBlock(const BlockSignature& block);

  // Returns the signature of everything fed since construction (or the last Finish) and
  // resets the builder to empty, with the same block size.
  FileSignature Finish();

 private:
  void AddBlock(const char* p, size_t n);

  uint32_t block_size_;
  uint64_t file_size_ = 0;
  std::string partial_;  // bytes of an incomplete block (< block_size_)
  std::vector<BlockSignature> blocks_;
};

}  // namespace skiff
