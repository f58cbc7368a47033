// Pipelined write-behind for one open file: Write hands the data to
// RemoteFile::WriteAsyncFrom and returns at once, so many writes are in flight; it blocks
// only while more than `max_bytes` are unacknowledged. The first failure is sticky:
// every later Write, Drain and the final Drain at close report it, so an error is never
// silently dropped (it surfaces at the latest on flush/fsync/close).
//
// Striping (optional, StripeConfig): once the writes have been sequential for
// `after_bytes`, `open` is called once for handles on more SFTP sessions of the same
// connection (each session has its own flow-control window). Everything queued so far
// is drained first, then byte b goes to handle (b / kStripeBytes) % handles: a byte
// always travels on the same session, and a session executes its requests in order, so
// overlapping writes land in the order they were made. A failure on any handle is
// sticky like any write failure; SyncStripes fsyncs every extra handle. If `open`
// fails the file simply stays on its one handle.
//
// Thread-safe. The RemoteFile must outlive this object; the destructor waits for writes
// still in flight (their errors are then only logged by the owner via Drain), then
// closes the extra handles, ignoring errors (CloseStripes first to see them).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fs/task_pool.h"
#include "transport/remote_fs.h"

namespace skiff::fs {

// One extra handle of a file, on another session. Declaration order: the file closes
// before its session goes.
struct WriteStripe {
  std::shared_ptr<RemoteFs> fs;
  std::unique_ptr<RemoteFile> file;
};
struct WriteStripeConfig {
  uint32_t handles = 1;  // total, including the primary; <= 1 turns striping off
  uint64_t after_bytes = 8ull << 20;
  // Early writeback: once striped, after every `sync_every` bytes queued an
  // fsync@openssh.com is sent on one handle (in turn) without waiting for it, so the
  // server writes the file's dirty pages out while the transfer goes on instead of all
  // at the final fsync (sftp-server has no other way to start writeback). It counts as
  // in flight (Drain waits for it) and its failure is sticky like a write's; at most
  // one is outstanding; a server without the extension turns it off. 0 = off.
  uint64_t sync_every = 0;
  // Opens handles - 1 extra handles (all or an error). Called at most once, on a
  // writing thread, with no lock held.
  std::function<Result<std::vector<WriteStripe>>()> open;
};

class WriteBehind {
 public:
  using Stripe = WriteStripe;
  using StripeConfig = WriteStripeConfig;
  // Bytes per stripe: a multiple of every write size the kernel sends (1 MiB at most),
  // so an aligned write goes whole to one session.
  static constexpr uint64_t kStripeBytes = 1u << 20;

  // `pool` (may be null: then a thread per call) runs SetStatBehind's fsetstat once the
  // writes are striped; it must outlive this object.
  WriteBehind(RemoteFile* file, uint32_t max_write, uint64_t max_bytes,
              StripeConfig stripes = WriteStripeConfig(), TaskPool* pool = nullptr);
  ~WriteBehind();
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;

  // Queues `data` at `offset`. Fails with the sticky error of an earlier write.
  Status Write(uint64_t offset, std::string_view data);
  // Sends fsetstat(`attr`) after every write queued so far, without waiting for it
  // (RemoteFile::SetStatAsync on the one handle; on the pool given to the constructor
  // once striped). It counts as in flight, so Drain (flush/fsync/close) waits for it and
  // reports its failure (sticky, like a write's). A Write queued after it waits until it is
  // answered, so it cannot overtake (an mtime set by utimens is then changed by the later write, as
  // POSIX wants). When striped, it waits for the writes in flight on every session before it is
  // sent. Returns false (and sends nothing) when no later flush is sure to report a failure: after
  // a Flush with no Write since (that flush may have been the last close), after Seal, or once a
  // write has failed. The caller then sets the attributes itself.
  bool SetStatBehind(const FileAttr& attr);
  // Waits until every queued write is acknowledged; returns the sticky error, if any.
  Status Drain();
  // Drain for a flush (close(2)): from now until the next Write, SetStatBehind refuses.
  Status Flush();
  // fsync@openssh.com on every extra handle (after Drain; the caller syncs the primary).
  // First failure wins; kUnsupported when the server lacks the extension.
  Status SyncStripes();
  // Closes the extra handles (after Drain); the first failure, if any.
  Status CloseStripes();
  // The handle is being released: SetStatBehind refuses from now on.
  void Seal();
  // Whether writes are queued but not yet acknowledged.
  bool pending() const;
  // Whether any write was ever queued (the file's content changed through us).
  bool dirty() const;
  // Number of handles writes are spread over (1 until striping started).
  size_t handles() const;
  // Whether the sticky error came from an extra handle, i.e. another session (possibly
  // another connection, write_conns) failed, not the primary handle's.
  bool failed_on_extra() const;

 private:
  enum class Mode { kSingle, kOpening, kSwitching, kStriped, kOff };
  struct State {
    mutable std::mutex mu;  // guards everything in State
    std::condition_variable cv;
    uint64_t in_flight_bytes = 0;
    int in_flight = 0;            // writes and setstats not yet answered
    int writes_in_flight = 0;     // writes alone
    Status error;                 // first failure, sticky
    bool error_on_extra = false;  // `error` came from an extra handle (a stripe)
    bool dirty = false;
    int setstats = 0;      // SetStatBehind calls not yet answered
    bool flushed = false;  // Flush since the last Write
    bool sealed = false;   // Seal called
    Mode mode = Mode::kSingle;
    uint64_t seq_next = 0;    // where a sequential stream would write next
    uint64_t seq_run = 0;     // bytes written sequentially up to seq_next
    uint64_t since_sync = 0;  // bytes queued (striped) since the last early fsync
    bool syncing = false;     // an early fsync is outstanding
    bool sync_off = false;    // the server lacks fsync@openssh.com
    size_t next_sync = 0;     // handle the next early fsync goes to
  };
  // Starts striping if the stream qualifies (called by Write before queueing).
  void MaybeStripe(uint64_t offset, size_t size);
  RemoteFile* FileFor(uint64_t offset) const;  // with st->mu held, mode settled
  // Sends an early fsync if due (config_.sync_every); called by Write, no lock held.
  void MaybeSyncEarly();

  RemoteFile* file_;
  const uint32_t max_write_;
  const uint64_t max_bytes_;
  StripeConfig config_;
  TaskPool* const pool_;
  // Set once (under state_->mu, before mode becomes kStriped); read after that.
  std::vector<Stripe> stripes_;
  std::vector<RemoteFile*> files_;  // files_[0] = file_, then the stripes' files
  std::shared_ptr<State> state_;
};

}  // namespace skiff::fs
