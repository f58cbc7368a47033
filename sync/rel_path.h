// Snapshot-relative paths: validation, ordering and joining.
//
// Every path inside a snapshot (manifest entries, restore selections) is a relative,
// '/'-separated byte string of one or more components, none of which is empty, ".", ".."
// or contains a NUL. ValidateRelPath is the one gate hostile manifests pass through.
//
// Order: manifests list entries in depth-first pre-order with siblings sorted by name
// bytes. RelPathLess compares component by component, which is exactly that order (a
// parent sorts before its children, "a/z" before "a.b" because "a" < "a.b"), so two
// manifests and a directory scan can be merged in one streaming pass.
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "transport/status.h"

namespace skiff::sync {

// OK if `path` is a safe relative path as described above; kCorrupt naming the problem
// otherwise.
Status ValidateRelPath(std::string_view path);

// True if a sorts before b in manifest order. Both must be valid relative paths.
bool RelPathLess(std::string_view a, std::string_view b);

// "a/b" + "c" -> "a/b/c"; an empty base yields `name`.
std::string JoinPath(std::string_view base, std::string_view name);

// Last component of a path ("a/b" -> "b").
std::string_view BaseName(std::string_view path);

// Everything before the last '/', or "" for a single component.
std::string_view DirName(std::string_view path);

// True if `path` equals `prefix` or lies below it ("a/b" is under "a", "ab" is not).
bool IsUnder(std::string_view path, std::string_view prefix);

}  // namespace skiff::sync
