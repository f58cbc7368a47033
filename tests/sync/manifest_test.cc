#define BOOST_TEST_MODULE sync_backup_test
#include "sync/manifest.h"

#include <zlib.h>

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

// Decodes with the source handing out `piece` bytes per call (streaming across pieces).
Result<std::vector<ManifestEntry>> DecodeInPieces(const std::string& bytes, size_t piece) {
  size_t at = 0;
  ManifestReader r([&]() -> Result<std::string> {
    std::string p = bytes.substr(at, piece);
    at += p.size();
    return p;
  });
  SKIFF_RETURN_IF_ERROR(r.Open());
  std::vector<ManifestEntry> out;
  while (true) {
    SKIFF_ASSIGN_OR_RETURN(auto e, r.Next());
    if (!e) return out;
    out.push_back(*e);
  }
}

std::string Zlib(const std::string& text) {
  uLongf n = compressBound(text.size());
  std::string out(n, '\0');
  BOOST_REQUIRE(compress(reinterpret_cast<Bytef*>(out.data()), &n,
                         reinterpret_cast<const Bytef*>(text.data()), text.size()) == Z_OK);
  out.resize(n);
  return out;
}

// A version 1 (plain) manifest of one entry line, with a correct trailer.
std::string PlainV1(const std::string& line) {
  std::string body = "skiff-manifest\t1\tx\n" + line;
  return body + "end\t1\t" + ContentHash(body) + "\n";
}

// A version 2 manifest by hand: plain header, the lines and trailer compressed.
std::string HandV2(const std::string& lines, uint64_t n) {
  std::string header = "skiff-manifest\t2\tx\n";
  std::string rest =
      lines + "end\t" + std::to_string(n) + "\t" + ContentHash(header + lines) + "\n";
  return header + Zlib(rest);
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
  const std::string line_a = "f\ta\t644\t0\t0\t0\t3\t" + ContentHash("abc") + "\t\t0\t0\t0\t\n";
  std::string plain = PlainV1(line_a);
  BOOST_REQUIRE(Decode(plain).ok());
  std::string flipped = plain;
  flipped[plain.find("\ta\t") + 1] = 'c';  // still valid shape, but the hash no longer matches
  BOOST_TEST(Decode(flipped).status().Is(Code::kCorrupt));
  std::string line_c = line_a;
  line_c[2] = 'c';
  std::string v2 = HandV2(line_a, 1);
  BOOST_REQUIRE(Decode(v2).ok());
  // The same in a compressed body: the zlib stream is valid, the trailer's hash is not.
  std::string v2_bad =
      "skiff-manifest\t2\tx\n" +
      Zlib(line_c + "end\t1\t" + ContentHash("skiff-manifest\t2\tx\n" + line_a) + "\n");
  BOOST_TEST(Decode(v2_bad).status().Is(Code::kCorrupt));
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

BOOST_AUTO_TEST_CASE(manifest_v2_is_compressed_and_streams) {
  std::vector<ManifestEntry> many;
  for (int i = 0; i < 2000; ++i) {
    char name[32];
    snprintf(name, sizeof name, "dir/f%05d.txt", i);
    many.push_back(File(name));
  }
  ManifestEntry d;
  d.type = EntryType::kDir;
  d.path = "dir";
  d.mode = 0755;
  many.insert(many.begin(), d);
  std::string bytes = Encode(many);
  // The header line is plain and names version 2; the rest is compressed well below the
  // ~100 bytes per entry of the text.
  BOOST_TEST(bytes.rfind("skiff-manifest\t2\t2026-11-22T031500Z\n", 0) == 0u);
  BOOST_TEST(bytes.size() < many.size() * 40, bytes.size());
  for (size_t piece : {size_t{1}, size_t{7}, size_t{4096}, bytes.size()}) {
    auto back = DecodeInPieces(bytes, piece);
    BOOST_REQUIRE_MESSAGE(back.ok(), back.status().ToString());
    BOOST_REQUIRE_EQUAL(back->size(), many.size());
    BOOST_TEST((*back)[1234].path == many[1234].path);
    BOOST_TEST((*back)[1234].hash == many[1234].hash);
  }
}

BOOST_AUTO_TEST_CASE(manifest_v1_still_read) {
  // A manifest written by skiff before version 2 (plain text throughout).
  const std::string line =
      "f\told\t600\t0\t0\t1700000000\t3\t" + ContentHash("abc") + "\tS\t0\t5\t6\t\n";
  auto back = DecodeInPieces(PlainV1(line), 5);
  BOOST_REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  BOOST_REQUIRE_EQUAL(back->size(), 1u);
  BOOST_TEST((*back)[0].path == "old");
  BOOST_TEST((*back)[0].has_signature);
  BOOST_TEST((*back)[0].mode == 0600u);
}

BOOST_AUTO_TEST_CASE(manifest_v2_refuses_damaged_compression) {
  std::string good = Encode({File("a"), File("b")});
  BOOST_REQUIRE(Decode(good).ok());
  const size_t header = good.find('\n') + 1;
  // Truncated inside the compressed stream.
  for (size_t cut : {header, header + 3, good.size() - 1})
    BOOST_TEST(Decode(good.substr(0, cut)).status().Is(Code::kCorrupt), cut);
  // A flipped byte in the compressed body.
  for (size_t at = header; at < good.size(); at += 3) {
    std::string bad = good;
    bad[at] ^= 0x40;
    BOOST_TEST(Decode(bad).status().Is(Code::kCorrupt), at);
  }
  // Bytes after the end of the stream.
  auto trailing = Decode(good + "x");
  BOOST_TEST(trailing.status().Is(Code::kCorrupt));
  BOOST_TEST(trailing.status().message().find("after the end") != std::string::npos,
             trailing.status().ToString());
  // A version 2 header over a plain body.
  const std::string line = "f\ta\t644\t0\t0\t0\t3\t" + ContentHash("abc") + "\t\t0\t0\t0\t\n";
  std::string body = "skiff-manifest\t2\tx\n" + line;
  BOOST_TEST(Decode(body + "end\t1\t" + ContentHash(body) + "\n").status().Is(Code::kCorrupt));
  // A version from the future is refused naming the versions this skiff reads.
  auto future = Decode("skiff-manifest\t3\tx\n");
  BOOST_TEST(future.status().Is(Code::kCorrupt));
  BOOST_TEST(future.status().message().find("versions 1 to 2") != std::string::npos,
             future.status().ToString());
  // A stream that inflates to 64 MiB without a newline is refused as an overlong line,
  // read piece by piece (bounded memory), not inflated whole.
  auto bomb = Decode("skiff-manifest\t2\tx\n" + Zlib(std::string(64 << 20, 'a')));
  BOOST_TEST(bomb.status().Is(Code::kCorrupt));
  BOOST_TEST(bomb.status().message().find("too long") != std::string::npos,
             bomb.status().ToString());
}
