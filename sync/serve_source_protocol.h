// Fields of the pull-mode requests of the serve protocol (serve ops 50-56 in
// transport/serve_protocol.h; doc/SERVE.md "Pull backups"), shared by the server
// (ServeSourceHandlers) and the client (ServeSourceFs).
//
//   source-root        ()                              -> str absolute root
//   source-lstat       str path                        -> stat
//   source-list        str path, u32 start             -> u8 more, u32 n,
//                                                         n x (str name, stat, str link)
//   source-delta-open  str path, u32 sig_block_size,   -> u32 job, stat
//                      u64 base_signature_length
//   source-delta-sig   u32 job, str chunk              -> ()
//   source-delta-next  u32 job                         -> u8 done, u32 n, n x record
//   source-delta-close u32 job                         -> ()
//
//   stat   = u32 mode, u32 uid, u32 gid, u64 size, u64 ino, u64 dev, u64 nlink,
//            u64 mtime, u64 ctime (LocalStat; mode includes the S_IFMT bits)
//   link   = the symlink's target, "" for anything else
//   record = u8 kind, then kCopy: u64 base_offset, u64 length | kLiteral: str bytes |
//            kSignature: str piece of the new file's encoded FileSignature |
//            kEnd: str xxh128 hex, u64 size, stat (fstat after the last read)
//
// Free functions; thread-safe.
#pragma once

#include <cstdint>

#include "sync/local_fs.h"
#include "transport/serve_protocol.h"

namespace skiff::sync {

enum class DeltaRecord : uint8_t { kCopy = 0, kLiteral = 1, kSignature = 2, kEnd = 3 };

// A base signature larger than this is refused (a 1 TiB file at 128 KiB blocks needs
// ~100 MiB); the server also caps the total held by one session at this.
inline constexpr uint64_t kMaxSourceSignature = 256ull << 20;
// Delta jobs one session may run at once (each holds a matcher index, ~34 bytes per base
// block, plus at most ~2 MiB of queued output).
inline constexpr uint32_t kMaxSourceDeltaJobs = 16;

void PutLocalStat(serve::PayloadWriter& w, const LocalStat& st);
LocalStat GetLocalStat(serve::PayloadReader& r);

}  // namespace skiff::sync
