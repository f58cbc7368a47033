// RemoteStreamReader's size hint: a small file costs one read request instead of a full
// read-ahead window, and a file longer than its hint is still read to the end.
#include "sync/remote_stream.h"

#include <atomic>
#include <boost/test/unit_test.hpp>

#include "transport/mem_remote_fs.h"

using namespace skiff;
using namespace skiff::sync;

namespace {

// Counts the read requests issued on a file.
class CountingFile : public RemoteFile {
 public:
  explicit CountingFile(std::unique_ptr<RemoteFile> in) : in_(std::move(in)) {}
  std::atomic<int> reads{0};
  std::atomic<uint64_t> asked{0};  // bytes asked for, summed over the reads
  Result<std::string> Read(uint64_t o, uint32_t n) override {
    ++reads;
    return in_->Read(o, n);
  }
  Status Write(uint64_t o, std::string_view d) override { return in_->Write(o, d); }
  void ReadAsync(uint64_t o, uint32_t n, ReadCallback cb) override {
    ++reads;
    asked += n;
    in_->ReadAsync(o, n, std::move(cb));
  }
  void WriteAsync(uint64_t o, std::string d, DoneCallback cb) override {
    in_->WriteAsync(o, std::move(d), std::move(cb));
  }
  Result<FileAttr> Stat() override { return in_->Stat(); }
  Status SetStat(const FileAttr& a) override { return in_->SetStat(a); }
  Status Sync() override { return in_->Sync(); }
  Status Close() override { return in_->Close(); }

 private:
  std::unique_ptr<RemoteFile> in_;
};

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 23);
  return s;
}

// Reads `content` back through a reader with chunk 4096, depth 32 and the given hint;
// returns the number of read requests (and the bytes they asked for in *asked).
int ReadBack(const std::string& content, uint64_t hint, uint64_t* asked = nullptr,
             bool exact = false) {
  MemRemoteFs mem;
  {
    auto f = mem.Open("/f", OpenFlags::kWrite | OpenFlags::kCreate, 0600);
    BOOST_REQUIRE(f.ok());
    if (!content.empty()) BOOST_REQUIRE((*f)->Write(0, content).ok());
    BOOST_REQUIRE((*f)->Close().ok());
  }
  auto in = mem.Open("/f", OpenFlags::kRead);
  BOOST_REQUIRE(in.ok());
  CountingFile file(std::move(*in));
  std::string got;
  {
    RemoteStreamReader r(file, 4096, 32);
    if (exact)
      r.set_exact_size(hint);
    else
      r.set_size_hint(hint);
    while (true) {
      auto c = r.Next();
      BOOST_REQUIRE(c.ok());
      if (c->empty()) break;
      got += *c;
    }
  }
  BOOST_TEST(got == (exact ? content.substr(0, hint) : content));
  if (asked) *asked = file.asked.load();
  return file.reads.load();
}

}  // namespace

BOOST_AUTO_TEST_CASE(remote_stream_reader_size_hint_bounds_read_ahead) {
  BOOST_TEST(ReadBack(Pattern(1000), 1000) == 1);       // short read shows EOF
  BOOST_TEST(ReadBack("", 0) == 1);                     // empty file
  BOOST_TEST(ReadBack(Pattern(8192), 8192) == 3);       // exact chunks: one more read for EOF
  BOOST_TEST(ReadBack(Pattern(50000), 100) >= 13);      // longer than the hint: read to the end
  BOOST_TEST(ReadBack(Pattern(50000), 50000) == 13);    // 12 full chunks + the short one
  BOOST_TEST(ReadBack(Pattern(1000), UINT64_MAX) > 1);  // no hint: the whole window
}

// With a hint, the reads ask for the expected size plus the one byte that shows EOF, not
// whole chunks (the SFTP client counts asked bytes against its in-flight window).
BOOST_AUTO_TEST_CASE(remote_stream_reader_asks_only_for_the_hinted_size) {
  uint64_t asked = 0;
  BOOST_TEST(ReadBack(Pattern(200), 200, &asked) == 1);
  BOOST_TEST(asked == 201u);
  BOOST_TEST(ReadBack(Pattern(5000), 5000, &asked) == 2);  // 4096 + 905
  BOOST_TEST(asked == 5001u);
  BOOST_TEST(ReadBack(Pattern(8192), 8192, &asked) == 3);  // 4096 + 4096 + 1
  BOOST_TEST(asked == 8193u);
  // Longer than hinted: the hinted read comes back full, so reading goes on to the end.
  BOOST_TEST(ReadBack(Pattern(5000), 100, &asked) == 3);  // 101, then 4096 (full), then short
  // Shorter than hinted: the short answer is EOF all the same.
  BOOST_TEST(ReadBack(Pattern(100), 5000) == 2);  // 4096 (short: EOF) and 905 in flight
}

// An exact size reads just those bytes: no request shows EOF (over SFTP the hint's extra
// byte cost a second request per file), nothing past the size is read, and a shorter
// file ends at its EOF.
BOOST_AUTO_TEST_CASE(remote_stream_reader_exact_size_reads_no_further) {
  uint64_t asked = 0;
  BOOST_TEST(ReadBack(Pattern(200), 200, &asked, true) == 1);
  BOOST_TEST(asked == 200u);
  BOOST_TEST(ReadBack("", 0, &asked, true) == 0);
  BOOST_TEST(ReadBack(Pattern(8192), 8192, &asked, true) == 2);
  BOOST_TEST(asked == 8192u);
  BOOST_TEST(ReadBack(Pattern(50000), 50000, &asked, true) == 13);  // 12 x 4096 + 848
  BOOST_TEST(asked == 50000u);
  BOOST_TEST(ReadBack(Pattern(5000), 100, &asked, true) == 1);  // the first 100 bytes only
  BOOST_TEST(asked == 100u);
  BOOST_TEST(ReadBack(Pattern(100), 5000, &asked, true) == 2);  // 4096 (short: EOF) + 904
}
