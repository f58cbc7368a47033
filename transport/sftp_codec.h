// SFTP version 3 wire format (draft-ietf-secsh-filexfer-02 plus the OpenSSH extensions
// described in OpenSSH's PROTOCOL file): packet building, packet parsing and the one
// conversion of SSH_FX_* status codes into Status.
//
// Every decoder treats its input as hostile: a truncated packet, a length field that
// points past the end, an element count larger than the remaining bytes could hold, or
// a packet longer than kMaxPacketLength yields kCorrupt with a message naming the field,
// never a crash, and no allocation is sized from an unchecked count.
//
// Thread-safety: plain value types and free functions; no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "transport/remote_fs.h"
#include "transport/status.h"

namespace skiff::sftp {

inline constexpr uint32_t kProtocolVersion = 3;

// The largest packet (the length field's value) we accept from a server. OpenSSH's
// sftp-server sends at most 256 KiB (SFTP_MAX_MSG_LENGTH); the slack covers the packet
// header of a DATA reply carrying a full 256 KiB payload from other servers.
inline constexpr uint32_t kMaxPacketLength = 256 * 1024 + 64;
// Bytes of a DATA reply that are not payload: type, id and the payload's length.
inline constexpr uint32_t kDataReplyOverhead = 1 + 4 + 4;

enum PacketType : uint8_t {
  kInit = 1,
  kVersion = 2,
  kOpen = 3,
  kClose = 4,
  kRead = 5,
  kWrite = 6,
  kLstat = 7,
  kFstat = 8,
  kSetstat = 9,
  kFsetstat = 10,
  kOpendir = 11,
  kReaddir = 12,
  kRemove = 13,
  kMkdir = 14,
  kRmdir = 15,
  kRealpath = 16,
  kStat = 17,
  kRename = 18,
  kReadlink = 19,
  kSymlink = 20,
  kStatus = 101,
  kHandle = 102,
  kData = 103,
  kName = 104,
  kAttrs = 105,
  kExtended = 200,
  kExtendedReply = 201,
};

// SSH_FX_* codes of SSH_FXP_STATUS.
enum StatusCode : uint32_t {
  kFxOk = 0,
  kFxEof = 1,
  kFxNoSuchFile = 2,
  kFxPermissionDenied = 3,
  kFxFailure = 4,
  kFxBadMessage = 5,
  kFxNoConnection = 6,
  kFxConnectionLost = 7,
  kFxOpUnsupported = 8,
};

// SSH_FXF_* open flags.
enum OpenFlag : uint32_t {
  kFxfRead = 0x1,
  kFxfWrite = 0x2,
  kFxfAppend = 0x4,
  kFxfCreat = 0x8,
  kFxfTrunc = 0x10,
  kFxfExcl = 0x20,
};

// SSH_FILEXFER_ATTR_* flags; the first four match FileAttr's `valid` bits.
inline constexpr uint32_t kAttrExtended = 0x80000000u;

// The one place SFTP status codes become a Status. `context` names the operation and
// path ("open /srv/x"); the server's message is kept. kFxOk and kFxEof are not errors
// and must not be passed here (they return kIo naming the mistake).
Status StatusFromSftp(uint32_t code, std::string_view server_message, std::string_view context);

// Builds one packet: the 4-byte length is patched in by Finish(). Appending never fails.
class PacketWriter {
 public:
  // Starts a packet of `type`; `reserve` pre-sizes the buffer (e.g. for WRITE payloads).
  explicit PacketWriter(uint8_t type, size_t reserve = 64);
  PacketWriter& U8(uint8_t v);
  PacketWriter& U32(uint32_t v);
  PacketWriter& U64(uint64_t v);
  PacketWriter& String(std::string_view s);
  PacketWriter& Attrs(const FileAttr& attr);
  // Patches the length and returns the finished packet; the writer is empty afterwards.
  // `trailing` bytes the caller sends right after it (a WRITE's payload) are counted in
  // the length.
  std::string Finish(size_t trailing = 0);

 private:
  std::string buf_;
};

// Sequential reader over one packet body. Every getter fails with kCorrupt naming
// `what` when the input is too short or inconsistent.
class PacketReader {
 public:
  explicit PacketReader(std::string_view data) : data_(data) {}
  Result<uint8_t> U8(const char* what);
  Result<uint32_t> U32(const char* what);
  Result<uint64_t> U64(const char* what);
  // A length-prefixed string as a view into the input (valid as long as the input).
  Result<std::string_view> String(const char* what);
  Result<FileAttr> Attrs(const char* what);
  size_t remaining() const { return data_.size() - pos_; }
  // kCorrupt when bytes are left over after a complete message.
  Status ExpectEnd(const char* what) const;

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

// Validates a packet's 4-byte length prefix; returns the length of what follows it.
Result<uint32_t> DecodePacketLength(std::string_view four_bytes);

// A reply split into type, request id and the rest (for VERSION, id is the version).
struct ReplyHeader {
  uint8_t type = 0;
  uint32_t id = 0;
};
// `packet` is one packet without its length prefix. On success `*body` is set to the
// bytes following the id.
Result<ReplyHeader> DecodeReplyHeader(std::string_view packet, std::string_view* body);

struct VersionReply {
  uint32_t version = 0;
  std::vector<std::pair<std::string, std::string>> extensions;  // name, data
};
// `packet` without its length prefix, starting with the type byte.
Result<VersionReply> DecodeVersion(std::string_view packet);

struct StatusReply {
  uint32_t code = 0;
  std::string message;
  std::string language;
};
// The body of a STATUS reply (after the id). Servers predating v3 may omit the
// message and language; they decode as empty.
Result<StatusReply> DecodeStatus(std::string_view body);
Result<std::string> DecodeHandle(std::string_view body);
// The body of a DATA reply: the payload's length and the payload.
Result<std::string_view> DecodeData(std::string_view body);
struct NameEntry {
  std::string filename;
  std::string longname;
  FileAttr attr;
};
Result<std::vector<NameEntry>> DecodeName(std::string_view body);
Result<FileAttr> DecodeAttrs(std::string_view body);

struct Limits {  // limits@openssh.com reply
  uint64_t max_packet_length = 0, max_read_length = 0, max_write_length = 0;
  uint64_t max_open_handles = 0;
};
// Bodies of EXTENDED_REPLY (after the id).
Result<Limits> DecodeLimits(std::string_view body);
Result<FsStats> DecodeStatVfs(std::string_view body);

}  // namespace skiff::sftp
