#include "transport/sftp_codec.h"

#include <cstring>

namespace skiff::sftp {
namespace {

Status Truncated(const char* what, size_t need, size_t have) {
  return Status::Corrupt("SFTP packet truncated reading " + std::string(what) + " (need " +
                         std::to_string(need) + " bytes, " + std::to_string(have) + " left)");
}

void PutU32(std::string& b, uint32_t v) {
  char c[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  b.append(c, 4);
}

uint32_t GetU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

std::string PacketName(uint8_t type) {
  switch (type) {
    case kVersion:
      return "VERSION";
    case kStatus:
      return "STATUS";
    case kHandle:
      return "HANDLE";
    case kData:
      return "DATA";
    case kName:
      return "NAME";
    case kAttrs:
      return "ATTRS";
    case kExtendedReply:
      return "EXTENDED_REPLY";
    default:
      return "packet type " + std::to_string(type);
  }
}

}  // namespace

Status StatusFromSftp(uint32_t code, std::string_view server_message, std::string_view context) {
  std::string m(context);
  if (!server_message.empty()) {
    if (!m.empty()) m += ": ";
    m += server_message;
  }
  switch (code) {
    case kFxOk:
    case kFxEof:
      // Callers handle these; reaching here means a reply arrived where it makes no sense.
      return Status::Io(m + " (unexpected SFTP status " + std::to_string(code) + ")");
    case kFxNoSuchFile:
      return Status::NotFound(m);
    case kFxPermissionDenied:
      return Status::Permission(m);
    case kFxFailure:
      // SSH_FX_FAILURE is the catch-all (disk full, directory not empty, exists...):
      // v3 carries no finer code, so the server's message is the only detail.
      return Status::Io(m.empty() ? "SFTP failure" : m);
    case kFxBadMessage:
      return Status::Corrupt(m + (server_message.empty() ? ": " : " ") +
                             "(the server rejected our packet as malformed)");
    case kFxNoConnection:
    case kFxConnectionLost:
      return Status::ConnectionLost(m);
    case kFxOpUnsupported:
      return Status::Unsupported(m);
    default:
      return Status::Io(m + " (unknown SFTP status code " + std::to_string(code) + ")");
  }
}

PacketWriter::PacketWriter(uint8_t type, size_t reserve) {
  buf_.reserve(reserve + 5);
  buf_.append(4, '\0');
  buf_.push_back(static_cast<char>(type));
}

PacketWriter& PacketWriter::U8(uint8_t v) {
  buf_.push_back(static_cast<char>(v));
  return *this;
}

PacketWriter& PacketWriter::U32(uint32_t v) {
  PutU32(buf_, v);
  return *this;
}

PacketWriter& PacketWriter::U64(uint64_t v) {
  PutU32(buf_, static_cast<uint32_t>(v >> 32));
  PutU32(buf_, static_cast<uint32_t>(v));
  return *this;
}

PacketWriter& PacketWriter::String(std::string_view s) {
  PutU32(buf_, static_cast<uint32_t>(s.size()));
  buf_.append(s);
  return *this;
}

PacketWriter& PacketWriter::Attrs(const FileAttr& a) {
  uint32_t flags =
      a.valid & (FileAttr::kSize | FileAttr::kUidGid | FileAttr::kPermissions | FileAttr::kTimes);
  U32(flags);
  if (flags & FileAttr::kSize) U64(a.size);
  if (flags & FileAttr::kUidGid) U32(a.uid).U32(a.gid);
  if (flags & FileAttr::kPermissions) U32(a.mode);
  if (flags & FileAttr::kTimes) {
    U32(static_cast<uint32_t>(a.atime)).U32(static_cast<uint32_t>(a.mtime));
  }
  return *this;
}

std::string PacketWriter::Finish(size_t trailing) {
  uint32_t len = static_cast<uint32_t>(buf_.size() - 4 + trailing);
  char c[4] = {static_cast<char>(len >> 24), static_cast<char>(len >> 16),
               static_cast<char>(len >> 8), static_cast<char>(len)};
  std::memcpy(buf_.data(), c, 4);
  return std::move(buf_);
}

Result<uint8_t> PacketReader::U8(const char* what) {
  if (remaining() < 1) return Truncated(what, 1, remaining());
  return static_cast<uint8_t>(data_[pos_++]);
}

Result<uint32_t> PacketReader::U32(const char* what) {
  if (remaining() < 4) return Truncated(what, 4, remaining());
  uint32_t v = GetU32(data_.data() + pos_);
  pos_ += 4;
  return v;
}

Result<uint64_t> PacketReader::U64(const char* what) {
  if (remaining() < 8) return Truncated(what, 8, remaining());
  uint64_t v = (uint64_t{GetU32(data_.data() + pos_)} << 32) | GetU32(data_.data() + pos_ + 4);
  pos_ += 8;
  return v;
}

Result<std::string_view> PacketReader::String(const char* what) {
  SKIFF_ASSIGN_OR_RETURN(uint32_t len, U32(what));
  if (len > remaining()) {
    return Status::Corrupt("SFTP packet has a bad string length for " + std::string(what) + " (" +
                           std::to_string(len) + " bytes claimed, " + std::to_string(remaining()) +
                           " left)");
  }
  std::string_view s = data_.substr(pos_, len);
  pos_ += len;
  return s;
}

Result<FileAttr> PacketReader::Attrs(const char* what) {
  FileAttr a;
  SKIFF_ASSIGN_OR_RETURN(uint32_t flags, U32(what));
  if (flags & FileAttr::kSize) {
    SKIFF_ASSIGN_OR_RETURN(a.size, U64(what));
  }
  if (flags & FileAttr::kUidGid) {
    SKIFF_ASSIGN_OR_RETURN(a.uid, U32(what));
    SKIFF_ASSIGN_OR_RETURN(a.gid, U32(what));
  }
  if (flags & FileAttr::kPermissions) {
    SKIFF_ASSIGN_OR_RETURN(a.mode, U32(what));
  }
  if (flags & FileAttr::kTimes) {
    SKIFF_ASSIGN_OR_RETURN(uint32_t atime, U32(what));
    SKIFF_ASSIGN_OR_RETURN(uint32_t mtime, U32(what));
    a.atime = atime;
    a.mtime = mtime;
  }
  if (flags & kAttrExtended) {
    SKIFF_ASSIGN_OR_RETURN(uint32_t count, U32(what));
    // Each extended pair takes at least 8 bytes; reject counts that cannot fit.
    if (count > remaining() / 8) {
      return Status::Corrupt("SFTP attributes claim " + std::to_string(count) +
                             " extended attributes but only " + std::to_string(remaining()) +
                             " bytes are left (" + std::string(what) + ")");
    }
    for (uint32_t i = 0; i < count; ++i) {
      SKIFF_RETURN_IF_ERROR(String(what).status());
      SKIFF_RETURN_IF_ERROR(String(what).status());
    }
  }
  a.valid =
      flags & (FileAttr::kSize | FileAttr::kUidGid | FileAttr::kPermissions | FileAttr::kTimes);
  return a;
}

Status PacketReader::ExpectEnd(const char* what) const {
  if (remaining() == 0) return Status::Ok();
  return Status::Corrupt("SFTP " + std::string(what) + " has " + std::to_string(remaining()) +
                         " unexpected trailing bytes");
}

Result<uint32_t> DecodePacketLength(std::string_view four_bytes) {
  if (four_bytes.size() < 4) return Truncated("packet length", 4, four_bytes.size());
  uint32_t len = GetU32(four_bytes.data());
  if (len == 0) return Status::Corrupt("SFTP packet with length 0 (no type byte)");
  if (len > kMaxPacketLength) {
    return Status::Corrupt("SFTP packet length " + std::to_string(len) + " exceeds the limit of " +
                           std::to_string(kMaxPacketLength) +
                           " bytes (the peer is not speaking SFTP or is hostile)");
  }
  return len;
}

Result<ReplyHeader> DecodeReplyHeader(std::string_view packet, std::string_view* body) {
  PacketReader r(packet);
  ReplyHeader h;
  SKIFF_ASSIGN_OR_RETURN(h.type, r.U8("packet type"));
  SKIFF_ASSIGN_OR_RETURN(h.id, r.U32("request id"));
  *body = packet.substr(5);
  return h;
}

Result<VersionReply> DecodeVersion(std::string_view packet) {
  PacketReader r(packet);
  SKIFF_ASSIGN_OR_RETURN(uint8_t type, r.U8("packet type"));
  if (type != kVersion) {
    return Status::Corrupt("expected SFTP VERSION, got " + PacketName(type) +
                           " (is the subsystem really sftp?)");
  }
  VersionReply v;
  SKIFF_ASSIGN_OR_RETURN(v.version, r.U32("version"));
  while (r.remaining() > 0) {
    SKIFF_ASSIGN_OR_RETURN(std::string_view name, r.String("extension name"));
    SKIFF_ASSIGN_OR_RETURN(std::string_view data, r.String("extension data"));
    v.extensions.emplace_back(std::string(name), std::string(data));
  }
  return v;
}

Result<StatusReply> DecodeStatus(std::string_view body) {
  PacketReader r(body);
  StatusReply s;
  SKIFF_ASSIGN_OR_RETURN(s.code, r.U32("status code"));
  if (r.remaining() == 0) return s;
  SKIFF_ASSIGN_OR_RETURN(std::string_view msg, r.String("status message"));
  s.message = std::string(msg);
  if (r.remaining() == 0) return s;
  SKIFF_ASSIGN_OR_RETURN(std::string_view lang, r.String("status language"));
  s.language = std::string(lang);
  SKIFF_RETURN_IF_ERROR(r.ExpectEnd("STATUS"));
  return s;
}

Result<std::string> DecodeHandle(std::string_view body) {
  PacketReader r(body);
  SKIFF_ASSIGN_OR_RETURN(std::string_view h, r.String("handle"));
  SKIFF_RETURN_IF_ERROR(r.ExpectEnd("HANDLE"));
  if (h.size() > 256) {  // the draft caps handles at 256 bytes
    return Status::Corrupt("SFTP handle of " + std::to_string(h.size()) +
                           " bytes exceeds the 256-byte limit");
  }
  return std::string(h);
}

Result<std::string_view> DecodeData(std::string_view body) {
  PacketReader r(body);
  SKIFF_ASSIGN_OR_RETURN(std::string_view d, r.String("data"));
  SKIFF_RETURN_IF_ERROR(r.ExpectEnd("DATA"));
  return d;
}

Result<std::vector<NameEntry>> DecodeName(std::string_view body) {
  PacketReader r(body);
  SKIFF_ASSIGN_OR_RETURN(uint32_t count, r.U32("name count"));
  // An entry takes at least 12 bytes (two empty strings and attribute flags).
  if (count > r.remaining() / 12) {
    return Status::Corrupt("SFTP NAME claims " + std::to_string(count) + " entries but only " +
                           std::to_string(r.remaining()) + " bytes follow");
  }
  std::vector<NameEntry> out;
  out.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    NameEntry e;
    SKIFF_ASSIGN_OR_RETURN(std::string_view f, r.String("file name"));
    SKIFF_ASSIGN_OR_RETURN(std::string_view l, r.String("long name"));
    SKIFF_ASSIGN_OR_RETURN(e.attr, r.Attrs("name attributes"));
    e.filename = std::string(f);
    e.longname = std::string(l);
    out.push_back(std::move(e));
  }
  SKIFF_RETURN_IF_ERROR(r.ExpectEnd("NAME"));
  return out;
}

Result<FileAttr> DecodeAttrs(std::string_view body) {
  PacketReader r(body);
  SKIFF_ASSIGN_OR_RETURN(FileAttr a, r.Attrs("attributes"));
  SKIFF_RETURN_IF_ERROR(r.ExpectEnd("ATTRS"));
  return a;
}

Result<Limits> DecodeLimits(std::string_view body) {
  PacketReader r(body);
  Limits l;
  SKIFF_ASSIGN_OR_RETURN(l.max_packet_length, r.U64("limits max-packet-length"));
  SKIFF_ASSIGN_OR_RETURN(l.max_read_length, r.U64("limits max-read-length"));
  SKIFF_ASSIGN_OR_RETURN(l.max_write_length, r.U64("limits max-write-length"));
  SKIFF_ASSIGN_OR_RETURN(l.max_open_handles, r.U64("limits max-open-handles"));
  return l;
}

Result<FsStats> DecodeStatVfs(std::string_view body) {
  PacketReader r(body);
  FsStats s;
  SKIFF_ASSIGN_OR_RETURN(s.block_size, r.U64("statvfs f_bsize"));
  SKIFF_ASSIGN_OR_RETURN(s.fragment_size, r.U64("statvfs f_frsize"));
  SKIFF_ASSIGN_OR_RETURN(s.blocks, r.U64("statvfs f_blocks"));
  SKIFF_ASSIGN_OR_RETURN(s.blocks_free, r.U64("statvfs f_bfree"));
  SKIFF_ASSIGN_OR_RETURN(s.blocks_avail, r.U64("statvfs f_bavail"));
  SKIFF_ASSIGN_OR_RETURN(s.files, r.U64("statvfs f_files"));
  SKIFF_ASSIGN_OR_RETURN(s.files_free, r.U64("statvfs f_ffree"));
  SKIFF_ASSIGN_OR_RETURN(s.files_avail, r.U64("statvfs f_favail"));
  SKIFF_ASSIGN_OR_RETURN(s.fsid, r.U64("statvfs f_fsid"));
  SKIFF_ASSIGN_OR_RETURN(s.flags, r.U64("statvfs f_flag"));
  SKIFF_ASSIGN_OR_RETURN(s.name_max, r.U64("statvfs f_namemax"));
  return s;
}

}  // namespace skiff::sftp
