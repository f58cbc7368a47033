// Disconnects under a real FUSE mount (doc/SEMANTICS.md "Disconnects"): the SSH
// connection runs through a FaultProxy that cuts it or turns into a dead network while
// files are being read and written. Nothing may hang, errors must be clear errnos,
// nothing acknowledged by fsync may be lost, and with -o reconnect work continues.
#define BOOST_TEST_MODULE mount_disconnect
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/integration/mount/mount_helper.h"
#include "tests/support/fault_proxy.h"
#include "tests/support/test_data.h"

using skiff::testing::FaultProxy;
using skiff::testing::FinishesWithin;
using skiff::testing::RandomBytes;
using skiff::testing::ReadFile;
using skiff::testing::SharedSshd;
using skiff::testing::SkiffMount;
using namespace std::chrono_literals;

namespace {

struct Proxied {
  explicit Proxied(const std::string& name, bool reconnect = true,
                   const std::vector<std::string>& more = {})
      : proxy(SharedSshd().port()) {
    auto& sshd = SharedSshd();
    BOOST_REQUIRE(sshd.TrustPort(proxy.port()).ok());
    local = sshd.plain_local_dir() + "/" + name;
    std::filesystem::remove_all(local);
    std::filesystem::create_directory(local);
    std::filesystem::permissions(local, std::filesystem::perms::all);
    std::vector<std::string> opts = {"-p", std::to_string(proxy.port()), "-o",
                                     "ServerAliveInterval=1,ServerAliveCountMax=2"};
    if (reconnect) opts.insert(opts.end(), {"-o", "reconnect"});
    opts.insert(opts.end(), more.begin(), more.end());
    mount =
        std::make_unique<SkiffMount>("skiff-plain:" + sshd.plain_remote_dir() + "/" + name, opts);
  }
  std::string Path(const std::string& n) const { return *mount / n; }
  FaultProxy proxy;
  std::string local;
  std::unique_ptr<SkiffMount> mount;
};

// Writes `committed` 1 MiB at a time and fsyncs it, then writes `more`, cutting every
// connection once `cut_at` bytes of it are written, and closes. What a user relies on:
// nothing hangs, nothing fsynced is lost, a failure is a clear EIO or ESTALE (never a
// silent loss: if every call succeeded, every byte is there), and once reconnected a
// new file can be written.
void CheckCutDuringWrite(Proxied& p, const std::string& what, const std::string& committed,
                         const std::string& more, size_t cut_at) {
  constexpr size_t kPiece = 1 << 20;
  int write_err = 0, close_err = 0;
  bool finished = FinishesWithin(60s, [&] {
    int fd = open(p.Path("f").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return void(write_err = errno);
    for (size_t off = 0; off < committed.size(); off += kPiece) {
      size_t n = std::min(kPiece, committed.size() - off);
      if (write(fd, committed.data() + off, n) != static_cast<ssize_t>(n)) write_err = -1;
    }
    if (write_err || fsync(fd) != 0) {
      write_err = -1;  // before the cut nothing may fail
      close(fd);
      return;
    }
    for (size_t off = 0; off < more.size(); off += kPiece) {
      if (off == cut_at) p.proxy.CutAll();
      if (write(fd, more.data() + off, std::min(kPiece, more.size() - off)) < 0) {
        write_err = errno;
        break;
      }
    }
    if (close(fd) != 0) close_err = errno;
  });
  BOOST_REQUIRE_MESSAGE(finished, what << " hung after the connection was cut");
  BOOST_REQUIRE_NE(write_err, -1);
  std::string server = ReadFile(p.local + "/f");
  BOOST_REQUIRE_GE(server.size(), committed.size());
  BOOST_CHECK(server.compare(0, committed.size(), committed) == 0);
  if (write_err == 0 && close_err == 0) {
    BOOST_CHECK(server == committed + more);
  } else {
    int e = write_err ? write_err : close_err;
    BOOST_CHECK_MESSAGE(e == EIO || e == ESTALE, "unexpected errno " << strerror(e));
  }
  bool again = FinishesWithin(60s, [&] {
    std::ofstream out(p.Path("g"), std::ios::binary);
    out << "after reconnect";
  });
  BOOST_REQUIRE(again);
  BOOST_CHECK_EQUAL(ReadFile(p.local + "/g"), "after reconnect");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(disconnect)

BOOST_AUTO_TEST_CASE(cut_while_reading_continues_after_reconnect) {
  Proxied p("read");
  std::string data = RandomBytes(24 << 20, 1);
  std::ofstream(p.local + "/f", std::ios::binary) << data;
  std::string got;
  int err = 0;
  bool finished = FinishesWithin(60s, [&] {
    int fd = open(p.Path("f").c_str(), O_RDONLY);
    if (fd < 0) return void(err = errno);
    std::string buf(1 << 20, '\0');
    for (;;) {
      if (got.size() == (4u << 20)) p.proxy.CutAll();  // the network drops mid-file
      ssize_t n = read(fd, buf.data(), buf.size());
      if (n < 0) {
        err = errno;
        break;
      }
      if (n == 0) break;
      got.append(buf, 0, n);
    }
    close(fd);
  });
  BOOST_REQUIRE_MESSAGE(finished, "reading hung after the connection was cut");
  BOOST_CHECK_EQUAL(err, 0);
  BOOST_CHECK(got == data);
}

BOOST_AUTO_TEST_CASE(cut_while_writing_reports_errors_and_keeps_fsynced_data) {
  Proxied p("write");
  CheckCutDuringWrite(p, "writing", RandomBytes(2 << 20, 2), RandomBytes(16 << 20, 3), 0);
}

BOOST_AUTO_TEST_CASE(cut_during_a_striped_write_fails_cleanly_instead_of_hanging) {
  // 8 MiB first so that the stream is spread over several sessions of the connection
  // (write_channels), then the network drops with striped writes in flight: every
  // session dies at once.
  Proxied p("stripecut");
  CheckCutDuringWrite(p, "a striped write", RandomBytes(8 << 20, 4), RandomBytes(24 << 20, 5),
                      4 << 20);
}

BOOST_AUTO_TEST_CASE(a_dead_extra_write_conns_connection_is_replaced_and_the_mount_goes_on) {
  // write_conns=2 (doc/SEMANTICS.md §6): a striped file's sessions sit on the mount's own
  // connection and on one extra connection. When only the extra one dies, the mount's
  // own connection is fine: without -o reconnect the mount must go on working, and the
  // next striped files get a new extra connection instead of the dead one.
  Proxied p("extraconn", /*reconnect=*/false, {"-o", "write_channels=4,write_conns=2"});
  auto write_file = [&](const std::string& name, const std::string& data) {
    bool finished = FinishesWithin(60s, [&] {
      std::ofstream out(p.Path(name), std::ios::binary);
      out << data;
      out.close();
      BOOST_CHECK_MESSAGE(out.good(), "writing " << name << " failed");
    });
    BOOST_REQUIRE_MESSAGE(finished, "writing " << name << " hung");
    BOOST_CHECK_MESSAGE(ReadFile(p.local + "/" + name) == data, name << " differs on the server");
  };
  const std::string a = RandomBytes(12 << 20, 6), b = RandomBytes(12 << 20, 7),
                    c = RandomBytes(12 << 20, 8);
  write_file("a", a);  // striped: the mount's connection and the extra one
  BOOST_REQUIRE_EQUAL(p.proxy.accepted_connections(), 2u);
  p.proxy.CutNewest();  // the extra connection dies; the mount's own stays
  std::this_thread::sleep_for(200ms);
  write_file("b", b);
  // b was striped again, over a new extra connection (not left on one session).
  BOOST_CHECK_EQUAL(p.proxy.accepted_connections(), 3u);
  BOOST_CHECK_MESSAGE(p.mount->Log().find("writes stay on one session") == std::string::npos,
                      p.mount->Log());
  write_file("c", c);
  BOOST_CHECK(ReadFile(p.Path("a")) == a);  // read back through the mount
  BOOST_CHECK_EQUAL(p.proxy.accepted_connections(), 3u);
  BOOST_CHECK_EQUAL(p.proxy.active_connections(), 2u);
}

BOOST_AUTO_TEST_CASE(an_extra_write_conns_connection_dying_mid_write_fails_only_that_file) {
  // write_conns=2 (doc/SEMANTICS.md §6): the extra connection dies while a striped file
  // is being written. That file fails (EIO, like any sibling error), but the mount's own
  // connection is alive: without -o reconnect the mount must go on working.
  Proxied p("extramid", /*reconnect=*/false, {"-o", "write_channels=4,write_conns=2"});
  const std::string a = RandomBytes(12 << 20, 6), more = RandomBytes(24 << 20, 9);
  BOOST_REQUIRE(FinishesWithin(60s, [&] {
    std::ofstream out(p.Path("a"), std::ios::binary);
    out << a;
  }));
  BOOST_REQUIRE_EQUAL(p.proxy.accepted_connections(), 2u);
  int write_err = 0, close_err = 0;
  BOOST_REQUIRE(FinishesWithin(60s, [&] {
    int fd = open(p.Path("m").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return void(write_err = errno);
    for (size_t off = 0; off < more.size(); off += 1 << 20) {
      if (off == (12u << 20)) p.proxy.CutNewest();  // striped by now: the extra one
      if (write(fd, more.data() + off, 1 << 20) < 0) {
        write_err = errno;
        break;
      }
    }
    if (close(fd) != 0) close_err = errno;
  }));
  BOOST_CHECK_MESSAGE(write_err == EIO || close_err == EIO,
                      "write " << strerror(write_err) << ", close " << strerror(close_err));
  bool again = FinishesWithin(60s, [&] {
    std::ofstream out(p.Path("after"), std::ios::binary);
    out << "after";
  });
  BOOST_REQUIRE(again);
  BOOST_CHECK_EQUAL(ReadFile(p.local + "/after"), "after");
  BOOST_CHECK(ReadFile(p.Path("a")) == a);
  BOOST_CHECK_MESSAGE(p.mount->Log().find("lookup: connection lost") == std::string::npos,
                      p.mount->Log());
}

BOOST_AUTO_TEST_CASE(dead_network_fails_with_eio_instead_of_hanging) {
  Proxied p("dead");
  std::ofstream(p.local + "/f") << "x";
  BOOST_REQUIRE_EQUAL(ReadFile(p.Path("f")), "x");
  p.proxy.Blackhole(true);
  int err = 0;
  auto start = std::chrono::steady_clock::now();
  bool finished = FinishesWithin(60s, [&] {
    struct stat st {};
    if (stat(p.Path("not-cached-name").c_str(), &st) != 0) err = errno;
  });
  BOOST_REQUIRE_MESSAGE(finished, "stat hung on a dead network");
  BOOST_TEST_MESSAGE("stat on a dead network failed after "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - start)
                            .count()
                     << " ms");
  BOOST_CHECK_MESSAGE(err == EIO || err == ETIMEDOUT, "errno " << strerror(err));
  p.proxy.Blackhole(false);
  p.proxy.CutAll();  // the old connection is gone for good; new ones get through
  // Once the network is back, operations succeed again within one reconnect backoff.
  bool back = false;
  for (int i = 0; i < 150 && !back; ++i) {
    FinishesWithin(60s, [&] {
      int fd = open(p.Path("g").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) return;
      back = write(fd, "back", 4) == 4;
      back = close(fd) == 0 && back;
    });
    if (!back) usleep(200000);
  }
  BOOST_REQUIRE_MESSAGE(back, "no successful write within 30 s of the network returning");
  BOOST_CHECK_EQUAL(ReadFile(p.local + "/g"), "back");
  BOOST_TEST_MESSAGE("mount log:\n" << p.mount->Log());
}

BOOST_AUTO_TEST_CASE(without_reconnect_operations_fail_and_unmount_works) {
  Proxied p("noreconnect", /*reconnect=*/false);
  std::ofstream(p.local + "/f") << "x";
  BOOST_REQUIRE_EQUAL(ReadFile(p.Path("f")), "x");
  p.proxy.CutAll();
  int err = 0;
  bool finished = FinishesWithin(60s, [&] {
    if (mkdir(p.Path("d").c_str(), 0755) != 0) err = errno;
  });
  BOOST_REQUIRE(finished);
  BOOST_CHECK_EQUAL(err, EIO);
  BOOST_CHECK_EQUAL(skiff::testing::RunSkiff({"umount", p.mount->path()}), 0);
  BOOST_CHECK(p.mount->WaitExit(10s));
}

BOOST_AUTO_TEST_SUITE_END()
