// `skiff run JOB`: one configured backup job, end to end — the line to put in cron.
//
// pre-hook -> `skiff backup` -> `skiff prune` (when keep rules are set) -> `skiff check`
// (when configured and due) -> post-hook, each step a child process (this same binary,
// /proc/self/exe, with an argv built from the config; hooks through /bin/sh -c). A lock
// file (flock) keeps two runs of one job apart; the outcome goes to the job's state file
// for `skiff status`.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <iostream>

#include "cli/child_process.h"
#include "cli/command.h"
#include "cli/config.h"
#include "cli/job_state.h"
#include "cli/json_value.h"
#include "cli/logging.h"
#include "sync/retention.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff run JOB [--config FILE] [--dry-run] [-v|-q]\n"
    "\n"
    "Runs the backup job JOB of the configuration file: its pre-hook, 'skiff backup' of\n"
    "its sources into its repository, 'skiff prune' with its keep rules, 'skiff check'\n"
    "when configured and due, then its post-hook. The result is recorded for\n"
    "'skiff status'. A second run of the same job while one is active is refused.\n"
    "\n"
    "Options:\n"
    "  --config FILE   configuration file (default $SKIFF_CONFIG, else\n"
    "                  /etc/skiff/skiff.conf for root, ~/.config/skiff/skiff.conf\n"
    "                  otherwise); see skiff.conf(5)\n"
    "  --dry-run       print the commands the job would run, and run nothing\n"
    "  -v, -vv, -q     more or less output (passed on to the steps)\n"
    "\n"
    "Hooks run with /bin/sh -c and get SKIFF_JOB, SKIFF_REPOSITORY and SKIFF_CONFIG;\n"
    "the post-hook also gets SKIFF_RESULT (success, warnings, failure, unreachable),\n"
    "SKIFF_EXIT_CODE and SKIFF_MESSAGE. A failing pre-hook aborts the job; the post-hook\n"
    "runs whenever the pre-hook was started.\n"
    "\n"
    "Exit codes: 0 success, 1 done with warnings, 2 failure (also: the job is already\n"
    "running), 64 usage or configuration error, 75 server unreachable (try again later).\n";

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

std::string SelfExe() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "/proc/self/exe";
  return std::string(buf, static_cast<size_t>(n));
}

// Whether this build's `skiff backup` takes --bwlimit (its usage text says so).
bool BackupHasBwlimit() {
  auto it = Commands().find("backup");
  return it != Commands().end() && it->second.usage.find("--bwlimit") != std::string::npos;
}

// -F/-i/-p/-o flags shared by every remote step.
std::vector<std::string> SshFlags(const JobConfig& job) {
  std::vector<std::string> f;
  if (!job.ssh_config.empty()) f.insert(f.end(), {"-F", job.ssh_config});
  for (const auto& i : job.identity_files) f.insert(f.end(), {"-i", i});
  if (job.port) f.insert(f.end(), {"-p", std::to_string(*job.port)});
  for (const auto& o : job.ssh_options) f.insert(f.end(), {"-o", o});
  return f;
}

std::vector<std::string> BackupArgv(const std::string& exe, const JobConfig& job) {
  std::vector<std::string> a = {exe, "backup", "--json"};
  for (const auto& e : job.excludes) a.insert(a.end(), {"--exclude", e});
  for (const auto& e : job.exclude_from) a.insert(a.end(), {"--exclude-from", e});
  if (job.one_file_system) a.push_back("--one-file-system");
  if (job.bandwidth_limit && BackupHasBwlimit()) {
    a.insert(a.end(), {"--bwlimit", std::to_string(*job.bandwidth_limit)});
  }
  for (const auto& o : job.backup_options) a.push_back(o);
  for (const auto& f : SshFlags(job)) a.push_back(f);
  for (const auto& s : job.sources) a.push_back(s);
  a.push_back(job.repository);
  return a;
}

std::vector<std::string> PruneArgv(const std::string& exe, const JobConfig& job) {
  std::vector<std::string> a = {exe, "prune"};
  const KeepRules& k = job.keep;
  auto add = [&](const char* flag, const std::optional<int64_t>& v) {
    if (v) a.insert(a.end(), {flag, std::to_string(*v)});
  };
  add("--keep-last", k.last);
  add("--keep-hourly", k.hourly);
  add("--keep-daily", k.daily);
  add("--keep-weekly", k.weekly);
  add("--keep-monthly", k.monthly);
  add("--keep-yearly", k.yearly);
  if (!k.within.empty()) a.insert(a.end(), {"--keep-within", k.within});
  for (const auto& f : SshFlags(job)) a.push_back(f);
  a.push_back(job.repository);
  return a;
}

std::vector<std::string> CheckArgv(const std::string& exe, const JobConfig& job) {
  std::vector<std::string> a = {exe, "check"};
  if (job.check_read_data) a.push_back("--read-data");
  for (const auto& f : SshFlags(job)) a.push_back(f);
  a.push_back(job.repository);
  return a;
}

std::vector<std::string> SnapshotsArgv(const std::string& exe, const JobConfig& job) {
  std::vector<std::string> a = {exe, "snapshots", "--json"};
  for (const auto& f : SshFlags(job)) a.push_back(f);
  a.push_back(job.repository);
  return a;
}

bool CheckDue(const JobConfig& job, const JobState& state, int64_t now) {
  if (!job.check) return false;
  if (job.check_every == 0 || state.last_check == 0) return true;
  // Not `now - last_check`: a corrupt state file may hold any int64 (overflow). check_every
  // is a parsed, bounded duration, so this side cannot overflow.
  return state.last_check <= now - job.check_every;
}

// A snapshot's name ("2026-11-22T001000Z") -> its Unix time, or 0.
int64_t ParseSnapshotTime(const std::string& name) {
  return sync::ParseSnapshotName(name).value_or(0);
}

// Takes the repository figures from the backup's --json summary (the last line of its
// stdout that is a JSON object). Missing figures stay as they were.
void ApplyBackupSummary(const std::string& out, JobState& state) {
  size_t end = out.size();
  while (end > 0) {
    size_t start = out.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    std::string line = out.substr(start, end - start);
    end = start == 0 ? 0 : start - 1;
    if (line.empty() || line[0] != '{') continue;
    Result<JsonValue> v = ParseJson(line);
    if (!v.ok() || !v->is_object()) continue;
    auto find = [&](std::initializer_list<const char*> keys) -> const JsonValue* {
      for (const char* k : keys) {
        if (const JsonValue* f = v->Find(k)) return f;
      }
      return nullptr;
    };
    if (const JsonValue* f = find({"snapshot", "snapshot_name"})) {
      if (auto s = f->AsString()) {
        state.newest_snapshot = *s;
        state.newest_snapshot_time = ParseSnapshotTime(*s);
      }
    }
    if (const JsonValue* f = find({"snapshot_time", "time"})) {
      if (auto t = f->AsInt()) state.newest_snapshot_time = *t;
    }
    if (const JsonValue* f = find({"snapshot_count", "snapshots"})) {
      if (auto n = f->AsInt()) state.snapshot_count = *n;
    }
    if (const JsonValue* f = find({"bytes"})) {
      if (auto n = f->AsInt()) state.snapshot_bytes = *n;
    }
    if (const JsonValue* f = find({"repository_bytes", "repository_size", "repo_bytes"})) {
      if (auto n = f->AsInt()) state.repository_bytes = *n;
    }
    return;
  }
}

// Takes the snapshot count and the newest snapshot from `skiff snapshots --json` (a JSON
// array of names, oldest first). Returns false when the output is not such an array.
bool ApplySnapshotList(const std::string& out, JobState& state) {
  Result<JsonValue> v = ParseJson(out);
  if (!v.ok() || !v->AsArray()) return false;
  const JsonValue::Array& names = *v->AsArray();
  state.snapshot_count = static_cast<int64_t>(names.size());
  if (!names.empty()) {
    std::string newest = names.back().AsString().value_or("");
    if (!newest.empty()) {
      if (newest != state.newest_snapshot) state.snapshot_bytes.reset();
      state.newest_snapshot = newest;
      state.newest_snapshot_time = ParseSnapshotTime(newest);
    }
  } else {
    state.newest_snapshot.clear();
    state.newest_snapshot_time = 0;
    state.snapshot_bytes.reset();
  }
  return true;
}

// Holds the job's lock file open with an exclusive flock for the object's lifetime.
class JobLock {
 public:
  JobLock() = default;
  JobLock(const JobLock&) = delete;
  JobLock& operator=(const JobLock&) = delete;
  ~JobLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock; the file stays (harmless)
  }

  // kBusy when another process holds it (message names its pid when known).
  Status Acquire(const std::string& dir, const std::string& job) {
    SKIFF_RETURN_IF_ERROR(MakeDirs(dir, 0755));
    std::string path = dir + "/" + job + ".lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return Status::Io("opening lock file " + path + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      if (err == EWOULDBLOCK) {
        char buf[32] = {};
        ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
        std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
        while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
        return Status(Code::kBusy, "job " + job + " is already running" +
                                       (pid.empty() ? "" : " (pid " + pid + ")") +
                                       "; not starting a second run (lock " + path + ")");
      }
      return Status::Io("locking " + path + ": " + std::strerror(err));
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
      LogDebug("could not write pid into " + path);
    }
    return Status::Ok();
  }

 private:
  int fd_ = -1;
};

struct StepOutcome {
  int exit_code = 0;
  std::string message;
  std::string out;
};

StepOutcome RunStep(const std::string& what, const std::vector<std::string>& argv,
                    std::vector<std::string> env, bool capture) {
  LogInfo(what + ": " + QuoteArgv(argv));
  ChildOptions opts;
  opts.capture_stdout = capture;
  opts.tee_stderr = !::isatty(STDERR_FILENO);
  opts.extra_env = std::move(env);
  Result<ChildResult> r = RunChild(argv, opts);
  if (!r.ok()) return {kExitFailure, what + ": " + r.status().message(), ""};
  StepOutcome o{r->exit_code, "", std::move(r->out)};
  if (r->exit_code != 0) {
    std::string detail = r->last_error_line;
    if (detail.rfind("skiff: ", 0) == 0) detail = detail.substr(7);
    o.message = what + " exited with code " + std::to_string(r->exit_code) +
                (detail.empty() ? "" : ": " + detail);
  }
  return o;
}

int RunJob(const std::vector<std::string>& in_args) {
  std::vector<std::string> args = in_args;
  InitLogging("skiff");
  ParseLogFlags(args);
  std::string config_path, job_name;
  bool dry_run = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--config") {
      if (i + 1 >= args.size()) return UsageError("run", "--config needs a file");
      config_path = args[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--dry-run" || a == "-n") {
      dry_run = true;
    } else if (!a.empty() && a[0] == '-') {
      return UsageError("run", "unknown option " + a);
    } else if (job_name.empty()) {
      job_name = a;
    } else {
      return UsageError("run", "one job at a time (got '" + job_name + "' and '" + a + "')");
    }
  }
  if (job_name.empty()) return UsageError("run", "which job? (see the [job NAME] sections)");
  config_path = ResolveConfigPath(config_path);
  Result<Config> config = LoadConfig(config_path);
  if (!config.ok()) {
    LogError(config.status().message());
    return config.status().Is(Code::kInvalidArgument) ? kExitUsage : kExitFailure;
  }
  const JobConfig* job = config->FindJob(job_name);
  if (!job) {
    std::string names;
    for (const auto& j : config->jobs) names += (names.empty() ? "" : ", ") + j.name;
    return UsageError("run", "no job '" + job_name + "' in " + config_path +
                                 (names.empty() ? " (it defines none)" : " (jobs: " + names + ")"));
  }
  const std::string exe = SelfExe();
  std::string state_dir =
      config->global.state_dir.empty() ? DefaultStateDir() : config->global.state_dir;
  std::string lock_dir =
      config->global.lock_dir.empty() ? DefaultLockDir() : config->global.lock_dir;

  // The previous record; read under the lock for a real run, so that a run finishing
  // just before ours is not overwritten with older figures.
  auto load_previous = [&]() {
    Result<JobState> previous = LoadJobState(StateFilePath(state_dir, job->name));
    if (!previous.ok() && !previous.status().Is(Code::kNotFound)) {
      LogWarning(previous.status().message() + "; starting a fresh record");
    }
    return previous.ok() ? *previous : JobState{};
  };
  const int64_t start = Now();

  if (dry_run) {
    JobState state = load_previous();
    if (!job->pre_hook.empty()) std::cout << "/bin/sh -c " << QuoteArgv({job->pre_hook}) << "\n";
    std::cout << QuoteArgv(BackupArgv(exe, *job)) << "\n";
    if (job->keep.Any()) std::cout << QuoteArgv(PruneArgv(exe, *job)) << "\n";
    if (CheckDue(*job, state, start)) std::cout << QuoteArgv(CheckArgv(exe, *job)) << "\n";
    if (!job->post_hook.empty()) {
      std::cout << "/bin/sh -c " << QuoteArgv({job->post_hook}) << "\n";
    }
    return kExitOk;
  }

  JobLock lock;
  if (Status s = lock.Acquire(lock_dir, job->name); !s.ok()) {
    LogError(s.message());
    return kExitFailure;
  }
  JobState state = load_previous();
  state.job = job->name;
  state.repository = job->repository;
  state.last_run_start = start;
  std::vector<std::string> env = {"SKIFF_JOB=" + job->name, "SKIFF_REPOSITORY=" + job->repository,
                                  "SKIFF_CONFIG=" + config_path};
  LogNotice("job " + job->name + ": starting backup to " + job->repository);

  std::string result = "success";
  int exit_code = kExitOk;
  std::string message;
  auto fail = [&](const std::string& r, int code, const std::string& m) {
    result = r;
    exit_code = code;
    message = m;
  };

  if (!job->pre_hook.empty()) {
    StepOutcome pre = RunStep("pre-hook", {"/bin/sh", "-c", job->pre_hook}, env, false);
    if (pre.exit_code != 0) fail("failure", kExitFailure, pre.message + "; backup not started");
  }
  if (exit_code == kExitOk) {
    if (job->bandwidth_limit && !BackupHasBwlimit()) {
      fail("warnings", kExitWarnings,
           "bandwidth-limit is set but this skiff backup has no --bwlimit; ran unlimited");
      LogWarning(message);
    }
    StepOutcome b = RunStep("backup", BackupArgv(exe, *job), env, true);
    if (b.exit_code == kExitOk || b.exit_code == kExitWarnings) {
      ApplyBackupSummary(b.out, state);
      if (b.exit_code == kExitWarnings) {
        fail("warnings", kExitWarnings, "backup completed with warnings");
      }
    } else if (b.exit_code == kExitTempFail) {
      fail("unreachable", kExitTempFail,
           "repository " + job->repository + " unreachable; try again later (" + b.message + ")");
    } else {
      fail("failure", kExitFailure, b.message);
    }
  }
  if (exit_code <= kExitWarnings && job->keep.Any()) {
    StepOutcome p = RunStep("prune", PruneArgv(exe, *job), env, false);
    if (p.exit_code == kExitTempFail) {
      fail("unreachable", kExitTempFail, "repository unreachable during prune: " + p.message);
    } else if (p.exit_code != 0) {
      fail("failure", kExitFailure, p.message);
    }
  }
  if (exit_code <= kExitWarnings) {
    // The figures for `skiff status` (count and newest after prune); a failure here
    // does not fail the job, it only leaves them as they were.
    StepOutcome l = RunStep("snapshots", SnapshotsArgv(exe, *job), env, true);
    if (l.exit_code != 0 || !ApplySnapshotList(l.out, state)) {
      LogWarning("could not list the snapshots for the status figures" +
                 (l.message.empty() ? std::string() : ": " + l.message));
    }
  }
  if (exit_code <= kExitWarnings && CheckDue(*job, state, start)) {
    StepOutcome c = RunStep("check", CheckArgv(exe, *job), env, false);
    if (c.exit_code == 0) {
      state.last_check = Now();
    } else if (c.exit_code == kExitTempFail) {
      fail("unreachable", kExitTempFail, "repository unreachable during check: " + c.message);
    } else {
      fail("failure", kExitFailure, c.message);
    }
  }
  if (!job->post_hook.empty()) {
    std::vector<std::string> post_env = env;
    post_env.push_back("SKIFF_RESULT=" + result);
    post_env.push_back("SKIFF_EXIT_CODE=" + std::to_string(exit_code));
    post_env.push_back("SKIFF_MESSAGE=" + message);
    StepOutcome post = RunStep("post-hook", {"/bin/sh", "-c", job->post_hook}, post_env, false);
    if (post.exit_code != 0) {
      LogWarning(post.message);
      if (exit_code == kExitOk) fail("warnings", kExitWarnings, post.message);
    }
  }

  const int64_t end = Now();
  state.last_run_end = end;
  state.last_exit_code = exit_code;
  state.last_result = result;
  if (exit_code <= kExitWarnings) {
    state.last_success = end;
    state.consecutive_failures = 0;
  } else {
    state.last_failure = end;
    state.last_failure_message = message;
    ++state.consecutive_failures;
  }
  if (Status s = SaveJobState(StateFilePath(state_dir, job->name), state); !s.ok()) {
    LogError("recording the result: " + s.message());
    if (exit_code == kExitOk) exit_code = kExitWarnings;
  }
  if (exit_code == kExitOk) {
    LogNotice("job " + job->name + ": success" +
              (state.newest_snapshot.empty() ? "" : ", snapshot " + state.newest_snapshot));
  } else if (exit_code == kExitWarnings) {
    LogWarning("job " + job->name + ": " + message);
  } else {
    LogError("job " + job->name + ": " + message);
  }
  return exit_code;
}

const CommandRegistration kReg{
    {"run", "run a configured backup job (backup, prune, check, hooks)", kUsage, RunJob}};

}  // namespace
}  // namespace skiff::cli
