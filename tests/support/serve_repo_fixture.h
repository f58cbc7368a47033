// A small backup repository for the suites that drive `skiff serve` over a pipe
// (tests/serve): one published snapshot holding a 300 KiB random file ("big") and a small
// one, a published manifest, the scratch areas (.skiff/tmp, snapshots/.incomplete) and
// .skiff/sigs, plus a file outside the root (DIR/outside/secret) for escape attempts.
// Removed with its directory on destruction.
//
// Header-only (it reports through Boost.Test: include it after
// <boost/test/unit_test.hpp>). Not thread-safe.
#pragma once

#include <stdlib.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "tests/support/serve_pipe.h"
#include "tests/support/test_data.h"
#include "tests/support/tree_state.h"
#include "transport/serve_remote_fs.h"

namespace skiff::testing {

// Attributes for a build's end: permissions and times (atime = mtime).
inline FileAttr Attrs(uint32_t mode, int64_t mtime) {
  FileAttr a;
  a.valid = FileAttr::kPermissions | FileAttr::kTimes;
  a.mode = mode;
  a.atime = a.mtime = mtime;
  return a;
}

struct ServeRepoFixture {
  std::filesystem::path dir, repo;
  const std::string snap = "snapshots/2026-01-01T000000Z";
  std::string base = RandomBytes(300 * 1024, 7);  // the content of snap/big

  ServeRepoFixture() {
    char tmpl[] = "/tmp/skiff-serve-repo-test-XXXXXX";
    const char* made = mkdtemp(tmpl);
    BOOST_REQUIRE(made != nullptr);
    dir = made;
    repo = dir / "repo";
    WriteFile(repo / snap / "big", base);
    WriteFile(repo / snap / "small", "small file\n");
    WriteFile(repo / ".skiff/manifests/2026-01-01T000000Z", "manifest\n");
    std::filesystem::create_directories(repo / ".skiff/tmp");
    std::filesystem::create_directories(repo / ".skiff/sigs");
    std::filesystem::create_directories(repo / "snapshots/.incomplete");
    WriteFile(dir / "outside/secret", std::string(5000, 's'));
  }
  ~ServeRepoFixture() { std::filesystem::remove_all(dir); }
  ServeRepoFixture(const ServeRepoFixture&) = delete;
  ServeRepoFixture& operator=(const ServeRepoFixture&) = delete;

  // `skiff serve --root repo MODE` over a pipe; fails the test unless it speaks the
  // server-side build requests (protocol version 2).
  std::unique_ptr<ServeRemoteFs> Serve(const std::string& mode) {
    auto f = SpawnServe(repo, mode);
    BOOST_REQUIRE(f->server_build());
    return f;
  }
  // Every entry of the repository but the scratch areas (symlink targets not recorded).
  std::map<std::string, std::string> Published() const {
    auto m = TreeState(repo, {.link_targets = false});
    for (auto it = m.begin(); it != m.end();)
      it = (it->first.rfind(".skiff/tmp", 0) == 0 ||
            it->first.rfind("snapshots/.incomplete", 0) == 0)
               ? m.erase(it)
               : std::next(it);
    return m;
  }
};

}  // namespace skiff::testing
