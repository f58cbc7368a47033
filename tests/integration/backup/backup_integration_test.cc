// The real `skiff` program (SKIFF_BIN) against a private OpenSSH sshd's chrooted,
// SFTP-only account (ForceCommand internal-sftp): nothing of ours runs on the server.
#define BOOST_TEST_MODULE backup_integration_test
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "sync/content_hash.h"
#include "tests/support/fault_proxy.h"
#include "tests/support/sshd_fixture.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_data.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using skiff::testing::RunProcess;
using skiff::testing::SshdFixture;

using skiff::testing::RandomBytes;
using skiff::testing::ReadFile;
using skiff::testing::WriteFile;

struct Env {
  SshdFixture sshd;
  fs::path tmp;
  fs::path src;
  std::string repo = "skiff-sftp:/data/repo";
  fs::path repo_local;  // the same repository as seen from this machine

  Env() {
    char tmpl[] = "/tmp/skiff-backup-it-XXXXXX";
    tmp = mkdtemp(tmpl);
    src = tmp / "src";
    repo_local = fs::path(sshd.sftp_local_dir()) / "repo";
    WriteFile(src / "docs/a.txt", "alpha\n");
    WriteFile(src / "docs/b.txt", "beta\n");
    WriteFile(src / "big.bin", RandomBytes(1 << 20, 1));
    fs::create_directories(src / "empty");
    fs::create_symlink("docs/a.txt", src / "link");
  }
  ~Env() { fs::remove_all(tmp); }

  skiff::testing::ProcessResult Skiff(std::vector<std::string> args) {
    std::vector<std::string> argv{getenv("SKIFF_BIN")};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("-F");
    argv.push_back(sshd.ssh_config_path());
    auto r = RunProcess(argv);
    BOOST_REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    BOOST_TEST_MESSAGE(skiff::testing::JoinArgv(argv) << " -> " << r->exit_code << "\n" << r->err);
    return *r;
  }
  // Arguments that make skiff reach sshd through `proxy` (its port, a known_hosts naming it).
  std::vector<std::string> ThroughProxy(const skiff::testing::FaultProxy& proxy) {
    std::string kh = (tmp / "known_hosts").string();
    std::string hosts = ReadFile(sshd.known_hosts_path());
    hosts = std::regex_replace(hosts, std::regex("\\]:" + std::to_string(sshd.port())),
                               "]:" + std::to_string(proxy.port()));
    WriteFile(kh, hosts);
    return {"-p", std::to_string(proxy.port()), "-o", "UserKnownHostsFile=" + kh};
  }
  std::vector<std::string> Snapshots() {
    auto r = Skiff({"snapshots", repo});
    BOOST_REQUIRE_EQUAL(r.exit_code, 0);
    std::vector<std::string> names;
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);) names.push_back(l);
    return names;
  }
  void ExpectRestoredEqual(const fs::path& restored) {
    for (auto it = fs::recursive_directory_iterator(src); it != fs::recursive_directory_iterator();
         ++it) {
      fs::path rel = it->path().lexically_relative(src);
      fs::path other = restored / rel;
      BOOST_TEST_REQUIRE(fs::exists(fs::symlink_status(other)), "missing " << rel);
      if (it->is_symlink())
        BOOST_TEST(fs::read_symlink(other) == fs::read_symlink(it->path()));
      else if (it->is_regular_file())
        BOOST_TEST(ReadFile(other) == ReadFile(it->path()), rel);
    }
  }
};

int64_t JsonInt(const std::string& json, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + key + "\":(\\d+)"))) return -1;
  return std::stoll(m[1]);
}

}  // namespace

BOOST_AUTO_TEST_CASE(backup_incremental_restore_diff_prune_check) {
  Env env;
  // Files changed in the second a snapshot starts are not trusted as unchanged next time
  // (one-second times); let the clock move past the second the files were written in.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto r = env.Skiff({"backup", env.src.string(), env.repo, "--json"});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(JsonInt(r.out, "new_files") == 3);
  std::string first = env.Snapshots().at(0);

  // Day 2: 1000 bytes inserted in the middle of big.bin, one file added.
  std::string big = ReadFile(env.src / "big.bin");
  big.insert(500000, RandomBytes(1000, 2));
  WriteFile(env.src / "big.bin", big);
  WriteFile(env.src / "docs/c.txt", "gamma\n");
  r = env.Skiff({"backup", env.src.string(), env.repo, "--json"});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(JsonInt(r.out, "unchanged_files") == 2);
  BOOST_TEST(JsonInt(r.out, "delta_files") == 1);
  BOOST_TEST(JsonInt(r.out, "bytes_sent") < 100 * 1024);
  auto names = env.Snapshots();
  BOOST_REQUIRE_EQUAL(names.size(), 2u);
  // Each snapshot is a plain tree; unchanged files are one inode on the server.
  struct stat s1, s2;
  BOOST_REQUIRE(stat((env.repo_local / "snapshots" / names[0] / "src/docs/a.txt").c_str(), &s1) ==
                0);
  BOOST_REQUIRE(stat((env.repo_local / "snapshots" / names[1] / "src/docs/a.txt").c_str(), &s2) ==
                0);
  BOOST_TEST(s1.st_ino == s2.st_ino);
  BOOST_TEST(ReadFile(env.repo_local / "snapshots" / names[1] / "src/big.bin") == big);

  // Whole restore of the newest, single-path restore of the first.
  r = env.Skiff({"restore", env.repo, (env.tmp / "r-all").string()});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  env.ExpectRestoredEqual(env.tmp / "r-all" / "src");
  r = env.Skiff({"restore", env.repo + "@" + first, (env.tmp / "r-one").string(), "src/docs"});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(ReadFile(env.tmp / "r-one/src/docs/a.txt") == "alpha\n");
  BOOST_TEST(!fs::exists(env.tmp / "r-one/src/big.bin"));
  BOOST_TEST(!fs::exists(env.tmp / "r-one/src/docs/c.txt"));

  r = env.Skiff({"diff", env.repo + "@" + names[0], env.repo + "@" + names[1]});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(r.out.find("M src/big.bin\n") != std::string::npos, r.out);
  BOOST_TEST(r.out.find("+ src/docs/c.txt\n") != std::string::npos, r.out);

  r = env.Skiff({"check", env.repo, "--read-data"});
  BOOST_TEST(r.exit_code == 0, r.out);

  // Prune: dry run changes nothing; then only the newest remains.
  r = env.Skiff({"prune", env.repo, "--keep-last", "1", "--dry-run"});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(env.Snapshots().size() == 2u);
  r = env.Skiff({"prune", env.repo, "--keep-last", "1"});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(env.Snapshots() == std::vector<std::string>{names[1]});
  r = env.Skiff({"check", env.repo, "--read-data"});
  BOOST_TEST(r.exit_code == 0, r.out);

  // A corrupted file on the server (same size, one byte flipped) is found by --read-data
  // and only by it.
  fs::path victim = env.repo_local / "snapshots" / names[1] / "src/big.bin";
  struct stat before;
  BOOST_REQUIRE(stat(victim.c_str(), &before) == 0);
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12345);
    f.put('\x5a' ^ big[12345]);
  }
  struct timespec ts[2] = {before.st_atim, before.st_mtim};
  BOOST_REQUIRE(utimensat(AT_FDCWD, victim.c_str(), ts, 0) == 0);
  r = env.Skiff({"check", env.repo});
  BOOST_TEST(r.exit_code == 0, r.out);
  r = env.Skiff({"check", env.repo, "--read-data"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(
      r.out.find("content does not match the manifest's hash: src/big.bin") != std::string::npos,
      r.out);
  // Restore refuses to pass off the damaged file as good.
  r = env.Skiff({"restore", env.repo, (env.tmp / "r-bad").string()});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("src/big.bin") != std::string::npos, r.err);
}

// Many unchanged files: their hard links are asked for without waiting, spread over the
// backup's SFTP sessions (each its own sshd connection and sftp-server); every one must
// end up as the previous snapshot's inode.
BOOST_AUTO_TEST_CASE(many_unchanged_files_are_linked_over_all_sessions) {
  Env env;
  constexpr int kMany = 200;
  for (int i = 0; i < kMany; ++i)
    WriteFile(env.src / "many" / ("f" + std::to_string(i)), std::to_string(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // see the test above
  auto r = env.Skiff({"backup", env.src.string(), env.repo, "--json"});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  r = env.Skiff({"backup", env.src.string(), env.repo, "--json"});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(JsonInt(r.out, "unchanged_files") == kMany + 3);
  BOOST_TEST(JsonInt(r.out, "new_files") == 0);
  auto names = env.Snapshots();
  BOOST_REQUIRE_EQUAL(names.size(), 2u);
  for (int i = 0; i < kMany; ++i) {
    const std::string rel = "src/many/f" + std::to_string(i);
    struct stat a, b;
    BOOST_REQUIRE(stat((env.repo_local / "snapshots" / names[0] / rel).c_str(), &a) == 0);
    BOOST_REQUIRE(stat((env.repo_local / "snapshots" / names[1] / rel).c_str(), &b) == 0);
    BOOST_TEST(a.st_ino == b.st_ino, rel);
  }
  r = env.Skiff({"restore", env.repo, (env.tmp / "r").string()});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  env.ExpectRestoredEqual(env.tmp / "r" / "src");
}

// An incremental's hard links (two full paths each) travel over a compressed connection:
// what the client sends in all is less than those paths alone (uncompressed it was more).
BOOST_AUTO_TEST_CASE(unchanged_files_links_travel_compressed) {
  Env env;
  constexpr int kMany = 1500;
  const std::string dir = "a-directory-name-long-enough-to-count-in-every-request";
  for (int i = 0; i < kMany; ++i)
    WriteFile(env.src / dir / ("file-with-a-long-name-" + std::to_string(i) + ".txt"),
              std::to_string(i));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // see the tests above
  auto r = env.Skiff({"backup", env.src.string(), env.repo, "-q"});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  skiff::testing::FaultProxy proxy(env.sshd.port());
  std::vector<std::string> args{"backup", env.src.string(), env.repo, "--json"};
  for (auto& a : env.ThroughProxy(proxy)) args.push_back(a);
  r = env.Skiff(args);
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(JsonInt(r.out, "unchanged_files") == kMany + 3);
  auto names = env.Snapshots();
  BOOST_REQUIRE_EQUAL(names.size(), 2u);
  uint64_t link_paths = 0;  // the bytes of both paths of every link request
  for (int i = 0; i < kMany; ++i) {
    const std::string rel = "/src/" + dir + "/file-with-a-long-name-" + std::to_string(i) + ".txt";
    link_paths += ("/data/repo/snapshots/" + names[0] + rel).size() +
                  ("/data/repo/snapshots/.incomplete" + rel).size();
    struct stat a, b;
    BOOST_REQUIRE(stat((env.repo_local / "snapshots" / names[0] / rel.substr(1)).c_str(), &a) == 0);
    BOOST_REQUIRE(stat((env.repo_local / "snapshots" / names[1] / rel.substr(1)).c_str(), &b) == 0);
    BOOST_TEST(a.st_ino == b.st_ino, rel);
  }
  BOOST_TEST(proxy.bytes_up() < link_paths,
             "sent " << proxy.bytes_up() << ", link paths " << link_paths);
}

// A restore reads each small file with one SFTP read (its size from the manifest): no
// second read to see EOF (SKIFF_SFTP_TRACE counts the requests).
BOOST_AUTO_TEST_CASE(restore_reads_each_small_file_once) {
  Env env;
  constexpr int kMany = 200;
  for (int i = 0; i < kMany; ++i)
    WriteFile(env.src / "many" / ("f" + std::to_string(i)), RandomBytes(100 + i, 7 + i));
  auto r = env.Skiff({"backup", env.src.string(), env.repo, "-q"});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  const std::string trace = (env.tmp / "trace").string();
  setenv("SKIFF_SFTP_TRACE", trace.c_str(), 1);
  r = env.Skiff({"restore", env.repo, (env.tmp / "r").string()});
  unsetenv("SKIFF_SFTP_TRACE");
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  env.ExpectRestoredEqual(env.tmp / "r" / "src");
  int reads = 0, eofs = 0;
  std::ifstream in(trace);
  for (std::string a, b, type, w, q, reply; in >> a >> b >> type >> w >> q >> reply;) {
    if (type != "read") continue;
    ++reads;
    if (reply == "23") ++eofs;  // an EOF status
  }
  // kMany + 2 small files, big.bin (1 MiB: 5 reads) and the manifest (read twice, ahead
  // of its end: ~20 reads, most of them EOF). With a second read per file to see EOF
  // (b2ee804) it was 431 reads, 221 of them EOF.
  BOOST_TEST(reads >= kMany + 2);
  BOOST_TEST(reads < kMany * 5 / 4, "reads: " << reads);
  BOOST_TEST(eofs < kMany / 4, "EOF replies: " << eofs);
}

// A new file's attributes and close are sent together, after its data, and waited for
// once by the job (not as SFTP calls: in the trace neither the files' FSETSTATs nor their
// CLOSEs are waited for; before, both were), and the files have the source's mode and
// mtime.
BOOST_AUTO_TEST_CASE(new_files_fsetstat_and_close_are_sent_together) {
  Env env;
  constexpr int kMany = 100;
  for (int i = 0; i < kMany; ++i) {
    fs::path p = env.src / "many" / ("f" + std::to_string(i));
    WriteFile(p, RandomBytes(100 + i, 11 + i));
    BOOST_REQUIRE(chmod(p.c_str(), i % 2 ? 0640 : 0604) == 0);
  }
  const std::string trace = (env.tmp / "trace").string();
  setenv("SKIFF_SFTP_TRACE", trace.c_str(), 1);
  auto r = env.Skiff({"backup", env.src.string(), env.repo, "-q"});
  unsetenv("SKIFF_SFTP_TRACE");
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  int fsetstats = 0, waited_fsetstats = 0, waited_closes = 0;
  std::ifstream in(trace);
  for (std::string a, b, type, w, q, reply; in >> a >> b >> type >> w >> q >> reply;) {
    if (type == "fsetstat") {
      ++fsetstats;
      waited_fsetstats += w == "1";
    }
    if (type == "close") waited_closes += w == "1";
  }
  BOOST_TEST(fsetstats >= kMany);
  BOOST_TEST(waited_fsetstats < kMany / 10, "waited fsetstats: " << waited_fsetstats);
  BOOST_TEST(waited_closes < kMany / 10, "waited closes: " << waited_closes);
  auto names = env.Snapshots();
  BOOST_REQUIRE_EQUAL(names.size(), 1u);
  for (int i = 0; i < kMany; ++i) {
    const std::string rel = "src/many/f" + std::to_string(i);
    struct stat a, b;
    BOOST_REQUIRE(stat((env.src / "many" / ("f" + std::to_string(i))).c_str(), &a) == 0);
    BOOST_REQUIRE(stat((env.repo_local / "snapshots" / names[0] / rel).c_str(), &b) == 0);
    BOOST_TEST((a.st_mode & 07777) == (b.st_mode & 07777), rel);
    BOOST_TEST(a.st_mtim.tv_sec == b.st_mtim.tv_sec, rel);
    BOOST_TEST(a.st_size == b.st_size, rel);
  }
}

BOOST_AUTO_TEST_CASE(killed_backup_is_resumed) {
  Env env;
  for (int i = 0; i < 40; ++i) {
    fs::path p = env.src / "many" / ("f" + std::to_string(i));
    WriteFile(p, RandomBytes(100 * 1024, 100 + i));
    BOOST_REQUIRE(chmod(p.c_str(), 0644) == 0);  // a torn copy is 0600 (see below)
  }
  // A slow link (through the throttling proxy) so that the run can be killed midway.
  skiff::testing::FaultProxy proxy(env.sshd.port());
  proxy.SetRateLimit(1 << 20);
  std::vector<std::string> argv{
      getenv("SKIFF_BIN"),       "backup", env.src.string(), env.repo, "-q", "-F",
      env.sshd.ssh_config_path()};
  for (auto& a : env.ThroughProxy(proxy)) argv.push_back(a);
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid;
  BOOST_REQUIRE(posix_spawn(&pid, cargv[0], nullptr, nullptr, cargv.data(), environ) == 0);
  // Wait until some files are complete in the snapshot under construction (files are
  // written in place: complete = full size and the source's mode, set after the last
  // byte), then kill -9, which leaves others torn.
  fs::path inc = env.repo_local / "snapshots/.incomplete/src/many";
  bool exited = false;
  for (int i = 0; i < 6000; ++i) {
    std::error_code ec;
    size_t n = 0;
    for (auto it = fs::directory_iterator(inc, ec); !ec && it != fs::directory_iterator(); ++it) {
      struct stat st;
      if (lstat(it->path().c_str(), &st) == 0 && st.st_size == 100 * 1024 &&
          (st.st_mode & 07777) == 0644)
        ++n;
    }
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
  BOOST_TEST(env.Snapshots().empty());  // nothing looks complete
  BOOST_TEST(fs::exists(env.repo_local / ".skiff/lock"));

  // The next run breaks the dead run's lock (same host, pid gone), resumes and reuses.
  auto r = env.Skiff({"backup", env.src.string(), env.repo, "--json"});
  BOOST_REQUIRE_EQUAL(r.exit_code, 1);  // warning: stale lock broken
  BOOST_TEST(r.err.find("stale lock") != std::string::npos, r.err);
  BOOST_TEST(r.out.find("\"resumed\":true") != std::string::npos, r.out);
  BOOST_TEST(JsonInt(r.out, "reused_files") >= 5);
  BOOST_TEST(env.Snapshots().size() == 1u);
  BOOST_TEST(!fs::exists(env.repo_local / "snapshots/.incomplete"));
  r = env.Skiff({"check", env.repo, "--read-data"});
  BOOST_TEST(r.exit_code == 0, r.out);
  r = env.Skiff({"restore", env.repo, (env.tmp / "r").string()});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  env.ExpectRestoredEqual(env.tmp / "r" / "src");
}

BOOST_AUTO_TEST_CASE(hostile_manifest_refused_on_restore) {
  Env env;
  auto r = env.Skiff({"backup", env.src.string(), env.repo});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  std::string name = env.Snapshots().at(0);
  // Replace the manifest by a well-formed one (valid trailer hash) naming ../escape.
  std::string body = "skiff-manifest\t1\t" + name + "\n" + "f\t../escape\t644\t0\t0\t0\t6\t" +
                     skiff::sync::ContentHash("alpha\n") + "\t\t0\t0\t0\t\n";
  WriteFile(env.repo_local / ".skiff/manifests" / name,
            body + "end\t1\t" + skiff::sync::ContentHash(body) + "\n");
  r = env.Skiff({"restore", env.repo, (env.tmp / "target").string()});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("'..' component") != std::string::npos, r.err);
  BOOST_TEST(!fs::exists(env.tmp / "escape"));
  BOOST_TEST(!fs::exists(env.tmp / "target"));
}
