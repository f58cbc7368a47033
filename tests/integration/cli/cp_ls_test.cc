// `skiff cp` / `skiff ls` end to end: the real binary against a private sshd, for the
// plain account and the chrooted ForceCommand internal-sftp account.
#define BOOST_TEST_MODULE cli_cp_ls
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "tests/support/sshd_fixture.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_data.h"

using skiff::testing::ProcessResult;
using skiff::testing::RandomBytes;
using skiff::testing::ReadFile;
using skiff::testing::RunProcess;
using skiff::testing::SshdFixture;
using skiff::testing::WriteFile;
namespace stdfs = std::filesystem;

namespace {

std::string SkiffBin() {
  const char* b = std::getenv("SKIFF_BIN");
  return b ? b : "skiff";
}

struct CliFixture : SshdFixture {
  std::string local;  // a scratch directory on the client side
  CliFixture() {
    char t[] = "/tmp/skiff-cli-test-XXXXXX";
    local = mkdtemp(t);
  }
  ~CliFixture() { stdfs::remove_all(local); }
  ProcessResult Skiff(std::vector<std::string> args) {
    std::vector<std::string> argv = {SkiffBin(), args[0], "-F", ssh_config_path()};
    argv.insert(argv.end(), args.begin() + 1, args.end());
    auto r = RunProcess(argv);
    BOOST_REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    BOOST_TEST_MESSAGE(skiff::testing::JoinArgv(argv) << " -> " << r->exit_code << " " << r->err);
    return *r;
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(plain_account_upload_download_and_ls, CliFixture) {
  const std::string data = RandomBytes(5 * 1024 * 1024 + 3, 1);
  WriteFile(local + "/big.bin", data);
  const std::string remote = "skiff-plain:" + plain_remote_dir() + "/";
  auto up = Skiff({"cp", local + "/big.bin", remote});
  BOOST_REQUIRE_MESSAGE(up.exit_code == 0, up.err);
  BOOST_TEST(up.err.empty());  // no progress line when stderr is not a terminal
  BOOST_TEST((ReadFile(plain_local_dir() + "/big.bin") == data));
  auto down = Skiff({"cp", remote + "big.bin", local + "/back.bin"});
  BOOST_REQUIRE_MESSAGE(down.exit_code == 0, down.err);
  BOOST_TEST((ReadFile(local + "/back.bin") == data));
  auto ls = Skiff({"ls", remote});
  BOOST_REQUIRE_MESSAGE(ls.exit_code == 0, ls.err);
  BOOST_TEST(ls.out.find("big.bin\n") != std::string::npos);
  auto ll = Skiff({"ls", "-l", remote + "big.bin"});
  BOOST_REQUIRE_MESSAGE(ll.exit_code == 0, ll.err);
  BOOST_TEST(ll.out.find(std::to_string(data.size())) != std::string::npos);
  BOOST_TEST(ll.out[0] == '-');
}

BOOST_FIXTURE_TEST_CASE(chrooted_sftp_account_drop_site, CliFixture) {
  // A tree with modes and times, sent to the friend's chrooted SFTP-only account.
  stdfs::create_directories(local + "/photos/2024");
  WriteFile(local + "/photos/a.jpg", RandomBytes(700000, 2));
  WriteFile(local + "/photos/2024/b.jpg", RandomBytes(300, 3));
  chmod((local + "/photos/a.jpg").c_str(), 0640);
  struct timespec ts[2] = {{1500000000, 0}, {1500000000, 0}};
  utimensat(AT_FDCWD, (local + "/photos/a.jpg").c_str(), ts, 0);
  const std::string dest = "skiff-sftp:" + sftp_remote_dir();

  auto noflag = Skiff({"cp", local + "/photos", dest});
  BOOST_TEST(noflag.exit_code == 2);
  BOOST_TEST(noflag.err.find("use -r") != std::string::npos);

  auto up = Skiff({"cp", "-rp", local + "/photos", dest});
  BOOST_REQUIRE_MESSAGE(up.exit_code == 0, up.err);
  BOOST_TEST((ReadFile(sftp_local_dir() + "/photos/a.jpg") == ReadFile(local + "/photos/a.jpg")));
  BOOST_TEST((ReadFile(sftp_local_dir() + "/photos/2024/b.jpg") ==
              ReadFile(local + "/photos/2024/b.jpg")));
  struct stat st;
  BOOST_REQUIRE(stat((sftp_local_dir() + "/photos/a.jpg").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0640u);
  BOOST_TEST(st.st_mtime == 1500000000);

  auto ls = Skiff({"ls", "-l", dest + "/photos"});
  BOOST_REQUIRE_MESSAGE(ls.exit_code == 0, ls.err);
  BOOST_TEST(ls.out.find("2024\n") != std::string::npos);
  BOOST_TEST(ls.out.find("-rw-r-----       700000 ") != std::string::npos);
  BOOST_TEST(ls.out.find("d") == 0u);  // "2024" sorts first and is a directory

  auto down = Skiff({"cp", "-r", "-p", dest + "/photos", local + "/copy"});
  BOOST_REQUIRE_MESSAGE(down.exit_code == 0, down.err);
  BOOST_TEST((ReadFile(local + "/copy/2024/b.jpg") == ReadFile(local + "/photos/2024/b.jpg")));
  BOOST_REQUIRE(stat((local + "/copy/a.jpg").c_str(), &st) == 0);
  BOOST_TEST(st.st_mtime == 1500000000);

  // Several sources into an existing directory.
  stdfs::create_directory(local + "/many");
  auto many = Skiff({"cp", dest + "/photos/a.jpg", dest + "/photos/2024/b.jpg", local + "/many"});
  BOOST_REQUIRE_MESSAGE(many.exit_code == 0, many.err);
  BOOST_TEST(stdfs::exists(local + "/many/a.jpg"));
  BOOST_TEST(stdfs::exists(local + "/many/b.jpg"));
}

BOOST_FIXTURE_TEST_CASE(partial_upload_resumes, CliFixture) {
  const std::string data = RandomBytes(2 * 1024 * 1024, 4);
  WriteFile(local + "/f", data);
  // What an interrupted `cp --partial` left behind: the first 1 MiB, marked.
  std::string prefix = data.substr(0, 1 << 20);
  prefix[0] ^= 1;
  WriteFile(sftp_local_dir() + "/f.skiff-partial", prefix);
  struct stat dir;  // owned by the account, as if its own upload had left it
  BOOST_REQUIRE(stat(sftp_local_dir().c_str(), &dir) == 0);
  BOOST_REQUIRE(chown((sftp_local_dir() + "/f.skiff-partial").c_str(), dir.st_uid, dir.st_gid) ==
                0);
  auto r = Skiff({"cp", "--partial", local + "/f", "skiff-sftp:" + sftp_remote_dir() + "/f"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::string got = ReadFile(sftp_local_dir() + "/f");
  BOOST_TEST(got.size() == data.size());
  BOOST_TEST(got[0] == prefix[0]);  // resumed from the partial file, not re-sent
  BOOST_TEST((got.substr(1) == data.substr(1)));
  BOOST_TEST(!stdfs::exists(sftp_local_dir() + "/f.skiff-partial"));
}

BOOST_FIXTURE_TEST_CASE(errors_are_clear, CliFixture) {
  auto missing = Skiff({"cp", "skiff-sftp:/data/nope", local + "/x"});
  BOOST_TEST(missing.exit_code == 2);
  BOOST_TEST(missing.err.find("not found") != std::string::npos);
  BOOST_TEST(missing.err.find("/data/nope") != std::string::npos);
  BOOST_TEST(!stdfs::exists(local + "/x"));
  auto outside = Skiff({"ls", "skiff-sftp:/etc"});  // nothing but data/ in the chroot
  BOOST_TEST(outside.exit_code == 2);
  BOOST_TEST(outside.err.find("not found") != std::string::npos);
  auto both_local = Skiff({"cp", local + "/a", local + "/b"});
  BOOST_TEST(both_local.exit_code == 64);
  auto not_remote = Skiff({"ls", "/tmp"});
  BOOST_TEST(not_remote.exit_code == 64);
  auto help = RunProcess({SkiffBin(), "cp", "--help"});
  BOOST_REQUIRE(help.ok());
  BOOST_TEST(help->out.find("--partial") != std::string::npos);
  Stop().IgnoreError();
  auto down = Skiff({"ls", "skiff-sftp:/data"});
  BOOST_TEST(down.exit_code == 75);  // server unreachable: try again later
}
