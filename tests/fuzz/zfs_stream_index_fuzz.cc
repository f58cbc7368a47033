// Fuzzes the ZFS stream store index parser (sync/zfs_stream_index.cc): the index is read
// back from the backup server, so it is hostile input that decides which stream files a
// restore reads and in which order they are received.
// Invariants: no crash; an accepted index names only "streams/<guid>-<parent>.zfs"
// files inside the store, has unique non-zero guids whose parents were stored earlier,
// every snapshot's chain resolves to a full stream followed by incrementals that each
// continue the previous one, and Serialize() parses back to the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "sync/zfs_stream_index.h"

using namespace skiff;
using namespace skiff::sync;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto idx = ZfsStreamIndex::Parse(text);
  if (!idx.ok()) {
    if (idx.status().message().empty()) std::abort();
    return 0;
  }
  std::set<uint64_t> guids;
  for (const ZfsStreamEntry& e : idx->streams()) {
    if (e.guid == 0 || !guids.insert(e.guid).second) std::abort();
    if (e.file != ZfsStreamFileName(e.guid, e.parent_guid)) std::abort();
    if (e.file.find("..") != std::string::npos || e.file.front() == '/') std::abort();
    if (!IsValidZfsSnapshotName(e.snapshot)) std::abort();
    if (!e.full() && !guids.count(e.parent_guid)) std::abort();  // parent stored earlier
    if (idx->FindGuid(e.guid) != &e) std::abort();
    if (!idx->FindName(e.snapshot)) std::abort();
    auto chain = idx->ChainTo(e.guid);
    if (!chain.ok() || chain->empty()) std::abort();
    if (!chain->front().full() || chain->back().guid != e.guid) std::abort();
    for (size_t i = 1; i < chain->size(); ++i)
      if ((*chain)[i].parent_guid != (*chain)[i - 1].guid) std::abort();
  }
  if (!idx->streams().empty() && idx->Newest() != &idx->streams().back()) std::abort();
  std::string out = idx->Serialize();
  auto again = ZfsStreamIndex::Parse(out);
  if (!again.ok() || again->Serialize() != out || again->dataset() != idx->dataset()) std::abort();
  // Removing a chain's tip keeps the rest valid.
  if (!idx->streams().empty()) {
    ZfsStreamIndex copy = *idx;
    copy.Remove({copy.streams().back().guid});
    for (const ZfsStreamEntry& e : copy.streams())
      if (!copy.FindGuid(e.guid)) std::abort();
  }
  return 0;
}
