// The semantics layer against the real OpenSSH sftp-server (SftpRemoteFs over a
// ProcessChannel): real pipelining, real errors, real extensions; no kernel, no SSH.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "fs/errno_map.h"
#include "fs/remote_filesystem.h"
#include "tests/support/test_data.h"
#include "transport/process_channel.h"
#include "transport/sftp_remote_fs.h"

using skiff::fs::StatusToErrno;
using skiff::testing::RandomBytes;

namespace {

constexpr uint64_t kRoot = 1;

struct SftpServer {
  SftpServer() {
    char tmpl[] = "/tmp/skiff-fs-sftp-XXXXXX";
    dir = mkdtemp(tmpl);
    auto ch = skiff::ProcessChannel::Spawn({"/usr/lib/openssh/sftp-server"});
    if (!ch.ok()) throw std::runtime_error(ch.status().ToString());
    server_pid = (*ch)->pid();
    auto fs = skiff::SftpRemoteFs::Create(std::move(ch).value());
    if (!fs.ok()) throw std::runtime_error(fs.status().ToString());
    remote = std::shared_ptr<skiff::RemoteFs>(std::move(fs).value());
    filesystem = std::make_unique<skiff::fs::RemoteFilesystem>(
        std::vector<std::shared_ptr<skiff::RemoteFs>>{remote}, nullptr, dir,
        skiff::fs::MountOptions{});
    skiff::Status s = filesystem->Init();
    if (!s.ok()) throw std::runtime_error(s.ToString());
  }
  ~SftpServer() {
    filesystem.reset();
    remote.reset();
    std::filesystem::remove_all(dir);
  }
  std::string Local(const std::string& name) {
    return skiff::testing::ReadLocalFile(dir + "/" + name);
  }
  // Descriptors the sftp-server has open (each open handle is one).
  size_t ServerFds() const {
    auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(server_pid) + "/fd");
    return static_cast<size_t>(std::distance(it, std::filesystem::directory_iterator()));
  }
  std::string dir;
  pid_t server_pid = 0;
  std::shared_ptr<skiff::RemoteFs> remote;
  std::unique_ptr<skiff::fs::RemoteFilesystem> filesystem;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(sftp_server)

BOOST_AUTO_TEST_CASE(pipelined_write_then_random_reads_match) {
  SftpServer s;
  auto c = s.filesystem->Create(kRoot, "big", 0644, O_RDWR | O_CREAT | O_EXCL);
  BOOST_REQUIRE(c.ok());
  std::string model = RandomBytes(8 << 20, 11);
  for (size_t off = 0; off < model.size(); off += 131072)
    BOOST_REQUIRE(s.filesystem->Write(c->second.fh, off, model.substr(off, 131072)).ok());
  BOOST_REQUIRE(s.filesystem->Flush(c->second.fh).ok());
  BOOST_CHECK(s.Local("big") == model);
  std::mt19937 rng(3);
  for (int i = 0; i < 200; ++i) {
    uint64_t off = rng() % model.size();
    uint32_t len = 1 + rng() % 700000;
    auto r = s.filesystem->Read(c->second.fh, off, len);
    BOOST_REQUIRE(r.ok());
    BOOST_REQUIRE(*r == model.substr(off, len));
  }
  (void)s.filesystem->Release(c->second.fh);
  // Created attributes (synthesized after the first create) match the server's.
  auto e = s.filesystem->Create(kRoot, "second", 0640, O_WRONLY | O_CREAT | O_EXCL);
  BOOST_REQUIRE(e.ok());
  struct stat st {};
  BOOST_REQUIRE_EQUAL(lstat((s.dir + "/second").c_str(), &st), 0);
  BOOST_CHECK_EQUAL(e->first.attr.st_mode, st.st_mode);
  BOOST_CHECK_EQUAL(e->first.attr.st_uid, st.st_uid);
  (void)s.filesystem->Release(e->second.fh);
}

BOOST_AUTO_TEST_CASE(untarred_files_get_their_times_and_every_handle_is_closed) {
  // tar's sequence per file: create, write, futimens (an FSETSTAT queued behind the write
  // that no thread waits for), close (the flush waits for both; the CLOSE is sent without
  // waiting). On the real sftp-server every file has its content and mtime, and once the
  // closes are answered the server holds no handle: its descriptors are back to before.
  SftpServer s;
  size_t fds_before = s.ServerFds();
  skiff::fs::SetAttrRequest times;
  times.atime = 1000000000;
  times.mtime = 1000000000;
  constexpr int kFiles = 50;
  for (int i = 0; i < kFiles; ++i) {
    std::string name = "f" + std::to_string(i);
    auto c = s.filesystem->Create(kRoot, name, 0644, O_WRONLY | O_CREAT | O_EXCL);
    BOOST_REQUIRE(c.ok());
    BOOST_REQUIRE(s.filesystem->Write(c->second.fh, 0, RandomBytes(1000 + i * 97, i)).ok());
    BOOST_REQUIRE(s.filesystem->SetAttr(c->first.ino, std::nullopt, times).ok());
    BOOST_REQUIRE(s.filesystem->Flush(c->second.fh).ok());
    BOOST_REQUIRE(s.filesystem->Release(c->second.fh).ok());
  }
  s.filesystem->WaitForBackgroundCloses();
  BOOST_CHECK_EQUAL(s.ServerFds(), fds_before);
  for (int i = 0; i < kFiles; ++i) {
    std::string name = "f" + std::to_string(i);
    BOOST_CHECK(s.Local(name) == RandomBytes(1000 + i * 97, i));
    struct stat st {};
    BOOST_REQUIRE_EQUAL(lstat((s.dir + "/" + name).c_str(), &st), 0);
    BOOST_CHECK_EQUAL(st.st_mtime, 1000000000);
  }
}

BOOST_AUTO_TEST_CASE(namespace_operations_and_errors) {
  SftpServer s;
  auto d = s.filesystem->Mkdir(kRoot, "d", 0755);
  BOOST_REQUIRE(d.ok());
  BOOST_CHECK_EQUAL(StatusToErrno(s.filesystem->Mkdir(kRoot, "d", 0755).status()), EEXIST);
  auto a = s.filesystem->Create(d->ino, "a", 0644, O_WRONLY | O_CREAT | O_EXCL);
  BOOST_REQUIRE(s.filesystem->Write(a->second.fh, 0, "A").ok());
  BOOST_REQUIRE(s.filesystem->Fsync(a->second.fh, false).ok());
  (void)s.filesystem->Release(a->second.fh);
  auto b = s.filesystem->Create(d->ino, "b", 0644, O_WRONLY | O_CREAT | O_EXCL);
  (void)s.filesystem->Release(b->second.fh);
  BOOST_CHECK(s.filesystem->Rename(d->ino, "a", d->ino, "b", 0).ok());
  BOOST_CHECK_EQUAL(s.Local("d/b"), "A");
  BOOST_CHECK_EQUAL(StatusToErrno(s.filesystem->Rmdir(kRoot, "d")), ENOTEMPTY);
  auto l = s.filesystem->Link(s.filesystem->Lookup(d->ino, "b")->ino, kRoot, "hard");
  BOOST_REQUIRE(l.ok());
  BOOST_CHECK_EQUAL(s.Local("hard"), "A");
  auto sym = s.filesystem->Symlink("d/b", kRoot, "sym");
  BOOST_REQUIRE(sym.ok());
  char buf[64] = {};
  BOOST_CHECK_EQUAL(readlink((s.dir + "/sym").c_str(), buf, sizeof buf), 3);
  BOOST_CHECK(s.filesystem->StatFs().ok());
  BOOST_CHECK_EQUAL(s.filesystem->Lookup(kRoot, "nope")->ino, 0u);
  BOOST_CHECK_EQUAL(StatusToErrno(s.filesystem->Unlink(kRoot, "nope")), ENOENT);
}

BOOST_AUTO_TEST_SUITE_END()
