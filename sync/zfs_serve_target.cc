#include "sync/zfs_serve_target.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include "sync/content_hash.h"

namespace skiff::sync {

using serve::Op;
using serve::PayloadReader;
using serve::PayloadWriter;

namespace {

class ServeUpload : public ZfsStreamUpload {
 public:
  ServeUpload(ServeRemoteFs& fs, std::string dataset, std::string snapshot)
      : fs_(fs), dataset_(std::move(dataset)), snapshot_(std::move(snapshot)) {
    state_ = std::make_shared<State>();
  }

  ~ServeUpload() override {
    WaitDrained();
    if (!committed_) fs_.Call(Op::kZfsAbort, std::string()).status().IgnoreError();
  }

  Status Write(std::string_view data) override {
    while (!data.empty()) {
      std::string_view piece = data.substr(0, std::min<size_t>(data.size(), chunk_));
      data.remove_prefix(piece.size());
      {
        std::unique_lock<std::mutex> l(state_->mu);
        state_->cv.wait(l, [&] {
          return state_->in_flight < ZfsServeTarget::kWindowBytes || !state_->error.ok();
        });
        if (!state_->error.ok()) return state_->error;
        state_->in_flight += piece.size();
      }
      hasher_.Update(piece);
      size_ += piece.size();
      std::string payload = PayloadWriter().Str(piece).Take();
      fs_.CallAsync(Op::kZfsData, std::move(payload),
                    [st = state_, n = piece.size()](Result<std::string> r) {
                      std::lock_guard<std::mutex> l(st->mu);
                      st->in_flight -= n;
                      if (!r.ok() && st->error.ok()) st->error = r.status();
                      st->cv.notify_all();
                    });
    }
    return Status::Ok();
  }

  Result<Stored> Commit() override {
    WaitDrained();
    {
      std::lock_guard<std::mutex> l(state_->mu);
      if (!state_->error.ok()) return state_->error;
    }
    // The server answers only once `zfs receive` has committed the snapshot.
    auto reply = fs_.Call(Op::kZfsEnd, PayloadWriter().U64(size_).Take());
    committed_ = true;  // the server ended the receive either way
    if (!reply.ok()) return reply.status();
    PayloadReader r(*reply);
    Stored s;
    s.size = r.U64();
    s.xxh128 = std::string(r.Str());
    SKIFF_RETURN_IF_ERROR(r.Finish("zfs end reply"));
    std::string mine = hasher_.HexDigest();
    if (s.xxh128 != mine)
      return Status::Corrupt("the server received @" + snapshot_ + " into " + dataset_ +
                             " with xxh128 " + s.xxh128 + ", sent " + mine);
    return s;
  }

 private:
  // Shared with the reply callbacks, which may run after the upload is gone only if
  // the connection dies mid-flight; WaitDrained() makes that impossible in practice.
  struct State {
    std::mutex mu;  // guards in_flight, error
    std::condition_variable cv;
    size_t in_flight = 0;
    Status error;
  };

  void WaitDrained() {
    std::unique_lock<std::mutex> l(state_->mu);
    state_->cv.wait(l, [&] { return state_->in_flight == 0; });
  }

  ServeRemoteFs& fs_;
  std::string dataset_, snapshot_;
  // Payload bytes per frame: the endpoint's limit less the string's length field.
  size_t chunk_ = serve::kMaxData - 64;
  std::shared_ptr<State> state_;
  ContentHasher hasher_;
  uint64_t size_ = 0;
  bool committed_ = false;
};

}  // namespace

Result<std::unique_ptr<ZfsServeTarget>> ZfsServeTarget::Open(ServeRemoteFs& fs, std::string name,
                                                             std::string description) {
  std::unique_ptr<ZfsServeTarget> t(
      new ZfsServeTarget(fs, std::move(name), std::move(description)));
  SKIFF_RETURN_IF_ERROR(t->Query());
  return t;
}

Status ZfsServeTarget::Query() {
  SKIFF_ASSIGN_OR_RETURN(std::string reply,
                         fs_.Call(Op::kZfsTarget, PayloadWriter().Str(name_).Take()));
  PayloadReader r(reply);
  dataset_ = std::string(r.Str());
  exists_ = r.U8() != 0;
  uint32_t n = r.U32();
  std::vector<ZfsSnapshot> snaps;
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    ZfsSnapshot s;
    s.name = std::string(r.Str());
    s.guid = r.U64();
    snaps.push_back(std::move(s));
  }
  SKIFF_RETURN_IF_ERROR(r.Finish("zfs target reply"));
  snapshots_ = std::move(snaps);
  fresh_ = true;
  if (description_.find(dataset_) == std::string::npos) description_ += " (" + dataset_ + ")";
  return Status::Ok();
}

Result<std::vector<ZfsSnapshot>> ZfsServeTarget::Snapshots() {
  // The first call uses what Open() just learned (each query runs zfs on the server).
  if (fresh_) {
    fresh_ = false;
  } else {
    SKIFF_RETURN_IF_ERROR(Query());
  }
  return snapshots_;
}

Result<std::unique_ptr<ZfsStreamUpload>> ZfsServeTarget::Begin(const ZfsStreamHeader& h) {
  SKIFF_RETURN_IF_ERROR(
      fs_.Call(Op::kZfsBegin,
               PayloadWriter().Str(name_).Str(h.snapshot).U64(h.guid).U64(h.parent_guid).Take())
          .status()
          .WithContext("starting zfs receive into " + dataset_));
  return std::unique_ptr<ZfsStreamUpload>(new ServeUpload(fs_, dataset_, h.snapshot));
}

}  // namespace skiff::sync
