#include "sync/retention.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <functional>
#include <set>

namespace skiff::sync {

bool RetentionPolicy::Empty() const {
  return keep_last <= 0 && keep_hourly <= 0 && keep_daily <= 0 && keep_weekly <= 0 &&
         keep_monthly <= 0 && keep_yearly <= 0 && keep_within_seconds <= 0;
}

std::optional<int64_t> ParseSnapshotName(const std::string& name) {
  // YYYY-MM-DDTHHMMSSZ, 18 characters, then optionally ".N".
  if (name.size() < 18) return std::nullopt;
  static const char kShape[] = "dddd-dd-ddTddddddZ";
  for (size_t i = 0; i < 18; ++i) {
    char c = name[i];
    if (kShape[i] == 'd' ? !(c >= '0' && c <= '9') : c != kShape[i]) return std::nullopt;
  }
  if (name.size() > 18) {
    if (name[18] != '.' || name.size() == 19 || name.size() > 28) return std::nullopt;
    for (size_t i = 19; i < name.size(); ++i)
      if (name[i] < '0' || name[i] > '9') return std::nullopt;
  }
  auto num = [&](size_t pos, size_t len) { return std::stoi(name.substr(pos, len)); };
  struct tm tm {};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(13, 2);
  tm.tm_sec = num(15, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

std::string FormatSnapshotName(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm {};
  gmtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H%M%SZ", &tm);
  return buf;
}

Result<int64_t> ParseDuration(const std::string& s) {
  if (s.empty()) return Status::Invalid("empty duration");
  int64_t total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    int64_t n = 0;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') {
      n = n * 10 + (s[j] - '0');
      if (n > 1000000000) return Status::Invalid("duration '" + s + "' is too large");
      ++j;
    }
    if (j == i || j == s.size())
      return Status::Invalid("bad duration '" + s + "' (use e.g. 30d, 12h, 2w, 1y6m)");
    int64_t unit = 0;
    switch (s[j]) {
      case 'y':
        unit = 365 * 86400;
        break;
      case 'm':
        unit = 30 * 86400;
        break;
      case 'w':
        unit = 7 * 86400;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'h':
        unit = 3600;
        break;
      case 's':
        unit = 1;
        break;
      default:
        return Status::Invalid("bad unit '" + std::string(1, s[j]) + "' in duration '" + s +
                               "' (units: y m w d h s)");
    }
    total += n * unit;
    i = j + 1;
  }
  return total;
}

Result<std::vector<RetentionDecision>> ApplyRetention(const std::vector<std::string>& names,
                                                      const RetentionPolicy& policy, int64_t now) {
  if (policy.Empty())
    return Status::Invalid("no keep rule given; refusing to decide (that would remove everything)");
  struct Snap {
    std::string name;
    int64_t t;
  };
  std::vector<Snap> snaps;
  for (const auto& n : names) {
    auto t = ParseSnapshotName(n);
    if (!t) return Status::Invalid("'" + n + "' is not a snapshot name");
    snaps.push_back({n, *t});
  }
  // Newest first; names sort like their times (same-second suffixes sort after).
  std::sort(snaps.begin(), snaps.end(),
            [](const Snap& a, const Snap& b) { return a.t != b.t ? a.t > b.t : a.name > b.name; });
  std::vector<RetentionDecision> out(snaps.size());
  for (size_t i = 0; i < snaps.size(); ++i) out[i].name = snaps[i].name;

  auto bucket_rule = [&](int n, const char* reason, const std::function<int64_t(int64_t)>& key) {
    if (n <= 0) return;
    std::set<int64_t> seen;
    for (size_t i = 0; i < snaps.size() && static_cast<int>(seen.size()) < n; ++i) {
      int64_t k = key(snaps[i].t);
      if (seen.insert(k).second) out[i].reasons.push_back(reason);
    }
  };
  auto tm_of = [](int64_t t) {
    time_t tt = static_cast<time_t>(t);
    struct tm tm {};
    gmtime_r(&tt, &tm);
    return tm;
  };
  for (size_t i = 0; i < snaps.size() && static_cast<int>(i) < policy.keep_last; ++i)
    out[i].reasons.push_back("last");
  bucket_rule(policy.keep_hourly, "hourly", [](int64_t t) { return t / 3600; });
  bucket_rule(policy.keep_daily, "daily", [](int64_t t) { return t / 86400; });
  bucket_rule(policy.keep_weekly, "weekly", [&](int64_t t) {
    struct tm tm = tm_of(t);
    char buf[16];
    strftime(buf, sizeof buf, "%G%V", &tm);  // ISO year and week
    return static_cast<int64_t>(std::stoll(buf));
  });
  bucket_rule(policy.keep_monthly, "monthly", [&](int64_t t) {
    struct tm tm = tm_of(t);
    return static_cast<int64_t>(tm.tm_year) * 12 + tm.tm_mon;
  });
  bucket_rule(policy.keep_yearly, "yearly", [&](int64_t t) { return int64_t{tm_of(t).tm_year}; });
  if (policy.keep_within_seconds > 0)
    for (size_t i = 0; i < snaps.size(); ++i)
      if (snaps[i].t > now - policy.keep_within_seconds) out[i].reasons.push_back("within");
  for (auto& d : out) d.keep = !d.reasons.empty();
  return out;
}

}  // namespace skiff::sync
