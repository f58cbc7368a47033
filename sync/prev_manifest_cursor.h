// PrevCursor: the previous snapshot's manifest, streamed alongside the scan (both in
// manifest order), so looking an entry up is a merge and memory does not grow with the
// tree. Not thread-safe (the scan thread). A manifest that turns out unreadable is
// reported once through `warn` and treated as ended.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "sync/manifest.h"
#include "sync/rel_path.h"

namespace skiff::sync {

// Streams the previous manifest alongside the scan (both in manifest order).
class PrevCursor {
 public:
  explicit PrevCursor(std::unique_ptr<ManifestReader> reader,
                      std::function<void(const std::string&)> warn)
      : reader_(std::move(reader)), warn_(std::move(warn)) {
    Advance();
  }
  const ManifestEntry* Find(const std::string& path) {
    while (cur_ && RelPathLess(cur_->path, path)) Advance();
    if (cur_ && cur_->path == path) return &*cur_;
    return nullptr;
  }

 private:
  void Advance() {
    cur_.reset();
    if (!reader_) return;
    auto r = reader_->Next();
    if (!r.ok()) {
      warn_("previous manifest unreadable, continuing without it: " + r.status().ToString());
      reader_.reset();
      return;
    }
    cur_ = std::move(*r);
    if (!cur_) reader_.reset();
  }
  std::unique_ptr<ManifestReader> reader_;
  std::function<void(const std::string&)> warn_;
  std::optional<ManifestEntry> cur_;
};

}  // namespace skiff::sync
