// Levelled logging for the `skiff` program's commands.
//
// Where messages go: on a terminal (stderr is a TTY) everything at or above the current
// level goes to stderr. Otherwise (cron, systemd) messages go to syslog(3), which journald
// collects, and errors and warnings are copied to stderr as well so that cron mails them
// and a calling program sees why a run failed. SKIFF_LOG=stderr|syslog|both forces a
// destination. The default level is kNotice; each -v lowers the threshold one step
// (info, then debug), -q raises it to warnings only.
//
// Thread-safety: every function here may be called from any thread; one mutex serialises
// writes so lines never interleave. Configuration (InitLogging, SetLogLevel) is expected
// once at start-up but is safe at any time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace skiff::cli {

enum class LogLevel { kError = 0, kWarning, kNotice, kInfo, kDebug };

enum class LogDestination { kStderr, kSyslog, kBoth };

// Chooses the destination (see above) and opens syslog with `ident` when needed.
void InitLogging(const char* ident = "skiff");

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
LogDestination GetLogDestination();

// Removes -v/-vv/--verbose/-q/--quiet from `args` (stopping at "--") and applies them.
// Returns the resulting level. Flags repeat: "-v -v" equals "-vv".
LogLevel ParseLogFlags(std::vector<std::string>& args);

// Writes one message (without trailing newline) if `level` passes the threshold.
void Log(LogLevel level, std::string_view message);

inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogNotice(std::string_view m) { Log(LogLevel::kNotice, m); }
inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogDebug(std::string_view m) { Log(LogLevel::kDebug, m); }

}  // namespace skiff::cli
