#include "sync/zfs_send.h"

#include <chrono>
#include <ctime>
#include <set>
#include <thread>

#include "sync/zfs_pipe_buffer.h"

namespace skiff::sync {
namespace {

std::string Describe(const ZfsSnapshot& s) {
  return "@" + s.name + " (guid " + std::to_string(s.guid) + ")";
}

}  // namespace

Result<ZfsSendPlan> PlanZfsSend(const std::vector<ZfsSnapshot>& local,
                                const std::vector<ZfsSnapshot>& remote, const std::string& dataset,
                                const std::string& dest, bool allow_full) {
  ZfsSendPlan plan;
  if (local.empty())
    return Status::Invalid(dataset + " has no snapshots; create one, or pass --snapshot");
  const ZfsSnapshot& newest = local.back();
  if (remote.empty()) {
    plan.new_chain = true;
    plan.to_send = {newest};
    return plan;
  }
  std::set<uint64_t> remote_guids;
  for (const auto& s : remote) remote_guids.insert(s.guid);
  std::optional<size_t> common;
  for (size_t i = local.size(); i-- > 0;) {
    if (remote_guids.count(local[i].guid)) {
      common = i;
      break;
    }
  }
  const ZfsSnapshot& tip = remote.back();
  if (common && local[*common].guid == tip.guid) {
    plan.base = local[*common];
    plan.to_send.assign(local.begin() + static_cast<long>(*common) + 1, local.end());
    return plan;
  }
  std::string what;
  if (common) {
    what = dest + " has diverged from " + dataset + ": its newest snapshot " + Describe(tip) +
           " is not a snapshot of " + dataset + "; the newest snapshot both share is " +
           Describe(local[*common]) + ". " + dataset +
           " was rolled back or had snapshots destroyed after they were sent, or another "
           "dataset sends to " +
           dest + ".";
  } else {
    what = dest + " holds a different history: none of its " + std::to_string(remote.size()) +
           " snapshots (newest " + Describe(tip) + ") is a snapshot of " + dataset +
           " (compared by guid, not by name).";
  }
  if (!allow_full)
    return Status::Invalid(what +
                           " Nothing was sent. To start a new chain with a full stream (the "
                           "old streams stay until pruned), rerun with --allow-full; or send "
                           "to a different destination.");
  if (remote_guids.count(newest.guid))
    return Status::Invalid(what + " The newest snapshot " + Describe(newest) +
                           " is already stored; create a new snapshot (--snapshot) to start "
                           "a new chain.");
  plan.new_chain = true;
  plan.to_send = {newest};
  return plan;
}

std::string ZfsSnapshotNameFor(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "skiff-%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Result<ZfsSendResult> ZfsSender::Run() {
  ZfsSendResult result;
  const std::string& ds = options_.dataset;
  SKIFF_ASSIGN_OR_RETURN(std::vector<ZfsSnapshot> local, host_.ListSnapshots(ds));
  if (options_.create_snapshot) {
    int64_t now = options_.now ? options_.now()
                               : std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
    std::string name = ZfsSnapshotNameFor(now);
    std::set<std::string> taken;
    for (const auto& s : local) taken.insert(s.name);
    for (int n = 2; taken.count(name); ++n)
      name = ZfsSnapshotNameFor(now) + "-" + std::to_string(n);
    SKIFF_RETURN_IF_ERROR(host_.CreateSnapshot(ds, name));
    result.created_snapshot = name;
    SKIFF_ASSIGN_OR_RETURN(local, host_.ListSnapshots(ds));
  }
  SKIFF_ASSIGN_OR_RETURN(std::vector<ZfsSnapshot> remote, target_.Snapshots());
  SKIFF_ASSIGN_OR_RETURN(ZfsSendPlan plan,
                         PlanZfsSend(local, remote, ds, target_.Describe(), options_.allow_full));
  std::optional<ZfsSnapshot> from = plan.new_chain ? std::nullopt : plan.base;
  for (const auto& snap : plan.to_send) {
    SKIFF_ASSIGN_OR_RETURN(ZfsSentStream s, SendOne(snap, from));
    result.sent.push_back(std::move(s));
    from = snap;
  }
  return result;
}

Result<ZfsSentStream> ZfsSender::SendOne(const ZfsSnapshot& snap,
                                         const std::optional<ZfsSnapshot>& from) {
  ZfsSendSpec spec;
  spec.dataset = options_.dataset;
  spec.from = from ? from->name : "";
  spec.to = snap.name;
  spec.raw = options_.raw;
  spec.compressed = options_.compressed;
  ZfsStreamHeader header;
  header.dataset = options_.dataset;
  header.snapshot = snap.name;
  header.guid = snap.guid;
  header.parent_guid = from ? from->guid : 0;
  SKIFF_ASSIGN_OR_RETURN(auto upload, target_.Begin(header));
  SKIFF_ASSIGN_OR_RETURN(auto stream, host_.Send(spec));

  ZfsPipeBuffer buffer(options_.buffer_bytes);
  Status read_error;
  const size_t chunk = options_.chunk_bytes;
  std::thread producer([&] {
    for (;;) {
      std::string buf(chunk, '\0');
      size_t filled = 0;
      // Fill whole chunks: zfs send writes in small pieces, the target likes big ones.
      while (filled < chunk) {
        auto n = stream->Read(buf.data() + filled, chunk - filled);
        if (!n.ok()) {
          read_error = n.status();
          break;
        }
        if (*n == 0) break;
        filled += *n;
      }
      buf.resize(filled);
      bool last = filled < chunk;
      if (filled > 0 && !buffer.Push(std::move(buf))) break;
      if (last) break;
    }
    buffer.CloseWriter();
  });
  Status write_error;
  uint64_t bytes = 0;
  while (auto c = buffer.Pop()) {
    write_error = upload->Write(*c);
    if (!write_error.ok()) {
      buffer.CloseReader();
      break;
    }
    bytes += c->size();
    if (options_.progress) options_.progress(snap.name, bytes);
  }
  if (!write_error.ok()) {
    // The producer stops at its next Push (the reader is closed); then the stream's
    // destructor kills `zfs send`.
    producer.join();
    stream.reset();
    return write_error.WithContext("storing @" + snap.name + " in " + target_.Describe());
  }
  producer.join();
  Status sent = read_error.ok() ? stream->Finish() : read_error;
  if (!sent.ok()) return sent;  // the upload's destructor discards the partial stream
  SKIFF_ASSIGN_OR_RETURN(auto stored, upload->Commit());
  if (stored.size != bytes)
    return Status::Corrupt("stored " + std::to_string(stored.size) + " bytes of @" + snap.name +
                           ", sent " + std::to_string(bytes));
  return ZfsSentStream{snap.name, spec.from, bytes, stored.xxh128};
}

}  // namespace skiff::sync
