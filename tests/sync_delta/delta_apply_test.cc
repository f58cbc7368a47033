#include "sync/delta_apply.h"

#include <boost/test/unit_test.hpp>
#include <cstring>

#include "tests/sync_delta/delta_test_util.h"

using namespace skiff;

BOOST_AUTO_TEST_SUITE(delta_apply)

BOOST_AUTO_TEST_CASE(applies_copies_and_literals_in_order) {
  const std::string base = "0123456789";
  std::string out;
  DeltaApply a(base, &out);
  BOOST_TEST(a.Copy(2, 3).ok());
  BOOST_TEST(a.Literal("xy").ok());
  BOOST_TEST(a.Copy(0, 10).ok());
  BOOST_TEST(a.Copy(10, 0).ok());
  BOOST_TEST(out == "234xy0123456789");
  BOOST_TEST(a.output_size() == out.size());
}

BOOST_AUTO_TEST_CASE(rejects_copies_outside_the_base) {
  const std::string base = "0123456789";
  std::string out;
  DeltaApply a(base, &out);
  Status st = a.Copy(8, 3);
  BOOST_TEST(st.code() == Code::kCorrupt);
  BOOST_TEST(st.message().find("only 10 bytes") != std::string::npos, st.message());
  DeltaApply b(base, &out);
  BOOST_TEST(b.Copy(UINT64_MAX, 2).code() == Code::kCorrupt);
  DeltaApply c(base, &out);
  BOOST_TEST(c.Copy(1, UINT64_MAX).code() == Code::kCorrupt);
  // Later calls keep failing.
  BOOST_TEST(!c.Literal("x").ok());
}

BOOST_AUTO_TEST_CASE(callback_base_is_read_in_bounded_pieces) {
  const std::string base = delta_test::RandomBytes(1, 3 * DeltaApply::kReadChunk + 5);
  std::string out;
  size_t max_read = 0;
  DeltaApply a(
      base.size(),
      [&](uint64_t off, std::span<char> buf) {
        max_read = std::max(max_read, buf.size());
        std::memcpy(buf.data(), base.data() + off, buf.size());
        return Status::Ok();
      },
      [&](std::string_view b) {
        out.append(b);
        return Status::Ok();
      });
  BOOST_TEST(a.Literal("head").ok());
  BOOST_TEST(a.Copy(1, base.size() - 1).ok());
  BOOST_TEST(out == "head" + base.substr(1));
  BOOST_TEST(max_read == DeltaApply::kReadChunk);
}

BOOST_AUTO_TEST_CASE(reader_and_writer_failures_are_reported_with_context) {
  std::string out;
  DeltaApply a(
      100, [](uint64_t, std::span<char>) { return Status::Io("disk on fire"); },
      [&](std::string_view b) {
        out.append(b);
        return Status::Ok();
      });
  Status st = a.Copy(50, 10);
  BOOST_TEST(st.code() == Code::kIo);
  BOOST_TEST(st.message().find("offset 50") != std::string::npos, st.message());
  DeltaApply b(
      100, [](uint64_t, std::span<char> o) { return Status::Ok(); },
      [](std::string_view) { return Status(Code::kNoSpace, "quota"); });
  BOOST_TEST(b.Literal("x").code() == Code::kNoSpace);
  BOOST_TEST(b.Copy(0, 1).code() == Code::kNoSpace);
}

BOOST_AUTO_TEST_SUITE_END()
