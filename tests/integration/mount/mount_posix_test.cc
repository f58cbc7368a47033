// POSIX behaviour of `skiff mount` on a real kernel FUSE mount against the private sshd.
// Mirrors the examples of doc/SEMANTICS.md.
#define BOOST_TEST_MODULE mount_posix
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/data/monomorphic.hpp>
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/mount/mount_helper.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_data.h"

using skiff::testing::FinishesWithin;
using skiff::testing::IsSkiffMount;
using skiff::testing::RandomBytes;
using skiff::testing::ReadLocalFile;
using skiff::testing::RunSkiff;
using skiff::testing::SharedSshd;
using skiff::testing::SkiffMount;
using skiff::testing::WriteLocalFile;

namespace {

// A fresh world-writable directory of the plain account: {local path, remote spec}.
std::pair<std::string, std::string> FreshPlainDir(const std::string& name) {
  auto& sshd = SharedSshd();
  std::string local = sshd.plain_local_dir() + "/" + name;
  std::filesystem::remove_all(local);
  std::filesystem::create_directory(local);
  chmod(local.c_str(), 0777);
  return {local, "skiff-plain:" + sshd.plain_remote_dir() + "/" + name};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(posix)

BOOST_AUTO_TEST_CASE(files_directories_links_and_errors) {
  auto [local, remote] = FreshPlainDir("ops");
  SkiffMount m(remote);
  // create / write / read, seen on the server
  WriteLocalFile(m / "a", "hello");
  BOOST_CHECK_EQUAL(ReadLocalFile(m / "a"), "hello");
  BOOST_CHECK_EQUAL(ReadLocalFile(local + "/a"), "hello");
  // append
  {
    int fd = open((m / "a").c_str(), O_WRONLY | O_APPEND);
    BOOST_REQUIRE_GE(fd, 0);
    BOOST_CHECK_EQUAL(write(fd, " world", 6), 6);
    BOOST_CHECK_EQUAL(close(fd), 0);
  }
  BOOST_CHECK_EQUAL(ReadLocalFile(m / "a"), "hello world");
  // O_EXCL on an existing file
  BOOST_CHECK_EQUAL(open((m / "a").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644), -1);
  BOOST_CHECK_EQUAL(errno, EEXIST);
  // mkdir / rmdir of a non-empty directory / rmdir
  BOOST_REQUIRE_EQUAL(mkdir((m / "d").c_str(), 0755), 0);
  WriteLocalFile(m / "d/x", "x");
  BOOST_CHECK_EQUAL(rmdir((m / "d").c_str()), -1);
  BOOST_CHECK_EQUAL(errno, ENOTEMPTY);
  BOOST_CHECK_EQUAL(unlink((m / "d/x").c_str()), 0);
  BOOST_CHECK_EQUAL(rmdir((m / "d").c_str()), 0);
  struct stat st {};
  BOOST_CHECK_EQUAL(stat((m / "d").c_str(), &st), -1);
  BOOST_CHECK_EQUAL(errno, ENOENT);
  // rename over an existing file replaces it
  WriteLocalFile(m / "b", "old b");
  BOOST_REQUIRE_EQUAL(rename((m / "a").c_str(), (m / "b").c_str()), 0);
  BOOST_CHECK_EQUAL(ReadLocalFile(m / "b"), "hello world");
  BOOST_CHECK_EQUAL(access((m / "a").c_str(), F_OK), -1);
  // RENAME_NOREPLACE and RENAME_EXCHANGE
  WriteLocalFile(m / "c", "c");
  BOOST_CHECK_EQUAL(syscall(SYS_renameat2, AT_FDCWD, (m / "c").c_str(), AT_FDCWD, (m / "b").c_str(),
                            RENAME_NOREPLACE),
                    -1);
  BOOST_CHECK_EQUAL(errno, EEXIST);
  BOOST_CHECK_EQUAL(syscall(SYS_renameat2, AT_FDCWD, (m / "c").c_str(), AT_FDCWD, (m / "b").c_str(),
                            RENAME_EXCHANGE),
                    -1);
  BOOST_CHECK_EQUAL(errno, EINVAL);
  BOOST_CHECK_EQUAL(ReadLocalFile(m / "b"), "hello world");
  // symlink / readlink
  BOOST_REQUIRE_EQUAL(symlink("b", (m / "s").c_str()), 0);
  char buf[64] = {};
  BOOST_CHECK_EQUAL(readlink((m / "s").c_str(), buf, sizeof buf), 1);
  BOOST_CHECK_EQUAL(std::string(buf), "b");
  BOOST_CHECK_EQUAL(ReadLocalFile(m / "s"), "hello world");
  // hard link
  BOOST_REQUIRE_EQUAL(link((m / "b").c_str(), (m / "h").c_str()), 0);
  BOOST_CHECK_EQUAL(ReadLocalFile(local + "/h"), "hello world");
  // chmod / truncate / utimens
  BOOST_CHECK_EQUAL(chmod((m / "b").c_str(), 0600), 0);
  BOOST_REQUIRE_EQUAL(stat((m / "b").c_str(), &st), 0);
  BOOST_CHECK_EQUAL(st.st_mode & 07777, 0600u);
  BOOST_CHECK_EQUAL(truncate((m / "b").c_str(), 5), 0);
  BOOST_CHECK_EQUAL(ReadLocalFile(m / "b"), "hello");
  struct timespec times[2] = {{1000000000, 0}, {1200000000, 0}};
  BOOST_CHECK_EQUAL(utimensat(AT_FDCWD, (m / "b").c_str(), times, 0), 0);
  BOOST_REQUIRE_EQUAL(stat((local + "/b").c_str(), &st), 0);
  BOOST_CHECK_EQUAL(st.st_mtime, 1200000000);
  BOOST_CHECK_EQUAL(st.st_atime, 1000000000);
  // chown to another user by a non-root server account: EPERM
  BOOST_CHECK_EQUAL(chown((m / "b").c_str(), 0, 0), -1);
  BOOST_CHECK_EQUAL(errno, EPERM);
  // fifo / device nodes cannot be made over SFTP: EPERM, not EIO
  BOOST_CHECK_EQUAL(mkfifo((m / "fifo").c_str(), 0644), -1);
  BOOST_CHECK_EQUAL(errno, EPERM);
  BOOST_CHECK_EQUAL(mknod((m / "dev").c_str(), S_IFCHR | 0644, makedev(1, 3)), -1);
  BOOST_CHECK_EQUAL(errno, EPERM);
  // statfs
  struct statvfs vfs {};
  BOOST_CHECK_EQUAL(statvfs(m.path().c_str(), &vfs), 0);
  BOOST_CHECK_GT(vfs.f_blocks, 0u);
}

BOOST_AUTO_TEST_CASE(untar_sequence_keeps_content_modes_and_times) {
  // SEMANTICS.md §4: GNU tar's calls. futimens and fchmod on a file being written arrive
  // without a handle and are queued behind its writes; close waits for them. A mkdir's
  // attributes are computed. The server must end up with exactly what tar asked for.
  auto [local, remote] = FreshPlainDir("untar");
  SkiffMount m(remote);
  BOOST_REQUIRE_EQUAL(mkdir((m / "d").c_str(), 0700), 0);
  for (int i = 0; i < 20; ++i) {
    std::string name = "d/f" + std::to_string(i);
    int fd = open((m / name).c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    BOOST_REQUIRE_GE(fd, 0);
    std::string data = RandomBytes(1000 + 97 * i, i);
    BOOST_REQUIRE_EQUAL(write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    if (i % 2) BOOST_REQUIRE_EQUAL(fchmod(fd, 0640), 0);
    struct timespec times[2] = {{0, UTIME_OMIT}, {1200000000 + i, 0}};
    BOOST_REQUIRE_EQUAL(futimens(fd, times), 0);
    BOOST_REQUIRE_EQUAL(close(fd), 0);
    struct stat st {};
    BOOST_REQUIRE_EQUAL(stat((local + "/" + name).c_str(), &st), 0);
    BOOST_CHECK_EQUAL(st.st_mtime, 1200000000 + i);
    BOOST_CHECK_EQUAL(st.st_mode & 07777, i % 2 ? 0640u : 0644u);
    BOOST_CHECK_EQUAL(ReadLocalFile(local + "/" + name), data);
    struct stat mine {};
    BOOST_REQUIRE_EQUAL(stat((m / name).c_str(), &mine), 0);
    BOOST_CHECK_EQUAL(mine.st_mtime, st.st_mtime);
    BOOST_CHECK_EQUAL(mine.st_mode, st.st_mode);
    BOOST_CHECK_EQUAL(mine.st_size, st.st_size);
  }
  struct timespec dtimes[2] = {{0, UTIME_OMIT}, {1100000000, 0}};
  BOOST_REQUIRE_EQUAL(utimensat(AT_FDCWD, (m / "d").c_str(), dtimes, AT_SYMLINK_NOFOLLOW), 0);
  BOOST_REQUIRE_EQUAL(chmod((m / "d").c_str(), 0750), 0);
  struct stat st {
  }, mine{};
  BOOST_REQUIRE_EQUAL(stat((local + "/d").c_str(), &st), 0);
  BOOST_REQUIRE_EQUAL(stat((m / "d").c_str(), &mine), 0);
  BOOST_CHECK_EQUAL(st.st_mtime, 1100000000);
  BOOST_CHECK_EQUAL(st.st_mode & 07777, 0750u);
  BOOST_CHECK_EQUAL(mine.st_mode, st.st_mode);
  BOOST_CHECK_EQUAL(mine.st_mtime, st.st_mtime);
}

BOOST_AUTO_TEST_CASE(sparse_writes_truncate_and_fsync) {
  auto [local, remote] = FreshPlainDir("sparse");
  SkiffMount m(remote);
  int fd = open((m / "s").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  BOOST_REQUIRE_GE(fd, 0);
  BOOST_CHECK_EQUAL(pwrite(fd, "end", 3, 1 << 20), 3);
  BOOST_CHECK_EQUAL(fsync(fd), 0);
  struct stat st {};
  BOOST_CHECK_EQUAL(fstat(fd, &st), 0);
  BOOST_CHECK_EQUAL(st.st_size, (1 << 20) + 3);
  char buf[16];
  BOOST_CHECK_EQUAL(pread(fd, buf, 16, 4096), 16);
  BOOST_CHECK(std::string(buf, 16) == std::string(16, '\0'));
  BOOST_CHECK_EQUAL(ftruncate(fd, 10), 0);
  BOOST_CHECK_EQUAL(fstat(fd, &st), 0);
  BOOST_CHECK_EQUAL(st.st_size, 10);
  BOOST_CHECK_EQUAL(close(fd), 0);
  BOOST_CHECK_EQUAL(ReadLocalFile(local + "/s"), std::string(10, '\0'));
}

BOOST_AUTO_TEST_CASE(large_file_random_reads_and_writes_match_a_local_copy) {
  auto [local, remote] = FreshPlainDir("large");
  SkiffMount m(remote);
  std::string model = RandomBytes(48 << 20, 1);
  WriteLocalFile(m / "big", model);
  BOOST_REQUIRE(ReadLocalFile(local + "/big") == model);
  BOOST_REQUIRE(ReadLocalFile(m / "big") == model);
  int fd = open((m / "big").c_str(), O_RDWR);
  BOOST_REQUIRE_GE(fd, 0);
  std::mt19937 rng(2);
  std::string buf;
  for (int i = 0; i < 300; ++i) {
    uint64_t off = rng() % model.size();
    size_t len = 1 + rng() % (1 << 20);
    if (rng() % 3 == 0) {
      std::string data = RandomBytes(len, i);
      BOOST_REQUIRE_EQUAL(pwrite(fd, data.data(), len, off), static_cast<ssize_t>(len));
      if (off + len > model.size()) model.resize(off + len);
      model.replace(off, len, data);
    } else {
      buf.resize(len);
      ssize_t n = pread(fd, buf.data(), len, off);
      size_t want = std::min(len, model.size() - off);
      BOOST_REQUIRE_EQUAL(n, static_cast<ssize_t>(want));
      BOOST_REQUIRE(buf.compare(0, want, model, off, want) == 0);
    }
  }
  BOOST_CHECK_EQUAL(close(fd), 0);
  BOOST_CHECK(ReadLocalFile(local + "/big") == model);
}

BOOST_DATA_TEST_CASE(striped_write_only_stream_with_overwrites_matches_a_local_copy,
                     boost::unit_test::data::make({"write_channels=4",
                                                   "write_channels=4,write_conns=2"}),
                     options) {
  // A write-only sequential stream is spread over 4 SFTP sessions (write_channels),
  // of one SSH connection or of two (write_conns); overwrites of already written
  // ranges (unaligned, across stripes) must still win, and fsync/close must report
  // success only once every session has the data.
  const bool two_conns = std::string(options).find("write_conns=2") != std::string::npos;
  auto [local, remote] = FreshPlainDir(two_conns ? "striped-2conns" : "striped");
  SkiffMount m(remote, {"-o", options});
  std::string model = RandomBytes(24 << 20, 3);
  int fd = open((m / "s").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  BOOST_REQUIRE_GE(fd, 0);
  for (size_t off = 0; off < model.size(); off += 1 << 20)
    BOOST_REQUIRE_EQUAL(pwrite(fd, model.data() + off, 1 << 20, off), 1 << 20);
  std::mt19937 rng(4);
  for (int i = 0; i < 64; ++i) {
    uint64_t off = rng() % model.size();
    size_t len = 1 + rng() % (3 << 19);
    std::string data = RandomBytes(len, 100 + i);
    BOOST_REQUIRE_EQUAL(pwrite(fd, data.data(), len, off), static_cast<ssize_t>(len));
    if (off + len > model.size()) model.resize(off + len);
    model.replace(off, len, data);
  }
  BOOST_CHECK_EQUAL(fsync(fd), 0);
  BOOST_CHECK(ReadLocalFile(local + "/s") == model);  // fsync: on the server already
  BOOST_CHECK_EQUAL(close(fd), 0);
  BOOST_CHECK(ReadLocalFile(m / "s") == model);
}

BOOST_AUTO_TEST_CASE(directory_of_10000_entries) {
  auto [local, remote] = FreshPlainDir("many");
  std::filesystem::create_directory(local + "/d");
  chmod((local + "/d").c_str(), 0777);  // the server account must be able to add files
  for (int i = 0; i < 10000; ++i)
    WriteLocalFile(local + "/d/f" + std::to_string(i), std::to_string(i));
  SkiffMount m(remote);
  DIR* d = opendir((m / "d").c_str());
  BOOST_REQUIRE(d);
  int n = 0;
  std::set<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    names.insert(name);
    ++n;
  }
  closedir(d);
  BOOST_CHECK_EQUAL(n, 10000);
  BOOST_CHECK_EQUAL(names.size(), 10000u);
  struct stat st {};
  BOOST_REQUIRE_EQUAL(stat((m / "d/f9999").c_str(), &st), 0);
  BOOST_CHECK_EQUAL(st.st_size, 4);
  BOOST_CHECK_EQUAL(ReadLocalFile(m / "d/f1234"), "1234");
  // and through the mount: 1000 more entries created, listed, removed
  for (int i = 0; i < 1000; ++i) {
    int fd = open((m / ("d/g" + std::to_string(i))).c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    BOOST_REQUIRE_GE(fd, 0);
    BOOST_REQUIRE_EQUAL(close(fd), 0);
  }
  n = 0;
  d = opendir((m / "d").c_str());
  while (dirent* e = readdir(d)) n += e->d_name[0] == 'g';
  closedir(d);
  BOOST_CHECK_EQUAL(n, 1000);
  for (int i = 0; i < 1000; ++i)
    BOOST_REQUIRE_EQUAL(unlink((m / ("d/g" + std::to_string(i))).c_str()), 0);
}

BOOST_AUTO_TEST_CASE(concurrent_readers_and_writers) {
  auto [local, remote] = FreshPlainDir("conc");
  SkiffMount m(remote);
  for (int i = 0; i < 4; ++i)
    WriteLocalFile(m / ("f" + std::to_string(i)), RandomBytes(4 << 20, i));
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      std::string path = m / ("f" + std::to_string(t % 4));
      if (t < 4) {
        int fd = open(path.c_str(), O_WRONLY);
        std::string block(65536, 'a' + t);
        for (int k = 0; k < 32; ++k)
          if (pwrite(fd, block.data(), block.size(), k * 65536) != 65536) ++bad;
        if (close(fd) != 0) ++bad;
      } else {
        std::string want = RandomBytes(4 << 20, t % 4).substr(2 << 20);
        for (int k = 0; k < 3; ++k) {
          std::string got = ReadLocalFile(path);
          if (got.size() != (4u << 20) || got.compare(2 << 20, std::string::npos, want) != 0) ++bad;
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  BOOST_CHECK_EQUAL(bad.load(), 0);
  for (int i = 0; i < 4; ++i)
    BOOST_CHECK(ReadLocalFile(local + "/f" + std::to_string(i)).substr(0, 2 << 20) ==
                std::string(2 << 20, 'a' + i));
}

BOOST_AUTO_TEST_CASE(close_to_open_sees_other_clients_changes) {
  auto [local, remote] = FreshPlainDir("cto");
  SkiffMount m(remote);
  WriteLocalFile(m / "f", "first version");
  BOOST_CHECK_EQUAL(ReadLocalFile(m / "f"), "first version");
  WriteLocalFile(local + "/f", "second, longer version");  // another client, on the server
  BOOST_CHECK_EQUAL(ReadLocalFile(m / "f"), "second, longer version");
}

BOOST_AUTO_TEST_CASE(chrooted_sftp_only_account) {
  auto& sshd = SharedSshd();
  SkiffMount m("skiff-sftp:" + sshd.sftp_remote_dir());
  std::filesystem::create_directory(m / "sub");
  WriteLocalFile(m / "sub/a", "in the chroot");
  BOOST_CHECK_EQUAL(ReadLocalFile(sshd.sftp_local_dir() + "/sub/a"), "in the chroot");
  BOOST_CHECK_EQUAL(rename((m / "sub/a").c_str(), (m / "b").c_str()), 0);
  BOOST_CHECK_EQUAL(ReadLocalFile(m / "b"), "in the chroot");
  std::filesystem::remove_all(m / "sub");
  BOOST_CHECK_EQUAL(unlink((m / "b").c_str()), 0);
}

BOOST_AUTO_TEST_CASE(uid_gid_mapping) {
  auto [local, remote] = FreshPlainDir("ids");
  struct passwd* pw = getpwnam("skiff-plain");
  BOOST_REQUIRE(pw);
  {
    SkiffMount m(remote);
    WriteLocalFile(m / "f", "x");
    struct stat st {};
    BOOST_REQUIRE_EQUAL(stat((m / "f").c_str(), &st), 0);
    BOOST_CHECK_EQUAL(st.st_uid, pw->pw_uid);  // no mapping: the server's numbers
  }
  {
    SkiffMount m(remote, {"-o", "idmap=user"});
    struct stat st {};
    BOOST_REQUIRE_EQUAL(stat((m / "f").c_str(), &st), 0);
    BOOST_CHECK_EQUAL(st.st_uid, getuid());  // the remote user shown as us
  }
  {
    SkiffMount m(remote, {"-o", "uid=4321,gid=8765"});
    struct stat st {};
    BOOST_REQUIRE_EQUAL(stat((m / "f").c_str(), &st), 0);
    BOOST_CHECK_EQUAL(st.st_uid, 4321u);
    BOOST_CHECK_EQUAL(st.st_gid, 8765u);
  }
}

BOOST_AUTO_TEST_CASE(several_connections) {
  auto [local, remote] = FreshPlainDir("conns");
  SkiffMount m(remote, {"-o", "max_conns=3"});
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < 6; ++t) {
    ts.emplace_back([&, t] {
      std::string name = m / ("f" + std::to_string(t));
      std::string data = RandomBytes(3 << 20, t);
      WriteLocalFile(name, data);
      if (ReadLocalFile(name) != data) ++bad;
      if (rename(name.c_str(), (name + ".done").c_str()) != 0) ++bad;
    });
  }
  for (auto& t : ts) t.join();
  BOOST_CHECK_EQUAL(bad.load(), 0);
  for (int t = 0; t < 6; ++t)
    BOOST_CHECK(ReadLocalFile(local + "/f" + std::to_string(t) + ".done") ==
                RandomBytes(3 << 20, t));
}

BOOST_AUTO_TEST_CASE(read_only_mount) {
  auto [local, remote] = FreshPlainDir("ro");
  WriteLocalFile(local + "/f", "x");
  SkiffMount m(remote, {"-o", "ro"});
  BOOST_CHECK_EQUAL(ReadLocalFile(m / "f"), "x");
  BOOST_CHECK_EQUAL(open((m / "g").c_str(), O_WRONLY | O_CREAT, 0644), -1);
  BOOST_CHECK_EQUAL(errno, EROFS);
}

BOOST_AUTO_TEST_CASE(unmount_with_open_files) {
  auto [local, remote] = FreshPlainDir("busy");
  SkiffMount m(remote);
  WriteLocalFile(m / "f", "open");
  int fd = open((m / "f").c_str(), O_RDONLY);
  BOOST_REQUIRE_GE(fd, 0);
  std::string out;
  BOOST_CHECK_NE(RunSkiff({"umount", m.path()}, &out), 0);  // busy
  BOOST_CHECK(IsSkiffMount(m.path()));
  char buf[4];
  BOOST_CHECK_EQUAL(read(fd, buf, 4), 4);
  BOOST_CHECK_EQUAL(RunSkiff({"umount", "-z", m.path()}, &out), 0);
  BOOST_CHECK(!IsSkiffMount(m.path()));
  BOOST_CHECK_EQUAL(pread(fd, buf, 4, 0), 4);  // still readable after a lazy unmount
  BOOST_CHECK_EQUAL(close(fd), 0);
  BOOST_CHECK_MESSAGE(m.WaitExit(std::chrono::seconds(10)), "mount process did not exit");
}

BOOST_AUTO_TEST_CASE(daemon_mode_and_fusermount_unmount_leave_no_process) {
  auto [local, remote] = FreshPlainDir("daemon");
  auto& sshd = SharedSshd();
  char tmpl[] = "/tmp/skiff-mnt-XXXXXX";
  std::string mnt = mkdtemp(tmpl);
  std::string out;
  BOOST_REQUIRE_EQUAL(RunSkiff({"mount", "-F", sshd.ssh_config_path(), remote, mnt}, &out), 0);
  BOOST_REQUIRE(IsSkiffMount(mnt));  // mounted by the time `skiff mount` returned
  // Find the daemon by its unique mount point, to check it goes away.
  pid_t daemon = 0;
  for (auto& p : std::filesystem::directory_iterator("/proc")) {
    std::string cmd = ReadLocalFile(p.path().string() + "/cmdline");
    if (cmd.find("mount") != std::string::npos && cmd.find(mnt) != std::string::npos)
      daemon = std::stoi(p.path().filename().string());
  }
  BOOST_REQUIRE_GT(daemon, 0);
  WriteLocalFile(mnt + "/f", "daemon");
  BOOST_CHECK_EQUAL(ReadLocalFile(local + "/f"), "daemon");
  auto r = skiff::testing::RunProcess({"fusermount3", "-u", mnt});
  BOOST_REQUIRE(r.ok());
  BOOST_CHECK_EQUAL(r->exit_code, 0);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = kill(daemon, 0) != 0;
    if (!gone) usleep(50000);
  }
  BOOST_CHECK_MESSAGE(gone, "daemon still running after fusermount3 -u");
  if (!gone) kill(daemon, SIGKILL);
  rmdir(mnt.c_str());

  // Errors reach the terminal: a missing remote directory fails before daemonizing.
  char tmpl2[] = "/tmp/skiff-mnt-XXXXXX";
  std::string mnt2 = mkdtemp(tmpl2);
  int rc =
      RunSkiff({"mount", "-F", sshd.ssh_config_path(), "skiff-plain:/no/such/dir", mnt2}, &out);
  BOOST_CHECK_NE(rc, 0);
  BOOST_CHECK_NE(out.find("/no/such/dir"), std::string::npos);
  BOOST_CHECK(!IsSkiffMount(mnt2));
  rmdir(mnt2.c_str());
}

BOOST_AUTO_TEST_SUITE_END()
