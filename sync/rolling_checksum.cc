#include "sync/rolling_checksum.h"

namespace skiff {

uint32_t RollingChecksum::Compute(std::string_view data) {
  RollingChecksum c;
  c.Update(data);
  return c.Digest();
}

}  // namespace skiff
