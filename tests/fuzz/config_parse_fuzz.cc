// Fuzzes the skiff.conf parser (cli/config.cc) and the value parsers it uses: a config
// file is written by people and sometimes by tools, so any bytes must give either a
// Config or one "FILE:LINE: problem" Status.
// Invariants: no crash, no signed overflow (UBSan), errors name the file and a line,
// accepted configs hold only valid, distinct job names with a source and a repository,
// and FindJob finds each of them; durations and rates that parse are positive-sane.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "cli/config.h"

using namespace skiff;
using namespace skiff::cli;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = ParseConfig(text, "fuzz.conf");
  if (!config.ok()) {
    if (config.status().message().rfind("fuzz.conf:", 0) != 0) std::abort();
  } else {
    std::set<std::string> names;
    for (const JobConfig& j : config->jobs) {
      if (!IsValidJobName(j.name) || !names.insert(j.name).second) std::abort();
      if (j.sources.empty() || j.repository.empty()) std::abort();
      if (config->FindJob(j.name) != &j) std::abort();
      if (j.check_every < 0) std::abort();
      if (j.bandwidth_limit && *j.bandwidth_limit == 0) std::abort();
    }
  }
  // Each line on its own as a duration and a rate (the values of check-every,
  // keep-within and bandwidth-limit).
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    auto d = ParseDuration(line);
    if (d.ok() && *d < 0) std::abort();
    if (!d.ok() && d.status().message().empty()) std::abort();
    auto r = ParseByteRate(line);
    if (r.ok() && *r == 0) std::abort();
    if (!r.ok() && r.status().message().empty()) std::abort();
  }
  return 0;
}
