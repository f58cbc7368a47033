// Pipelined upload/download through the real sftp-server (ProcessChannel): content,
// -p, resume of a kept partial file, recursion, and failures leaving DEST untouched.
#include "transport/file_transfer.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include "tests/support/test_data.h"
#include "transport/process_channel.h"
#include "transport/sftp_remote_fs.h"

using namespace skiff;
namespace stdfs = std::filesystem;
using skiff::testing::RandomBytes;
using skiff::testing::ReadLocalFile;
using skiff::testing::WriteLocalFile;

namespace {

struct Env {
  std::string dir;
  ProcessChannel* channel = nullptr;
  std::unique_ptr<SftpRemoteFs> fs;
  explicit Env(std::set<std::string> disabled = {}) {
    char t[] = "/tmp/skiff-xfer-test-XXXXXX";
    dir = mkdtemp(t);
    stdfs::create_directory(dir + "/local");
    stdfs::create_directory(dir + "/remote");
    auto ch = ProcessChannel::Spawn({"/usr/lib/openssh/sftp-server"});
    BOOST_REQUIRE(ch.ok());
    channel = ch->get();
    SftpOptions o;
    o.disabled_extensions = std::move(disabled);
    auto f = SftpRemoteFs::Create(std::move(*ch), o);
    BOOST_REQUIRE_MESSAGE(f.ok(), f.status().ToString());
    fs = std::move(*f);
  }
  ~Env() {
    fs.reset();
    stdfs::remove_all(dir);
  }
  std::string L(const std::string& p) const { return dir + "/local/" + p; }
  std::string R(const std::string& p) const { return dir + "/remote/" + p; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(file_transfer)

BOOST_AUTO_TEST_CASE(upload_and_download_round_trip_with_progress) {
  Env e;
  for (size_t size : {size_t{0}, size_t{1}, size_t{261120}, size_t{5 * 1024 * 1024 + 17}}) {
    const std::string data = RandomBytes(size, static_cast<uint32_t>(size));
    WriteLocalFile(e.L("src"), data);
    uint64_t last_done = 0;
    TransferOptions o;
    o.progress = [&](const std::string&, uint64_t done, uint64_t total) {
      BOOST_CHECK(done >= last_done);
      BOOST_CHECK(total == data.size());
      last_done = done;
    };
    BOOST_REQUIRE(UploadFile(*e.fs, e.L("src"), e.R("up"), o).ok());
    BOOST_TEST((ReadLocalFile(e.R("up")) == data));
    BOOST_TEST(!stdfs::exists(e.R(std::string("up") + kPartialSuffix)));
    if (size > 0) BOOST_TEST(last_done == size);
    last_done = 0;
    BOOST_REQUIRE(DownloadFile(*e.fs, e.R("up"), e.L("down"), o).ok());
    if (size > 0) BOOST_TEST(last_done == size);
    BOOST_TEST((ReadLocalFile(e.L("down")) == data));
    BOOST_TEST(!stdfs::exists(e.L(std::string("down") + kPartialSuffix)));
  }
}

BOOST_AUTO_TEST_CASE(preserve_keeps_mode_and_mtime) {
  Env e;
  WriteLocalFile(e.L("f"), "abc");
  chmod(e.L("f").c_str(), 0751);
  struct timespec ts[2] = {{1000000000, 0}, {1300000000, 0}};
  utimensat(AT_FDCWD, e.L("f").c_str(), ts, 0);
  TransferOptions p;
  p.preserve = true;
  BOOST_REQUIRE(UploadFile(*e.fs, e.L("f"), e.R("f"), p).ok());
  struct stat st;
  BOOST_REQUIRE(stat(e.R("f").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0751u);
  BOOST_TEST(st.st_mtime == 1300000000);
  BOOST_REQUIRE(DownloadFile(*e.fs, e.R("f"), e.L("g"), p).ok());
  BOOST_REQUIRE(stat(e.L("g").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0751u);
  BOOST_TEST(st.st_mtime == 1300000000);
  // Without -p the mtime is the copy's own.
  BOOST_REQUIRE(DownloadFile(*e.fs, e.R("f"), e.L("h"), TransferOptions{}).ok());
  BOOST_REQUIRE(stat(e.L("h").c_str(), &st) == 0);
  BOOST_TEST(st.st_mtime != 1300000000);
}

BOOST_AUTO_TEST_CASE(partial_files_are_resumed_from_their_size) {
  Env e;
  const std::string data = RandomBytes(3 * 1024 * 1024, 5);
  WriteLocalFile(e.R("src"), data);
  WriteLocalFile(e.L("src"), data);
  TransferOptions o;
  o.keep_partial = true;
  // A previous interrupted download left the first 1 MiB (marked, to prove it is kept).
  std::string prefix = data.substr(0, 1 << 20);
  prefix[5] ^= 0x55;
  WriteLocalFile(e.L("dst") + kPartialSuffix, prefix);
  uint64_t first_progress = 0;
  o.progress = [&](const std::string&, uint64_t done, uint64_t) {
    if (!first_progress) first_progress = done;
  };
  BOOST_REQUIRE(DownloadFile(*e.fs, e.R("src"), e.L("dst"), o).ok());
  std::string got = ReadLocalFile(e.L("dst"));
  BOOST_TEST(got.size() == data.size());
  BOOST_TEST(got[5] == prefix[5]);  // resumed, not re-copied
  BOOST_TEST((got.substr(1 << 20) == data.substr(1 << 20)));
  BOOST_TEST(first_progress > uint64_t{1 << 20});
  // Same for upload.
  WriteLocalFile(e.R("up") + kPartialSuffix, prefix);
  BOOST_REQUIRE(UploadFile(*e.fs, e.L("src"), e.R("up"), o).ok());
  got = ReadLocalFile(e.R("up"));
  BOOST_TEST(got[5] == prefix[5]);
  BOOST_TEST((got.substr(1 << 20) == data.substr(1 << 20)));
  // A partial larger than the source is discarded; without keep_partial it is ignored.
  WriteLocalFile(e.L("dst2") + kPartialSuffix, data + "extra");
  BOOST_REQUIRE(DownloadFile(*e.fs, e.R("src"), e.L("dst2"), o).ok());
  BOOST_TEST((ReadLocalFile(e.L("dst2")) == data));
  WriteLocalFile(e.L("dst3") + kPartialSuffix, prefix);
  BOOST_REQUIRE(DownloadFile(*e.fs, e.R("src"), e.L("dst3"), TransferOptions{}).ok());
  BOOST_TEST((ReadLocalFile(e.L("dst3")) == data));
}

BOOST_AUTO_TEST_CASE(failure_leaves_destination_untouched) {
  Env e;
  WriteLocalFile(e.L("dst"), "old");
  BOOST_TEST(
      DownloadFile(*e.fs, e.R("missing"), e.L("dst"), TransferOptions{}).Is(Code::kNotFound));
  BOOST_TEST(ReadLocalFile(e.L("dst")) == "old");
  BOOST_TEST(UploadFile(*e.fs, e.L("missing"), e.R("x"), TransferOptions{}).Is(Code::kNotFound));
  BOOST_TEST(UploadFile(*e.fs, e.L("dst"), e.R("nodir/x"), TransferOptions{}).Is(Code::kNotFound));
  BOOST_TEST(
      Download(*e.fs, e.dir + "/remote", e.L("d"), TransferOptions{}).Is(Code::kIsDirectory));
  // The server dies mid-download: connection lost, partial kept only when asked.
  WriteLocalFile(e.R("big"), RandomBytes(8 << 20, 2));
  TransferOptions o;
  o.keep_partial = true;
  bool killed = false;
  o.progress = [&](const std::string&, uint64_t done, uint64_t) {
    if (!killed && done > (1 << 20)) {
      killed = true;
      kill(e.channel->pid(), SIGKILL);
    }
  };
  Status st = DownloadFile(*e.fs, e.R("big"), e.L("dst"), o);
  BOOST_TEST(st.Is(Code::kConnectionLost));
  BOOST_TEST(ReadLocalFile(e.L("dst")) == "old");
  BOOST_TEST(stdfs::exists(e.L("dst") + kPartialSuffix));
}

BOOST_AUTO_TEST_CASE(recursive_copies_trees_both_ways) {
  Env e({"posix-rename@openssh.com"});  // also exercises the rename fallback
  stdfs::create_directories(e.L("tree/a/b"));
  WriteLocalFile(e.L("tree/top"), "T");
  WriteLocalFile(e.L("tree/a/b/deep"), RandomBytes(400000, 1));
  for (int i = 0; i < 250; ++i) WriteLocalFile(e.L("tree/a/f" + std::to_string(i)), "x");
  TransferOptions o;
  o.recursive = true;
  BOOST_REQUIRE(Upload(*e.fs, e.L("tree"), e.R("tree"), o).ok());
  BOOST_TEST((ReadLocalFile(e.R("tree/a/b/deep")) == ReadLocalFile(e.L("tree/a/b/deep"))));
  BOOST_TEST(ReadLocalFile(e.R("tree/a/f249")) == "x");
  // Copying again replaces files in place.
  WriteLocalFile(e.L("tree/top"), "T2");
  BOOST_REQUIRE(Upload(*e.fs, e.L("tree"), e.R("tree"), o).ok());
  BOOST_TEST(ReadLocalFile(e.R("tree/top")) == "T2");
  BOOST_REQUIRE(Download(*e.fs, e.R("tree"), e.L("back"), o).ok());
  BOOST_TEST((ReadLocalFile(e.L("back/a/b/deep")) == ReadLocalFile(e.L("tree/a/b/deep"))));
  size_t n = 0;
  for (auto& it : stdfs::recursive_directory_iterator(e.L("back"))) n += it.is_regular_file();
  BOOST_TEST(n == 252u);
  // One unreadable file: reported, the rest copied.
  WriteLocalFile(e.R("tree/a/zz"), "z");
  stdfs::create_directory(e.L("back2"));
  WriteLocalFile(e.L("back2/a"), "file where a directory should go");
  int errors = 0;
  o.on_error = [&](const Status&) { ++errors; };
  Status st = Download(*e.fs, e.R("tree"), e.L("back2"), o);
  BOOST_TEST(st.Is(Code::kIo));
  BOOST_TEST(errors == 1);
  BOOST_TEST(ReadLocalFile(e.L("back2/top")) == "T2");
}

BOOST_AUTO_TEST_SUITE_END()
