// ServeZfsReceive: the `skiff serve --zfs-receive POOL/PREFIX` side of a zfs send
// (doc/ZFS.md, doc/SERVE.md). It answers which snapshots a dataset under PREFIX holds
// and pipes one stream at a time into `zfs receive` on this host, confined to PREFIX.
//
// Requests (transport/serve_protocol.h ops 60-64; each gets one reply):
//   kZfsTarget  str name                       -> str dataset, u8 exists,
//                                                 u32 n, n x (str snapshot, u64 guid)
//   kZfsBegin   str name, str snapshot, u64 guid, u64 parent_guid -> ()
//   kZfsData    str bytes                      -> ()   (pipelined; the client does not wait)
//   kZfsEnd     u64 size                       -> u64 size, str xxh128
//   kZfsAbort                                  -> ()
// `name` is relative to PREFIX ("" = PREFIX itself is not allowed): components of
// [A-Za-z0-9_.:-], no "." or "..", no '@', '%', '#', no leading or trailing '/'.
//
// What the key can do, and nothing else:
//   - receive a plain (non-replication) stream into PREFIX/name: a full stream only into
//     a dataset that does not exist yet; an incremental only when the dataset's newest
//     snapshot is the stream's origin (by guid), else refused as diverged. The origin
//     check is done here and again by zfs itself; -F is passed for an incremental only,
//     after that check, so it can discard changes to the live filesystem made since the
//     origin (an atime update by a reader) and never destroys a snapshot.
//   - The stream's own BEGIN record is checked before zfs sees a byte: its magic, that it
//     is not a compound (`zfs send -R`) stream (those carry properties such as mountpoint
//     and child datasets), and that its guids are the ones announced in kZfsBegin.
//   - No option of `zfs receive` is chosen by the client; zfs runs without a shell.
//   zfs's own error messages are passed back in the error replies.
//
// Not thread-safe: one session, one thread. Owns the running `zfs receive`; destroying
// the object (a dropped connection) kills it, and zfs commits nothing of a stream it did
// not receive to the end.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sync/content_hash.h"
#include "sync/zfs_host.h"
#include "transport/channel.h"
#include "transport/serve_protocol.h"

namespace skiff::sync {

// PREFIX/name for a client's `name`, or kPermission naming what is wrong with it.
Result<std::string> ResolveZfsReceiveName(const std::string& prefix, std::string_view name);
// True for a dataset name zfs accepts and skiff passes on: components of
// [A-Za-z0-9_.:-], none "." or "..", no leading/trailing/double '/'.
bool IsSafeZfsDatasetName(std::string_view name);

// The fields of a `zfs send` stream's BEGIN record that the receiver checks.
struct ZfsBeginRecord {
  uint64_t to_guid = 0;
  uint64_t from_guid = 0;  // 0 for a full stream
  bool compound = false;   // `zfs send -R` / -I package
  std::string to_name;     // "pool/fs@snap" as the sender named it
};
// The BEGIN record is the first kZfsBeginRecordSize bytes of every stream.
inline constexpr size_t kZfsBeginRecordSize = 312;
// Parses the record (either byte order). kCorrupt if `head` is not a zfs send stream.
Result<ZfsBeginRecord> ParseZfsBeginRecord(std::string_view head);

class ServeZfsReceive {
 public:
  // `prefix`: the dataset under which this key may receive; `host` runs zfs and must
  // outlive this object.
  ServeZfsReceive(std::string prefix, ZfsHost& host);
  ~ServeZfsReceive();
  ServeZfsReceive(const ServeZfsReceive&) = delete;
  ServeZfsReceive& operator=(const ServeZfsReceive&) = delete;

  static bool Handles(serve::Op op) {
    uint8_t v = static_cast<uint8_t>(op);
    return v >= 60 && v <= 69;
  }
  // One request; the reply's result fields or its failure.
  Result<std::string> Handle(serve::Op op, serve::PayloadReader& r);

  const std::string& prefix() const { return prefix_; }

 private:
  Result<std::string> Target(serve::PayloadReader& r);
  Result<std::string> Begin(serve::PayloadReader& r);
  Result<std::string> Data(serve::PayloadReader& r);
  Result<std::string> End(serve::PayloadReader& r);
  Status Feed(std::string_view data);
  Status Fail(Status st);  // ends the receive in progress (killing zfs) and returns st
  void Reset();

  std::string prefix_;
  ZfsHost& host_;
  // The receive in progress (sink_ set between a successful kZfsBegin and kZfsEnd/Abort).
  std::unique_ptr<ZfsReceiveSink> sink_;
  std::string dataset_, snapshot_;
  uint64_t guid_ = 0, parent_guid_ = 0;
  bool header_checked_ = false;
  std::string head_;  // stream bytes held back until the BEGIN record is checked
  uint64_t received_ = 0;
  ContentHasher hasher_;
  Status failed_;  // a data frame failed: later frames of the same stream get this
};

// Serves a session whose only business is zfs receive (`skiff serve --zfs-receive`
// without --root): the hello, then ops 60-69; every file operation is refused with
// kPermission. Returns at the peer's EOF (OK) or on a protocol error.
Status RunZfsReceiveSession(Channel& ch, ServeZfsReceive& zfs);

}  // namespace skiff::sync
