#include "sync/delta_apply.h"

#include <algorithm>
#include <utility>

namespace skiff {

DeltaApply::DeltaApply(std::string_view base, std::string* out)
    : base_size_(base.size()), base_(base), out_(out) {}

DeltaApply::DeltaApply(uint64_t base_size, BaseReader read, OutputWriter write)
    : base_size_(base_size), read_(std::move(read)), write_(std::move(write)) {}

Status DeltaApply::Fail(Status st) {
  status_ = std::move(st);
  return status_;
}

Status DeltaApply::Copy(uint64_t base_offset, uint64_t length) {
  if (!status_.ok()) return status_;
  if (base_offset > base_size_ || length > base_size_ - base_offset) {
    return Fail(Status::Corrupt("delta copies bytes " + std::to_string(base_offset) + "+" +
                                std::to_string(length) + " from a base of only " +
                                std::to_string(base_size_) + " bytes"));
  }
  if (out_ != nullptr && !read_) {
    out_->append(base_.substr(base_offset, length));
    output_size_ += length;
    return Status::Ok();
  }
  while (length > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(length, kReadChunk));
    scratch_.resize(n);
    Status st = read_(base_offset, std::span<char>(scratch_.data(), n));
    if (!st.ok()) {
      return Fail(st.WithContext("reading base at offset " + std::to_string(base_offset)));
    }
    st = write_(scratch_);
    if (!st.ok()) return Fail(std::move(st));
    base_offset += n;
    length -= n;
    output_size_ += n;
  }
  return Status::Ok();
}

Status DeltaApply::Literal(std::string_view bytes) {
  if (!status_.ok()) return status_;
  output_size_ += bytes.size();
  if (out_ != nullptr) {
    out_->append(bytes);
    return Status::Ok();
  }
  Status st = write_(bytes);
  if (!st.ok()) return Fail(std::move(st));
  return Status::Ok();
}

}  // namespace skiff
