// `skiff status`: what the local state files say about the configured backup jobs.
#include <ctime>
#include <iostream>

#include "cli/command.h"
#include "cli/config.h"
#include "cli/job_state.h"
#include "cli/logging.h"

namespace skiff::cli {
namespace {

constexpr char kUsage[] =
    "usage: skiff status [JOB...] [--config FILE] [--max-age DURATION] [--prometheus FILE]\n"
    "\n"
    "Shows, for each job of the configuration file (or only the JOBs named), the last\n"
    "run, the last success, the last failure with its message, the snapshot count and\n"
    "the age and size of the newest snapshot, as recorded by 'skiff run'.\n"
    "\n"
    "Options:\n"
    "  --config FILE       configuration file (default $SKIFF_CONFIG, else\n"
    "                      /etc/skiff/skiff.conf for root, ~/.config/skiff/skiff.conf)\n"
    "  --max-age DURATION  exit 2 when a job's last success is older than DURATION\n"
    "                      (e.g. 90min, 26h, 2d) or when it never succeeded\n"
    "  --prometheus FILE   also write the figures as a node-exporter textfile\n"
    "                      (replaced atomically; name it *.prom)\n"
    "  -q                  print nothing; only the exit code and problems\n"
    "  -v                  more detail\n"
    "\n"
    "Exit codes: 0 fine, 2 a job is too old (--max-age) or a state file is unreadable,\n"
    "64 usage error.\n";

int RunStatus(const std::vector<std::string>& in_args) {
  std::vector<std::string> args = in_args;
  InitLogging("skiff");
  ParseLogFlags(args);
  std::string config_path, prometheus_path;
  std::optional<int64_t> max_age;
  std::vector<std::string> names;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* flag) -> std::optional<std::string> {
      if (i + 1 >= args.size()) return std::nullopt;
      (void)flag;
      return args[++i];
    };
    if (a == "--config" || a == "--max-age" || a == "--prometheus") {
      std::optional<std::string> v = value(a.c_str());
      if (!v) return UsageError("status", a + " needs a value");
      if (a == "--config") {
        config_path = *v;
      } else if (a == "--prometheus") {
        prometheus_path = *v;
      } else {
        Result<int64_t> d = ParseDuration(*v);
        if (!d.ok()) return UsageError("status", "--max-age: " + d.status().message());
        max_age = *d;
      }
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a.rfind("--prometheus=", 0) == 0) {
      prometheus_path = a.substr(13);
    } else if (a.rfind("--max-age=", 0) == 0) {
      Result<int64_t> d = ParseDuration(a.substr(10));
      if (!d.ok()) return UsageError("status", "--max-age: " + d.status().message());
      max_age = *d;
    } else if (a == "--") {
      names.insert(names.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    } else if (!a.empty() && a[0] == '-') {
      return UsageError("status", "unknown option " + a);
    } else {
      names.push_back(a);
    }
  }
  config_path = ResolveConfigPath(config_path);
  Result<Config> config = LoadConfig(config_path);
  if (!config.ok()) {
    LogError(config.status().message());
    return config.status().Is(Code::kInvalidArgument) ? kExitUsage : kExitFailure;
  }
  std::vector<const JobConfig*> jobs;
  if (names.empty()) {
    for (const auto& j : config->jobs) jobs.push_back(&j);
    if (jobs.empty()) {
      LogError("no jobs in " + config_path);
      return kExitFailure;
    }
  } else {
    for (const auto& n : names) {
      const JobConfig* j = config->FindJob(n);
      if (!j) return UsageError("status", "no job '" + n + "' in " + config_path);
      jobs.push_back(j);
    }
  }
  std::string state_dir =
      config->global.state_dir.empty() ? DefaultStateDir() : config->global.state_dir;
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  int exit_code = kExitOk;
  std::vector<JobState> states;
  bool quiet = GetLogLevel() <= LogLevel::kWarning;
  for (const JobConfig* j : jobs) {
    std::string path = StateFilePath(state_dir, j->name);
    Result<JobState> st = LoadJobState(path);
    JobState s;
    if (st.ok()) {
      s = *st;
    } else if (!st.status().Is(Code::kNotFound)) {
      LogError(st.status().message());
      exit_code = kExitFailure;
    }
    s.job = j->name;
    if (s.repository.empty()) s.repository = j->repository;
    if (!quiet) {
      std::cout << (states.empty() ? "" : "\n") << FormatStatus(s, now);
      if (GetLogLevel() >= LogLevel::kInfo) std::cout << "  state file:       " << path << "\n";
    }
    if (max_age) {
      std::string problem = StalenessProblem(s, *max_age, now);
      if (!problem.empty()) {
        LogError(problem);
        exit_code = kExitFailure;
      }
    }
    states.push_back(std::move(s));
  }
  std::cout.flush();
  if (!prometheus_path.empty()) {
    Status w = WriteFileAtomically(prometheus_path, FormatPrometheus(states, now), 0644);
    if (!w.ok()) {
      LogError(w.message());
      exit_code = kExitFailure;
    }
  }
  return exit_code;
}

const CommandRegistration kReg{
    {"status", "show the last runs of backup jobs (for monitoring)", kUsage, RunStatus}};

}  // namespace
}  // namespace skiff::cli
