// SftpRemoteFs against the real OpenSSH sftp-server, run through ProcessChannel (no sshd).
// Every extension is exercised, and each fallback by switching the extension off.
#include "transport/sftp_remote_fs.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>

#include "tests/support/test_data.h"
#include "transport/process_channel.h"

using namespace skiff;
namespace stdfs = std::filesystem;
using skiff::testing::RandomBytes;
using skiff::testing::ReadLocalFile;
using skiff::testing::WriteLocalFile;

namespace {

constexpr const char* kSftpServer = "/usr/lib/openssh/sftp-server";

struct TempDir {
  std::string path;
  TempDir() {
    char t[] = "/tmp/skiff-sftp-test-XXXXXX";
    path = mkdtemp(t);
  }
  ~TempDir() { stdfs::remove_all(path); }
};

struct Server {
  ProcessChannel* channel = nullptr;  // owned by fs
  std::unique_ptr<SftpRemoteFs> fs;
};

Server Connect(std::set<std::string> disabled = {}) {
  auto ch = ProcessChannel::Spawn({kSftpServer});
  BOOST_REQUIRE_MESSAGE(ch.ok(), ch.status().ToString());
  Server s;
  s.channel = ch->get();
  SftpOptions opts;
  opts.disabled_extensions = std::move(disabled);
  auto fs = SftpRemoteFs::Create(std::move(*ch), opts);
  BOOST_REQUIRE_MESSAGE(fs.ok(), fs.status().ToString());
  s.fs = std::move(*fs);
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sftp_remote_fs)

BOOST_AUTO_TEST_CASE(advertises_openssh_extensions_and_limits) {
  auto s = Connect();
  const Capabilities& c = s.fs->caps();
  BOOST_TEST(c.posix_rename);
  BOOST_TEST(c.statvfs);
  BOOST_TEST(c.hardlink);
  BOOST_TEST(c.fsync);
  BOOST_TEST(c.lsetstat);
  BOOST_TEST(c.limits);
  BOOST_TEST(c.expand_path);
  BOOST_TEST(c.copy_data);
  BOOST_TEST(c.max_read > 200000u);  // OpenSSH >= 8.6: 255 KiB
  BOOST_TEST(c.max_write > 200000u);
  auto off = Connect({"limits@openssh.com", "copy-data", "posix-rename"});
  BOOST_TEST(!off.fs->caps().limits);
  BOOST_TEST(off.fs->caps().max_read == 32768u);
  BOOST_TEST(!off.fs->caps().copy_data);
  BOOST_TEST(!off.fs->caps().posix_rename);
  BOOST_TEST(off.fs->caps().hardlink);
}

BOOST_AUTO_TEST_CASE(pipelined_write_and_read_round_trip) {
  TempDir d;
  for (bool limits : {true, false}) {
    auto s = limits ? Connect() : Connect({"limits@openssh.com"});
    const std::string path = d.path + "/big" + std::to_string(limits);
    const std::string data = RandomBytes(3 * 1024 * 1024 + 12345, 7);
    auto f = s.fs->Open(path, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kTruncate, 0640);
    BOOST_REQUIRE_MESSAGE(f.ok(), f.status().ToString());
    // Many async writes in flight, each larger than max_write (split internally).
    std::mutex mu;
    std::condition_variable cv;
    int left = 0;
    Status first;
    const size_t piece = 300000;
    for (size_t off = 0; off < data.size(); off += piece) {
      std::lock_guard<std::mutex> l(mu);
      ++left;
    }
    for (size_t off = 0; off < data.size(); off += piece) {
      (*f)->WriteAsync(off, data.substr(off, piece), [&](Status st) {
        std::lock_guard<std::mutex> l(mu);
        if (!st.ok() && first.ok()) first = st;
        if (--left == 0) cv.notify_all();
      });
    }
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return left == 0; });
    }
    BOOST_REQUIRE_MESSAGE(first.ok(), first.ToString());
    BOOST_REQUIRE((*f)->Close().ok());
    BOOST_TEST((ReadLocalFile(path) == data));
    BOOST_TEST((*f)->Close().Is(Code::kInvalidArgument));

    auto g = s.fs->Open(path, OpenFlags::kRead);
    BOOST_REQUIRE(g.ok());
    const uint32_t chunk = s.fs->caps().max_read;
    std::vector<std::string> parts((data.size() + chunk - 1) / chunk);
    left = static_cast<int>(parts.size());
    for (size_t i = 0; i < parts.size(); ++i) {
      (*g)->ReadAsync(i * chunk, chunk, [&, i](Result<std::string> r) {
        std::lock_guard<std::mutex> l(mu);
        if (r.ok())
          parts[i] = std::move(*r);
        else if (first.ok())
          first = r.status();
        if (--left == 0) cv.notify_all();
      });
    }
    {
      std::unique_lock<std::mutex> l(mu);
      cv.wait(l, [&] { return left == 0; });
    }
    BOOST_REQUIRE_MESSAGE(first.ok(), first.ToString());
    std::string joined;
    for (auto& p : parts) joined += p;
    BOOST_TEST((joined == data));
    // Sync read: short at EOF, empty past it, and len capped at max_read.
    BOOST_TEST((*g)->Read(data.size() - 5, 100).value() == data.substr(data.size() - 5));
    BOOST_TEST((*g)->Read(data.size() + 10, 100).value().empty());
    BOOST_TEST((*g)->Read(0, 4u << 20).value().size() == chunk);
    // Sync write larger than max_write.
    auto h = s.fs->Open(path, OpenFlags::kWrite);
    BOOST_REQUIRE(h.ok());
    const std::string patch = RandomBytes(700000, 9);
    BOOST_REQUIRE((*h)->Write(1000, patch).ok());
    BOOST_TEST((ReadLocalFile(path).substr(1000, patch.size()) == patch));
  }
}

BOOST_AUTO_TEST_CASE(stat_setstat_and_errors) {
  TempDir d;
  auto s = Connect();
  WriteLocalFile(d.path + "/f", "hello");
  auto a = s.fs->Stat(d.path + "/f");
  BOOST_REQUIRE(a.ok());
  BOOST_TEST(a->IsRegular());
  BOOST_TEST(a->size == 5u);
  FileAttr set;
  set.valid = FileAttr::kPermissions | FileAttr::kTimes;
  set.mode = 0600;
  set.atime = 1000000000;
  set.mtime = 1200000000;
  BOOST_REQUIRE(s.fs->SetStat(d.path + "/f", set).ok());
  struct stat st;
  BOOST_REQUIRE(::stat((d.path + "/f").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0600u);
  BOOST_TEST(st.st_mtime == 1200000000);
  auto f = s.fs->Open(d.path + "/f", OpenFlags::kRead | OpenFlags::kWrite);
  BOOST_REQUIRE(f.ok());
  FileAttr trunc;
  trunc.valid = FileAttr::kSize;
  trunc.size = 2;
  BOOST_REQUIRE((*f)->SetStat(trunc).ok());
  BOOST_TEST((*f)->Stat()->size == 2u);
  BOOST_TEST((*f)->Stat()->mtime != 0);

  auto missing = s.fs->Stat(d.path + "/nope");
  BOOST_TEST(missing.status().Is(Code::kNotFound));
  BOOST_TEST(missing.status().message().find(d.path + "/nope") != std::string::npos);
  BOOST_TEST(s.fs->Open(d.path + "/nope/x", OpenFlags::kRead).status().Is(Code::kNotFound));
  BOOST_TEST(
      s.fs->Open(d.path + "/f", OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kExclusive)
          .status()
          .Is(Code::kExists));
  BOOST_REQUIRE(s.fs->Mkdir(d.path + "/dir", 0700).ok());
  BOOST_TEST(s.fs->Mkdir(d.path + "/dir").Is(Code::kExists));
  BOOST_TEST(s.fs->Lstat(d.path + "/dir")->IsDir());
  WriteLocalFile(d.path + "/dir/x", "x");
  BOOST_TEST(s.fs->Rmdir(d.path + "/dir").Is(Code::kNotEmpty));
  BOOST_TEST(s.fs->Remove(d.path + "/dir").Is(Code::kIsDirectory));
  BOOST_REQUIRE(s.fs->Remove(d.path + "/dir/x").ok());
  BOOST_REQUIRE(s.fs->Rmdir(d.path + "/dir").ok());
  BOOST_TEST(s.fs->Remove(d.path + "/dir").Is(Code::kNotFound));
}

BOOST_AUTO_TEST_CASE(readdir_spans_many_batches) {
  TempDir d;
  auto s = Connect();
  for (int i = 0; i < 1000; ++i) WriteLocalFile(d.path + "/file" + std::to_string(i), "x");
  stdfs::create_directory(d.path + "/sub");
  auto entries = s.fs->ReadDir(d.path);
  BOOST_REQUIRE_MESSAGE(entries.ok(), entries.status().ToString());
  BOOST_TEST(entries->size() == 1001u);
  std::set<std::string> names;
  for (auto& e : *entries) {
    names.insert(e.name);
    if (e.name == "sub") BOOST_TEST(e.attr.IsDir());
    if (e.name == "file7") BOOST_TEST(e.attr.size == 1u);
  }
  BOOST_TEST(names.size() == 1001u);
  BOOST_TEST(!names.count("."));
  BOOST_TEST(!names.count(".."));
  BOOST_TEST(s.fs->ReadDir(d.path + "/missing").status().Is(Code::kNotFound));
}

// READDIRs are sent in rounds (2, 4, 8, ...) and OpenSSH answers up to 100 names each:
// sizes around the batch and round boundaries must all come back complete and exact.
BOOST_AUTO_TEST_CASE(readdir_exact_at_batch_and_round_boundaries) {
  auto s = Connect();
  for (int n : {0, 1, 99, 100, 101, 199, 200, 201, 299, 601, 1500}) {
    TempDir d;
    std::set<std::string> want;
    for (int i = 0; i < n; ++i) {
      std::string name = "e" + std::to_string(i);
      WriteLocalFile(d.path + "/" + name, std::string(i % 7, 'x'));
      want.insert(name);
    }
    auto entries = s.fs->ReadDir(d.path);
    BOOST_REQUIRE_MESSAGE(entries.ok(), entries.status().ToString());
    BOOST_TEST(entries->size() == size_t(n), "n=" << n);
    std::set<std::string> got;
    for (auto& e : *entries) {
      got.insert(e.name);
      BOOST_TEST(e.attr.size == uint64_t(std::stoi(e.name.substr(1)) % 7));
    }
    BOOST_TEST((got == want), "n=" << n);
  }
}

size_t OpenFds(pid_t pid) {
  size_t n = 0;
  for ([[maybe_unused]] auto& e : stdfs::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    ++n;
  return n;
}

// ReadDir does not wait for its CLOSE; the server still closes every directory handle
// (a later request on the channel is answered only after the CLOSEs before it).
BOOST_AUTO_TEST_CASE(readdir_closes_its_handles_without_waiting) {
  TempDir d;
  for (int i = 0; i < 150; ++i) WriteLocalFile(d.path + "/f" + std::to_string(i), "x");
  auto s = Connect();
  BOOST_REQUIRE(s.fs->Stat(d.path).ok());
  size_t before = OpenFds(s.channel->pid());
  for (int i = 0; i < 300; ++i) {
    auto entries = s.fs->ReadDir(d.path);
    BOOST_REQUIRE(entries.ok());
    BOOST_REQUIRE(entries->size() == 150u);
  }
  BOOST_TEST(!s.fs->ReadDir(d.path + "/f1").ok());  // a failed OPENDIR leaves no handle
  BOOST_REQUIRE(s.fs->Stat(d.path).ok());           // ordered after every CLOSE above
  BOOST_TEST(OpenFds(s.channel->pid()) == before);
}

BOOST_AUTO_TEST_CASE(rename_with_posix_rename_and_fallback) {
  TempDir d;
  for (bool ext : {true, false}) {
    auto s = ext ? Connect() : Connect({"posix-rename@openssh.com"});
    BOOST_TEST(s.fs->caps().posix_rename == ext);
    WriteLocalFile(d.path + "/a", "A");
    WriteLocalFile(d.path + "/b", "B");
    BOOST_TEST(
        s.fs->Rename(d.path + "/a", d.path + "/b", RenameMode::kNoReplace).Is(Code::kExists));
    BOOST_TEST(ReadLocalFile(d.path + "/b") == "B");
    // An empty directory in the way is not replaced either (rename(2) would replace it).
    stdfs::create_directories(d.path + "/d1/inside");
    stdfs::create_directories(d.path + "/d2");
    BOOST_TEST(
        s.fs->Rename(d.path + "/d1", d.path + "/d2", RenameMode::kNoReplace).Is(Code::kExists));
    BOOST_TEST(stdfs::exists(d.path + "/d1/inside"));
    BOOST_TEST(!stdfs::exists(d.path + "/d2/inside"));
    stdfs::remove_all(d.path + "/d1");
    stdfs::remove_all(d.path + "/d2");
    BOOST_REQUIRE(s.fs->Rename(d.path + "/a", d.path + "/b", RenameMode::kReplace).ok());
    BOOST_TEST(ReadLocalFile(d.path + "/b") == "A");
    BOOST_TEST(!stdfs::exists(d.path + "/a"));
    BOOST_REQUIRE(s.fs->Rename(d.path + "/b", d.path + "/c", RenameMode::kNoReplace).ok());
    BOOST_REQUIRE(s.fs->Rename(d.path + "/c", d.path + "/e", RenameMode::kReplace).ok());
    BOOST_TEST(ReadLocalFile(d.path + "/e") == "A");
    BOOST_TEST(
        s.fs->Rename(d.path + "/zz", d.path + "/e", RenameMode::kReplace).Is(Code::kNotFound));
    stdfs::remove(d.path + "/e");
  }
}

BOOST_AUTO_TEST_CASE(symlinks_lsetstat_and_fallback) {
  TempDir d;
  for (bool ext : {true, false}) {
    auto s = ext ? Connect() : Connect({"lsetstat"});
    const std::string link = d.path + "/link" + std::to_string(ext);
    WriteLocalFile(d.path + "/target", "data");
    BOOST_REQUIRE(s.fs->Symlink("target", link).ok());
    BOOST_TEST(stdfs::read_symlink(link) == "target");
    BOOST_TEST(s.fs->Readlink(link).value() == "target");
    BOOST_TEST(s.fs->Lstat(link)->IsSymlink());
    BOOST_TEST(s.fs->Stat(link)->IsRegular());
    FileAttr t;
    t.valid = FileAttr::kTimes;
    t.atime = 1100000000;
    t.mtime = 1100000000;
    Status st = s.fs->LSetStat(link, t);
    if (ext) {
      BOOST_REQUIRE_MESSAGE(st.ok(), st.ToString());
      struct stat ls;
      BOOST_REQUIRE(::lstat(link.c_str(), &ls) == 0);
      BOOST_TEST(ls.st_mtime == 1100000000);
    } else {
      BOOST_TEST(st.Is(Code::kUnsupported));
      BOOST_TEST(st.message().find("lsetstat@openssh.com") != std::string::npos);
      // On a regular file the fallback is a plain setstat.
      BOOST_REQUIRE(s.fs->LSetStat(d.path + "/target", t).ok());
      BOOST_TEST(s.fs->Stat(d.path + "/target")->mtime == 1100000000);
    }
    BOOST_TEST(s.fs->Readlink(d.path + "/target").status().code() != Code::kOk);
  }
}

BOOST_AUTO_TEST_CASE(hardlink_statvfs_fsync_and_their_absence) {
  TempDir d;
  WriteLocalFile(d.path + "/a", "A");
  {
    auto s = Connect();
    BOOST_REQUIRE(s.fs->Hardlink(d.path + "/a", d.path + "/h").ok());
    struct stat st;
    BOOST_REQUIRE(::stat((d.path + "/h").c_str(), &st) == 0);
    BOOST_TEST(st.st_nlink == 2u);
    BOOST_TEST(s.fs->Hardlink(d.path + "/a", d.path + "/h").code() != Code::kOk);
    auto v = s.fs->StatVfs(d.path);
    BOOST_REQUIRE_MESSAGE(v.ok(), v.status().ToString());
    struct statvfs local;
    BOOST_REQUIRE(::statvfs(d.path.c_str(), &local) == 0);
    BOOST_TEST(v->blocks == local.f_blocks);
    BOOST_TEST(v->name_max == local.f_namemax);
    auto f = s.fs->Open(d.path + "/a", OpenFlags::kWrite);
    BOOST_REQUIRE(f.ok());
    BOOST_TEST((*f)->Sync().ok());
  }
  {
    auto s = Connect({"hardlink@openssh.com", "statvfs@openssh.com", "fsync@openssh.com"});
    BOOST_TEST(s.fs->Hardlink(d.path + "/a", d.path + "/h2").Is(Code::kUnsupported));
    BOOST_TEST(!stdfs::exists(d.path + "/h2"));
    BOOST_TEST(s.fs->StatVfs(d.path).status().Is(Code::kUnsupported));
    auto f = s.fs->Open(d.path + "/a", OpenFlags::kWrite);
    BOOST_REQUIRE(f.ok());
    BOOST_TEST((*f)->Sync().Is(Code::kUnsupported));
  }
}

BOOST_AUTO_TEST_CASE(realpath_with_expand_path_and_fallback) {
  TempDir d;
  stdfs::create_directory(d.path + "/x");
  const std::string canonical = stdfs::canonical(d.path).string();
  for (bool ext : {true, false}) {
    auto s = ext ? Connect() : Connect({"expand-path@openssh.com"});
    BOOST_TEST(s.fs->RealPath(d.path + "/x/..").value() == canonical);
    auto home = s.fs->RealPath("~");
    if (ext) {
      BOOST_REQUIRE_MESSAGE(home.ok(), home.status().ToString());
      // sftp-server expands a bare "~" to its start directory (the login home).
      BOOST_TEST(home.value() == stdfs::current_path().string());
    } else {
      // Without expand-path "~" is just a (missing) relative name.
      BOOST_TEST((!home.ok() || home.value().find('~') != std::string::npos));
    }
  }
}

BOOST_AUTO_TEST_CASE(copy_data_server_side_and_through_client) {
  TempDir d;
  const std::string data = RandomBytes(1500000, 3);
  WriteLocalFile(d.path + "/src", data);
  for (bool ext : {true, false}) {
    auto s = ext ? Connect() : Connect({"copy-data"});
    auto src = s.fs->Open(d.path + "/src", OpenFlags::kRead);
    auto dst =
        s.fs->Open(d.path + "/dst", OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kTruncate);
    BOOST_REQUIRE(src.ok());
    BOOST_REQUIRE(dst.ok());
    BOOST_REQUIRE(s.fs->CopyData(**src, 0, 0, **dst, 0).ok());  // whole file
    BOOST_TEST((ReadLocalFile(d.path + "/dst") == data));
    BOOST_REQUIRE(s.fs->CopyData(**src, 100, 300000, **dst, 7).ok());  // a range
    std::string expect = data;
    expect.replace(7, 300000, data.substr(100, 300000));
    BOOST_TEST((ReadLocalFile(d.path + "/dst") == expect));
    BOOST_REQUIRE(s.fs->CopyData(**src, data.size() - 10, 1000, **dst, 0).ok());  // past EOF
    expect.replace(0, 10, data.substr(data.size() - 10));
    BOOST_TEST((ReadLocalFile(d.path + "/dst") == expect));
  }
}

BOOST_AUTO_TEST_CASE(server_death_fails_everything_with_connection_lost) {
  TempDir d;
  WriteLocalFile(d.path + "/f", RandomBytes(4 << 20, 1));
  auto s = Connect();
  auto f = s.fs->Open(d.path + "/f", OpenFlags::kRead);
  BOOST_REQUIRE(f.ok());
  std::mutex mu;
  std::condition_variable cv;
  int left = 16, lost = 0;
  for (int i = 0; i < 16; ++i) {
    (*f)->ReadAsync(uint64_t(i) * 200000, 200000, [&](Result<std::string> r) {
      std::lock_guard<std::mutex> l(mu);
      if (!r.ok()) {
        BOOST_CHECK(r.status().Is(Code::kConnectionLost));
        BOOST_CHECK(r.status().retryable());
        ++lost;
      }
      if (--left == 0) cv.notify_all();
    });
  }
  kill(s.channel->pid(), SIGKILL);
  {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return left == 0; });
  }
  // Whatever was answered before the kill succeeded; everything later fails, at once.
  auto later = s.fs->Stat(d.path + "/f");
  BOOST_TEST(later.status().Is(Code::kConnectionLost));
  BOOST_TEST(later.status().retryable());
  BOOST_TEST((*f)->Read(0, 10).status().Is(Code::kConnectionLost));
}

BOOST_AUTO_TEST_CASE(spawn_of_missing_program_fails_clearly) {
  auto ch = ProcessChannel::Spawn({"/nonexistent/sftp-server"});
  BOOST_TEST(ch.status().Is(Code::kIo));
  BOOST_TEST(ch.status().message().find("/nonexistent/sftp-server") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
