// `skiff run JOB` and `skiff status` as an administrator uses them: a job from a config
// file, its hooks, its lock, its state file, and a real backup to the private sshd.
#define BOOST_TEST_MODULE ops_run_test
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "tests/integration/ops/ops_test_util.h"
#include "tests/support/sshd_fixture.h"

namespace skiff::ops_test {
namespace {

// A config whose [global] keeps state and locks inside `dir`, plus `job_body` as job t.
std::string WriteConfig(const ScratchDir& dir, const std::string& job_body) {
  std::string path = dir / "skiff.conf";
  WriteFile(path, "[global]\nstate-dir = " + (dir / "state") + "\nlock-dir = " + (dir / "lock") +
                      "\n\n[job t]\n" + job_body);
  return path;
}

BOOST_AUTO_TEST_CASE(malformed_config_is_refused_naming_file_line_and_problem) {
  ScratchDir dir;
  std::string conf = WriteConfig(dir, "source = /etc/hostname\nsourc = /etc\nrepository = /r\n");
  // Lines 1-4 are [global], state-dir, lock-dir and a blank; [job t] is line 5.
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"run", "t", "--config", conf},
        std::vector<std::string>{"status", "--config", conf}}) {
    auto r = Skiff(args);
    BOOST_TEST(r.exit_code == 64);
    BOOST_TEST(Contains(r.err, conf + ":7: unknown key 'sourc' in [job t]"), r.err);
  }
  BOOST_TEST(!Exists(dir / "state"));
  BOOST_TEST(!Exists(dir / "lock"));

  std::string bad_value = WriteConfig(dir, "source = /x\nrepository = /r\nkeep-daily = lots\n");
  auto r = Skiff({"run", "t", "--config", bad_value});
  BOOST_TEST(r.exit_code == 64);
  BOOST_TEST(Contains(r.err, bad_value + ":8: keep-daily: expected a non-negative whole number"),
             r.err);

  auto missing = Skiff({"run", "t", "--config", dir / "nope.conf"});
  BOOST_TEST(missing.exit_code == 2);
  BOOST_TEST(Contains(missing.err, dir / "nope.conf"));
}

BOOST_AUTO_TEST_CASE(config_comes_from_skiff_config_env) {
  ScratchDir dir;
  std::string conf = WriteConfig(dir, "source = /x\nrepository = /r\n");
  auto r = Skiff({"status"}, {"SKIFF_CONFIG=" + conf});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(Contains(r.out, "job t\n"));
}

BOOST_AUTO_TEST_CASE(unknown_job_is_a_usage_error_listing_the_jobs) {
  ScratchDir dir;
  std::string conf = WriteConfig(dir, "source = /x\nrepository = /r\n");
  auto r = Skiff({"run", "other", "--config", conf});
  BOOST_TEST(r.exit_code == 64);
  BOOST_TEST(Contains(r.err, "no job 'other'"));
  BOOST_TEST(Contains(r.err, "(jobs: t)"));
  auto s = Skiff({"status", "other", "--config", conf});
  BOOST_TEST(s.exit_code == 64);
}

BOOST_AUTO_TEST_CASE(status_of_a_job_that_never_ran) {
  ScratchDir dir;
  std::string conf = WriteConfig(dir, "source = /x\nrepository = /srv/r\n");
  auto r = Skiff({"status", "--config", conf});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(Contains(r.out, "job t\n  repository:       /srv/r\n  last run:         never\n"),
             r.out);
  auto old = Skiff({"status", "--config", conf, "--max-age", "26h"});
  BOOST_TEST(old.exit_code == 2);
  BOOST_TEST(Contains(old.err, "job t has never completed a backup"));
  auto prom = Skiff({"status", "-q", "--config", conf, "--prometheus", dir / "skiff.prom"});
  BOOST_TEST(prom.exit_code == 0);
  BOOST_TEST(prom.out.empty());
  std::string text = ReadFile(dir / "skiff.prom");
  BOOST_TEST(Contains(text, "skiff_last_success_timestamp_seconds{job=\"t\"} 0\n"), text);
  BOOST_TEST(!Contains(text, "skiff_last_run_success{"));
  auto bad_age = Skiff({"status", "--config", conf, "--max-age", "soon"});
  BOOST_TEST(bad_age.exit_code == 64);
}

BOOST_AUTO_TEST_CASE(failing_pre_hook_aborts_the_job_and_post_hook_sees_the_failure) {
  ScratchDir dir;
  WriteFile(dir / "src/a.txt", "hello\n");
  std::string conf = WriteConfig(
      dir, "source = " + (dir / "src") + "\nrepository = " + (dir / "repo") +
               "\npre-hook = echo ran >> " + (dir / "pre.log") +
               "; exit 3\npost-hook = env | grep '^SKIFF_' | sort > " + (dir / "post.env") + "\n");
  auto r = Skiff({"run", "t", "--config", conf});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(Contains(r.err, "pre-hook exited with code 3; backup not started"), r.err);
  BOOST_TEST(ReadFile(dir / "pre.log") == "ran\n");
  BOOST_TEST(!Exists(dir / "repo"), "the backup ran although the pre-hook failed");
  std::string env = ReadFile(dir / "post.env");
  BOOST_TEST(Contains(env, "SKIFF_JOB=t\n"), env);
  BOOST_TEST(Contains(env, "SKIFF_RESULT=failure\n"), env);
  BOOST_TEST(Contains(env, "SKIFF_EXIT_CODE=2\n"), env);
  BOOST_TEST(Contains(env, "SKIFF_REPOSITORY=" + (dir / "repo") + "\n"), env);
  BOOST_TEST(Contains(env, "SKIFF_CONFIG=" + conf + "\n"), env);
  BOOST_TEST(Contains(env, "SKIFF_MESSAGE=pre-hook exited with code 3"), env);

  auto s = Skiff({"status", "t", "--config", conf});
  BOOST_TEST(s.exit_code == 0);
  BOOST_TEST(Contains(s.out, ": failure (exit 2"), s.out);
  BOOST_TEST(Contains(s.out, "last success:     never"), s.out);
  BOOST_TEST(Contains(s.out, "ago): pre-hook exited with code 3"), s.out);
  BOOST_TEST(Contains(s.out, "failing for:      1 run(s) in a row"), s.out);
  auto m = Skiff({"status", "t", "--config", conf, "--max-age", "26h"});
  BOOST_TEST(m.exit_code == 2);

  // A second failure counts up; the state file is valid JSON replaced in place.
  BOOST_TEST(Skiff({"run", "t", "--config", conf}).exit_code == 2);
  auto s2 = Skiff({"status", "t", "--config", conf, "--prometheus", dir / "m.prom"});
  BOOST_TEST(Contains(s2.out, "failing for:      2 run(s) in a row"), s2.out);
  std::string prom = ReadFile(dir / "m.prom");
  BOOST_TEST(Contains(prom, "skiff_last_run_success{job=\"t\"} 0\n"), prom);
  BOOST_TEST(Contains(prom, "skiff_consecutive_failures{job=\"t\"} 2\n"), prom);
  BOOST_TEST(Contains(prom, "skiff_last_run_exit_code{job=\"t\"} 2\n"), prom);
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir / "state")) {
    BOOST_TEST(e.path().filename() == "t.json");
    ++entries;
  }
  BOOST_TEST(entries == 1);
}

BOOST_AUTO_TEST_CASE(overlapping_runs_of_a_job_are_refused) {
  ScratchDir dir;
  // The pre-hook starts the same job again while the outer run holds the lock, records
  // what the inner run said, then fails so the outer run stops before the backup.
  std::string conf = WriteConfig(dir, "source = /etc/hostname\nrepository = " + (dir / "repo") +
                                          "\npre-hook = \"" + SkiffBin() + "\" run t --config " +
                                          (dir / "skiff.conf") + " 2> " + (dir / "inner.err") +
                                          "; echo $? > " + (dir / "inner.rc") + "; exit 1\n");
  auto outer = Skiff({"run", "t", "--config", conf});
  BOOST_TEST(outer.exit_code == 2);
  BOOST_TEST(ReadFile(dir / "inner.rc") == "2\n");
  std::string inner = ReadFile(dir / "inner.err");
  BOOST_TEST(Contains(inner, "job t is already running (pid "), inner);
  BOOST_TEST(Contains(inner, "not starting a second run"), inner);

  // A lock held by another process (here: this test) refuses the run before the
  // pre-hook and leaves the recorded state alone.
  std::string before = ReadFile(dir / "state/t.json");
  int fd = ::open((dir / "lock/t.lock").c_str(), O_RDWR | O_CLOEXEC);
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  ::unlink((dir / "inner.rc").c_str());
  auto refused = Skiff({"run", "t", "--config", conf});
  BOOST_TEST(refused.exit_code == 2);
  BOOST_TEST(Contains(refused.err, "already running"));
  BOOST_TEST(!Exists(dir / "inner.rc"), "the pre-hook ran while the job was locked");
  BOOST_TEST(ReadFile(dir / "state/t.json") == before);
  ::close(fd);
  // Released: the job runs again (and its pre-hook fails as configured).
  BOOST_TEST(Skiff({"run", "t", "--config", conf}).exit_code == 2);
  BOOST_TEST(Exists(dir / "inner.rc"));
}

BOOST_AUTO_TEST_CASE(dry_run_prints_the_steps_built_from_the_config) {
  ScratchDir dir;
  std::string conf = WriteConfig(dir,
                                 "source = /srv/a\nsource = /srv/b c\nrepository = h:/r\n"
                                 "exclude = *.tmp\nidentity = /k\nport = 2222\n"
                                 "ssh-option = ConnectTimeout=5\nkeep-daily = 7\ncheck = yes\n"
                                 "check-read-data = yes\n");
  auto r = Skiff({"run", "t", "--config", conf, "--dry-run"});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(Contains(r.out,
                      " backup --json --exclude '*.tmp' -i /k -p 2222 -o "
                      "ConnectTimeout=5 /srv/a '/srv/b c' h:/r\n"),
             r.out);
  BOOST_TEST(Contains(r.out, " prune --keep-daily 7 -i /k -p 2222 -o ConnectTimeout=5 h:/r\n"),
             r.out);
  BOOST_TEST(Contains(r.out, " check --read-data -i /k -p 2222 -o ConnectTimeout=5 h:/r\n"), r.out);
  BOOST_TEST(!Exists(dir / "state"));
}

// A job whose repository is a local path (a USB disk): status before and after, the
// figures taken from the backup and from `skiff snapshots`, hooks around a real backup.
BOOST_AUTO_TEST_CASE(job_backs_up_to_a_local_repository) {
  BOOST_REQUIRE_MESSAGE(HasCommand("backup"), "skiff backup is not available in this build");
  ScratchDir dir;
  WriteFile(dir / "src/a.txt", "first\n");
  WriteFile(dir / "src/b.txt", std::string(5000, 'b'));
  std::string conf =
      WriteConfig(dir, "source = " + (dir / "src") + "\nrepository = " + (dir / "repo") +
                           "\npost-hook = echo \"$SKIFF_RESULT $SKIFF_EXIT_CODE\" >> " +
                           (dir / "post.log") + "\n");
  auto before = Skiff({"status", "--config", conf, "--max-age", "1h"});
  BOOST_TEST(before.exit_code == 2);
  BOOST_TEST(Contains(before.out, "last run:         never"));

  auto r = Skiff({"run", "t", "--config", conf});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  auto after = Skiff({"status", "--config", conf, "--max-age", "1h"});
  BOOST_TEST(after.exit_code == 0, after.err);
  BOOST_TEST(Contains(after.out, ": success (exit 0"), after.out);
  BOOST_TEST(Contains(after.out, "last failure:     never"), after.out);
  BOOST_TEST(Contains(after.out, "snapshots:        1\n"), after.out);
  BOOST_TEST(Contains(after.out, ", 4.9 KiB of files\n"), after.out);  // 6 + 5000 bytes

  WriteFile(dir / "src/a.txt", "second\n");
  BOOST_REQUIRE_EQUAL(Skiff({"run", "t", "--config", conf}).exit_code, 0);
  auto again = Skiff({"status", "--config", conf, "--prometheus", dir / "s.prom"});
  BOOST_TEST(Contains(again.out, "snapshots:        2\n"), again.out);
  std::string prom = ReadFile(dir / "s.prom");
  BOOST_TEST(Contains(prom, "skiff_snapshots{job=\"t\"} 2\n"), prom);
  BOOST_TEST(Contains(prom, "skiff_snapshot_size_bytes{job=\"t\"} 5007\n"), prom);
  BOOST_TEST(ReadFile(dir / "post.log") == "success 0\nsuccess 0\n");
  // The newest snapshot holds the new content.
  auto restore = Skiff({"restore", dir / "repo", dir / "restored"});
  BOOST_REQUIRE_EQUAL(restore.exit_code, 0);
  std::string found;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "restored")) {
    if (e.path().filename() == "a.txt") found = ReadFile(e.path());
  }
  BOOST_TEST(found == "second\n");
}

// The real thing: backups of a source tree to the chrooted SFTP-only account.
BOOST_AUTO_TEST_CASE(job_backs_up_to_sshd_and_status_reports_it) {
  BOOST_REQUIRE_MESSAGE(HasCommand("backup"), "skiff backup is not available in this build");
  testing::SshdFixture sshd;
  ScratchDir dir;
  WriteFile(dir / "src/a.txt", "first version\n");
  WriteFile(dir / "src/sub/b.bin", std::string(100000, 'x'));
  std::string repo = "skiff-sftp:" + sshd.sftp_remote_dir() + "/repo";
  std::string conf = WriteConfig(
      dir, "source = " + (dir / "src") + "\nrepository = " + repo + "\nssh-config = " +
               sshd.ssh_config_path() + "\nkeep-last = 1\ncheck = yes\npre-hook = echo pre > " +
               (dir / "pre.log") + "\npost-hook = echo \"$SKIFF_RESULT $SKIFF_EXIT_CODE\" > " +
               (dir / "post.log") + "\n");

  auto before = Skiff({"status", "--config", conf});
  BOOST_TEST(Contains(before.out, "last run:         never"));

  auto r = Skiff({"run", "t", "--config", conf});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  BOOST_TEST(ReadFile(dir / "pre.log") == "pre\n");
  BOOST_TEST(ReadFile(dir / "post.log") == "success 0\n");

  auto after = Skiff(
      {"status", "t", "--config", conf, "--max-age", "1h", "--prometheus", dir / "skiff.prom"});
  BOOST_TEST(after.exit_code == 0, after.err);
  BOOST_TEST(Contains(after.out, ": success (exit 0"), after.out);
  BOOST_TEST(!Contains(after.out, "last success:     never"), after.out);
  BOOST_TEST(Contains(after.out, "snapshots:        1\n"), after.out);
  BOOST_TEST(!Contains(after.out, "newest snapshot:  unknown"), after.out);
  BOOST_TEST(Contains(after.out, " of files\n"), after.out);
  std::string prom = ReadFile(dir / "skiff.prom");
  BOOST_TEST(Contains(prom, "skiff_last_run_success{job=\"t\"} 1\n"), prom);
  BOOST_TEST(Contains(prom, "skiff_snapshots{job=\"t\"} 1\n"), prom);

  // The snapshot really holds the source: restore it and compare.
  auto restore = Skiff({"restore", "-F", sshd.ssh_config_path(), repo, dir / "restored"});
  BOOST_REQUIRE_EQUAL(restore.exit_code, 0);
  bool found = false;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir / "restored")) {
    if (e.path().filename() == "b.bin") {
      found = ReadFile(e.path()) == std::string(100000, 'x');
    }
  }
  BOOST_TEST(found, "restored tree lacks src/sub/b.bin with its content");

  // A second run after a change: keep-last = 1 prunes the first snapshot.
  WriteFile(dir / "src/a.txt", "second version\n");
  BOOST_REQUIRE_EQUAL(Skiff({"run", "t", "--config", conf}).exit_code, 0);
  auto again = Skiff({"status", "t", "--config", conf});
  BOOST_TEST(Contains(again.out, "snapshots:        1\n"), again.out);
  auto listed = Skiff({"snapshots", "-F", sshd.ssh_config_path(), repo});
  BOOST_TEST(listed.exit_code == 0);
}

BOOST_AUTO_TEST_CASE(unreachable_server_exits_75_with_a_clear_message) {
  BOOST_REQUIRE_MESSAGE(HasCommand("backup"), "skiff backup is not available in this build");
  testing::SshdFixture sshd;
  ScratchDir dir;
  WriteFile(dir / "src/a.txt", "data\n");
  std::string conf = WriteConfig(
      dir, "source = " + (dir / "src") + "\nrepository = skiff-sftp:" + sshd.sftp_remote_dir() +
               "/repo\nssh-config = " + sshd.ssh_config_path() +
               "\npost-hook = echo \"$SKIFF_RESULT $SKIFF_EXIT_CODE\" > " + (dir / "post.log") +
               "\n");
  BOOST_REQUIRE(sshd.Stop().ok());
  auto r = Skiff({"run", "t", "--config", conf});
  BOOST_TEST(r.exit_code == 75);
  BOOST_TEST(Contains(r.err, "unreachable; try again later"), r.err);
  BOOST_TEST(ReadFile(dir / "post.log") == "unreachable 75\n");
  auto s = Skiff({"status", "t", "--config", conf});
  BOOST_TEST(Contains(s.out, ": unreachable (exit 75"), s.out);
  BOOST_TEST(Contains(s.out, "unreachable; try again later"), s.out);
}

}  // namespace
}  // namespace skiff::ops_test
