// The real `skiff serve` program (SKIFF_BIN) as a child process over a pipe, for the
// suites that test the serve protocol without sshd (tests/serve).
//
// Header-only because it reports through Boost.Test (BOOST_REQUIRE fails the calling test
// case); include it after <boost/test/unit_test.hpp>. Not thread-safe.
#pragma once

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "transport/process_channel.h"
#include "transport/serve_remote_fs.h"

namespace skiff::testing {

// `skiff serve --root ROOT [MODE]` spawned over a pipe, with the ServeRemoteFs handshake
// done. MODE is a policy flag such as "--append-only" or "--read-only"; "" for none.
inline std::unique_ptr<ServeRemoteFs> SpawnServe(const std::filesystem::path& root,
                                                 const std::string& mode) {
  const char* skiff = std::getenv("SKIFF_BIN");
  BOOST_REQUIRE_MESSAGE(skiff != nullptr, "SKIFF_BIN is not set (run the suite through ctest)");
  std::vector<std::string> argv{skiff, "serve", "--root", root.string()};
  if (!mode.empty()) argv.push_back(mode);
  auto ch = ProcessChannel::Spawn(argv);
  BOOST_REQUIRE_MESSAGE(ch.ok(), ch.status().ToString());
  auto fs = ServeRemoteFs::Create(std::move(ch).value());
  BOOST_REQUIRE_MESSAGE(fs.ok(), fs.status().ToString());
  return std::move(fs).value();
}

}  // namespace skiff::testing
