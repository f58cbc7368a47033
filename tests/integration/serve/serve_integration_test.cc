// `skiff serve` behind real OpenSSH forced-command keys whose authorized_keys lines are
// the ones `skiff authorize` prints: push backups through an append-only key (full,
// incremental, killed and resumed), automatic fallback to SFTP on the SFTP-only account,
// and a table of attacks through append-only and read-only keys, each refused with the
// repository unchanged (checked by `skiff check` and by comparing the tree).
#define BOOST_TEST_MODULE serve_integration_test
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <thread>

#include "sync/content_hash.h"
#include "tests/support/fault_proxy.h"
#include "tests/support/skiff_ssh_env.h"
#include "tests/support/sshd_fixture.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_data.h"
#include "tests/support/tree_state.h"
#include "transport/serve_remote_fs.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using skiff::testing::RandomBytes;
using skiff::testing::ReadFile;
using skiff::testing::WriteFile;
// Mode, mtime (not of directories), size, link count and content of every entry.
std::map<std::string, std::string> TreeState(const fs::path& root) {
  return skiff::testing::TreeState(root, {.nlink = true, .link_targets = false});
}
// "" when equal, else the entries that differ.
const auto Diff = skiff::testing::TreeDiff;

struct Env : skiff::testing::SkiffSshEnv {
  fs::path src, repo;
  Env() : SkiffSshEnv("skiff-serve-it") {
    src = tmp / "src";
    WriteFile(src / "docs/a.txt", "alpha\n");
    WriteFile(src / "docs/b.txt", "beta\n");
    WriteFile(src / "big.bin", RandomBytes(2 << 20, 1));
    fs::create_directories(src / "empty");
    fs::create_symlink("docs/a.txt", src / "link");
    repo = tmp / "repo dir";  // a space, to exercise authorize's quoting
    fs::create_directories(repo);
    struct passwd* pw = getpwnam("skiff-restricted");
    BOOST_REQUIRE(pw);
    BOOST_REQUIRE(chown(repo.c_str(), pw->pw_uid, pw->pw_gid) == 0);
  }

  // A key for skiff-restricted with the line `skiff authorize` prints for `mode`.
  std::string Key(const std::string& mode) { return AuthorizeKey(repo, mode); }
  skiff::testing::ProcessResult Skiff(std::vector<std::string> args, const std::string& key) {
    return SkiffSshEnv::Skiff(std::move(args), key, {"SKIFF_TRANSPORT=serve"});
  }
  std::vector<std::string> Snapshots() { return skiff::testing::LocalSnapshotNames(repo); }
  int CheckLocally() {
    auto r = Run({bin.string(), "check", repo.string(), "--read-data"});
    return r.exit_code;
  }
  std::unique_ptr<skiff::ServeRemoteFs> Connect(const std::string& key) {
    return ConnectServe(key);
  }
};

BOOST_AUTO_TEST_CASE(push_through_append_only_key_full_incremental_restore) {
  Env env;
  std::string key = env.Key("--append-only");
  auto r = env.Skiff({"backup", env.src.string(), "skiff-restricted:", "--json"}, key);
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(env.Snapshots().size() == 1u);
  std::string big = ReadFile(env.src / "big.bin");
  big.insert(1 << 20, "INSERTED IN THE MIDDLE");
  WriteFile(env.src / "big.bin", big);
  WriteFile(env.src / "docs/c.txt", "gamma\n");
  r = env.Skiff({"backup", env.src.string(), "skiff-restricted:", "--json"}, key);
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(r.out.find("\"delta_files\":1") != std::string::npos, r.out);
  auto snaps = env.Snapshots();
  BOOST_REQUIRE(snaps.size() == 2u);
  BOOST_TEST(ReadFile(env.repo / "snapshots" / snaps[1] / "src/big.bin") == big);
  BOOST_TEST(env.CheckLocally() == 0);
  // Restore through the same key (reads are allowed).
  r = env.Skiff({"restore", "skiff-restricted:", (env.tmp / "restored").string()}, key);
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(ReadFile(env.tmp / "restored/src/big.bin") == big);
  // Prune is refused through the key, and changes nothing.
  auto before = TreeState(env.repo);
  r = env.Skiff({"prune", "skiff-restricted:", "--keep-last", "1"}, key);
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(r.err.find("append-only") != std::string::npos, r.err);
  BOOST_TEST(Diff(before, TreeState(env.repo)) == "");
  BOOST_TEST(env.Snapshots().size() == 2u);
}

BOOST_AUTO_TEST_CASE(sftp_only_account_falls_back_to_sftp) {
  Env env;
  auto r = env.Run({env.bin.string(), "backup", env.src.string(), "skiff-sftp:/data/repo", "-F",
                    env.sshd.ssh_config_path()});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(fs::exists(fs::path(env.sshd.sftp_local_dir()) / "repo/.skiff/format"));
}

BOOST_AUTO_TEST_CASE(killed_backup_through_serve_is_resumed) {
  Env env;
  std::string key = env.Key("--append-only");
  for (int i = 0; i < 40; ++i)
    WriteFile(env.src / "many" / ("f" + std::to_string(i)), RandomBytes(100 * 1024, 100 + i));
  skiff::testing::FaultProxy proxy(env.sshd.port());
  proxy.SetRateLimit(1 << 20);
  BOOST_REQUIRE(env.sshd.TrustPort(proxy.port()).ok());
  std::vector<std::string> argv{env.bin.string(),
                                "backup",
                                env.src.string(),
                                "skiff-restricted:",
                                "-q",
                                "-F",
                                env.sshd.ssh_config_path(),
                                "-i",
                                key,
                                "-p",
                                std::to_string(proxy.port())};
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid;
  BOOST_REQUIRE(posix_spawn(&pid, cargv[0], nullptr, nullptr, cargv.data(), environ) == 0);
  fs::path inc = env.repo / "snapshots/.incomplete/src/many";
  bool exited = false;
  for (int i = 0; i < 6000; ++i) {
    std::error_code ec;
    size_t n = 0;
    for (auto it = fs::directory_iterator(inc, ec); !ec && it != fs::directory_iterator(); ++it)
      ++n;
    if (n >= 5) break;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  BOOST_REQUIRE_MESSAGE(!exited, "backup finished before it could be interrupted");
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  BOOST_TEST(env.Snapshots().empty());
  // The server side notices the dropped connection and ends; its lock is then stale.
  for (int i = 0; i < 500 && fs::exists(env.repo / ".skiff/lock"); ++i) {
    auto r = env.Skiff({"backup", env.src.string(), "skiff-restricted:", "--json"}, key);
    if (r.exit_code <= 1) {
      BOOST_TEST(r.out.find("\"resumed\":true") != std::string::npos, r.out);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  BOOST_TEST(env.Snapshots().size() == 1u);
  BOOST_TEST(!fs::exists(env.repo / "snapshots/.incomplete"));
  BOOST_TEST(env.CheckLocally() == 0);
}

BOOST_AUTO_TEST_CASE(attacks_through_append_only_and_read_only_keys) {
  Env env;
  std::string ap = env.Key("--append-only");
  std::string ro = env.Key("--read-only");
  auto r = env.Skiff({"backup", env.src.string(), "skiff-restricted:"}, ap);
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  const std::string s = "snapshots/" + env.Snapshots().at(0);
  const std::string manifest = ".skiff/manifests/" + env.Snapshots().at(0);
  WriteFile(env.tmp / "outside/secret", "secret");
  auto before = TreeState(env.repo);

  using skiff::Code;
  using skiff::FileAttr;
  using skiff::OpenFlags;
  using skiff::RenameMode;
  FileAttr chmod_attr;
  chmod_attr.valid = FileAttr::kPermissions;
  chmod_attr.mode = 0777;
  FileAttr trunc;
  trunc.valid = FileAttr::kSize;
  for (const std::string& key : {ap, ro}) {
    auto fs = env.Connect(key);
    std::string mode(skiff::serve::ModeName(fs->mode()));
    auto refused = [&](const skiff::Status& st, const std::string& what) {
      BOOST_TEST(!st.ok(), mode << ": " << what);
      BOOST_TEST_MESSAGE(mode << ": " << what << ": " << st.ToString());
      BOOST_TEST(st.code() == Code::kPermission, mode << ": " << what << ": " << st);
    };
    refused(fs->Remove(s + "/src/docs/a.txt"), "delete");
    refused(fs->Remove(manifest), "delete a manifest");
    refused(fs->Open(s + "/src/docs/a.txt", OpenFlags::kWrite).status(), "overwrite");
    refused(fs->Open(manifest, OpenFlags::kWrite | OpenFlags::kTruncate).status(), "truncate");
    refused(fs->SetStat(s + "/src/docs/a.txt", trunc), "truncate by setstat");
    refused(fs->SetStat(s + "/src/docs/a.txt", chmod_attr), "chmod");
    refused(fs->Rename(s, "snapshots/.deleting-x", RenameMode::kNoReplace), "rename");
    refused(fs->Rename(s + "/src/docs/a.txt", s + "/src/docs/b.txt", RenameMode::kReplace),
            "rename over");
    refused(fs->Hardlink(s + "/src/docs/a.txt", s + "/src/docs/z"), "hard link into a snapshot");
    refused(fs->Open("../outside/secret", OpenFlags::kRead).status(), "..");
    refused(fs->Open((env.tmp / "outside/secret").string(), OpenFlags::kRead).status(), "absolute");
    refused(fs->Symlink((env.tmp / "outside").string(), s + "/src/out"), "symlink into a snapshot");
    // The server-side delta requests (protocol 2): hard links above went as a link batch.
    BOOST_REQUIRE(fs->server_build());
    auto build = [&](const std::string& base, const std::string& tmp, const std::string& dst,
                     bool replace) -> skiff::Status {
      skiff::BuildSpec spec;
      spec.base = base;
      spec.tmp = tmp;
      spec.dst = dst;
      spec.replace = replace;
      auto b = fs->BeginBuild(spec);
      SKIFF_RETURN_IF_ERROR(b->Literal("evil"));
      FileAttr a;
      a.valid = FileAttr::kPermissions;
      a.mode = 0644;
      return b->Commit(4, skiff::sync::ContentHash("evil"), a, "").status();
    };
    refused(build("", ".skiff/tmp/x", s + "/src/docs/a.txt", true), "build over a published file");
    refused(build("", ".skiff/tmp/x", s + "/src/docs/new", false), "build into a snapshot");
    refused(build("", ".skiff/tmp/x", manifest, true), "build over a manifest");
    refused(build("", ".skiff/tmp/x", ".skiff/manifests/fake", false), "publish by a build");
    refused(build("../outside/secret", ".skiff/tmp/x", "snapshots/.incomplete/x", false),
            "build from a base outside");
    refused(build("", "../outside/x", "snapshots/.incomplete/x", false), "build outside");
    refused(fs->BaseSignature("../outside/secret", "", 0).status(), "signature of a file outside");
    refused(fs->BaseSignature((env.tmp / "outside/secret").string(), "", 0).status(),
            "signature of an absolute path");
    if (fs->mode() == skiff::serve::Mode::kAppendOnly) {
      BOOST_REQUIRE(fs->Mkdir("snapshots/.incomplete", 0755).ok());
      BOOST_REQUIRE(fs->Symlink((env.tmp / "outside").string(), "snapshots/.incomplete/out").ok());
      refused(fs->Open("snapshots/.incomplete/out/secret", OpenFlags::kRead).status(),
              "read through a symlink escape");
      refused(
          fs->Open("snapshots/.incomplete/out/x", OpenFlags::kWrite | OpenFlags::kCreate).status(),
          "write through a symlink escape");
      BOOST_REQUIRE(fs->Hardlink(s + "/src/docs/a.txt", "snapshots/.incomplete/a").ok());
      refused(fs->Open("snapshots/.incomplete/a", OpenFlags::kWrite).status(),
              "write a published file through a hard link");
      BOOST_REQUIRE(fs->Remove("snapshots/.incomplete/a").ok());
      BOOST_REQUIRE(fs->Remove("snapshots/.incomplete/out").ok());
      BOOST_REQUIRE(fs->Rmdir("snapshots/.incomplete").ok());
    } else {
      refused(fs->Mkdir("snapshots/.incomplete", 0755), "mkdir");
    }
  }
  // A shell, or any other command, asked for through the key: refused, nothing runs.
  for (const std::string& key : {ap, ro}) {
    for (std::string cmd : {"sh -c 'touch /tmp/pwned-by-serve-test'", "bash", "rm -rf ."}) {
      auto x =
          env.Run({"ssh", "-F", env.sshd.ssh_config_path(), "-i", key, "skiff-restricted", cmd});
      BOOST_TEST(x.exit_code == 126, cmd << " -> " << x.exit_code);
      BOOST_TEST(x.err.find("refusing to run") != std::string::npos, x.err);
    }
  }
  BOOST_TEST(!fs::exists("/tmp/pwned-by-serve-test"));
  BOOST_TEST(Diff(before, TreeState(env.repo)) == "");
  BOOST_TEST(env.CheckLocally() == 0);
  BOOST_TEST(ReadFile(env.tmp / "outside/secret") == "secret");
  // A backup through the read-only key fails and changes nothing.
  r = env.Skiff({"backup", env.src.string(), "skiff-restricted:"}, ro);
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(Diff(before, TreeState(env.repo)) == "");
}

}  // namespace
