// The snapshot manifest: one text line per entry, written and read as a stream so that
// memory never grows with the tree. The byte format is specified in doc/FORMAT.md
// (manifest versions 1 and 2); this file is its only encoder and decoder.
//
// Version 2 (written) is version 1's lines with the header line left plain and
// everything after it zlib-compressed: a manifest is text whose paths, modes and times
// repeat, ~4x smaller compressed, and it crosses the wire once per backup (upload) and
// whenever the local cache does not match (download). Version 1 is still read.
//
// ManifestWriter and ManifestReader are not thread-safe; each belongs to one stream.
// A reader that returned an error stays failed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sync/content_hash.h"
#include "transport/status.h"

namespace skiff::sync {

inline constexpr int kManifestVersion = 2;        // written
inline constexpr int kOldestManifestVersion = 1;  // still read

enum class EntryType : char { kFile = 'f', kDir = 'd', kSymlink = 'l' };

struct ManifestEntry {
  EntryType type = EntryType::kFile;
  std::string path;   // snapshot-relative, valid per ValidateRelPath
  uint32_t mode = 0;  // permission bits only (07777)
  uint32_t uid = 0, gid = 0;
  int64_t mtime = 0;           // seconds since the epoch
  uint64_t size = 0;           // files: content length; others 0
  std::string hash;            // files: ContentHash of the content; others empty
  bool has_signature = false;  // files: .skiff/sigs holds a signature for `hash`
  uint64_t link_group = 0;     // files hard-linked together in the source share a non-zero id
  uint64_t ino = 0;            // source inode (change detection only)
  int64_t ctime = 0;           // source ctime (change detection only)
  std::string link_target;     // symlinks only

  bool SameContentMeta(const ManifestEntry& o) const;  // everything a hard link shares
};

class ManifestWriter {
 public:
  using Sink = std::function<Status(std::string_view)>;
  // `sink` receives the encoded bytes in order, buffered in pieces of ~256 KiB.
  ManifestWriter(std::string snapshot_name, Sink sink);
  ~ManifestWriter();
  ManifestWriter(const ManifestWriter&) = delete;
  ManifestWriter& operator=(const ManifestWriter&) = delete;

  // Entries must come in manifest order (RelPathLess), each path at most once.
  Status Add(const ManifestEntry& e);
  // Writes the trailer and flushes. No Add after Finish.
  Status Finish();

  uint64_t entries() const { return count_; }

 private:
  Status Emit(std::string_view bytes);
  // Compresses the pending text (all of it with `finish`) and passes what zlib produced
  // to the sink.
  Status Flush(bool finish);

  struct Deflater;
  Sink sink_;
  std::string buf_;  // text not yet compressed
  std::string out_;  // bytes for the sink (the plain header, then compressed)
  std::unique_ptr<Deflater> deflater_;
  ContentHasher hasher_;
  uint64_t count_ = 0;
  std::string last_path_;
  bool failed_ = false;
};

class ManifestReader {
 public:
  // Returns the next piece of the stream; an empty string means end of stream.
  using Source = std::function<Result<std::string>()>;
  explicit ManifestReader(Source source);
  ~ManifestReader();
  ManifestReader(const ManifestReader&) = delete;
  ManifestReader& operator=(const ManifestReader&) = delete;

  // Reads and checks the header. Must be called first.
  Status Open();
  const std::string& snapshot_name() const { return name_; }

  // The next entry, or nullopt after the trailer was read and verified (entry count and
  // hash of everything before it). Hostile or corrupt input gives kCorrupt.
  Result<std::optional<ManifestEntry>> Next();

 private:
  Result<std::optional<std::string>> NextLine();  // without the '\n'; nullopt at EOF
  // The next piece of the body: from source_ (version 1) or inflated from it (version 2).
  Result<std::string> NextPiece();

  struct Inflater;
  Source source_;
  std::unique_ptr<Inflater> inflater_;  // version 2
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  bool done_ = false;
  Status failed_;
  ContentHasher hasher_;
  uint64_t count_ = 0;
  std::string last_path_;
  std::string name_;
};

// Percent-escaping used for fields (exposed for tests and the format document).
std::string EscapeField(std::string_view s);
Result<std::string> UnescapeField(std::string_view s);

}  // namespace skiff::sync
