#include <sys/stat.h>

#include <boost/test/unit_test.hpp>

#include "transport/mem_remote_fs.h"

using namespace skiff;

BOOST_AUTO_TEST_SUITE(mem_remote_fs)

BOOST_AUTO_TEST_CASE(files_links_and_renames_behave_like_posix) {
  MemRemoteFs fs;
  BOOST_REQUIRE(fs.Mkdir("/d", 0755).ok());
  auto f = fs.Open("/d/a", OpenFlags::kWrite | OpenFlags::kCreate, 0600);
  BOOST_REQUIRE(f.ok());
  BOOST_REQUIRE((*f)->Write(0, "hello").ok());
  BOOST_REQUIRE((*f)->Close().ok());
  BOOST_REQUIRE(fs.Hardlink("/d/a", "/d/b").ok());
  BOOST_REQUIRE(fs.Symlink("a", "/d/s").ok());
  auto st = fs.Stat("/d/s");
  BOOST_REQUIRE(st.ok());
  BOOST_TEST(st->size == 5u);
  BOOST_TEST(S_ISREG(st->mode));
  BOOST_TEST(fs.Lstat("/d/s")->IsSymlink());
  BOOST_TEST(fs.Rename("/d/b", "/d/a", RenameMode::kNoReplace).code() == Code::kExists);
  BOOST_TEST(fs.Rmdir("/d").code() == Code::kNotEmpty);
  BOOST_TEST(fs.ReadDir("/d")->size() == 3u);
  auto g = fs.Open("/d/b", OpenFlags::kRead);
  BOOST_REQUIRE(g.ok());
  BOOST_TEST((*g)->Read(1, 100).value() == "ello");
  BOOST_TEST((*g)->Read(9, 100).value().empty());
  BOOST_TEST(fs.Open("/nope/x", OpenFlags::kRead).status().code() == Code::kNotFound);
}

BOOST_AUTO_TEST_CASE(switched_off_extensions_report_unsupported) {
  MemRemoteFs fs;
  Capabilities c;
  fs.set_caps(c);
  BOOST_REQUIRE(fs.Open("/a", OpenFlags::kWrite | OpenFlags::kCreate).ok());
  BOOST_TEST(fs.Hardlink("/a", "/b").code() == Code::kUnsupported);
  BOOST_TEST(fs.StatVfs("/").status().code() == Code::kUnsupported);
}

BOOST_AUTO_TEST_SUITE_END()
