// RemoteFs over our pipelined SFTP v3 client (see remote_fs.h for the contract).
//
// Every OpenSSH extension is used when the server advertises it and SftpOptions does not
// disable it; without it the documented fallback applies (remote_fs.h):
//   posix-rename  Rename(kReplace) -> remove `to`, then rename (not atomic)
//   lsetstat      LSetStat -> kUnsupported on symlinks, SetStat otherwise
//   expand-path   RealPath -> SSH_FXP_REALPATH ("~" is then not expanded)
//   copy-data     CopyData -> pipelined read + write through the client
//   hardlink, statvfs, fsync -> kUnsupported (no fallback possible); HardlinkAsync (an
//                 AsyncHardlinkFs) is the same request submitted without waiting
//   limits        32 KiB reads and writes
//
// ReadDir sends its READDIRs in rounds (2, 4, ... 32 at once) and does not wait for the
// CLOSE of the directory handle (it is ordered before any later request on the channel;
// a failed close is not reported): a listing of up to 100 entries waits 2 round trips.
//
// Sibling sessions: one SFTP session is one server process that handles its requests one
// at a time, so work on many small files is bound by it (the full backup's 5000 new
// small files: the server side runnable half the time while the client waited). With a
// session opener (ConnectSftp sets one: a further SSH connection, in batch mode, with
// the "sftp" subsystem; repo_connect.cc for a local sftp-server: another process), OpenSessions
// adds siblings and session(i) hands them out. A RemoteFile and a CopyData belong to the
// session that opened the file. Requests on different sessions are not ordered with
// each other: wait for one's reply before depending on it on another. One further
// sibling can be asked for "compressed" (OpenSessions): over SSH its connection uses
// zlib@openssh.com, for traffic of many small, repetitive requests (an incremental
// backup's hard links: two full paths each) kept apart from bulk file data, whose
// compression would cost CPU for nothing (doc/FORMAT.md "Connections").
//
// Thread-safety: all methods may be called concurrently from any thread, except
// set_session_opener and OpenSessions (before sharing the object). Ownership: owns the
// SftpClient and through it the channel, and the siblings; `keepalive` (typically the
// SSH connection the channel runs on) is released only after the channel is closed.
// RemoteFiles must not outlive this object.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "transport/async_hardlink.h"
#include "transport/channel.h"
#include "transport/remote_fs.h"
#include "transport/sftp_client.h"  // SftpOptions

namespace skiff {

class SftpRemoteFs : public RemoteFs, public AsyncHardlinkFs {
 public:
  // Performs SFTP INIT on `channel` (see SftpClient::Start for the failures).
  static Result<std::unique_ptr<SftpRemoteFs>> Create(std::unique_ptr<Channel> channel,
                                                      SftpOptions opts = {},
                                                      std::shared_ptr<void> keepalive = nullptr);
  ~SftpRemoteFs() override;

  const Capabilities& caps() const override;
  Result<FileAttr> Stat(const std::string& path) override;
  Result<FileAttr> Lstat(const std::string& path) override;
  Status SetStat(const std::string& path, const FileAttr& attr) override;
  Status LSetStat(const std::string& path, const FileAttr& attr) override;
  Result<std::vector<DirEntry>> ReadDir(const std::string& path) override;
  Result<std::unique_ptr<RemoteFile>> Open(const std::string& path, uint32_t flags,
                                           uint32_t mode = 0644) override;
  Status Mkdir(const std::string& path, uint32_t mode = 0755) override;
  Status Rmdir(const std::string& path) override;
  Status Remove(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to, RenameMode mode) override;
  Status Symlink(const std::string& target, const std::string& link_path) override;
  Result<std::string> Readlink(const std::string& path) override;
  Status Hardlink(const std::string& existing, const std::string& new_path) override;
  // AsyncHardlinkFs: the hardlink@openssh.com request is submitted without waiting; `done`
  // runs on the client's reader thread (kUnsupported at once without the extension).
  void HardlinkAsync(const std::string& existing, const std::string& new_path,
                     std::function<void(Status)> done) override;
  Result<FsStats> StatVfs(const std::string& path) override;
  Result<std::string> RealPath(const std::string& path) override;
  Status CopyData(RemoteFile& src, uint64_t src_offset, uint64_t len, RemoteFile& dst,
                  uint64_t dst_offset) override;

  SftpClient& client() { return *client_; }

  // `compressed`: the session will carry small requests only (hard links, metadata, a
  // manifest), so its connection should compress (SshConfig::compression) if it has one.
  using SessionOpener = std::function<Result<std::unique_ptr<SftpRemoteFs>>(bool compressed)>;
  void set_session_opener(SessionOpener opener) { opener_ = std::move(opener); }
  // Opens siblings (concurrently) until there are `n` sessions in all, and with
  // `compressed` also the compressed sibling (not one of session(i)); those the server
  // refuses (its MaxSessions, say) are done without. Returns sessions().
  size_t OpenSessions(size_t n, bool compressed = false);
  size_t sessions() const { return 1 + siblings_.size(); }
  RemoteFs& session(size_t i) {
    return i % sessions() == 0 ? *this : *siblings_[i % sessions() - 1];
  }
  // The compressed sibling OpenSessions opened; null if it was not asked for or failed.
  SftpRemoteFs* compressed_session() { return compressed_.get(); }

 private:
  SftpRemoteFs(std::shared_ptr<void> keepalive, std::unique_ptr<SftpClient> client);
  SftpClient::Request HardlinkRequest(const std::string& existing, const std::string& new_path);
  Result<FileAttr> StatLike(uint8_t type, const char* verb, const std::string& path);
  Status PathOp(uint8_t type, const char* verb, const std::string& path);
  Result<std::string> SingleName(SftpClient::Request req, const std::string& context);
  Status CopyThroughClient(RemoteFile& src, uint64_t src_offset, uint64_t len, RemoteFile& dst,
                           uint64_t dst_offset);

  // Declared first so that it is destroyed last, after the client closed the channel.
  std::shared_ptr<void> keepalive_;
  std::unique_ptr<SftpClient> client_;
  SessionOpener opener_;
  std::vector<std::unique_ptr<SftpRemoteFs>> siblings_;  // destroyed before client_
  std::unique_ptr<SftpRemoteFs> compressed_;             // likewise
};

}  // namespace skiff
