#include "sync/serve_zfs_receive.h"

#include <algorithm>
#include <cstring>

namespace skiff::sync {

using serve::Op;
using serve::PayloadReader;
using serve::PayloadWriter;

namespace {

constexpr uint64_t kBackupMagic = 0x2F5bacbacULL;  // DMU_BACKUP_MAGIC
constexpr uint32_t kDrrBegin = 0;
constexpr uint64_t kCompoundStream = 2;  // DMU_COMPOUNDSTREAM in drr_versioninfo & 3

uint64_t Load64(std::string_view s, size_t off, bool swap) {
  uint64_t v;
  std::memcpy(&v, s.data() + off, 8);
  return swap ? __builtin_bswap64(v) : v;
}

uint32_t Load32(std::string_view s, size_t off, bool swap) {
  uint32_t v;
  std::memcpy(&v, s.data() + off, 4);
  return swap ? __builtin_bswap32(v) : v;
}

bool SafeComponentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':';
}

std::string Hello(PayloadReader& r, Status* st) {
  std::string_view magic = r.Str();
  uint32_t version = r.U32();
  if (!r.ok()) return "";
  if (magic != serve::kMagic) {
    *st = Status::Corrupt("serve protocol: bad hello");
    return "";
  }
  // Negotiated as in ServeServer: the lower of both versions, at least the minimum.
  if (version < serve::kMinProtocolVersion) {
    *st = Status::Unsupported("this skiff serve speaks protocol versions " +
                              std::to_string(serve::kMinProtocolVersion) + " to " +
                              std::to_string(serve::kProtocolVersion) + ", the client " +
                              std::to_string(version));
    return "";
  }
  // The mode is informational for the client; write-only is the closest: the key adds
  // data and reads nothing back.
  return PayloadWriter()
      .U32(std::min(version, serve::kProtocolVersion))
      .U32(serve::kMaxData)
      .U8(static_cast<uint8_t>(serve::Mode::kWriteOnly))
      .Take();
}

}  // namespace

bool IsSafeZfsDatasetName(std::string_view name) {
  if (name.empty() || name.size() > 200) return false;
  size_t start = 0;
  for (;;) {
    size_t slash = name.find('/', start);
    std::string_view comp = name.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (comp.empty() || comp == "." || comp == "..") return false;
    for (char c : comp)
      if (!SafeComponentChar(c)) return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

Result<std::string> ResolveZfsReceiveName(const std::string& prefix, std::string_view name) {
  std::string shown(name.substr(0, 256));
  if (name.empty())
    return Status::Permission("name the dataset to receive into, relative to " + prefix +
                              " (e.g. backup@host:mydata receives into " + prefix + "/mydata)");
  if (name.front() == '/')
    return Status::Permission("'" + shown + "' is absolute; this key receives only under " +
                              prefix + ", name the dataset relative to it");
  if (name.find('@') != std::string_view::npos || name.find('#') != std::string_view::npos ||
      name.find('%') != std::string_view::npos)
    return Status::Permission("'" + shown +
                              "' is not a dataset name (no '@', '#' or '%'); the stream "
                              "names its snapshot itself");
  if (!IsSafeZfsDatasetName(name))
    return Status::Permission("'" + shown + "' is not allowed: this key receives only under " +
                              prefix +
                              " and a name may hold only letters, digits and _-.: in "
                              "'/'-separated components, none of them '.' or '..'");
  return prefix + "/" + std::string(name);
}

Result<ZfsBeginRecord> ParseZfsBeginRecord(std::string_view head) {
  if (head.size() < kZfsBeginRecordSize)
    return Status::Corrupt("not a zfs send stream: " + std::to_string(head.size()) +
                           " bytes, shorter than its BEGIN record");
  bool swap;
  if (Load64(head, 8, false) == kBackupMagic)
    swap = false;
  else if (Load64(head, 8, true) == kBackupMagic)
    swap = true;
  else
    return Status::Corrupt("not a zfs send stream (no BEGIN record magic)");
  if (Load32(head, 0, swap) != kDrrBegin)
    return Status::Corrupt("not a zfs send stream (first record is not BEGIN)");
  ZfsBeginRecord rec;
  rec.compound = (Load64(head, 16, swap) & 3) == kCompoundStream;
  rec.to_guid = Load64(head, 40, swap);
  rec.from_guid = Load64(head, 48, swap);
  std::string_view name = head.substr(56, 256);
  rec.to_name = std::string(name.substr(0, name.find('\0')));
  return rec;
}

ServeZfsReceive::ServeZfsReceive(std::string prefix, ZfsHost& host)
    : prefix_(std::move(prefix)), host_(host) {}

ServeZfsReceive::~ServeZfsReceive() { Reset(); }

void ServeZfsReceive::Reset() {
  sink_.reset();  // kills a `zfs receive` that did not finish: nothing is committed
  header_checked_ = false;
  head_.clear();
  received_ = 0;
  hasher_ = ContentHasher();
  failed_ = Status::Ok();
}

Status ServeZfsReceive::Fail(Status st) {
  Reset();
  return st;
}

Result<std::string> ServeZfsReceive::Handle(Op op, PayloadReader& r) {
  switch (op) {
    case Op::kZfsTarget:
      return Target(r);
    case Op::kZfsBegin:
      return Begin(r);
    case Op::kZfsData:
      return Data(r);
    case Op::kZfsEnd:
      return End(r);
    case Op::kZfsAbort:
      Reset();
      return std::string();
    default:
      return Status::Unsupported("serve protocol: unknown zfs request " +
                                 std::to_string(static_cast<int>(op)));
  }
}

Result<std::string> ServeZfsReceive::Target(PayloadReader& r) {
  std::string_view name = r.Str();
  if (!r.ok()) return std::string();
  SKIFF_ASSIGN_OR_RETURN(std::string ds, ResolveZfsReceiveName(prefix_, name));
  // One listing answers both questions (each zfs command costs a round trip to the zfs
  // daemon): a missing dataset is kNotFound.
  auto listed = host_.ListSnapshots(ds);
  if (!listed.ok() && !listed.status().Is(Code::kNotFound)) return listed.status();
  bool exists = listed.ok();
  std::vector<ZfsSnapshot> snaps;
  if (exists) snaps = std::move(listed).value();
  PayloadWriter w;
  w.Str(ds).U8(exists ? 1 : 0).U32(static_cast<uint32_t>(snaps.size()));
  for (const auto& s : snaps) w.Str(s.name).U64(s.guid);
  return w.Take();
}

Result<std::string> ServeZfsReceive::Begin(PayloadReader& r) {
  std::string_view name = r.Str();
  std::string snapshot(r.Str());
  uint64_t guid = r.U64();
  uint64_t parent = r.U64();
  if (!r.ok()) return std::string();
  if (sink_)
    return Status::Invalid("a zfs receive into " + dataset_ +
                           " is still in progress; end or abort it first");
  SKIFF_ASSIGN_OR_RETURN(std::string ds, ResolveZfsReceiveName(prefix_, name));
  if (guid == 0) return Status::Invalid("zfs stream header without a guid");
  bool force = false;
  if (parent == 0) {
    SKIFF_ASSIGN_OR_RETURN(bool exists, host_.DatasetExists(ds));
    if (exists)
      return Status::Exists(
          ds +
          " already exists; a full stream is received only into a new dataset (this key "
          "never overwrites one). Send incrementally from a snapshot it holds, or destroy " +
          ds + " on the server, or send to another name.");
  } else {
    auto listed = host_.ListSnapshots(ds);
    if (listed.status().Is(Code::kNotFound))
      return Status::NotFound(ds +
                              " does not exist; an incremental stream needs its origin "
                              "(guid " +
                              std::to_string(parent) + ") there. Send a full stream first.");
    SKIFF_ASSIGN_OR_RETURN(auto snaps, std::move(listed));
    for (const auto& s : snaps)
      if (s.guid == guid)
        return Status::Exists(ds + "@" + s.name + " (guid " + std::to_string(guid) +
                              ") is already received");
    if (snaps.empty() || snaps.back().guid != parent) {
      std::string tip = snaps.empty() ? std::string("it has no snapshot")
                                      : "its newest snapshot is @" + snaps.back().name + " (guid " +
                                            std::to_string(snaps.back().guid) + ")";
      return Status::Invalid(ds + " has diverged from the stream: " + tip +
                             ", the incremental starts from guid " + std::to_string(parent) +
                             ". Nothing was received; resolve it on the server (roll back or "
                             "destroy the newer snapshots) or send to another name.");
    }
    force = true;  // only discards changes since the verified origin
  }
  Reset();
  SKIFF_ASSIGN_OR_RETURN(sink_, host_.Receive(ds, force));
  dataset_ = ds;
  snapshot_ = snapshot;
  guid_ = guid;
  parent_guid_ = parent;
  return std::string();
}

Result<std::string> ServeZfsReceive::Data(PayloadReader& r) {
  std::string_view data = r.Str();
  if (!r.ok()) return std::string();
  if (!failed_.ok()) return failed_;
  if (!sink_) return Status::Invalid("zfs stream data without a receive in progress");
  Status st = Feed(data);
  if (!st.ok()) {
    // Later frames already in flight get the same answer; kZfsEnd/kZfsAbort clear it.
    sink_.reset();
    failed_ = st;
  }
  if (!st.ok()) return st;
  return std::string();
}

Status ServeZfsReceive::Feed(std::string_view data) {
  received_ += data.size();
  hasher_.Update(data);
  if (header_checked_) return sink_->Write(data);
  head_.append(data);
  if (head_.size() < kZfsBeginRecordSize) return Status::Ok();
  SKIFF_ASSIGN_OR_RETURN(ZfsBeginRecord rec, ParseZfsBeginRecord(head_));
  if (rec.compound)
    return Status::Permission(
        "replication streams (zfs send -R / -I) are refused: they carry properties and child "
        "datasets; send one snapshot stream at a time");
  if (rec.to_guid != guid_ || rec.from_guid != parent_guid_)
    return Status::Permission("the stream is not the one announced: it produces guid " +
                              std::to_string(rec.to_guid) + " from " +
                              std::to_string(rec.from_guid) + ", announced " +
                              std::to_string(guid_) + " from " + std::to_string(parent_guid_));
  header_checked_ = true;
  std::string head = std::move(head_);
  head_.clear();
  return sink_->Write(head);
}

Result<std::string> ServeZfsReceive::End(PayloadReader& r) {
  uint64_t size = r.U64();
  if (!r.ok()) return std::string();
  if (!failed_.ok()) {
    Status st = failed_;
    Reset();
    return st;
  }
  if (!sink_) return Status::Invalid("end of a zfs stream without a receive in progress");
  if (size != received_)
    return Fail(Status::Corrupt("the client sent " + std::to_string(size) +
                                " bytes of the stream, " + std::to_string(received_) +
                                " arrived; nothing was received"));
  if (!header_checked_) return Fail(ParseZfsBeginRecord(head_).status());
  Status st = sink_->Finish();
  if (!st.ok()) return Fail(st.WithContext("receiving into " + dataset_));
  // zfs receive exited 0 for a stream whose BEGIN record carried the announced guid:
  // that snapshot is committed (the next kZfsTarget lists it).
  std::string digest = hasher_.HexDigest();
  uint64_t got = received_;
  Reset();
  return PayloadWriter().U64(got).Str(digest).Take();
}

Status RunZfsReceiveSession(Channel& ch, ServeZfsReceive& zfs) {
  std::string buf;
  bool hello_done = false;
  for (;;) {
    auto f = serve::ReadFrame(ch, buf);
    if (!f.ok()) {
      if (f.status().Is(Code::kConnectionLost) && buf.empty()) return Status::Ok();  // EOF
      if (f.status().Is(Code::kCorrupt))
        ch.Write(serve::EncodeFrame(static_cast<uint8_t>(Op::kReply), 0,
                                    serve::EncodeErrorReply(f.status())))
            .IgnoreError();
      return f.status();
    }
    PayloadReader r(f->payload);
    Op op = static_cast<Op>(f->type);
    Result<std::string> res = std::string();
    bool fatal = false;
    if (op == Op::kHello) {
      Status st;
      std::string reply = Hello(r, &st);
      if (st.ok() && r.done()) hello_done = true;
      res = st.ok() ? Result<std::string>(reply) : Result<std::string>(st);
      fatal = !hello_done;
    } else if (!hello_done) {
      res = Status::Corrupt("serve protocol: request before the hello");
      fatal = true;
    } else if (ServeZfsReceive::Handles(op)) {
      res = zfs.Handle(op, r);
    } else {
      res = Status::Permission("this key only receives zfs streams under " + zfs.prefix() +
                               " (skiff serve --zfs-receive); file operations are refused");
      r = PayloadReader("");  // the request's fields are not read
    }
    if (!r.ok() || (res.ok() && !r.done())) {
      res = Status::Corrupt(r.ok() ? "serve protocol: trailing bytes in request"
                                   : "serve protocol: truncated request");
      fatal = true;
    }
    std::string reply =
        res.ok() ? serve::EncodeOkReply(*res) : serve::EncodeErrorReply(res.status());
    SKIFF_RETURN_IF_ERROR(
        ch.Write(serve::EncodeFrame(static_cast<uint8_t>(Op::kReply), f->id, reply)));
    if (fatal) return res.ok() ? Status::Corrupt("serve protocol: session ended") : res.status();
  }
}

}  // namespace skiff::sync
