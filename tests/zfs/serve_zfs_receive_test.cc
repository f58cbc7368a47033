// ServeZfsReceive (skiff serve --zfs-receive) without a pool: name confinement, the
// BEGIN-record check, and the rules for starting a receive, on the fake ZFS host.
#include "sync/serve_zfs_receive.h"

#include <boost/test/unit_test.hpp>
#include <cstring>

#include "tests/zfs/fake_zfs_host.h"

using skiff::Code;
using skiff::sync::ParseZfsBeginRecord;
using skiff::sync::ResolveZfsReceiveName;
using skiff::sync::ServeZfsReceive;
using skiff::sync::testing::FakeZfsHost;
namespace serve = skiff::serve;

namespace {

// A BEGIN record as zfs send writes it (little-endian here).
std::string BeginRecord(uint64_t to, uint64_t from, uint64_t versioninfo = 1,
                        const char* name = "tank/data@snap") {
  std::string r(skiff::sync::kZfsBeginRecordSize, '\0');
  auto put64 = [&](size_t off, uint64_t v) { std::memcpy(&r[off], &v, 8); };
  put64(8, 0x2F5bacbacULL);
  put64(16, versioninfo);
  put64(40, to);
  put64(48, from);
  std::memcpy(&r[56], name, std::strlen(name));
  return r;
}

skiff::Result<std::string> Call(ServeZfsReceive& z, serve::Op op, const std::string& payload) {
  serve::PayloadReader r(payload);
  auto res = z.Handle(op, r);
  BOOST_REQUIRE(r.done());
  return res;
}

std::string BeginReq(const std::string& name, uint64_t guid, uint64_t parent) {
  return serve::PayloadWriter().Str(name).Str("snap").U64(guid).U64(parent).Take();
}

std::string DataReq(const std::string& data) { return serve::PayloadWriter().Str(data).Take(); }

}  // namespace

BOOST_AUTO_TEST_CASE(names_stay_under_the_prefix) {
  BOOST_TEST(*ResolveZfsReceiveName("tank/b", "home") == "tank/b/home");
  BOOST_TEST(*ResolveZfsReceiveName("tank/b", "hosts/web-1.x:y") == "tank/b/hosts/web-1.x:y");
  for (const char* bad : {"", "..", "../x", "a/../../x", "./a", "a/.", "/tank/x", "a//b", "a/",
                          "a@b", "a#b", "a%b", "a b", "a\nb", "-F", "a;rm"}) {
    auto r = ResolveZfsReceiveName("tank/b", bad);
    // "-F" is a valid component name but can never be an option: it is joined to the
    // prefix ("tank/b/-F").
    if (std::string(bad) == "-F") {
      BOOST_TEST(*r == "tank/b/-F");
      continue;
    }
    BOOST_TEST(!r.ok(), bad);
    BOOST_TEST(r.status().Is(Code::kPermission), bad);
  }
}

BOOST_AUTO_TEST_CASE(begin_record_parsed_in_both_byte_orders) {
  auto r = ParseZfsBeginRecord(BeginRecord(7, 5));
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->to_guid == 7u);
  BOOST_TEST(r->from_guid == 5u);
  BOOST_TEST(!r->compound);
  BOOST_TEST(r->to_name == "tank/data@snap");
  std::string be = BeginRecord(0, 0);
  for (size_t off : {8, 16, 40, 48}) {
    uint64_t v;
    std::memcpy(&v, &be[off], 8);
    v = __builtin_bswap64(off == 40 ? 9 : off == 48 ? 3 : off == 16 ? 2 : v);
    if (off == 8) v = __builtin_bswap64(0x2F5bacbacULL);
    std::memcpy(&be[off], &v, 8);
  }
  r = ParseZfsBeginRecord(be);
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->to_guid == 9u);
  BOOST_TEST(r->from_guid == 3u);
  BOOST_TEST(r->compound);
  BOOST_TEST(ParseZfsBeginRecord("FAKEZFS 0 1 a 3\nabc").status().Is(Code::kCorrupt));
  BOOST_TEST(ParseZfsBeginRecord(std::string(400, 'x')).status().Is(Code::kCorrupt));
}

BOOST_AUTO_TEST_CASE(begin_refuses_overwrite_divergence_and_repeats) {
  FakeZfsHost host;
  host.AddSnapshot("tank/b/home", "one", 11, "x");
  host.AddSnapshot("tank/b/home", "two", 12, "y");
  ServeZfsReceive z("tank/b", host);
  // Target: the snapshots by guid.
  auto t = Call(z, serve::Op::kZfsTarget, serve::PayloadWriter().Str("home").Take());
  BOOST_REQUIRE(t.ok());
  serve::PayloadReader tr(*t);
  BOOST_TEST(tr.Str() == "tank/b/home");
  BOOST_TEST(tr.U8() == 1);
  BOOST_TEST(tr.U32() == 2u);
  // Full stream over an existing dataset.
  auto r = Call(z, serve::Op::kZfsBegin, BeginReq("home", 20, 0));
  BOOST_TEST(r.status().Is(Code::kExists));
  BOOST_TEST(r.status().message().find("already exists") != std::string::npos);
  // Incremental from an older snapshot than the newest: diverged.
  r = Call(z, serve::Op::kZfsBegin, BeginReq("home", 20, 11));
  BOOST_TEST(!r.ok());
  BOOST_TEST(r.status().message().find("diverged") != std::string::npos, r.status().message());
  // Already received.
  r = Call(z, serve::Op::kZfsBegin, BeginReq("home", 12, 11));
  BOOST_TEST(r.status().Is(Code::kExists));
  // Incremental into a missing dataset.
  r = Call(z, serve::Op::kZfsBegin, BeginReq("other", 20, 11));
  BOOST_TEST(r.status().Is(Code::kNotFound));
  BOOST_TEST(host.receives_started == 0);
  // Outside the prefix.
  r = Call(z, serve::Op::kZfsBegin, BeginReq("../x", 20, 0));
  BOOST_TEST(r.status().Is(Code::kPermission));
  // From the newest: starts a receive.
  r = Call(z, serve::Op::kZfsBegin, BeginReq("home", 20, 12));
  BOOST_TEST(r.ok());
  BOOST_TEST(host.receives_started == 1);
  // One at a time.
  r = Call(z, serve::Op::kZfsBegin, BeginReq("new", 30, 0));
  BOOST_TEST(r.status().Is(Code::kInvalidArgument));
}

BOOST_AUTO_TEST_CASE(stream_header_checked_before_zfs_sees_it) {
  FakeZfsHost host;
  ServeZfsReceive z("tank/b", host);
  // A replication (-R) stream is refused, and later frames get the same answer.
  BOOST_REQUIRE(Call(z, serve::Op::kZfsBegin, BeginReq("new", 30, 0)).ok());
  std::string rec = BeginRecord(30, 0, /*versioninfo=*/2);
  auto r = Call(z, serve::Op::kZfsData, DataReq(rec.substr(0, 100)));
  BOOST_TEST(r.ok());  // not enough for the record yet
  r = Call(z, serve::Op::kZfsData, DataReq(rec.substr(100) + "more"));
  BOOST_TEST(r.status().Is(Code::kPermission));
  BOOST_TEST(r.status().message().find("replication streams") != std::string::npos);
  r = Call(z, serve::Op::kZfsData, DataReq("later"));
  BOOST_TEST(r.status().Is(Code::kPermission));
  r = Call(z, serve::Op::kZfsEnd, serve::PayloadWriter().U64(rec.size() + 9).Take());
  BOOST_TEST(r.status().Is(Code::kPermission));
  BOOST_TEST(!host.datasets.count("tank/b/new"));

  // A stream other than the announced one.
  BOOST_REQUIRE(Call(z, serve::Op::kZfsBegin, BeginReq("new", 30, 0)).ok());
  r = Call(z, serve::Op::kZfsData, DataReq(BeginRecord(31, 0)));
  BOOST_TEST(r.status().Is(Code::kPermission));
  BOOST_TEST(r.status().message().find("not the one announced") != std::string::npos);
  BOOST_TEST(Call(z, serve::Op::kZfsAbort, "").ok());

  // Not a stream at all: refused at the end, nothing received.
  BOOST_REQUIRE(Call(z, serve::Op::kZfsBegin, BeginReq("new", 30, 0)).ok());
  BOOST_TEST(Call(z, serve::Op::kZfsData, DataReq("short")).ok());
  r = Call(z, serve::Op::kZfsEnd, serve::PayloadWriter().U64(5).Take());
  BOOST_TEST(r.status().Is(Code::kCorrupt));
  // A byte count that does not match what arrived.
  BOOST_REQUIRE(Call(z, serve::Op::kZfsBegin, BeginReq("new", 30, 0)).ok());
  BOOST_TEST(Call(z, serve::Op::kZfsData, DataReq(BeginRecord(30, 0))).ok());
  r = Call(z, serve::Op::kZfsEnd, serve::PayloadWriter().U64(1).Take());
  BOOST_TEST(r.status().Is(Code::kCorrupt));
  BOOST_TEST(r.status().message().find("nothing was received") != std::string::npos);
  BOOST_TEST(!host.datasets.count("tank/b/new"));
  // Data without a receive.
  BOOST_TEST(Call(z, serve::Op::kZfsData, DataReq("x")).status().Is(Code::kInvalidArgument));
}
