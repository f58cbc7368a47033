// The server-side delta of skiff serve (protocol version 2, ops 40-42) through the real
// `skiff serve` program (SKIFF_BIN) over a pipe: signatures read or computed on the
// server, files rebuilt there from copies and literals with their hash checked and their
// signature stored, batched hard links, version negotiation, and the attacks an
// append-only, read-only or write-only key could try with the new requests, each refused
// with the published part of the repository unchanged.
#define BOOST_TEST_MODULE serve_build_test
#include "transport/serve_build.h"

#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "sync/confined_root.h"
#include "sync/content_hash.h"
#include "sync/serve_server.h"
#include "sync/signature.h"
#include "tests/support/serve_pipe.h"
#include "tests/support/serve_repo_fixture.h"
#include "tests/support/test_data.h"
#include "tests/support/tree_state.h"
#include "transport/process_channel.h"
#include "transport/serve_remote_fs.h"

namespace {

namespace fs = std::filesystem;
using namespace skiff;

using skiff::testing::RandomBytes;
using skiff::testing::ReadFile;
using skiff::testing::WriteFile;
// Every entry under `root` (not following symlinks): mode, mtime, size, content (not the
// link count: removing a scratch link to a published file lowers it legitimately).
std::map<std::string, std::string> TreeState(const fs::path& root) {
  return skiff::testing::TreeState(root, {.link_targets = false});
}

using Fixture = skiff::testing::ServeRepoFixture;

using skiff::testing::Attrs;

void Refused(const Status& st, const std::string& what) {
  BOOST_TEST(!st.ok(), what);
  BOOST_TEST_MESSAGE(what << ": " << st.ToString());
  BOOST_TEST((st.code() == Code::kPermission || st.code() == Code::kExists ||
              st.code() == Code::kInvalidArgument),
             what << ": " << st);
}

BOOST_FIXTURE_TEST_CASE(rebuilds_from_copies_and_literals_and_stores_the_signature, Fixture) {
  auto sv = Serve("--append-only");
  // The signature of a file without a stored one is computed on the server.
  auto enc = sv->BaseSignature(snap + "/big", "", 0);
  BOOST_REQUIRE_MESSAGE(enc.ok(), enc.status().ToString());
  auto sig = FileSignature::Decode(*enc);
  BOOST_REQUIRE(sig.ok());
  SignatureBuilder local(ChooseBlockSize(base.size()));
  local.Update(base);
  BOOST_TEST((*sig == local.Finish()));

  // New content: base with 5 bytes inserted at 100 KiB, rebuilt from two copies.
  std::string want = base.substr(0, 100 * 1024) + "HELLO" + base.substr(100 * 1024);
  BuildSpec spec;
  spec.base = snap + "/big";
  spec.tmp = ".skiff/tmp/f.1";
  spec.dst = "snapshots/.incomplete/big";
  spec.sig_block_size = ChooseBlockSize(want.size());
  spec.sig_tmp = ".skiff/tmp/sig.1";
  auto b = sv->BeginBuild(spec);
  BOOST_REQUIRE(b->Copy(0, 100 * 1024).ok());
  BOOST_REQUIRE(b->Literal("HELLO").ok());
  BOOST_REQUIRE(b->Copy(100 * 1024, base.size() - 100 * 1024).ok());
  const std::string hash = sync::ContentHash(want);
  const std::string sig_path = ".skiff/sigs/" + hash.substr(0, 2) + "/" + hash;
  auto stored = b->Commit(want.size(), hash, Attrs(0640, 1700000000), sig_path);
  BOOST_REQUIRE_MESSAGE(stored.ok(), stored.status().ToString());
  BOOST_TEST(*stored);
  BOOST_TEST(b->literal_bytes() == 5u);
  BOOST_TEST(ReadFile(repo / spec.dst) == want);
  struct stat st;
  BOOST_REQUIRE(stat((repo / spec.dst).c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 07777) == 0640u);
  BOOST_TEST(st.st_mtime == 1700000000);
  BOOST_TEST(!fs::exists(repo / spec.tmp));
  SignatureBuilder want_sig(ChooseBlockSize(want.size()));
  want_sig.Update(want);
  auto on_disk = FileSignature::Decode(ReadFile(repo / sig_path));
  BOOST_REQUIRE(on_disk.ok());
  BOOST_TEST((*on_disk == want_sig.Finish()));
  // The stored signature is what the next run gets (read, not computed).
  auto again = sv->BaseSignature(spec.dst, sig_path, 0);
  BOOST_REQUIRE(again.ok());
  BOOST_TEST(*again == ReadFile(repo / sig_path));

  // A hash that does not match what was built: kCorrupt, and nothing is kept.
  spec.tmp = ".skiff/tmp/f.2";
  spec.dst = "snapshots/.incomplete/big2";
  auto bad = sv->BeginBuild(spec);
  BOOST_REQUIRE(bad->Copy(0, base.size()).ok());
  auto r = bad->Commit(base.size(), sync::ContentHash("other"), Attrs(0644, 1), sig_path);
  BOOST_TEST(r.status().code() == Code::kCorrupt);
  BOOST_TEST(!fs::exists(repo / spec.dst));
  BOOST_TEST(!fs::exists(repo / spec.tmp));
  // A copy past the end of the base is refused, and the build dropped.
  spec.tmp = ".skiff/tmp/f.3";
  auto past = sv->BeginBuild(spec);
  BOOST_REQUIRE(past->Copy(base.size() - 10, 11).ok());
  BOOST_TEST(!past->Commit(11, sync::ContentHash("x"), Attrs(0644, 1), sig_path).ok());
  BOOST_TEST(!fs::exists(repo / spec.tmp));
  // A big literal-only file (several requests in flight), with a hole kept as a hole.
  std::string big = RandomBytes(3 << 20, 9) + std::string(1 << 20, '\0') + "end";
  spec.base.clear();
  spec.tmp = ".skiff/tmp/f.4";
  spec.dst = "snapshots/.incomplete/literal";
  spec.sig_block_size = 0;
  auto lit = sv->BeginBuild(spec);
  for (size_t off = 0; off < big.size(); off += 100000)
    BOOST_REQUIRE(lit->Literal(std::string_view(big).substr(off, 100000)).ok());
  auto lr = lit->Commit(big.size(), sync::ContentHash(big), Attrs(0600, 2), "");
  BOOST_REQUIRE_MESSAGE(lr.ok(), lr.status().ToString());
  BOOST_TEST(!*lr);
  BOOST_TEST(ReadFile(repo / spec.dst) == big);
  // Text: its literals travel compressed and arrive intact.
  std::string text;
  for (int i = 0; text.size() < 700 * 1024; ++i) text += "log line " + std::to_string(i) + "\n";
  spec.tmp = ".skiff/tmp/f.5";
  spec.dst = "snapshots/.incomplete/text";
  auto tb = sv->BeginBuild(spec);
  BOOST_REQUIRE(tb->Literal(text).ok());
  auto tr = tb->Commit(text.size(), sync::ContentHash(text), Attrs(0600, 2), "");
  BOOST_REQUIRE_MESSAGE(tr.ok(), tr.status().ToString());
  BOOST_TEST(ReadFile(repo / spec.dst) == text);
}

BOOST_FIXTURE_TEST_CASE(a_stored_base_signature_gives_the_unmoved_blocks_their_entries, Fixture) {
  auto sv = Serve("--append-only");
  BOOST_REQUIRE(sv->protocol_version() >= 3);
  const uint32_t bs = ChooseBlockSize(base.size());
  SignatureBuilder base_sb(bs);
  base_sb.Update(base);
  FileSignature base_sig = base_sb.Finish();
  BOOST_REQUIRE(base_sig.blocks.size() > 300);
  // A stored signature whose entry for block 5 is wrong: a build that reuses the stored
  // entries carries that entry over, one that hashes the block does not.
  FileSignature lying = base_sig;
  lying.blocks[5].strong ^= 1;
  WriteFile(repo / ".skiff/sigs/ab/base", lying.Encode());
  // Block 100 rewritten in place, then 5 bytes inserted at block 200: the blocks before
  // the insertion are unmoved, those after it are not (they are hashed).
  const std::string x(bs, 'x');
  std::string want = base.substr(0, 100 * bs) + x + base.substr(101 * bs, 99 * bs) + "HELLO" +
                     base.substr(200 * bs);
  BuildSpec spec;
  spec.base = snap + "/big";
  spec.base_sig = ".skiff/sigs/ab/base";
  spec.tmp = ".skiff/tmp/f.1";
  spec.dst = "snapshots/.incomplete/big";
  spec.sig_block_size = bs;
  spec.sig_tmp = ".skiff/tmp/sig.1";
  auto b = sv->BeginBuild(spec);
  BOOST_REQUIRE(b->Copy(0, 100 * bs).ok());
  BOOST_REQUIRE(b->Literal(x).ok());
  BOOST_REQUIRE(b->Copy(101 * bs, 99 * bs).ok());
  BOOST_REQUIRE(b->Literal("HELLO").ok());
  BOOST_REQUIRE(b->Copy(200 * bs, base.size() - 200 * bs).ok());
  const std::string hash = sync::ContentHash(want);
  const std::string sig_path = ".skiff/sigs/" + hash.substr(0, 2) + "/" + hash;
  auto stored = b->Commit(want.size(), hash, Attrs(0640, 1700000000), sig_path);
  BOOST_REQUIRE_MESSAGE(stored.ok(), stored.status().ToString());
  BOOST_TEST(*stored);
  BOOST_TEST(ReadFile(repo / spec.dst) == want);  // the content is always what was built
  SignatureBuilder want_sb(bs);
  want_sb.Update(want);
  FileSignature expect = want_sb.Finish();
  auto on_disk = FileSignature::Decode(ReadFile(repo / sig_path));
  BOOST_REQUIRE(on_disk.ok());
  BOOST_TEST(on_disk->file_size == want.size());
  BOOST_REQUIRE(on_disk->blocks.size() == expect.blocks.size());
  BOOST_TEST((on_disk->blocks[5] == lying.blocks[5]));  // reused, not hashed
  expect.blocks[5] = lying.blocks[5];
  BOOST_TEST((*on_disk == expect));  // every other entry is the content's

  // With a stored signature of another block size, or none, every block is hashed.
  WriteFile(repo / ".skiff/sigs/ab/other", lying.Encode());
  spec.dst = "snapshots/.incomplete/big2";
  spec.tmp = ".skiff/tmp/f.2";
  spec.sig_tmp = ".skiff/tmp/sig.2";
  spec.sig_block_size = bs + 8;
  spec.base_sig = ".skiff/sigs/ab/other";
  auto b2 = sv->BeginBuild(spec);
  BOOST_REQUIRE(b2->Copy(0, base.size()).ok());
  const std::string hash2 = sync::ContentHash(base);
  const std::string sig_path2 = ".skiff/sigs/" + hash2.substr(0, 2) + "/" + hash2;
  auto stored2 = b2->Commit(base.size(), hash2, Attrs(0640, 1700000000), sig_path2);
  BOOST_REQUIRE_MESSAGE(stored2.ok(), stored2.status().ToString());
  SignatureBuilder other_sb(bs + 8);
  other_sb.Update(base);
  auto on_disk2 = FileSignature::Decode(ReadFile(repo / sig_path2));
  BOOST_REQUIRE(on_disk2.ok());
  BOOST_TEST((*on_disk2 == other_sb.Finish()));
}

BOOST_FIXTURE_TEST_CASE(a_long_copy_is_rebuilt_before_the_stream_ends, Fixture) {
  // A big, mostly unchanged file is a few long copy ranges. They leave in requests of at
  // most ServeBuild::kDescribedBytes of the file each, so the server rebuilds the first
  // part while the client is still matching the rest (before, everything waited for
  // Commit). The build is not committed until the server's scratch file has grown.
  const size_t kSize = 3 * ServeBuild::kDescribedBytes;
  const std::string big = RandomBytes(kSize, 11);
  WriteFile(repo / snap / "huge", big);
  auto sv = Serve("--append-only");
  BuildSpec spec;
  spec.base = snap + "/huge";
  spec.tmp = ".skiff/tmp/f.huge";
  spec.dst = "snapshots/.incomplete/huge";
  auto b = sv->BeginBuild(spec);
  // As the matcher sends them: one block at a time, adjacent, 2 MiB short of the end.
  const size_t kBlock = 64 * 1024;
  size_t off = 0;
  for (; off + (2 << 20) < kSize; off += kBlock) BOOST_REQUIRE(b->Copy(off, kBlock).ok());
  // Waits (bounded) for the server to have written what the sent requests describe.
  struct stat st {};
  for (int i = 0; i < 3000; ++i) {
    if (stat((repo / spec.tmp).c_str(), &st) == 0 &&
        static_cast<uint64_t>(st.st_size) >= 2 * ServeBuild::kDescribedBytes)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  BOOST_TEST(static_cast<uint64_t>(st.st_size) >= 2 * ServeBuild::kDescribedBytes);
  BOOST_TEST(!fs::exists(repo / spec.dst));
  BOOST_REQUIRE(b->Copy(off, kSize - off).ok());
  auto r = b->Commit(kSize, sync::ContentHash(big), Attrs(0644, 1), "");
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  BOOST_TEST((ReadFile(repo / spec.dst) == big));
}

BOOST_FIXTURE_TEST_CASE(link_batches_from_many_threads, Fixture) {
  for (int i = 0; i < 300; ++i) WriteFile(repo / snap / "d" / ("f" + std::to_string(i)), "x");
  fs::create_directories(repo / "snapshots/.incomplete/d");
  auto sv = Serve("--append-only");
  std::vector<Status> results(300);
  std::vector<std::thread> threads;
  for (int t = 0; t < 30; ++t)
    threads.emplace_back([&, t] {
      for (int i = t; i < 300; i += 30) {
        std::string n = "/d/f" + std::to_string(i);
        // Every 50th link asks for something the key may not do: into a published snapshot.
        std::string to =
            i % 50 == 7 ? snap + "/d/g" + std::to_string(i) : "snapshots/.incomplete" + n;
        results[i] = sv->Hardlink(snap + n, to);
      }
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 300; ++i) {
    std::string n = "d/f" + std::to_string(i);
    if (i % 50 == 7) {
      BOOST_TEST(results[i].code() == Code::kPermission, i << ": " << results[i]);
      BOOST_TEST(!fs::exists(repo / snap / ("d/g" + std::to_string(i))));
    } else {
      BOOST_TEST(results[i].ok(), i << ": " << results[i]);
      struct stat a, b;
      stat((repo / snap / n).c_str(), &a);
      stat((repo / "snapshots/.incomplete" / n).c_str(), &b);
      BOOST_TEST(a.st_ino == b.st_ino);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(append_only_refuses_every_attack_through_the_new_requests, Fixture) {
  fs::create_symlink(dir / "outside", repo / "snapshots/.incomplete/out");
  fs::create_hard_link(repo / snap / "small", repo / "snapshots/.incomplete/linked");
  auto before = Published();
  auto sv = Serve("--append-only");
  auto build = [&](BuildSpec spec, const std::string& content) -> Status {
    auto b = sv->BeginBuild(spec);
    SKIFF_RETURN_IF_ERROR(b->Literal(content));
    return b->Commit(content.size(), sync::ContentHash(content), Attrs(0644, 1), "").status();
  };
  BuildSpec s;
  s.tmp = ".skiff/tmp/a";
  s.dst = snap + "/small";
  Refused(build(s, "evil"), "build over a published file");
  s.replace = true;
  Refused(build(s, "evil"), "build replacing a published file");
  s.dst = snap + "/new";
  Refused(build(s, "evil"), "build into a published snapshot");
  s.dst = ".skiff/manifests/2026-01-01T000000Z";
  Refused(build(s, "evil"), "build over a manifest");
  s.dst = ".skiff/manifests/fake";
  Refused(build(s, "evil"), "publish a manifest by a build");
  s.replace = false;
  s.tmp = snap + "/tmpfile";
  s.dst = "snapshots/.incomplete/x";
  Refused(build(s, "evil"), "build with its scratch file in a published snapshot");
  s.tmp = "../outside/x";
  Refused(build(s, "evil"), "build with .. in tmp");
  s.tmp = (dir / "outside/x").string();
  Refused(build(s, "evil"), "build with an absolute tmp");
  s.tmp = ".skiff/tmp/a";
  s.dst = "snapshots/.incomplete/out/evil";
  Refused(build(s, "evil"), "build through a symlink out of the root");
  s.dst = "snapshots/.incomplete/x";
  s.base = "snapshots/.incomplete/out/secret";
  Refused(build(s, "evil"), "build from a base through a symlink");
  s.base = "../outside/secret";
  Refused(build(s, "evil"), "build from a base outside");
  s.base.clear();
  // Replacing a link to a published file in the scratch area removes the link only.
  s.dst = "snapshots/.incomplete/linked";
  s.replace = true;
  BOOST_TEST(build(s, "fine").ok());
  BOOST_TEST(ReadFile(repo / snap / "small") == "small file\n");
  // A signature path outside the signature store is not written.
  {
    BuildSpec g;
    g.tmp = ".skiff/tmp/b";
    g.dst = "snapshots/.incomplete/y";
    g.sig_block_size = 700;
    g.sig_tmp = ".skiff/tmp/sig.b";
    auto b = sv->BeginBuild(g);
    BOOST_REQUIRE(b->Literal("content").ok());
    auto r = b->Commit(7, sync::ContentHash("content"), Attrs(0644, 1), snap + "/evil-sig");
    BOOST_REQUIRE(r.ok());
    BOOST_TEST(!*r);
  }
  Refused(sv->BaseSignature("../outside/secret", "", 0).status(), "signature of a file outside");
  Refused(sv->BaseSignature("snapshots/.incomplete/out/secret", "", 0).status(),
          "signature through a symlink");
  Refused(sv->BaseSignature(snap + "/small", "../outside/secret", 0).status(),
          "stored signature outside");
  Refused(sv->Hardlink(snap + "/small", snap + "/again"), "link into a published snapshot");
  Refused(sv->Hardlink("../outside/secret", "snapshots/.incomplete/s"), "link from outside");
  Refused(sv->Hardlink(snap + "/small", ".skiff/manifests/x"), "link a manifest into place");
  sv.reset();
  BOOST_TEST((Published() == before));
  BOOST_TEST(ReadFile(dir / "outside/secret") == std::string(5000, 's'));
}

BOOST_FIXTURE_TEST_CASE(read_only_and_write_only_keys, Fixture) {
  auto before = TreeState(repo);
  {
    auto ro = Serve("--read-only");
    BOOST_TEST(ro->BaseSignature(snap + "/big", "", 0).ok());
    BuildSpec s;
    s.tmp = ".skiff/tmp/a";
    s.dst = "snapshots/.incomplete/a";
    auto b = ro->BeginBuild(s);
    BOOST_REQUIRE(b->Literal("x").ok());
    BOOST_TEST(b->Commit(1, sync::ContentHash("x"), Attrs(0644, 1), "").status().code() ==
               Code::kPermission);
    BOOST_TEST(ro->Hardlink(snap + "/small", "snapshots/.incomplete/s").code() ==
               Code::kPermission);
  }
  BOOST_TEST((TreeState(repo) == before));
  // Write-only: no signature computed from contents it may not read; stored ones are fine.
  auto wo = Serve("--write-only");
  BOOST_TEST(wo->BaseSignature(snap + "/big", "", 0).status().code() == Code::kPermission);
  SignatureBuilder sb(ChooseBlockSize(base.size()));
  sb.Update(base);
  std::string enc = sb.Finish().Encode();
  WriteFile(repo / ".skiff/sigs/ab/stored", enc);
  auto got = wo->BaseSignature(snap + "/big", ".skiff/sigs/ab/stored", 0);
  BOOST_REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  BOOST_TEST(*got == enc);
}

BOOST_AUTO_TEST_CASE(protocol_versions_are_negotiated) {
  char tmpl[] = "/tmp/skiff-serve-build-test-XXXXXX";
  fs::path dir = mkdtemp(tmpl);
  auto root = sync::ConfinedRoot::Open(dir.string());
  BOOST_REQUIRE(root.ok());
  auto hello = [](sync::ServeServer& s, uint32_t v) -> uint32_t {
    serve::Frame f{static_cast<uint8_t>(serve::Op::kHello), 0,
                   serve::PayloadWriter().Str(serve::kMagic).U32(v).Take()};
    bool fatal = false;
    std::string reply = s.Handle(f, &fatal);
    auto body = serve::DecodeReply(reply);
    if (!body.ok()) return 0;
    return serve::PayloadReader(*body).U32();
  };
  {
    // An old (version 1) client gets version 1, and no version-2 requests.
    sync::ServeServer s(std::move(root).value(), serve::Mode::kFull);
    BOOST_TEST(hello(s, 1) == 1u);
    serve::Frame f{static_cast<uint8_t>(serve::Op::kLinkBatch), 1,
                   serve::PayloadWriter().U32(0).Take()};
    bool fatal = false;
    auto r = serve::DecodeReply(s.Handle(f, &fatal));
    BOOST_TEST(r.status().code() == Code::kUnsupported);
    BOOST_TEST(!fatal);
  }
  {
    auto root2 = sync::ConfinedRoot::Open(dir.string());
    sync::ServeServer s(std::move(root2).value(), serve::Mode::kFull);
    BOOST_TEST(hello(s, 7) == serve::kProtocolVersion);  // a newer client: ours
    BOOST_TEST(hello(s, 0) == 0u);                       // below the minimum: refused
  }
  // The request set: the plain requests, ours (40-42, 43-49 free), never kReply.
  for (int t = 0; t < 50; ++t)
    BOOST_TEST(serve::IsRequestOp(static_cast<uint8_t>(t)) ==
                   ((t >= 1 && t <= 23) || (t >= 40 && t <= 42)),
               t);
  BOOST_TEST(!serve::IsRequestOp(static_cast<uint8_t>(serve::Op::kReply)));
  BOOST_TEST(!serve::IsRequestOp(255));
  {
    // The largest batch, every link refused with a long message: the reply still fits
    // a frame. One more item is refused as a whole.
    auto root3 = sync::ConfinedRoot::Open(dir.string());
    sync::ServeServer s(std::move(root3).value(), serve::Mode::kReadOnly);
    BOOST_TEST(hello(s, 2) == 2u);
    for (uint32_t n :
         {sync::ServeBuildHandlers::kMaxLinks, sync::ServeBuildHandlers::kMaxLinks + 1}) {
      serve::PayloadWriter w;
      w.U32(n);
      for (uint32_t i = 0; i < n; ++i)
        w.U8(0).U8(0).Str(std::string(900, 'a')).U8(0).U8(0).Str(std::string(900, 'b'));
      serve::Frame f{static_cast<uint8_t>(serve::Op::kLinkBatch), 2, w.Take()};
      if (f.payload.size() > serve::kMaxFrameSize) break;  // could not even be sent
      bool fatal = false;
      std::string reply = s.Handle(f, &fatal);
      BOOST_TEST(reply.size() + serve::kFrameHeader <= serve::kMaxData);
      BOOST_TEST(serve::DecodeReply(reply).ok() == (n == sync::ServeBuildHandlers::kMaxLinks));
    }
  }
  fs::remove_all(dir);
}

}  // namespace
