// RestoreEngine on an in-memory repository: how its requests are spread and sent.
// (Restore's guarantees — confinement, verification, metadata, hard links — are tested
// end to end in backup_engine_test.cc and backup_integration_test.)
#include "sync/restore_engine.h"

#include <sys/stat.h>
#include <time.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <set>

#include "sync/backup_engine.h"
#include "sync/posix_local_fs.h"
#include "tests/fs/faulty_remote_fs.h"
#include "transport/mem_remote_fs.h"

namespace skiff::sync {
namespace {

namespace fs = std::filesystem;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

BOOST_AUTO_TEST_SUITE(restore_engine)

// A restored file's read handle is closed without waiting for the server's answer (its
// content is judged by size and hash, not by the close): one round trip less per file.
// The restored files are still exact.
BOOST_AUTO_TEST_CASE(restore_does_not_wait_for_the_close_of_a_read_handle) {
  char tmpl[] = "/tmp/skiff-restore-test-XXXXXX";
  const fs::path dir = mkdtemp(tmpl);
  const fs::path src = dir / "data";
  fs::create_directories(src);
  constexpr int kFiles = 12;
  for (int i = 0; i < kFiles; ++i)
    std::ofstream(src / ("f" + std::to_string(i)), std::ios::binary) << RandomBytes(300 + i, i);
  auto mem = std::make_shared<MemRemoteFs>();
  PosixLocalFs local;
  std::string snapshot;
  {
    auto repo = Repository::Open(*mem, "/repo", true);
    BOOST_REQUIRE(repo.ok());
    BackupOptions o;
    o.sources = {src.string()};
    o.now = time(nullptr) + 60;
    o.lock = {"testhost", 4242, o.now, 24 * 3600, [](int64_t) { return false; }};
    o.cache_dir = (dir / "cache").string();
    o.warn = [](const std::string&) {};
    auto b = BackupEngine(*repo, local, o).Run();
    BOOST_REQUIRE_MESSAGE(b.ok(), b.status().ToString());
    snapshot = b->snapshot;
  }
  testing::FaultyRemoteFs counting(mem);
  auto repo = Repository::Open(counting, "/repo", false);
  BOOST_REQUIRE(repo.ok());
  RestoreOptions o;
  o.snapshot = snapshot;
  o.target = (dir / "restore").string();
  auto rs = RestoreEngine(*repo, local, o).Run();
  BOOST_REQUIRE_MESSAGE(rs.ok(), rs.status().ToString());
  BOOST_TEST(rs->errors == 0u);
  BOOST_TEST(rs->files == uint64_t{kFiles});
  BOOST_TEST(counting.close_async_calls() == uint64_t{kFiles});
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = "f" + std::to_string(i);
    BOOST_TEST(ReadFile(dir / "restore" / "data" / name) == RandomBytes(300 + i, i), name);
  }
  fs::remove_all(dir);
}

// While a big file is being read on a session, small files go to the other sessions (a
// session runs its requests in order: theirs would wait behind the big file's replies),
// the big file avoids session 0 (which also reads the manifest) while another is free,
// and a session takes small files again once its big file is done.
BOOST_AUTO_TEST_CASE(small_files_avoid_the_session_of_a_big_file_in_progress) {
  SessionPicker picker(3);
  const size_t big = picker.Pick(200 << 20);
  BOOST_TEST(big != 0u);
  std::set<size_t> small_used;
  for (int i = 0; i < 12; ++i) {
    const size_t s = picker.Pick(100);
    BOOST_TEST(s != big);
    small_used.insert(s);
    picker.Done(s, 100);
  }
  BOOST_TEST(small_used.size() == 2u);  // both other sessions, not just one
  // A second big file goes to the session that is neither session 0 nor the first's.
  const size_t big2 = picker.Pick(2 << 20);
  BOOST_TEST(big2 != 0u);
  BOOST_TEST(big2 != big);
  for (int i = 0; i < 6; ++i) BOOST_TEST(picker.Pick(100) == 0u);
  picker.Done(big, 200 << 20);
  std::set<size_t> after;
  for (int i = 0; i < 6; ++i) after.insert(picker.Pick(100));
  BOOST_TEST(after.count(big) == 1u);
  BOOST_TEST(after.count(big2) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace skiff::sync
