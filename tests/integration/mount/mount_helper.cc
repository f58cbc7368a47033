#include "tests/integration/mount/mount_helper.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/support/subprocess.h"

namespace skiff::testing {
namespace {

std::unique_ptr<SshdFixture>& SshdSlot() {
  static std::unique_ptr<SshdFixture> sshd;
  return sshd;
}

struct StopSshdAtExit {
  ~StopSshdAtExit() { SshdSlot().reset(); }
};
BOOST_TEST_GLOBAL_FIXTURE(StopSshdAtExit);

std::string SkiffBin() {
  const char* b = getenv("SKIFF_BIN");
  if (!b) throw std::runtime_error("SKIFF_BIN is not set (run through ctest)");
  return b;
}

}  // namespace

SshdFixture& SharedSshd() {
  if (!SshdSlot()) SshdSlot() = std::make_unique<SshdFixture>();
  return *SshdSlot();
}

bool IsSkiffMount(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, dev, root, mnt;
    ls >> id >> parent >> dev >> root >> mnt;
    if (mnt != path) continue;
    std::string tok;
    while (ls >> tok && tok != "-") {
    }
    std::string fstype;
    ls >> fstype;
    if (fstype == "fuse.skiff") return true;
  }
  return false;
}

int RunSkiff(const std::vector<std::string>& args, std::string* out) {
  std::vector<std::string> argv{SkiffBin()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = RunProcess(argv);
  if (!r.ok()) throw std::runtime_error(r.status().ToString());
  if (out) *out = r->out + r->err;
  return r->exit_code;
}

SkiffMount::SkiffMount(const std::string& remote, const std::vector<std::string>& extra) {
  char tmpl[] = "/tmp/skiff-mnt-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
  log_ = path_ + ".log";
  std::vector<std::string> argv = {SkiffBin(), "mount", "-f", "-F", SharedSshd().ssh_config_path(),
                                   remote,     path_};
  argv.insert(argv.end(), extra.begin(), extra.end());
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  for (int i = 0; i < 400; ++i) {  // up to 20 s for ssh + mount
    if (IsSkiffMount(path_)) return;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      throw std::runtime_error("skiff mount exited before mounting: " + Log());
    }
    usleep(50000);
  }
  std::string log = Log();
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  exited_ = true;
  throw std::runtime_error("mount did not appear within 20 s: " + log);
}

SkiffMount::~SkiffMount() {
  if (IsSkiffMount(path_)) RunProcess({"fusermount3", "-u", "-z", path_}).status().IgnoreError();
  if (!WaitExit(std::chrono::seconds(10))) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    exited_ = true;
  }
  rmdir(path_.c_str());
  unlink(log_.c_str());
}

bool SkiffMount::WaitExit(std::chrono::seconds timeout) {
  if (exited_) return true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return true;
    }
    usleep(20000);
  }
  return false;
}

std::string SkiffMount::Log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool FinishesWithin(std::chrono::seconds timeout, std::function<void()> f) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> fut = done->get_future();
  std::thread([f = std::move(f), done] {
    f();
    done->set_value();
  }).detach();
  return fut.wait_for(timeout) == std::future_status::ready;
}

}  // namespace skiff::testing
