// Pull backups through real OpenSSH: the machine being backed up holds a key whose
// authorized_keys line is the one `skiff authorize --read-only` prints
// (restrict,command="skiff serve --root SRC --read-only"), and `skiff backup
// skiff-restricted:SRC REPO` runs on the backup host into a local repository. Full pull,
// changes, incremental pull (content checked, unchanged files hard links, the big
// file rebuilt by a server-side delta), and attacks through that key: writes, paths
// outside the root, symlink escapes and shell commands, each refused with the source
// tree unchanged.
#define BOOST_TEST_MODULE pull_integration_test
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "sync/serve_source_protocol.h"
#include "tests/support/skiff_ssh_env.h"
#include "tests/support/sshd_fixture.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_data.h"
#include "tests/support/tree_state.h"
#include "transport/serve_remote_fs.h"

namespace {

namespace fs = std::filesystem;
using skiff::testing::RandomBytes;
using skiff::testing::ReadFile;
using skiff::testing::WriteFile;
// Type, mode, size, mtime (not of directories), content / link target of every entry.
std::map<std::string, std::string> TreeState(const fs::path& root) {
  return skiff::testing::TreeState(root, {.mode_mask = 0170777, .dir_size = false});
}
const auto Diff = skiff::testing::TreeDiff;
uint64_t Inode(const fs::path& p) {
  struct stat st;
  return lstat(p.c_str(), &st) == 0 ? st.st_ino : 0;
}

struct Env : skiff::testing::SkiffSshEnv {
  fs::path src, repo;
  Env() : SkiffSshEnv("skiff-pull-it") {
    src = tmp / "www";  // the tree on the "client", readable by skiff-restricted
    for (int d = 0; d < 5; ++d)
      for (int f = 0; f < 20; ++f)
        WriteFile(src / ("dir" + std::to_string(d)) / ("f" + std::to_string(f) + ".txt"),
                  "file " + std::to_string(d) + "/" + std::to_string(f) + "\n");
    WriteFile(src / "big.bin", RandomBytes(3 << 20, 1));
    WriteFile(src / "log.txt", std::string(500000, 'x'));
    fs::create_directories(src / "empty");
    fs::create_symlink("dir0/f0.txt", src / "link");
    fs::create_directories(tmp / "outside");
    WriteFile(tmp / "outside/secret", "secret");
    fs::create_symlink(tmp / "outside", src / "escape");
    fs::permissions(tmp / "outside", fs::perms::owner_all | fs::perms::group_read |
                                         fs::perms::group_exec | fs::perms::others_read |
                                         fs::perms::others_exec);
    // An old mtime everywhere, so nothing counts as modified during the previous run.
    for (auto it = fs::recursive_directory_iterator(src); it != fs::recursive_directory_iterator();
         ++it) {
      struct timespec ts[2] = {{time(nullptr) - 3600, 0}, {time(nullptr) - 3600, 0}};
      utimensat(AT_FDCWD, it->path().c_str(), ts, AT_SYMLINK_NOFOLLOW);
    }
    repo = tmp / "backups";  // local to the backup host
    // Change detection distrusts files changed in the second a snapshot starts (their
    // ctime just moved): let that second pass.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  }

  // A key whose authorized_keys line is what `skiff authorize` prints for `mode`.
  std::string Key(const std::string& mode) {
    std::string line;
    std::string key = AuthorizeKey(src, mode, &line);
    BOOST_TEST(line.find(" serve --root '" + src.string() + "' --read-only\"") != std::string::npos,
               line);
    return key;
  }
  std::vector<std::string> Snapshots() { return skiff::testing::LocalSnapshotNames(repo); }
  std::unique_ptr<skiff::ServeRemoteFs> Connect(const std::string& key) {
    return ConnectServe(key);
  }
};

BOOST_AUTO_TEST_CASE(pull_full_then_incremental_through_read_only_key) {
  Env env;
  std::string key = env.Key("--read-only");
  const std::string source = "skiff-restricted:" + env.src.string();
  auto r = env.Skiff({"backup", source, env.repo.string(), "--json"}, key);
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(r.out.find("\"files\":102") != std::string::npos, r.out);
  auto snaps = env.Snapshots();
  BOOST_REQUIRE(snaps.size() == 1u);
  const fs::path first = env.repo / "snapshots" / snaps[0] / "www";
  auto want = TreeState(env.src);
  BOOST_TEST(Diff(want, TreeState(first)) == "");

  // Day 2: an insertion in the big file, a rewritten and a new small file, an append.
  std::string big = ReadFile(env.src / "big.bin");
  big.insert(1 << 20, "INSERTED IN THE MIDDLE");
  WriteFile(env.src / "big.bin", big);
  WriteFile(env.src / "dir1/f3.txt", "rewritten\n");
  WriteFile(env.src / "dir4/new.txt", "new\n");
  std::ofstream(env.src / "log.txt", std::ios::app) << std::string(1000, 'y');
  r = env.Skiff({"backup", source, env.repo.string(), "--json"}, key);
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(r.out.find("\"delta_files\":2") != std::string::npos, r.out);  // big.bin, log.txt
  BOOST_TEST(r.out.find("\"new_files\":1") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("\"unchanged_files\":99") != std::string::npos, r.out);
  snaps = env.Snapshots();
  BOOST_REQUIRE(snaps.size() == 2u);
  const fs::path second = env.repo / "snapshots" / snaps[1] / "www";
  BOOST_TEST(Diff(TreeState(env.src), TreeState(second)) == "");
  BOOST_TEST(ReadFile(second / "big.bin") == big);
  // Unchanged files are hard links to the previous snapshot's; changed ones are not.
  BOOST_TEST(Inode(second / "dir0/f0.txt") == Inode(first / "dir0/f0.txt"));
  BOOST_TEST(Inode(second / "dir3/f19.txt") == Inode(first / "dir3/f19.txt"));
  BOOST_TEST(Inode(second / "big.bin") != Inode(first / "big.bin"));
  BOOST_TEST(Inode(second / "dir1/f3.txt") != Inode(first / "dir1/f3.txt"));
  // The symlink that points out of the root is backed up as a link, never followed.
  BOOST_TEST(fs::is_symlink(second / "escape"));
  BOOST_TEST(fs::read_symlink(second / "escape") == env.tmp / "outside");
  auto check = env.Run({env.bin.string(), "check", env.repo.string(), "--read-data"});
  BOOST_TEST(check.exit_code == 0, check.out << check.err);

  // `host:` alone is the key's root; a relative path is relative to it.
  r = env.Skiff({"backup", "skiff-restricted:", env.repo.string()}, key);
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  snaps = env.Snapshots();
  BOOST_REQUIRE(snaps.size() == 3u);
  BOOST_TEST(Diff(TreeState(env.src), TreeState(env.repo / "snapshots" / snaps[2] / "www")) == "");
  r = env.Skiff({"backup", "skiff-restricted:dir2", env.repo.string() + "-dir2"}, key);
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
}

BOOST_AUTO_TEST_CASE(read_only_key_refuses_writes_and_escapes) {
  Env env;
  std::string key = env.Key("--read-only");
  auto before = TreeState(env.src);
  auto refused = [](const skiff::Status& st, const std::string& what) {
    BOOST_TEST(!st.ok(), what);
    BOOST_TEST(st.code() == skiff::Code::kPermission, what << ": " << st.ToString());
  };
  {
    auto fs = env.Connect(key);
    BOOST_TEST((fs->mode() == skiff::serve::Mode::kReadOnly));
    using skiff::OpenFlags;
    refused(fs->Open("big.bin", OpenFlags::kWrite).status(), "open for writing");
    refused(fs->Open("big.bin", OpenFlags::kWrite | OpenFlags::kTruncate).status(), "truncate");
    refused(fs->Open("new", OpenFlags::kWrite | OpenFlags::kCreate).status(), "create");
    refused(fs->Remove("log.txt"), "delete");
    refused(fs->Rmdir("empty"), "rmdir");
    refused(fs->Rename("log.txt", "moved", skiff::RenameMode::kReplace), "rename");
    refused(fs->Mkdir("newdir", 0755), "mkdir");
    refused(fs->Symlink("/etc/passwd", "l"), "symlink");
    refused(fs->Hardlink("log.txt", "h"), "hardlink");
    skiff::FileAttr a;
    a.valid = skiff::FileAttr::kPermissions;
    a.mode = 0777;
    refused(fs->SetStat("log.txt", a), "chmod");
    a.valid = skiff::FileAttr::kSize;
    a.size = 0;
    refused(fs->SetStat("log.txt", a), "truncate by setstat");
    // Paths outside the root, through the plain and the pull requests.
    for (std::string bad : {"../outside/secret", "/etc/passwd", "escape/secret", "a/../../x"}) {
      BOOST_TEST(!fs->Open(bad, OpenFlags::kRead).ok(), bad);
      BOOST_TEST(!fs->Stat(bad).ok(), bad);
      auto l =
          fs->Call(skiff::serve::Op::kSourceLstat, skiff::serve::PayloadWriter().Str(bad).Take());
      BOOST_TEST(l.status().code() == skiff::Code::kPermission,
                 bad << ": " << l.status().ToString());
      auto d = fs->Call(skiff::serve::Op::kSourceList,
                        skiff::serve::PayloadWriter().Str(bad).U32(0).Take());
      BOOST_TEST(!d.ok(), bad);
      auto m = fs->Call(skiff::serve::Op::kSourceDeltaOpen,
                        skiff::serve::PayloadWriter().Str(bad).U32(0).U64(64).Take());
      BOOST_TEST(!m.ok(), bad);
    }
    BOOST_TEST(!fs->ReadDir("escape").ok());
  }
  // Pulling a path outside the root: a clear error, nothing written.
  auto r = env.Skiff({"backup", "skiff-restricted:/etc", env.repo.string()}, key);
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("outside") != std::string::npos, r.err);
  // Pushing into the read-only key: refused.
  r = env.Skiff({"backup", (env.tmp / "outside").string(), "skiff-restricted:"}, key);
  BOOST_TEST(r.exit_code != 0);
  // A shell or another command through the key: refused, nothing runs.
  for (std::string cmd : {"sh -c 'touch /tmp/pwned-by-pull-test'", "rsync --server --sender . /"}) {
    auto x = env.Run({"ssh", "-F", env.sshd.ssh_config_path(), "-i", key, "skiff-restricted", cmd});
    BOOST_TEST(x.exit_code == 126, cmd << " -> " << x.exit_code);
  }
  BOOST_TEST(!fs::exists("/tmp/pwned-by-pull-test"));
  BOOST_TEST(Diff(before, TreeState(env.src)) == "");
  BOOST_TEST(ReadFile(env.tmp / "outside/secret") == "secret");
}

BOOST_AUTO_TEST_CASE(pull_from_a_key_that_is_not_serve_fails_clearly) {
  Env env;
  // skiff-restricted's default key is forced to sftp-server.
  auto r = env.Skiff({"backup", "skiff-restricted:" + env.src.string(), env.repo.string()},
                     env.sshd.restricted_key_path());
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("not a skiff serve endpoint") != std::string::npos, r.err);
  BOOST_TEST(r.err.find("--read-only") != std::string::npos, r.err);
  BOOST_TEST(!fs::exists(env.repo / "snapshots"));
  // Mixing local and remote sources, or pulling into a remote REPO: usage errors.
  r = env.Skiff({"backup", "skiff-restricted:x", env.src.string(), env.repo.string()}, "");
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(r.err.find("one host") != std::string::npos, r.err);
  r = env.Skiff({"backup", "skiff-restricted:x", "skiff-plain:repo"}, "");
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(r.err.find("local REPO") != std::string::npos, r.err);
}

}  // namespace
