// The progress line that backup, restore, cp and zfs draw on a terminal.
#define BOOST_TEST_MODULE progress_line
#include "cli/progress_line.h"

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdio>
#include <string>

using skiff::cli::HumanBytes;
using skiff::cli::ProgressLine;

namespace {

// What was written to a tmpfile so far.
std::string Contents(std::FILE* f) {
  std::fflush(f);
  std::string s;
  std::rewind(f);
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

// A clock the test moves by hand.
struct FakeClock {
  std::chrono::steady_clock::time_point t{std::chrono::seconds(1000)};
  ProgressLine::Clock Fn() {
    return [this] { return t; };
  }
};

struct TmpFile {
  std::FILE* f = std::tmpfile();
  ~TmpFile() { std::fclose(f); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(disabled_line_writes_nothing) {
  TmpFile out;
  {
    ProgressLine line(false, out.f);
    line.Update("bin1", 10, 100, 3);
    line.Keep();
    line.Clear();
  }
  BOOST_TEST(Contents(out.f).empty());
}

BOOST_AUTO_TEST_CASE(first_update_draws_label_files_bytes_and_total_but_no_rate_yet) {
  TmpFile out;
  FakeClock clock;
  ProgressLine line(true, out.f, clock.Fn());
  line.Update("@snap1", 1536, 3 * 1048576, 7);
  std::string s = Contents(out.f);
  BOOST_TEST(s == "\r\033[K@snap1: 7 files, 1.5 KiB of 3.0 MiB", s);
}

BOOST_AUTO_TEST_CASE(rate_and_eta_appear_once_half_a_second_is_measured) {
  TmpFile out;
  FakeClock clock;
  ProgressLine line(true, out.f, clock.Fn());
  line.Update("x", 0, 4 * 1048576);
  clock.t += std::chrono::milliseconds(300);
  line.Update("x", 300 * 1024, 4 * 1048576);  // drawn (250 ms passed), still no rate
  BOOST_TEST(Contents(out.f).find("/s") == std::string::npos, Contents(out.f));
  clock.t += std::chrono::milliseconds(1700);  // 2 s since the start, 1 MiB done
  line.Update("x", 1048576, 4 * 1048576);
  std::string s = Contents(out.f);
  BOOST_TEST(s.find("1.0 MiB of 4.0 MiB, 512.0 KiB/s, ETA 6 s") != std::string::npos, s);
}

BOOST_AUTO_TEST_CASE(a_new_label_restarts_the_rate) {
  TmpFile out;
  FakeClock clock;
  ProgressLine line(true, out.f, clock.Fn());
  line.Update("a", 0, 0);
  clock.t += std::chrono::seconds(10);
  line.Update("a", 10240, 0);  // 1 KiB/s over 10 s
  BOOST_TEST(Contents(out.f).find("10.0 KiB, 1.0 KiB/s") != std::string::npos, Contents(out.f));
  line.Update("b", 2048, 0);  // b's own start: no rate yet
  std::string s = Contents(out.f);
  BOOST_TEST(s.substr(s.rfind('\r')) == "\r\033[Kb: 2.0 KiB", s);
}

BOOST_AUTO_TEST_CASE(updates_are_throttled_but_completion_is_drawn) {
  TmpFile out;
  ProgressLine line(true, out.f);
  line.Update("f", 1, 100);
  line.Update("f", 2, 100);  // within 250 ms of the first: not drawn
  std::string s = Contents(out.f);
  BOOST_TEST(s.find("2 B of") == std::string::npos, s);
  line.Update("f", 100, 100);  // complete: drawn at once
  s = Contents(out.f);
  BOOST_TEST(s.find("100 B of 100 B") != std::string::npos, s);
  BOOST_TEST(s.find("ETA") == std::string::npos, s);  // nothing left to estimate
}

BOOST_AUTO_TEST_CASE(no_file_count_and_no_total_when_not_given) {
  TmpFile out;
  ProgressLine line(true, out.f);
  line.Update("", 2048, 0);
  std::string s = Contents(out.f);
  BOOST_TEST(s.rfind("\r\033[K2.0 KiB", 0) == 0, s);
  BOOST_TEST(s.find("files") == std::string::npos, s);
  BOOST_TEST(s.find(" of ") == std::string::npos, s);
}

BOOST_AUTO_TEST_CASE(clear_erases_and_keep_ends_the_line_only_after_a_draw) {
  TmpFile out;
  ProgressLine line(true, out.f);
  line.Clear();
  line.Keep();
  BOOST_TEST(Contents(out.f).empty());
  line.Update("a", 5, 10);
  line.Keep();
  std::string s = Contents(out.f);
  BOOST_TEST(s.back() == '\n');
  line.Clear();  // nothing shown any more
  BOOST_TEST(Contents(out.f) == s);
  line.Update("b", 5, 10);
  line.Clear();
  BOOST_TEST(Contents(out.f).size() > s.size());
  BOOST_TEST(Contents(out.f).substr(Contents(out.f).size() - 4) == "\r\033[K");
}

BOOST_AUTO_TEST_CASE(long_labels_keep_their_end) {
  TmpFile out;
  ProgressLine line(true, out.f);
  std::string name(60, 'x');
  name += "/the-end.bin";
  line.Update(name, 1, 2);
  std::string s = Contents(out.f);
  BOOST_TEST(s.find("...") != std::string::npos, s);
  BOOST_TEST(s.find("the-end.bin: ") != std::string::npos, s);
  BOOST_TEST(s.find(std::string(40, 'x')) == std::string::npos, s);
}

BOOST_AUTO_TEST_CASE(human_bytes_units) {
  BOOST_TEST(HumanBytes(0) == "0 B");
  BOOST_TEST(HumanBytes(1023) == "1023 B");
  BOOST_TEST(HumanBytes(1024) == "1.0 KiB");
  BOOST_TEST(HumanBytes(5.5 * 1024 * 1024 * 1024) == "5.5 GiB");
}
