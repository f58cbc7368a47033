// The one error type that carries failures through skiff.
//
// A Status is either OK or a failure with a category (Code), a retryable flag and a
// human-readable message that names what went wrong and, where useful, what to do.
// Statuses are [[nodiscard]]: dropping one on the floor is a compile warning; when a
// failure really does not matter, say so with IgnoreError().
//
// Conversions happen in exactly two places: SFTP status codes and libssh errors become
// a Status in transport/ (sftp_codec.cc, ssh_connection.cc), and a Status becomes an
// errno in fs/ (errno_map.cc). Nowhere else translates error codes.
#pragma once

#include <cassert>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace skiff {

enum class Code {
  kOk = 0,
  kNotFound,        // no such file or directory
  kPermission,      // the server (or our own confinement) refused
  kExists,          // target already exists (and replacing was not asked for)
  kNotDirectory,    // a path component is not a directory
  kIsDirectory,     // a file operation on a directory
  kNotEmpty,        // rmdir of a non-empty directory
  kInvalidArgument, // bad argument from the user or caller
  kUnsupported,     // the server does not offer the operation or extension
  kStale,           // a handle outlived its connection / object vanished underneath
  kConnectionLost,  // the transport died; retryable after reconnect
  kTimeout,         // the peer did not answer in time; retryable
  kCorrupt,         // malformed or hostile data (protocol, manifest, stream)
  kNoSpace,         // the server's disk is full or quota exceeded
  kHostKey,         // host key unknown or changed
  kAuth,            // authentication failed
  kCancelled,       // the operation was abandoned on request
  kBusy,            // a lock is held by someone else
  kIo,              // any other failure
};

// Short stable name of a code, e.g. "not found"; used in messages and logs.
std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message, bool retryable = false)
      : code_(code), retryable_(retryable), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status Permission(std::string m) { return {Code::kPermission, std::move(m)}; }
  static Status Exists(std::string m) { return {Code::kExists, std::move(m)}; }
  static Status Invalid(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
  static Status Corrupt(std::string m) { return {Code::kCorrupt, std::move(m)}; }
  static Status ConnectionLost(std::string m) {
    return {Code::kConnectionLost, std::move(m), /*retryable=*/true};
  }
  static Status Timeout(std::string m) { return {Code::kTimeout, std::move(m), true}; }
  static Status Io(std::string m) { return {Code::kIo, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool retryable() const { return retryable_; }
  const std::string& message() const { return message_; }

  // "not found: /srv/x: No such file" style; "OK" for success.
  std::string ToString() const;

  // Returns a copy whose message is prefixed with context ("opening /a: " + message).
  Status WithContext(std::string_view context) const;

  // Explicitly discard a status whose failure does not matter here.
  void IgnoreError() const {}

  bool Is(Code c) const { return code_ == c; }

 private:
  Code code_ = Code::kOk;
  bool retryable_ = false;
  std::string message_;
};

// A value or a failed Status. Accessing value() of a failed Result is a programming
// error (asserted in debug builds).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result constructed from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

inline std::ostream& operator<<(std::ostream& o, Code c) { return o << CodeName(c); }
inline std::ostream& operator<<(std::ostream& o, const Status& s) { return o << s.ToString(); }

}  // namespace skiff

// Early-return helpers. SKIFF_RETURN_IF_ERROR(expr) returns the Status if not OK;
// SKIFF_ASSIGN_OR_RETURN(lhs, expr) unwraps a Result or returns its Status.
#define SKIFF_RETURN_IF_ERROR(expr)              \
  do {                                           \
    ::skiff::Status _skiff_st = (expr);          \
    if (!_skiff_st.ok()) return _skiff_st;       \
  } while (0)

#define SKIFF_CONCAT_INNER(a, b) a##b
#define SKIFF_CONCAT(a, b) SKIFF_CONCAT_INNER(a, b)
#define SKIFF_ASSIGN_OR_RETURN(lhs, expr) \
  SKIFF_ASSIGN_OR_RETURN_IMPL(SKIFF_CONCAT(_skiff_r, __LINE__), lhs, expr)
#define SKIFF_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
