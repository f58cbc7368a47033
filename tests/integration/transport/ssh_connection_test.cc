#define BOOST_TEST_MODULE ssh_connection
#include "transport/ssh_connection.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "tests/support/fault_proxy.h"
#include "tests/support/sshd_fixture.h"
#include "transport/connection_pool.h"
#include "transport/sftp_connect.h"
#include "transport/ssh_channel.h"

namespace skiff {
namespace {

using testing::FaultProxy;
using testing::SshdFixture;

SshOptions Alias(const SshdFixture& f, const std::string& alias,
                 std::vector<std::string> extra = {}) {
  SshOptions o;
  o.host = alias;
  o.config_file = f.ssh_config_path();
  o.options = std::move(extra);
  return o;
}

// Reads a channel to EOF.
std::string ReadAll(Channel& ch) {
  std::string out;
  char buf[65536];
  for (;;) {
    auto n = ch.Read(buf, sizeof buf);
    BOOST_REQUIRE_MESSAGE(n.ok(), n.status().ToString());
    if (*n == 0) return out;
    out.append(buf, *n);
  }
}

std::shared_ptr<SshConnection> MustConnect(const SshOptions& o) {
  auto c = SshConnection::Connect(o);
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  return *c;
}

std::string TempPath(const std::string& name) {
  return "/tmp/skiff-ssh-it-" + std::to_string(getpid()) + "-" + name;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

BOOST_FIXTURE_TEST_CASE(exec_returns_output_stderr_and_exit_status, SshdFixture) {
  auto conn = MustConnect(Alias(*this, "skiff-plain"));
  auto ch = conn->OpenExec("echo hello; echo oops >&2; exit 3");
  BOOST_REQUIRE_MESSAGE(ch.ok(), ch.status().ToString());
  BOOST_TEST(ReadAll(**ch) == "hello\n");
  BOOST_TEST((*ch)->ExitStatus() == 3);
  BOOST_TEST(static_cast<SshChannel&>(**ch).StderrTail() == "oops\n");
  // A subsystem the server does not have is refused as unsupported; the connection
  // stays usable.
  auto bad = conn->OpenSubsystem("no-such-subsystem");
  BOOST_REQUIRE(!bad.ok());
  BOOST_TEST(bad.status().code() == Code::kUnsupported, bad.status().ToString());
  BOOST_TEST(bad.status().message().find("no-such-subsystem") != std::string::npos);
  BOOST_TEST(conn->health().ok());
  // The command has exited and the server closed the channel: writing fails clearly.
  Status w;
  for (int i = 0; i < 1000 && w.ok(); ++i) w = (*ch)->Write(std::string(65536, 'x'));
  BOOST_TEST(w.code() == Code::kIo, w.ToString());
  BOOST_TEST(w.message().find("closed the ssh channel") != std::string::npos, w.ToString());
  BOOST_TEST(conn->health().ok());
}

BOOST_FIXTURE_TEST_CASE(large_echo_through_bounded_buffers, SshdFixture) {
  // 40 MiB, more than both rings and the windows: exercises backpressure both ways
  // (the writer blocks while `cat` cannot send back faster than we read).
  auto conn = MustConnect(Alias(*this, "skiff-plain"));
  auto ch = conn->OpenExec("cat");
  BOOST_REQUIRE(ch.ok());
  std::string data(40 << 20, '\0');
  std::mt19937_64 rng(7);
  for (size_t i = 0; i + 8 <= data.size(); i += 8) {
    uint64_t v = rng();
    std::memcpy(&data[i], &v, 8);
  }
  Channel& c = **ch;
  // Boost.Test assertions are not thread-safe (TSan reported races in its logger, and a
  // failed REQUIRE would throw out of the thread): the writer only records its result.
  Status written;
  std::thread writer([&] {
    for (size_t off = 0; off < data.size() && written.ok(); off += 1000003) {
      written = c.Write(std::string_view(data).substr(off, 1000003));
    }
    if (written.ok()) written = c.SendEof();
  });
  std::string back = ReadAll(c);
  writer.join();
  BOOST_REQUIRE_MESSAGE(written.ok(), written.ToString());
  BOOST_TEST(back.size() == data.size());
  BOOST_TEST((back == data));
  BOOST_TEST(c.ExitStatus() == 0);
}

BOOST_FIXTURE_TEST_CASE(gathered_writes_stay_whole_across_threads, SshdFixture) {
  // Two threads send records as WriteGather(head, tail) through `cat`; tails of up to
  // 1.5 MiB fill the 4 MiB outbound ring mid-record, so a writer blocks between or
  // inside its parts. Every record must come back whole: head then its own tail.
  auto conn = MustConnect(Alias(*this, "skiff-plain"));
  auto ch = conn->OpenExec("cat");
  BOOST_REQUIRE(ch.ok());
  Channel& c = **ch;
  auto tail_of = [](char tag, uint32_t seq, size_t len) {
    std::string t(len, '\0');
    for (size_t i = 0; i < len; ++i) t[i] = static_cast<char>(tag + seq * 31 + i * 13);
    return t;
  };
  constexpr int kRecords = 24;
  auto head_of = [](char tag, uint32_t seq, uint32_t len) {
    std::string h(9, '\0');
    h[0] = tag;
    std::memcpy(&h[1], &seq, 4);
    std::memcpy(&h[5], &len, 4);
    return h;
  };
  Status results[2];
  std::thread writers[2];
  for (int w = 0; w < 2; ++w) {
    writers[w] = std::thread([&, w] {
      const char tag = static_cast<char>('A' + w);
      for (uint32_t seq = 0; seq < kRecords && results[w].ok(); ++seq) {
        uint32_t len = (seq * 524287u + static_cast<uint32_t>(w) * 99991u) % (3u << 19);
        results[w] = c.WriteGather(head_of(tag, seq, len), tail_of(tag, seq, len));
      }
    });
  }
  std::thread closer([&] {
    for (auto& t : writers) t.join();
    if (results[0].ok() && results[1].ok()) results[0] = c.SendEof();
    // A failure ends the read below instead of leaving it waiting for EOF.
    if (!results[0].ok() || !results[1].ok()) c.Close();
  });
  std::string back;
  Status read_result;
  for (char buf[65536];;) {
    auto n = c.Read(buf, sizeof buf);
    if (!n.ok()) read_result = n.status();
    if (!n.ok() || *n == 0) break;
    back.append(buf, *n);
  }
  closer.join();
  BOOST_REQUIRE_MESSAGE(read_result.ok(), read_result.ToString());
  BOOST_REQUIRE_MESSAGE(results[0].ok(), results[0].ToString());
  BOOST_REQUIRE_MESSAGE(results[1].ok(), results[1].ToString());
  uint32_t next[2] = {0, 0};
  size_t pos = 0, records = 0;
  while (pos + 9 <= back.size()) {
    const char tag = back[pos];
    BOOST_REQUIRE(tag == 'A' || tag == 'B');
    uint32_t seq, len;
    std::memcpy(&seq, &back[pos + 1], 4);
    std::memcpy(&len, &back[pos + 5], 4);
    BOOST_REQUIRE(seq == next[tag - 'A']);
    ++next[tag - 'A'];
    BOOST_REQUIRE(pos + 9 + len <= back.size());
    BOOST_REQUIRE((back.compare(pos + 9, len, tail_of(tag, seq, len)) == 0));
    pos += 9 + len;
    ++records;
  }
  BOOST_TEST(pos == back.size());
  BOOST_TEST(records == 2u * kRecords);
}

BOOST_FIXTURE_TEST_CASE(chrooted_sftp_account_works, SshdFixture) {
  auto fs = ConnectSftp(Alias(*this, "skiff-sftp"));
  BOOST_REQUIRE_MESSAGE(fs.ok(), fs.status().ToString());
  auto st = (*fs)->Stat(sftp_remote_dir());
  BOOST_REQUIRE_MESSAGE(st.ok(), st.status().ToString());
  BOOST_TEST(st->IsDir());
  const std::string path = sftp_remote_dir() + "/hello.txt";
  auto f = (*fs)->Open(path, OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kTruncate, 0644);
  BOOST_REQUIRE_MESSAGE(f.ok(), f.status().ToString());
  BOOST_REQUIRE((*f)->Write(0, "over ssh").ok());
  BOOST_REQUIRE((*f)->Close().ok());
  BOOST_TEST(Slurp(sftp_local_dir() + "/hello.txt") == "over ssh");
  // The chroot has no shell: exec is forced to internal-sftp, never a shell.
  auto plain = MustConnect(Alias(*this, "skiff-plain"));
  auto fs2 = ConnectSftp(plain);
  BOOST_REQUIRE_MESSAGE(fs2.ok(), fs2.status().ToString());
  BOOST_TEST((*fs2)->Stat(plain_remote_dir()).ok());
}

BOOST_FIXTURE_TEST_CASE(exec_and_sftp_concurrently_on_one_connection, SshdFixture) {
  auto conn = MustConnect(Alias(*this, "skiff-plain"));
  auto fs = ConnectSftp(conn);
  BOOST_REQUIRE_MESSAGE(fs.ok(), fs.status().ToString());
  std::ofstream(plain_local_dir() + "/f") << "x";
  std::atomic<bool> done{false};
  std::atomic<int> stats{0};
  Status stat_failure;  // the sftp thread's first error; Boost.Test asserts stay on this thread
  std::thread sftp([&] {
    while (!done) {
      auto st = (*fs)->Stat(plain_remote_dir() + "/f");
      if (!st.ok()) {
        stat_failure = st.status();
        done = true;
        break;
      }
      ++stats;
    }
  });
  for (int i = 0; i < 5; ++i) {
    auto ch = conn->OpenExec("head -c 3000000 /dev/zero");
    BOOST_REQUIRE(ch.ok());
    BOOST_TEST(ReadAll(**ch).size() == 3000000u);
  }
  while (stats < 10 && !done) std::this_thread::yield();
  done = true;
  sftp.join();
  BOOST_REQUIRE_MESSAGE(stat_failure.ok(), stat_failure.ToString());
  BOOST_TEST(stats >= 10);
}

// Several SFTP sessions on one connection, each driven by its own thread with one waited
// request at a time: the pattern of write striping and of the backup's sessions. A
// writer's wakeup must never be lost to the polls libssh runs inside another channel's
// read or write (it used to be, delaying requests by the poll timeout, ~1 s: up to 190
// times in 8000 requests). The connection counts every poll that slept its whole timeout
// while a request sat ready to send.
BOOST_FIXTURE_TEST_CASE(no_wakeup_is_lost_with_four_sessions_on_one_connection, SshdFixture) {
  auto conn = MustConnect(Alias(*this, "skiff-plain"));
  constexpr int kSessions = 4, kRequests = 1500;
  std::vector<std::unique_ptr<RemoteFs>> sessions;
  for (int i = 0; i < kSessions; ++i) {
    auto fs = ConnectSftp(conn);
    BOOST_REQUIRE_MESSAGE(fs.ok(), fs.status().ToString());
    sessions.push_back(std::move(*fs));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kSessions; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < kRequests; ++k) {
        if (!sessions[i]->Lstat(plain_remote_dir()).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(failures == 0);
  BOOST_TEST(conn->missed_wakeups() == 0u);
}

BOOST_FIXTURE_TEST_CASE(unknown_host_key_is_refused, SshdFixture) {
  const std::string kh = TempPath("empty_known_hosts");
  std::ofstream(kh).close();
  auto c = SshConnection::Connect(Alias(*this, "skiff-plain", {"UserKnownHostsFile=" + kh}));
  BOOST_REQUIRE(!c.ok());
  BOOST_TEST(c.status().code() == Code::kHostKey);
  const std::string& m = c.status().message();
  BOOST_TEST_MESSAGE(m);
  BOOST_TEST(m.find("[127.0.0.1]:" + std::to_string(port())) != std::string::npos, m);
  BOOST_TEST(m.find("not known") != std::string::npos, m);
  BOOST_TEST(m.find("SHA256:") != std::string::npos, m);
  BOOST_TEST(m.find("StrictHostKeyChecking=accept-new") != std::string::npos, m);
  BOOST_TEST(Slurp(kh).empty());  // nothing recorded
  std::filesystem::remove(kh);
}

BOOST_FIXTURE_TEST_CASE(accept_new_records_the_key_then_it_is_known, SshdFixture) {
  const std::string kh = TempPath("new_known_hosts");
  std::filesystem::remove(kh);
  auto c = SshConnection::Connect(Alias(
      *this, "skiff-plain", {"UserKnownHostsFile=" + kh, "StrictHostKeyChecking=accept-new"}));
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  BOOST_TEST(Slurp(kh).find("[127.0.0.1]:" + std::to_string(port())) != std::string::npos);
  // Now a strict connection with only that file succeeds.
  auto again = SshConnection::Connect(Alias(*this, "skiff-plain", {"UserKnownHostsFile=" + kh}));
  BOOST_TEST(again.ok(), again.status().ToString());
  // The explicit option does the same as accept-new.
  std::filesystem::remove(kh);
  SshOptions o = Alias(*this, "skiff-plain", {"UserKnownHostsFile=" + kh});
  o.accept_new_host_key = true;
  BOOST_TEST(SshConnection::Connect(o).ok());
  BOOST_TEST(!Slurp(kh).empty());
  std::filesystem::remove(kh);
}

BOOST_FIXTURE_TEST_CASE(changed_host_key_is_refused_even_with_accept_new, SshdFixture) {
  // A known_hosts line for this host and port with some other ed25519 key.
  const std::string key = TempPath("otherkey");
  std::filesystem::remove(key);
  std::filesystem::remove(key + ".pub");
  BOOST_REQUIRE(std::system(("ssh-keygen -q -t ed25519 -N '' -f " + key).c_str()) == 0);
  std::string pub = Slurp(key + ".pub");
  pub = pub.substr(0, pub.find(' ', pub.find(' ') + 1));  // "ssh-ed25519 AAAA..."
  const std::string kh = TempPath("changed_known_hosts");
  std::ofstream(kh) << "[127.0.0.1]:" << port() << " " << pub << "\n";
  auto c = SshConnection::Connect(Alias(
      *this, "skiff-plain", {"UserKnownHostsFile=" + kh, "StrictHostKeyChecking=accept-new"}));
  BOOST_REQUIRE(!c.ok());
  BOOST_TEST(c.status().code() == Code::kHostKey);
  const std::string& m = c.status().message();
  BOOST_TEST_MESSAGE(m);
  BOOST_TEST(m.find("CHANGED") != std::string::npos, m);
  BOOST_TEST(m.find("SHA256:") != std::string::npos, m);
  BOOST_TEST(
      m.find("ssh-keygen -R '[127.0.0.1]:" + std::to_string(port()) + "'") != std::string::npos, m);
  for (auto p : {key, key + ".pub", kh}) std::filesystem::remove(p);
}

BOOST_FIXTURE_TEST_CASE(wrong_identity_fails_with_clear_auth_error, SshdFixture) {
  const std::string key = TempPath("strangerkey");
  std::filesystem::remove(key);
  std::filesystem::remove(key + ".pub");
  BOOST_REQUIRE(std::system(("ssh-keygen -q -t ed25519 -N '' -f " + key).c_str()) == 0);
  SshOptions o;
  o.host = "127.0.0.1";
  o.port = port();
  o.user = "skiff-plain";
  o.config_file = "none";
  o.identity_files = {key};
  o.options = {"UserKnownHostsFile=" + known_hosts_path(), "IdentitiesOnly=yes"};
  auto c = SshConnection::Connect(o);
  BOOST_REQUIRE(!c.ok());
  BOOST_TEST(c.status().code() == Code::kAuth);
  const std::string& m = c.status().message();
  BOOST_TEST_MESSAGE(m);
  BOOST_TEST(m.find(key + " (refused by the server)") != std::string::npos, m);
  BOOST_TEST(m.find("skiff-plain") != std::string::npos, m);
  // A missing key file is named as such.
  o.identity_files = {key + ".missing"};
  c = SshConnection::Connect(o);
  BOOST_REQUIRE(!c.ok());
  BOOST_TEST(c.status().message().find(key + ".missing (no such file)") != std::string::npos,
             c.status().message());
  for (auto p : {key, key + ".pub"}) std::filesystem::remove(p);
}

BOOST_FIXTURE_TEST_CASE(ssh_agent_key_authenticates, SshdFixture) {
  // A private ssh-agent (our own, stopped by its pid) holding the plain account's key.
  const std::string sock = TempPath("agent.sock");
  std::filesystem::remove(sock);
  FILE* out = popen(("ssh-agent -s -a " + sock).c_str(), "r");
  BOOST_REQUIRE(out);
  std::string text;
  char buf[256];
  while (fgets(buf, sizeof buf, out)) text += buf;
  pclose(out);
  size_t at = text.find("SSH_AGENT_PID=");
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, text);
  const pid_t agent = std::stoi(text.substr(at + 14));
  struct AgentGuard {
    pid_t pid;
    ~AgentGuard() { kill(pid, SIGTERM); }
  } guard{agent};
  BOOST_REQUIRE(
      std::system(
          ("SSH_AUTH_SOCK=" + sock + " ssh-add -q " + plain_key_path() + " 2>/dev/null").c_str()) ==
      0);
  SshOptions o;
  o.host = "127.0.0.1";
  o.port = port();
  o.user = "skiff-plain";
  o.config_file = "none";
  o.identity_files = {TempPath("no-such-key")};  // only the agent can succeed
  o.options = {"UserKnownHostsFile=" + known_hosts_path(), "IdentityAgent=" + sock};
  auto conn = MustConnect(o);
  auto ch = conn->OpenExec("echo by-agent");
  BOOST_REQUIRE(ch.ok());
  BOOST_TEST(ReadAll(**ch) == "by-agent\n");
  // Without the agent the same options fail with kAuth.
  o.options = {"UserKnownHostsFile=" + known_hosts_path(), "IdentityAgent=none"};
  auto c = SshConnection::Connect(o);
  BOOST_REQUIRE(!c.ok());
  BOOST_TEST(c.status().code() == Code::kAuth);
}

BOOST_FIXTURE_TEST_CASE(proxy_command_carries_the_connection, SshdFixture) {
  // %h and %p are expanded by skiff; %% must reach the shell as a single '%'.
  const std::string pc =
      "ProxyCommand=bash -c 'x=100%%; exec 3<>/dev/tcp/%h/%p; cat <&3 & cat >&3'";
  auto conn = MustConnect(Alias(*this, "skiff-plain", {pc}));
  auto ch = conn->OpenExec("echo via-proxy");
  BOOST_REQUIRE(ch.ok());
  BOOST_TEST(ReadAll(**ch) == "via-proxy\n");
}

BOOST_FIXTURE_TEST_CASE(blackholed_network_fails_within_keepalive, SshdFixture) {
  FaultProxy proxy(port());
  BOOST_REQUIRE(TrustPort(proxy.port()).ok());
  SshOptions o = Alias(
      *this, "skiff-plain",
      {"Port=" + std::to_string(proxy.port()), "ServerAliveInterval=1", "ServerAliveCountMax=2"});
  auto conn = MustConnect(o);
  auto ch = conn->OpenExec("cat /dev/zero");
  BOOST_REQUIRE(ch.ok());
  char buf[65536];
  uint64_t got = 0;
  while (got < (8u << 20)) {  // mid-transfer
    auto n = (*ch)->Read(buf, sizeof buf);
    BOOST_REQUIRE(n.ok());
    got += *n;
  }
  proxy.Blackhole(true);
  Status failure;
  for (;;) {  // must end by itself: the keepalive declares the peer dead
    auto n = (*ch)->Read(buf, sizeof buf);
    if (!n.ok()) {
      failure = n.status();
      break;
    }
  }
  BOOST_TEST_MESSAGE(failure.ToString());
  BOOST_TEST((failure.code() == Code::kTimeout || failure.code() == Code::kConnectionLost));
  BOOST_TEST(failure.retryable());
  BOOST_TEST(!conn->health().ok());
  // Writes and new channels fail too, promptly.
  BOOST_TEST(!(*ch)->Write("x").ok());
  BOOST_TEST(!conn->OpenExec("true").ok());
  proxy.Blackhole(false);
}

BOOST_FIXTURE_TEST_CASE(idle_live_connection_survives_keepalives, SshdFixture) {
  // The server answers keepalives, so several silent intervals must not kill it.
  auto conn =
      MustConnect(Alias(*this, "skiff-plain", {"ServerAliveInterval=1", "ServerAliveCountMax=1"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(4500));
  BOOST_TEST(conn->health().ok(), conn->health().ToString());
  auto ch = conn->OpenExec("echo alive");
  BOOST_REQUIRE_MESSAGE(ch.ok(), ch.status().ToString());
  BOOST_TEST(ReadAll(**ch) == "alive\n");
}

BOOST_FIXTURE_TEST_CASE(cut_connection_fails_and_pool_reconnects, SshdFixture) {
  FaultProxy proxy(port());
  BOOST_REQUIRE(TrustPort(proxy.port()).ok());
  auto cfg =
      ResolveSshConfig(Alias(*this, "skiff-plain", {"Port=" + std::to_string(proxy.port())}));
  BOOST_REQUIRE(cfg.ok());
  ConnectionPool pool(*cfg, 2);
  auto a = pool.Get(0);
  auto b = pool.Get(1);
  BOOST_REQUIRE_MESSAGE(a.ok(), a.status().ToString());
  BOOST_REQUIRE(b.ok());
  BOOST_TEST(a->get() != b->get());
  BOOST_TEST(pool.Get(2)->get() == a->get());  // lazily made once, then reused
  auto ch = (*a)->OpenExec("cat /dev/zero");
  BOOST_REQUIRE(ch.ok());
  char buf[4096];
  BOOST_REQUIRE((*ch)->Read(buf, sizeof buf).ok());
  proxy.CutAll();
  Status failure;
  for (;;) {
    auto n = (*ch)->Read(buf, sizeof buf);
    if (!n.ok()) {
      failure = n.status();
      break;
    }
  }
  BOOST_TEST(failure.code() == Code::kConnectionLost, failure.ToString());
  auto again = pool.Get(0);
  BOOST_REQUIRE_MESSAGE(again.ok(), again.status().ToString());
  BOOST_TEST(again->get() != a->get());
  auto ch2 = (*again)->OpenExec("echo back");
  BOOST_REQUIRE(ch2.ok());
  BOOST_TEST(ReadAll(**ch2) == "back\n");
}

}  // namespace
}  // namespace skiff
