// The private sshd behaves like the setups administrators use, checked with OpenSSH's own
// ssh and sftp clients through the fixture's ssh_config aliases.
#define BOOST_TEST_MODULE harness_test
#include "tests/support/sshd_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/subprocess.h"
#include "tests/support/test_data.h"

namespace fs = std::filesystem;
using skiff::testing::ProcessResult;
using skiff::testing::ReadFile;
using skiff::testing::RunProcess;
using skiff::testing::SshdFixture;
using skiff::testing::WriteFile;

namespace {

ProcessResult MustRun(const std::vector<std::string>& argv, const std::string& input = "") {
  skiff::testing::ProcessOptions options;
  options.input = input;
  auto r = RunProcess(argv, options);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return *r;
}

std::vector<std::string> Ssh(const SshdFixture& f, std::vector<std::string> rest) {
  std::vector<std::string> argv = {"ssh", "-F", f.ssh_config_path()};
  argv.insert(argv.end(), rest.begin(), rest.end());
  return argv;
}

// Runs an sftp batch (one command per line) as `alias`; "-" prefixes are sftp's
// ignore-error marker and are not used here, so any failing command fails the batch.
ProcessResult Sftp(const SshdFixture& f, const std::string& alias, const std::string& batch) {
  return MustRun({"sftp", "-F", f.ssh_config_path(), "-b", "-", alias}, batch);
}

// True once `pid` has exited (a zombie awaiting a reaper counts as gone).
bool ProcessGone(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return true;
  auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z';
}

bool PortAccepts(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  BOOST_REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(sshd_fixture, SshdFixture)

BOOST_AUTO_TEST_CASE(plain_account_runs_commands_and_writes_its_dir) {
  ProcessResult r = MustRun(Ssh(*this, {"skiff-plain", "id -un; echo hi > " + plain_remote_dir() +
                                                           "/from-ssh; echo $SHELL"}));
  BOOST_TEST_INFO("stderr: " << r.err << "\nsshd log:\n" << LogTail());
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(r.out == "skiff-plain\n/bin/bash\n");
  BOOST_TEST(ReadFile(plain_local_dir() + "/from-ssh") == "hi\n");
  BOOST_TEST(plain_local_dir() == plain_remote_dir());
}

BOOST_AUTO_TEST_CASE(plain_account_accepts_several_keys) {
  auto second = AddPlainKey();
  BOOST_REQUIRE_MESSAGE(second.ok(), second.status().ToString());
  // IdentitiesOnly with the alias's key plus -i: use a config without the alias's key by
  // pointing IdentityFile at the new key only.
  ProcessResult r = MustRun(
      Ssh(*this, {"-o", "IdentityFile=" + *second, "-i", *second, "skiff-plain", "echo ok"}));
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(r.out == "ok\n");
  // A key nobody authorized is refused.
  std::string stray = dir() + "/stray";
  BOOST_REQUIRE_EQUAL(
      MustRun({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stray}).exit_code, 0);
  ProcessResult bad =
      MustRun({"ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i",
               stray, "-o", "UserKnownHostsFile=" + known_hosts_path(), "-p",
               std::to_string(port()), "skiff-plain@127.0.0.1", "true"});
  BOOST_TEST(bad.exit_code == 255);
  BOOST_TEST(bad.err.find("Permission denied") != std::string::npos, bad.err);
}

BOOST_AUTO_TEST_CASE(sftp_account_puts_and_gets_in_data) {
  std::string local = dir() + "/upload.bin";
  std::string payload(300000, 'x');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + i / 251);
  WriteFile(local, payload);
  ProcessResult r = Sftp(*this, "skiff-sftp",
                         "pwd\nput " + local + " " + sftp_remote_dir() + "/up.bin\nget " +
                             sftp_remote_dir() + "/up.bin " + dir() + "/down.bin\nls -1 /\n");
  BOOST_TEST_INFO("stderr: " << r.err << "\nsshd log:\n" << LogTail());
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(r.out.find("Remote working directory: /data") != std::string::npos, r.out);
  BOOST_TEST(ReadFile(sftp_local_dir() + "/up.bin") == payload);
  BOOST_TEST(ReadFile(dir() + "/down.bin") == payload);
  // The server-side root is the chroot: only data/ is visible, nothing of the real /.
  BOOST_TEST(r.out.find("/data") != std::string::npos);
  BOOST_TEST(r.out.find("/etc") == std::string::npos, r.out);
  BOOST_TEST(r.out.find("/usr") == std::string::npos, r.out);
}

BOOST_AUTO_TEST_CASE(sftp_account_cannot_escape_or_run_commands) {
  ProcessResult shell = MustRun(Ssh(*this, {"skiff-sftp", "touch /data/pwned; echo ran"}));
  BOOST_TEST(shell.exit_code != 0);
  BOOST_TEST(shell.out.find("ran") == std::string::npos);
  BOOST_TEST(!fs::exists(sftp_local_dir() + "/pwned"));
  // Paths outside the chroot do not exist for this account.
  ProcessResult escape = Sftp(*this, "skiff-sftp", "get /etc/passwd " + dir() + "/passwd\n");
  BOOST_TEST(escape.exit_code != 0);
  BOOST_TEST(!fs::exists(dir() + "/passwd"));
  ProcessResult up = Sftp(*this, "skiff-sftp", "ls /../../etc\n");
  BOOST_TEST(up.exit_code != 0);
  // The chroot itself is root-owned and not writable by the account.
  ProcessResult root_write = Sftp(*this, "skiff-sftp", "mkdir /newdir\n");
  BOOST_TEST(root_write.exit_code != 0);
  struct stat st {};
  BOOST_REQUIRE(::stat(fs::path(sftp_local_dir()).parent_path().c_str(), &st) == 0);
  BOOST_TEST(st.st_uid == 0u);
  BOOST_TEST((st.st_mode & 022) == 0u);
}

BOOST_AUTO_TEST_CASE(restricted_key_runs_only_its_forced_command) {
  auto key = AddRestrictedKey(R"(restrict,command="echo forced:$SSH_ORIGINAL_COMMAND")");
  BOOST_REQUIRE_MESSAGE(key.ok(), key.status().ToString());
  std::string marker = plain_local_dir() + "/restricted-ran";
  ProcessResult r = MustRun(Ssh(
      *this, {"-i", *key, "-o", "IdentityFile=" + *key, "skiff-restricted", "touch " + marker}));
  BOOST_TEST_INFO("stderr: " << r.err << "\nsshd log:\n" << LogTail());
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(r.out == "forced:touch " + marker + "\n");
  BOOST_TEST(!fs::exists(marker));
  // The alias's default key is forced to sftp-server: SFTP works, a command does not run.
  ProcessResult sftp = Sftp(*this, "skiff-restricted", "pwd\n");
  BOOST_TEST(sftp.exit_code == 0, sftp.err);
  ProcessResult cmd = MustRun(Ssh(*this, {"skiff-restricted", "echo should-not-run"}));
  BOOST_TEST(cmd.out.find("should-not-run") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(stop_really_stops_and_start_restarts_on_the_same_port) {
  pid_t first = pid();
  BOOST_REQUIRE(first > 0);
  BOOST_REQUIRE(PortAccepts(port()));
  BOOST_REQUIRE(Stop().ok());
  BOOST_TEST(pid() == 0);
  BOOST_TEST(ProcessGone(first));
  BOOST_TEST(!PortAccepts(port()));
  ProcessResult down = MustRun(Ssh(*this, {"skiff-plain", "true"}));
  BOOST_TEST(down.exit_code == 255);
  BOOST_TEST(down.err.find("refused") != std::string::npos, down.err);
  BOOST_REQUIRE(Stop().ok());  // idempotent
  skiff::Status st = Start();
  BOOST_REQUIRE_MESSAGE(st.ok(), st.ToString());
  BOOST_TEST(pid() > 0);
  BOOST_TEST(pid() != first);
  ProcessResult up = MustRun(Ssh(*this, {"skiff-plain", "echo back"}));
  BOOST_TEST(up.out == "back\n", up.err);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(destructor_stops_sshd_and_removes_everything) {
  pid_t pid = 0;
  std::string dir, base;
  {
    auto f = SshdFixture::Create();
    BOOST_REQUIRE_MESSAGE(f.ok(), f.status().ToString());
    pid = (*f)->pid();
    dir = (*f)->dir();
    base = fs::path((*f)->plain_local_dir()).parent_path();
    BOOST_REQUIRE(fs::exists(dir + "/sshd_config"));
    BOOST_REQUIRE(fs::exists(base));
  }
  BOOST_TEST(ProcessGone(pid));
  BOOST_TEST(!fs::exists(dir));
  BOOST_TEST(!fs::exists(base));
}

BOOST_AUTO_TEST_CASE(a_crashed_runs_leftovers_do_not_break_the_next_start) {
  // Simulate a crash: sshd-env start, then "forget" to stop; start again in the same DIR.
  char tmpl[] = "/tmp/skiff-sshd-crash-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  std::string env = SshdFixture::SshdEnvPath();
  BOOST_REQUIRE_EQUAL(MustRun({env, "start", dir}).exit_code, 0);
  pid_t orphan = static_cast<pid_t>(std::stol(ReadFile(dir + "/sshd.pid")));
  ProcessResult again = MustRun({env, "start", dir});
  BOOST_TEST_INFO(again.err);
  BOOST_REQUIRE_EQUAL(again.exit_code, 0);
  BOOST_TEST(ProcessGone(orphan));  // the leftover sshd was ours and is gone
  pid_t second = static_cast<pid_t>(std::stol(ReadFile(dir + "/sshd.pid")));
  BOOST_TEST(!ProcessGone(second));
  BOOST_REQUIRE_EQUAL(MustRun({env, "stop", dir}).exit_code, 0);
  BOOST_TEST(!fs::exists(dir));
  BOOST_TEST(ProcessGone(second));
}

BOOST_AUTO_TEST_CASE(an_environment_whose_owner_died_is_cleaned_up_by_the_next_start) {
  // The owner: a child that would wait forever, killed as a ctest timeout would kill a
  // test program (no destructors run).
  pid_t owner = ::fork();
  BOOST_REQUIRE(owner >= 0);
  if (owner == 0) {
    ::pause();
    ::_exit(0);
  }
  char tmpl[] = "/tmp/skiff-sshd-orphan-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  std::string env = SshdFixture::SshdEnvPath();
  skiff::testing::ProcessOptions owned;
  owned.extra_env.push_back("SSHD_ENV_OWNER_PID=" + std::to_string(owner));
  auto started = RunProcess({env, "start", dir}, owned);
  BOOST_REQUIRE(started.ok());
  BOOST_REQUIRE_MESSAGE(started->exit_code == 0, started->err);
  pid_t orphan = static_cast<pid_t>(std::stol(ReadFile(dir + "/sshd.pid")));
  BOOST_REQUIRE(!ProcessGone(orphan));
  ::kill(owner, SIGKILL);
  ::waitpid(owner, nullptr, 0);

  auto next = SshdFixture::Create();  // any later start sweeps
  BOOST_REQUIRE_MESSAGE(next.ok(), next.status().ToString());
  BOOST_TEST(ProcessGone(orphan));
  BOOST_TEST(!fs::exists(dir));
}

// A session still running when sshd stops ends with it, whether by Stop() or by the
// destructor. Its command and the per-connection sshd each call setsid(), so they are
// outside sshd's own process group: a group kill alone would leave them behind.
BOOST_AUTO_TEST_CASE(stop_and_destructor_end_the_sessions_sshd_started) {
  for (bool by_destructor : {false, true}) {
    BOOST_TEST_CONTEXT((by_destructor ? "destructor" : "Stop()")) {
      auto f = SshdFixture::Create();
      BOOST_REQUIRE_MESSAGE(f.ok(), f.status().ToString());
      int out[2];
      BOOST_REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
      const std::string config = (*f)->ssh_config_path();
      pid_t client = ::fork();
      BOOST_REQUIRE(client >= 0);
      if (client == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        ::execlp("ssh", "ssh", "-F", config.c_str(), "skiff-plain", "echo $$; exec sleep 300",
                 static_cast<char*>(nullptr));
        ::_exit(127);
      }
      ::close(out[1]);
      // The remote command's pid, within 30 s.
      std::string line;
      pollfd p{out[0], POLLIN, 0};
      char c;
      while (line.find('\n') == std::string::npos && ::poll(&p, 1, 30000) == 1 &&
             ::read(out[0], &c, 1) == 1)
        line += c;
      ::close(out[0]);
      pid_t remote = line.empty() ? 0 : static_cast<pid_t>(std::atol(line.c_str()));
      BOOST_REQUIRE_MESSAGE(remote > 0, "no pid from the session; sshd log:\n" << (*f)->LogTail());
      BOOST_REQUIRE(!ProcessGone(remote));
      BOOST_TEST(::getpgid(remote) != (*f)->pid());  // not in sshd's group
      if (by_destructor) {
        f->reset();
      } else {
        skiff::Status st = (*f)->Stop();
        BOOST_REQUIRE_MESSAGE(st.ok(), st.ToString());
      }
      BOOST_TEST(ProcessGone(remote));  // stop waits until its processes are gone
      // The client sees its connection close; bounded wait, then clean up regardless.
      int status = 0;
      bool exited = false;
      for (int i = 0; i < 100 && !exited; ++i) {
        exited = ::waitpid(client, &status, WNOHANG) == client;
        if (!exited) ::usleep(100 * 1000);
      }
      BOOST_TEST(exited, "ssh client still running 10 s after its server stopped");
      if (!exited) {
        ::kill(client, SIGKILL);
        ::waitpid(client, &status, 0);
      }
    }
  }
}
