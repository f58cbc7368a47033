#include "fs/write_behind.h"

#include <algorithm>
#include <thread>

namespace skiff::fs {

WriteBehind::WriteBehind(RemoteFile* file, uint32_t max_write, uint64_t max_bytes)
    : file_(file),
      max_write_(std::max<uint32_t>(max_write, 4096)),
      max_bytes_(std::max<uint64_t>(max_bytes, max_write)),
      state_(std::make_shared<State>()) {}

WriteBehind::~WriteBehind() {
  std::unique_lock<std::mutex> l(state_->mu);
  state_->cv.wait(l, [&] { return state_->in_flight == 0; });
}

Status WriteBehind::Write(uint64_t offset, std::string_view data) {
  std::shared_ptr<State> st = state_;
  size_t done = 0;
  while (done < data.size()) {
    size_t n = std::min<size_t>(max_write_, data.size() - done);
    {
      std::unique_lock<std::mutex> l(st->mu);
      st->cv.wait(l, [&] {
        return !st->error.ok() ||
               (st->setstats == 0 && (st->in_flight_bytes + n <= max_bytes_ || st->in_flight == 0));
      });
      if (!st->error.ok()) return st->error;
      st->in_flight_bytes += n;
      ++st->in_flight;
      st->dirty = true;
      st->flushed = false;
    }
    // Outside the lock: the completion may run inline on this thread.
    file_->WriteAsync(offset + done, std::string(data.substr(done, n)), [st, n](Status s) {
      std::lock_guard<std::mutex> l(st->mu);
      if (!s.ok() && st->error.ok()) st->error = s.WithContext("write-behind");
      st->in_flight_bytes -= n;
      --st->in_flight;
      st->cv.notify_all();
    });
    done += n;
  }
  return Status::Ok();
}

bool WriteBehind::SetStatBehind(const FileAttr& attr) {
  std::shared_ptr<State> st = state_;
  {
    std::lock_guard<std::mutex> l(st->mu);
    if (st->flushed || st->sealed || !st->error.ok()) return false;
    ++st->in_flight;
    ++st->setstats;
  }
  // The destructor waits for in_flight == 0, so file_ outlives the call; the thread
  // touches only `st` (shared) after that.
  RemoteFile* file = file_;
  std::thread([st, file, attr] {
    Status s = file->SetStat(attr);
    std::lock_guard<std::mutex> l(st->mu);
    if (!s.ok() && st->error.ok()) st->error = s.WithContext("setattr behind writes");
    --st->setstats;
    --st->in_flight;
    st->cv.notify_all();
  }).detach();
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

}  // namespace skiff::fs
