#include "cli/logging.h"

#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace skiff::cli {
namespace {

struct LogState {
  std::mutex mu;  // guards every field and all writes
  LogLevel level = LogLevel::kNotice;
  LogDestination destination = LogDestination::kStderr;
  bool syslog_open = false;
};

LogState& State() {
  static LogState state;
  return state;
}

int SyslogPriority(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return LOG_ERR;
    case LogLevel::kWarning:
      return LOG_WARNING;
    case LogLevel::kNotice:
      return LOG_NOTICE;
    case LogLevel::kInfo:
      return LOG_INFO;
    case LogLevel::kDebug:
      return LOG_DEBUG;
  }
  return LOG_NOTICE;
}

const char* Prefix(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error: ";
    case LogLevel::kWarning:
      return "warning: ";
    default:
      return "";
  }
}

}  // namespace

void InitLogging(const char* ident) {
  LogState& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  const char* forced = std::getenv("SKIFF_LOG");
  std::string f = forced ? forced : "";
  if (f == "stderr") {
    s.destination = LogDestination::kStderr;
  } else if (f == "syslog") {
    s.destination = LogDestination::kSyslog;
  } else if (f == "both") {
    s.destination = LogDestination::kBoth;
  } else {
    s.destination = isatty(STDERR_FILENO) ? LogDestination::kStderr : LogDestination::kSyslog;
  }
  if (s.destination != LogDestination::kStderr && !s.syslog_open) {
    // openlog keeps the pointer: `ident` must stay valid, so callers pass a literal.
    openlog(ident, LOG_PID, LOG_DAEMON);
    s.syslog_open = true;
  }
}

void SetLogLevel(LogLevel level) {
  LogState& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  s.level = level;
}

LogLevel GetLogLevel() {
  LogState& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.level;
}

LogDestination GetLogDestination() {
  LogState& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.destination;
}

LogLevel ParseLogFlags(std::vector<std::string>& args) {
  int level = static_cast<int>(GetLogLevel());
  std::vector<std::string> rest;
  bool passthrough = false;
  for (auto& a : args) {
    if (passthrough) {
      rest.push_back(std::move(a));
      continue;
    }
    if (a == "--") {
      passthrough = true;
      rest.push_back(std::move(a));
    } else if (a == "--verbose") {
      ++level;
    } else if (a == "-q" || a == "--quiet") {
      level = static_cast<int>(LogLevel::kWarning);
    } else if (a.size() >= 2 && a[0] == '-' && a[1] == 'v' &&
               a.find_first_not_of('v', 1) == std::string::npos) {
      level += static_cast<int>(a.size()) - 1;
    } else {
      rest.push_back(std::move(a));
    }
  }
  args = std::move(rest);
  if (level > static_cast<int>(LogLevel::kDebug)) level = static_cast<int>(LogLevel::kDebug);
  SetLogLevel(static_cast<LogLevel>(level));
  return static_cast<LogLevel>(level);
}

void Log(LogLevel level, std::string_view message) {
  LogState& s = State();
  std::lock_guard<std::mutex> lock(s.mu);
  if (level > s.level) return;
  bool to_stderr = s.destination != LogDestination::kSyslog || level <= LogLevel::kWarning;
  bool to_syslog = s.destination != LogDestination::kStderr;
  if (to_stderr) {
    std::fprintf(stderr, "skiff: %s%.*s\n", Prefix(level), static_cast<int>(message.size()),
                 message.data());
    std::fflush(stderr);
  }
  if (to_syslog) {
    syslog(SyslogPriority(level), "%.*s", static_cast<int>(message.size()), message.data());
  }
}

}  // namespace skiff::cli
