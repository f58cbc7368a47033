// Where manifests are read from, and the local copy of the newest one.
//
// The backup engine streams the previous snapshot's manifest alongside its scan. Over a
// slow link that is a lot of bytes for a big tree, so each backup also writes the
// manifest to a local cache directory (e.g. ~/.cache/skiff/<repository id>/). The cache
// is used only if it names the same snapshot and its size and final 128 bytes (which
// hold the trailer: entry count and hash of the whole manifest) equal the server's copy;
// otherwise the server's manifest is streamed. A cache problem is never an error: it only costs
// bytes.
//
// Not thread-safe.
#pragma once

#include <fstream>
#include <memory>
#include <string>

#include "sync/manifest.h"
#include "sync/repository.h"

namespace skiff::sync {

// A reader over the server's manifest of snapshot `name`, header already checked.
Result<std::unique_ptr<ManifestReader>> OpenRemoteManifest(const Repository& repo,
                                                           const std::string& name);

class ManifestCache {
 public:
  explicit ManifestCache(std::string dir) : dir_(std::move(dir)) {}

  // The manifest of `name`: the cached copy if it matches the server's, else the server's.
  Result<std::unique_ptr<ManifestReader>> OpenLatest(const Repository& repo,
                                                     const std::string& name);

  class Writer {
   public:
    Writer(std::string dir, std::string name);
    void Write(std::string_view bytes);
    // Makes the written manifest the cached one (after the snapshot was published).
    void Commit(const Repository& repo, const std::string& name);

   private:
    std::string dir_, name_;
    std::ofstream out_;
    bool ok_ = true;
  };
  // nullptr when there is no cache directory or it cannot be written.
  std::unique_ptr<Writer> BeginWrite(const std::string& name);

 private:
  std::string dir_;
};

}  // namespace skiff::sync
