#define BOOST_TEST_MODULE sync_backup_test
#include "sync/manifest.h"

#include <boost/test/unit_test.hpp>

#include "sync/rel_path.h"

using namespace skiff;
using namespace skiff::sync;

namespace {

std::string Encode(const std::vector<ManifestEntry>& entries) {
  std::string out;
  ManifestWriter w("2026-11-22T031500Z", [&](std::string_view b) {
    out.append(b);
    return Status::Ok();
  });
  for (const auto& e : entries) BOOST_REQUIRE(w.Add(e).ok());
  BOOST_REQUIRE(w.Finish().ok());
  return out;
}

Result<std::vector<ManifestEntry>> Decode(const std::string& bytes) {
  bool given = false;
  ManifestReader r([&]() -> Result<std::string> {
    if (given) return std::string();
    given = true;
    return bytes;
  });
  SKIFF_RETURN_IF_ERROR(r.Open());
  std::vector<ManifestEntry> out;
  while (true) {
    SKIFF_ASSIGN_OR_RETURN(auto e, r.Next());
    if (!e) return out;
    out.push_back(*e);
  }
}

ManifestEntry File(std::string path) {
  ManifestEntry e;
  e.path = std::move(path);
  e.mode = 0644;
  e.size = 3;
  e.hash = ContentHash("abc");
  e.mtime = 1700000000;
  return e;
}

}  // namespace

BOOST_AUTO_TEST_CASE(rel_path_order_is_depth_first) {
  BOOST_TEST(RelPathLess("a", "a/b"));
  BOOST_TEST(RelPathLess("a/z", "a.b"));  // children of "a" before its sibling "a.b"
  BOOST_TEST(!RelPathLess("a", "a"));
  BOOST_TEST(RelPathLess("a/b", "a/c"));
  BOOST_TEST(!RelPathLess("b", "a/c"));
  BOOST_TEST(ValidateRelPath("a/b").ok());
  for (const std::string& bad :
       std::vector<std::string>{"", "/etc", "a//b", "a/../b", "..", "a/.", std::string("a\0b", 3)})
    BOOST_TEST(!ValidateRelPath(bad).ok(), bad);
}

BOOST_AUTO_TEST_CASE(manifest_round_trips_odd_names) {
  ManifestEntry d;
  d.type = EntryType::kDir;
  d.path = "top";
  d.mode = 0755;
  ManifestEntry f = File("top/we\tird\nname%20");
  f.has_signature = true;
  f.link_group = 7;
  ManifestEntry l;
  l.type = EntryType::kSymlink;
  l.path = "top/zlink";
  l.mode = 0777;
  l.link_target = "../../outside dir";
  auto back = Decode(Encode({d, f, l}));
  BOOST_REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  BOOST_REQUIRE_EQUAL(back->size(), 3u);
  BOOST_TEST((*back)[1].path == f.path);
  BOOST_TEST((*back)[1].hash == f.hash);
  BOOST_TEST((*back)[1].has_signature);
  BOOST_TEST((*back)[1].link_group == 7u);
  BOOST_TEST((*back)[2].link_target == l.link_target);
  BOOST_TEST(static_cast<char>((*back)[0].type) == 'd');
}

BOOST_AUTO_TEST_CASE(manifest_refuses_hostile_and_damaged_input) {
  std::string good = Encode({File("a"), File("b")});
  // Truncation (trailer missing) and a flipped byte are both detected.
  BOOST_TEST(Decode(good.substr(0, good.size() - 10)).status().Is(Code::kCorrupt));
  std::string flipped = good;
  flipped[good.find("\ta\t") + 1] = 'c';  // still valid shape, but the hash no longer matches
  BOOST_TEST(Decode(flipped).status().Is(Code::kCorrupt));
  // Hand-made lines with a hostile path: re-hash so that only the path check can refuse.
  for (std::string path : {"../etc/passwd", "/etc/passwd", "a/../../x", "a%00b", "a//b"}) {
    std::string body = "skiff-manifest\t1\tx\nf\t" + path + "\t644\t0\t0\t0\t3\t" +
                       ContentHash("abc") + "\t\t0\t0\t0\t\n";
    std::string bytes = body + "end\t1\t" + ContentHash(body) + "\n";
    auto r = Decode(bytes);
    BOOST_TEST(r.status().Is(Code::kCorrupt), path);
  }
  // Out of order / duplicate entries.
  {
    std::string body = "skiff-manifest\t1\tx\n";
    for (int i = 0; i < 2; ++i)
      body += "f\tsame\t644\t0\t0\t0\t3\t" + ContentHash("abc") + "\t\t0\t0\t0\t\n";
    BOOST_TEST(Decode(body + "end\t2\t" + ContentHash(body) + "\n").status().Is(Code::kCorrupt));
  }
  // Writer refuses out-of-order adds.
  ManifestWriter w("x", [](std::string_view) { return Status::Ok(); });
  BOOST_TEST(w.Add(File("b")).ok());
  BOOST_TEST(!w.Add(File("a")).ok());
}
