// skiff serve on a temp dir: path confinement (ConfinedRoot), the policy table, and the
// real `skiff serve` program (SKIFF_BIN) driven through ServeRemoteFs over a pipe: the
// backup engine unchanged on top, and attacks through append-only, read-only and
// write-only endpoints that must be refused with the repository left as it was.
#define BOOST_TEST_MODULE serve_test
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "sync/backup_engine.h"
#include "sync/confined_root.h"
#include "sync/posix_local_fs.h"
#include "sync/repository.h"
#include "sync/serve_policy.h"
#include "tests/support/serve_pipe.h"
#include "tests/support/test_data.h"
#include "tests/support/tree_state.h"
#include "transport/process_channel.h"
#include "transport/serve_remote_fs.h"

namespace {

namespace fs = std::filesystem;
using namespace skiff;
using namespace skiff::sync;

using skiff::testing::RandomBytes;
using skiff::testing::ReadFile;
using skiff::testing::TreeState;  // type, mode, mtime, size, content / link target
using skiff::testing::WriteFile;
const auto StartServe = skiff::testing::SpawnServe;

struct TempDir : skiff::testing::TempDir {
  TempDir() : skiff::testing::TempDir("skiff-serve-test") {}
};

Result<BackupStats> Backup(RemoteFs& remote, const fs::path& src, const fs::path& cache,
                           int64_t now) {
  SKIFF_ASSIGN_OR_RETURN(auto repo, Repository::Open(remote, ".", true));
  PosixLocalFs local;
  BackupOptions o;
  o.sources = {src.string()};
  o.now = now;
  o.lock = {"testhost", 4242, now, 24 * 3600, [](int64_t) { return false; }};
  o.cache_dir = cache.string();
  return BackupEngine(repo, local, o).Run();
}

BOOST_AUTO_TEST_CASE(parse_path_refuses_escapes) {
  for (std::string bad : std::vector<std::string>{"/etc/passwd", "..", "../x", "a/../../b",
                                                  "snapshots/../..", std::string("a\0b", 3), "/"}) {
    auto p = ConfinedRoot::ParsePath(bad);
    BOOST_TEST(!p.ok(), bad);
    if (!p.ok()) BOOST_TEST(p.status().code() == Code::kPermission);
  }
  auto p = ConfinedRoot::ParsePath("./a//b/./c/");
  BOOST_REQUIRE(p.ok());
  BOOST_TEST(p->rel == "a/b/c");
  BOOST_TEST(p->parent_rel() == "a/b");
  BOOST_TEST(ConfinedRoot::ParsePath(".")->is_root());
  BOOST_TEST(ConfinedRoot::ParsePath("")->is_root());
}

BOOST_AUTO_TEST_CASE(symlinks_never_lead_out_of_the_root) {
  TempDir t;
  fs::create_directories(t.path / "root/inside");
  fs::create_directories(t.path / "outside");
  WriteFile(t.path / "outside/secret", "secret");
  WriteFile(t.path / "root/inside/file", "ok");
  fs::create_directory_symlink(t.path / "outside", t.path / "root/abs");
  fs::create_directory_symlink("../outside", t.path / "root/rel");
  fs::create_directory_symlink("inside", t.path / "root/good");
  auto root = ConfinedRoot::Open((t.path / "root").string());
  BOOST_REQUIRE(root.ok());
  for (std::string p : {"abs/secret", "rel/secret", "good/file"}) {
    // Intermediate symlinks are never followed, even those that stay inside.
    auto st = root->Lstat(*ConfinedRoot::ParsePath(p));
    BOOST_TEST(!st.ok(), p);
  }
  for (std::string p : {"abs", "rel", "abs/secret", "rel/secret"}) {
    auto st = root->Stat(*ConfinedRoot::ParsePath(p));
    BOOST_TEST(!st.ok(), p);
    if (!st.ok()) BOOST_TEST(st.status().code() == Code::kPermission, st.status().ToString());
  }
  BOOST_TEST(root->Stat(*ConfinedRoot::ParsePath("good")).ok());
  BOOST_TEST(root->Lstat(*ConfinedRoot::ParsePath("abs")).ok());  // the link itself
  BOOST_TEST(!ConfinedRoot::Open("relative/dir").ok());
}

BOOST_AUTO_TEST_CASE(policy_table) {
  auto P = [](const char* s) { return *ConfinedRoot::ParsePath(s); };
  ServePolicy ap(serve::Mode::kAppendOnly);
  struct stat one = {};
  one.st_mode = S_IFREG | 0644;
  one.st_nlink = 1;
  struct stat two = one;
  two.st_nlink = 2;
  BOOST_TEST(ap.CheckRemove(P("snapshots/.incomplete/x"), false).ok());
  BOOST_TEST(ap.CheckRemove(P(".skiff/tmp/x"), false).ok());
  BOOST_TEST(!ap.CheckRemove(P("snapshots/A/x"), false).ok());
  BOOST_TEST(!ap.CheckRemove(P(".skiff/manifests/A"), false).ok());
  BOOST_TEST(!ap.CheckRemove(P(".skiff/lock"), false).ok());
  ap.NoteLockCreated();
  BOOST_TEST(ap.CheckRemove(P(".skiff/lock"), false).ok());
  BOOST_TEST(ap.CheckRename(P("snapshots/.incomplete"), P("snapshots/B"), false).ok());
  BOOST_TEST(!ap.CheckRename(P("snapshots/.incomplete"), P("snapshots/B"), true).ok());
  BOOST_TEST(!ap.CheckRename(P("snapshots/A"), P("snapshots/.deleting-A"), false).ok());
  BOOST_TEST(!ap.CheckRename(P("snapshots/A"), P("snapshots/.incomplete"), false).ok());
  BOOST_TEST(ap.CheckRename(P(".skiff/tmp/m"), P(".skiff/manifests/B"), false).ok());
  BOOST_TEST(!ap.CheckRename(P(".skiff/tmp/m"), P(".skiff/manifests/B"), true).ok());
  BOOST_TEST(!ap.CheckRename(P(".skiff/manifests/A"), P(".skiff/tmp/m"), false).ok());
  BOOST_TEST(ap.CheckOpen(P("snapshots/.incomplete/f"), OpenFlags::kWrite, &one).ok());
  BOOST_TEST(!ap.CheckOpen(P("snapshots/.incomplete/f"), OpenFlags::kWrite, &two).ok());
  BOOST_TEST(!ap.CheckOpen(P("snapshots/A/f"), OpenFlags::kWrite, &one).ok());
  BOOST_TEST(ap.CheckOpen(P("snapshots/A/f"), OpenFlags::kRead, &two).ok());
  FileAttr chmod;
  chmod.valid = FileAttr::kPermissions;
  chmod.mode = 0777;
  BOOST_TEST(!ap.CheckSetStat(P("snapshots/A/f"), one, chmod).ok());
  BOOST_TEST(!ap.CheckSetStat(P("snapshots/.incomplete/f"), two, chmod).ok());
  BOOST_TEST(ap.CheckSetStat(P("snapshots/.incomplete/f"), one, chmod).ok());
  chmod.mode = 0644;  // no change: harmless anywhere
  BOOST_TEST(ap.CheckSetStat(P("snapshots/A/f"), one, chmod).ok());

  ServePolicy ro(serve::Mode::kReadOnly);
  BOOST_TEST(!ro.CheckMkdir(P("snapshots/.incomplete")).ok());
  BOOST_TEST(
      !ro.CheckOpen(P(".skiff/tmp/x"), OpenFlags::kWrite | OpenFlags::kCreate, nullptr).ok());
  BOOST_TEST(ro.CheckOpen(P("snapshots/A/f"), OpenFlags::kRead, &one).ok());
  ServePolicy wo(serve::Mode::kWriteOnly);
  BOOST_TEST(!wo.CheckReadData(P("snapshots/A/f")).ok());
  BOOST_TEST(wo.CheckReadData(P(".skiff/manifests/A")).ok());

  BOOST_TEST(ServePolicy::CheckOriginalCommand(nullptr).ok());
  BOOST_TEST(ServePolicy::CheckOriginalCommand("skiff serve").ok());
  for (const char* bad : {"bash", "sh -c 'rm -rf /'", "skiff serve; bash", "skiff serve --root /",
                          "/usr/lib/openssh/sftp-server", "rsync --server ."})
    BOOST_TEST(!ServePolicy::CheckOriginalCommand(bad).ok(), bad);
}

struct RepoFixture {
  TempDir t;
  fs::path repo, src, cache;
  int64_t now = time(nullptr) + 60;
  RepoFixture() {
    repo = t.path / "repo";
    src = t.path / "src";
    cache = t.path / "cache";
    fs::create_directories(repo);
    WriteFile(src / "a.txt", "alpha\n");
    WriteFile(src / "big.bin", RandomBytes(700 * 1024, 1));
    WriteFile(src / "sub/b.txt", "beta\n");
    fs::create_symlink("a.txt", src / "link");
  }
  BackupStats BackupThrough(const std::string& mode) {
    auto fs = StartServe(repo, mode);
    auto r = Backup(*fs, src, cache, now);
    now += 3600;
    BOOST_REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return *r;
  }
  std::vector<std::string> Snapshots() {
    std::vector<std::string> v;
    for (auto& e : fs::directory_iterator(repo / "snapshots"))
      if (e.path().filename().string()[0] != '.') v.push_back(e.path().filename());
    std::sort(v.begin(), v.end());
    return v;
  }
};

BOOST_FIXTURE_TEST_CASE(backup_engine_runs_unchanged_through_append_only_serve, RepoFixture) {
  BackupStats full = BackupThrough("--append-only");
  BOOST_TEST(full.new_files == 3u);
  // Day 2: insert bytes in the middle of the big file; the delta runs with copy-data on
  // the server.
  std::string big = ReadFile(src / "big.bin");
  big.insert(300 * 1024, "INSERTED");
  WriteFile(src / "big.bin", big);
  WriteFile(src / "sub/c.txt", "gamma\n");
  BackupStats inc = BackupThrough("--append-only");
  BOOST_TEST(inc.delta_files == 1u);
  BOOST_TEST(inc.bytes_sent < 64u * 1024);
  BOOST_TEST(inc.bytes_copied > 600u * 1024);
  auto snaps = Snapshots();
  BOOST_REQUIRE(snaps.size() == 2u);
  BOOST_TEST(ReadFile(repo / "snapshots" / snaps[1] / "src/big.bin") == big);
  BOOST_TEST(ReadFile(repo / "snapshots" / snaps[1] / "src/sub/c.txt") == "gamma\n");
  BOOST_TEST(!fs::exists(repo / ".skiff/lock"));
  struct stat a0, a1;
  stat((repo / "snapshots" / snaps[0] / "src/a.txt").c_str(), &a0);
  stat((repo / "snapshots" / snaps[1] / "src/a.txt").c_str(), &a1);
  BOOST_TEST(a0.st_ino == a1.st_ino);  // unchanged file hard-linked
  // A write-only key backs up too (delta included) without reading old contents.
  big.replace(100, 8, "REPLACED");
  WriteFile(src / "big.bin", big);
  fs::last_write_time(src / "big.bin",
                      fs::last_write_time(src / "big.bin") + std::chrono::seconds(10));
  BackupStats wo = BackupThrough("--write-only");
  BOOST_TEST(wo.delta_files == 1u);
  snaps = Snapshots();
  BOOST_REQUIRE(snaps.size() == 3u);
  BOOST_TEST(ReadFile(repo / "snapshots" / snaps[2] / "src/big.bin") == big);
}

BOOST_FIXTURE_TEST_CASE(append_only_refuses_every_attack, RepoFixture) {
  BackupThrough("");
  auto snaps = Snapshots();
  BOOST_REQUIRE(snaps.size() == 1u);
  const std::string s = "snapshots/" + snaps[0];
  WriteFile(t.path / "outside/secret", "secret");
  auto before = TreeState(repo);
  auto fs = StartServe(repo, "--append-only");
  BOOST_TEST((fs->mode() == serve::Mode::kAppendOnly));
  FileAttr chmod;
  chmod.valid = FileAttr::kPermissions;
  chmod.mode = 0777;
  FileAttr trunc;
  trunc.valid = FileAttr::kSize;
  trunc.size = 0;
  auto refused = [](const Status& st, const std::string& what) {
    BOOST_TEST(!st.ok(), what);
    BOOST_TEST_MESSAGE(what << ": " << st.ToString());
    BOOST_TEST((st.code() == Code::kPermission || st.code() == Code::kExists), what << ": " << st);
  };
  refused(fs->Remove(s + "/src/a.txt"), "delete a published file");
  refused(fs->Remove(".skiff/manifests/" + snaps[0]), "delete a manifest");
  refused(fs->Rmdir(s + "/src/sub"), "rmdir");
  refused(fs->Rename(s, "snapshots/.deleting-x", RenameMode::kNoReplace), "rename a snapshot");
  refused(fs->Rename(s + "/src/a.txt", s + "/src/z", RenameMode::kNoReplace), "rename a file");
  refused(fs->Open(s + "/src/a.txt", OpenFlags::kWrite).status(), "overwrite");
  refused(fs->Open(s + "/src/a.txt", OpenFlags::kWrite | OpenFlags::kTruncate).status(),
          "truncate");
  refused(fs->SetStat(s + "/src/a.txt", trunc), "truncate by setstat");
  refused(fs->SetStat(s + "/src/a.txt", chmod), "chmod");
  refused(fs->SetStat(s, chmod), "chmod a snapshot directory");
  refused(fs->Open(".skiff/manifests/" + snaps[0], OpenFlags::kWrite).status(),
          "overwrite a manifest");
  // Hard-link a published file into the scratch area, then try to change it there.
  BOOST_REQUIRE(fs->Mkdir("snapshots/.incomplete", 0755).ok());
  BOOST_REQUIRE(fs->Hardlink(s + "/src/a.txt", "snapshots/.incomplete/a").ok());
  refused(fs->Open("snapshots/.incomplete/a", OpenFlags::kWrite).status(), "write via hard link");
  refused(fs->SetStat("snapshots/.incomplete/a", chmod), "chmod via hard link");
  refused(fs->SetStat("snapshots/.incomplete/a", trunc), "truncate via hard link");
  // Replace a manifest from the scratch area.
  {
    auto f = fs->Open(".skiff/tmp/m",
                      OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kExclusive, 0644);
    BOOST_REQUIRE(f.ok());
    BOOST_REQUIRE((*f)->Write(0, "junk").ok());
    refused(fs->Rename(".skiff/tmp/m", ".skiff/manifests/" + snaps[0], RenameMode::kReplace),
            "replace a manifest");
    refused(fs->Rename(".skiff/tmp/m", ".skiff/manifests/" + snaps[0], RenameMode::kNoReplace),
            "rename over a manifest");
    // Publish a new (junk) manifest, then try to change it through the open handle.
    BOOST_REQUIRE(fs->Rename(".skiff/tmp/m", ".skiff/manifests/junk", RenameMode::kNoReplace).ok());
    refused((*f)->Write(0, "more"), "write after publishing");
  }
  // Symlink escapes, .. and absolute paths.
  BOOST_REQUIRE(fs->Symlink((t.path / "outside").string(), "snapshots/.incomplete/out").ok());
  refused(fs->Open("snapshots/.incomplete/out/secret", OpenFlags::kRead).status(),
          "read via symlink");
  refused(
      fs->Open("snapshots/.incomplete/out/new", OpenFlags::kWrite | OpenFlags::kCreate).status(),
      "write via symlink");
  refused(fs->Stat("snapshots/.incomplete/out").status(), "stat via symlink");
  refused(fs->Open("../outside/secret", OpenFlags::kRead).status(), "..");
  refused(fs->Open((t.path / "outside/secret").string(), OpenFlags::kRead).status(),
          "absolute path");
  refused(fs->Mkdir("snapshots/fake", 0755), "mkdir a fake snapshot");
  refused(fs->Remove(".skiff/lock"), "remove someone else's lock");
  // The repository is unchanged (apart from the scratch area and the junk manifest).
  fs.reset();
  fs::remove_all(repo / "snapshots/.incomplete");
  fs::remove(repo / ".skiff/manifests/junk");
  BOOST_TEST((TreeState(repo) == before));
  BOOST_TEST(ReadFile(t.path / "outside/secret") == "secret");
}

BOOST_FIXTURE_TEST_CASE(read_only_and_write_only, RepoFixture) {
  BackupThrough("");
  auto snaps = Snapshots();
  const std::string file = "snapshots/" + snaps[0] + "/src/a.txt";
  auto before = TreeState(repo);
  {
    auto ro = StartServe(repo, "--read-only");
    auto f = ro->Open(file, OpenFlags::kRead);
    BOOST_REQUIRE(f.ok());
    BOOST_TEST(*(*f)->Read(0, 100) == "alpha\n");
    BOOST_TEST(ro->ReadDir("snapshots").ok());
    BOOST_TEST(ro->Mkdir("x", 0755).code() == Code::kPermission);
    BOOST_TEST(ro->Remove(file).code() == Code::kPermission);
    BOOST_TEST(ro->Open(file, OpenFlags::kWrite).status().code() == Code::kPermission);
    BOOST_TEST(
        ro->Open(".skiff/lock", OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kExclusive)
            .status()
            .code() == Code::kPermission);
    // A backup through a read-only key fails cleanly and changes nothing.
    auto r = Backup(*ro, src, cache, now);
    BOOST_TEST(!r.ok());
  }
  {
    auto wo = StartServe(repo, "--write-only");
    auto f = wo->Open(file, OpenFlags::kRead);
    BOOST_REQUIRE(f.ok());
    BOOST_TEST((*f)->Read(0, 100).status().code() == Code::kPermission);
    BOOST_TEST(wo->Open(".skiff/manifests/" + snaps[0], OpenFlags::kRead).ok());
  }
  BOOST_TEST((TreeState(repo) == before));
}

BOOST_AUTO_TEST_CASE(hostile_frames_end_the_session_cleanly) {
  TempDir t;
  for (std::string junk :
       std::vector<std::string>{std::string("\xff\xff\xff\xff", 4), std::string("\0\0\0\1\1", 5),
                                std::string("\0\0\0\5\2\0\0\0\1", 9)}) {
    auto ch = ProcessChannel::Spawn({getenv("SKIFF_BIN"), "serve", "--root", t.path.string()});
    BOOST_REQUIRE(ch.ok());
    BOOST_REQUIRE((*ch)->Write(junk).ok());
    std::string buf;
    auto f = serve::ReadFrame(**ch, buf);
    BOOST_REQUIRE_MESSAGE(f.ok(), f.status().ToString());
    BOOST_TEST(f->type == static_cast<uint8_t>(serve::Op::kReply));
    auto reply = serve::DecodeReply(f->payload);
    BOOST_TEST(!reply.ok());
    BOOST_TEST_MESSAGE(reply.status().ToString());
    char c;
    auto n = (*ch)->Read(&c, 1);  // then EOF: the server exited
    BOOST_TEST((!n.ok() || *n == 0));
  }
}

}  // namespace
