// `skiff diff`: the differences between two manifests, found in one streaming merge.
// Kinds: '+' only in B, '-' only in A, 'M' content changed (hash or symlink target),
// 'T' type changed, 'm' metadata only (mode, owner, mtime). Not thread-safe.
#pragma once

#include <functional>
#include <string>

#include "sync/manifest.h"

namespace skiff::sync {

Status DiffManifests(ManifestReader& a, ManifestReader& b,
                     const std::function<void(char kind, const std::string& path)>& out);

}  // namespace skiff::sync
