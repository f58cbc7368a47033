#include "transport/status.h"

namespace skiff {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kNotFound: return "not found";
    case Code::kPermission: return "permission denied";
    case Code::kExists: return "already exists";
    case Code::kNotDirectory: return "not a directory";
    case Code::kIsDirectory: return "is a directory";
    case Code::kNotEmpty: return "directory not empty";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kUnsupported: return "not supported";
    case Code::kStale: return "stale handle";
    case Code::kConnectionLost: return "connection lost";
    case Code::kTimeout: return "timed out";
    case Code::kCorrupt: return "corrupt data";
    case Code::kNoSpace: return "no space left";
    case Code::kHostKey: return "host key verification failed";
    case Code::kAuth: return "authentication failed";
    case Code::kCancelled: return "cancelled";
    case Code::kBusy: return "busy";
    case Code::kIo: return "I/O error";
  }
  return "unknown error";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s(CodeName(code_));
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string m(context);
  if (!message_.empty()) {
    m += ": ";
    m += message_;
  }
  return Status(code_, std::move(m), retryable_);
}

}  // namespace skiff
