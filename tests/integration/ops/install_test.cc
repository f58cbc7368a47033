// `cmake --install` into a staging prefix, then the installed files used as written:
// the systemd units' ExecStart lines (with %i and their environment substituted as
// systemd would), the fstab helper mounting a real FUSE filesystem, bash completion.
#define BOOST_TEST_MODULE ops_install_test
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <map>
#include <thread>

#include "tests/integration/ops/ops_test_util.h"
#include "tests/support/sshd_fixture.h"

namespace skiff::ops_test {
namespace {

// One staged install shared by every test case of this program.
struct Staged {
  Staged() {
    const char* build = std::getenv("SKIFF_BINARY_DIR");
    BOOST_REQUIRE_MESSAGE(build && *build, "SKIFF_BINARY_DIR is not set (run through ctest)");
    prefix = dir / "stage";
    install = Run({"cmake", "--install", build, "--prefix", prefix});
    BOOST_REQUIRE_MESSAGE(install.exit_code == 0, "cmake --install failed:\n" << install.err);
  }
  static Staged& Get() {
    static Staged staged;
    return staged;
  }
  std::string operator/(const std::string& rel) const { return prefix + "/" + rel; }
  ScratchDir dir;
  std::string prefix;
  testing::ProcessResult install;
};

bool IsExecutable(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) == 0111;
}

// The value of `key=` in a unit file (the last one, as systemd uses for ExecStart).
std::string UnitValue(const std::string& unit_text, const std::string& key) {
  std::string value;
  std::istringstream in(unit_text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + "=", 0) == 0) value = line.substr(key.size() + 1);
  }
  return value;
}

// Splits an Exec line as systemd does for the forms our units use: %i is the instance,
// "${VAR}" is one word, "$VAR" splits on whitespace (an empty value yields no word).
std::vector<std::string> ExpandExecLine(const std::string& line, const std::string& instance,
                                        const std::map<std::string, std::string>& env) {
  std::vector<std::string> argv;
  std::istringstream in(line);
  for (std::string word; in >> word;) {
    size_t p;
    while ((p = word.find("%i")) != std::string::npos) word.replace(p, 2, instance);
    if (word.size() > 3 && word.rfind("${", 0) == 0 && word.back() == '}') {
      auto it = env.find(word.substr(2, word.size() - 3));
      argv.push_back(it == env.end() ? "" : it->second);
    } else if (word.size() > 1 && word[0] == '$') {
      auto it = env.find(word.substr(1));
      std::istringstream split(it == env.end() ? "" : it->second);
      for (std::string w; split >> w;) argv.push_back(w);
    } else {
      argv.push_back(word);
    }
  }
  return argv;
}

// "KEY=value" lines of a unit's Environment= (space-separated) and an EnvironmentFile.
std::map<std::string, std::string> UnitEnvironment(const std::string& unit_text,
                                                   const std::string& env_file_text) {
  std::map<std::string, std::string> env;
  std::istringstream defaults(UnitValue(unit_text, "Environment"));
  for (std::string kv; defaults >> kv;) {
    size_t eq = kv.find('=');
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::istringstream file(env_file_text);
  for (std::string line; std::getline(file, line);) {
    size_t eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return env;
}

bool IsMountPoint(const std::string& path) {
  std::string mounts = ReadFile("/proc/self/mounts");
  return Contains(mounts, " " + path + " fuse");
}

// Waits (bounded) for `path` to become, or stop being, a FUSE mount point.
bool WaitForMount(const std::string& path, bool mounted, pid_t child = 0) {
  for (int i = 0; i < 600; ++i) {
    if (IsMountPoint(path) == mounted) return true;
    if (child > 0 && ::waitpid(child, nullptr, WNOHANG) == child) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

BOOST_AUTO_TEST_CASE(install_puts_every_file_in_its_fhs_place) {
  Staged& s = Staged::Get();
  BOOST_TEST(IsExecutable(s / "bin/skiff"));
  for (const char* f :
       {"share/man/man1/skiff.1", "share/man/man5/skiff.conf.5",
        "share/bash-completion/completions/skiff", "lib/systemd/system/skiff@.service",
        "lib/systemd/system/skiff@.timer", "lib/systemd/system/skiff-mount@.service",
        "share/doc/skiff/examples/skiff.conf.example", "share/doc/skiff/examples/skiff.cron"}) {
    BOOST_TEST(std::filesystem::is_regular_file(s / f), f << " is missing");
  }
  BOOST_TEST(IsExecutable(s / "sbin/mount.fuse.skiff"));
  // The units and the helper name the staged program, not /usr/bin/skiff.
  std::string service = ReadFile(s / "lib/systemd/system/skiff@.service");
  BOOST_TEST(UnitValue(service, "ExecStart") == s / "bin/skiff run %i");
  std::string helper = ReadFile(s / "sbin/mount.fuse.skiff");
  BOOST_TEST(Contains(helper, "skiff=${SKIFF_PROGRAM:-" + (s / "bin/skiff") + "}"));
  // The man pages render without groff warnings.
  for (const char* page : {"share/man/man1/skiff.1", "share/man/man5/skiff.conf.5"}) {
    auto r = Run({"groff", "-man", "-ww", "-z", s / page});
    BOOST_TEST(r.exit_code == 0);
    BOOST_TEST(r.err.empty(), page << ": " << r.err);
  }
  // The installed example configuration is valid.
  auto dry = Run({s / "bin/skiff", "run", "home", "--dry-run", "--config",
                  s / "share/doc/skiff/examples/skiff.conf.example"});
  BOOST_TEST(dry.exit_code == 0, dry.err);
  BOOST_TEST(Contains(dry.out, " backup --json --exclude '/home/*/.cache'"), dry.out);
}

BOOST_AUTO_TEST_CASE(timer_names_its_service_and_installs_into_timers_target) {
  Staged& s = Staged::Get();
  std::string timer = ReadFile(s / "lib/systemd/system/skiff@.timer");
  BOOST_TEST(UnitValue(timer, "WantedBy") == "timers.target");
  BOOST_TEST(!UnitValue(timer, "OnCalendar").empty());
  BOOST_TEST(UnitValue(timer, "Persistent") == "true");
}

BOOST_AUTO_TEST_CASE(service_exec_start_runs_the_job_as_written) {
  BOOST_REQUIRE_MESSAGE(HasCommand("backup"), "skiff backup is not available in this build");
  Staged& s = Staged::Get();
  ScratchDir dir;
  WriteFile(dir / "src/file.txt", "content\n");
  // The config comes from SKIFF_CONFIG, as a unit drop-in would set it.
  std::string conf = dir / "skiff.conf";
  WriteFile(conf, "[global]\nstate-dir = " + (dir / "state") + "\nlock-dir = " + (dir / "lock") +
                      "\n[job nightly]\nsource = " + (dir / "src") +
                      "\nrepository = " + (dir / "repo") + "\n");
  std::string unit = ReadFile(s / "lib/systemd/system/skiff@.service");
  std::vector<std::string> argv = ExpandExecLine(UnitValue(unit, "ExecStart"), "nightly", {});
  BOOST_TEST(argv == (std::vector<std::string>{s / "bin/skiff", "run", "nightly"}),
             boost::test_tools::per_element());
  auto r = Run(argv, {"SKIFF_CONFIG=" + conf});
  BOOST_TEST(r.exit_code == 0, r.err);
  auto status =
      Run({s / "bin/skiff", "status", "nightly", "--max-age", "1h"}, {"SKIFF_CONFIG=" + conf});
  BOOST_TEST(status.exit_code == 0, status.err);
  BOOST_TEST(Contains(status.out, ": success (exit 0"), status.out);
}

// Mounts skiff-plain's directory with `argv`, checks a file is visible through it, then
// runs `unmount` and checks the mount is gone.
void CheckMountCycle(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                     bool foreground, const std::string& mountpoint,
                     const std::string& expected_file, const std::vector<std::string>& unmount) {
  pid_t child = 0;
  if (foreground) {
    child = ::fork();
    BOOST_REQUIRE(child >= 0);
    if (child == 0) {
      for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
      std::vector<char*> cargv;
      for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
      cargv.push_back(nullptr);
      ::execv(cargv[0], cargv.data());
      ::_exit(127);
    }
  } else {
    auto r = Run(argv, env);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "mount failed: " << r.err);
  }
  bool up = WaitForMount(mountpoint, true, child);
  if (!up && child > 0) {
    ::kill(child, SIGTERM);
    ::waitpid(child, nullptr, 0);
  }
  BOOST_REQUIRE_MESSAGE(up, "no FUSE mount appeared at " << mountpoint);
  BOOST_TEST(ReadFile(mountpoint + "/" + expected_file) == "through the mount\n");
  auto u = Run(unmount, env);
  BOOST_TEST(u.exit_code == 0, u.err);
  BOOST_TEST(WaitForMount(mountpoint, false));
  if (child > 0) {
    int status = 0;
    BOOST_TEST(::waitpid(child, &status, 0) == child);
    BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0), "skiff mount -f exit " << status);
  }
}

BOOST_AUTO_TEST_CASE(mount_service_exec_lines_mount_and_unmount) {
  Staged& s = Staged::Get();
  testing::SshdFixture sshd;
  ScratchDir dir;
  std::string name = "unit-" + std::to_string(::getpid()) + ".txt";
  WriteFile(sshd.plain_local_dir() + "/" + name, "through the mount\n");
  std::filesystem::create_directories(dir / "mnt");
  std::string unit = ReadFile(s / "lib/systemd/system/skiff-mount@.service");
  BOOST_TEST(UnitValue(unit, "EnvironmentFile") == "/etc/skiff/mount/%i.env");
  // The env file an administrator writes; we read it from the scratch dir instead of /etc.
  std::string env_file = "REMOTE=skiff-plain:" + sshd.plain_remote_dir() +
                         "\nMOUNTPOINT=" + (dir / "mnt") + "\nSKIFF_ARGS=-F " +
                         sshd.ssh_config_path() + "\n";
  std::map<std::string, std::string> env = UnitEnvironment(unit, env_file);
  BOOST_TEST(env["OPTIONS"] == "reconnect");
  std::vector<std::string> start = ExpandExecLine(UnitValue(unit, "ExecStart"), "nas", env);
  std::vector<std::string> stop = ExpandExecLine(UnitValue(unit, "ExecStop"), "nas", env);
  BOOST_TEST(
      start == (std::vector<std::string>{
                   s / "bin/skiff", "mount", "-f", "-F", sshd.ssh_config_path(),
                   "skiff-plain:" + sshd.plain_remote_dir(), dir / "mnt", "-o", "reconnect"}),
      boost::test_tools::per_element());
  CheckMountCycle(start, {}, /*foreground=*/true, dir / "mnt", name, stop);
}

BOOST_AUTO_TEST_CASE(fstab_helper_drops_mount_only_options) {
  Staged& s = Staged::Get();
  ScratchDir dir;
  WriteFile(dir / "fake", "#!/bin/sh\nprintf '%s\\n' \"$@\"\n");
  std::filesystem::permissions(dir / "fake", std::filesystem::perms(0755));
  auto r = Run({s / "sbin/mount.fuse.skiff", "skiff#alice@nas:/srv", "/mnt/nas", "-n", "-o",
                "_netdev,nofail,noauto,user,defaults,x-systemd.automount,comment=x,reconnect,"
                "IdentityFile=/k,ssh_config=/etc/skiff/ssh_config",
                "-t", "fuse.skiff"},
               {"SKIFF_PROGRAM=" + (dir / "fake")});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out ==
             "mount\nalice@nas:/srv\n/mnt/nas\n-o\nreconnect,IdentityFile=/k\n-F\n"
             "/etc/skiff/ssh_config\n");
  auto ro = Run({s / "sbin/mount.fuse.skiff", "h:/", "/m", "-r", "-o", "_netdev"},
                {"SKIFF_PROGRAM=" + (dir / "fake")});
  BOOST_TEST(ro.out == "mount\nh:/\n/m\n-o\nro\n");
  auto bad = Run({s / "sbin/mount.fuse.skiff", "h:/", "/m", "-o", "drop_privileges"},
                 {"SKIFF_PROGRAM=" + (dir / "fake")});
  BOOST_TEST(bad.exit_code != 0);
  BOOST_TEST(Contains(bad.err, "drop_privileges is not supported"));
  auto fake =
      Run({s / "sbin/mount.fuse.skiff", "h:/", "/m", "-f"}, {"SKIFF_PROGRAM=" + (dir / "fake")});
  BOOST_TEST(fake.exit_code == 0);
  BOOST_TEST(fake.out.empty());
}

BOOST_AUTO_TEST_CASE(fstab_helper_mounts_as_mount_8_would) {
  Staged& s = Staged::Get();
  testing::SshdFixture sshd;
  ScratchDir dir;
  std::string name = "fstab-" + std::to_string(::getpid()) + ".txt";
  WriteFile(sshd.plain_local_dir() + "/" + name, "through the mount\n");
  std::filesystem::create_directories(dir / "mnt");
  // The arguments mount(8) passes for the fstab line
  //   skiff-plain:DIR  MNT  fuse.skiff  _netdev,reconnect,ssh_config=CONF  0 0
  std::vector<std::string> argv = {s / "sbin/mount.fuse.skiff",
                                   "skiff-plain:" + sshd.plain_remote_dir(),
                                   dir / "mnt",
                                   "-o",
                                   "rw,_netdev,reconnect,ssh_config=" + sshd.ssh_config_path(),
                                   "-t",
                                   "fuse.skiff"};
  CheckMountCycle(argv, {}, /*foreground=*/false, dir / "mnt", name,
                  {s / "bin/skiff", "umount", dir / "mnt"});
}

BOOST_AUTO_TEST_CASE(bash_completion_offers_commands_options_and_jobs) {
  Staged& s = Staged::Get();
  ScratchDir dir;
  WriteFile(dir / "skiff.conf",
            "[job home]\nsource = /h\nrepository = /r\n[job db-1]\nsource = /d\nrepository = "
            "/r\n");
  auto complete = [&](const std::string& words, int cword) {
    std::string script = "source '" + (s / "share/bash-completion/completions/skiff") +
                         "'\nCOMP_WORDS=(" + words + ")\nCOMP_WORDS[0]='" + (s / "bin/skiff") +
                         "'\nCOMP_CWORD=" + std::to_string(cword) +
                         "\n_skiff\nprintf '%s\\n' \"${COMPREPLY[@]}\" | sort\n";
    auto r = Run({"bash", "-c", script}, {"SKIFF_CONFIG=" + (dir / "skiff.conf")});
    BOOST_TEST(r.exit_code == 0, r.err);
    return r.out;
  };
  BOOST_TEST(complete("skiff ru", 1) == "run\n");
  std::string all = complete("skiff ''", 1);
  for (const char* c : {"help", "mount", "run", "status", "umount"}) {
    BOOST_TEST(Contains(all, std::string(c) + "\n"), c << " missing from:\n" << all);
  }
  BOOST_TEST(complete("skiff run ''", 2) == "db-1\nhome\n");
  BOOST_TEST(complete("skiff status h", 2) == "home\n");
  BOOST_TEST(complete("skiff status --max", 2) == "--max-age\n");
  BOOST_TEST(complete("skiff run --con", 2) == "--config\n");
  BOOST_TEST(complete("skiff help st", 2) == "status\n");
}

}  // namespace
}  // namespace skiff::ops_test
