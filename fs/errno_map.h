// Status -> errno: the one place in skiff where a failure becomes an errno (see
// transport/status.h). Every Code is handled; the judgement calls are commented in
// errno_map.cc. Thread-safe (pure function).
#pragma once

#include "transport/status.h"

namespace skiff::fs {

// The few operations whose man page prescribes a different errno for the same
// failure; everything else is kOther.
enum class FsOp { kOther, kMknod, kLink, kSetAttr };

// Returns a positive errno for a failed status, 0 for OK.
int StatusToErrno(const Status& status, FsOp op = FsOp::kOther);

}  // namespace skiff::fs
