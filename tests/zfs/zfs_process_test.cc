// ZfsProcess (child with argv, stderr captured) and the bounded send buffer.
#include <boost/test/unit_test.hpp>
#include <thread>

#include "sync/zfs_command.h"
#include "sync/zfs_pipe_buffer.h"

using namespace skiff;
using namespace skiff::sync;

BOOST_AUTO_TEST_SUITE(zfs_process)

BOOST_AUTO_TEST_CASE(failure_carries_child_stderr) {
  auto r =
      RunZfsCommand({"sh", "-c", "echo \"cannot open 'x': dataset does not exist\" >&2; exit 1"});
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.status().message().find("cannot open 'x': dataset does not exist") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(usage_text_is_trimmed) {
  auto r = RunZfsCommand(
      {"sh", "-c", "printf \"invalid option 'w'\\nusage:\\n\\tsend [-RDp]\\n\" >&2; exit 2"});
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.status().message().find("invalid option 'w'") != std::string::npos);
  const std::string& m = r.status().message();
  BOOST_TEST(m.substr(m.size() - 18) == "invalid option 'w'");
}

BOOST_AUTO_TEST_CASE(stdout_captured_and_missing_program_named) {
  auto r = RunZfsCommand({"printf", "a\\tb\\n"});
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(*r == "a\tb\n");
  auto missing = RunZfsCommand({"/nonexistent/zfs", "list"});
  BOOST_REQUIRE(!missing.ok());
  BOOST_TEST(missing.status().message().find("/nonexistent/zfs") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(write_to_exited_child_reports_its_message) {
  auto p = ZfsProcess::Start({"sh", "-c", "echo 'cannot receive: invalid stream' >&2; exit 1"},
                             ZfsProcess::Pipe::kStdin);
  BOOST_REQUIRE(p.ok());
  std::string big(1 << 20, 'x');
  Status st;
  for (int i = 0; i < 64 && st.ok(); ++i) st = (*p)->Write(big);
  if (st.ok()) st = (*p)->Finish();
  BOOST_REQUIRE(!st.ok());
  BOOST_TEST(st.message().find("cannot receive: invalid stream") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(input_reaches_child) {
  auto p = ZfsProcess::Start({"sh", "-c", "test \"$(cat)\" = hello"}, ZfsProcess::Pipe::kStdin);
  BOOST_REQUIRE(p.ok());
  BOOST_REQUIRE((*p)->Write("hello").ok());
  BOOST_TEST((*p)->Finish().ok());
  auto q = ZfsProcess::Start({"sh", "-c", "test \"$(cat)\" = hello"}, ZfsProcess::Pipe::kStdin);
  BOOST_REQUIRE(q.ok());
  BOOST_REQUIRE((*q)->Write("other").ok());
  BOOST_TEST(!(*q)->Finish().ok());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(zfs_pipe_buffer)

BOOST_AUTO_TEST_CASE(bounded_and_ordered) {
  ZfsPipeBuffer buf(10);
  std::thread producer([&] {
    for (int i = 0; i < 100; ++i) BOOST_REQUIRE(buf.Push(std::to_string(i % 10) + "abc"));
    buf.CloseWriter();
  });
  std::string all;
  while (auto c = buf.Pop()) all += *c;
  producer.join();
  BOOST_TEST(all.size() == 400u);
  BOOST_TEST(all.substr(0, 8) == "0abc1abc");
  BOOST_TEST(buf.high_water() <= 10u);
}

BOOST_AUTO_TEST_CASE(closed_reader_unblocks_producer) {
  ZfsPipeBuffer buf(4);
  BOOST_REQUIRE(buf.Push("1234"));
  std::thread producer([&] { BOOST_TEST(!buf.Push("5678")); });  // blocks: full
  buf.CloseReader();
  producer.join();
  BOOST_TEST(!buf.Push("x"));
}

BOOST_AUTO_TEST_SUITE_END()
