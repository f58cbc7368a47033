// Fuzzes ssh_config resolution (transport/ssh_options.cc): ssh-style flags, a
// `[user@]host:path` spec and an ssh_config file, all from the input.
//   line 1: the remote spec (as typed on the command line)
//   line 2: flags, split on blanks (-p, -i, -o ...; -F is replaced by the fuzzed file)
//   rest:   the ssh_config file, read through -F; `Include NAME` may name that file
//           itself ("config") or "other" (the same bytes), relative to a scratch dir.
// Inputs whose Include lines could reach outside the scratch dir ('/', wildcards) are
// skipped so the fuzzer never walks the real filesystem.
// Invariants: no crash, no exception escaping (std::stoi on a hostile number), no
// runaway Include recursion, errors say what went wrong; a resolved config has a
// non-empty host name, a port in 1..65535 and positive keepalive settings.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "transport/ssh_options.h"

using namespace skiff;

namespace {

const std::string& Dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/skiff-ssh-config-fuzz-XXXXXX";
    if (!mkdtemp(tmpl)) abort();
    return std::string(tmpl);
  }();
  return dir;
}

void WriteFile(const std::string& path, std::string_view bytes) {
  FILE* f = fopen(path.c_str(), "wb");
  if (!f) abort();
  fwrite(bytes.data(), 1, bytes.size(), f);
  fclose(f);
}

std::string_view TakeLine(std::string_view& in) {
  size_t nl = in.find('\n');
  std::string_view line = in.substr(0, nl);
  in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  RemoteSpec spec = ParseRemoteSpec(std::string(TakeLine(in)));
  if (!spec.remote && (!spec.user.empty() || !spec.host.empty())) abort();
  std::vector<std::string> args;
  std::string_view flags = TakeLine(in);
  for (std::string_view rest = in; !rest.empty();) {
    std::string line(TakeLine(rest));
    std::transform(line.begin(), line.end(), line.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    size_t b = line.find_first_not_of(" \t\r");
    if (b != std::string::npos && line.compare(b, 7, "include") == 0 &&
        line.find_first_of("/*?[\\~", b) != std::string::npos)
      return 0;
  }
  while (!flags.empty()) {
    size_t sp = flags.find(' ');
    if (sp != 0) args.emplace_back(flags.substr(0, sp));
    flags.remove_prefix(sp == std::string_view::npos ? flags.size() : sp + 1);
  }
  size_t before = args.size();
  auto opts = ParseSshFlags(args);
  if (!opts.ok()) {
    if (opts.status().message().empty()) abort();
    return 0;
  }
  if (args.size() > before) abort();
  WriteFile(Dir() + "/config", in);
  WriteFile(Dir() + "/other", in);
  opts->host = spec.host.empty() ? "fuzzhost" : spec.host;
  if (opts->user.empty()) opts->user = spec.user;
  opts->config_file = Dir() + "/config";
  auto c = ResolveSshConfig(*opts, Dir());
  if (!c.ok()) {
    if (c.status().message().empty()) abort();
    return 0;
  }
  if (c->port < 1 || c->port > 65535) abort();
  if (c->keepalive_count_max < 1 || c->keepalive_interval.count() < 0) abort();
  if (c->connect_timeout.count() <= 0) abort();
  if (c->known_hosts_files.empty()) abort();
  return 0;
}
