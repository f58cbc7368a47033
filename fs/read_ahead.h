// Adaptive read-ahead for one open file. A sequential stream (each read starting where
// the previous ones ended, tolerating the reordering of a multi-threaded FUSE session)
// doubles its window of in-flight RemoteFile::ReadAsync requests, each `chunk` bytes
// (caps().max_read), up to `max_requests`, so one stream keeps the link full at high
// latency. A read elsewhere is served exactly (split into parallel requests when larger
// than a chunk) and resets the window, so random reads fetch nothing extra.
//
// Thread-safe. Read blocks the calling thread until its bytes arrive, without holding
// any lock while waiting. The RemoteFile must outlive this object; the destructor waits
// for requests still in flight. A failed request fails only the reads that need its
// bytes; the next read of that range asks again.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "transport/remote_fs.h"

namespace skiff::fs {

class ReadAhead {
 public:
  ReadAhead(RemoteFile* file, uint32_t chunk, uint32_t max_requests);
  ~ReadAhead();
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  Result<std::string> Read(uint64_t offset, uint32_t size);
  // Drops everything fetched or in flight (the file was written or truncated).
  void Invalidate();
  // Starts reading the first `len` bytes (the size seen at open; at most one request,
  // none if 0) before anyone asks, so a small file's data is already on its way when the
  // first read arrives. A file smaller than one request also gets a probe for the rest
  // of that request, so that where it ends is known in the same round trip.
  void Prefetch(uint64_t len);
  // The file's size when opened: read-ahead does not speculate past it (reads that the
  // caller asks for are always sent, so a file that grew is still read in full).
  void SetSizeHint(uint64_t size);

  // For tests: the current window (requests) of the sequential stream.
  uint32_t window() const;

 private:
  struct Chunk {
    uint64_t offset = 0;
    uint32_t len = 0;
    bool done = false;
    Status status;
    std::string data;
  };
  struct State {
    std::mutex mu;  // guards everything in State
    std::condition_variable cv;
    std::map<uint64_t, std::shared_ptr<Chunk>> chunks;  // by offset; non-overlapping
    uint64_t issued_end = 0;    // end of the sequential stream's issued requests
    uint64_t expected = 0;      // where the next sequential read would start
    uint64_t eof = UINT64_MAX;  // known end of file (short read seen)
    uint32_t window = 0;        // requests the stream keeps in flight; 0 = not streaming
    int in_flight = 0;
  };

  void Issue(const std::shared_ptr<Chunk>& c);

  RemoteFile* file_;
  const uint32_t chunk_;
  const uint32_t max_requests_;
  std::shared_ptr<State> state_;
};

}  // namespace skiff::fs
