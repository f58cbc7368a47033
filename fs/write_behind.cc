#include "fs/write_behind.h"

#include <algorithm>
#include <future>
#include <thread>

namespace skiff::fs {

WriteBehind::WriteBehind(RemoteFile* file, uint32_t max_write, uint64_t max_bytes,
                         StripeConfig stripes, TaskPool* pool)
    : file_(file),
      max_write_(std::max<uint32_t>(max_write, 4096)),
      max_bytes_(std::max<uint64_t>(max_bytes, max_write)),
      config_(std::move(stripes)),
      pool_(pool),
      files_{file},
      state_(std::make_shared<State>()) {
  if (config_.handles <= 1 || !config_.open) state_->mode = Mode::kOff;
}

WriteBehind::~WriteBehind() {
  std::unique_lock<std::mutex> l(state_->mu);
  state_->cv.wait(l, [&] { return state_->in_flight == 0; });
  // stripes_ (declared after nothing that needs them) close as they are destroyed.
}

void WriteBehind::MaybeStripe(uint64_t offset, size_t size) {
  std::shared_ptr<State> st = state_;
  {
    std::lock_guard<std::mutex> l(st->mu);
    if (st->mode != Mode::kSingle) return;
    st->seq_run = offset == st->seq_next ? st->seq_run + size : size;
    st->seq_next = offset + size;
    if (st->seq_run < config_.after_bytes || !st->error.ok()) return;
    st->mode = Mode::kOpening;  // writes go on to the primary meanwhile
  }
  Result<std::vector<Stripe>> r = config_.open();
  std::unique_lock<std::mutex> l(st->mu);
  if (!r.ok() || r->size() + 1 != config_.handles) {
    st->mode = Mode::kOff;  // `open` logged why; stay on one handle
    return;
  }
  // Bytes already queued on the primary may belong to another session's stripe: let
  // them land first so that no later write of the same bytes can overtake them.
  st->mode = Mode::kSwitching;
  st->cv.wait(l, [&] { return st->in_flight == 0; });
  stripes_ = std::move(r).value();
  for (Stripe& s : stripes_) files_.push_back(s.file.get());
  st->mode = Mode::kStriped;
  st->cv.notify_all();
}

RemoteFile* WriteBehind::FileFor(uint64_t offset) const {
  if (state_->mode != Mode::kStriped) return file_;
  return files_[(offset / kStripeBytes) % files_.size()];
}

Status WriteBehind::Write(uint64_t offset, std::string_view data) {
  std::shared_ptr<State> st = state_;
  MaybeStripe(offset, data.size());
  size_t done = 0;
  while (done < data.size()) {
    size_t n = std::min<size_t>(max_write_, data.size() - done);
    RemoteFile* target;
    {
      std::unique_lock<std::mutex> l(st->mu);
      st->cv.wait(l, [&] {
        return !st->error.ok() || (st->mode != Mode::kSwitching && st->setstats == 0 &&
                                   (st->in_flight_bytes + n <= max_bytes_ || st->in_flight == 0));
      });
      if (!st->error.ok()) return st->error;
      uint64_t at = offset + done;
      if (st->mode == Mode::kStriped) n = std::min<uint64_t>(n, kStripeBytes - at % kStripeBytes);
      target = FileFor(at);
      st->in_flight_bytes += n;
      ++st->in_flight;
      ++st->writes_in_flight;
      st->dirty = true;
      st->flushed = false;
      if (st->mode == Mode::kStriped) st->since_sync += n;
    }
    // Outside the lock: the completion may run inline on this thread. The bytes are
    // copied before WriteAsyncFrom returns (for SFTP straight into the channel).
    const bool extra = target != file_;
    target->WriteAsyncFrom(offset + done, data.substr(done, n), [st, n, extra](Status s) {
      {
        std::lock_guard<std::mutex> l(st->mu);
        if (!s.ok() && st->error.ok()) {
          st->error = s.WithContext("write-behind");
          st->error_on_extra = extra;
        }
        st->in_flight_bytes -= n;
        --st->in_flight;
        --st->writes_in_flight;
      }
      // After unlocking (`st` is shared, so it outlives a waiter that returns): a waiter
      // woken under the lock would at once block on it again.
      st->cv.notify_all();
    });
    done += n;
  }
  if (config_.sync_every > 0) MaybeSyncEarly();
  return Status::Ok();
}

void WriteBehind::MaybeSyncEarly() {
  std::shared_ptr<State> st = state_;
  RemoteFile* file;
  {
    std::lock_guard<std::mutex> l(st->mu);
    if (st->mode != Mode::kStriped || st->syncing || st->sync_off || !st->error.ok() ||
        st->since_sync < config_.sync_every)
      return;
    st->since_sync = 0;
    st->syncing = true;
    ++st->in_flight;
    file = files_[st->next_sync++ % files_.size()];
  }
  // The destructor waits for in_flight == 0, so `file` outlives the task.
  const bool extra = file != file_;
  auto task = [st, file, extra] {
    Status s = file->Sync();
    {
      std::lock_guard<std::mutex> l(st->mu);
      if (s.Is(Code::kUnsupported)) {
        st->sync_off = true;
      } else if (!s.ok() && st->error.ok()) {
        st->error = s.WithContext("early writeback fsync");
        st->error_on_extra = extra;
      }
      st->syncing = false;
      --st->in_flight;
    }
    st->cv.notify_all();
  };
  if (pool_) {
    pool_->Run(std::move(task));
  } else {
    std::thread(std::move(task)).detach();
  }
}

bool WriteBehind::SetStatBehind(const FileAttr& attr) {
  std::shared_ptr<State> st = state_;
  bool striped;
  {
    std::lock_guard<std::mutex> l(st->mu);
    if (st->flushed || st->sealed || !st->error.ok()) return false;
    ++st->in_flight;
    ++st->setstats;
    // Until the switch to several sessions, every write went to file_ (FileFor).
    striped = st->mode == Mode::kStriped || st->mode == Mode::kSwitching;
  }
  auto done = [st](Status s) {
    {
      std::lock_guard<std::mutex> l(st->mu);
      if (!s.ok() && st->error.ok()) st->error = s.WithContext("setattr behind writes");
      --st->setstats;
      --st->in_flight;
    }
    st->cv.notify_all();  // after unlocking, as for a write
  };
  if (!striped) {
    // On one session the fsetstat queues behind the writes: sent from this thread, its
    // answer handled where the writes' are. No thread waits for it until the flush.
    file_->SetStatAsync(attr, std::move(done));
    return true;
  }
  // Across sessions it must wait for the writes (no new write starts while setstats >
  // 0): on the pool. The destructor waits for in_flight == 0, so file_ outlives the
  // task; the task touches only `st` (shared) after that.
  RemoteFile* file = file_;
  auto task = [st, file, attr, done = std::move(done)] {
    {
      std::unique_lock<std::mutex> l(st->mu);
      st->cv.wait(l, [&] { return st->writes_in_flight == 0; });
    }
    done(file->SetStat(attr));
  };
  if (pool_) {
    pool_->Run(std::move(task));
  } else {
    std::thread(std::move(task)).detach();
  }
  return true;
}

Status WriteBehind::Drain() {
  std::unique_lock<std::mutex> l(state_->mu);
  state_->cv.wait(l, [&] { return state_->in_flight == 0; });
  return state_->error;
}

Status WriteBehind::Flush() {
  std::unique_lock<std::mutex> l(state_->mu);
  state_->flushed = true;  // under the lock: a SetStatBehind is either counted or refused
  state_->cv.wait(l, [&] { return state_->in_flight == 0; });
  return state_->error;
}

Status WriteBehind::SyncStripes() {
  std::vector<RemoteFile*> extra;
  {
    std::lock_guard<std::mutex> l(state_->mu);
    if (state_->mode != Mode::kStriped) return Status::Ok();
    extra.assign(files_.begin() + 1, files_.end());
  }
  // Concurrently: each fsync is a round trip on its own session.
  std::vector<std::future<Status>> syncs;
  for (RemoteFile* f : extra)
    syncs.push_back(std::async(std::launch::async, [f] { return f->Sync(); }));
  Status first;
  for (auto& s : syncs) {
    Status r = s.get();
    if (!r.ok() && first.ok()) first = r.WithContext("fsync of a striped write handle");
  }
  return first;
}

Status WriteBehind::CloseStripes() {
  {
    std::lock_guard<std::mutex> l(state_->mu);
    if (state_->mode != Mode::kStriped) return Status::Ok();
  }
  Status first;
  for (Stripe& s : stripes_) {
    Status r = s.file->Close();
    if (!r.ok() && first.ok()) first = r.WithContext("closing a striped write handle");
  }
  return first;
}

void WriteBehind::Seal() {
  std::lock_guard<std::mutex> l(state_->mu);
  state_->sealed = true;
}

bool WriteBehind::pending() const {
  std::lock_guard<std::mutex> l(state_->mu);
  return state_->in_flight > 0;
}

bool WriteBehind::dirty() const {
  std::lock_guard<std::mutex> l(state_->mu);
  return state_->dirty;
}

size_t WriteBehind::handles() const {
  std::lock_guard<std::mutex> l(state_->mu);
  return state_->mode == Mode::kStriped ? files_.size() : 1;
}

bool WriteBehind::failed_on_extra() const {
  std::lock_guard<std::mutex> l(state_->mu);
  return !state_->error.ok() && state_->error_on_extra;
}

}  // namespace skiff::fs
