#include "cli/progress_line.h"

#include <unistd.h>

#include <cstdio>
#include <utility>

namespace skiff::cli {

ProgressLine::ProgressLine(bool enabled, std::FILE* out, Clock clock)
    : enabled_(enabled),
      out_(out),
      clock_(clock ? std::move(clock) : Clock([] { return std::chrono::steady_clock::now(); })) {}

ProgressLine::~ProgressLine() { Clear(); }

bool ProgressLine::ForTerminal(bool quiet) { return !quiet && isatty(STDERR_FILENO); }

void ProgressLine::Update(std::string_view label, uint64_t done, uint64_t total, int64_t files) {
  if (!enabled_) return;
  auto now = clock_();
  if (label != label_ || start_ == std::chrono::steady_clock::time_point{}) {
    label_ = label;
    start_ = now;
    last_ = {};
  }
  bool complete = total > 0 && done >= total;
  if (!complete && now - last_ < std::chrono::milliseconds(250)) return;
  last_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  // Below half a second the rate is mostly start-up noise (0 on the very first draw).
  double rate = secs >= 0.5 ? done / secs : 0;
  std::string line = "\r\033[K";
  if (!label_.empty()) {
    // Keep the end of a long name: it is the part that differs between files.
    line += label_.size() > 40 ? "..." + label_.substr(label_.size() - 37) : label_;
    line += ": ";
  }
  if (files >= 0) line += std::to_string(files) + " files, ";
  line += HumanBytes(done);
  if (total > 0) line += " of " + HumanBytes(total);
  if (rate > 0) line += ", " + HumanBytes(rate) + "/s";
  if (total > done && rate > 0) {
    char eta[32];
    std::snprintf(eta, sizeof eta, ", ETA %.0f s", (total - done) / rate);
    line += eta;
  }
  std::fputs(line.c_str(), out_);
  shown_ = true;
}

void ProgressLine::Clear() {
  if (shown_) std::fputs("\r\033[K", out_);
  shown_ = false;
}

void ProgressLine::Keep() {
  if (shown_) std::fputc('\n', out_);
  shown_ = false;
}

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

}  // namespace skiff::cli
