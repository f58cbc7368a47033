// Measures raw SSH channel throughput of SshConnection (not a test; tests never time
// things). Usage: ssh_raw_throughput [ssh flags] HOST COMMAND [RUNS]
//   e.g. ssh_raw_throughput -F DIR/ssh_config skiff-plain 'cat /tmp/1g' 3
// Runs COMMAND on an exec channel RUNS times, reads everything it prints and reports
// MB/s of each run and the median.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "transport/ssh_connection.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto opts = skiff::ParseSshFlags(args);
  if (!opts.ok() || args.size() < 2) {
    std::fprintf(stderr, "usage: ssh_raw_throughput [-F cfg] [-o ...] HOST COMMAND [RUNS]\n%s\n",
                 opts.ok() ? "" : opts.status().ToString().c_str());
    return 2;
  }
  opts->host = args[0];
  int runs = args.size() > 2 ? std::stoi(args[2]) : 3;
  auto conn = skiff::SshConnection::Connect(*opts);
  if (!conn.ok()) {
    std::fprintf(stderr, "%s\n", conn.status().ToString().c_str());
    return 1;
  }
  std::vector<double> rates;
  std::vector<char> buf(1 << 20);
  for (int r = 0; r < runs; ++r) {
    auto ch = (*conn)->OpenExec(args[1]);
    if (!ch.ok()) {
      std::fprintf(stderr, "%s\n", ch.status().ToString().c_str());
      return 1;
    }
    auto t0 = std::chrono::steady_clock::now();
    uint64_t total = 0;
    for (;;) {
      auto n = (*ch)->Read(buf.data(), buf.size());
      if (!n.ok()) {
        std::fprintf(stderr, "%s\n", n.status().ToString().c_str());
        return 1;
      }
      if (*n == 0) break;
      total += *n;
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(total / s / 1e6);
    std::printf("run %d: %llu bytes in %.3f s = %.1f MB/s\n", r + 1, (unsigned long long)total, s,
                rates.back());
  }
  std::sort(rates.begin(), rates.end());
  std::printf("median: %.1f MB/s\n", rates[rates.size() / 2]);
  return 0;
}
