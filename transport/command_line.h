// Rendering a command's argv for messages and logs.
//
// Pure function; thread-safe.
#pragma once

#include <string>
#include <vector>

namespace skiff {

// "argv[0] arg1 ..." joined with single spaces. No quoting: for people reading an error
// message, not for a shell.
inline std::string JoinArgv(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

}  // namespace skiff
