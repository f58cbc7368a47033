// skiff serve handles server-side build requests (op 41) on worker threads
// (sync/serve_server.h): replies come back out of order, builds run in parallel with each
// other and with the session's other requests, and the rules still hold: append-only
// refusals under concurrency, a malformed build frame ends the session with an error
// reply, a connection that ends mid-stream leaves nothing half-published. Through the
// real `skiff serve` program (SKIFF_BIN) over a pipe, with raw frames where the test needs
// to see the order of replies.
#define BOOST_TEST_MODULE serve_concurrency_test
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "sync/content_hash.h"
#include "sync/ordered_work_pool.h"
#include "sync/serve_build_handlers.h"
#include "tests/support/serve_pipe.h"
#include "tests/support/serve_repo_fixture.h"
#include "tests/support/test_data.h"
#include "tests/support/tree_state.h"
#include "transport/process_channel.h"
#include "transport/serve_protocol.h"
#include "transport/serve_remote_fs.h"

namespace {

namespace fs = std::filesystem;
using namespace skiff;
using skiff::testing::RandomBytes;
using skiff::testing::ReadFile;
using skiff::testing::WriteFile;
using BH = sync::ServeBuildHandlers;

using Fixture = skiff::testing::ServeRepoFixture;

using skiff::testing::Attrs;

// A serve session spoken in raw frames (after the version-2 hello).
struct RawSession {
  std::unique_ptr<ProcessChannel> ch;
  std::string buf;
  explicit RawSession(const fs::path& root, const std::string& mode) {
    const char* skiff = std::getenv("SKIFF_BIN");
    BOOST_REQUIRE_MESSAGE(skiff, "SKIFF_BIN is not set (run the suite through ctest)");
    auto c = ProcessChannel::Spawn({skiff, "serve", "--root", root.string(), mode});
    BOOST_REQUIRE_MESSAGE(c.ok(), c.status().ToString());
    ch = std::move(c).value();
    Send(serve::Op::kHello, 0, serve::PayloadWriter().Str(serve::kMagic).U32(2).Take());
    auto hello = Next();
    BOOST_REQUIRE(hello.ok());
    BOOST_REQUIRE(serve::DecodeReply(hello->payload).ok());
  }
  void Send(serve::Op op, uint32_t id, const std::string& payload) {
    BOOST_REQUIRE(ch->Write(serve::EncodeFrame(static_cast<uint8_t>(op), id, payload)).ok());
  }
  Result<serve::Frame> Next() { return serve::ReadFrame(*ch, buf); }
  // Reads until the server closes the stream, then reaps it: its exit status.
  int ExitStatus() {
    ch->SendEof().IgnoreError();
    while (Next().ok()) {
    }
    ch->Close();
    return ch->ExitStatus();
  }
};

// kBuild payloads.
std::string Begin(uint32_t build, uint8_t flags, const std::string& base, const std::string& tmp,
                  const std::string& dst) {
  serve::PayloadWriter w;
  w.U32(build).U8(BH::kBegin | flags).Str(base).Str(tmp).Str(dst).U32(0);
  return w.Take();
}
void End(serve::PayloadWriter& w, uint64_t size, const std::string& hash) {
  w.U64(size).Str(hash).Attr(Attrs(0644, 1700000000)).Str("").Str("");
}

BOOST_FIXTURE_TEST_CASE(cheap_requests_overtake_a_large_rebuild, Fixture) {
  // A 256 MiB base (sparse: cheap on disk, but every byte is read, hashed and signed).
  const uint64_t kBig = 256ull << 20;
  {
    WriteFile(repo / snap / "sparse", "");
    BOOST_REQUIRE(truncate((repo / snap / "sparse").c_str(), kBig) == 0);
  }
  sync::ContentHasher zeros;
  const std::string mib(1 << 20, '\0');
  for (uint64_t i = 0; i < kBig >> 20; ++i) zeros.Update(mib);
  RawSession s(repo, "--append-only");
  serve::PayloadWriter w;
  w.U32(1)
      .U8(BH::kBegin | BH::kEnd)
      .Str(snap + "/sparse")
      .Str(".skiff/tmp/s")
      .Str("snapshots/.incomplete/sparse");
  w.U32(0).U32(1).U8(0).U64(0).U64(kBig);
  End(w, kBig, zeros.HexDigest());
  s.Send(serve::Op::kBuild, 100, w.Take());
  for (uint32_t id = 200; id < 400; ++id)
    s.Send(serve::Op::kLstat, id, serve::PayloadWriter().Str(snap + "/small").Take());
  std::vector<uint32_t> order;
  for (int i = 0; i < 201; ++i) {
    auto f = s.Next();
    BOOST_REQUIRE_MESSAGE(f.ok(), f.status().ToString());
    auto body = serve::DecodeReply(f->payload);
    BOOST_TEST(body.ok(), f->id << ": " << body.status());
    order.push_back(f->id);
  }
  // Every request answered once; the lstats did not wait for the rebuild.
  BOOST_TEST(std::set<uint32_t>(order.begin(), order.end()).size() == 201u);
  const size_t build_at = std::find(order.begin(), order.end(), 100u) - order.begin();
  BOOST_TEST_MESSAGE("the build's reply came after " << build_at << " lstat replies");
  BOOST_TEST(build_at > 0u);
  struct stat st;
  BOOST_REQUIRE(stat((repo / "snapshots/.incomplete/sparse").c_str(), &st) == 0);
  BOOST_TEST(static_cast<uint64_t>(st.st_size) == kBig);
  BOOST_TEST(s.ExitStatus() == 0);
}

BOOST_FIXTURE_TEST_CASE(parallel_builds_and_refusals_from_many_threads, Fixture) {
  auto before = Published();
  auto sv = skiff::testing::SpawnServe(repo, "--append-only");
  BOOST_REQUIRE(sv->server_build());
  constexpr int kThreads = 12;
  std::vector<std::string> want(kThreads);
  std::vector<Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      // Each file: pieces of the base around literals, in many requests.
      std::string lit = RandomBytes(700 * 1024, 100 + t);
      want[t] = base.substr(0, 1000 * t) + lit + base.substr(1000 * t);
      BuildSpec spec;
      spec.base = snap + "/big";
      spec.tmp = ".skiff/tmp/c." + std::to_string(t);
      spec.dst = "snapshots/.incomplete/c" + std::to_string(t);
      // Every third thread asks for what the key may not do.
      if (t % 3 == 1) spec.dst = "snapshots/2026-02-02T000000Z";      // a build that publishes
      if (t % 3 == 2) spec.dst = snap + "/big", spec.replace = true;  // over published data
      auto b = sv->BeginBuild(spec);
      Status st = b->Copy(0, 1000 * t);
      for (size_t off = 0; st.ok() && off < lit.size(); off += 50000)
        st = b->Literal(std::string_view(lit).substr(off, 50000));
      if (st.ok()) st = b->Copy(1000 * t, base.size() - 1000 * t);
      if (st.ok())
        st = b->Commit(want[t].size(), sync::ContentHash(want[t]), Attrs(0600, 5), "").status();
      results[t] = st;
    });
  // Meanwhile, cheap requests from this thread.
  for (int i = 0; i < 100; ++i) BOOST_TEST(sv->Lstat(snap + "/small").ok());
  for (auto& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    if (t % 3 == 0) {
      BOOST_TEST(results[t].ok(), t << ": " << results[t]);
      BOOST_TEST(ReadFile(repo / ("snapshots/.incomplete/c" + std::to_string(t))) == want[t]);
    } else {
      BOOST_TEST((results[t].code() == Code::kPermission || results[t].code() == Code::kExists),
                 t << ": " << results[t]);
    }
  }
  BOOST_TEST((Published() == before));
}

BOOST_FIXTURE_TEST_CASE(a_malformed_build_frame_gets_an_error_and_ends_the_session, Fixture) {
  auto before = Published();
  RawSession s(repo, "--append-only");
  // A build in progress, then one whose begin fields are cut short.
  s.Send(serve::Op::kBuild, 1,
         Begin(1, 0, snap + "/big", ".skiff/tmp/ok", "snapshots/.incomplete/ok") +
             serve::PayloadWriter().U32(1).U8(0).U64(0).U64(base.size()).Take());
  serve::PayloadWriter bad;
  bad.U32(2).U8(BH::kBegin).Str(snap + "/big").U32(1000);  // a string claiming 1000 bytes
  s.Send(serve::Op::kBuild, 2, bad.Take());
  std::map<uint32_t, Status> replies;
  for (auto f = s.Next(); f.ok(); f = s.Next())
    replies[f->id] = serve::DecodeReply(f->payload).status();
  BOOST_TEST(replies.count(2) == 1u);
  BOOST_TEST(replies[2].code() == Code::kCorrupt, replies[2]);
  s.ch->Close();
  BOOST_TEST(s.ch->ExitStatus() == 2);
  BOOST_TEST(!fs::exists(repo / "snapshots/.incomplete/ok"));
  BOOST_TEST((Published() == before));
}

BOOST_FIXTURE_TEST_CASE(a_connection_ending_mid_stream_publishes_nothing_half_built, Fixture) {
  auto before = Published();
  {
    RawSession s(repo, "--append-only");
    // Three builds begun and fed, none ended; one complete; then the client goes away.
    for (uint32_t b = 1; b <= 3; ++b)
      s.Send(serve::Op::kBuild, b,
             Begin(b, 0, snap + "/big", ".skiff/tmp/m" + std::to_string(b),
                   "snapshots/.incomplete/m" + std::to_string(b)) +
                 serve::PayloadWriter().U32(1).U8(0).U64(0).U64(base.size()).Take());
    serve::PayloadWriter w;
    w.U32(9)
        .U8(BH::kBegin | BH::kEnd)
        .Str("")
        .Str(".skiff/tmp/done")
        .Str("snapshots/.incomplete/done");
    w.U32(0).U32(1).U8(1).Str("complete\n");
    End(w, 9, sync::ContentHash("complete\n"));
    s.Send(serve::Op::kBuild, 9, w.Take());
    BOOST_TEST(s.ExitStatus() == 0);
  }
  BOOST_TEST(ReadFile(repo / "snapshots/.incomplete/done") == "complete\n");
  for (int b = 1; b <= 3; ++b)
    BOOST_TEST(!fs::exists(repo / ("snapshots/.incomplete/m" + std::to_string(b))));
  BOOST_TEST((Published() == before));
  // The repository stays usable: a new session builds the same destinations.
  auto sv = skiff::testing::SpawnServe(repo, "--append-only");
  BuildSpec spec;
  spec.base = snap + "/big";
  spec.tmp = ".skiff/tmp/m1.again";
  spec.dst = "snapshots/.incomplete/m1";
  auto b = sv->BeginBuild(spec);
  BOOST_REQUIRE(b->Copy(0, base.size()).ok());
  auto r = b->Commit(base.size(), sync::ContentHash(base), Attrs(0644, 1), "");
  BOOST_TEST(r.ok(), r.status());
  BOOST_TEST(ReadFile(repo / spec.dst) == base);
}

// A build's scratch file published while the build is still open (the directory holding
// it renamed to a snapshot name, or a hard link of it renamed into .skiff/manifests):
// the build's later requests are refused and the published bytes stay as they were.
BOOST_FIXTURE_TEST_CASE(a_build_published_while_open_is_revoked, Fixture) {
  RawSession s(repo, "--append-only");
  auto reply = [&](uint32_t want_id) {
    auto f = s.Next();
    BOOST_REQUIRE_MESSAGE(f.ok(), f.status().ToString());
    BOOST_REQUIRE(f->id == want_id);
    return serve::DecodeReply(f->payload).status();
  };
  auto literal = [](uint32_t build, const std::string& text) {
    return serve::PayloadWriter().U32(build).U8(0).U32(1).U8(1).Str(text).Take();
  };
  // Build 1 writes inside snapshots/.incomplete; build 2 in .skiff/tmp.
  s.Send(serve::Op::kBuild, 1,
         Begin(1, 0, "", "snapshots/.incomplete/a.tmp", "snapshots/.incomplete/a") +
             serve::PayloadWriter().U32(1).U8(1).Str("first").Take());
  BOOST_TEST(reply(1).ok());
  s.Send(serve::Op::kBuild, 2,
         Begin(2, 0, "", ".skiff/tmp/b.tmp", ".skiff/tmp/b") +
             serve::PayloadWriter().U32(1).U8(1).Str("second").Take());
  BOOST_TEST(reply(2).ok());
  // Publish both: the directory by rename, build 2's file through a hard link.
  s.Send(serve::Op::kRename, 3,
         serve::PayloadWriter()
             .Str("snapshots/.incomplete")
             .Str("snapshots/2026-03-03T000000Z")
             .U8(0)
             .Take());
  BOOST_TEST(reply(3).ok());
  s.Send(serve::Op::kHardlink, 4,
         serve::PayloadWriter().Str(".skiff/tmp/b.tmp").Str(".skiff/tmp/b.link").Take());
  BOOST_TEST(reply(4).ok());
  s.Send(serve::Op::kRename, 5,
         serve::PayloadWriter()
             .Str(".skiff/tmp/b.link")
             .Str(".skiff/manifests/2026-03-03T000000Z")
             .U8(0)
             .Take());
  BOOST_TEST(reply(5).ok());
  // More bytes for both builds: refused.
  s.Send(serve::Op::kBuild, 6, literal(1, "-changed after publishing"));
  Status r6 = reply(6);
  BOOST_TEST(r6.code() == Code::kPermission, r6);
  BOOST_TEST(r6.message().find("revoked") != std::string::npos, r6);
  s.Send(serve::Op::kBuild, 7, literal(2, "-changed after publishing"));
  Status r7 = reply(7);
  BOOST_TEST(r7.code() == Code::kPermission, r7);
  BOOST_TEST(s.ExitStatus() == 0);
  BOOST_TEST(ReadFile(repo / "snapshots/2026-03-03T000000Z/a.tmp") == "first");
  BOOST_TEST(ReadFile(repo / ".skiff/manifests/2026-03-03T000000Z") == "second");
}

BOOST_AUTO_TEST_CASE(ordered_work_pool_keeps_each_keys_order_and_bounds_the_queue) {
  std::mutex mu;
  std::map<uint64_t, std::vector<int>> seen;
  std::atomic<int> running{0}, max_running{0};
  {
    sync::OrderedWorkPool pool(4, 8, 1 << 20);
    for (int i = 0; i < 400; ++i) {
      uint64_t key = i % 5;
      pool.Submit(key, 1000, [&, key, i] {
        int now = ++running;
        for (int m = max_running; now > m && !max_running.compare_exchange_weak(m, now);) {
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        {
          std::lock_guard<std::mutex> l(mu);
          seen[key].push_back(i);
        }
        --running;
      });
    }
    pool.Drain();
  }
  BOOST_TEST(seen.size() == 5u);
  for (auto& [key, v] : seen) {
    BOOST_TEST(v.size() == 80u);
    BOOST_TEST(std::is_sorted(v.begin(), v.end()), "key " << key);
  }
  BOOST_TEST(max_running.load() <= 4);
  BOOST_TEST(max_running.load() >= 2);  // different keys did run at once
}

}  // namespace
