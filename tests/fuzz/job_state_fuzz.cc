// Fuzzes the job state file reader (cli/job_state.cc, via the JSON parser in
// cli/json_value.cc) and everything `skiff status` renders from what it read: a state
// file may be truncated by a crash, edited by hand or written by another version.
// The first 8 bytes of the input are the "now" used for the renderings (any int64).
// Invariants: no crash, no undefined behaviour (signed overflow in ages, bad times), the
// error names the file; an accepted state writes back to JSON that reads back the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli/job_state.h"

using namespace skiff;
using namespace skiff::cli;

namespace {
bool Same(const JobState& a, const JobState& b) {
  return a.job == b.job && a.repository == b.repository && a.last_run_start == b.last_run_start &&
         a.last_run_end == b.last_run_end && a.last_exit_code == b.last_exit_code &&
         a.last_result == b.last_result && a.last_success == b.last_success &&
         a.last_failure == b.last_failure && a.last_failure_message == b.last_failure_message &&
         a.consecutive_failures == b.consecutive_failures && a.last_check == b.last_check &&
         a.snapshot_count == b.snapshot_count && a.repository_bytes == b.repository_bytes &&
         a.newest_snapshot == b.newest_snapshot &&
         a.newest_snapshot_time == b.newest_snapshot_time && a.snapshot_bytes == b.snapshot_bytes;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int64_t now = 1795000000;
  if (size >= 8) {
    std::memcpy(&now, data, 8);
    data += 8;
    size -= 8;
  }
  std::string text(reinterpret_cast<const char*>(data), size);
  auto st = JobStateFromJson(text, "job.json");
  if (!st.ok()) {
    if (st.status().message().find("job.json") == std::string::npos) std::abort();
    return 0;
  }
  auto again = JobStateFromJson(JobStateToJson(*st), "again.json");
  if (!again.ok() || !Same(*st, *again)) std::abort();
  for (int64_t t : {now, int64_t{1795000000}}) {
    (void)FormatStatus(*st, t);
    (void)FormatPrometheus({*st}, t);
    (void)StalenessProblem(*st, 86400, t);
    (void)StalenessProblem(*st, st->last_check, t);
  }
  (void)FormatAge(st->last_run_end);
  (void)FormatTime(st->newest_snapshot_time);
  (void)FormatBytes(st->snapshot_bytes.value_or(0));
  return 0;
}
