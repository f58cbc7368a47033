// Reads, writes, read-ahead and write-behind semantics (doc/SEMANTICS.md "Reading",
// "Writing and durability").
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <random>
#include <set>
#include <thread>

#include "fs/errno_map.h"
#include "fs/read_ahead.h"
#include "tests/fs/fs_fixture.h"
#include "transport/mem_remote_fs.h"

using skiff::Code;
using skiff::Status;
using skiff::fs::StatusToErrno;
using skiff::testing::FsFixture;

namespace {
constexpr uint64_t kRoot = 1;

std::string Pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(read_write)

BOOST_AUTO_TEST_CASE(write_error_surfaces_at_flush_and_sticks) {
  // SEMANTICS.md: write() may return before the server answered; a failure is reported
  // by the next write, flush (close) or fsync, and by every one after it.
  FsFixture f;
  auto c = f.filesystem->Create(kRoot, "a", 0644, O_WRONLY | O_CREAT | O_EXCL);
  BOOST_REQUIRE(c.ok());
  f.faulty->set_fail_writes(Status(Code::kNoSpace, "injected: disk full"));
  auto w = f.filesystem->Write(c->second.fh, 0, "data");
  BOOST_CHECK(w.ok());  // accepted into write-behind
  Status fl = f.filesystem->Flush(c->second.fh);
  BOOST_CHECK_EQUAL(StatusToErrno(fl), ENOSPC);
  f.faulty->set_fail_writes(Status::Ok());
  BOOST_CHECK_EQUAL(StatusToErrno(f.filesystem->Write(c->second.fh, 4, "more").status()), ENOSPC);
  BOOST_CHECK_EQUAL(StatusToErrno(f.filesystem->Fsync(c->second.fh, false)), ENOSPC);
  BOOST_CHECK(f.filesystem->Release(c->second.fh).ok());
}

BOOST_AUTO_TEST_CASE(utimens_of_an_open_file_is_sent_behind_its_writes) {
  // SEMANTICS.md "Small files": tar's futimens before close is queued behind the writes
  // (same channel, answered in order) and waited for at flush; a later write waits for it.
  FsFixture f;
  auto c = f.filesystem->Create(kRoot, "a", 0644, O_WRONLY | O_CREAT | O_EXCL);
  BOOST_REQUIRE(c.ok());
  uint64_t fh = c->second.fh;
  BOOST_REQUIRE(f.filesystem->Write(fh, 0, "hello").ok());
  skiff::fs::SetAttrRequest times;
  times.atime = 1000000000;
  times.mtime = 1000000000;
  // Without the handle, as the kernel sends futimens: the one writer's handle is used.
  auto r = f.filesystem->SetAttr(c->first.ino, std::nullopt, times);
  BOOST_REQUIRE(r.ok());
  BOOST_CHECK_EQUAL(r->attr.st_mtim.tv_sec, 1000000000);
  BOOST_CHECK_EQUAL(r->attr.st_size, 5);
  BOOST_REQUIRE(f.filesystem->Flush(fh).ok());
  auto st = f.mem->Stat("/m/a");
  BOOST_REQUIRE(st.ok());
  BOOST_CHECK_EQUAL(st->mtime, 1000000000);
  BOOST_CHECK_EQUAL(st->size, 5u);
  // A failure of the queued fsetstat is reported at flush, like a write's.
  f.faulty->set_lost(true);
  auto r2 = f.filesystem->SetAttr(c->first.ino, fh, times);
  Status fl = r2.ok() ? f.filesystem->Flush(fh) : r2.status();
  BOOST_CHECK(!fl.ok());
  f.faulty->set_lost(false);
  BOOST_CHECK(f.filesystem->Release(fh).ok());
}

BOOST_AUTO_TEST_CASE(fsetstats_and_closes_of_untarred_files_are_not_waited_for_by_a_thread) {
  // An untar queues one fsetstat per file behind its write, and releases the handle after
  // the flush. Both are handed to the remote file without waiting (SetStatAsync and
  // CloseAsync: over SFTP submitted on the caller's thread, answered on the session's
  // reader). A thread started per fsetstat was one clone and one exit per file (strace
  // -c: 1002 clone3 for a 1000-file untar); a pool thread waiting for it, and the closer
  // thread waiting for each CLOSE, were 4 of the ~34 context switches per file
  // (bench/mount_untar_profile.sh with perf's sched_switch).
  FsFixture f;
  skiff::fs::SetAttrRequest times;
  times.mtime = 1000000000;
  constexpr int kFiles = 40;
  for (int i = 0; i < kFiles; ++i) {
    std::string name = "f" + std::to_string(i);
    auto c = f.filesystem->Create(kRoot, name, 0644, O_WRONLY | O_CREAT | O_EXCL);
    BOOST_REQUIRE(c.ok());
    BOOST_REQUIRE(f.filesystem->Write(c->second.fh, 0, "data " + name).ok());
    BOOST_REQUIRE(f.filesystem->SetAttr(c->first.ino, std::nullopt, times).ok());
    BOOST_REQUIRE(f.filesystem->Flush(c->second.fh).ok());
    BOOST_REQUIRE(f.filesystem->Release(c->second.fh).ok());
  }
  f.filesystem->WaitForBackgroundCloses();
  BOOST_CHECK_EQUAL(f.faulty->setstat_async_calls(), uint64_t{kFiles});
  BOOST_CHECK_EQUAL(f.faulty->close_async_calls(), uint64_t{kFiles});
  // The fake answers on the caller's thread: no other thread made an fsetstat call.
  BOOST_CHECK(f.faulty->file_setstat_threads() == std::set<pid_t>{gettid()});
  for (int i = 0; i < kFiles; ++i) {
    auto st = f.mem->Stat("/m/f" + std::to_string(i));
    BOOST_REQUIRE(st.ok());
    BOOST_CHECK_EQUAL(st->mtime, 1000000000);
  }
}

BOOST_AUTO_TEST_CASE(setattr_after_the_last_flush_is_waited_for) {
  // SEMANTICS.md §4: a chmod/utimens is queued behind a handle's writes only while a later
  // flush of that handle is sure to report its failure. After close (flush) with no write
  // since, or with two writers (whose writes are not ordered together), it is a SETSTAT
  // waited for: done on the server when it returns, its failure returned at once.
  FsFixture f;
  skiff::fs::SetAttrRequest times;
  times.atime = 1000000000;
  times.mtime = 1000000000;
  auto c = f.filesystem->Create(kRoot, "a", 0644, O_WRONLY | O_CREAT | O_EXCL);
  BOOST_REQUIRE(c.ok());
  BOOST_REQUIRE(f.filesystem->Write(c->second.fh, 0, "hello").ok());
  BOOST_REQUIRE(f.filesystem->Flush(c->second.fh).ok());
  BOOST_REQUIRE(f.filesystem->SetAttr(c->first.ino, std::nullopt, times).ok());
  BOOST_CHECK_EQUAL(f.mem->Stat("/m/a")->mtime, 1000000000);  // no flush needed
  f.faulty->set_lost(true);
  times.mtime = 1100000000;
  BOOST_CHECK(!f.filesystem->SetAttr(c->first.ino, std::nullopt, times).ok());
  f.faulty->set_lost(false);
  BOOST_CHECK(f.filesystem->Release(c->second.fh).ok());
}

BOOST_AUTO_TEST_CASE(setattr_with_expired_attributes_drains_the_writes_first) {
  // The reply to utimens carries the size; without cached attributes it comes from a stat,
  // which must see every write queued before it: not queued behind them then.
  FsFixture f;
  auto c = f.filesystem->Create(kRoot, "a", 0644, O_WRONLY | O_CREAT | O_EXCL);
  BOOST_REQUIRE(c.ok());
  BOOST_REQUIRE(f.filesystem->Write(c->second.fh, 0, "hello").ok());
  f.Advance(3600);
  skiff::fs::SetAttrRequest times;
  times.mtime = 1000000000;
  auto r = f.filesystem->SetAttr(c->first.ino, std::nullopt, times);
  BOOST_REQUIRE(r.ok());
  BOOST_CHECK_EQUAL(r->attr.st_size, 5);
  BOOST_CHECK_EQUAL(f.mem->Stat("/m/a")->mtime, 1000000000);  // waited for, not queued
  BOOST_CHECK(f.filesystem->Flush(c->second.fh).ok());
  BOOST_CHECK(f.filesystem->Release(c->second.fh).ok());
}

BOOST_AUTO_TEST_CASE(setattr_with_two_writers_is_waited_for) {
  FsFixture f;
  skiff::fs::SetAttrRequest times;
  times.atime = 1000000000;
  auto w1 = f.filesystem->Create(kRoot, "b", 0644, O_WRONLY | O_CREAT | O_EXCL);
  BOOST_REQUIRE(w1.ok());
  auto w2 = f.filesystem->Open(w1->first.ino, O_WRONLY);
  BOOST_REQUIRE(w2.ok());
  BOOST_REQUIRE(f.filesystem->Write(w1->second.fh, 0, "one").ok());
  BOOST_REQUIRE(f.filesystem->Write(w2->fh, 3, "two").ok());
  times.mtime = 1200000000;
  BOOST_REQUIRE(f.filesystem->SetAttr(w1->first.ino, std::nullopt, times).ok());
  BOOST_CHECK_EQUAL(f.mem->Stat("/m/b")->mtime, 1200000000);
  BOOST_CHECK_EQUAL(f.mem->Stat("/m/b")->size, 6u);  // both handles' writes drained first
  BOOST_CHECK(f.filesystem->Flush(w1->second.fh).ok());
  BOOST_CHECK(f.filesystem->Flush(w2->fh).ok());
  BOOST_CHECK(f.filesystem->Release(w1->second.fh).ok());
  BOOST_CHECK(f.filesystem->Release(w2->fh).ok());
}

BOOST_AUTO_TEST_CASE(failed_setattr_behind_writes_is_reported_by_close) {
  // tar's sequence: create, write, futimens (no handle), close. The futimens is answered
  // at once; if the server refuses it, close (flush) fails instead.
  FsFixture f;
  auto c = f.filesystem->Create(kRoot, "a", 0644, O_WRONLY | O_CREAT | O_EXCL);
  BOOST_REQUIRE(c.ok());
  BOOST_REQUIRE(f.filesystem->Write(c->second.fh, 0, "x").ok());
  f.faulty->set_lost(true);
  skiff::fs::SetAttrRequest chmod;
  chmod.mode = 0600;
  BOOST_REQUIRE(f.filesystem->SetAttr(c->first.ino, std::nullopt, chmod).ok());
  BOOST_CHECK_EQUAL(StatusToErrno(f.filesystem->Flush(c->second.fh)), EIO);
  f.faulty->set_lost(false);
  BOOST_CHECK(f.filesystem->Release(c->second.fh).ok());
}

BOOST_AUTO_TEST_CASE(append_truncate_and_sparse_writes) {
  FsFixture f;
  uint64_t a = f.MakeFile(kRoot, "a", "head");
  auto o = f.filesystem->Open(a, O_WRONLY | O_APPEND);
  BOOST_REQUIRE(o.ok());
  BOOST_REQUIRE(f.filesystem->Write(o->fh, 0, "+tail").ok());  // offset ignored: O_APPEND
  BOOST_REQUIRE(f.filesystem->Flush(o->fh).ok());
  (void)f.filesystem->Release(o->fh);
  BOOST_CHECK_EQUAL(f.ServerContent("/m/a"), "head+tail");

  auto t = f.filesystem->Open(a, O_WRONLY | O_TRUNC);
  BOOST_REQUIRE(t.ok());
  BOOST_CHECK_EQUAL(f.filesystem->GetAttr(a, std::nullopt)->attr.st_size, 0);
  BOOST_REQUIRE(f.filesystem->Write(t->fh, 10, "X").ok());  // a hole of 10 zero bytes
  BOOST_CHECK_EQUAL(f.filesystem->GetAttr(a, t->fh)->attr.st_size, 11);
  BOOST_REQUIRE(f.filesystem->Flush(t->fh).ok());
  (void)f.filesystem->Release(t->fh);
  BOOST_CHECK_EQUAL(f.ServerContent("/m/a"), std::string(10, '\0') + "X");
  BOOST_CHECK_EQUAL(f.ReadAll(a), std::string(10, '\0') + "X");
}

BOOST_AUTO_TEST_CASE(large_file_random_reads_and_writes_match_a_local_copy) {
  FsFixture f;
  std::string model = Pattern(3 << 20, 1);
  uint64_t a = f.MakeFile(kRoot, "big", model);
  auto o = f.filesystem->Open(a, O_RDWR);
  BOOST_REQUIRE(o.ok());
  std::mt19937 rng(7);
  for (int i = 0; i < 400; ++i) {
    uint64_t off = rng() % (model.size() + 4096);
    uint32_t len = 1 + rng() % 300000;
    if (rng() % 2) {
      std::string data = Pattern(len, i);
      BOOST_REQUIRE(f.filesystem->Write(o->fh, off, data).ok());
      if (off + len > model.size()) model.resize(off + len, '\0');
      model.replace(off, len, data);
    } else {
      auto r = f.filesystem->Read(o->fh, off, len);
      BOOST_REQUIRE(r.ok());
      std::string want = off >= model.size() ? "" : model.substr(off, len);
      BOOST_REQUIRE_MESSAGE(*r == want, "read " << len << " at " << off << " differs");
    }
  }
  BOOST_REQUIRE(f.filesystem->Flush(o->fh).ok());
  (void)f.filesystem->Release(o->fh);
  BOOST_CHECK(f.ServerContent("/m/big") == model);
}

BOOST_AUTO_TEST_CASE(sequential_reads_grow_the_window_random_reads_fetch_only_what_is_asked) {
  skiff::fs::MountOptions opts;
  opts.readahead_requests = 16;
  FsFixture f(opts);
  std::string data = Pattern(16 << 20, 3);
  uint64_t a = f.MakeFile(kRoot, "big", data);
  auto o = f.filesystem->Open(a, O_RDONLY);
  std::string got;
  for (uint64_t off = 0; off < data.size(); off += 131072) {
    auto r = f.filesystem->Read(o->fh, off, 131072);
    BOOST_REQUIRE(r.ok());
    got += *r;
  }
  BOOST_CHECK(got == data);
  // Read-ahead never reads far past the end it knows of, nor much more than the file.
  BOOST_CHECK_LE(f.faulty->read_bytes_requested(), data.size() + 2 * 255 * 1024);
  (void)f.filesystem->Release(o->fh);

  auto r = f.filesystem->Open(a, O_RDONLY);
  uint64_t before = f.faulty->read_bytes_requested();
  std::mt19937 rng(5);
  for (int i = 0; i < 50; ++i) {
    uint64_t off = 4096 + (rng() % 4000) * 4096;
    auto x = f.filesystem->Read(r->fh, off, 4096);
    BOOST_REQUIRE(x.ok());
    BOOST_CHECK(*x == data.substr(off, 4096));
  }
  BOOST_CHECK_EQUAL(f.faulty->read_bytes_requested() - before, 50u * 4096u);
  (void)f.filesystem->Release(r->fh);
}

BOOST_AUTO_TEST_CASE(small_file_read_in_whole_pages_sends_nothing_after_the_open) {
  // SEMANTICS.md §5: the open sends the READ of the file and a probe past its end
  // together, so the kernel's page-sized first read of a 3000-byte file finds both in
  // flight and sends nothing more.
  FsFixture f;
  std::string data = Pattern(3000, 4);
  uint64_t a = f.MakeFile(kRoot, "small", data);
  uint64_t before = f.faulty->read_requests();
  auto o = f.filesystem->Open(a, O_RDONLY);
  BOOST_REQUIRE(o.ok());
  uint64_t at_open = f.faulty->read_requests();
  BOOST_CHECK_EQUAL(at_open - before, 2u);  // the data and the probe
  auto r = f.filesystem->Read(o->fh, 0, 4096);
  BOOST_REQUIRE(r.ok());
  BOOST_CHECK(*r == data);
  BOOST_CHECK_EQUAL(f.faulty->read_requests(), at_open);
  (void)f.filesystem->Release(o->fh);
  // A file that grew on the server since it was last seen is still read in full.
  std::string longer = Pattern(9000, 5);
  {
    auto w = f.mem->Open("/m/small", skiff::OpenFlags::kWrite);
    BOOST_REQUIRE(w.ok());
    BOOST_REQUIRE((*w)->Write(0, longer).ok());
  }
  BOOST_CHECK(f.ReadAll(a) == longer);
}

BOOST_AUTO_TEST_CASE(read_ahead_window_doubles_to_its_cap) {
  skiff::MemRemoteFs mem;
  auto h = mem.Open("/f", skiff::OpenFlags::kWrite | skiff::OpenFlags::kCreate);
  BOOST_REQUIRE((*h)->Write(0, Pattern(8 << 20, 9)).ok());
  auto rf = mem.Open("/f", skiff::OpenFlags::kRead);
  skiff::fs::ReadAhead ra(rf->get(), 65536, 8);
  uint32_t last = 0;
  for (uint64_t off = 0; off < (4 << 20); off += 65536) {
    BOOST_REQUIRE(ra.Read(off, 65536).ok());
    BOOST_CHECK_GE(ra.window(), last);
    last = ra.window();
  }
  BOOST_CHECK_EQUAL(ra.window(), 8u);
  BOOST_REQUIRE(ra.Read(7 << 20, 100).ok());  // a jump resets the stream
  BOOST_CHECK_EQUAL(ra.window(), 0u);
}

BOOST_AUTO_TEST_CASE(fsync_with_and_without_the_extension) {
  FsFixture f;
  auto c = f.filesystem->Create(kRoot, "a", 0644, O_WRONLY | O_CREAT | O_EXCL);
  BOOST_REQUIRE(f.filesystem->Write(c->second.fh, 0, "durable").ok());
  BOOST_CHECK(f.filesystem->Fsync(c->second.fh, false).ok());
  BOOST_CHECK_EQUAL(f.ServerContent("/m/a"), "durable");
  auto caps = f.mem->caps();
  caps.fsync = false;
  f.mem->set_caps(caps);
  BOOST_CHECK(f.filesystem->Fsync(c->second.fh, false).ok());
  (void)f.filesystem->Release(c->second.fh);
}

BOOST_AUTO_TEST_CASE(concurrent_readers_and_writers) {
  FsFixture f;
  const int kFiles = 4;
  std::vector<uint64_t> inos;
  for (int i = 0; i < kFiles; ++i)
    inos.push_back(f.MakeFile(kRoot, "f" + std::to_string(i), Pattern(1 << 20, i)));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      uint64_t ino = inos[t % kFiles];
      if (t < kFiles) {  // writers: each rewrites its own region of its file
        auto o = f.filesystem->Open(ino, O_WRONLY);
        if (!o.ok()) return void(++failures);
        for (int k = 0; k < 50; ++k)
          if (!f.filesystem->Write(o->fh, k * 4096, std::string(4096, 'a' + t)).ok()) ++failures;
        if (!f.filesystem->Flush(o->fh).ok()) ++failures;
        (void)f.filesystem->Release(o->fh);
      } else {  // readers: read the untouched tail, which must never change
        std::string want = Pattern(1 << 20, t % kFiles).substr(512 << 10);
        for (int k = 0; k < 5; ++k) {
          auto o = f.filesystem->Open(ino, O_RDONLY);
          if (!o.ok()) return void(++failures);
          std::string got;
          for (uint64_t off = 512 << 10; off < (1 << 20); off += 65536) {
            auto r = f.filesystem->Read(o->fh, off, 65536);
            if (!r.ok())
              ++failures;
            else
              got += *r;
          }
          if (got != want) ++failures;
          (void)f.filesystem->Release(o->fh);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  BOOST_CHECK_EQUAL(failures.load(), 0);
  for (int i = 0; i < kFiles; ++i)
    BOOST_CHECK(f.ServerContent("/m/f" + std::to_string(i)).substr(0, 4096) ==
                std::string(4096, 'a' + i));
}

BOOST_AUTO_TEST_CASE(unlinked_open_file_stays_usable) {
  FsFixture f;
  uint64_t a = f.MakeFile(kRoot, "a", "still here");
  auto o = f.filesystem->Open(a, O_RDONLY);
  BOOST_REQUIRE(f.filesystem->Unlink(kRoot, "a").ok());
  auto r = f.filesystem->Read(o->fh, 0, 100);
  BOOST_REQUIRE(r.ok());
  BOOST_CHECK_EQUAL(*r, "still here");
  f.Advance(100);  // expire the attribute cache: fstat through the handle
  BOOST_CHECK_EQUAL(f.filesystem->GetAttr(a, o->fh)->attr.st_size, 10);
  (void)f.filesystem->Release(o->fh);
}

BOOST_AUTO_TEST_SUITE_END()
