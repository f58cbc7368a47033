// Fuzzes the snapshot manifest decoder with bytes as a hostile or corrupt server would
// return them, and the restore-side path checks every decoded path goes through.
// The input is split at the first NUL: before it a restore selection pattern list
// (newline-separated), after it the manifest, handed to the reader in small pieces so the
// line reassembly across pieces is exercised.
// Invariants: no crash, no hang, no unbounded allocation; every entry the reader accepts
// has a path that ValidateRelPath accepts, that has no empty/"."/".." component and cannot
// leave the restore root, that sorts strictly after the previous one, and whose fields
// are consistent with its type; the accepted entries re-encode with ManifestWriter and
// decode to the same entries (with a verified trailer).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sync/manifest.h"
#include "sync/rel_path.h"
#include "sync/restore_engine.h"

using namespace skiff;
using namespace skiff::sync;

namespace {

constexpr size_t kMaxEntries = 256;

bool SameEntry(const ManifestEntry& a, const ManifestEntry& b) {
  return a.type == b.type && a.path == b.path && a.mode == b.mode && a.uid == b.uid &&
         a.gid == b.gid && a.mtime == b.mtime && a.size == b.size && a.hash == b.hash &&
         a.has_signature == b.has_signature && a.link_group == b.link_group && a.ino == b.ino &&
         a.ctime == b.ctime && a.link_target == b.link_target;
}

// What the restore side relies on: joining the path under a root never leaves it.
void CheckConfined(const std::string& path) {
  if (!ValidateRelPath(path).ok()) std::abort();
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string::npos) std::abort();
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string_view comp(path.data() + i, j - i);
    if (comp.empty() || comp == "." || comp == "..") std::abort();
    i = j + 1;
  }
  std::string joined = JoinPath("/restore/root", path);
  if (!IsUnder(joined, "/restore/root") || joined == "/restore/root") std::abort();
  if (DirName(path).size() >= path.size() || BaseName(path).empty()) std::abort();
  if (!DirName(path).empty() && !RelPathLess(DirName(path), path)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> patterns;
  size_t nul = in.find('\0');
  if (nul != std::string_view::npos && nul < 256) {
    std::string_view sel = in.substr(0, nul);
    in.remove_prefix(nul + 1);
    while (!sel.empty() && patterns.size() < 4) {
      size_t nl = sel.find('\n');
      patterns.emplace_back(sel.substr(0, nl));
      sel.remove_prefix(nl == std::string_view::npos ? sel.size() : nl + 1);
    }
  }
  // Pieces of 1..64 bytes, sized by the data itself, so reassembly sees varied splits.
  size_t pos = 0;
  std::string_view src = in;
  ManifestReader reader([&]() -> Result<std::string> {
    if (pos >= src.size()) return std::string();
    size_t n = 1 + static_cast<unsigned char>(src[pos]) % 64;
    n = std::min(n, src.size() - pos);
    std::string piece(src.substr(pos, n));
    pos += n;
    return piece;
  });
  if (!reader.Open().ok()) return 0;
  std::vector<ManifestEntry> entries;
  bool complete = false;
  while (entries.size() < kMaxEntries) {
    auto next = reader.Next();
    if (!next.ok()) {
      if (next.status().message().empty()) std::abort();  // errors must say what went wrong
      if (reader.Next().ok()) std::abort();               // a failed reader stays failed
      break;
    }
    if (!next->has_value()) {
      complete = true;
      if (!reader.Next().ok()) std::abort();  // end stays end
      break;
    }
    ManifestEntry& e = **next;
    CheckConfined(e.path);
    if (!entries.empty() && !RelPathLess(entries.back().path, e.path)) std::abort();
    if (RelPathLess(e.path, e.path)) std::abort();
    if (e.mode > 07777) std::abort();
    if (e.type != EntryType::kFile && (e.size != 0 || e.link_group != 0 || e.has_signature))
      std::abort();
    if ((e.type == EntryType::kSymlink) == e.link_target.empty()) std::abort();
    for (const auto& p : patterns) (void)RestoreSelected({p}, e.path);
    entries.push_back(std::move(e));
  }

  // Re-encode what was accepted: the writer must take it, and the reader must give back
  // the same entries and accept the trailer the writer computed.
  std::string encoded;
  ManifestWriter writer(reader.snapshot_name(), [&](std::string_view b) {
    encoded.append(b);
    return Status::Ok();
  });
  for (const auto& e : entries)
    if (!writer.Add(e).ok()) std::abort();
  if (!writer.Finish().ok()) std::abort();
  bool served = false;
  ManifestReader again([&]() -> Result<std::string> {
    if (served) return std::string();
    served = true;
    return encoded;
  });
  if (!again.Open().ok() || again.snapshot_name() != reader.snapshot_name()) std::abort();
  for (const auto& e : entries) {
    auto n = again.Next();
    if (!n.ok() || !n->has_value() || !SameEntry(**n, e)) std::abort();
  }
  auto end = again.Next();
  if (!end.ok() || end->has_value()) std::abort();
  (void)complete;
  return 0;
}
