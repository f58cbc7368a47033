// Helpers shared by the ops integration tests: a scratch directory, files, and running
// the skiff program ($SKIFF_BIN) with captured output.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace skiff::ops_test {

inline std::string SkiffBin() {
  const char* b = std::getenv("SKIFF_BIN");
  BOOST_REQUIRE_MESSAGE(b && *b, "SKIFF_BIN is not set (run through ctest)");
  return b;
}

struct ScratchDir {
  ScratchDir() {
    char tmpl[] = "/tmp/skiff_ops_test.XXXXXX";
    char* d = ::mkdtemp(tmpl);
    BOOST_REQUIRE(d);
    path = d;
    std::filesystem::permissions(path, std::filesystem::perms(0755));
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

inline void WriteFile(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << content;
  BOOST_REQUIRE_MESSAGE(f.good(), "writing " << path);
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline bool Exists(const std::string& path) { return std::filesystem::exists(path); }

inline testing::ProcessResult Run(const std::vector<std::string>& argv,
                                  std::vector<std::string> env = {}) {
  testing::ProcessOptions o;
  o.extra_env = std::move(env);
  o.extra_env.push_back("SKIFF_LOG=stderr");
  auto r = testing::RunProcess(argv, o);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  BOOST_TEST_MESSAGE("$ " << testing::JoinArgv(argv) << "\n-> exit " << r->exit_code
                          << "\nstdout:\n"
                          << r->out << "stderr:\n"
                          << r->err);
  return *r;
}

inline testing::ProcessResult Skiff(std::vector<std::string> args,
                                    std::vector<std::string> env = {}) {
  args.insert(args.begin(), SkiffBin());
  return Run(args, std::move(env));
}

inline bool Contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

// True when the skiff program has the command (it lists it in `skiff --help`).
inline bool HasCommand(const std::string& name) {
  auto r = Skiff({"help", name});
  return r.exit_code == 0;
}

}  // namespace skiff::ops_test
