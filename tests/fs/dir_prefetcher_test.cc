// DirPrefetcher on its own: a caller that lists a directory itself takes over the
// background work for it (SEMANTICS.md "Consistency", directory prefetch): a fetch under
// way is joined, a queued one is dropped, so no directory is listed twice.
#include "fs/dir_prefetcher.h"

#include <boost/test/unit_test.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using skiff::fs::DirPrefetcher;

namespace {

// A fetch function that records what it was asked and blocks until released.
struct GatedFetch {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> started, finished;
  bool open = false;

  void Fetch(const std::string& dir) {
    std::unique_lock<std::mutex> l(mu);
    started.push_back(dir);
    cv.notify_all();
    cv.wait(l, [&] { return open; });
    finished.push_back(dir);
  }
  void WaitStarted(size_t n) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return started.size() >= n; });
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu);
    open = true;
    cv.notify_all();
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(dir_prefetcher)

BOOST_AUTO_TEST_CASE(take_over_joins_a_fetch_under_way) {
  GatedFetch g;
  DirPrefetcher p(1, 16, [&](const std::string& d) { g.Fetch(d); });
  p.Enqueue("/a");
  g.WaitStarted(1);
  bool joined = false;
  std::vector<std::string> finished_at_return;
  std::thread t([&] {
    joined = p.TakeOver("/a");
    std::lock_guard<std::mutex> l(g.mu);
    finished_at_return = g.finished;
  });
  g.Release();
  t.join();
  // Whether it joined the fetch (the usual case) or came after it ended, it returned
  // only once the fetch had finished, so the listing is in the cache by then.
  BOOST_TEST(finished_at_return == std::vector<std::string>{"/a"});
  BOOST_TEST_MESSAGE("joined the fetch under way: " << joined);
  p.WaitIdle();
  BOOST_TEST(g.started.size() == 1u);
}

BOOST_AUTO_TEST_CASE(take_over_drops_a_queued_directory) {
  GatedFetch g;
  DirPrefetcher p(1, 16, [&](const std::string& d) { g.Fetch(d); });
  p.Enqueue("/busy");
  g.WaitStarted(1);  // the only worker is held, so the next ones stay queued
  p.Enqueue("/b");
  p.Enqueue("/c");
  BOOST_TEST(!p.TakeOver("/b"));        // the caller lists it itself
  BOOST_TEST(!p.TakeOver("/unknown"));  // never queued
  g.Release();
  p.WaitIdle();
  BOOST_TEST((g.started == std::vector<std::string>{"/busy", "/c"}));
  // Once dropped it may be queued again.
  p.Enqueue("/b");
  p.WaitIdle();
  BOOST_TEST(g.started.back() == "/b");
}

BOOST_AUTO_TEST_CASE(stop_releases_a_waiting_caller) {
  GatedFetch g;
  auto p = std::make_unique<DirPrefetcher>(1, 16, [&](const std::string& d) { g.Fetch(d); });
  p->Enqueue("/a");
  g.WaitStarted(1);
  std::thread t([&] { (void)p->TakeOver("/a"); });
  std::thread stopper([&] { p->Stop(); });  // waits for the fetch in progress
  g.Release();
  stopper.join();
  t.join();
  // Whether the caller or Stop saw the fetch end first, neither waits forever.
  BOOST_TEST(g.finished.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
