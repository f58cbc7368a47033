#include "sync/rolling_checksum.h"

#include <boost/test/unit_test.hpp>

#include "tests/sync_delta/delta_test_util.h"

using namespace skiff;

BOOST_AUTO_TEST_SUITE(rolling_checksum)

BOOST_AUTO_TEST_CASE(rolling_equals_recomputing_at_every_offset) {
  const std::string data = delta_test::RandomBytes(1, 5000) + std::string(3000, 'a') +
                           std::string(1000, '\0') + delta_test::RandomBytes(2, 2000);
  size_t checked = 0;
  for (size_t window : {1u, 2u, 7u, 64u, 700u, 4096u}) {
    RollingChecksum r;
    r.Update(std::string_view(data).substr(0, window));
    for (size_t off = 0;; ++off) {
      const uint32_t want = RollingChecksum::Compute(std::string_view(data).substr(off, window));
      if (r.Digest() != want) {
        BOOST_FAIL("window " << window << " offset " << off << ": rolled " << r.Digest()
                             << " recomputed " << want);
      }
      ++checked;
      if (off + window >= data.size()) break;
      r.Roll(static_cast<uint8_t>(data[off]), static_cast<uint8_t>(data[off + window]));
    }
  }
  BOOST_TEST(checked > 6 * 10000u);
}

BOOST_AUTO_TEST_CASE(update_in_pieces_equals_one_update) {
  const std::string data = delta_test::RandomBytes(3, 10000);
  RollingChecksum r;
  for (size_t i = 0; i < data.size(); i += 333) r.Update(std::string_view(data).substr(i, 333));
  BOOST_TEST(r.Digest() == RollingChecksum::Compute(data));
  BOOST_TEST(r.count() == data.size());
}

// Update takes four bytes per step: every length (and so every remainder) must give the
// sums of the one-byte definition, also when appended to a window that is not empty.
BOOST_AUTO_TEST_CASE(update_equals_the_one_byte_definition_at_every_length) {
  const std::string data = delta_test::RandomBytes(4, 64);
  for (size_t head = 0; head < 3; ++head) {
    for (size_t n = 0; n + head <= data.size(); ++n) {
      uint32_t a = 0, b = 0;
      for (size_t i = 0; i < head + n; ++i) {
        a += rolling_internal::kByteTable[static_cast<uint8_t>(data[i])];
        b += a;
      }
      RollingChecksum r;
      r.Update(std::string_view(data).substr(0, head));
      r.Update(std::string_view(data).substr(head, n));
      BOOST_TEST(r.Digest() == ((a & 0xffffu) | (b << 16)), "head " << head << " n " << n);
    }
  }
}

BOOST_AUTO_TEST_CASE(digest_is_pinned_because_it_is_stored_on_servers) {
  // Changing the table or formula silently breaks every stored signature: bump the
  // signature format version instead, then update these values.
  BOOST_TEST(RollingChecksum::Compute("") == 0u);
  const uint32_t t0 = rolling_internal::kByteTable[0];
  BOOST_TEST(RollingChecksum::Compute(std::string(1, '\0')) == ((t0 & 0xffffu) | (t0 << 16)));
  BOOST_TEST(RollingChecksum::Compute("skiff") ==
             0x3848c63cu);  // recomputed independently (Python) from the formula
}

BOOST_AUTO_TEST_CASE(low_entropy_text_spreads_over_many_digests) {
  // Windows of ASCII text should hit (nearly) distinct digests; plain byte sums collide.
  const std::string line = "2024-05-01 12:00:00 INFO request served in 12 ms path=/a/b\n";
  std::string text;
  for (int i = 0; text.size() < 200000; ++i) text += line.substr(0, 20) + std::to_string(i) + line;
  std::vector<uint32_t> digests;
  for (size_t off = 0; off + 700 <= text.size(); off += 97)
    digests.push_back(RollingChecksum::Compute(std::string_view(text).substr(off, 700)));
  std::sort(digests.begin(), digests.end());
  const size_t distinct = std::unique(digests.begin(), digests.end()) - digests.begin();
  BOOST_TEST(distinct * 100 >= digests.size() * 99);
}

BOOST_AUTO_TEST_SUITE_END()
