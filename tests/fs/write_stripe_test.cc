// Write striping (doc/SEMANTICS.md "Writing and durability"): a large sequential write
// on a write-only handle is spread over sibling sessions; data, errors and fsync must
// behave as on one session.
#include <fcntl.h>

#include <boost/test/unit_test.hpp>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tests/fs/fs_fixture.h"
#include "tests/support/test_data.h"

using skiff::Code;
using skiff::RemoteFs;
using skiff::Result;
using skiff::Status;
using skiff::testing::FaultyRemoteFs;
using skiff::testing::FsFixture;
using skiff::testing::RandomBytes;

namespace {
constexpr uint64_t kRoot = 1;
constexpr size_t kMiB = 1 << 20;

skiff::fs::MountOptions StripeOptions(uint32_t channels, uint64_t sync_every) {
  skiff::fs::MountOptions o;
  o.write_channels = channels;
  o.stripe_after_bytes = 2 * kMiB;
  o.write_sync_every = sync_every;
  return o;
}

// A fixture whose session opener hands out FaultyRemoteFs siblings on the same server.
struct StripeFixture : FsFixture {
  // sync_every: MountOptions::write_sync_every (0 = no early writeback fsyncs).
  explicit StripeFixture(uint32_t channels = 3, uint64_t sync_every = 0)
      : FsFixture(StripeOptions(channels, sync_every)) {
    filesystem->set_session_opener(
        [this](const std::shared_ptr<RemoteFs>& primary) -> Result<std::shared_ptr<RemoteFs>> {
          std::lock_guard<std::mutex> l(mu);
          ++opens;
          if (primary != faulty) return Status::Invalid("opener: not the mount's connection");
          if (!refuse.ok()) return refuse;
          siblings.push_back(std::make_shared<FaultyRemoteFs>(mem));
          return std::shared_ptr<RemoteFs>(siblings.back());
        });
  }
  // Creates /m/NAME (mode 0644) opened with `flags`; returns the handle.
  uint64_t CreateFile(const std::string& name, int flags = O_WRONLY | O_CREAT | O_TRUNC) {
    auto c = filesystem->Create(kRoot, name, 0644, flags);
    BOOST_REQUIRE_MESSAGE(c.ok(), c.status().ToString());
    return c->second.fh;
  }
  // close(): the flush must succeed; then release and wait for the background close.
  void CloseFile(uint64_t fh) {
    Status fl = filesystem->Flush(fh);
    BOOST_REQUIRE_MESSAGE(fl.ok(), fl.ToString());
    Status rel = filesystem->Release(fh);
    BOOST_REQUIRE_MESSAGE(rel.ok(), rel.ToString());
    filesystem->WaitForBackgroundCloses();
  }

  std::mutex mu;
  std::vector<std::shared_ptr<FaultyRemoteFs>> siblings;
  int opens = 0;
  Status refuse;
};

// Writes `data` at `offset` in pieces of `piece` bytes, applying them to `model` too.
void WriteIn(StripeFixture& f, uint64_t fh, uint64_t offset, const std::string& data, size_t piece,
             std::string& model) {
  for (size_t i = 0; i < data.size(); i += piece) {
    std::string part = data.substr(i, piece);
    auto w = f.filesystem->Write(fh, offset + i, part);
    BOOST_REQUIRE_MESSAGE(w.ok(), w.status().ToString());
    if (model.size() < offset + i + part.size()) model.resize(offset + i + part.size());
    model.replace(offset + i, part.size(), part);
  }
}
}  // namespace

BOOST_AUTO_TEST_SUITE(write_stripe)

BOOST_AUTO_TEST_CASE(large_sequential_write_uses_every_session_and_keeps_the_data) {
  StripeFixture f(3);
  uint64_t fh = f.CreateFile("big");
  std::string model;
  WriteIn(f, fh, 0, RandomBytes(12 * kMiB, 1), 128 * 1024, model);
  // Unaligned rewrites across stripe boundaries, and an overlap rewritten twice: the
  // last write of each byte must win.
  WriteIn(f, fh, 3 * kMiB - 5000, RandomBytes(2 * kMiB + 777, 2), 300001, model);
  WriteIn(f, fh, 3 * kMiB - 100, RandomBytes(5000, 3), 4096, model);
  WriteIn(f, fh, 12 * kMiB, RandomBytes(kMiB + 3, 4), 65536, model);  // extends the file
  f.CloseFile(fh);
  BOOST_CHECK_EQUAL(f.siblings.size(), 2u);
  for (auto& s : f.siblings) BOOST_CHECK_GT(s->write_calls(), 0u);
  BOOST_CHECK_GT(f.faulty->write_calls(), 0u);
  std::string got = f.ServerContent("/m/big");
  BOOST_CHECK_EQUAL(got.size(), model.size());
  BOOST_CHECK(got == model);
}

BOOST_AUTO_TEST_CASE(sibling_sessions_are_reused_by_the_next_file) {
  StripeFixture f(3);
  for (int i = 0; i < 2; ++i) {
    std::string name = "f" + std::to_string(i);
    uint64_t fh = f.CreateFile(name);
    std::string model;
    WriteIn(f, fh, 0, RandomBytes(5 * kMiB, 10 + i), kMiB, model);
    f.CloseFile(fh);
    BOOST_CHECK(f.ServerContent("/m/" + name) == model);
  }
  BOOST_CHECK_EQUAL(f.opens, 2);  // two siblings, opened once
}

BOOST_AUTO_TEST_CASE(an_error_on_a_sibling_session_surfaces_at_flush) {
  StripeFixture f(3);
  uint64_t fh = f.CreateFile("e");
  std::string model;
  WriteIn(f, fh, 0, RandomBytes(3 * kMiB, 5), kMiB, model);
  BOOST_REQUIRE_EQUAL(f.siblings.size(), 2u);
  f.siblings[1]->set_fail_writes(Status(Code::kNoSpace, "injected: disk full on session 3"));
  // Stripes 3, 4, 5: one of them lands on the failing session. write() may still
  // succeed (write-behind); flush must not.
  for (uint64_t off = 3 * kMiB; off < 6 * kMiB; off += kMiB)
    (void)f.filesystem->Write(fh, off, RandomBytes(kMiB, 6));
  Status fl = f.filesystem->Flush(fh);
  BOOST_CHECK(fl.Is(Code::kNoSpace));
  BOOST_CHECK_MESSAGE(fl.ToString().find("session 3") != std::string::npos, fl.ToString());
  BOOST_CHECK(f.filesystem->Fsync(fh, false).Is(Code::kNoSpace));  // sticky
  (void)f.filesystem->Release(fh);
  f.filesystem->WaitForBackgroundCloses();
}

BOOST_AUTO_TEST_CASE(fsync_reaches_every_handle) {
  StripeFixture f(4);
  uint64_t fh = f.CreateFile("s");
  std::string model;
  WriteIn(f, fh, 0, RandomBytes(6 * kMiB, 7), kMiB, model);
  uint64_t before = f.faulty->sync_calls();
  Status s = f.filesystem->Fsync(fh, false);
  BOOST_CHECK_MESSAGE(s.ok(), s.ToString());
  BOOST_CHECK_EQUAL(f.faulty->sync_calls(), before + 1);
  BOOST_REQUIRE_EQUAL(f.siblings.size(), 3u);
  for (auto& sib : f.siblings) BOOST_CHECK_EQUAL(sib->sync_calls(), 1u);
  // A sibling that cannot sync fails the fsync.
  f.siblings[2]->set_lost(true);
  BOOST_CHECK(!f.filesystem->Fsync(fh, false).ok());
  f.siblings[2]->set_lost(false);
  (void)f.filesystem->Release(fh);
  f.filesystem->WaitForBackgroundCloses();
}

BOOST_AUTO_TEST_CASE(readers_appenders_and_small_files_stay_on_one_session) {
  StripeFixture f(3);
  std::string model;
  // O_RDWR: a read through the handle must see its writes, so no striping.
  uint64_t rw = f.CreateFile("rw", O_RDWR | O_CREAT | O_TRUNC);
  WriteIn(f, rw, 0, RandomBytes(4 * kMiB, 8), kMiB, model);
  f.CloseFile(rw);
  BOOST_CHECK(f.ServerContent("/m/rw") == model);
  // Below stripe_after_bytes.
  model.clear();
  uint64_t small = f.CreateFile("small");
  WriteIn(f, small, 0, RandomBytes(kMiB, 9), 65536, model);
  f.CloseFile(small);
  BOOST_CHECK_EQUAL(f.opens, 0);
  BOOST_CHECK(f.ServerContent("/m/small") == model);
}

BOOST_AUTO_TEST_CASE(a_refused_sibling_session_leaves_the_file_on_one_session) {
  StripeFixture f(3);
  f.refuse = Status::Unsupported("injected: no more sessions");
  uint64_t fh = f.CreateFile("one");
  std::string model;
  WriteIn(f, fh, 0, RandomBytes(6 * kMiB, 11), 200000, model);
  f.CloseFile(fh);
  BOOST_CHECK_GT(f.opens, 0);
  BOOST_CHECK(f.ServerContent("/m/one") == model);
}

BOOST_AUTO_TEST_CASE(setattr_behind_striped_writes_lands_after_them) {
  StripeFixture f(3);
  auto c = f.filesystem->Create(kRoot, "t", 0644, O_WRONLY | O_CREAT | O_TRUNC);
  BOOST_REQUIRE(c.ok());  // SetAttr needs the inode as well as the handle
  std::string model;
  WriteIn(f, c->second.fh, 0, RandomBytes(5 * kMiB, 12), kMiB, model);
  skiff::fs::SetAttrRequest req;
  req.mtime = 1234567;
  req.atime = 1234567;
  auto a = f.filesystem->SetAttr(c->first.ino, c->second.fh, req);
  BOOST_REQUIRE_MESSAGE(a.ok(), a.status().ToString());
  f.CloseFile(c->second.fh);
  auto st = f.mem->Stat("/m/t");
  BOOST_REQUIRE(st.ok());
  BOOST_CHECK_EQUAL(st->mtime, 1234567);
  BOOST_CHECK(f.ServerContent("/m/t") == model);
}

uint64_t SyncsEverywhere(StripeFixture& f) {
  uint64_t n = f.faulty->sync_calls();
  for (auto& sib : f.siblings) n += sib->sync_calls();
  return n;
}

BOOST_AUTO_TEST_CASE(a_long_striped_write_syncs_early_and_keeps_the_data) {
  StripeFixture f(3, 4 * kMiB);
  uint64_t fh = f.CreateFile("w");
  std::string model;
  WriteIn(f, fh, 0, RandomBytes(26 * kMiB, 9), kMiB, model);
  Status fl = f.filesystem->Flush(fh);  // waits for the early fsyncs too
  BOOST_CHECK_MESSAGE(fl.ok(), fl.ToString());
  // Striped from 2 MiB on: 24 MiB striped, one fsync per 4 MiB unless one was still
  // outstanding; at least one, at most six.
  uint64_t early = SyncsEverywhere(f);
  BOOST_CHECK_GE(early, 1u);
  BOOST_CHECK_LE(early, 6u);
  BOOST_CHECK_EQUAL(f.opens, 2);
  (void)f.filesystem->Release(fh);
  f.filesystem->WaitForBackgroundCloses();
  BOOST_CHECK(f.ServerContent("/m/w") == model);
  // Off: no fsync the caller did not ask for.
  StripeFixture g(3, 0);
  uint64_t gh = g.CreateFile("w");
  std::string gmodel;
  WriteIn(g, gh, 0, RandomBytes(26 * kMiB, 9), kMiB, gmodel);
  BOOST_CHECK(g.filesystem->Flush(gh).ok());
  BOOST_CHECK_EQUAL(SyncsEverywhere(g), 0u);
  (void)g.filesystem->Release(gh);
  g.filesystem->WaitForBackgroundCloses();
}

BOOST_AUTO_TEST_CASE(a_failed_early_sync_surfaces_at_flush_and_sticks) {
  StripeFixture f(3, 2 * kMiB);
  uint64_t fh = f.CreateFile("e");
  std::string model;
  WriteIn(f, fh, 0, RandomBytes(3 * kMiB, 5), kMiB, model);
  BOOST_REQUIRE_EQUAL(f.siblings.size(), 2u);
  Status eio(Code::kIo, "injected: fsync failed");
  f.faulty->set_fail_syncs(eio);
  for (auto& sib : f.siblings) sib->set_fail_syncs(eio);
  // Every write is acknowledged; only the early fsyncs fail. write() may still succeed.
  for (uint64_t off = 3 * kMiB; off < 12 * kMiB; off += kMiB)
    (void)f.filesystem->Write(fh, off, RandomBytes(kMiB, 6));
  Status fl = f.filesystem->Flush(fh);
  BOOST_CHECK_GE(SyncsEverywhere(f), 1u);
  BOOST_CHECK_MESSAGE(fl.Is(Code::kIo), fl.ToString());
  BOOST_CHECK_MESSAGE(fl.ToString().find("early writeback fsync") != std::string::npos,
                      fl.ToString());
  f.faulty->set_fail_syncs(Status::Ok());
  for (auto& sib : f.siblings) sib->set_fail_syncs(Status::Ok());
  BOOST_CHECK(f.filesystem->Fsync(fh, false).Is(Code::kIo));  // sticky
  (void)f.filesystem->Release(fh);
  f.filesystem->WaitForBackgroundCloses();
}

BOOST_AUTO_TEST_SUITE_END()
