// A bounded in-memory buffer between a producer (`zfs send`) and a consumer (the SFTP
// upload) running on two threads, so that neither waits for the other while the buffer
// is neither full nor empty: mbuffer's job, without mbuffer.
//
// Thread-safety: one producer thread calls Push/CloseWriter, one consumer thread calls
// Pop/CloseReader; all methods are safe to call concurrently.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace skiff::sync {

class ZfsPipeBuffer {
 public:
  // `capacity` bytes may wait in the buffer (one chunk may exceed it when it is empty).
  explicit ZfsPipeBuffer(size_t capacity);
  ZfsPipeBuffer(const ZfsPipeBuffer&) = delete;
  ZfsPipeBuffer& operator=(const ZfsPipeBuffer&) = delete;

  // Blocks while the buffer is full. False if the consumer closed: stop producing.
  bool Push(std::string chunk);
  // The producer is done (normally or not); Pop drains what is left, then returns nullopt.
  void CloseWriter();
  // Blocks until a chunk is available; nullopt once the writer closed and all is drained.
  std::optional<std::string> Pop();
  // The consumer gives up: pending and later Push calls return false.
  void CloseReader();

  // Highest fill seen (bytes), for benchmarks and tuning.
  size_t high_water() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable not_full_, not_empty_;
  std::deque<std::string> chunks_;
  size_t bytes_ = 0;
  size_t high_water_ = 0;
  bool writer_closed_ = false;
  bool reader_closed_ = false;
};

}  // namespace skiff::sync
