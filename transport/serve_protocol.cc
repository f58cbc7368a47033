#include "transport/serve_protocol.h"

namespace skiff::serve {

std::string_view ModeName(Mode m) {
  switch (m) {
    case Mode::kFull:
      return "full";
    case Mode::kReadOnly:
      return "read-only";
    case Mode::kAppendOnly:
      return "append-only";
    case Mode::kWriteOnly:
      return "write-only";
  }
  return "unknown";
}

bool IsRequestOp(uint8_t type) {
  switch (static_cast<Op>(type)) {
    case Op::kHello:
    case Op::kStat:
    case Op::kLstat:
    case Op::kSetStat:
    case Op::kLSetStat:
    case Op::kReadDir:
    case Op::kOpen:
    case Op::kRead:
    case Op::kWrite:
    case Op::kFstat:
    case Op::kFsetStat:
    case Op::kFsync:
    case Op::kClose:
    case Op::kMkdir:
    case Op::kRmdir:
    case Op::kRemove:
    case Op::kRename:
    case Op::kSymlink:
    case Op::kReadlink:
    case Op::kHardlink:
    case Op::kStatVfs:
    case Op::kRealPath:
    case Op::kCopyData:
    case Op::kBaseSignature:
    case Op::kBuild:
    case Op::kLinkBatch:
    case Op::kSourceRoot:
    case Op::kSourceLstat:
    case Op::kSourceList:
    case Op::kSourceDeltaOpen:
    case Op::kSourceDeltaSig:
    case Op::kSourceDeltaNext:
    case Op::kSourceDeltaClose:
    case Op::kZfsTarget:
    case Op::kZfsBegin:
    case Op::kZfsData:
    case Op::kZfsEnd:
    case Op::kZfsAbort:
      return true;
    case Op::kReply:
      return false;
  }
  return false;  // a number no enumerator has (-Wswitch flags an Op missing above)
}

namespace {
void PutU32(std::string& s, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  s.append(b, 4);
}
uint32_t GetU32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}
}  // namespace

std::string EncodeFrame(uint8_t type, uint32_t id, std::string_view payload) {
  std::string f;
  f.reserve(kFrameHeader + payload.size());
  PutU32(f, static_cast<uint32_t>(1 + 4 + payload.size()));
  f.push_back(static_cast<char>(type));
  PutU32(f, id);
  f.append(payload);
  return f;
}

Result<std::optional<Frame>> DecodeFrame(std::string_view buf, size_t* consumed) {
  if (buf.size() < 4) return std::optional<Frame>();
  uint32_t len = GetU32(buf.data());
  if (len < 5)
    return Status::Corrupt("serve protocol: frame of " + std::to_string(len) +
                           " bytes is shorter than its header");
  if (len > kMaxFrameSize)
    return Status::Corrupt("serve protocol: frame of " + std::to_string(len) +
                           " bytes exceeds the limit of " + std::to_string(kMaxFrameSize));
  if (buf.size() - 4 < len) return std::optional<Frame>();
  Frame f;
  f.type = static_cast<uint8_t>(buf[4]);
  f.id = GetU32(buf.data() + 5);
  f.payload.assign(buf.data() + 9, len - 5);
  *consumed = 4 + size_t{len};
  return std::optional<Frame>(std::move(f));
}

Result<Frame> ReadFrame(Channel& ch, std::string& buf) {
  for (;;) {
    size_t used = 0;
    SKIFF_ASSIGN_OR_RETURN(std::optional<Frame> f, DecodeFrame(buf, &used));
    if (f) {
      buf.erase(0, used);
      return std::move(*f);
    }
    // Read what the frame still needs (at most 256 KiB at a time), so the buffer never
    // grows past one frame plus one read.
    size_t want = 64 * 1024;
    if (buf.size() >= 4) want = std::max<size_t>(4 + GetU32(buf.data()) - buf.size(), 1);
    want = std::min<size_t>(want, 256 * 1024);
    size_t old = buf.size();
    buf.resize(old + want);
    auto n = ch.Read(buf.data() + old, want);
    if (!n.ok()) {
      buf.resize(old);
      return n.status();
    }
    buf.resize(old + *n);
    if (*n == 0)
      return Status::ConnectionLost(old == 0 ? "serve protocol: the peer closed the channel"
                                             : "serve protocol: the peer closed the channel "
                                               "in the middle of a frame");
  }
}

PayloadWriter& PayloadWriter::U8(uint8_t v) {
  out_.push_back(static_cast<char>(v));
  return *this;
}
PayloadWriter& PayloadWriter::U32(uint32_t v) {
  PutU32(out_, v);
  return *this;
}
PayloadWriter& PayloadWriter::U64(uint64_t v) {
  PutU32(out_, static_cast<uint32_t>(v >> 32));
  PutU32(out_, static_cast<uint32_t>(v));
  return *this;
}
PayloadWriter& PayloadWriter::Str(std::string_view s) {
  PutU32(out_, static_cast<uint32_t>(s.size()));
  out_.append(s);
  return *this;
}
PayloadWriter& PayloadWriter::Attr(const FileAttr& a) {
  U32(a.valid).U64(a.size).U32(a.uid).U32(a.gid).U32(a.mode);
  return U64(static_cast<uint64_t>(a.atime)).U64(static_cast<uint64_t>(a.mtime));
}

bool PayloadReader::Take(size_t n, std::string_view* out) {
  if (!ok_ || in_.size() < n) {
    ok_ = false;
    return false;
  }
  *out = in_.substr(0, n);
  in_.remove_prefix(n);
  return true;
}
uint8_t PayloadReader::U8() {
  std::string_view b;
  return Take(1, &b) ? static_cast<uint8_t>(b[0]) : 0;
}
uint32_t PayloadReader::U32() {
  std::string_view b;
  return Take(4, &b) ? GetU32(b.data()) : 0;
}
uint64_t PayloadReader::U64() {
  uint64_t hi = U32();
  return (hi << 32) | U32();
}
std::string_view PayloadReader::Str() {
  uint32_t n = U32();
  std::string_view b;
  return Take(n, &b) ? b : std::string_view();
}
FileAttr PayloadReader::Attr() {
  FileAttr a;
  a.valid = U32();
  a.size = U64();
  a.uid = U32();
  a.gid = U32();
  a.mode = U32();
  a.atime = static_cast<int64_t>(U64());
  a.mtime = static_cast<int64_t>(U64());
  return a;
}
Status PayloadReader::Finish(std::string_view what) const {
  if (!ok_) return Status::Corrupt("serve protocol: truncated " + std::string(what));
  if (!in_.empty())
    return Status::Corrupt("serve protocol: " + std::to_string(in_.size()) +
                           " unexpected trailing bytes in " + std::string(what));
  return Status::Ok();
}

std::string EncodeOkReply(std::string_view result) {
  std::string s(1, '\0');
  s.append(result);
  return s;
}

std::string EncodeErrorReply(const Status& st) {
  PayloadWriter w;
  w.U8(static_cast<uint8_t>(st.code() == Code::kOk ? Code::kIo : st.code()));
  // Messages are for humans; cap them so a reply always fits a frame.
  w.Str(std::string_view(st.message()).substr(0, 4096));
  return w.Take();
}

Result<std::string_view> DecodeReply(std::string_view payload) {
  if (payload.empty()) return Status::Corrupt("serve protocol: empty reply");
  uint8_t code = static_cast<uint8_t>(payload[0]);
  if (code == 0) return payload.substr(1);
  if (code > static_cast<uint8_t>(Code::kIo))
    return Status::Corrupt("serve protocol: reply with unknown status code " +
                           std::to_string(code));
  PayloadReader r(payload.substr(1));
  std::string msg(r.Str());
  SKIFF_RETURN_IF_ERROR(r.Finish("error reply"));
  Code c = static_cast<Code>(code);
  bool retry = c == Code::kConnectionLost || c == Code::kTimeout;
  return Status(c, "server: " + msg, retry);
}

}  // namespace skiff::serve
