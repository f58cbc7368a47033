#include "cli/job_state.h"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace skiff::cli {
namespace {

constexpr int64_t kNow = 1'800'000'000;  // 2027-01-15 08:00:00 UTC

JobState Succeeded() {
  JobState s;
  s.job = "home";
  s.repository = "backup@nas:/srv/skiff";
  s.last_run_start = kNow - 3 * 3600;
  s.last_run_end = kNow - 3 * 3600 + 75;
  s.last_exit_code = 0;
  s.last_result = "success";
  s.last_success = s.last_run_end;
  s.last_failure = kNow - 50 * 3600;
  s.last_failure_message = "repository backup@nas:/srv/skiff unreachable";
  s.snapshot_count = 14;
  s.repository_bytes = 3 * 1024 * 1024 + 512 * 1024;
  s.newest_snapshot = "2027-01-15T050000Z";
  s.newest_snapshot_time = kNow - 3 * 3600;
  s.snapshot_bytes = 2048;
  return s;
}

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/skiff_state_test.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

BOOST_AUTO_TEST_CASE(state_round_trips_through_json) {
  JobState s = Succeeded();
  s.last_failure_message = "quote \" backslash \\ newline \n tab \t ctl \x01 end";
  Result<JobState> back = JobStateFromJson(JobStateToJson(s), "x.json");
  BOOST_REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  BOOST_TEST(back->job == s.job);
  BOOST_TEST(back->repository == s.repository);
  BOOST_TEST(back->last_run_start == s.last_run_start);
  BOOST_TEST(back->last_run_end == s.last_run_end);
  BOOST_TEST(back->last_result == s.last_result);
  BOOST_TEST(back->last_success == s.last_success);
  BOOST_TEST(back->last_failure == s.last_failure);
  BOOST_TEST(back->last_failure_message == s.last_failure_message);
  BOOST_TEST(back->snapshot_count.value_or(-1) == 14);
  BOOST_TEST(back->repository_bytes.value_or(-1) == *s.repository_bytes);
  BOOST_TEST(back->newest_snapshot == s.newest_snapshot);
  BOOST_TEST(back->newest_snapshot_time == s.newest_snapshot_time);
  BOOST_TEST(back->snapshot_bytes.value_or(-1) == 2048);
  JobState unknown;
  unknown.job = "x";
  Result<JobState> u = JobStateFromJson(JobStateToJson(unknown), "x.json");
  BOOST_REQUIRE(u.ok());
  BOOST_TEST(!u->snapshot_count.has_value());
  BOOST_TEST(!u->repository_bytes.has_value());
  BOOST_TEST(!u->snapshot_bytes.has_value());
}

BOOST_AUTO_TEST_CASE(corrupt_state_file_is_reported_with_its_path) {
  Result<JobState> r = JobStateFromJson("{\"version\": 1, \"job\": ", "/var/lib/x.json");
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.status().message().find("/var/lib/x.json") != std::string::npos);
  Result<JobState> v = JobStateFromJson("{\"version\": 7}", "/s.json");
  BOOST_REQUIRE(!v.ok());
  BOOST_TEST(v.status().message().find("version") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(save_is_atomic_and_creates_directories) {
  TempDir dir;
  std::string path = StateFilePath(dir.path + "/a/b", "home");
  BOOST_TEST(path == dir.path + "/a/b/home.json");
  Result<JobState> missing = LoadJobState(path);
  BOOST_REQUIRE(!missing.ok());
  BOOST_TEST(missing.status().Is(Code::kNotFound));
  BOOST_REQUIRE(SaveJobState(path, Succeeded()).ok());
  JobState second = Succeeded();
  second.snapshot_count = 15;
  BOOST_REQUIRE(SaveJobState(path, second).ok());
  Result<JobState> loaded = LoadJobState(path);
  BOOST_REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
  BOOST_TEST(loaded->snapshot_count.value_or(0) == 15);
  // No temporary files left behind.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path + "/a/b")) {
    (void)e;
    ++entries;
  }
  BOOST_TEST(entries == 1);
  struct stat st;
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0644u);
}

BOOST_AUTO_TEST_CASE(atomic_write_failure_leaves_target_alone) {
  TempDir dir;
  std::string path = dir.path + "/m.prom";
  BOOST_REQUIRE(WriteFileAtomically(path, "old\n", 0644).ok());
  // A directory where the temporary file would go makes the write fail.
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  BOOST_REQUIRE(::mkdir(tmp.c_str(), 0755) == 0);
  Status s = WriteFileAtomically(path, "new\n", 0644);
  BOOST_TEST(!s.ok());
  BOOST_TEST(s.message().find(tmp) != std::string::npos);
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST(content == "old\n");
}

BOOST_AUTO_TEST_CASE(formats) {
  BOOST_TEST(FormatAge(0) == "0s");
  BOOST_TEST(FormatAge(59) == "59s");
  BOOST_TEST(FormatAge(61) == "1m 1s");
  BOOST_TEST(FormatAge(3 * 3600 + 120) == "3h 2m");
  BOOST_TEST(FormatAge(30 * 3600) == "1d 6h");
  BOOST_TEST(FormatAge(-5) == "0s");
  BOOST_TEST(FormatTime(0) == "1970-01-01 00:00:00 UTC");
  BOOST_TEST(FormatTime(kNow) == "2027-01-15 08:00:00 UTC");
  BOOST_TEST(FormatBytes(100) == "100 B");
  BOOST_TEST(FormatBytes(1536) == "1.5 KiB");
  BOOST_TEST(FormatBytes(3 * 1024 * 1024 + 512 * 1024) == "3.5 MiB");
}

BOOST_AUTO_TEST_CASE(status_text_shows_every_figure) {
  std::string t = FormatStatus(Succeeded(), kNow);
  BOOST_TEST_MESSAGE(t);
  BOOST_TEST(t.find("job home\n") == 0u);
  BOOST_TEST(t.find("last run:         2027-01-15 05:00:00 UTC (3h 0m ago): success (exit 0, "
                    "took 1m 15s)") != std::string::npos);
  BOOST_TEST(t.find("last success:     2027-01-15 05:01:15 UTC (2h 58m ago)") != std::string::npos);
  BOOST_TEST(t.find("last failure:     2027-01-13 06:00:00 UTC (2d 2h ago): repository "
                    "backup@nas:/srv/skiff unreachable") != std::string::npos);
  BOOST_TEST(t.find("snapshots:        14\n") != std::string::npos);
  BOOST_TEST(t.find("repository size:  3.5 MiB\n") != std::string::npos);
  BOOST_TEST(t.find("newest snapshot:  2027-01-15T050000Z, 3h 0m old, 2.0 KiB of files\n") !=
             std::string::npos);
  JobState no_size = Succeeded();
  no_size.repository_bytes.reset();
  no_size.snapshot_bytes.reset();
  std::string t2 = FormatStatus(no_size, kNow);
  BOOST_TEST(t2.find("newest snapshot:  2027-01-15T050000Z, 3h 0m old\n") != std::string::npos);
  BOOST_TEST(t2.find("repository size") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(status_text_for_a_job_that_never_ran) {
  JobState s;
  s.job = "new";
  s.repository = "/mnt/r";
  std::string t = FormatStatus(s, kNow);
  BOOST_TEST(t == "job new\n  repository:       /mnt/r\n  last run:         never\n");
}

BOOST_AUTO_TEST_CASE(staleness) {
  JobState s = Succeeded();
  BOOST_TEST(StalenessProblem(s, 26 * 3600, kNow).empty());
  BOOST_TEST(StalenessProblem(s, 3 * 3600 - 75, kNow).empty());  // exactly at the limit
  std::string p = StalenessProblem(s, 3600, kNow);
  BOOST_TEST(p == "job home: last success 2h 58m ago, older than 1h 0m");
  s.last_failure = kNow - 60;
  s.last_failure_message = "server unreachable";
  BOOST_TEST(StalenessProblem(s, 3600, kNow).find("(last failure: server unreachable)") !=
             std::string::npos);
  JobState never;
  never.job = "x";
  BOOST_TEST(StalenessProblem(never, 3600, kNow) == "job x has never completed a backup");
}

BOOST_AUTO_TEST_CASE(hostile_times_in_a_state_file_do_not_overflow) {
  // A corrupt or hand-edited state file may hold any int64 (found by job_state_fuzz:
  // `now - last_success` overflowed). Ages saturate; absurd times print as numbers.
  JobState s = Succeeded();
  s.last_success = std::numeric_limits<int64_t>::min() + 1;
  s.last_run_start = std::numeric_limits<int64_t>::min();
  s.last_run_end = std::numeric_limits<int64_t>::max();
  s.newest_snapshot_time = std::numeric_limits<int64_t>::min();
  BOOST_TEST(!StalenessProblem(s, 3600, kNow).empty());
  BOOST_TEST(FormatStatus(s, kNow).find("out of range") != std::string::npos);
  BOOST_TEST(!FormatPrometheus({s}, kNow).empty());
  BOOST_TEST(FormatTime(std::numeric_limits<int64_t>::max()) ==
             std::to_string(std::numeric_limits<int64_t>::max()) + " (out of range)");
}

BOOST_AUTO_TEST_CASE(prometheus_textfile) {
  JobState a = Succeeded();
  JobState b;
  b.job = "we\"ird";
  b.last_run_start = kNow - 100;
  b.last_run_end = kNow - 40;
  b.last_exit_code = 75;
  b.last_result = "unreachable";
  b.last_failure = kNow - 40;
  b.consecutive_failures = 3;
  std::string t = FormatPrometheus({a, b}, kNow);
  BOOST_TEST_MESSAGE(t);
  BOOST_TEST(t.find("# TYPE skiff_last_success_timestamp_seconds gauge\n") != std::string::npos);
  BOOST_TEST(t.find("skiff_last_success_timestamp_seconds{job=\"home\"} 1799989275\n") !=
             std::string::npos);
  BOOST_TEST(t.find("skiff_last_run_success{job=\"home\"} 1\n") != std::string::npos);
  BOOST_TEST(t.find("skiff_last_run_success{job=\"we\\\"ird\"} 0\n") != std::string::npos);
  BOOST_TEST(t.find("skiff_last_run_exit_code{job=\"we\\\"ird\"} 75\n") != std::string::npos);
  BOOST_TEST(t.find("skiff_consecutive_failures{job=\"we\\\"ird\"} 3\n") != std::string::npos);
  BOOST_TEST(t.find("skiff_snapshots{job=\"home\"} 14\n") != std::string::npos);
  BOOST_TEST(t.find("skiff_repository_size_bytes{job=\"home\"} 3670016\n") != std::string::npos);
  BOOST_TEST(t.find("skiff_snapshot_size_bytes{job=\"home\"} 2048\n") != std::string::npos);
  BOOST_TEST(t.find("skiff_newest_snapshot_age_seconds{job=\"home\"} 10800\n") !=
             std::string::npos);
  // Unknown figures are omitted rather than reported as zero.
  BOOST_TEST(t.find("skiff_snapshots{job=\"we\\\"ird\"}") == std::string::npos);
  // Each HELP appears once even with two jobs.
  size_t first = t.find("# HELP skiff_snapshots ");
  BOOST_TEST(first != std::string::npos);
  BOOST_TEST(t.find("# HELP skiff_snapshots ", first + 1) == std::string::npos);
}

}  // namespace
}  // namespace skiff::cli
