#define BOOST_TEST_MODULE connection_pool
#include "transport/connection_pool.h"

#include <boost/test/unit_test.hpp>
#include <thread>

namespace skiff {
namespace {

// Only failing connectors can be tested without a server; success and reconnect after a
// dead connection are covered by tests/integration/transport.
BOOST_AUTO_TEST_CASE(failed_connect_backs_off_instead_of_retrying_at_once) {
  int calls = 0;
  SshConfig cfg;
  cfg.hostname = "h";
  ConnectionPool pool(cfg, 2, [&](const SshConfig&) -> Result<std::shared_ptr<SshConnection>> {
    ++calls;
    return Status::ConnectionLost("refused #" + std::to_string(calls));
  });
  BOOST_TEST(pool.size() == 2u);
  auto a = pool.Get(0);
  BOOST_REQUIRE(!a.ok());
  BOOST_TEST(a.status().code() == Code::kConnectionLost);
  BOOST_TEST(a.status().retryable());
  auto b = pool.Get(0);  // within the backoff: the same failure, no new attempt
  BOOST_TEST(calls == 1);
  BOOST_TEST(b.status().message() == "refused #1");
  auto c = pool.Get(1);  // another slot has its own state
  BOOST_TEST(calls == 2);
  BOOST_TEST(!c.ok());
  std::this_thread::sleep_for(ConnectionPool::kMinBackoff + std::chrono::milliseconds(50));
  auto d = pool.Get(2);  // slot 0 again, after its backoff
  BOOST_TEST(calls == 3);
  BOOST_TEST(d.status().message() == "refused #3");
}

BOOST_AUTO_TEST_CASE(next_goes_round_robin) {
  std::vector<std::string> seen;
  SshConfig cfg;
  ConnectionPool pool(cfg, 3, [&](const SshConfig&) -> Result<std::shared_ptr<SshConnection>> {
    return Status(Code::kAuth, "no");
  });
  for (int i = 0; i < 3; ++i) BOOST_TEST(pool.Next().status().code() == Code::kAuth);
  BOOST_TEST(pool.size() == 3u);
  ConnectionPool zero(cfg, 0, nullptr);
  BOOST_TEST(zero.size() == 1u);
}

}  // namespace
}  // namespace skiff
