// SftpTrace: an opt-in record of every SFTP request, for finding which requests a run
// waits for. Set SKIFF_SFTP_TRACE=FILE and each SftpClient appends, when it is
// destroyed, one line per request to FILE:
//   <start_us> <end_us> <type> <waited> <request_bytes> <reply_bytes>
// times in microseconds since the first request of the process, type the SFTP packet
// type name (extended requests by their extension name), waited 1 when the submitter
// blocked for the reply (SftpClient::Call), 0 for pipelined submissions.
// Off (a null pointer check per request) unless the variable is set.
// Thread-safety: Begin/End/Dump may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace skiff {

class SftpTrace {
 public:
  // The process-wide trace, or null when SKIFF_SFTP_TRACE is unset.
  static SftpTrace* Get();
  // Records a request about to be sent (`packet`: the framed packet, followed on the
  // wire by `trailing` more bytes, a WRITE's payload); returns the index to pass to End.
  size_t Begin(std::string_view packet, bool waited, size_t trailing = 0);
  void End(size_t index, size_t reply_bytes);
  // Appends the records so far to the file and forgets them.
  void Dump();

 private:
  explicit SftpTrace(std::string path);
  struct Record {
    int64_t start_us = 0, end_us = -1;
    std::string type;
    bool waited = false;
    size_t request_bytes = 0, reply_bytes = 0;
  };
  const std::string path_;
  const std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
  std::mutex mu_;                // guards records_
  std::vector<Record> records_;  // guarded by mu_
};

}  // namespace skiff
