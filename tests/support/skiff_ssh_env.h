// What the suites that drive `skiff` through a private sshd's skiff-restricted account
// share (serve_integration_test, pull_integration_test): a scratch directory, a copy of
// SKIFF_BIN the test accounts can execute, keys whose authorized_keys line is the one
// `skiff authorize` prints, and `skiff serve` reached through such a key.
//
// Header-only because it reports through Boost.Test (BOOST_REQUIRE fails the calling test
// case); include it after <boost/test/unit_test.hpp>. Not thread-safe. Requires root.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/sshd_fixture.h"
#include "tests/support/subprocess.h"
#include "transport/serve_remote_fs.h"
#include "transport/ssh_connection.h"
#include "transport/ssh_options.h"

namespace skiff::testing {

class SkiffSshEnv {
 public:
  // Starts sshd, makes /tmp/PREFIX-XXXXXX (mode 0755) and copies SKIFF_BIN to tmp/bin/skiff
  // (mode 0755): the accounts cannot reach into the build tree.
  explicit SkiffSshEnv(const std::string& tmp_prefix) {
    std::string tmpl = "/tmp/" + tmp_prefix + "-XXXXXX";
    BOOST_REQUIRE_MESSAGE(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp " << tmpl << " failed");
    tmp = tmpl;
    ::chmod(tmp.c_str(), 0755);
    std::filesystem::create_directories(tmp / "bin");
    bin = tmp / "bin/skiff";
    const char* skiff = std::getenv("SKIFF_BIN");
    BOOST_REQUIRE_MESSAGE(skiff != nullptr, "SKIFF_BIN is not set (run the suite through ctest)");
    std::filesystem::copy_file(skiff, bin);
    ::chmod(bin.c_str(), 0755);
  }
  ~SkiffSshEnv() {
    std::error_code ignored;
    std::filesystem::remove_all(tmp, ignored);
  }
  SkiffSshEnv(const SkiffSshEnv&) = delete;
  SkiffSshEnv& operator=(const SkiffSshEnv&) = delete;

  // Runs argv with `env` added to the environment; logs the command, its exit code and
  // stderr; fails the test case only if it could not run at all.
  ProcessResult Run(std::vector<std::string> argv, std::vector<std::string> env = {}) {
    ProcessOptions o;
    o.extra_env = std::move(env);
    auto r = RunProcess(argv, o);
    BOOST_REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    BOOST_TEST_MESSAGE(JoinArgv(argv) << " -> " << r->exit_code << "\n" << r->err);
    return *r;
  }

  // A new skiff-restricted key whose authorized_keys line is what
  // `skiff authorize --root ROOT MODE` prints for it; returns its private key's path and,
  // if `line` is given, the printed line.
  std::string AuthorizeKey(const std::filesystem::path& root, const std::string& mode,
                           std::string* line = nullptr) {
    auto r = Run({bin.string(), "authorize", "--key", sshd.restricted_key_path() + ".pub", "--root",
                  root.string(), mode, "--skiff", bin.string()});
    BOOST_REQUIRE_EQUAL(r.exit_code, 0);
    BOOST_TEST(r.out.rfind("restrict,command=\"", 0) == 0u, r.out);
    size_t key_at = r.out.find("\" ssh-");
    BOOST_REQUIRE(key_at != std::string::npos);
    auto key = sshd.AddRestrictedKey(r.out.substr(0, key_at + 1));
    BOOST_REQUIRE_MESSAGE(key.ok(), key.status().ToString());
    if (line != nullptr) *line = r.out;
    return *key;
  }

  // `skiff ARGS -F SSH_CONFIG [-i KEY]` with `env` added to the environment.
  ProcessResult Skiff(std::vector<std::string> args, const std::string& key,
                      std::vector<std::string> env = {}) {
    std::vector<std::string> argv{bin.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"-F", sshd.ssh_config_path()});
    if (!key.empty()) argv.insert(argv.end(), {"-i", key});
    return Run(argv, std::move(env));
  }

  // `skiff serve` as the forced command of `key` on skiff-restricted, spoken to directly.
  std::unique_ptr<ServeRemoteFs> ConnectServe(const std::string& key) {
    std::vector<std::string> args{"-F", sshd.ssh_config_path(), "-i", key};
    auto o = ParseSshFlags(args);
    BOOST_REQUIRE(o.ok());
    o->host = "skiff-restricted";
    auto conn = SshConnection::Connect(*o);
    BOOST_REQUIRE_MESSAGE(conn.ok(), conn.status().ToString());
    auto ch = (*conn)->OpenExec("skiff serve");
    BOOST_REQUIRE(ch.ok());
    auto fs = ServeRemoteFs::Create(std::move(ch).value(), *conn);
    BOOST_REQUIRE_MESSAGE(fs.ok(), fs.status().ToString());
    return std::move(fs).value();
  }

  SshdFixture sshd;
  std::filesystem::path tmp, bin;
};

// Names of the snapshots in the local repository `repo`, sorted, leaving out names that
// start with '.' (the .incomplete area); empty if there is no snapshots/ yet.
inline std::vector<std::string> LocalSnapshotNames(const std::filesystem::path& repo) {
  std::vector<std::string> v;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(repo / "snapshots", ec);
       !ec && it != std::filesystem::directory_iterator(); ++it)
    if (it->path().filename().string()[0] != '.') v.push_back(it->path().filename());
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace skiff::testing
