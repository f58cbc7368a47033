// DeltaApply: the reference reconstruction of a delta. A DeltaSink that rebuilds the new
// file from the base and the Copy/Literal instructions of a DeltaMatcher.
//
// The base is either held in memory or read through a callback; the output is either
// appended to a string or handed to a callback, in order. Used by tests, the fuzzer and
// restore-side tools; the backup engine rebuilds files on the server instead.
//
// Every Copy is bounds-checked against the base size: an instruction outside the base is
// kCorrupt (a delta from a hostile or damaged source must not read out of bounds).
// Thread-safety: not thread-safe. Ownership: the in-memory base and the output string
// must outlive the DeltaApply. Failure: after an error the output holds a prefix of the
// reconstruction and later calls fail with the same status.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "sync/delta_matcher.h"
#include "transport/status.h"

namespace skiff {

class DeltaApply : public DeltaSink {
 public:
  // Fills `out` with the base bytes starting at `offset` (out.size() bytes, all of them).
  using BaseReader = std::function<Status(uint64_t offset, std::span<char> out)>;
  // Receives the next bytes of the reconstructed file.
  using OutputWriter = std::function<Status(std::string_view bytes)>;

  // Copy reads are split into pieces of at most this size when the base is a callback.
  static constexpr size_t kReadChunk = 1024 * 1024;

  // Base in memory, output appended to *out.
  DeltaApply(std::string_view base, std::string* out);
  // Base of `base_size` bytes read through `read`, output to `write`.
  DeltaApply(uint64_t base_size, BaseReader read, OutputWriter write);

  Status Copy(uint64_t base_offset, uint64_t length) override;
  Status Literal(std::string_view bytes) override;

  // Bytes of output produced so far.
  uint64_t output_size() const { return output_size_; }

 private:
  Status Fail(Status st);

  uint64_t base_size_;
  std::string_view base_;  // when in memory
  BaseReader read_;        // otherwise
  OutputWriter write_;
  std::string* out_ = nullptr;
  std::string scratch_;
  uint64_t output_size_ = 0;
  Status status_;
};

}  // namespace skiff
