#include "sync/content_hash.h"

namespace skiff::sync {

ContentHasher::ContentHasher() { XXH3_128bits_reset(&state_); }

void ContentHasher::Update(std::string_view data) {
  XXH3_128bits_update(&state_, data.data(), data.size());
}

std::string ContentHasher::HexDigest() const {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits_digest(&state_));
  static const char kHex[] = "0123456789abcdef";
  std::string r;
  r.reserve(32);
  for (unsigned char b : c.digest) {
    r += kHex[b >> 4];
    r += kHex[b & 15];
  }
  return r;
}

std::string ContentHash(std::string_view data) {
  ContentHasher h;
  h.Update(data);
  return h.HexDigest();
}

bool IsContentHash(std::string_view s) {
  if (s.size() != 32) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace skiff::sync
