// Disconnect semantics (doc/SEMANTICS.md "Disconnects"): fail fast with an errno, never
// hang; with reconnect, continue on a new connection; reopen only what is safe; never
// lose what an fsync acknowledged.
#include <boost/test/unit_test.hpp>
#include <cerrno>

#include "fs/errno_map.h"
#include "tests/fs/fs_fixture.h"

using skiff::fs::StatusToErrno;
using skiff::testing::FsFixture;

namespace {
constexpr uint64_t kRoot = 1;

skiff::fs::MountOptions NoCache() {
  skiff::fs::MountOptions o;
  (void)skiff::fs::ApplyMountOptions("cache=strict", o);
  return o;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(disconnect)

BOOST_AUTO_TEST_CASE(without_reconnect_operations_fail_with_eio) {
  FsFixture f(NoCache());
  uint64_t a = f.MakeFile(kRoot, "a", "x");
  f.faulty->set_lost(true);
  BOOST_CHECK_EQUAL(StatusToErrno(f.filesystem->GetAttr(a, std::nullopt).status()), EIO);
  BOOST_CHECK_EQUAL(StatusToErrno(f.filesystem->Mkdir(kRoot, "d", 0755).status()), EIO);
  // The connection stays marked lost: later calls fail at once, without asking it.
  uint64_t calls = f.faulty->calls();
  BOOST_CHECK_EQUAL(StatusToErrno(f.filesystem->Lookup(kRoot, "a").status()), EIO);
  BOOST_CHECK_EQUAL(f.faulty->calls(), calls);
}

BOOST_AUTO_TEST_CASE(with_reconnect_the_next_operation_continues) {
  FsFixture f(NoCache(), /*reconnect=*/true);
  uint64_t a = f.MakeFile(kRoot, "a", "x");
  f.faulty->set_lost(true);
  // An idempotent operation is retried once on a new connection: it just works.
  auto attr = f.filesystem->GetAttr(a, std::nullopt);
  BOOST_REQUIRE(attr.ok());
  BOOST_CHECK_EQUAL(f.filesystem->reconnects(), 1u);
  BOOST_CHECK(f.filesystem->Mkdir(kRoot, "d", 0755).ok());
}

BOOST_AUTO_TEST_CASE(non_idempotent_operations_are_not_retried) {
  FsFixture f(NoCache(), true);
  f.faulty->set_lost(true);
  // mkdir may or may not have happened on the old connection: report, do not repeat.
  BOOST_CHECK_EQUAL(StatusToErrno(f.filesystem->Mkdir(kRoot, "d", 0755).status()), EIO);
  BOOST_CHECK(f.filesystem->Mkdir(kRoot, "d", 0755).ok());  // next call reconnects
}

BOOST_AUTO_TEST_CASE(read_only_handles_are_reopened) {
  FsFixture f(NoCache(), true);
  uint64_t a = f.MakeFile(kRoot, "a", "0123456789");
  auto o = f.filesystem->Open(a, O_RDONLY);
  BOOST_REQUIRE(o.ok());
  BOOST_CHECK_EQUAL(*f.filesystem->Read(o->fh, 0, 4), "0123");
  f.faulty->set_lost(true);
  auto r = f.filesystem->Read(o->fh, 6, 4);
  BOOST_REQUIRE(r.ok());
  BOOST_CHECK_EQUAL(*r, "6789");
  (void)f.filesystem->Release(o->fh);
}

BOOST_AUTO_TEST_CASE(writes_in_flight_fail_the_handle_fsynced_data_survives) {
  FsFixture f(NoCache(), true);
  auto c = f.filesystem->Create(kRoot, "log", 0644, O_WRONLY | O_CREAT | O_EXCL);
  BOOST_REQUIRE(c.ok());
  uint64_t fh = c->second.fh;
  BOOST_REQUIRE(f.filesystem->Write(fh, 0, "committed;").ok());
  BOOST_REQUIRE(f.filesystem->Fsync(fh, false).ok());
  f.faulty->set_lost(true);
  (void)f.filesystem->Write(fh, 10, "lost?");  // may be accepted into write-behind
  // close(2) reports the failure: the application knows these bytes may be gone.
  BOOST_CHECK_NE(StatusToErrno(f.filesystem->Flush(fh)), 0);
  // The handle is not silently reopened (it had writes in flight): ESTALE from now on.
  BOOST_CHECK_EQUAL(StatusToErrno(f.filesystem->Write(fh, 15, "x").status()), ESTALE);
  (void)f.filesystem->Release(fh);
  // Nothing acknowledged to fsync is lost, and the file can be reopened and continued.
  BOOST_CHECK_EQUAL(f.ServerContent("/m/log").substr(0, 10), "committed;");
  auto e = f.filesystem->Lookup(kRoot, "log");
  BOOST_REQUIRE(e.ok());
  auto o = f.filesystem->Open(e->ino, O_WRONLY | O_APPEND);
  BOOST_REQUIRE(o.ok());
  BOOST_REQUIRE(f.filesystem->Write(o->fh, 0, "more").ok());
  BOOST_REQUIRE(f.filesystem->Flush(o->fh).ok());
  (void)f.filesystem->Release(o->fh);
  std::string content = f.ServerContent("/m/log");
  BOOST_CHECK_EQUAL(content.substr(0, 10), "committed;");
  BOOST_CHECK_EQUAL(content.substr(content.size() - 4), "more");
}

BOOST_AUTO_TEST_CASE(idle_writable_handle_is_reopened) {
  FsFixture f(NoCache(), true);
  auto c = f.filesystem->Create(kRoot, "a", 0644, O_WRONLY | O_CREAT | O_EXCL);
  uint64_t fh = c->second.fh;
  BOOST_REQUIRE(f.filesystem->Write(fh, 0, "one,").ok());
  BOOST_REQUIRE(f.filesystem->Flush(fh).ok());  // acknowledged
  f.faulty->set_lost(true);
  (void)f.filesystem->Lookup(kRoot, "zzz");  // some other operation notices the loss
  BOOST_REQUIRE(f.filesystem->Write(fh, 4, "two").ok());
  BOOST_REQUIRE(f.filesystem->Flush(fh).ok());
  (void)f.filesystem->Release(fh);
  BOOST_CHECK_EQUAL(f.ServerContent("/m/a"), "one,two");
}

BOOST_AUTO_TEST_CASE(failed_reconnects_back_off_without_blocking) {
  FsFixture f(NoCache(), true);
  uint64_t a = f.MakeFile(kRoot, "a", "x");
  f.faulty->set_lost(true);
  f.refuse_connect = true;
  int before = f.connects;
  BOOST_CHECK_EQUAL(StatusToErrno(f.filesystem->GetAttr(a, std::nullopt).status()), EIO);
  BOOST_CHECK_EQUAL(f.connects - before, 1);
  // Within the backoff period: fail at once, no new attempt.
  BOOST_CHECK_EQUAL(StatusToErrno(f.filesystem->GetAttr(a, std::nullopt).status()), EIO);
  BOOST_CHECK_EQUAL(f.connects - before, 1);
  f.refuse_connect = false;
  f.Advance(1);
  BOOST_CHECK(f.filesystem->GetAttr(a, std::nullopt).ok());
  BOOST_CHECK_EQUAL(f.connects - before, 2);
}

BOOST_AUTO_TEST_SUITE_END()
