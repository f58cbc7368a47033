// Helpers the test suites share for file content: deterministic pseudo-random bytes,
// whole-file reads and writes of local files, and a scratch directory under /tmp.
//
// Header-only (inline) so that suites which do not link skiff_testsupport
// (transport_unit_test, fs_semantics_test) can use it too. No shared state: safe from
// any thread. A file that cannot be read reads as ""; a failed write leaves whatever the
// stream managed to write (the test's next check then fails on the content).
#pragma once

#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>

namespace skiff::testing {

// `n` bytes from a Mersenne twister seeded with `seed`: the same seed gives the same bytes.
inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// The whole content of the local file at `path`, or "" if it cannot be opened.
inline std::string ReadLocalFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Creates or truncates the local file at `path` and writes `data` to it.
inline void WriteLocalFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// Creates `path`'s missing parent directories, then writes it like WriteLocalFile.
inline void WriteFile(const std::filesystem::path& path, const std::string& data) {
  std::filesystem::create_directories(path.parent_path());
  WriteLocalFile(path, data);
}

// ReadLocalFile for a std::filesystem::path.
inline std::string ReadFile(const std::filesystem::path& path) { return ReadLocalFile(path); }

// A fresh directory /tmp/PREFIX-XXXXXX (mkdtemp), removed with everything in it by the
// destructor. Throws std::runtime_error if it cannot be made.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "skiff-test") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl + " failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace skiff::testing
