#include "tests/support/sshd_fixture.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "tests/support/subprocess.h"

namespace skiff::testing {
namespace {

// Runs `sshd-env args...`; a non-zero exit becomes a Status carrying its stderr.
Result<std::string> RunSshdEnv(std::vector<std::string> args) {
  args.insert(args.begin(), SshdFixture::SshdEnvPath());
  // Lets a later run clean up after this process if it dies without its destructor
  // (a crash, or a ctest timeout's SIGKILL).
  ProcessOptions options;
  options.extra_env.push_back("SSHD_ENV_OWNER_PID=" + std::to_string(::getpid()));
  SKIFF_ASSIGN_OR_RETURN(ProcessResult r, RunProcess(args, options));
  if (r.exit_code != 0) {
    return Status::Io(JoinArgv(args) + " failed (exit " + std::to_string(r.exit_code) +
                      "): " + r.err);
  }
  return r.out;
}

Result<std::map<std::string, std::string>> ReadEnvFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read " + path);
  std::map<std::string, std::string> vars;
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) vars[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return vars;
}

}  // namespace

std::string SshdFixture::SshdEnvPath() {
  if (const char* p = std::getenv("SKIFF_SSHD_ENV"); p != nullptr && *p != '\0') return p;
  return SKIFF_SSHD_ENV_PATH;
}

SshdFixture::SshdFixture(std::string dir, bool) : dir_(std::move(dir)) {}

SshdFixture::SshdFixture() {
  char tmpl[] = "/tmp/skiff-sshd-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    throw std::runtime_error("SshdFixture: mkdtemp /tmp/skiff-sshd-XXXXXX failed");
  }
  dir_ = tmpl;
  if (Status st = Setup(); !st.ok()) {
    // A throwing constructor runs no destructor: clean up the half-made DIR here.
    RunSshdEnv({"stop", dir_}).status().IgnoreError();
    ::rmdir(dir_.c_str());
    throw std::runtime_error("SshdFixture: " + st.ToString());
  }
}

Result<std::unique_ptr<SshdFixture>> SshdFixture::Create() {
  char tmpl[] = "/tmp/skiff-sshd-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return Status::Io("mkdtemp /tmp/skiff-sshd-XXXXXX failed");
  std::unique_ptr<SshdFixture> f(new SshdFixture(tmpl, true));
  SKIFF_RETURN_IF_ERROR(f->Setup());
  return f;
}

Status SshdFixture::Setup() {
  auto started = RunSshdEnv({"start", dir_});
  // sshd-env start leaves a half-made DIR behind on failure; stop cleans any of it.
  started_ = true;
  if (!started.ok()) return started.status().WithContext("starting private sshd");
  SKIFF_ASSIGN_OR_RETURN(auto vars, ReadEnvFile(dir_ + "/env"));
  for (const char* key :
       {"SSHD_PORT", "PLAIN_LOCAL_DIR", "PLAIN_REMOTE_DIR", "SFTP_LOCAL_DIR", "SFTP_REMOTE_DIR"}) {
    if (vars[key].empty()) return Status::Corrupt(dir_ + "/env lacks " + key);
  }
  port_ = static_cast<uint16_t>(std::stoi(vars["SSHD_PORT"]));
  plain_local_dir_ = vars["PLAIN_LOCAL_DIR"];
  plain_remote_dir_ = vars["PLAIN_REMOTE_DIR"];
  sftp_local_dir_ = vars["SFTP_LOCAL_DIR"];
  sftp_remote_dir_ = vars["SFTP_REMOTE_DIR"];
  return Status::Ok();
}

SshdFixture::~SshdFixture() {
  if (!started_) return;
  auto r = RunSshdEnv({"stop", dir_});
  if (!r.ok()) {
    // Destructors cannot fail; leave a trace for whoever finds the leftovers.
    std::fprintf(stderr, "SshdFixture: %s\n", r.status().ToString().c_str());
  }
}

Status SshdFixture::Stop() {
  auto r = RunSshdEnv({"halt", dir_});
  return r.ok() ? Status::Ok() : r.status().WithContext("stopping private sshd");
}

Status SshdFixture::Start() {
  auto r = RunSshdEnv({"resume", dir_});
  return r.ok() ? Status::Ok() : r.status().WithContext("restarting private sshd");
}

pid_t SshdFixture::pid() const {
  std::ifstream in(dir_ + "/sshd.pid");
  long pid = 0;
  if (!(in >> pid)) return 0;
  return static_cast<pid_t>(pid);
}

Result<std::string> SshdFixture::AddKey(const std::string& user, const std::string& options) {
  SKIFF_ASSIGN_OR_RETURN(std::string out, RunSshdEnv({"add-key", dir_, user, options}));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (out.empty()) return Status::Io("sshd-env add-key printed no key path");
  return out;
}

Result<std::string> SshdFixture::AddRestrictedKey(const std::string& authorized_keys_options) {
  return AddKey("skiff-restricted", authorized_keys_options);
}

Result<std::string> SshdFixture::AddPlainKey(const std::string& authorized_keys_options) {
  return AddKey("skiff-plain", authorized_keys_options);
}

Status SshdFixture::TrustPort(uint16_t port) {
  auto r = RunSshdEnv({"trust-port", dir_, std::to_string(port)});
  return r.ok() ? Status::Ok() : r.status();
}

std::string SshdFixture::LogTail(int lines) const {
  std::ifstream in(sshd_log_path());
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) all.push_back(line);
  std::ostringstream out;
  size_t from = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0;
  for (size_t i = from; i < all.size(); ++i) out << all[i] << '\n';
  return out.str();
}

}  // namespace skiff::testing
