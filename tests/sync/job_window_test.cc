// JobWindow: work overlaps, finishers run in submission order on the owner's thread, the
// window stays bounded, and the first finisher error stops everything after it.
#include "sync/job_window.h"

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

using namespace skiff;
using namespace skiff::sync;

BOOST_AUTO_TEST_CASE(job_window_finishers_run_in_order_on_the_owner_thread) {
  std::vector<int> order;
  std::atomic<int> ran{0};
  const auto owner = std::this_thread::get_id();
  bool all_on_owner = true;
  {
    JobWindow w(8, 32);
    for (int i = 0; i < 1000; ++i) {
      // Later jobs finish first often: earlier ones sleep a little.
      BOOST_REQUIRE(w.Submit(
                         [i, &ran] {
                           if (i % 7 == 0)
                             std::this_thread::sleep_for(std::chrono::microseconds(200));
                           ++ran;
                         },
                         [i, &order, &all_on_owner, owner] {
                           all_on_owner &= std::this_thread::get_id() == owner;
                           order.push_back(i);
                           return Status::Ok();
                         })
                        .ok());
      if (i % 100 == 50)
        BOOST_REQUIRE(w.Then([i, &order] {
                         order.push_back(-i);
                         return Status::Ok();
                       }).ok());
    }
    BOOST_REQUIRE(w.Drain().ok());
  }
  BOOST_TEST(ran.load() == 1000);
  BOOST_TEST(all_on_owner);
  std::vector<int> expect;
  for (int i = 0; i < 1000; ++i) {
    expect.push_back(i);
    if (i % 100 == 50) expect.push_back(-i);
  }
  BOOST_TEST(order == expect, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(job_window_runs_work_concurrently_and_stays_bounded) {
  // Four jobs that can only all complete if they run at the same time.
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  bool all_met = true;
  JobWindow w(4, 8);
  for (int i = 0; i < 4; ++i)
    BOOST_REQUIRE(
        w.Submit(
             [&] {
               std::unique_lock<std::mutex> l(mu);
               ++arrived;
               cv.notify_all();
               if (!cv.wait_for(l, std::chrono::seconds(30), [&] { return arrived >= 4; }))
                 all_met = false;
             },
             [] { return Status::Ok(); })
            .ok());
  BOOST_REQUIRE(w.Drain().ok());
  BOOST_TEST(all_met);

  // Never more than max_pending jobs outstanding (submitted, finisher not yet run).
  std::atomic<int> outstanding{0};
  int peak = 0;
  for (int i = 0; i < 200; ++i) {
    int now = ++outstanding;
    peak = std::max(peak, now);
    BOOST_REQUIRE(w.Submit([] { std::this_thread::yield(); },
                           [&] {
                             --outstanding;
                             return Status::Ok();
                           })
                      .ok());
  }
  BOOST_REQUIRE(w.Drain().ok());
  BOOST_TEST(outstanding.load() == 0);
  BOOST_TEST(peak <= 9);  // 8 pending plus the one being submitted
}

BOOST_AUTO_TEST_CASE(job_window_error_in_the_middle_stops_later_finishers) {
  std::vector<int> finished;
  std::atomic<int> ran{0};
  Status last;
  {
    JobWindow w(4, 16);
    for (int i = 0; i < 100; ++i) {
      last = w.Submit([&ran] { ++ran; },
                      [i, &finished]() -> Status {
                        if (i == 40) return Status::Io("job 40 failed");
                        finished.push_back(i);
                        return Status::Ok();
                      });
      if (!last.ok()) break;
    }
    if (last.ok()) last = w.Drain();
    BOOST_TEST(!last.ok());
    BOOST_TEST(last.message().find("job 40 failed") != std::string::npos);
    // Sticky: every later call reports the same error, and no finisher runs again.
    BOOST_TEST(w.Then([&] {
                  finished.push_back(-1);
                  return Status::Ok();
                }).message() == last.message());
    BOOST_TEST(!w.Drain().ok());
  }  // destructor waits for work in flight and drops the rest
  BOOST_TEST(finished.size() == 40u);
  for (size_t i = 0; i < finished.size(); ++i) BOOST_TEST(finished[i] == static_cast<int>(i));
  BOOST_TEST(ran.load() <= 100);
}

BOOST_AUTO_TEST_CASE(job_window_async_jobs_free_their_worker_and_finish_in_order) {
  // One worker, 100 async jobs whose Complete is called later by another thread (as a
  // serve link reply would): every job is started although none has completed (the
  // worker was not held), and the finishers still run in submission order, each after
  // its Complete.
  std::mutex mu;
  std::condition_variable cv;
  std::vector<JobWindow::Complete> waiting;
  std::vector<int> order;
  std::vector<bool> completed(100, false);
  bool after_complete = true;
  std::thread answerer;
  {
    JobWindow w(1, 1000);
    for (int i = 0; i < 100; ++i)
      BOOST_REQUIRE(w.SubmitAsync(
                         [&, i](JobWindow::Complete c) {
                           std::lock_guard<std::mutex> l(mu);
                           waiting.push_back([&, i, c] {
                             {
                               std::lock_guard<std::mutex> l2(mu);
                               completed[i] = true;
                             }
                             c();
                           });
                           cv.notify_all();
                         },
                         [&, i] {
                           std::lock_guard<std::mutex> l(mu);
                           after_complete &= completed[i];
                           order.push_back(i);
                           return Status::Ok();
                         })
                        .ok());
    {
      std::unique_lock<std::mutex> l(mu);
      BOOST_REQUIRE(
          cv.wait_for(l, std::chrono::seconds(30), [&] { return waiting.size() == 100; }));
    }
    BOOST_TEST(order.empty());
    // Answers in reverse order, from another thread.
    answerer = std::thread([&] {
      std::vector<JobWindow::Complete> all;
      {
        std::lock_guard<std::mutex> l(mu);
        all.swap(waiting);
      }
      for (auto it = all.rbegin(); it != all.rend(); ++it) (*it)();
    });
    BOOST_REQUIRE(w.Drain().ok());
  }
  answerer.join();
  BOOST_TEST(after_complete);
  BOOST_REQUIRE(order.size() == 100u);
  for (int i = 0; i < 100; ++i) BOOST_TEST(order[i] == i);
}
