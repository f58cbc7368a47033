// An open SFTP file handle (the RemoteFile of SftpRemoteFs).
//
// Reads and writes are pipelined: ReadAsync/WriteAsync only submit requests to the
// SftpClient and return; many may be in flight. A Read shorter than asked for that is
// not at EOF (servers may return less) is continued transparently, so a short result
// always means EOF. Writes larger than caps().max_write are split into several
// requests; the callback runs once, with the first failure if any.
//
// Thread-safety: all methods may be called concurrently. Ownership: the SftpClient
// (owned by the SftpRemoteFs that opened the file) must outlive this object.
// After Close (or after the session died) every call fails; the destructor closes the
// handle if still open, ignoring errors.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "transport/remote_fs.h"
#include "transport/sftp_client.h"

namespace skiff {

class SftpFile : public RemoteFile {
 public:
  SftpFile(SftpClient* client, std::string handle, std::string path);
  ~SftpFile() override;

  Result<std::string> Read(uint64_t offset, uint32_t len) override;
  Status Write(uint64_t offset, std::string_view data) override;
  void ReadAsync(uint64_t offset, uint32_t len, ReadCallback cb) override;
  void WriteAsync(uint64_t offset, std::string data, DoneCallback cb) override;
  void WriteAsyncFrom(uint64_t offset, std::string_view data, DoneCallback cb) override;
  Result<FileAttr> Stat() override;
  Status SetStat(const FileAttr& attr) override;
  void SetStatAsync(const FileAttr& attr, DoneCallback cb) override;
  Status Sync() override;
  Status Close() override;
  void CloseAsync(DoneCallback cb) override;

  // The server's handle, for requests naming two files (copy-data).
  const std::string& handle() const { return handle_; }
  const std::string& path() const { return path_; }

 private:
  Status CheckOpen() const;
  // Submits one WRITE of `data` (at most max_write bytes) at `offset`; `data` is copied
  // into the channel before it returns.
  void SubmitWrite(uint64_t offset, std::string_view data, DoneCallback cb);
  // What in-flight callbacks need; shared so that they never touch a destroyed file.
  struct Ident {
    SftpClient* client;
    std::string handle;
    std::string path;
  };
  // Reads `len` bytes at `offset`, appending to `acc`, continuing after short reads.
  static void ReadInto(std::shared_ptr<const Ident> id, uint64_t offset, uint32_t len,
                       std::shared_ptr<std::string> acc, ReadCallback cb);

  SftpClient* const client_;
  const std::string handle_;
  const std::string path_;
  const std::shared_ptr<const Ident> ident_;
  std::atomic<bool> closed_{false};
};

}  // namespace skiff
