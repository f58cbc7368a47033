// ServeRemoteFs: the RemoteFs interface spoken to a `skiff serve` endpoint over a
// Channel (an SSH exec channel of a forced-command key, or a pipe to a local process in
// tests). Every call is one request frame; replies are matched by id, so the
// async reads and writes the backup engine issues are pipelined like SFTP's.
// CopyData always runs on the server (caps().copy_data is true), so a delta's copy
// instructions cost a few bytes each and no file content. With a version-2 endpoint it
// also offers ServerBuildFs (files rebuilt on the server from one stream of copies and
// literals, transport/server_build.h), and hard links requested close together
// (Hardlink from several threads, or HardlinkAsync) travel together in kLinkBatch
// requests, sent by a link sender thread with at most kLinkBatchesInFlight unanswered.
//
// Create() performs the hello handshake; a peer that does not answer it (an SFTP-only
// account, a shell that says "command not found", a refusal) gives kUnsupported with the
// peer's words when it had any, and the caller may fall back to SFTP.
//
// Thread-safety: as RemoteFs (any thread; callbacks run on the reader thread).
// Ownership: owns the channel and `keepalive` (destroyed after the channel).
// After the connection is lost every pending and later call fails with kConnectionLost.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "transport/channel.h"
#include "transport/remote_fs.h"
#include "transport/serve_protocol.h"
#include "transport/server_build.h"

namespace skiff {

class ServeRemoteFs : public RemoteFs, public ServerBuildFs {
 public:
  static Result<std::unique_ptr<ServeRemoteFs>> Create(std::unique_ptr<Channel> channel,
                                                       std::shared_ptr<void> keepalive = nullptr);
  ~ServeRemoteFs() override;

  serve::Mode mode() const { return mode_; }
  uint32_t protocol_version() const { return version_; }

  // Link batches unanswered at once. With 2, a caller arriving while both were out
  // waited for one reply before its own batch left (up to two round trips per link; the
  // engine's 64 workers each wait for their link): the benchmark's incremental sent
  // ~330 batches of ~15 links and its link phase was a chain of ~165 round trips. With
  // 8 a caller waits at most ~1/8 round trip before its batch leaves.
  static constexpr int kLinkBatchesInFlight = 8;
  static constexpr size_t kMaxLinkBatch = 512;

  // ServerBuildFs.
  bool server_build() const override { return version_ >= 2; }
  Result<std::string> BaseSignature(const std::string& base, const std::string& stored_sig,
                                    uint32_t block_size) override;
  std::unique_ptr<RemoteBuild> BeginBuild(BuildSpec spec) override;
  void HardlinkAsync(const std::string& existing, const std::string& new_path,
                     std::function<void(Status)> done) override;

  const Capabilities& caps() const override { return caps_; }
  Result<FileAttr> Stat(const std::string& path) override;
  Result<FileAttr> Lstat(const std::string& path) override;
  Status SetStat(const std::string& path, const FileAttr& attr) override;
  Status LSetStat(const std::string& path, const FileAttr& attr) override;
  Result<std::vector<DirEntry>> ReadDir(const std::string& path) override;
  Result<std::unique_ptr<RemoteFile>> Open(const std::string& path, uint32_t flags,
                                           uint32_t mode = 0644) override;
  Status Mkdir(const std::string& path, uint32_t mode) override;
  Status Rmdir(const std::string& path) override;
  Status Remove(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to, RenameMode mode) override;
  Status Symlink(const std::string& target, const std::string& link_path) override;
  Result<std::string> Readlink(const std::string& path) override;
  Status Hardlink(const std::string& existing, const std::string& new_path) override;
  Result<FsStats> StatVfs(const std::string& path) override;
  Result<std::string> RealPath(const std::string& path) override;
  Status CopyData(RemoteFile& src, uint64_t src_offset, uint64_t len, RemoteFile& dst,
                  uint64_t dst_offset) override;

  // One request; the reply's result fields (a copy) or its failure.
  using ReplyCallback = std::function<void(Result<std::string>)>;
  void CallAsync(serve::Op op, std::string payload, ReplyCallback cb);
  Result<std::string> Call(serve::Op op, std::string payload);

 private:
  ServeRemoteFs(std::unique_ptr<Channel> ch, std::shared_ptr<void> keepalive);
  void ReaderLoop();
  void FailAll(const Status& st);
  Status SimpleCall(serve::Op op, std::string payload, std::string_view what);
  Result<FileAttr> AttrCall(serve::Op op, std::string payload, std::string_view what);
  // A hard link asked for by HardlinkAsync, waiting in link_queue_. Defined here, not in
  // the .cc: a std::vector member needs the complete type (clang insists).
  struct LinkRequest {
    std::string from, to;
    std::function<void(Status)> done;
  };
  void SendLinkBatch(std::vector<LinkRequest> batch);
  // The link sender thread: sends queued links while fewer than kLinkBatchesInFlight
  // batches are unanswered (never the reader thread: a send may block); at stop, fails
  // what is still queued.
  void LinkSenderLoop();

  std::unique_ptr<Channel> channel_;
  std::shared_ptr<void> keepalive_;
  Capabilities caps_;
  serve::Mode mode_ = serve::Mode::kFull;
  uint32_t version_ = 0;  // the session's protocol version (set by Create)
  std::atomic<uint32_t> next_build_{1};

  std::mutex link_mu_;  // guards link_queue_, links_in_flight_, link_stop_; after mu_ never
  std::condition_variable link_cv_;      // a link was queued, a batch answered, or stop
  std::vector<LinkRequest> link_queue_;  // requested links not yet sent
  int links_in_flight_ = 0;
  bool link_stop_ = false;
  std::thread link_sender_;  // started by the first HardlinkAsync
  std::string read_buf_;     // owned by the reader thread after Create
  std::thread reader_;

  std::mutex mu_;  // guards next_id_, pending_, dead_, op_stats_; never held while calling back
  uint32_t next_id_ = 1;
  struct Pending {
    ReplyCallback cb;
    uint8_t op = 0;
    std::chrono::steady_clock::time_point sent;  // when $SKIFF_SERVE_STATS=trace
  };
  // $SKIFF_SERVE_STATS=trace: one stderr line per reply (send time on the steady clock,
  // the server's trace uses the same clock, type, id, round trip).
  const bool trace_ = TraceRequested();
  static bool TraceRequested();
  std::map<uint32_t, Pending> pending_;
  // Per request type: requests, bytes sent (frames), bytes received (reply frames).
  // Printed to stderr on destruction when $SKIFF_SERVE_STATS is set (profiling the wire).
  struct OpStats {
    uint64_t calls = 0, out = 0, in = 0;
  };
  std::map<uint8_t, OpStats> op_stats_;
  Status dead_;  // set once the connection failed
};

}  // namespace skiff
