// PosixLocalFs's restore side: the directory-descriptor cache keeps confinement (it is
// emptied by MakeRoot, so a directory swapped for a symlink between restores is refused)
// and stays correct past its capacity; writers set metadata through the open file and
// only truncate when the length changes.
#include "sync/posix_local_fs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>

#include "tests/support/test_data.h"

namespace fs = std::filesystem;
using namespace skiff;
using namespace skiff::sync;
using skiff::testing::ReadFile;
using skiff::testing::TempDir;

namespace {

Status WriteNew(PosixLocalFs& local, const std::string& root, const std::string& rel,
                const std::string& data) {
  SKIFF_ASSIGN_OR_RETURN(auto w, local.CreateUnder(root, rel));
  SKIFF_RETURN_IF_ERROR(w->Write(0, data));
  return w->Close();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(posix_local_fs)

BOOST_AUTO_TEST_CASE(directory_swapped_for_a_symlink_between_restores_is_refused) {
  TempDir t("skiff-posix-local-fs-test");
  const std::string root = (t.path / "target").string();
  fs::create_directories(t.path / "outside");
  PosixLocalFs local;
  BOOST_REQUIRE(local.MakeRoot(root).ok());
  BOOST_REQUIRE(local.MkdirUnder(root, "a").ok());
  BOOST_REQUIRE(local.MkdirUnder(root, "a/b").ok());
  BOOST_REQUIRE(WriteNew(local, root, "a/b/f", "one").ok());  // a/b is now cached
  // Someone replaces a/b with a symlink pointing out of the target.
  fs::rename(t.path / "target" / "a" / "b", t.path / "target" / "a" / "old");
  fs::create_directory_symlink(t.path / "outside", t.path / "target" / "a" / "b");
  // The next restore starts with MakeRoot: the walk is done afresh and refuses the link.
  BOOST_REQUIRE(local.MakeRoot(root).ok());
  auto w = local.CreateUnder(root, "a/b/g");
  BOOST_TEST(w.status().Is(Code::kPermission), w.status().ToString());
  BOOST_TEST(w.status().message().find("a/b") != std::string::npos);
  BOOST_TEST(fs::is_empty(t.path / "outside"));
  BOOST_TEST(!fs::exists(t.path / "target" / "a" / "old" / "g"));
}

BOOST_AUTO_TEST_CASE(more_directories_than_the_cache_holds) {
  TempDir t("skiff-posix-local-fs-test");
  const std::string root = (t.path / "target").string();
  PosixLocalFs local;
  BOOST_REQUIRE(local.MakeRoot(root).ok());
  const size_t n = PosixLocalFs::kDirCacheSize * 3;
  BOOST_REQUIRE(local.MkdirUnder(root, "top").ok());
  for (size_t round = 0; round < 2; ++round) {
    for (size_t i = 0; i < n; ++i) {
      std::string d = "top/d" + std::to_string(i);
      BOOST_REQUIRE(local.MkdirUnder(root, d).ok());
      BOOST_REQUIRE(local.MkdirUnder(root, d + "/e").ok());
      std::string rel = d + "/e/f" + std::to_string(round);
      Status st = WriteNew(local, root, rel, rel);
      BOOST_REQUIRE_MESSAGE(st.ok(), st.ToString());
    }
  }
  for (size_t i = 0; i < n; ++i) {
    for (size_t round = 0; round < 2; ++round) {
      std::string rel = "top/d" + std::to_string(i) + "/e/f" + std::to_string(round);
      BOOST_TEST(ReadFile(t.path / "target" / rel) == rel);
    }
  }
  // A file in the way of a new one is replaced; a directory in the way is not.
  BOOST_TEST(WriteNew(local, root, "top/d0/e/f0", "new").ok());
  BOOST_TEST(ReadFile(t.path / "target" / "top" / "d0" / "e" / "f0") == "new");
  BOOST_TEST(local.CreateUnder(root, "top/d0/e").status().Is(Code::kIsDirectory));
}

BOOST_AUTO_TEST_CASE(writer_sets_metadata_and_length_through_the_open_file) {
  TempDir t("skiff-posix-local-fs-test");
  const std::string root = (t.path / "target").string();
  PosixLocalFs local;
  BOOST_REQUIRE(local.MakeRoot(root).ok());
  auto w = local.CreateUnder(root, "sparse");
  BOOST_REQUIRE(w.ok());
  BOOST_REQUIRE((*w)->Write(0, "head").ok());
  BOOST_REQUIRE((*w)->Truncate(4).ok());        // already that long
  BOOST_REQUIRE((*w)->Truncate(1 << 20).ok());  // a trailing hole
  LocalMeta m;
  m.mode = 0640;
  m.mtime = 1234567890;
  BOOST_REQUIRE((*w)->SetMeta(m).ok());
  BOOST_REQUIRE((*w)->Close().ok());
  struct stat st;
  BOOST_REQUIRE(stat((t.path / "target" / "sparse").c_str(), &st) == 0);
  BOOST_TEST(st.st_size == 1 << 20);
  BOOST_TEST((st.st_mode & 07777) == 0640u);
  BOOST_TEST(st.st_mtim.tv_sec == 1234567890);
  BOOST_TEST(st.st_blocks * 512 < (1 << 20));  // the hole was not written
  BOOST_TEST(ReadFile(t.path / "target" / "sparse").substr(0, 5) == std::string("head\0", 5));
}

BOOST_AUTO_TEST_SUITE_END()
