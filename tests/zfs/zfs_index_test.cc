// The stream index format (hostile input) and send planning by guid.
#define BOOST_TEST_MODULE zfs_unit_test
#include <boost/test/unit_test.hpp>

#include "sync/zfs_send.h"
#include "sync/zfs_stream_index.h"

using namespace skiff;
using namespace skiff::sync;

namespace {

ZfsStreamEntry Entry(const std::string& snap, uint64_t guid, uint64_t parent) {
  ZfsStreamEntry e;
  e.snapshot = snap;
  e.guid = guid;
  e.parent_guid = parent;
  e.file = ZfsStreamFileName(guid, parent);
  e.size = 10 * guid;
  e.xxh128 = std::string(32, 'a');
  e.created = 1700000000;
  return e;
}

std::string Header() { return "skiff-zfs-index 1\ndataset\ttank/home\n"; }

}  // namespace

BOOST_AUTO_TEST_SUITE(zfs_index)

BOOST_AUTO_TEST_CASE(round_trip_and_chain) {
  ZfsStreamIndex idx;
  idx.set_dataset("tank/home");
  BOOST_REQUIRE(idx.Add(Entry("a", 1, 0)).ok());
  BOOST_REQUIRE(idx.Add(Entry("b", 2, 1)).ok());
  BOOST_REQUIRE(idx.Add(Entry("c", 3, 2)).ok());
  BOOST_REQUIRE(idx.Add(Entry("d", 4, 0)).ok());  // a second chain
  BOOST_REQUIRE(idx.Add(Entry("e", 5, 4)).ok());
  auto back = ZfsStreamIndex::Parse(idx.Serialize());
  BOOST_REQUIRE_MESSAGE(back.ok(), back.status());
  BOOST_TEST(back->Serialize() == idx.Serialize());
  BOOST_TEST(back->dataset() == "tank/home");
  auto chain = back->ChainTo(3);
  BOOST_REQUIRE(chain.ok());
  BOOST_REQUIRE(chain->size() == 3u);
  BOOST_TEST((*chain)[0].snapshot == "a");
  BOOST_TEST((*chain)[2].snapshot == "c");
  chain = back->ChainTo(5);
  BOOST_REQUIRE(chain.ok());
  BOOST_REQUIRE(chain->size() == 2u);
  BOOST_TEST((*chain)[0].snapshot == "d");
  BOOST_TEST(back->Newest()->snapshot == "e");
  BOOST_TEST(back->ChainTo(99).status().Is(Code::kNotFound));
}

BOOST_AUTO_TEST_CASE(add_refuses_duplicates_and_missing_parents) {
  ZfsStreamIndex idx;
  BOOST_REQUIRE(idx.Add(Entry("a", 1, 0)).ok());
  BOOST_TEST(!idx.Add(Entry("a2", 1, 0)).ok());
  BOOST_TEST(!idx.Add(Entry("x", 7, 6)).ok());
}

BOOST_AUTO_TEST_CASE(hostile_index_refused) {
  std::string good_full =
      "stream\t" + ZfsStreamFileName(1, 0) + "\ta\t1\t0\t10\t" + std::string(32, 'a') + "\t1\n";
  BOOST_REQUIRE(ZfsStreamIndex::Parse(Header() + good_full).ok());
  const std::vector<std::string> bad = {
      "",
      "skiff-zfs-index\n",
      "not-an-index 1\n",
      Header() + "stream\t../../etc/passwd\ta\t1\t0\t10\t" + std::string(32, 'a') + "\t1\n",
      Header() + "stream\t" + ZfsStreamFileName(2, 0) + "\ta\t1\t0\t10\t" + std::string(32, 'a') +
          "\t1\n",                       // file does not match guid
      Header() + good_full + good_full,  // duplicate guid
      Header() + "stream\t" + ZfsStreamFileName(2, 1) + "\tb\t2\t1\t10\t" + std::string(32, 'a') +
          "\t1\n" + good_full,  // parent after child
      Header() + "stream\t" + ZfsStreamFileName(1, 0) + "\ta b\t1\t0\t10\t" + std::string(32, 'a') +
          "\t1\n",  // bad snapshot name
      Header() + "stream\t" + ZfsStreamFileName(1, 0) + "\ta\t1\t0\t-10\t" + std::string(32, 'a') +
          "\t1\n",  // bad size
      Header() + "stream\t" + ZfsStreamFileName(1, 0) + "\ta\t1\t0\t10\tXYZ\t1\n",
      Header() + good_full.substr(0, good_full.size() - 3) + "\n",  // missing field
      Header() + "bogus\t1\n",
  };
  for (const auto& text : bad) {
    auto r = ZfsStreamIndex::Parse(text);
    BOOST_TEST(!r.ok(), "accepted: " << text);
  }
  auto v2 = ZfsStreamIndex::Parse("skiff-zfs-index 2\n");
  BOOST_TEST(v2.status().Is(Code::kUnsupported));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(zfs_plan)

const std::vector<ZfsSnapshot> kLocal = {{"s1", 11}, {"s2", 12}, {"s3", 13}, {"s4", 14}};

BOOST_AUTO_TEST_CASE(empty_destination_gets_newest_full) {
  auto p = PlanZfsSend(kLocal, {}, "tank/ds", "dest", false);
  BOOST_REQUIRE(p.ok());
  BOOST_TEST(p->new_chain);
  BOOST_REQUIRE(p->to_send.size() == 1u);
  BOOST_TEST(p->to_send[0].name == "s4");
}

BOOST_AUTO_TEST_CASE(incrementals_from_shared_guid_not_name) {
  // The destination's "s2" has s2's guid under another name: matched by guid.
  auto p = PlanZfsSend(kLocal, {{"s1", 11}, {"renamed", 12}}, "tank/ds", "dest", false);
  BOOST_REQUIRE(p.ok());
  BOOST_TEST(!p->new_chain);
  BOOST_REQUIRE(p->base.has_value());
  BOOST_TEST(p->base->guid == 12u);
  BOOST_REQUIRE(p->to_send.size() == 2u);
  BOOST_TEST(p->to_send[0].name == "s3");
  BOOST_TEST(p->to_send[1].name == "s4");
  // Same name, different guid: not shared.
  auto q = PlanZfsSend(kLocal, {{"s4", 99}}, "tank/ds", "dest", false);
  BOOST_TEST(!q.ok());
}

BOOST_AUTO_TEST_CASE(up_to_date_sends_nothing) {
  auto p = PlanZfsSend(kLocal, {{"s4", 14}}, "tank/ds", "dest", false);
  BOOST_REQUIRE(p.ok());
  BOOST_TEST(p->to_send.empty());
}

BOOST_AUTO_TEST_CASE(diverged_refused_with_explanation) {
  // The destination has s3' (guid 23) after s2: the source was rolled back to s2.
  auto p = PlanZfsSend(kLocal, {{"s1", 11}, {"s2", 12}, {"s3", 23}}, "tank/ds", "dest", false);
  BOOST_REQUIRE(!p.ok());
  const std::string& m = p.status().message();
  BOOST_TEST(m.find("diverged") != std::string::npos);
  BOOST_TEST(m.find("@s3 (guid 23)") != std::string::npos);
  BOOST_TEST(m.find("@s2") != std::string::npos);
  BOOST_TEST(m.find("--allow-full") != std::string::npos);
  // Nothing shared at all.
  auto q = PlanZfsSend(kLocal, {{"x", 1}}, "tank/ds", "dest", false);
  BOOST_REQUIRE(!q.ok());
  BOOST_TEST(q.status().message().find("different history") != std::string::npos);
  // --allow-full starts a new chain with the newest snapshot.
  auto r = PlanZfsSend(kLocal, {{"s1", 11}, {"s3", 23}}, "tank/ds", "dest", true);
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->new_chain);
  BOOST_TEST(r->to_send.at(0).name == "s4");
}

BOOST_AUTO_TEST_CASE(no_local_snapshots) {
  auto p = PlanZfsSend({}, {}, "tank/ds", "dest", false);
  BOOST_REQUIRE(!p.ok());
  BOOST_TEST(p.status().message().find("--snapshot") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(snapshot_names) {
  BOOST_TEST(ZfsSnapshotNameFor(0) == "skiff-19700101T000000Z");
  BOOST_TEST(IsValidZfsSnapshotName(ZfsSnapshotNameFor(1795308784)));
}

BOOST_AUTO_TEST_SUITE_END()
