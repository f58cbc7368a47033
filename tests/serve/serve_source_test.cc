// Pull backups at the filesystem level: ServeSourceFs (sync/serve_source_fs.h) against
// the real `skiff serve --read-only` program (SKIFF_BIN) over a pipe. The scan's
// lstat/list/readlink, pipelined reads, the delta run on the server (checked against a
// reference reconstruction, the content hash and the signature built locally), what
// the read-only key refuses, and the backup engine pulling into a repository.
#define BOOST_TEST_MODULE serve_source_test
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "sync/backup_engine.h"
#include "sync/content_hash.h"
#include "sync/delta_matcher.h"
#include "sync/remote_stream.h"
#include "sync/repository.h"
#include "sync/serve_source_fs.h"
#include "sync/serve_source_protocol.h"
#include "sync/signature.h"
#include "tests/support/serve_pipe.h"
#include "tests/support/test_data.h"
#include "transport/mem_remote_fs.h"
#include "transport/process_channel.h"
#include "transport/serve_remote_fs.h"

namespace {

namespace fs = std::filesystem;
using namespace skiff;
using namespace skiff::sync;

using skiff::testing::RandomBytes;
using skiff::testing::ReadFile;
using skiff::testing::WriteFile;

struct TempDir : skiff::testing::TempDir {
  TempDir() : skiff::testing::TempDir("skiff-pull-test") {}
};

std::unique_ptr<ServeSourceFs> StartSource(const fs::path& root,
                                           const std::string& mode = "--read-only") {
  auto src = ServeSourceFs::Create(skiff::testing::SpawnServe(root, mode));
  BOOST_REQUIRE_MESSAGE(src.ok(), src.status().ToString());
  return std::move(src).value();
}

// Rebuilds a file from a base and instructions, like the repository does.
class ReferenceSink : public DeltaSink {
 public:
  explicit ReferenceSink(std::string base) : base_(std::move(base)) {}
  Status Copy(uint64_t off, uint64_t len) override {
    if (off + len > base_.size()) return Status::Invalid("copy past the base");
    out += base_.substr(off, len);
    copied += len;
    return Status::Ok();
  }
  Status Literal(std::string_view b) override {
    out += b;
    literal += b.size();
    return Status::Ok();
  }
  std::string out;
  uint64_t copied = 0, literal = 0;

 private:
  std::string base_;
};

FileSignature SignatureOf(std::string_view data, uint32_t block) {
  SignatureBuilder b(block);
  b.Update(data);
  return b.Finish();
}

BOOST_AUTO_TEST_CASE(scan_lists_with_full_stat_and_link_targets) {
  TempDir t;
  const fs::path root = t.path / "www";
  WriteFile(root / "a.txt", "alpha");
  WriteFile(root / "sub/deep/b.bin", RandomBytes(5000, 1));
  fs::create_symlink("sub/deep/b.bin", root / "link");
  fs::create_directories(root / "empty");
  auto src = StartSource(root);
  BOOST_TEST(src->root() == fs::canonical(root).string());
  const std::string r = src->root();

  auto top = src->Lstat(r);
  BOOST_REQUIRE_MESSAGE(top.ok(), top.status().ToString());
  BOOST_TEST(S_ISDIR(top->mode));
  auto names = src->ListDir(r);
  BOOST_REQUIRE_MESSAGE(names.ok(), names.status().ToString());
  std::sort(names->begin(), names->end());
  BOOST_TEST((*names == std::vector<std::string>{"a.txt", "empty", "link", "sub"}));

  struct stat want;
  BOOST_REQUIRE(lstat((root / "a.txt").c_str(), &want) == 0);
  auto a = src->Lstat(r + "/a.txt");  // from the listing
  BOOST_REQUIRE(a.ok());
  BOOST_TEST(a->size == 5u);
  BOOST_TEST(a->ino == static_cast<uint64_t>(want.st_ino));
  BOOST_TEST(a->dev == static_cast<uint64_t>(want.st_dev));
  BOOST_TEST(a->ctime == want.st_ctim.tv_sec);
  BOOST_TEST(a->mtime == want.st_mtim.tv_sec);
  BOOST_TEST(a->mode == want.st_mode);
  auto again = src->Lstat(r + "/a.txt");  // asked again: a request this time, same answer
  BOOST_REQUIRE(again.ok());
  BOOST_TEST(again->ino == a->ino);

  auto link = src->Lstat(r + "/link");
  BOOST_REQUIRE(link.ok());
  BOOST_TEST(S_ISLNK(link->mode));
  auto target = src->Readlink(r + "/link");
  BOOST_REQUIRE(target.ok());
  BOOST_TEST(*target == "sub/deep/b.bin");
  auto target2 = src->Readlink(r + "/link");  // not cached any more: a readlink request
  BOOST_REQUIRE(target2.ok());
  BOOST_TEST(*target2 == "sub/deep/b.bin");

  auto deep = src->ListDir(r + "/sub/deep");
  BOOST_REQUIRE(deep.ok());
  BOOST_TEST((*deep == std::vector<std::string>{"b.bin"}));
  auto b = src->Lstat(r + "/sub/deep/b.bin");
  BOOST_REQUIRE(b.ok());
  BOOST_TEST(b->size == 5000u);
  auto empty = src->ListDir(r + "/empty");
  BOOST_REQUIRE(empty.ok());
  BOOST_TEST(empty->empty());
  auto gone = src->Lstat(r + "/missing");
  BOOST_TEST(gone.status().code() == Code::kNotFound);
}

BOOST_AUTO_TEST_CASE(large_directory_is_listed_in_batches) {
  TempDir t;
  const fs::path root = t.path / "many";
  fs::create_directories(root);
  const int kFiles = 5000;  // more than kMaxDirBatch (2048): three batches
  for (int i = 0; i < kFiles; ++i) WriteFile(root / ("f" + std::to_string(i)), std::to_string(i));
  auto src = StartSource(root);
  auto names = src->ListDir(src->root());
  BOOST_REQUIRE(names.ok());
  BOOST_TEST(names->size() == static_cast<size_t>(kFiles));
  std::set<std::string> uniq(names->begin(), names->end());
  BOOST_TEST(uniq.size() == static_cast<size_t>(kFiles));
  auto st = src->Lstat(src->root() + "/f4321");
  BOOST_REQUIRE(st.ok());
  BOOST_TEST(st->size == 4u);
}

BOOST_AUTO_TEST_CASE(reads_small_and_large_files) {
  TempDir t;
  const fs::path root = t.path / "r";
  const std::string small = "tiny file\n";
  const std::string large = RandomBytes((5 << 20) + 123, 7);  // > kReadAhead chunks
  const std::string exact = RandomBytes(2 << 20, 8);          // a multiple of the chunk
  WriteFile(root / "small", small);
  WriteFile(root / "large", large);
  WriteFile(root / "exact", exact);
  WriteFile(root / "zero", "");
  auto src = StartSource(root);
  for (auto& [name, want] : std::vector<std::pair<std::string, std::string>>{
           {"small", small}, {"large", large}, {"exact", exact}, {"zero", ""}}) {
    auto rd = src->OpenRead(src->root() + "/" + name);
    BOOST_REQUIRE_MESSAGE(rd.ok(), rd.status().ToString());
    std::string got;
    for (;;) {
      auto c = (*rd)->Read(1 << 20);
      BOOST_REQUIRE_MESSAGE(c.ok(), c.status().ToString());
      if (c->empty()) break;
      got += *c;
    }
    BOOST_TEST(got == want, name);
    auto st = (*rd)->Stat();
    BOOST_REQUIRE(st.ok());
    BOOST_TEST(st->size == want.size());
  }
  // A reader dropped in the middle (reads in flight) is fine.
  {
    auto rd = src->OpenRead(src->root() + "/large");
    BOOST_REQUIRE(rd.ok());
    BOOST_REQUIRE((*rd)->Read(1 << 20).ok());
    BOOST_REQUIRE((*rd)->Read(1 << 20).ok());
  }
  auto missing = src->OpenRead(src->root() + "/missing");
  BOOST_TEST(missing.status().code() == Code::kNotFound);
}

// The delta on the server: instructions rebuild the new file from the base, and the
// hash and signature are those of the new content.
void CheckDelta(ServeSourceFs& src, const fs::path& file, const std::string& base,
                const std::string& now, uint64_t max_literal) {
  WriteFile(file, now);
  const FileSignature base_sig = SignatureOf(base, ChooseBlockSize(base.size()));
  const uint32_t new_block = ChooseBlockSize(now.size());
  auto rd = src.OpenRead(file.string());
  BOOST_REQUIRE_MESSAGE(rd.ok(), rd.status().ToString());
  ReferenceSink sink(base);
  auto m = (*rd)->MatchAtSource(base_sig, new_block, sink);
  BOOST_REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  BOOST_TEST(sink.out == now);
  BOOST_TEST(m->size == now.size());
  BOOST_TEST(m->hash == ContentHash(now));
  BOOST_REQUIRE(m->has_signature);
  BOOST_TEST((m->signature == SignatureOf(now, new_block)));
  BOOST_TEST(m->after.size == now.size());
  BOOST_TEST(sink.literal <= max_literal, sink.literal << " literal bytes");
  auto st = (*rd)->Stat();
  BOOST_REQUIRE(st.ok());
  BOOST_TEST(st->size == now.size());
}

BOOST_AUTO_TEST_CASE(delta_runs_on_the_server) {
  TempDir t;
  const fs::path root = t.path / "d";
  fs::create_directories(root);
  auto src = StartSource(root);
  const std::string base = RandomBytes(3 << 20, 11);
  // An insertion in the middle costs about the inserted bytes plus < 2 blocks.
  std::string inserted = base;
  inserted.insert(1 << 20, "INSERTED IN THE MIDDLE");
  CheckDelta(*src, root / "insert", base, inserted, 22 + 2 * ChooseBlockSize(base.size()));
  // Appended data costs the appended bytes.
  std::string appended = base + RandomBytes(100000, 12);
  CheckDelta(*src, root / "append", base, appended, 100000 + 2 * ChooseBlockSize(base.size()));
  // Entirely new content: all literal, streamed over several replies.
  CheckDelta(*src, root / "rewrite", base, RandomBytes((4 << 20) + 5, 13), 5u << 20);
  // Truncated to nothing.
  CheckDelta(*src, root / "empty", base, "", 0);
  // Several at once, from several threads (the engine's workers do).
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 12; ++i) {
    std::string now = base;
    now[static_cast<size_t>(i) * 1000] ^= 1;
    WriteFile(root / ("par" + std::to_string(i)), now);
    threads.emplace_back([&, i, now] {
      auto rd = src->OpenRead((root / ("par" + std::to_string(i))).string());
      if (!rd.ok()) return;
      ReferenceSink sink(base);
      auto m = (*rd)->MatchAtSource(SignatureOf(base, ChooseBlockSize(base.size())), 0, sink);
      if (m.ok() && sink.out == now && !m->has_signature && m->hash == ContentHash(now)) ++ok;
    });
  }
  for (auto& th : threads) th.join();
  BOOST_TEST(ok.load() == 12);
}

BOOST_AUTO_TEST_CASE(read_only_key_reads_and_refuses_everything_else) {
  TempDir t;
  const fs::path root = t.path / "ro";
  WriteFile(root / "file", "content");
  fs::create_directories(t.path / "outside");
  WriteFile(t.path / "outside/secret", "secret");
  fs::create_symlink(t.path / "outside", root / "escape");
  fs::create_symlink(t.path / "outside/secret", root / "escape-file");
  auto before = ReadFile(root / "file");
  auto src = StartSource(root);
  ServeRemoteFs& remote = src->remote();
  BOOST_TEST((remote.mode() == serve::Mode::kReadOnly));

  // Paths outside the root: refused by the client before the wire, and by the server.
  BOOST_TEST(src->Lstat("/etc/passwd").status().code() == Code::kPermission);
  BOOST_TEST(src->OpenRead("/etc/passwd").status().code() == Code::kPermission);
  BOOST_TEST(src->ListDir(src->root() + "-other").status().code() == Code::kPermission);
  for (std::string bad : {"../outside/secret", "/etc/passwd", "escape/secret", "a/../../x"}) {
    auto r = remote.Call(serve::Op::kSourceLstat, serve::PayloadWriter().Str(bad).Take());
    BOOST_TEST(r.status().code() == Code::kPermission, bad << ": " << r.status().ToString());
    auto l = remote.Call(serve::Op::kSourceList, serve::PayloadWriter().Str(bad).U32(0).Take());
    BOOST_TEST(!l.ok(), bad);
    auto d = remote.Call(serve::Op::kSourceDeltaOpen,
                         serve::PayloadWriter().Str(bad).U32(0).U64(100).Take());
    BOOST_TEST(!d.ok(), bad);
  }
  // A symlink is listed as a link, never followed: not as a directory, not as a file.
  BOOST_TEST(!src->ListDir(src->root() + "/escape").ok());
  BOOST_TEST(!src->OpenRead(src->root() + "/escape-file").ok());
  ReferenceSink sink("");
  auto rd = src->OpenRead(src->root() + "/file");
  BOOST_REQUIRE(rd.ok());
  auto job = remote.Call(serve::Op::kSourceDeltaOpen,
                         serve::PayloadWriter().Str("escape-file").U32(0).U64(100).Take());
  BOOST_TEST(!job.ok());

  // Writes of every kind are refused.
  BOOST_TEST(remote.Open("file", OpenFlags::kWrite).status().code() == Code::kPermission);
  BOOST_TEST(remote.Open("new", OpenFlags::kWrite | OpenFlags::kCreate).status().code() ==
             Code::kPermission);
  BOOST_TEST(remote.Open("file", OpenFlags::kWrite | OpenFlags::kTruncate).status().code() ==
             Code::kPermission);
  BOOST_TEST(remote.Remove("file").code() == Code::kPermission);
  BOOST_TEST(remote.Mkdir("dir", 0755).code() == Code::kPermission);
  BOOST_TEST(remote.Rename("file", "moved", RenameMode::kReplace).code() == Code::kPermission);
  BOOST_TEST(remote.Symlink("/etc/passwd", "l").code() == Code::kPermission);
  BOOST_TEST(remote.Hardlink("file", "h").code() == Code::kPermission);
  FileAttr chmod;
  chmod.valid = FileAttr::kPermissions;
  chmod.mode = 0777;
  BOOST_TEST(remote.SetStat("file", chmod).code() == Code::kPermission);
  // The source interface's own write side refuses too.
  BOOST_TEST(src->MkdirUnder(src->root(), "x").code() == Code::kPermission);
  BOOST_TEST(src->CreateUnder(src->root(), "x").status().code() == Code::kPermission);

  BOOST_TEST(ReadFile(root / "file") == before);
  BOOST_TEST(!fs::exists(root / "new"));
  BOOST_TEST(!fs::exists(root / "dir"));
  BOOST_TEST(
      ((fs::status(root / "file").permissions() & fs::perms::others_write) == fs::perms::none));
}

BOOST_AUTO_TEST_CASE(malformed_delta_requests_are_refused) {
  TempDir t;
  const fs::path root = t.path / "m";
  WriteFile(root / "file", RandomBytes(200000, 3));
  auto src = StartSource(root);
  ServeRemoteFs& remote = src->remote();
  using serve::PayloadWriter;
  // Oversized or empty base signatures, absurd block sizes.
  BOOST_TEST(!remote
                  .Call(serve::Op::kSourceDeltaOpen,
                        PayloadWriter().Str("file").U32(0).U64(kMaxSourceSignature + 1).Take())
                  .ok());
  BOOST_TEST(
      !remote.Call(serve::Op::kSourceDeltaOpen, PayloadWriter().Str("file").U32(0).U64(0).Take())
           .ok());
  BOOST_TEST(!remote
                  .Call(serve::Op::kSourceDeltaOpen,
                        PayloadWriter().Str("file").U32(1u << 30).U64(10).Take())
                  .ok());
  // A base that is not a signature.
  auto open =
      remote.Call(serve::Op::kSourceDeltaOpen, PayloadWriter().Str("file").U32(0).U64(10).Take());
  BOOST_REQUIRE(open.ok());
  serve::PayloadReader r(*open);
  uint32_t job = r.U32();
  auto sig =
      remote.Call(serve::Op::kSourceDeltaSig, PayloadWriter().U32(job).Str("0123456789").Take());
  BOOST_TEST(sig.status().code() == Code::kCorrupt);
  // The job is gone after the failure; unknown jobs are refused.
  BOOST_TEST(!remote.Call(serve::Op::kSourceDeltaNext, PayloadWriter().U32(job).Take()).ok());
  BOOST_TEST(!remote.Call(serve::Op::kSourceDeltaNext, PayloadWriter().U32(999).Take()).ok());
  // More signature than announced.
  open = remote.Call(serve::Op::kSourceDeltaOpen, PayloadWriter().Str("file").U32(0).U64(4).Take());
  BOOST_REQUIRE(open.ok());
  serve::PayloadReader r2(*open);
  job = r2.U32();
  BOOST_TEST(
      !remote.Call(serve::Op::kSourceDeltaSig, PayloadWriter().U32(job).Str("12345").Take()).ok());
  // At most kMaxSourceDeltaJobs at once.
  int opened = 0;
  for (uint32_t i = 0; i < kMaxSourceDeltaJobs + 2; ++i)
    if (remote.Call(serve::Op::kSourceDeltaOpen, PayloadWriter().Str("file").U32(0).U64(8).Take())
            .ok())
      ++opened;
  BOOST_TEST(opened == static_cast<int>(kMaxSourceDeltaJobs));
  // The session still works.
  BOOST_TEST(src->Lstat(src->root() + "/file").ok());
}

BOOST_AUTO_TEST_CASE(write_only_key_cannot_pull_contents) {
  TempDir t;
  const fs::path root = t.path / "w";
  WriteFile(root / "file", RandomBytes(100000, 5));
  auto src = StartSource(root, "--write-only");
  ReferenceSink sink("");
  auto rd = src->OpenRead(src->root() + "/file");
  BOOST_REQUIRE(rd.ok());  // opening is allowed, reading contents is not
  BOOST_TEST((*rd)->Read(1 << 20).status().code() == Code::kPermission);
  auto m = (*rd)->MatchAtSource(SignatureOf("abc", 700), 0, sink);
  BOOST_TEST(m.status().code() == Code::kPermission, m.status().ToString());
}

// The backup engine pulling through the read-only key into a repository.
BOOST_AUTO_TEST_CASE(engine_pulls_full_and_incremental_with_server_delta) {
  TempDir t;
  const fs::path root = t.path / "www";
  const std::string big = RandomBytes(3 << 20, 21);
  WriteFile(root / "big.bin", big);
  WriteFile(root / "docs/a.txt", "alpha\n");
  WriteFile(root / "docs/b.txt", "beta\n");
  fs::create_symlink("docs/a.txt", root / "link");
  fs::create_directories(root / "empty");
  MemRemoteFs mem;
  uint64_t pulled = 0;  // file content the last run read over the wire
  auto run = [&](int64_t now) -> Result<BackupStats> {
    auto src = StartSource(root);
    struct Count {
      ServeSourceFs& s;
      uint64_t& out;
      ~Count() { out = s.content_bytes_read(); }
    } count{*src, pulled};
    SKIFF_ASSIGN_OR_RETURN(auto repo, Repository::Open(mem, "/repo", true));
    BackupOptions o;
    o.sources = {src->root()};
    o.now = now;
    o.lock = {"testhost", 4242, now, 24 * 3600, [](int64_t) { return false; }};
    return BackupEngine(repo, *src, o).Run();
  };
  const int64_t t0 = time(nullptr) + 10;  // later than every mtime: nothing is "racy"
  auto s1 = run(t0);
  BOOST_REQUIRE_MESSAGE(s1.ok(), s1.status().ToString());
  BOOST_TEST(s1->files == 3u);
  BOOST_TEST(s1->symlinks == 1u);

  std::string big2 = big;
  big2.insert(1 << 20, "NEW BYTES");
  WriteFile(root / "big.bin", big2);
  WriteFile(root / "docs/c.txt", "gamma\n");
  auto s2 = run(t0 + 100);
  BOOST_REQUIRE_MESSAGE(s2.ok(), s2.status().ToString());
  BOOST_TEST(s2->delta_files == 1u);
  BOOST_TEST(s2->unchanged_files == 2u);
  BOOST_TEST(s2->new_files == 1u);
  BOOST_TEST(s2->bytes_sent < 100000u, s2->bytes_sent);
  BOOST_TEST(s2->bytes_copied > 3000000u);
  // Only the new small file was read over the wire: big.bin was matched on the server.
  BOOST_TEST(pulled == 6u);

  auto repo = Repository::Open(mem, "/repo", false);
  BOOST_REQUIRE(repo.ok());
  auto snaps = repo->ListSnapshots();
  BOOST_REQUIRE(snaps.ok());
  BOOST_REQUIRE(snaps->size() == 2u);
  const std::string name = root.filename().string();
  auto got =
      ReadWholeFile(mem, repo->SnapshotDir(snaps->back()) + "/" + name + "/big.bin", 64 << 20);
  BOOST_REQUIRE(got.ok());
  BOOST_TEST(*got == big2);
  auto c = ReadWholeFile(mem, repo->SnapshotDir(snaps->back()) + "/" + name + "/docs/c.txt", 100);
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(*c == "gamma\n");
  auto l = mem.Readlink(repo->SnapshotDir(snaps->back()) + "/" + name + "/link");
  BOOST_REQUIRE(l.ok());
  BOOST_TEST(*l == "docs/a.txt");
  // The third run: nothing changed, nothing sent.
  auto s3 = run(t0 + 200);
  BOOST_REQUIRE_MESSAGE(s3.ok(), s3.status().ToString());
  BOOST_TEST(s3->unchanged_files == 4u);
  BOOST_TEST(s3->bytes_sent == 0u);
}

}  // namespace
