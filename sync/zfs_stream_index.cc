#include "sync/zfs_stream_index.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <set>

#include "sync/content_hash.h"

namespace skiff::sync {
namespace {

constexpr std::string_view kMagic = "skiff-zfs-index";

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  for (;;) {
    size_t i = s.find(sep, pos);
    out.push_back(s.substr(pos, i == std::string_view::npos ? std::string_view::npos : i - pos));
    if (i == std::string_view::npos) break;
    pos = i + 1;
  }
  return out;
}

template <typename T>
bool ParseNumber(std::string_view s, T& out) {
  if (s.empty() || s.size() > 20) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool IsValidDatasetName(std::string_view d) {
  if (d.empty() || d.size() > 255 || d.front() == '/' || d.back() == '/') return false;
  for (char c : d)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ':' ||
          c == '/' || c == ' '))
      return false;
  return true;
}

}  // namespace

std::string ZfsStreamFileName(uint64_t guid, uint64_t parent_guid) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "streams/%016llx-%016llx.zfs",
                static_cast<unsigned long long>(guid),
                static_cast<unsigned long long>(parent_guid));
  return buf;
}

bool IsValidZfsSnapshotName(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ':'))
      return false;
  return true;
}

Result<ZfsStreamIndex> ZfsStreamIndex::Parse(std::string_view text) {
  ZfsStreamIndex idx;
  std::vector<std::string_view> lines = Split(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  auto bad = [](size_t line, const std::string& why) {
    return Status::Corrupt("zfs stream index line " + std::to_string(line + 1) + ": " + why);
  };
  if (lines.empty()) return bad(0, "empty file");
  std::vector<std::string_view> head = Split(lines[0], ' ');
  int version = 0;
  if (head.size() != 2 || head[0] != kMagic || !ParseNumber(head[1], version))
    return bad(0, "not a skiff zfs stream index");
  if (version != kVersion)
    return Status::Unsupported("zfs stream index version " + std::to_string(version) +
                               " is not supported (this skiff reads version " +
                               std::to_string(kVersion) + "); upgrade skiff");
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string_view> f = Split(lines[i], '\t');
    if (f[0] == "dataset") {
      if (f.size() != 2 || !IsValidDatasetName(f[1])) return bad(i, "bad dataset line");
      idx.dataset_ = std::string(f[1]);
    } else if (f[0] == "stream") {
      if (f.size() != 8) return bad(i, "a stream line has 8 fields");
      ZfsStreamEntry e;
      e.file = std::string(f[1]);
      e.snapshot = std::string(f[2]);
      if (!ParseNumber(f[3], e.guid) || e.guid == 0) return bad(i, "bad guid");
      if (!ParseNumber(f[4], e.parent_guid)) return bad(i, "bad parent guid");
      if (!ParseNumber(f[5], e.size)) return bad(i, "bad size");
      e.xxh128 = std::string(f[6]);
      if (!ParseNumber(f[7], e.created)) return bad(i, "bad creation time");
      if (!IsValidZfsSnapshotName(e.snapshot)) return bad(i, "bad snapshot name");
      if (!IsContentHash(e.xxh128)) return bad(i, "bad xxh128");
      if (e.file != ZfsStreamFileName(e.guid, e.parent_guid))
        return bad(i, "file name does not match guid and parent");
      Status st = idx.Add(std::move(e));
      if (!st.ok()) return bad(i, st.message());
    } else {
      return bad(i, "unknown record '" + std::string(f[0]) + "'");
    }
  }
  return idx;
}

std::string ZfsStreamIndex::Serialize() const {
  std::string out = std::string(kMagic) + " " + std::to_string(kVersion) + "\n";
  if (!dataset_.empty()) out += "dataset\t" + dataset_ + "\n";
  for (const auto& e : streams_) {
    out += "stream\t" + e.file + "\t" + e.snapshot + "\t" + std::to_string(e.guid) + "\t" +
           std::to_string(e.parent_guid) + "\t" + std::to_string(e.size) + "\t" + e.xxh128 + "\t" +
           std::to_string(e.created) + "\n";
  }
  return out;
}

Status ZfsStreamIndex::Add(ZfsStreamEntry e) {
  if (FindGuid(e.guid))
    return Status::Invalid("snapshot guid " + std::to_string(e.guid) + " is already stored");
  if (e.parent_guid != 0 && !FindGuid(e.parent_guid))
    return Status::Invalid("parent guid " + std::to_string(e.parent_guid) + " of " + e.snapshot +
                           " is not stored");
  streams_.push_back(std::move(e));
  return Status::Ok();
}

void ZfsStreamIndex::Remove(const std::vector<uint64_t>& guids) {
  std::set<uint64_t> drop(guids.begin(), guids.end());
  std::erase_if(streams_, [&](const ZfsStreamEntry& e) { return drop.count(e.guid) > 0; });
}

const ZfsStreamEntry* ZfsStreamIndex::FindGuid(uint64_t guid) const {
  for (const auto& e : streams_)
    if (e.guid == guid) return &e;
  return nullptr;
}

const ZfsStreamEntry* ZfsStreamIndex::FindName(std::string_view name) const {
  for (auto it = streams_.rbegin(); it != streams_.rend(); ++it)
    if (it->snapshot == name) return &*it;
  return nullptr;
}

const ZfsStreamEntry* ZfsStreamIndex::Newest() const {
  return streams_.empty() ? nullptr : &streams_.back();
}

Result<std::vector<ZfsStreamEntry>> ZfsStreamIndex::ChainTo(uint64_t guid) const {
  std::vector<ZfsStreamEntry> chain;
  const ZfsStreamEntry* e = FindGuid(guid);
  if (!e) return Status::NotFound("snapshot guid " + std::to_string(guid) + " is not stored");
  while (e) {
    chain.push_back(*e);
    if (e->full()) break;
    if (chain.size() > streams_.size())
      return Status::Corrupt("zfs stream index: parent links form a cycle");
    const ZfsStreamEntry* parent = FindGuid(e->parent_guid);
    if (!parent)
      return Status::Corrupt("zfs stream index: " + e->snapshot + " needs parent guid " +
                             std::to_string(e->parent_guid) + ", which is not stored");
    e = parent;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

}  // namespace skiff::sync
