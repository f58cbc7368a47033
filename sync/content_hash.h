// Whole-file content hash (XXH3 128-bit) in streaming form, printed as 32 lowercase hex
// digits (canonical big-endian byte order, as `xxhsum -H2` prints it).
//
// Not thread-safe; one hasher per stream. Copyable.
#pragma once

#ifndef XXH_STATIC_LINKING_ONLY
#define XXH_STATIC_LINKING_ONLY  // exposes XXH3_state_t so it can be a member
#endif
#include <xxhash.h>

#include <string>
#include <string_view>

namespace skiff::sync {

class ContentHasher {
 public:
  ContentHasher();
  void Update(std::string_view data);
  // Hex digest of everything fed so far; the hasher may continue to be fed.
  std::string HexDigest() const;

 private:
  XXH3_state_t state_;
};

// Hex digest of one buffer.
std::string ContentHash(std::string_view data);

// True if `s` has the shape of a digest (32 lowercase hex digits).
bool IsContentHash(std::string_view s);

}  // namespace skiff::sync
