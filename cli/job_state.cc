#include "cli/job_state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <sstream>

#include "cli/json_value.h"

namespace skiff::cli {
namespace {

std::string Errno(int err) { return std::strerror(err); }

// later - earlier, saturated at the int64 limits: a state file may hold any number
// (hand-edited, corrupt, another version), and an age must never overflow.
int64_t Elapsed(int64_t later, int64_t earlier) {
  int64_t d = 0;
  if (__builtin_sub_overflow(later, earlier, &d))
    return earlier < 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
  return d;
}

Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Io("writing " + path + ": " + Errno(errno));
    }
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Status MakeDirs(const std::string& path, unsigned mode) {
  if (path.empty()) return Status::Invalid("empty directory path");
  std::string cur;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    cur = path.substr(0, next);
    pos = next + 1;
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
      return Status::Io("creating directory " + cur + ": " + Errno(errno));
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::Io(path + " is not a directory");
  }
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& path, const std::string& content, unsigned mode) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Status::Io("creating " + tmp + ": " + Errno(errno));
  Status s = WriteAll(fd, content, tmp);
  if (s.ok() && ::fchmod(fd, mode) != 0) s = Status::Io("chmod " + tmp + ": " + Errno(errno));
  if (s.ok() && ::fsync(fd) != 0) s = Status::Io("fsync " + tmp + ": " + Errno(errno));
  if (::close(fd) != 0 && s.ok()) s = Status::Io("closing " + tmp + ": " + Errno(errno));
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = Status::Io("renaming " + tmp + " to " + path + ": " + Errno(errno));
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  int dfd = ::open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // best effort: the rename is already visible
    ::close(dfd);
  }
  return Status::Ok();
}

std::string StateFilePath(const std::string& state_dir, const std::string& job) {
  return state_dir + "/" + job + ".json";
}

std::string JobStateToJson(const JobState& s) {
  std::ostringstream o;
  auto opt = [](const std::optional<int64_t>& v) {
    return v ? std::to_string(*v) : std::string("null");
  };
  o << "{\n"
    << "  \"version\": 1,\n"
    << "  \"job\": " << JsonQuote(s.job) << ",\n"
    << "  \"repository\": " << JsonQuote(s.repository) << ",\n"
    << "  \"last_run_start\": " << s.last_run_start << ",\n"
    << "  \"last_run_end\": " << s.last_run_end << ",\n"
    << "  \"last_exit_code\": " << s.last_exit_code << ",\n"
    << "  \"last_result\": " << JsonQuote(s.last_result) << ",\n"
    << "  \"last_success\": " << s.last_success << ",\n"
    << "  \"last_failure\": " << s.last_failure << ",\n"
    << "  \"last_failure_message\": " << JsonQuote(s.last_failure_message) << ",\n"
    << "  \"consecutive_failures\": " << s.consecutive_failures << ",\n"
    << "  \"last_check\": " << s.last_check << ",\n"
    << "  \"snapshot_count\": " << opt(s.snapshot_count) << ",\n"
    << "  \"repository_bytes\": " << opt(s.repository_bytes) << ",\n"
    << "  \"newest_snapshot\": " << JsonQuote(s.newest_snapshot) << ",\n"
    << "  \"newest_snapshot_time\": " << s.newest_snapshot_time << ",\n"
    << "  \"snapshot_bytes\": " << opt(s.snapshot_bytes) << "\n"
    << "}\n";
  return o.str();
}

Result<JobState> JobStateFromJson(const std::string& text, const std::string& path) {
  Result<JsonValue> parsed = ParseJson(text);
  if (!parsed.ok()) return parsed.status().WithContext("state file " + path);
  const JsonValue& v = *parsed;
  if (!v.is_object()) return Status::Corrupt("state file " + path + ": not a JSON object");
  const JsonValue* version = v.Find("version");
  if (!version || version->AsInt() != 1) {
    return Status::Corrupt("state file " + path + ": unknown or missing version");
  }
  JobState s;
  auto str = [&](const char* key, std::string& out) {
    if (const JsonValue* f = v.Find(key)) out = f->AsString().value_or("");
  };
  auto num = [&](const char* key, int64_t& out) {
    if (const JsonValue* f = v.Find(key)) out = f->AsInt().value_or(0);
  };
  auto opt = [&](const char* key, std::optional<int64_t>& out) {
    if (const JsonValue* f = v.Find(key)) out = f->AsInt();
  };
  str("job", s.job);
  str("repository", s.repository);
  num("last_run_start", s.last_run_start);
  num("last_run_end", s.last_run_end);
  int64_t code = 0;
  num("last_exit_code", code);
  s.last_exit_code = static_cast<int>(code);
  str("last_result", s.last_result);
  num("last_success", s.last_success);
  num("last_failure", s.last_failure);
  str("last_failure_message", s.last_failure_message);
  num("consecutive_failures", s.consecutive_failures);
  num("last_check", s.last_check);
  opt("snapshot_count", s.snapshot_count);
  opt("repository_bytes", s.repository_bytes);
  str("newest_snapshot", s.newest_snapshot);
  num("newest_snapshot_time", s.newest_snapshot_time);
  opt("snapshot_bytes", s.snapshot_bytes);
  return s;
}

Result<JobState> LoadJobState(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    if (err == ENOENT) return Status::NotFound("no state file " + path + " (job never ran)");
    return Status::Io("reading " + path + ": " + Errno(err));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return JobStateFromJson(buf.str(), path);
}

Status SaveJobState(const std::string& path, const JobState& state) {
  SKIFF_RETURN_IF_ERROR(MakeDirs(DirName(path), 0755));
  return WriteFileAtomically(path, JobStateToJson(state), 0644);
}

std::string FormatAge(int64_t seconds) {
  if (seconds < 0) seconds = 0;
  int64_t d = seconds / 86400, h = (seconds % 86400) / 3600, m = (seconds % 3600) / 60,
          s = seconds % 60;
  if (d > 0) return std::to_string(d) + "d " + std::to_string(h) + "h";
  if (h > 0) return std::to_string(h) + "h " + std::to_string(m) + "m";
  if (m > 0) return std::to_string(m) + "m " + std::to_string(s) + "s";
  return std::to_string(s) + "s";
}

std::string FormatTime(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  // A year past what struct tm holds (a corrupt state file): show the number instead.
  if (gmtime_r(&t, &tm) == nullptr) return std::to_string(unix_seconds) + " (out of range)";
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string FormatBytes(int64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, kUnits[u]);
  }
  return buf;
}

std::string FormatStatus(const JobState& s, int64_t now) {
  std::ostringstream o;
  auto when = [&](int64_t t) {
    return t == 0 ? std::string("never")
                  : FormatTime(t) + " (" + FormatAge(Elapsed(now, t)) + " ago)";
  };
  o << "job " << s.job << "\n";
  if (!s.repository.empty()) o << "  repository:       " << s.repository << "\n";
  if (s.last_run_start == 0) {
    o << "  last run:         never\n";
    return o.str();
  }
  o << "  last run:         " << when(s.last_run_start) << ": " << s.last_result << " (exit "
    << s.last_exit_code << ", took " << FormatAge(Elapsed(s.last_run_end, s.last_run_start))
    << ")\n";
  o << "  last success:     " << when(s.last_success) << "\n";
  o << "  last failure:     " << when(s.last_failure);
  if (s.last_failure != 0 && !s.last_failure_message.empty()) {
    o << ": " << s.last_failure_message;
  }
  o << "\n";
  if (s.consecutive_failures > 0) {
    o << "  failing for:      " << s.consecutive_failures << " run(s) in a row\n";
  }
  o << "  snapshots:        "
    << (s.snapshot_count ? std::to_string(*s.snapshot_count) : std::string("unknown")) << "\n";
  o << "  newest snapshot:  ";
  if (s.newest_snapshot.empty() && s.newest_snapshot_time == 0) {
    o << "unknown";
  } else {
    o << s.newest_snapshot;
    if (s.newest_snapshot_time != 0) {
      o << (s.newest_snapshot.empty() ? "" : ", ")
        << FormatAge(Elapsed(now, s.newest_snapshot_time)) << " old";
    }
  }
  if (s.snapshot_bytes) o << ", " << FormatBytes(*s.snapshot_bytes) << " of files";
  o << "\n";
  if (s.repository_bytes) o << "  repository size:  " << FormatBytes(*s.repository_bytes) << "\n";
  return o.str();
}

namespace {
std::string PromLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}
}  // namespace

std::string FormatPrometheus(const std::vector<JobState>& states, int64_t now) {
  struct Metric {
    const char* name;
    const char* help;
    // Returns false when the job has no value for this metric.
    bool (*get)(const JobState&, int64_t now, double& out);
  };
  static const Metric kMetrics[] = {
      {"skiff_last_run_timestamp_seconds", "Start of the most recent run (Unix time).",
       [](const JobState& s, int64_t, double& v) {
         v = static_cast<double>(s.last_run_start);
         return s.last_run_start != 0;
       }},
      {"skiff_last_run_success", "1 if the most recent run succeeded (possibly with warnings).",
       [](const JobState& s, int64_t, double& v) {
         v = (s.last_result == "success" || s.last_result == "warnings") ? 1 : 0;
         return s.last_run_start != 0;
       }},
      {"skiff_last_run_exit_code", "Exit code of the most recent run.",
       [](const JobState& s, int64_t, double& v) {
         v = s.last_exit_code;
         return s.last_run_start != 0;
       }},
      {"skiff_last_run_duration_seconds", "Wall time of the most recent run.",
       [](const JobState& s, int64_t, double& v) {
         v = static_cast<double>(Elapsed(s.last_run_end, s.last_run_start));
         return s.last_run_start != 0 && s.last_run_end >= s.last_run_start;
       }},
      {"skiff_last_success_timestamp_seconds", "End of the last successful run (Unix time).",
       [](const JobState& s, int64_t, double& v) {
         v = static_cast<double>(s.last_success);
         return true;
       }},
      {"skiff_last_failure_timestamp_seconds", "End of the last failed run (Unix time).",
       [](const JobState& s, int64_t, double& v) {
         v = static_cast<double>(s.last_failure);
         return true;
       }},
      {"skiff_consecutive_failures", "Failed runs since the last success.",
       [](const JobState& s, int64_t, double& v) {
         v = static_cast<double>(s.consecutive_failures);
         return true;
       }},
      {"skiff_snapshots", "Snapshots in the repository after the last successful run.",
       [](const JobState& s, int64_t, double& v) {
         v = s.snapshot_count ? static_cast<double>(*s.snapshot_count) : 0;
         return s.snapshot_count.has_value();
       }},
      {"skiff_repository_size_bytes", "Repository size reported by the last successful run.",
       [](const JobState& s, int64_t, double& v) {
         v = s.repository_bytes ? static_cast<double>(*s.repository_bytes) : 0;
         return s.repository_bytes.has_value();
       }},
      {"skiff_snapshot_size_bytes", "Bytes of files in the newest snapshot.",
       [](const JobState& s, int64_t, double& v) {
         v = s.snapshot_bytes ? static_cast<double>(*s.snapshot_bytes) : 0;
         return s.snapshot_bytes.has_value();
       }},
      {"skiff_newest_snapshot_age_seconds", "Age of the newest snapshot when this was written.",
       [](const JobState& s, int64_t now, double& v) {
         v = static_cast<double>(Elapsed(now, s.newest_snapshot_time));
         return s.newest_snapshot_time != 0;
       }},
  };
  std::ostringstream o;
  for (const Metric& m : kMetrics) {
    o << "# HELP " << m.name << " " << m.help << "\n# TYPE " << m.name << " gauge\n";
    for (const JobState& s : states) {
      double v = 0;
      if (!m.get(s, now, v)) continue;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", v);
      o << m.name << "{job=\"" << PromLabel(s.job) << "\"} " << buf << "\n";
    }
  }
  return o.str();
}

std::string StalenessProblem(const JobState& s, int64_t max_age, int64_t now) {
  if (s.last_success == 0) {
    return "job " + s.job + " has never completed a backup";
  }
  int64_t age = Elapsed(now, s.last_success);
  if (age > max_age) {
    std::string msg = "job " + s.job + ": last success " + FormatAge(age) + " ago, older than " +
                      FormatAge(max_age);
    if (s.last_failure > s.last_success && !s.last_failure_message.empty()) {
      msg += " (last failure: " + s.last_failure_message + ")";
    }
    return msg;
  }
  return "";
}

}  // namespace skiff::cli
