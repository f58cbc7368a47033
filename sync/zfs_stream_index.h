// The index of a ZFS stream store: which stream files exist and how they chain.
//
// A store holds chains of `zfs send` streams: a full stream, then incrementals, each
// taking a snapshot (guid) from its parent snapshot (parent_guid; 0 for a full). The
// index lists them in the order they were stored; the text format is in doc/ZFS.md:
//
//   skiff-zfs-index 1
//   dataset<TAB>pool/fs
//   stream<TAB>file<TAB>snapshot<TAB>guid<TAB>parent_guid<TAB>size<TAB>xxh128<TAB>created
//
// Parse() treats the text as hostile: every field is checked (file names must be
// "streams/<16 hex>-<16 hex>.zfs", matching guid and parent, so an index can never
// point outside the store; parents must appear earlier; guids are unique).
//
// Value type; not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "transport/status.h"

namespace skiff::sync {

struct ZfsStreamEntry {
  std::string file;          // relative to the store root
  std::string snapshot;      // snapshot name (after '@') the stream produces
  uint64_t guid = 0;         // that snapshot's guid
  uint64_t parent_guid = 0;  // the incremental's origin; 0 = full stream
  uint64_t size = 0;         // bytes in the file
  std::string xxh128;        // 32 hex digits of the whole file
  int64_t created = 0;       // unix seconds when it was stored

  bool full() const { return parent_guid == 0; }
};

// "streams/<guid hex>-<parent hex>.zfs".
std::string ZfsStreamFileName(uint64_t guid, uint64_t parent_guid);

// True for names zfs accepts for a snapshot component and safe to print unquoted.
bool IsValidZfsSnapshotName(std::string_view name);

class ZfsStreamIndex {
 public:
  static constexpr int kVersion = 1;

  static Result<ZfsStreamIndex> Parse(std::string_view text);
  std::string Serialize() const;

  const std::string& dataset() const { return dataset_; }
  void set_dataset(std::string d) { dataset_ = std::move(d); }
  const std::vector<ZfsStreamEntry>& streams() const { return streams_; }

  // Appends `e`; kInvalidArgument if its guid is already stored or its parent is not.
  Status Add(ZfsStreamEntry e);
  // Drops the entries whose guid is in `guids` (the caller keeps chains whole).
  void Remove(const std::vector<uint64_t>& guids);

  const ZfsStreamEntry* FindGuid(uint64_t guid) const;
  // The newest stored entry for snapshot `name`, or nullptr.
  const ZfsStreamEntry* FindName(std::string_view name) const;
  // The newest entry (the tip of the most recent chain), or nullptr when empty.
  const ZfsStreamEntry* Newest() const;
  // Streams to receive in order to reproduce snapshot `guid`: a full, then incrementals.
  Result<std::vector<ZfsStreamEntry>> ChainTo(uint64_t guid) const;

 private:
  std::string dataset_;
  std::vector<ZfsStreamEntry> streams_;
};

}  // namespace skiff::sync
