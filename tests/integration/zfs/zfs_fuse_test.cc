// `skiff zfs send/list/restore/prune` end to end on real zfs-fuse pools, streams
// stored through the chrooted SFTP-only account of the private sshd (or in a local
// directory).
#define BOOST_TEST_MODULE zfs_fuse_test
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "tests/support/sshd_fixture.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_data.h"

namespace fs = std::filesystem;
using skiff::testing::ProcessResult;
using skiff::testing::RandomBytes;
using skiff::testing::ReadFile;
using skiff::testing::RunProcess;
using skiff::testing::SshdFixture;
using skiff::testing::WriteFile;

namespace {

constexpr char kZfsFuse[] = "/usr/sbin/zfs-fuse";
constexpr char kSocket[] = "/var/run/zfs/zfs_socket";

bool SocketLive() {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, kSocket, sizeof(a.sun_path) - 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

bool OtherZfsFuseRunning() {
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::ifstream comm(e.path() / "comm");
    std::string name;
    if (comm && std::getline(comm, name) && name == "zfs-fuse") return true;
  }
  return false;
}

boost::test_tools::assertion_result ZfsFuseUsable(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result r(false);
  if (::access(kZfsFuse, X_OK) != 0) {
    r.message() << "SKIP: zfs-fuse is not installed (apt-get install zfs-fuse)";
  } else if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    r.message() << "SKIP: /dev/fuse is not accessible";
  } else if (geteuid() != 0) {
    r.message() << "SKIP: needs root";
  } else if (OtherZfsFuseRunning() || SocketLive()) {
    r.message() << "SKIP: a zfs-fuse daemon this test did not start is running; its socket "
                << kSocket << " is fixed, so the test will not share or stop it";
  } else {
    return true;
  }
  return r;
}

ProcessResult Run(const std::vector<std::string>& argv) {
  auto r = RunProcess(argv);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status());
  return *r;
}

void MustRun(const std::vector<std::string>& argv) {
  ProcessResult r = Run(argv);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, skiff::testing::JoinArgv(argv) << ": " << r.err << r.out);
}

// A zfs-fuse daemon started (in the foreground) and stopped by this fixture, one
// file-backed pool, and the private sshd.
struct ZfsEnv {
  SshdFixture sshd;
  pid_t daemon = -1;
  fs::path dir;
  std::string pool;
  std::string skiff = std::getenv("SKIFF_BIN") ? std::getenv("SKIFF_BIN") : "skiff";

  ZfsEnv() {
    std::random_device rd;
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%08x", rd());
    pool = std::string("skifftest-") + suffix;
    dir = fs::temp_directory_path() / ("skiff-zfs-" + std::string(suffix));
    fs::create_directories(dir);
    daemon = ::fork();
    BOOST_REQUIRE(daemon >= 0);
    if (daemon == 0) {
      int log = ::open((dir / "zfs-fuse.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (log >= 0) {
        ::dup2(log, 1);
        ::dup2(log, 2);
      }
      ::execl(kZfsFuse, kZfsFuse, "--no-daemon", "--no-kstat-mount", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!SocketLive()) {
      int st;
      BOOST_REQUIRE_MESSAGE(::waitpid(daemon, &st, WNOHANG) == 0,
                            "zfs-fuse exited: " << ReadFile(dir / "zfs-fuse.log"));
      BOOST_REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                            "zfs-fuse did not open " << kSocket);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    MustRun({"truncate", "-s", "128M", (dir / "vdev").string()});
    MustRun({"zpool", "create", "-m", (dir / "mnt").string(), pool, (dir / "vdev").string()});
  }

  ~ZfsEnv() {
    RunProcess({"zpool", "destroy", "-f", pool}).status().IgnoreError();
    if (daemon > 0) {
      ::kill(daemon, SIGTERM);
      int st;
      for (int i = 0; i < 300 && ::waitpid(daemon, &st, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (::waitpid(daemon, &st, WNOHANG) == 0) {
        ::kill(daemon, SIGKILL);
        ::waitpid(daemon, &st, 0);
      }
    }
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  fs::path Mount(const std::string& ds) { return dir / "mnt" / ds; }
  std::string Dest() { return "skiff-sftp:" + sshd.sftp_remote_dir() + "/zfs"; }
  fs::path DestLocal() { return fs::path(sshd.sftp_local_dir()) / "zfs"; }
  ProcessResult Skiff(std::vector<std::string> args) {
    args.insert(args.begin(), {skiff, "zfs"});
    args.insert(args.end(), {"-F", sshd.ssh_config_path()});
    return Run(args);
  }
  std::vector<std::string> StreamFiles() {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(DestLocal() / "streams"))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(zfs_fuse, *boost::unit_test::precondition(ZfsFuseUsable))

BOOST_FIXTURE_TEST_CASE(send_incremental_restore_over_sftp_only_account, ZfsEnv) {
  const std::string ds = pool + "/data";
  MustRun({"zfs", "create", ds});
  const std::string big = RandomBytes(3 << 20, 1);
  WriteFile(Mount("data") / "big", big);
  WriteFile(Mount("data") / "small", "first\n");
  ProcessResult r = Skiff({"send", ds, Dest(), "--snapshot"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(r.out.find("(full)") != std::string::npos);
  MustRun({"zfs", "snapshot", ds + "@mid"});
  WriteFile(Mount("data") / "small", "second\n");
  WriteFile(Mount("data") / "new", RandomBytes(100000, 2));
  r = Skiff({"send", ds, Dest(), "--snapshot", "--verify"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(r.out.find("sent @mid (incremental from @skiff-") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("(incremental from @mid)") != std::string::npos, r.out);
  // Again: up to date.
  r = Skiff({"send", ds, Dest()});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(r.out.find("up to date") != std::string::npos);

  // Stored as three files plus the index, through the chroot.
  BOOST_TEST(StreamFiles().size() == 3u);
  BOOST_TEST(fs::exists(DestLocal() / "skiff-zfs.index"));
  r = Skiff({"list", Dest()});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(r.out.find("@mid") != std::string::npos);

  // Restore the newest into a new dataset: same files.
  r = Skiff({"restore", Dest(), pool + "/back"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(ReadFile(Mount("back") / "big") == big);
  BOOST_TEST(ReadFile(Mount("back") / "small") == "second\n");
  BOOST_TEST(ReadFile(Mount("back") / "new") == ReadFile(Mount("data") / "new"));
  // The guids match the source's.
  ProcessResult src = Run({"zfs", "get", "-H", "-p", "-o", "value", "guid", ds + "@mid"});
  ProcessResult dst = Run({"zfs", "get", "-H", "-p", "-o", "value", "guid", pool + "/back@mid"});
  BOOST_TEST(src.out == dst.out);
  // An older snapshot of the chain.
  r = Skiff({"restore", Dest() + "@mid", pool + "/back-mid"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(ReadFile(Mount("back-mid") / "small") == "first\n");
  BOOST_TEST(!fs::exists(Mount("back-mid") / "new"));
  // Never over an existing dataset.
  r = Skiff({"restore", Dest(), pool + "/back"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("already exists") != std::string::npos, r.err);

  // zfs-fuse has no -w: --raw fails with zfs's own message, nothing stored.
  r = Skiff({"send", ds, Dest(), "--raw", "--snapshot"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("invalid option 'w'") != std::string::npos, r.err);
  BOOST_TEST(StreamFiles().size() == 3u);
  // zfs's own message for a missing dataset.
  r = Skiff({"send", pool + "/nope", Dest()});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("dataset does not exist") != std::string::npos, r.err);
}

BOOST_FIXTURE_TEST_CASE(send_list_restore_prune_with_a_local_directory, ZfsEnv) {
  // A local DEST is written with direct system calls (LocalRemoteFs, like a local backup
  // repository; no sftp-server child): the whole chain works on it.
  const std::string ds = pool + "/data";
  const std::string dest = (dir / "local-dest").string();
  MustRun({"zfs", "create", ds});
  const std::string big = RandomBytes(2 << 20, 7);
  WriteFile(Mount("data") / "big", big);
  ProcessResult r = Skiff({"send", ds, dest, "--snapshot", "--verify"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(r.out.find("(full)") != std::string::npos, r.out);
  WriteFile(Mount("data") / "small", "later\n");
  MustRun({"zfs", "snapshot", ds + "@two"});
  r = Skiff({"send", ds, dest});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(r.out.find("sent @two (incremental from @skiff-") != std::string::npos, r.out);
  BOOST_TEST(std::distance(fs::directory_iterator(fs::path(dest) / "streams"),
                           fs::directory_iterator{}) == 2);
  BOOST_TEST(fs::exists(fs::path(dest) / "skiff-zfs.index"));
  r = Skiff({"list", dest});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(r.out.find("@two") != std::string::npos, r.out);
  r = Skiff({"restore", dest, pool + "/back"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(ReadFile(Mount("back") / "big") == big);
  BOOST_TEST(ReadFile(Mount("back") / "small") == "later\n");
  r = Skiff({"prune", dest, "--keep-last", "1"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(r.out.find("keep   @two") != std::string::npos, r.out);
}

BOOST_FIXTURE_TEST_CASE(corrupted_stream_detected_before_receive, ZfsEnv) {
  const std::string ds = pool + "/data";
  MustRun({"zfs", "create", ds});
  WriteFile(Mount("data") / "f", RandomBytes(500000, 3));
  MustRun({"zfs", "snapshot", ds + "@a"});
  WriteFile(Mount("data") / "g", RandomBytes(200000, 4));
  MustRun({"zfs", "snapshot", ds + "@b"});
  ProcessResult r = Skiff({"send", ds, Dest()});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  // An empty destination gets one full stream of the newest snapshot (@b).
  BOOST_REQUIRE(StreamFiles().size() == 1u);
  fs::path file = DestLocal() / "streams" / StreamFiles()[0];
  std::string body = ReadFile(file);
  body[body.size() / 2] ^= 0x5a;
  WriteFile(file, body);
  r = Skiff({"restore", Dest(), pool + "/back"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("damaged") != std::string::npos, r.err);
  BOOST_TEST(r.err.find("nothing received") != std::string::npos, r.err);
  ProcessResult exists = Run({"zfs", "list", pool + "/back"});
  BOOST_TEST(exists.exit_code != 0);  // zfs receive never ran
}

BOOST_FIXTURE_TEST_CASE(divergence_refused_and_prune_keeps_chains, ZfsEnv) {
  const std::string ds = pool + "/data";
  MustRun({"zfs", "create", ds});
  WriteFile(Mount("data") / "f", "one\n");
  MustRun({"zfs", "snapshot", ds + "@one"});
  BOOST_REQUIRE(Skiff({"send", ds, Dest()}).exit_code == 0);
  WriteFile(Mount("data") / "f", "two\n");
  MustRun({"zfs", "snapshot", ds + "@two"});
  BOOST_REQUIRE(Skiff({"send", ds, Dest()}).exit_code == 0);
  // Roll the source back past @two and take a different @two.
  MustRun({"zfs", "rollback", "-r", ds + "@one"});
  WriteFile(Mount("data") / "f", "other two\n");
  MustRun({"zfs", "snapshot", ds + "@two"});
  ProcessResult r = Skiff({"send", ds, Dest()});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("diverged") != std::string::npos, r.err);
  BOOST_TEST(r.err.find("--allow-full") != std::string::npos, r.err);
  BOOST_TEST(StreamFiles().size() == 2u);
  r = Skiff({"send", ds, Dest(), "--allow-full"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(r.out.find("(full)") != std::string::npos);
  WriteFile(Mount("data") / "f", "three\n");
  MustRun({"zfs", "snapshot", ds + "@three"});
  BOOST_REQUIRE(Skiff({"send", ds, Dest()}).exit_code == 0);
  BOOST_REQUIRE(StreamFiles().size() == 4u);

  // keep-last 1 = @three, which needs the new chain's full @two; the old chain goes.
  r = Skiff({"prune", Dest(), "--keep-last", "1"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(StreamFiles().size() == 2u);
  r = Skiff({"restore", Dest(), pool + "/back"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(ReadFile(Mount("back") / "f") == "three\n");
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// `skiff zfs send` to a key whose forced command is `skiff serve --zfs-receive
// POOL/recv` (the line `skiff authorize --zfs-receive` prints): streams go into
// `zfs receive` on the server, as the unprivileged skiff-restricted account.
struct ZfsServeEnv : ZfsEnv {
  fs::path bin;
  std::string key;
  std::string prefix;

  ZfsServeEnv() {
    prefix = pool + "/recv";
    // The account must be able to run skiff and reach this test's zfs-fuse socket
    // (zfs-fuse checks no permissions beyond the socket's); it owns the prefix's mount
    // point so that `zfs receive` can create and mount the datasets it receives.
    fs::create_directories(dir / "bin");
    ::chmod(dir.c_str(), 0755);
    bin = dir / "bin/skiff";
    fs::copy_file(skiff, bin);
    ::chmod(bin.c_str(), 0755);
    ::chmod("/var/run/zfs", 0755);
    ::chmod(kSocket, 0666);
    MustRun({"zfs", "create", prefix});
    struct passwd* pw = ::getpwnam("skiff-restricted");
    BOOST_REQUIRE(pw);
    BOOST_REQUIRE(::chown(Mount("recv").c_str(), pw->pw_uid, pw->pw_gid) == 0);
    ProcessResult r = Run({bin.string(), "authorize", "--key", sshd.restricted_key_path() + ".pub",
                           "--zfs-receive", prefix, "--skiff", bin.string()});
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    BOOST_TEST(r.out.rfind("restrict,command=\"", 0) == 0u, r.out);
    BOOST_TEST(r.out.find("--zfs-receive") != std::string::npos, r.out);
    size_t key_at = r.out.find("\" ssh-");
    BOOST_REQUIRE(key_at != std::string::npos);
    auto k = sshd.AddRestrictedKey(r.out.substr(0, key_at + 1));
    BOOST_REQUIRE_MESSAGE(k.ok(), k.status().ToString());
    key = *k;
  }
  ProcessResult Zfs(std::vector<std::string> args) {
    args.insert(args.begin(), {bin.string(), "zfs"});
    args.insert(args.end(), {"-F", sshd.ssh_config_path(), "-i", key});
    return Run(args);
  }
  std::string Guid(const std::string& snap) {
    return Run({"zfs", "get", "-H", "-p", "-o", "value", "guid", snap}).out;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(zfs_fuse_serve, *boost::unit_test::precondition(ZfsFuseUsable))

BOOST_FIXTURE_TEST_CASE(send_full_and_incremental_into_zfs_receive_key, ZfsServeEnv) {
  const std::string ds = pool + "/data";
  MustRun({"zfs", "create", ds});
  const std::string big = RandomBytes(3 << 20, 5);
  WriteFile(Mount("data") / "big", big);
  WriteFile(Mount("data") / "small", "first\n");
  MustRun({"zfs", "snapshot", ds + "@one"});
  ProcessResult r = Zfs({"send", ds, "skiff-restricted:"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(r.out.find("received @one (full) into " + prefix + "/data") != std::string::npos,
             r.out);
  BOOST_TEST(Guid(prefix + "/data@one") == Guid(ds + "@one"));

  // Incremental: two new snapshots, one stream each.
  WriteFile(Mount("data") / "small", "second\n");
  MustRun({"zfs", "snapshot", ds + "@two"});
  WriteFile(Mount("data") / "new", RandomBytes(200000, 6));
  ::unlink((Mount("data") / "big").c_str());
  // The received dataset was read (atime) since @one: receive must still apply.
  BOOST_TEST(ReadFile(Mount("recv/data") / "small") == "first\n");
  r = Zfs({"send", ds, "skiff-restricted:", "--snapshot"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(r.out.find("received @two (incremental from @one)") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("(incremental from @two)") != std::string::npos, r.out);
  const std::string newest = r.out.substr(r.out.find("created " + ds + "@") + 8 + ds.size() + 1);
  const std::string snap = newest.substr(0, newest.find('\n'));
  r = Zfs({"send", ds, "skiff-restricted:"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(r.out.find("up to date") != std::string::npos, r.out);

  // Restore-equivalence: the received newest snapshot holds the source's files. Read
  // through a clone: zfs-fuse's mount of recv/data may serve pages cached before the
  // incremental arrived.
  BOOST_TEST(Guid(prefix + "/data@" + snap) == Guid(ds + "@" + snap));
  MustRun({"zfs", "clone", prefix + "/data@" + snap, pool + "/check"});
  for (const char* f : {"small", "new"})
    BOOST_TEST(ReadFile(Mount("check") / f) == ReadFile(Mount("data") / f), f);
  BOOST_TEST(!fs::exists(Mount("check") / "big"));
  ProcessResult snaps = Run({"zfs", "list", "-H", "-t", "snapshot", "-o", "name"});
  BOOST_TEST(snaps.out.find(prefix + "/data@two") != std::string::npos, snaps.out);

  // A DEST path names the dataset under the prefix.
  r = Zfs({"send", ds, "skiff-restricted:copies/one"});
  BOOST_TEST(r.exit_code == 2);  // copies/ does not exist: zfs's own message
  BOOST_TEST(r.err.find(prefix + "/copies") != std::string::npos, r.err);
  MustRun({"zfs", "create", prefix + "/copies"});
  struct passwd* pw = ::getpwnam("skiff-restricted");
  BOOST_REQUIRE(::chown(Mount("recv/copies").c_str(), pw->pw_uid, pw->pw_gid) == 0);
  r = Zfs({"send", ds, "skiff-restricted:copies/one"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "exit " << r.exit_code << ": " << r.err << r.out);
  BOOST_TEST(ReadFile(Mount("recv/copies/one") / "new") == ReadFile(Mount("data") / "new"));
}

BOOST_FIXTURE_TEST_CASE(zfs_receive_key_is_confined_to_its_prefix, ZfsServeEnv) {
  const std::string ds = pool + "/data";
  MustRun({"zfs", "create", ds});
  WriteFile(Mount("data") / "f", "x\n");
  MustRun({"zfs", "snapshot", ds + "@a"});
  const std::vector<std::pair<std::string, std::string>> attacks = {
      {"skiff-restricted:../data2", "not allowed"},
      {"skiff-restricted:recv/../../data2", "not allowed"},
      {"skiff-restricted:/" + pool + "/data2", "absolute"},
      {"skiff-restricted:x@a", "not a dataset name"},
      {"skiff-restricted:x%y", "not a dataset name"},
      {"skiff-restricted:a//b", "not allowed"},
      {"skiff-restricted:a b", "not allowed"},
  };
  for (const auto& [dest, why] : attacks) {
    ProcessResult r = Zfs({"send", ds, dest});
    BOOST_TEST(r.exit_code == 2, dest);
    BOOST_TEST(r.err.find(why) != std::string::npos, dest << ": " << r.err);
  }
  // Nothing was created outside (or inside) the prefix.
  ProcessResult list = Run({"zfs", "list", "-H", "-o", "name"});
  BOOST_TEST(list.out == pool + "\n" + ds + "\n" + prefix + "\n", list.out);
  // zfs's own message reaches the client (zfs-fuse's zfs send has no -w), and the
  // receive already started on the server is aborted: nothing appears there.
  ProcessResult raw = Zfs({"send", ds, "skiff-restricted:raw", "--raw"});
  BOOST_TEST(raw.exit_code == 2);
  BOOST_TEST(raw.err.find("invalid option 'w'") != std::string::npos, raw.err);
  BOOST_TEST(Run({"zfs", "list", prefix + "/raw"}).exit_code != 0);
  // The key reads or writes no files: stream-store commands are refused.
  ProcessResult r = Zfs({"list", "skiff-restricted:data"});
  BOOST_TEST(r.exit_code != 0);
  BOOST_TEST(r.err.find("only receives zfs streams") != std::string::npos, r.err);
  // A shell command instead of skiff serve is refused by the forced command.
  ProcessResult sh = Run({"ssh", "-F", sshd.ssh_config_path(), "-i", key, "skiff-restricted",
                          "zfs destroy -r " + prefix});
  BOOST_TEST(sh.exit_code != 0);
  BOOST_TEST(Run({"zfs", "list", prefix}).exit_code == 0);
}

BOOST_FIXTURE_TEST_CASE(zfs_receive_key_refuses_divergence, ZfsServeEnv) {
  const std::string ds = pool + "/data";
  MustRun({"zfs", "create", ds});
  WriteFile(Mount("data") / "f", "one\n");
  MustRun({"zfs", "snapshot", ds + "@one"});
  BOOST_REQUIRE(Zfs({"send", ds, "skiff-restricted:"}).exit_code == 0);
  WriteFile(Mount("data") / "f", "two\n");
  MustRun({"zfs", "snapshot", ds + "@two"});
  BOOST_REQUIRE(Zfs({"send", ds, "skiff-restricted:"}).exit_code == 0);
  // The source is rolled back and takes a different @two.
  MustRun({"zfs", "rollback", "-r", ds + "@one"});
  WriteFile(Mount("data") / "f", "other two\n");
  MustRun({"zfs", "snapshot", ds + "@two"});
  ProcessResult r = Zfs({"send", ds, "skiff-restricted:"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("diverged") != std::string::npos, r.err);
  // A full stream never overwrites the received dataset.
  r = Zfs({"send", ds, "skiff-restricted:", "--allow-full"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("already exists") != std::string::npos, r.err);
  BOOST_TEST(ReadFile(Mount("recv/data") / "f") == "two\n");
}

BOOST_AUTO_TEST_SUITE_END()
