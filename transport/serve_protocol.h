// The `skiff serve` wire protocol (doc/SERVE.md): length-prefixed binary frames over
// the 8-bit-clean stdin/stdout of a forced command, shared by the client
// (ServeRemoteFs) and the server (sync/serve_server.h).
//
//   frame   = u32 length (big-endian, bytes after this field) | u8 type | u32 id | payload
//   payload = fields encoded with PayloadWriter: u8, u32, u64 (big-endian), and
//             strings as u32 length + bytes.
//
// Requests carry the client's id; every request gets exactly one kReply with the same id:
//   reply payload = u8 code (skiff::Code) | on success: the operation's result fields
//                                          | on failure: string message
// Hard caps: a frame is at most kMaxFrameSize bytes (anything larger is kCorrupt before
// any allocation), a string at most the frame, ReadDir replies at most kMaxDirBatch
// entries. Decoding never allocates more than the bytes actually received.
//
// Free functions and small value classes; thread-safe as values are.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "transport/channel.h"
#include "transport/remote_fs.h"
#include "transport/status.h"

namespace skiff::serve {

// Version 2 adds ops 40-49 (server-side delta); version 3 the kBuild flag kBaseSig (a
// build may name its base's stored signature). The client's hello names the newest
// version it speaks; a server answers with the version the session uses, the lower of
// both (at least kMinProtocolVersion, else it refuses). A version-1 server refuses a
// version-2 hello without ending the session, so the client then says hello again with
// version 1 and works without ops 40-49.
inline constexpr uint32_t kProtocolVersion = 3;
inline constexpr uint32_t kMinProtocolVersion = 1;
inline constexpr char kMagic[] = "skiff-serve";
// 1 MiB of data per read/write plus headers: large enough that a loopback or LAN link
// is not latency-bound with a few requests in flight, small enough to bound the
// server's memory per request (one frame is buffered at a time).
inline constexpr uint32_t kMaxData = 1024 * 1024;
inline constexpr uint32_t kMaxFrameSize = kMaxData + 64 * 1024;
inline constexpr uint32_t kMaxDirBatch = 2048;
inline constexpr size_t kFrameHeader = 4 + 1 + 4;  // length, type, id

enum class Op : uint8_t {
  kHello = 1,  // str magic, u32 version -> u32 version, u32 max_data, u8 mode
  kStat,       // str path -> attr
  kLstat,      // str path -> attr
  kSetStat,    // str path, attr -> ()
  kLSetStat,   // str path, attr -> ()
  kReadDir,    // str path, u32 start -> u8 more, u32 n, n x (str name, attr)
  kOpen,       // str path, u32 flags, u32 mode -> u32 handle
  kRead,       // u32 handle, u64 offset, u32 len -> str data
  kWrite,      // u32 handle, u64 offset, str data -> ()
  kFstat,      // u32 handle -> attr
  kFsetStat,   // u32 handle, attr -> ()
  kFsync,      // u32 handle -> ()
  kClose,      // u32 handle -> ()
  kMkdir,      // str path, u32 mode -> ()
  kRmdir,      // str path -> ()
  kRemove,     // str path -> ()
  kRename,     // str from, str to, u8 replace -> ()
  kSymlink,    // str target, str link_path -> ()
  kReadlink,   // str path -> str target
  kHardlink,   // str existing, str new_path -> ()
  kStatVfs,    // str path -> 12 x u64
  kRealPath,   // str path -> str path
  kCopyData,   // u32 src, u64 src_off, u64 len, u32 dst, u64 dst_off -> ()
  // 40-49: server-side delta for push backups (protocol version 2; doc/SERVE.md
  // "Server-side delta", fields in sync/serve_build_handlers.h).
  kBaseSignature = 40,  // a file's block signature, read from the store or computed there
  kBuild = 41,          // build a file from copy ranges of a base plus literals, in place
  kLinkBatch = 42,      // many hard links in one request (prefix-compressed paths)
  // 50-59: pull backups, read-only requests (fields in sync/serve_source_protocol.h).
  kSourceRoot = 50,
  kSourceLstat = 51,
  kSourceList = 52,
  kSourceDeltaOpen = 53,
  kSourceDeltaSig = 54,
  kSourceDeltaNext = 55,
  kSourceDeltaClose = 56,
  // 60-69: zfs receive (skiff serve --zfs-receive; fields in sync/serve_zfs_receive.h).
  kZfsTarget = 60,
  kZfsBegin = 61,
  kZfsData = 62,
  kZfsEnd = 63,
  kZfsAbort = 64,
  kReply = 100,
};
// True for every request type of the protocol (every Op but kReply). A server refuses
// anything else before looking at the payload.
bool IsRequestOp(uint8_t type);

// The server's policy, announced in the hello reply (informational for the client:
// the server enforces it).
enum class Mode : uint8_t { kFull = 0, kReadOnly = 1, kAppendOnly = 2, kWriteOnly = 3 };
std::string_view ModeName(Mode m);

struct Frame {
  uint8_t type = 0;
  uint32_t id = 0;
  std::string payload;
};

// Encodes a whole frame (header + payload) into one string, ready for one Channel::Write.
std::string EncodeFrame(uint8_t type, uint32_t id, std::string_view payload);

// Decodes the first frame of `buf`. Returns nullopt when more bytes are needed;
// kCorrupt for a length of zero or above kMaxFrameSize. On success *consumed is set.
Result<std::optional<Frame>> DecodeFrame(std::string_view buf, size_t* consumed);

// Reads one whole frame from a channel (blocking). kConnectionLost at EOF.
// `buf` keeps bytes read past the frame between calls (one reader per buffer).
Result<Frame> ReadFrame(Channel& ch, std::string& buf);

class PayloadWriter {
 public:
  PayloadWriter& U8(uint8_t v);
  PayloadWriter& U32(uint32_t v);
  PayloadWriter& U64(uint64_t v);
  PayloadWriter& Str(std::string_view s);
  PayloadWriter& Attr(const FileAttr& a);
  const std::string& data() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads fields in order; the first short or malformed field makes every later call fail
// and ok() false. Strings are views into the payload (which must outlive them).
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view in) : in_(in) {}
  uint8_t U8();
  uint32_t U32();
  uint64_t U64();
  std::string_view Str();
  FileAttr Attr();
  bool ok() const { return ok_; }
  bool done() const { return ok_ && in_.empty(); }
  // kCorrupt naming `what` unless every field was read and nothing is left.
  Status Finish(std::string_view what) const;

 private:
  bool Take(size_t n, std::string_view* out);
  std::string_view in_;
  bool ok_ = true;
};

// Reply payloads.
std::string EncodeOkReply(std::string_view result);
std::string EncodeErrorReply(const Status& st);
// Splits a reply into its status and, on success, the result fields.
Result<std::string_view> DecodeReply(std::string_view payload);

}  // namespace skiff::serve
