// LocalRemoteFs on a temporary directory: the RemoteFs semantics the engines rely on
// (errors as Status with the path, Rename modes, Hardlink, CopyData, SetStat, ReadDir).
#define BOOST_TEST_MODULE sync_local_remote_fs_test
#include "sync/local_remote_fs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "sync/repo_connect.h"

using namespace skiff;
using namespace skiff::sync;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/skiff-localfs-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

void Put(LocalRemoteFs& fs, const std::string& p, const std::string& data) {
  auto f = fs.Open(p, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kTruncate);
  BOOST_REQUIRE(f.ok());
  BOOST_REQUIRE(f.value()->Write(0, data).ok());
  BOOST_REQUIRE(f.value()->Close().ok());
}

std::string Get(LocalRemoteFs& fs, const std::string& p) {
  auto f = fs.Open(p, OpenFlags::kRead);
  BOOST_REQUIRE(f.ok());
  std::string out;
  for (;;) {
    auto r = f.value()->Read(out.size(), fs.caps().max_read);
    BOOST_REQUIRE(r.ok());
    if (r.value().empty()) break;
    out += r.value();
  }
  return out;
}

// Child processes of this process, from every thread's /proc/self/task/*/children.
size_t Children() {
  size_t n = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "children");
    std::string pid;
    while (in >> pid) ++n;
  }
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(local_remote_fs)

BOOST_AUTO_TEST_CASE(a_local_repository_argument_is_served_by_system_calls_not_an_sftp_server) {
  // Every command taking a local REPO or DEST (backup, restore, zfs send/list/restore/
  // prune, ...) connects through ConnectRepository: it must give LocalRemoteFs's direct
  // system calls, not an sftp-server child that copies every byte through a pipe.
  // SKIFF_LOCAL_REPO=sftp keeps the child (shows that the probe does see one).
  TempDir t;
  unsetenv("SKIFF_SFTP_SERVER");
  unsetenv("SKIFF_LOCAL_REPO");
  const size_t before = Children();
  {
    auto c = ConnectRepository(t.path + "/repo/", SshOptions{});
    BOOST_REQUIRE(c.ok());
    BOOST_CHECK_EQUAL(Children(), before);
    BOOST_CHECK_EQUAL(c->root, t.path + "/repo");
    BOOST_CHECK_EQUAL(c->id, "local:" + t.path + "/repo");
    BOOST_CHECK(c->fs->caps().copy_data);
    BOOST_REQUIRE(c->fs->Mkdir(c->root).ok());
    BOOST_CHECK(std::filesystem::is_directory(t.path + "/repo"));
    BOOST_CHECK_EQUAL(FileSessions(*c->fs, 4).size(), 1u);  // one fs serves every thread
    BOOST_CHECK_EQUAL(Children(), before);
  }
  setenv("SKIFF_LOCAL_REPO", "sftp", 1);
  {
    auto c = ConnectRepository(t.path + "/repo", SshOptions{});
    unsetenv("SKIFF_LOCAL_REPO");
    BOOST_REQUIRE(c.ok());
    BOOST_CHECK_EQUAL(Children(), before + 1);
    BOOST_CHECK(c->fs->Stat(t.path + "/repo").ok());
  }
}

BOOST_AUTO_TEST_CASE(errors_carry_code_and_path) {
  TempDir t;
  LocalRemoteFs fs;
  auto st = fs.Stat(t.path + "/missing");
  BOOST_CHECK(st.status().Is(Code::kNotFound));
  BOOST_CHECK(st.status().message().find(t.path + "/missing") != std::string::npos);
  BOOST_REQUIRE(fs.Mkdir(t.path + "/d").ok());
  BOOST_CHECK(fs.Mkdir(t.path + "/d").Is(Code::kExists));
  Put(fs, t.path + "/d/f", "x");
  BOOST_CHECK(fs.Rmdir(t.path + "/d").Is(Code::kNotEmpty));
  BOOST_CHECK(
      fs.Open(t.path + "/d/f", OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kExclusive)
          .status()
          .Is(Code::kExists));
}

BOOST_AUTO_TEST_CASE(rename_modes_and_hardlink) {
  TempDir t;
  LocalRemoteFs fs;
  Put(fs, t.path + "/a", "A");
  Put(fs, t.path + "/b", "B");
  BOOST_CHECK(fs.Rename(t.path + "/a", t.path + "/b", RenameMode::kNoReplace).Is(Code::kExists));
  BOOST_CHECK_EQUAL(Get(fs, t.path + "/b"), "B");
  BOOST_REQUIRE(fs.Rename(t.path + "/a", t.path + "/b", RenameMode::kReplace).ok());
  BOOST_CHECK_EQUAL(Get(fs, t.path + "/b"), "A");
  BOOST_CHECK(fs.Lstat(t.path + "/a").status().Is(Code::kNotFound));
  BOOST_REQUIRE(fs.Hardlink(t.path + "/b", t.path + "/c").ok());
  struct stat s1, s2;
  BOOST_REQUIRE(stat((t.path + "/b").c_str(), &s1) == 0 && stat((t.path + "/c").c_str(), &s2) == 0);
  BOOST_CHECK_EQUAL(s1.st_ino, s2.st_ino);
  BOOST_CHECK(fs.Hardlink(t.path + "/b", t.path + "/c").Is(Code::kExists));
  BOOST_REQUIRE(fs.Symlink("b", t.path + "/l").ok());
  BOOST_CHECK_EQUAL(fs.Readlink(t.path + "/l").value(), "b");
  BOOST_CHECK(fs.Lstat(t.path + "/l").value().IsSymlink());
  BOOST_CHECK(fs.Stat(t.path + "/l").value().IsRegular());
  auto list = fs.ReadDir(t.path);
  BOOST_REQUIRE(list.ok());
  std::vector<std::string> names;
  for (auto& e : list.value()) names.push_back(e.name);
  std::sort(names.begin(), names.end());
  BOOST_CHECK((names == std::vector<std::string>{"b", "c", "l"}));
}

BOOST_AUTO_TEST_CASE(copy_data_and_set_stat) {
  TempDir t;
  LocalRemoteFs fs;
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
  Put(fs, t.path + "/src", big);
  auto src = fs.Open(t.path + "/src", OpenFlags::kRead);
  auto dst = fs.Open(t.path + "/dst", OpenFlags::kWrite | OpenFlags::kCreate);
  BOOST_REQUIRE(src.ok() && dst.ok());
  BOOST_REQUIRE(dst.value()->Write(0, "head").ok());
  // A middle range at another offset, then the rest to EOF (len 0).
  BOOST_REQUIRE(fs.CopyData(*src.value(), 1000, 500000, *dst.value(), 4).ok());
  BOOST_REQUIRE(fs.CopyData(*src.value(), 2 << 20, 0, *dst.value(), 500004).ok());
  FileAttr a;
  a.valid = FileAttr::kPermissions | FileAttr::kTimes;
  a.mode = 0640;
  a.atime = 1000000000;
  a.mtime = 1234567890;
  BOOST_REQUIRE(dst.value()->SetStat(a).ok());
  BOOST_REQUIRE(dst.value()->Close().ok());
  BOOST_CHECK(dst.value()->Close().Is(Code::kStale));
  const std::string want = "head" + big.substr(1000, 500000) + big.substr(2 << 20);
  BOOST_CHECK(Get(fs, t.path + "/dst") == want);
  auto st = fs.Stat(t.path + "/dst");
  BOOST_REQUIRE(st.ok());
  BOOST_CHECK_EQUAL(st.value().mode & 07777, 0640u);
  BOOST_CHECK_EQUAL(st.value().mtime, 1234567890);
  BOOST_CHECK_EQUAL(st.value().size, want.size());
  FileAttr trunc;
  trunc.valid = FileAttr::kSize;
  trunc.size = 10;
  BOOST_REQUIRE(fs.SetStat(t.path + "/dst", trunc).ok());
  BOOST_CHECK_EQUAL(Get(fs, t.path + "/dst"), want.substr(0, 10));
  BOOST_CHECK_EQUAL(fs.RealPath(t.path + "/./dst").value(),
                    std::filesystem::canonical(t.path).string() + "/dst");
}

BOOST_AUTO_TEST_SUITE_END()
