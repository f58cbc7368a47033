#include "sync/signature.h"

#include <xxhash.h>

#include <boost/test/unit_test.hpp>
#include <cstring>

#include "sync/rolling_checksum.h"
#include "tests/sync_delta/delta_test_util.h"

using namespace skiff;
using delta_test::RandomBytes;
using delta_test::SignatureOf;

BOOST_AUTO_TEST_SUITE(signature)

BOOST_AUTO_TEST_CASE(block_size_grows_like_sqrt_within_bounds) {
  BOOST_TEST(ChooseBlockSize(0) == 700u);
  BOOST_TEST(ChooseBlockSize(1) == 700u);
  BOOST_TEST(ChooseBlockSize(700ull * 700) == 700u);
  BOOST_TEST(ChooseBlockSize(1ull << 20) == 1024u);
  BOOST_TEST(ChooseBlockSize(200ull << 20) == 16384u);  // sqrt = 14481.5 -> nearest 2^k
  BOOST_TEST(ChooseBlockSize(4ull << 20) == 2048u);     // sqrt = 2048
  BOOST_TEST(ChooseBlockSize(5ull << 20) == 2048u);     // sqrt = 2289.8 < 2048 * sqrt(2)
  BOOST_TEST(ChooseBlockSize(9ull << 20) == 4096u);     // sqrt = 3072 > 2048 * sqrt(2)
  // Above 1 MiB a growing file keeps its block size (its signature entries carry over):
  // the benchmark's 70 MB log before and after 1 MiB is appended, and 3 MiB + 100 KiB.
  BOOST_TEST(ChooseBlockSize(70000000) == 8192u);
  BOOST_TEST(ChooseBlockSize(70000000 + (1 << 20)) == 8192u);
  BOOST_TEST(ChooseBlockSize(3ull << 20) == ChooseBlockSize((3ull << 20) + 100 * 1024));
  BOOST_TEST(ChooseBlockSize(1ull << 30) == 32768u);
  BOOST_TEST(ChooseBlockSize(1ull << 40) == 128u * 1024);
  BOOST_TEST(ChooseBlockSize(UINT64_MAX) == 128u * 1024);
  uint32_t prev = 0;
  for (uint64_t s = 1; s < (1ull << 36); s = s * 3 / 2 + 1) {
    const uint32_t b = ChooseBlockSize(s);
    BOOST_TEST_REQUIRE(b >= 700u);
    BOOST_TEST_REQUIRE(b <= 128u * 1024);
    BOOST_TEST_REQUIRE((b % 8 == 0 || b == 700u));
    BOOST_TEST_REQUIRE(b >= prev);
    prev = b;
  }
}

BOOST_AUTO_TEST_CASE(builder_records_each_block_and_a_short_last_block) {
  const std::string data = RandomBytes(7, 2500);
  FileSignature sig = SignatureOf(data, 1000);
  BOOST_TEST(sig.block_size == 1000u);
  BOOST_TEST(sig.file_size == 2500u);
  BOOST_TEST_REQUIRE(sig.blocks.size() == 3u);
  for (size_t i = 0; i < 3; ++i) {
    const std::string_view blk = std::string_view(data).substr(i * 1000, 1000);
    BOOST_TEST(sig.BlockLength(i) == blk.size());
    BOOST_TEST(sig.blocks[i].weak == RollingChecksum::Compute(blk));
    BOOST_TEST(sig.blocks[i].strong == XXH3_64bits(blk.data(), blk.size()));
  }
  BOOST_TEST(sig.BlockLength(2) == 500u);
  BOOST_TEST(sig.Validate().ok());
}

BOOST_AUTO_TEST_CASE(builder_is_independent_of_chunking_and_resets_on_finish) {
  const std::string data = RandomBytes(8, 100000);
  const FileSignature whole = SignatureOf(data, 777);
  for (size_t chunk : {1u, 13u, 776u, 777u, 778u, 4096u}) {
    SignatureBuilder b(777);
    for (size_t i = 0; i < data.size(); i += chunk)
      b.Update(std::string_view(data).substr(i, chunk));
    BOOST_TEST((b.Finish() == whole), "chunk " << chunk);
    FileSignature empty = b.Finish();
    BOOST_TEST(empty.file_size == 0u);
    BOOST_TEST(empty.blocks.empty());
    BOOST_TEST(empty.block_size == 777u);
  }
}

BOOST_AUTO_TEST_CASE(empty_file_has_no_blocks_and_round_trips) {
  FileSignature sig = SignatureOf("", ChooseBlockSize(0));
  BOOST_TEST(sig.blocks.empty());
  auto back = FileSignature::Decode(sig.Encode());
  BOOST_TEST_REQUIRE(back.ok(), back.status());
  BOOST_TEST((*back == sig));
}

BOOST_AUTO_TEST_CASE(encode_decode_round_trip) {
  for (size_t n : {1u, 699u, 700u, 701u, 50000u}) {
    const FileSignature sig = SignatureOf(RandomBytes(n, n), 700);
    const std::string enc = sig.Encode();
    BOOST_TEST(enc.size() == 28 + 12 * sig.blocks.size() + 8);
    BOOST_TEST(enc.substr(0, 4) == "SKSG");
    auto back = FileSignature::Decode(enc);
    BOOST_TEST_REQUIRE(back.ok(), back.status());
    BOOST_TEST((*back == sig));
  }
}

namespace {
void PutU64At(std::string& s, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}
void PutU32At(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}
// Recomputes the trailing hash so that only the field under test is wrong.
void Reseal(std::string& s) { PutU64At(s, s.size() - 8, XXH3_64bits(s.data(), s.size() - 8)); }

void ExpectCorrupt(const std::string& bytes, const std::string& needle) {
  auto r = FileSignature::Decode(bytes);
  BOOST_TEST_REQUIRE(!r.ok());
  BOOST_TEST(r.status().code() == Code::kCorrupt);
  BOOST_TEST(r.status().message().find(needle) != std::string::npos, r.status().message());
}
}  // namespace

BOOST_AUTO_TEST_CASE(decode_rejects_hostile_or_damaged_input) {
  const std::string good = SignatureOf(RandomBytes(9, 5000), 700).Encode();  // 8 blocks
  BOOST_TEST_REQUIRE(FileSignature::Decode(good).ok());

  // Every truncation.
  for (size_t n = 0; n < good.size(); ++n) {
    BOOST_TEST_REQUIRE(!FileSignature::Decode(good.substr(0, n)).ok(), "prefix " << n);
  }
  std::string s = good;
  s[0] = 'X';
  ExpectCorrupt(s, "magic");
  s = good;
  PutU32At(s, 4, 2);
  Reseal(s);
  ExpectCorrupt(s, "version 2");
  s = good;
  PutU32At(s, 8, 0);
  Reseal(s);
  ExpectCorrupt(s, "block size 0");
  // A count that lies about the input length: huge count with matching huge file size
  // must be refused before anything is allocated from it.
  s = good;
  PutU64At(s, 12, (1ull << 62));
  PutU64At(s, 20, (1ull << 62) / 700 + 1);
  Reseal(s);
  ExpectCorrupt(s, "claims");
  // A count that disagrees with file size and block size.
  s = good;
  PutU64At(s, 20, 9);
  Reseal(s);
  ExpectCorrupt(s, "does not match");
  s = good;
  PutU64At(s, 12, 10000);
  Reseal(s);
  ExpectCorrupt(s, "does not match");
  // Extra bytes.
  s = good.substr(0, good.size() - 8) + std::string(12, '\0');
  s.append(8, '\0');
  Reseal(s);
  ExpectCorrupt(s, "claims");
  // A flipped bit in an entry.
  s = good;
  s[40] ^= 1;
  ExpectCorrupt(s, "checksum");
}

BOOST_AUTO_TEST_CASE(validate_catches_inconsistent_signatures) {
  FileSignature sig = SignatureOf(RandomBytes(10, 3000), 1000);
  BOOST_TEST(sig.Validate().ok());
  FileSignature bad = sig;
  bad.blocks.pop_back();
  BOOST_TEST(bad.Validate().code() == Code::kInvalidArgument);
  bad = sig;
  bad.block_size = 0;
  BOOST_TEST(bad.Validate().code() == Code::kInvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()
