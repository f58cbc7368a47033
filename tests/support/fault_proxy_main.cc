// skiff-faultproxy: the FaultProxy as a program, for benchmarks and scripts.
//
//   skiff-faultproxy --listen PORT --to HOST:PORT [--delay-ms N] [--rate BYTES_PER_SEC]
//
// Listens on 127.0.0.1:PORT (0 = any free port), prints the port it listens on as one line
// on stdout, then relays until SIGTERM or SIGINT. --delay-ms is the one-way delay per
// direction (20 ms RTT = --delay-ms 10); --rate throttles each direction.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/support/fault_proxy.h"

namespace {

constexpr const char* kUsage =
    "usage: skiff-faultproxy --listen PORT --to HOST:PORT [--delay-ms N] [--rate BYTES_PER_SEC]\n"
    "  Relays 127.0.0.1:PORT (0 = pick a free port, printed on stdout) to HOST:PORT,\n"
    "  adding N ms of delay in each direction and limiting each direction's rate,\n"
    "  until SIGTERM or SIGINT.\n";

bool ParseUint(const char* s, uint64_t max, uint64_t* out) {
  if (s == nullptr || *s == '\0') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0' || v > max || s[0] == '-') return false;
  *out = v;
  return true;
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "skiff-faultproxy: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t listen_port = 0, delay_ms = 0, rate = 0, target_port = 0;
  bool have_listen = false;
  std::string target_host;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    const char* val = i + 1 < argc ? argv[i + 1] : nullptr;
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--listen") {
      if (!ParseUint(val, 65535, &listen_port)) return Fail("--listen needs a port number");
      have_listen = true;
      ++i;
    } else if (arg == "--to") {
      std::string to = val != nullptr ? val : "";
      auto colon = to.rfind(':');
      if (colon == std::string::npos || colon == 0 ||
          !ParseUint(to.c_str() + colon + 1, 65535, &target_port) || target_port == 0) {
        return Fail("--to needs HOST:PORT, got '" + to + "'");
      }
      target_host = to.substr(0, colon);
      if (target_host.size() > 2 && target_host.front() == '[' && target_host.back() == ']') {
        target_host = target_host.substr(1, target_host.size() - 2);
      }
      ++i;
    } else if (arg == "--delay-ms") {
      if (!ParseUint(val, 3600 * 1000, &delay_ms)) return Fail("--delay-ms needs milliseconds");
      ++i;
    } else if (arg == "--rate") {
      if (!ParseUint(val, UINT64_MAX, &rate)) return Fail("--rate needs bytes per second");
      ++i;
    } else {
      return Fail("unknown argument '" + arg + "'");
    }
  }
  if (!have_listen || target_host.empty()) return Fail("--listen and --to are required");

  // Block the stop signals before the proxy thread starts so only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto proxy = skiff::testing::FaultProxy::Create(target_host, static_cast<uint16_t>(target_port),
                                                  static_cast<uint16_t>(listen_port));
  if (!proxy.ok()) {
    std::fprintf(stderr, "skiff-faultproxy: %s\n", proxy.status().ToString().c_str());
    return 1;
  }
  (*proxy)->SetDelay(std::chrono::milliseconds(delay_ms));
  (*proxy)->SetRateLimit(rate);
  std::printf("%u\n", static_cast<unsigned>((*proxy)->port()));
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop_signals, &sig);
  return 0;
}
