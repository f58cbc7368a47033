#include "cli/logging.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace skiff::cli {
namespace {

// Runs `body` with fd 2 redirected to a file; returns what was written there.
template <typename F>
std::string CaptureStderr(F body) {
  std::string path = "/tmp/skiff_logging_test_" + std::to_string(::getpid());
  std::fflush(stderr);
  int saved = ::dup(2);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::dup2(fd, 2);
  ::close(fd);
  body();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::remove(path.c_str());
  return s.str();
}

BOOST_AUTO_TEST_CASE(log_flags_are_removed_and_set_the_level) {
  SetLogLevel(LogLevel::kNotice);
  std::vector<std::string> args = {"run", "-v", "job", "--verbose", "--", "-q"};
  BOOST_TEST(static_cast<int>(ParseLogFlags(args)) == static_cast<int>(LogLevel::kDebug));
  BOOST_TEST((args == std::vector<std::string>{"run", "job", "--", "-q"}));
  SetLogLevel(LogLevel::kNotice);
  std::vector<std::string> vv = {"-vv"};
  BOOST_TEST(static_cast<int>(ParseLogFlags(vv)) == static_cast<int>(LogLevel::kDebug));
  BOOST_TEST(vv.empty());
  SetLogLevel(LogLevel::kNotice);
  std::vector<std::string> q = {"--quiet", "x", "-vx"};
  BOOST_TEST(static_cast<int>(ParseLogFlags(q)) == static_cast<int>(LogLevel::kWarning));
  BOOST_TEST((q == std::vector<std::string>{"x", "-vx"}));
}

BOOST_AUTO_TEST_CASE(stderr_destination_filters_by_level) {
  setenv("SKIFF_LOG", "stderr", 1);
  InitLogging("skiff-test");
  BOOST_TEST(static_cast<int>(GetLogDestination()) == static_cast<int>(LogDestination::kStderr));
  SetLogLevel(LogLevel::kNotice);
  std::string out = CaptureStderr([] {
    LogError("bad thing");
    LogWarning("odd thing");
    LogNotice("normal thing");
    LogInfo("detail");
    LogDebug("more detail");
  });
  BOOST_TEST(out == "skiff: error: bad thing\nskiff: warning: odd thing\nskiff: normal thing\n");
  SetLogLevel(LogLevel::kWarning);
  BOOST_TEST(CaptureStderr([] { LogNotice("hidden"); }).empty());
  SetLogLevel(LogLevel::kNotice);
}

// Off a terminal, notices go only to syslog; errors and warnings also reach stderr so
// that cron mails them.
BOOST_AUTO_TEST_CASE(syslog_destination_still_shows_problems_on_stderr) {
  setenv("SKIFF_LOG", "syslog", 1);
  InitLogging("skiff-test");
  BOOST_TEST(static_cast<int>(GetLogDestination()) == static_cast<int>(LogDestination::kSyslog));
  SetLogLevel(LogLevel::kNotice);
  std::string out = CaptureStderr([] {
    LogNotice("to syslog only");
    LogWarning("to both");
  });
  BOOST_TEST(out == "skiff: warning: to both\n");
  unsetenv("SKIFF_LOG");
}

}  // namespace
}  // namespace skiff::cli
