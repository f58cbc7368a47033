#include "sync/session_picker.h"

#include <climits>

namespace skiff::sync {

size_t SessionPicker::Pick(uint64_t size) {
  const size_t n = n_;
  const bool big = size >= kBigFileSize;
  const size_t start = next_++ % n;
  size_t best = start;
  int best_load = INT_MAX;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    // Twice the big files in progress, plus one on session 0 for a big file: a big file
    // takes session 0 only when every other session has as many big files as it.
    const int load = 2 * big_[i].load() + (big && i == 0 && n > 1 ? 1 : 0);
    if (load < best_load) {
      best = i;
      best_load = load;
    }
  }
  if (big) ++big_[best];
  return best;
}

void SessionPicker::Done(size_t session, uint64_t size) {
  if (size >= kBigFileSize) --big_[session];
}

}  // namespace skiff::sync
