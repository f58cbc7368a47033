// ServeRemoteFs: the RemoteFs interface spoken to a `skiff serve` endpoint over a
// Channel (an SSH exec channel of a forced-command key, or a pipe to a local process in
// tests). Every call is one request frame; replies are matched by id, so the
// async reads and writes the backup engine issues are pipelined like SFTP's.
// CopyData always runs on the server (caps().copy_data is true), so a delta's copy
// instructions cost a few bytes each and no file content.
//
// Create() performs the hello handshake; a peer that does not answer it (an SFTP-only
// account, a shell that says "command not found", a refusal) gives kUnsupported with the
// peer's words when it had any, and the caller may fall back to SFTP.
//
// Thread-safety: as RemoteFs (any thread; callbacks run on the reader thread).
// Ownership: owns the channel and `keepalive` (destroyed after the channel).
// After the connection is lost every pending and later call fails with kConnectionLost.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "transport/channel.h"
#include "transport/remote_fs.h"
#include "transport/serve_protocol.h"

namespace skiff {

class ServeRemoteFs : public RemoteFs {
 public:
  static Result<std::unique_ptr<ServeRemoteFs>> Create(std::unique_ptr<Channel> channel,
                                                       std::shared_ptr<void> keepalive = nullptr);
  ~ServeRemoteFs() override;

  serve::Mode mode() const { return mode_; }

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

  std::unique_ptr<Channel> channel_;
  std::shared_ptr<void> keepalive_;
  Capabilities caps_;
  serve::Mode mode_ = serve::Mode::kFull;
  std::string read_buf_;  // owned by the reader thread after Create
  std::thread reader_;

  std::mutex mu_;  // guards next_id_, pending_, dead_; never held while calling back
  uint32_t next_id_ = 1;
  std::map<uint32_t, ReplyCallback> pending_;
  Status dead_;  // set once the connection failed
};

}  // namespace skiff
