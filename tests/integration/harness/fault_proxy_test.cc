// FaultProxy: relays faithfully (also delayed and throttled), and CutAll / CutNewest / Blackhole
// break or stall a real OpenSSH session the way a failing network would.
#include "tests/support/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "tests/support/sshd_fixture.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_data.h"

namespace fs = std::filesystem;
using skiff::testing::FaultProxy;
using skiff::testing::ProcessResult;
using skiff::testing::ReadFile;
using skiff::testing::RunProcess;
using skiff::testing::SshdFixture;
using namespace std::chrono_literals;

namespace {

// Waits (bounded) for a file the remote command creates to say it is running; returns
// whether it appeared. This waits for a condition, it measures nothing.
bool WaitForFile(const std::string& path) {
  for (int i = 0; i < 600; ++i) {
    if (fs::exists(path)) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

struct ProxiedSshd : SshdFixture {
  ProxiedSshd() : proxy(port()) {
    skiff::Status st = TrustPort(proxy.port());
    BOOST_REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
  // ssh through the proxy; keepalives make a dead path an error within ~3 s.
  std::vector<std::string> Ssh(const std::string& alias, const std::string& command) {
    return {"ssh",
            "-F",
            ssh_config_path(),
            "-p",
            std::to_string(proxy.port()),
            "-o",
            "ServerAliveInterval=1",
            "-o",
            "ServerAliveCountMax=2",
            "-o",
            "LogLevel=INFO",
            alias,
            command};
  }
  FaultProxy proxy;
};

// A tiny TCP echo server on 127.0.0.1 for proxy tests that need no sshd.
class EchoServer {
 public:
  EchoServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    BOOST_REQUIRE(::listen(fd_, 4) == 0);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      ssize_t n;
      while ((n = ::read(c, buf, sizeof(buf))) > 0) {
        if (::send(c, buf, static_cast<size_t>(n), MSG_NOSIGNAL) != n) break;
      }
      ::close(c);
    });
  }
  ~EchoServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

int ConnectLoopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  return fd;
}

}  // namespace

BOOST_AUTO_TEST_CASE(proxy_preserves_byte_order_while_the_delay_changes) {
  EchoServer echo;
  FaultProxy proxy(echo.port());
  int fd = ConnectLoopback(proxy.port());
  std::string sent, received;
  std::thread reader([&] {
    char buf[8192];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) received.append(buf, static_cast<size_t>(n));
  });
  for (int i = 0; i < 400; ++i) {
    // Shrinking the delay must not let later chunks overtake earlier ones.
    proxy.SetDelay(std::chrono::milliseconds(i % 4 == 0 ? 8 : 0));
    std::string msg = "<" + std::to_string(i) + ":" + std::string(i % 97, 'a' + i % 26) + ">";
    BOOST_REQUIRE(::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL) ==
                  static_cast<ssize_t>(msg.size()));
    sent += msg;
  }
  ::shutdown(fd, SHUT_WR);  // the EOF travels through the proxy and the echo server back
  reader.join();
  ::close(fd);
  BOOST_TEST(received == sent);
  BOOST_TEST(proxy.bytes_up() == sent.size());
  BOOST_TEST(proxy.bytes_down() == sent.size());
  BOOST_TEST(proxy.accepted_connections() == 1u);
}

BOOST_FIXTURE_TEST_SUITE(fault_proxy, ProxiedSshd)

BOOST_AUTO_TEST_CASE(cut_newest_resets_only_the_latest_connection) {
  int first = ConnectLoopback(proxy.port());
  int second = ConnectLoopback(proxy.port());
  // sshd's banner arrives through the proxy on each: both connections are relayed.
  auto banner = [](int fd) {
    char b[256];
    ssize_t n = ::recv(fd, b, sizeof b, 0);
    return n >= 4 && std::string(b, 4) == "SSH-";
  };
  BOOST_REQUIRE(banner(first));
  BOOST_REQUIRE(banner(second));
  BOOST_TEST(proxy.active_connections() == 2u);
  proxy.CutNewest();
  BOOST_TEST(proxy.active_connections() == 1u);
  char b[16];
  BOOST_TEST(::recv(second, b, sizeof b, 0) <= 0);  // reset (or closed)
  errno = 0;
  BOOST_TEST(::recv(first, b, sizeof b, MSG_DONTWAIT) == -1);  // open, nothing more to read
  BOOST_TEST(errno == EAGAIN);
  ::close(first);
  ::close(second);
}

BOOST_AUTO_TEST_CASE(sftp_transfer_through_a_delayed_throttled_proxy) {
  proxy.SetDelay(5ms);
  proxy.SetRateLimit(4 << 20);
  std::string payload(1 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::string local = dir() + "/payload";
  std::ofstream(local, std::ios::binary) << payload;
  skiff::testing::ProcessOptions batch;
  batch.input = "put " + local + " /data/p\nget /data/p " + dir() + "/back\n";
  auto r = RunProcess({"sftp", "-F", ssh_config_path(), "-P", std::to_string(proxy.port()), "-b",
                       "-", "skiff-sftp"},
                      batch);
  BOOST_REQUIRE(r.ok());
  BOOST_TEST_INFO("stderr: " << r->err);
  BOOST_REQUIRE_EQUAL(r->exit_code, 0);
  BOOST_TEST(ReadFile(sftp_local_dir() + "/p") == payload);
  BOOST_TEST(ReadFile(dir() + "/back") == payload);
  BOOST_TEST(proxy.bytes_up() > payload.size());
  BOOST_TEST(proxy.bytes_down() > payload.size());
}

BOOST_AUTO_TEST_CASE(cut_all_breaks_a_running_session) {
  // Throttled so the stream cannot finish before the cut.
  proxy.SetRateLimit(256 << 10);
  std::string started = plain_local_dir() + "/cut-started";
  std::string finished = plain_local_dir() + "/cut-finished";
  auto run = std::async(std::launch::async, [&] {
    return RunProcess(Ssh(
        "skiff-plain", "touch " + started + "; head -c 1000000000 /dev/zero && touch " + finished));
  });
  BOOST_REQUIRE_MESSAGE(WaitForFile(started), "remote command never started");
  BOOST_TEST(proxy.active_connections() == 1u);
  proxy.CutAll();
  BOOST_TEST(proxy.active_connections() == 0u);
  auto r = run.get();
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->exit_code == 255, r->err);
  BOOST_TEST(r->out.size() < 1000000000u);
  BOOST_TEST(!fs::exists(finished));
  // The proxy keeps accepting: a new session works.
  proxy.SetRateLimit(0);
  auto again = RunProcess(Ssh("skiff-plain", "echo again"));
  BOOST_REQUIRE(again.ok());
  BOOST_TEST(again->out == "again\n", again->err);
}

BOOST_AUTO_TEST_CASE(blackhole_stalls_until_keepalives_give_up) {
  std::string started = plain_local_dir() + "/bh-started";
  std::string finished = plain_local_dir() + "/bh-finished";
  proxy.SetRateLimit(256 << 10);
  auto run = std::async(std::launch::async, [&] {
    return RunProcess(Ssh(
        "skiff-plain", "touch " + started + "; head -c 1000000000 /dev/zero && touch " + finished));
  });
  BOOST_REQUIRE_MESSAGE(WaitForFile(started), "remote command never started");
  proxy.Blackhole(true);
  auto r = run.get();  // returns only because ServerAlive* gives up on the silent peer
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->exit_code == 255);
  BOOST_TEST(r->err.find("Timeout, server") != std::string::npos, r->err);
  BOOST_TEST(!fs::exists(finished));
  // The proxy held the sockets open rather than closing them.
  BOOST_TEST(proxy.accepted_connections() == 1u);
  proxy.Blackhole(false);
  proxy.SetRateLimit(0);
  auto again = RunProcess(Ssh("skiff-plain", "echo again"));
  BOOST_REQUIRE(again.ok());
  BOOST_TEST(again->out == "again\n", again->err);
}

BOOST_AUTO_TEST_SUITE_END()
