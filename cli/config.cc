#include "cli/config.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

#include "sync/retention.h"

namespace skiff::cli {
namespace {

std::string_view Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string HomeDir() {
  const char* home = std::getenv("HOME");
  return home && *home ? home : "/";
}

// "~/x" -> "$HOME/x"; other values unchanged.
std::string ExpandHome(std::string_view v) {
  if (v == "~") return HomeDir();
  if (v.size() >= 2 && v[0] == '~' && v[1] == '/') return HomeDir() + std::string(v.substr(1));
  return std::string(v);
}

Result<int64_t> ParseCount(std::string_view v) {
  if (v.empty() || v.find_first_not_of("0123456789") != std::string_view::npos || v.size() > 12) {
    return Status::Invalid("expected a non-negative whole number, got '" + std::string(v) + "'");
  }
  return static_cast<int64_t>(std::stoll(std::string(v)));
}

Result<bool> ParseBool(std::string_view v) {
  if (v == "yes" || v == "true" || v == "on" || v == "1") return true;
  if (v == "no" || v == "false" || v == "off" || v == "0") return false;
  return Status::Invalid("expected yes or no, got '" + std::string(v) + "'");
}

// What a key does with its value inside [job NAME]; returns a problem description.
using JobSetter = std::function<Status(JobConfig&, std::string_view)>;

Status Absolute(std::string_view key, std::string_view v) {
  if (v.empty() || v[0] != '/') {
    return Status::Invalid(std::string(key) +
                           " must be an absolute path (or start with ~/), got '" + std::string(v) +
                           "'");
  }
  return Status::Ok();
}

struct KeyInfo {
  bool repeatable;
  JobSetter set;
};

Status SetCount(std::optional<int64_t>& field, std::string_view v) {
  Result<int64_t> n = ParseCount(v);
  if (!n.ok()) return n.status();
  field = *n;
  return Status::Ok();
}

const std::map<std::string, KeyInfo, std::less<>>& JobKeys() {
  static const auto* keys = new std::map<std::string, KeyInfo, std::less<>>{
      {"source",
       {true,
        [](JobConfig& j, std::string_view v) {
          std::string p = ExpandHome(v);
          SKIFF_RETURN_IF_ERROR(Absolute("source", p));
          j.sources.push_back(p);
          return Status::Ok();
        }}},
      {"repository",
       {false,
        [](JobConfig& j, std::string_view v) {
          j.repository = ExpandHome(v);
          return Status::Ok();
        }}},
      {"exclude",
       {true,
        [](JobConfig& j, std::string_view v) {
          j.excludes.emplace_back(v);
          return Status::Ok();
        }}},
      {"exclude-from",
       {true,
        [](JobConfig& j, std::string_view v) {
          std::string p = ExpandHome(v);
          SKIFF_RETURN_IF_ERROR(Absolute("exclude-from", p));
          j.exclude_from.push_back(p);
          return Status::Ok();
        }}},
      {"one-file-system",
       {false,
        [](JobConfig& j, std::string_view v) {
          SKIFF_ASSIGN_OR_RETURN(j.one_file_system, ParseBool(v));
          return Status::Ok();
        }}},
      {"identity",
       {true,
        [](JobConfig& j, std::string_view v) {
          std::string p = ExpandHome(v);
          SKIFF_RETURN_IF_ERROR(Absolute("identity", p));
          j.identity_files.push_back(p);
          return Status::Ok();
        }}},
      {"ssh-config",
       {false,
        [](JobConfig& j, std::string_view v) {
          j.ssh_config = ExpandHome(v);
          return Absolute("ssh-config", j.ssh_config);
        }}},
      {"port",
       {false,
        [](JobConfig& j, std::string_view v) {
          Result<int64_t> n = ParseCount(v);
          if (!n.ok() || *n < 1 || *n > 65535) {
            return Status::Invalid("port must be 1-65535, got '" + std::string(v) + "'");
          }
          j.port = *n;
          return Status::Ok();
        }}},
      {"ssh-option",
       {true,
        [](JobConfig& j, std::string_view v) {
          if (v.find('=') == std::string_view::npos || v.front() == '=') {
            return Status::Invalid("ssh-option must look like Option=value, got '" +
                                   std::string(v) + "'");
          }
          j.ssh_options.emplace_back(v);
          return Status::Ok();
        }}},
      {"pre-hook",
       {false,
        [](JobConfig& j, std::string_view v) {
          j.pre_hook = v;
          return Status::Ok();
        }}},
      {"post-hook",
       {false,
        [](JobConfig& j, std::string_view v) {
          j.post_hook = v;
          return Status::Ok();
        }}},
      {"bandwidth-limit",
       {false,
        [](JobConfig& j, std::string_view v) {
          SKIFF_ASSIGN_OR_RETURN(j.bandwidth_limit, ParseByteRate(v));
          return Status::Ok();
        }}},
      {"keep-last",
       {false, [](JobConfig& j, std::string_view v) { return SetCount(j.keep.last, v); }}},
      {"keep-hourly",
       {false, [](JobConfig& j, std::string_view v) { return SetCount(j.keep.hourly, v); }}},
      {"keep-daily",
       {false, [](JobConfig& j, std::string_view v) { return SetCount(j.keep.daily, v); }}},
      {"keep-weekly",
       {false, [](JobConfig& j, std::string_view v) { return SetCount(j.keep.weekly, v); }}},
      {"keep-monthly",
       {false, [](JobConfig& j, std::string_view v) { return SetCount(j.keep.monthly, v); }}},
      {"keep-yearly",
       {false, [](JobConfig& j, std::string_view v) { return SetCount(j.keep.yearly, v); }}},
      {"keep-within",
       {false,
        [](JobConfig& j, std::string_view v) {
          // Validated by the parser `skiff prune` itself uses: y, m (months), w, d, h.
          Result<int64_t> d = sync::ParseDuration(std::string(v));
          if (!d.ok()) return d.status();
          j.keep.within = v;
          return Status::Ok();
        }}},
      {"check",
       {false,
        [](JobConfig& j, std::string_view v) {
          SKIFF_ASSIGN_OR_RETURN(j.check, ParseBool(v));
          return Status::Ok();
        }}},
      {"check-read-data",
       {false,
        [](JobConfig& j, std::string_view v) {
          SKIFF_ASSIGN_OR_RETURN(j.check_read_data, ParseBool(v));
          return Status::Ok();
        }}},
      {"check-every",
       {false,
        [](JobConfig& j, std::string_view v) {
          SKIFF_ASSIGN_OR_RETURN(j.check_every, ParseDuration(v));
          return Status::Ok();
        }}},
      {"backup-option",
       {true,
        [](JobConfig& j, std::string_view v) {
          if (v.front() != '-') {
            return Status::Invalid("backup-option must be a flag starting with '-', got '" +
                                   std::string(v) + "'");
          }
          j.backup_options.emplace_back(v);
          return Status::Ok();
        }}},
  };
  return *keys;
}

Status SetGlobal(GlobalConfig& g, std::string_view key, std::string_view v) {
  std::string p = ExpandHome(v);
  if (key == "state-dir") {
    SKIFF_RETURN_IF_ERROR(Absolute(key, p));
    g.state_dir = p;
    return Status::Ok();
  }
  if (key == "lock-dir") {
    SKIFF_RETURN_IF_ERROR(Absolute(key, p));
    g.lock_dir = p;
    return Status::Ok();
  }
  return Status::Invalid("unknown key '" + std::string(key) +
                         "' in [global] (known: state-dir, lock-dir)");
}

}  // namespace

const JobConfig* Config::FindJob(std::string_view name) const {
  for (const auto& j : jobs) {
    if (j.name == name) return &j;
  }
  return nullptr;
}

bool IsValidJobName(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.size() > 100) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<Config> ParseConfig(std::string_view text, const std::string& path) {
  Config config;
  config.path = path;
  enum class Section { kNone, kGlobal, kJob } section = Section::kNone;
  std::map<std::string, int, std::less<>> seen_keys;  // single-valued key -> first line
  std::map<std::string, int, std::less<>> job_lines;  // job name -> header line
  int global_line = 0;
  auto fail = [&](int line, const std::string& problem) {
    return Status::Invalid(path + ":" + std::to_string(line) + ": " + problem);
  };
  auto finish_job = [&]() -> Status {
    if (section != Section::kJob) return Status::Ok();
    const JobConfig& j = config.jobs.back();
    if (j.sources.empty()) {
      return fail(j.line, "job '" + j.name + "' has no 'source' (at least one is needed)");
    }
    if (j.repository.empty()) return fail(j.line, "job '" + j.name + "' has no 'repository'");
    if (j.check_read_data && !j.check) {
      return fail(j.line, "job '" + j.name + "' sets check-read-data but not 'check = yes'");
    }
    return Status::Ok();
  };

  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view raw =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    std::string_view line = Trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.find('\0') != std::string_view::npos) return fail(line_no, "NUL byte in line");

    if (line[0] == '[') {
      if (line.back() != ']') return fail(line_no, "section header is missing its closing ']'");
      SKIFF_RETURN_IF_ERROR(finish_job());
      seen_keys.clear();
      std::string_view inner = Trim(line.substr(1, line.size() - 2));
      if (inner == "global") {
        if (global_line) {
          return fail(line_no,
                      "[global] given twice (first at line " + std::to_string(global_line) + ")");
        }
        global_line = line_no;
        section = Section::kGlobal;
        continue;
      }
      size_t sp = inner.find_first_of(" \t");
      std::string_view kind = inner.substr(0, sp);
      if (kind != "job") {
        return fail(line_no, "unknown section '[" + std::string(inner) +
                                 "]' (expected [global] or [job NAME])");
      }
      std::string_view name = sp == std::string_view::npos ? "" : Trim(inner.substr(sp));
      if (name.empty()) return fail(line_no, "[job] needs a name, as in [job home]");
      if (!IsValidJobName(name)) {
        return fail(line_no, "invalid job name '" + std::string(name) +
                                 "' (use letters, digits, '.', '_' and '-')");
      }
      if (auto it = job_lines.find(name); it != job_lines.end()) {
        return fail(line_no, "job '" + std::string(name) + "' defined twice (first at line " +
                                 std::to_string(it->second) + ")");
      }
      job_lines.emplace(std::string(name), line_no);
      JobConfig job;
      job.name = name;
      job.line = line_no;
      config.jobs.push_back(std::move(job));
      section = Section::kJob;
      continue;
    }

    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return fail(line_no, "expected 'key = value', '[job NAME]' or '[global]', got '" +
                               std::string(line) + "'");
    }
    std::string_view key = Trim(line.substr(0, eq));
    std::string_view value = Trim(line.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    if (key.empty()) return fail(line_no, "missing key before '='");
    if (section == Section::kNone) {
      return fail(line_no, "'" + std::string(key) + "' is outside any section; put it under " +
                               "[global] or [job NAME]");
    }
    if (value.empty()) return fail(line_no, "'" + std::string(key) + "' needs a value");
    if (section == Section::kGlobal) {
      if (auto it = seen_keys.find(key); it != seen_keys.end()) {
        return fail(line_no, "'" + std::string(key) + "' given twice (first at line " +
                                 std::to_string(it->second) + ")");
      }
      seen_keys.emplace(std::string(key), line_no);
      Status s = SetGlobal(config.global, key, value);
      if (!s.ok()) return fail(line_no, s.message());
      continue;
    }
    const auto& keys = JobKeys();
    auto it = keys.find(key);
    if (it == keys.end()) {
      return fail(line_no, "unknown key '" + std::string(key) + "' in [job " +
                               config.jobs.back().name + "]");
    }
    if (!it->second.repeatable) {
      if (auto prev = seen_keys.find(key); prev != seen_keys.end()) {
        return fail(line_no, "'" + std::string(key) + "' given twice (first at line " +
                                 std::to_string(prev->second) + "); only lists may repeat");
      }
      seen_keys.emplace(std::string(key), line_no);
    }
    Status s = it->second.set(config.jobs.back(), value);
    if (!s.ok()) return fail(line_no, std::string(key) + ": " + s.message());
  }
  SKIFF_RETURN_IF_ERROR(finish_job());
  return config;
}

Result<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    Code code = err == ENOENT ? Code::kNotFound : err == EACCES ? Code::kPermission : Code::kIo;
    return Status(code, "cannot read config " + path + ": " + std::strerror(err));
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return Status::Io("reading config " + path + " failed");
  return ParseConfig(buf.str(), path);
}

namespace {
std::string XdgDir(const char* var, const char* fallback_under_home) {
  const char* v = std::getenv(var);
  if (v && v[0] == '/') return v;
  return HomeDir() + "/" + fallback_under_home;
}
}  // namespace

std::string DefaultConfigPath() {
  if (geteuid() == 0) return "/etc/skiff/skiff.conf";
  return XdgDir("XDG_CONFIG_HOME", ".config") + "/skiff/skiff.conf";
}

std::string ResolveConfigPath(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("SKIFF_CONFIG");
  if (env && *env) return env;
  return DefaultConfigPath();
}

std::string DefaultStateDir() {
  if (geteuid() == 0) return "/var/lib/skiff/state";
  return XdgDir("XDG_STATE_HOME", ".local/state") + "/skiff";
}

std::string DefaultLockDir() {
  if (geteuid() == 0) return "/run/skiff";
  const char* run = std::getenv("XDG_RUNTIME_DIR");
  if (run && run[0] == '/') return std::string(run) + "/skiff";
  return DefaultStateDir();
}

Result<int64_t> ParseDuration(std::string_view text) {
  static constexpr char kHint[] = "use e.g. 90s, 15min, 26h, 7d, 2w, 6m (months), 1y";
  std::string_view t = Trim(text);
  if (t.empty()) return Status::Invalid(std::string("empty duration (") + kHint + ")");
  int64_t total = 0;
  size_t i = 0;
  while (i < t.size()) {
    size_t start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    if (i == start || i - start > 12) {
      return Status::Invalid("bad duration '" + std::string(t) + "' (" + kHint + ")");
    }
    int64_t n = std::stoll(std::string(t.substr(start, i - start)));
    int64_t unit = 1;
    if (i == t.size()) {
      if (start != 0) {
        return Status::Invalid("bad duration '" + std::string(t) + "': a unit is needed after " +
                               std::to_string(n));
      }
    } else if (t.substr(i, 3) == "min") {
      unit = 60;
      i += 3;
    } else {
      // The same letters as `skiff prune --keep-within` (m is a 30-day month there).
      switch (t[i]) {
        case 's':
          unit = 1;
          break;
        case 'h':
          unit = 3600;
          break;
        case 'd':
          unit = 86400;
          break;
        case 'w':
          unit = 7 * 86400;
          break;
        case 'm':
          unit = 30 * 86400;
          break;
        case 'y':
          unit = 365 * 86400;
          break;
        default:
          return Status::Invalid("bad duration '" + std::string(t) + "': unknown unit '" +
                                 std::string(1, t[i]) + "' (use s, min, h, d, w, m or y)");
      }
      ++i;
    }
    if (n > std::numeric_limits<int64_t>::max() / unit / 4) {
      return Status::Invalid("duration '" + std::string(t) + "' is too large");
    }
    total += n * unit;  // each term and the running total stay below max/4: no overflow
    if (total > std::numeric_limits<int64_t>::max() / 4) {
      return Status::Invalid("duration '" + std::string(t) + "' is too large");
    }
  }
  return total;
}

Result<uint64_t> ParseByteRate(std::string_view text) {
  std::string_view t = Trim(text);
  size_t digits = 0;
  while (digits < t.size() && t[digits] >= '0' && t[digits] <= '9') ++digits;
  if (digits == 0 || digits > 15) {
    return Status::Invalid("bad rate '" + std::string(t) + "' (use e.g. 500K, 2M, 1G bytes/s)");
  }
  uint64_t n = std::stoull(std::string(t.substr(0, digits)));
  std::string_view suffix = t.substr(digits);
  if (suffix.size() > 1 && (suffix.substr(1) == "/s" || suffix.substr(1) == "B/s" ||
                            suffix.substr(1) == "iB/s" || suffix.substr(1) == "iB")) {
    suffix = suffix.substr(0, 1);
  }
  uint64_t mult = 1;
  if (suffix.empty()) {
    mult = 1;
  } else if (suffix == "K" || suffix == "k") {
    mult = 1024;
  } else if (suffix == "M" || suffix == "m") {
    mult = 1024 * 1024;
  } else if (suffix == "G" || suffix == "g") {
    mult = 1024ull * 1024 * 1024;
  } else {
    return Status::Invalid("bad rate '" + std::string(t) + "': unknown suffix '" +
                           std::string(suffix) + "' (use K, M or G)");
  }
  if (n == 0) return Status::Invalid("rate must be greater than zero");
  return n * mult;
}

}  // namespace skiff::cli
