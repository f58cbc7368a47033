#include "sync/delta_matcher.h"

#include <boost/test/unit_test.hpp>
#include <random>

#include "tests/sync_delta/delta_test_util.h"

using namespace skiff;
using delta_test::RandomBytes;
using delta_test::RecordingSink;
using delta_test::RunDelta;

namespace {
std::string Describe(const RecordingSink& s) {
  std::string d;
  for (const auto& o : s.ops()) {
    d += o.copy ? "C(" + std::to_string(o.offset) + "," + std::to_string(o.length) + ") "
                : "L(" + std::to_string(o.length) + ") ";
    if (d.size() > 400) return d + "...";
  }
  return d;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(delta_matcher)

BOOST_AUTO_TEST_CASE(identical_files_are_one_merged_copy) {
  for (size_t n : {1u, 699u, 700u, 701u, 1400u, 100000u, 1000000u}) {
    for (size_t chunk : {0u, 1u, 1000u, 65536u}) {
      if (chunk == 1 && n > 100000) continue;
      const std::string data = RandomBytes(n, n);
      RecordingSink sink(data);
      BOOST_TEST_REQUIRE(RunDelta(data, data, 700, sink, chunk).ok());
      BOOST_TEST_REQUIRE(sink.out() == data);
      BOOST_TEST(sink.literal() == 0u, "n " << n << " chunk " << chunk << ": " << Describe(sink));
      BOOST_TEST_REQUIRE(sink.ops().size() == 1u, "n " << n << ": " << Describe(sink));
      BOOST_TEST(sink.ops()[0].copy);
      BOOST_TEST(sink.ops()[0].offset == 0u);
      BOOST_TEST(sink.ops()[0].length == n);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_long_unchanged_run_reaches_the_sink_in_pieces) {
  // 20 MiB unchanged: copies of kMaxCopyRun (rounded up to whole blocks) leave as the
  // data is fed, not one copy at Finish, and together rebuild the file.
  const std::string data = RandomBytes(3, 20 << 20);
  RecordingSink sink(data);
  FileSignature sig = delta_test::SignatureOf(data, 4096);
  DeltaMatcher m(sig, sink);
  BOOST_TEST_REQUIRE(m.Update(std::string_view(data).substr(0, 10 << 20)).ok());
  // Half the file fed: the first run (at least kMaxCopyRun bytes) has been handed over.
  BOOST_TEST_REQUIRE(sink.ops().size() == 1u, Describe(sink));
  BOOST_TEST(sink.ops()[0].length >= DeltaMatcher::kMaxCopyRun);
  BOOST_TEST(sink.ops()[0].length < DeltaMatcher::kMaxCopyRun + 4096);
  BOOST_TEST_REQUIRE(m.Update(std::string_view(data).substr(10 << 20)).ok());
  BOOST_TEST_REQUIRE(m.Finish().ok());
  BOOST_TEST(sink.out() == data);
  BOOST_TEST(sink.literal() == 0u);
  BOOST_TEST(sink.ops().size() == 3u, Describe(sink));
}

BOOST_AUTO_TEST_CASE(empty_base_gives_only_literals) {
  const std::string data = RandomBytes(1, 600000);
  RecordingSink sink("");
  BOOST_TEST_REQUIRE(RunDelta("", data, ChooseBlockSize(0), sink, 4096).ok());
  BOOST_TEST(sink.out() == data);
  BOOST_TEST(sink.literal() == data.size());
  BOOST_TEST(sink.copy_ops() == 0u);
}

BOOST_AUTO_TEST_CASE(empty_new_file_gives_nothing) {
  const std::string base = RandomBytes(2, 5000);
  RecordingSink sink(base);
  BOOST_TEST_REQUIRE(RunDelta(base, "", 700, sink).ok());
  BOOST_TEST(sink.ops().empty());
  RecordingSink sink2("");
  BOOST_TEST_REQUIRE(RunDelta("", "", 700, sink2).ok());
  BOOST_TEST(sink2.ops().empty());
}

BOOST_AUTO_TEST_CASE(base_smaller_than_one_block) {
  const std::string base = RandomBytes(3, 300);
  const std::string extra = RandomBytes(4, 500);
  for (size_t chunk : {0u, 1u, 7u}) {
    {  // same
      RecordingSink s(base);
      BOOST_TEST_REQUIRE(RunDelta(base, base, 700, s, chunk).ok());
      BOOST_TEST(s.out() == base);
      BOOST_TEST(s.literal() == 0u, Describe(s));
    }
    {  // appended
      RecordingSink s(base);
      BOOST_TEST_REQUIRE(RunDelta(base, base + extra, 700, s, chunk).ok());
      BOOST_TEST(s.out() == base + extra);
      BOOST_TEST(s.literal() == extra.size(), Describe(s));
    }
    {  // prepended: the short block is found at the end of the new file
      RecordingSink s(base);
      BOOST_TEST_REQUIRE(RunDelta(base, extra + base, 700, s, chunk).ok());
      BOOST_TEST(s.out() == extra + base);
      BOOST_TEST(s.literal() == extra.size(), Describe(s));
    }
    {  // inserted in the middle: all literal is fine, but it must be correct
      const std::string n = base.substr(0, 100) + extra + base.substr(100);
      RecordingSink s(base);
      BOOST_TEST_REQUIRE(RunDelta(base, n, 700, s, chunk).ok());
      BOOST_TEST(s.out() == n);
    }
  }
}

BOOST_AUTO_TEST_CASE(appended_data_costs_only_the_appended_bytes) {
  const std::string base = RandomBytes(5, (1 << 20) + 333);  // short last block
  const std::string extra = RandomBytes(6, 100000);
  const uint32_t bs = ChooseBlockSize(base.size());
  for (size_t chunk : {0u, 4096u, 1000u}) {
    RecordingSink s(base);
    BOOST_TEST_REQUIRE(RunDelta(base, base + extra, bs, s, chunk).ok());
    BOOST_TEST_REQUIRE(s.out() == base + extra);
    BOOST_TEST(s.literal() == extra.size(), Describe(s));
    BOOST_TEST(s.copy_ops() == 1u, Describe(s));
  }
}

BOOST_AUTO_TEST_CASE(insertion_in_the_middle_costs_about_the_inserted_bytes) {
  // The case (1000 bytes into a 200 MiB file), scaled to 8 MiB.
  const std::string base = RandomBytes(7, 8 << 20);
  const std::string ins = RandomBytes(8, 1000);
  const std::string updated =
      base.substr(0, base.size() / 2 + 12345) + ins + base.substr(base.size() / 2 + 12345);
  const uint32_t bs = ChooseBlockSize(base.size());
  for (size_t chunk : {0u, 65536u, 4099u}) {
    RecordingSink s(base);
    BOOST_TEST_REQUIRE(RunDelta(base, updated, bs, s, chunk).ok());
    BOOST_TEST_REQUIRE(s.out() == updated);
    BOOST_TEST(s.literal() >= ins.size());
    BOOST_TEST(s.literal() <= ins.size() + 2 * bs, "literal " << s.literal() << " bs " << bs);
    BOOST_TEST(s.copy_ops() <= 2u, Describe(s));
    BOOST_TEST(s.unmerged_adjacent_copies() == 0);
  }
}

BOOST_AUTO_TEST_CASE(deletion_in_the_middle_costs_at_most_a_block) {
  const std::string base = RandomBytes(9, 4 << 20);
  const std::string updated = base.substr(0, 1000000) + base.substr(1000000 + 5555);
  const uint32_t bs = ChooseBlockSize(base.size());
  RecordingSink s(base);
  BOOST_TEST_REQUIRE(RunDelta(base, updated, bs, s, 100000).ok());
  BOOST_TEST_REQUIRE(s.out() == updated);
  BOOST_TEST(s.literal() <= bs, Describe(s));
}

BOOST_AUTO_TEST_CASE(rewritten_4k_pages_cost_about_the_pages) {
  const std::string base = RandomBytes(10, 8 << 20);
  std::string updated = base;
  std::mt19937_64 rng(11);
  const int kPages = 10;
  for (int i = 0; i < kPages; ++i) {
    const size_t page = rng() % (updated.size() / 4096);
    updated.replace(page * 4096, 4096, RandomBytes(100 + i, 4096));
  }
  const uint32_t bs = ChooseBlockSize(base.size());
  RecordingSink s(base);
  BOOST_TEST_REQUIRE(RunDelta(base, updated, bs, s, 1 << 20).ok());
  BOOST_TEST_REQUIRE(s.out() == updated);
  // Each rewritten page touches at most ceil(4096 / bs) + 1 blocks.
  BOOST_TEST(s.literal() <= kPages * (4096 / bs + 2) * bs, "literal " << s.literal());
  BOOST_TEST(s.unmerged_adjacent_copies() == 0);
}

BOOST_AUTO_TEST_CASE(new_signature_reuses_the_entries_of_blocks_copied_in_place) {
  // Rewritten pages and an append keep the data in place: every block the matcher copied
  // whole at its own offset takes the base's entry; an insertion shifts the second half,
  // whose blocks are hashed. The signature always equals SignatureBuilder's.
  const std::string base = RandomBytes(40, 4 << 20);
  const uint32_t bs = 4096;
  std::string pages = base;
  for (size_t page : {7u, 300u, 301u, 900u})
    pages.replace(page * bs + 100, 50, RandomBytes(41, 50));
  const std::string appended = base + RandomBytes(42, 10000);
  std::string inserted = base;
  inserted.insert(base.size() / 2, RandomBytes(43, 1000));
  struct Case {
    const std::string* updated;
    uint64_t min_reused, max_reused;
  } cases[] = {{&pages, base.size() - 4 * bs, base.size() - 4 * bs},
               {&appended, base.size(), base.size()},
               {&inserted, base.size() / 2, base.size() / 2}};
  const FileSignature sig = delta_test::SignatureOf(base, bs);
  for (const Case& c : cases) {
    for (size_t chunk : {size_t{1} << 20, size_t{4097}, size_t{100000000}}) {
      RecordingSink sink(base);
      DeltaMatcher m(sig, sink, bs);
      for (size_t i = 0; i < c.updated->size(); i += chunk)
        BOOST_TEST_REQUIRE(m.Update(std::string_view(*c.updated).substr(i, chunk)).ok());
      BOOST_TEST_REQUIRE(m.Finish().ok());
      BOOST_TEST_REQUIRE(sink.out() == *c.updated);
      BOOST_TEST(m.signature_reused_bytes() >= c.min_reused);
      BOOST_TEST(m.signature_reused_bytes() <= c.max_reused);
      BOOST_TEST((m.TakeSignature() == delta_test::SignatureOf(*c.updated, bs)));
      BOOST_TEST(m.peak_buffered() <=
                 DeltaMatcher::kFeedChunk + DeltaMatcher::kLiteralChunk + 2 * bs);
    }
  }
}

BOOST_AUTO_TEST_CASE(new_signature_with_another_block_size_hashes_everything) {
  const std::string base = RandomBytes(44, 300000);
  std::string updated = base;
  updated.replace(1000, 10, "0123456789");
  const FileSignature sig = delta_test::SignatureOf(base, 1024);
  for (uint32_t new_bs : {700u, 2048u, 1u << 20}) {
    RecordingSink sink(base);
    DeltaMatcher m(sig, sink, new_bs);
    BOOST_TEST_REQUIRE(m.Update(updated).ok());
    BOOST_TEST_REQUIRE(m.Finish().ok());
    BOOST_TEST(m.signature_reused_bytes() == 0u);
    BOOST_TEST((m.TakeSignature() == delta_test::SignatureOf(updated, new_bs)));
  }
  // Without a block size there is no signature; with an empty base it is still built.
  RecordingSink sink(base);
  DeltaMatcher none(sig, sink);
  BOOST_TEST_REQUIRE(none.Update(updated).ok());
  BOOST_TEST_REQUIRE(none.Finish().ok());
  BOOST_TEST(none.TakeSignature().blocks.empty());
  RecordingSink sink2("");
  DeltaMatcher empty_base(delta_test::SignatureOf("", 700), sink2, 700);
  BOOST_TEST_REQUIRE(empty_base.Update(updated).ok());
  BOOST_TEST_REQUIRE(empty_base.Finish().ok());
  BOOST_TEST((empty_base.TakeSignature() == delta_test::SignatureOf(updated, 700)));
}

BOOST_AUTO_TEST_CASE(reordered_blocks_are_found_anywhere) {
  const std::string a = RandomBytes(12, 7000), b = RandomBytes(13, 7000), c = RandomBytes(14, 7000);
  const std::string base = a + b + c;
  const std::string updated = c + a + b + a;
  RecordingSink s(base);
  BOOST_TEST_REQUIRE(RunDelta(base, updated, 700, s).ok());
  BOOST_TEST_REQUIRE(s.out() == updated);
  BOOST_TEST(s.literal() == 0u, Describe(s));
  BOOST_TEST(s.copy_ops() == 3u, Describe(s));  // c, a+b, a
}

BOOST_AUTO_TEST_CASE(repetitive_data_matches_and_merges) {
  const std::string base =
      std::string(100000, '\0') + RandomBytes(15, 3000) + std::string(50000, 'z');
  std::string updated = base;
  updated.insert(50000, "hello");
  RecordingSink s(base);
  BOOST_TEST_REQUIRE(RunDelta(base, updated, 700, s, 3333).ok());
  BOOST_TEST_REQUIRE(s.out() == updated);
  BOOST_TEST(s.literal() <= 5u + 700, Describe(s));
}

BOOST_AUTO_TEST_CASE(unrelated_data_is_literal_in_bounded_chunks) {
  const std::string base = RandomBytes(16, 1 << 20);
  const std::string updated = RandomBytes(17, 3 << 20);
  RecordingSink s(base);  // rejects literals > kLiteralChunk
  BOOST_TEST_REQUIRE(RunDelta(base, updated, 1024, s, 5 << 20).ok());
  BOOST_TEST(s.out() == updated);
  BOOST_TEST(s.literal() == updated.size());
}

BOOST_AUTO_TEST_CASE(memory_stays_bounded_whatever_the_update_size) {
  const std::string base = RandomBytes(20, 2 << 20);
  std::string updated = RandomBytes(21, 6 << 20);  // unrelated, then the base, shifted
  updated += base;
  const uint32_t bs = ChooseBlockSize(base.size());
  RecordingSink s(base);
  DeltaMatcher m(delta_test::SignatureOf(base, bs), s);
  BOOST_TEST_REQUIRE(m.Update(updated).ok());  // one 8 MiB call
  BOOST_TEST_REQUIRE(m.Finish().ok());
  BOOST_TEST(s.out() == updated);
  BOOST_TEST(s.literal() == 6u << 20);
  BOOST_TEST(m.peak_buffered() <= DeltaMatcher::kFeedChunk + DeltaMatcher::kLiteralChunk + bs);
  BOOST_TEST(m.peak_buffered() >= DeltaMatcher::kFeedChunk);
}

BOOST_AUTO_TEST_CASE(random_edits_reconstruct_exactly) {
  for (uint64_t seed = 0; seed < 300; ++seed) {
    std::mt19937_64 rng(seed);
    const size_t n = rng() % (seed < 200 ? 20000 : 300000);
    const std::string base = RandomBytes(seed * 7 + 1, n);
    std::string updated = base;
    const int edits = static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      const size_t at = updated.empty() ? 0 : rng() % (updated.size() + 1);
      const size_t len = rng() % 2000;
      switch (rng() % 4) {
        case 0:
          updated.insert(at, RandomBytes(rng(), len));
          break;
        case 1:
          updated.erase(at, len);
          break;
        case 2:
          updated.replace(at, len, RandomBytes(rng(), len));
          break;
        case 3: {  // duplicate a piece of the base elsewhere
          const size_t from = base.empty() ? 0 : rng() % base.size();
          updated.insert(at, base.substr(from, len));
          break;
        }
      }
    }
    const uint32_t bs = (seed % 3 == 0) ? ChooseBlockSize(n) : 1 + rng() % 3000;
    const size_t chunk = (seed % 4 == 0) ? 0 : 1 + rng() % 20000;
    RecordingSink s(base);
    Status st = RunDelta(base, updated, bs, s, chunk);
    BOOST_TEST_REQUIRE(st.ok(), "seed " << seed << ": " << st);
    BOOST_TEST_REQUIRE(s.out() == updated, "seed " << seed << " bs " << bs << " chunk " << chunk);
    BOOST_TEST_REQUIRE(s.unmerged_adjacent_copies() == 0, "seed " << seed);
    if (edits == 0 && n > 0) BOOST_TEST_REQUIRE(s.literal() == 0u, "seed " << seed);
  }
}

BOOST_AUTO_TEST_CASE(invalid_signature_is_reported_by_every_call) {
  FileSignature sig = delta_test::SignatureOf(RandomBytes(18, 3000), 1000);
  sig.blocks.pop_back();
  RecordingSink s("");
  DeltaMatcher m(sig, s);
  Status st = m.Update("abc");
  BOOST_TEST(st.code() == Code::kInvalidArgument);
  BOOST_TEST(st.message().find("delta matcher") != std::string::npos, st.message());
  BOOST_TEST(m.Finish().code() == Code::kInvalidArgument);
  BOOST_TEST(s.ops().empty());
}

namespace {
class FailingSink : public DeltaSink {
 public:
  Status Copy(uint64_t, uint64_t) override { return Status(Code::kNoSpace, "server full"); }
  Status Literal(std::string_view) override { return Status::Ok(); }
};
}  // namespace

BOOST_AUTO_TEST_CASE(sink_failure_stops_the_matcher) {
  const std::string base = RandomBytes(19, 100000);
  FailingSink sink;
  DeltaMatcher m(delta_test::SignatureOf(base, 700), sink);
  Status st = m.Update(base);
  if (st.ok()) st = m.Finish();
  BOOST_TEST(st.code() == Code::kNoSpace);
  BOOST_TEST(m.Update("more").code() == Code::kNoSpace);
  BOOST_TEST(m.Finish().code() == Code::kNoSpace);
}

BOOST_AUTO_TEST_CASE(update_after_finish_is_an_error) {
  RecordingSink s("");
  DeltaMatcher m(delta_test::SignatureOf("", 700), s);
  BOOST_TEST(m.Finish().ok());
  BOOST_TEST(m.Update("x").code() == Code::kInvalidArgument);
}

BOOST_AUTO_TEST_SUITE_END()
