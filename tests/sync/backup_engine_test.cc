// The backup and restore engines end to end on MemRemoteFs, with a real local tree.
#include "sync/backup_engine.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "sync/backup_file_job.h"
#include "sync/content_hash.h"
#include "sync/manifest.h"
#include "sync/manifest_cache.h"
#include "sync/posix_local_fs.h"
#include "sync/pruner.h"
#include "sync/remote_stream.h"
#include "sync/repo_checker.h"
#include "sync/restore_engine.h"
#include "sync/signature.h"
#include "transport/async_hardlink.h"
#include "transport/mem_remote_fs.h"

using namespace skiff;
using namespace skiff::sync;
namespace fs = std::filesystem;

namespace {

// Delegates to another RemoteFs; after `writes_left` opens for writing, every call fails
// with kConnectionLost (a connection that died mid-backup).
class FaultFs : public RemoteFs {
 public:
  explicit FaultFs(RemoteFs& inner) : in_(inner) {}
  std::atomic<int> writes_left{1 << 30};
  bool dead() const { return writes_left.load() < 0; }
  Status Dead() const { return Status::ConnectionLost("injected: connection lost"); }

  const Capabilities& caps() const override { return in_.caps(); }
  Result<FileAttr> Stat(const std::string& p) override { return dead() ? Dead() : in_.Stat(p); }
  Result<FileAttr> Lstat(const std::string& p) override { return dead() ? Dead() : in_.Lstat(p); }
  Status SetStat(const std::string& p, const FileAttr& a) override {
    return dead() ? Dead() : in_.SetStat(p, a);
  }
  Status LSetStat(const std::string& p, const FileAttr& a) override {
    return dead() ? Dead() : in_.LSetStat(p, a);
  }
  Result<std::vector<DirEntry>> ReadDir(const std::string& p) override {
    return dead() ? Result<std::vector<DirEntry>>(Dead()) : in_.ReadDir(p);
  }
  Result<std::unique_ptr<RemoteFile>> Open(const std::string& p, uint32_t f, uint32_t m) override {
    if ((f & OpenFlags::kWrite) && --writes_left < 0) return Dead();
    if (dead()) return Dead();
    if (f & OpenFlags::kWrite) {
      std::lock_guard<std::mutex> l(mu);
      opened_for_write.push_back(p);
    }
    return in_.Open(p, f, m);
  }
  std::mutex mu;
  std::vector<std::string> opened_for_write;  // guarded by mu
  Status Mkdir(const std::string& p, uint32_t m) override {
    return dead() ? Dead() : in_.Mkdir(p, m);
  }
  Status Rmdir(const std::string& p) override { return dead() ? Dead() : in_.Rmdir(p); }
  Status Remove(const std::string& p) override { return dead() ? Dead() : in_.Remove(p); }
  Status Rename(const std::string& a, const std::string& b, RenameMode m) override {
    return dead() ? Dead() : in_.Rename(a, b, m);
  }
  Status Symlink(const std::string& t, const std::string& l) override {
    return dead() ? Dead() : in_.Symlink(t, l);
  }
  Result<std::string> Readlink(const std::string& p) override {
    return dead() ? Result<std::string>(Dead()) : in_.Readlink(p);
  }
  Status Hardlink(const std::string& a, const std::string& b) override {
    return dead() ? Dead() : in_.Hardlink(a, b);
  }
  Result<FsStats> StatVfs(const std::string& p) override { return in_.StatVfs(p); }
  Result<std::string> RealPath(const std::string& p) override { return in_.RealPath(p); }
  Status CopyData(RemoteFile& s, uint64_t so, uint64_t n, RemoteFile& d, uint64_t o) override {
    return dead() ? Dead() : in_.CopyData(s, so, n, d, o);
  }

 private:
  RemoteFs& in_;
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

void WriteFile(const fs::path& p, const std::string& data, int64_t mtime = 1700000000) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
  struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
  BOOST_REQUIRE(utimensat(AT_FDCWD, p.c_str(), ts, 0) == 0);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct Fixture {
  fs::path dir;
  fs::path src;
  MemRemoteFs mem;
  PosixLocalFs local;
  int64_t clock = time(nullptr) + 60;  // snapshots start after the files were written
  std::vector<std::string> warnings;

  Fixture() {
    char tmpl[] = "/tmp/skiff-sync-test-XXXXXX";
    dir = mkdtemp(tmpl);
    src = dir / "data";
    fs::create_directories(src / "sub" / "empty");
    WriteFile(src / "small.txt", "hello\n");
    WriteFile(src / "sub" / "big.bin", RandomBytes(600 * 1024, 1));
    WriteFile(src / "sub" / "other.bin", RandomBytes(200 * 1024, 2));
    fs::create_symlink("../small.txt", src / "sub" / "link");
    fs::create_hard_link(src / "small.txt", src / "sub" / "hard.txt");
    chmod((src / "sub").c_str(), 0750);
    {  // sparse: 1 MiB hole, then data
      std::ofstream o(src / "sparse", std::ios::binary);
      o.seekp(1 << 20);
      o << "tail";
    }
  }
  ~Fixture() { fs::remove_all(dir); }

  Result<BackupStats> Backup(RemoteFs& remote, std::vector<std::string> excludes = {}) {
    SKIFF_ASSIGN_OR_RETURN(auto repo, Repository::Open(remote, "/repo", true));
    BackupOptions o;
    o.sources = {src.string()};
    o.excludes = std::move(excludes);
    o.now = clock;
    clock += 3600;
    o.lock = {"testhost", 4242, o.now, 24 * 3600, [](int64_t) { return false; }};
    o.cache_dir = (dir / "cache").string();
    o.warn = [this](const std::string& w) { warnings.push_back(w); };
    return BackupEngine(repo, local, o).Run();
  }

  Result<RestoreStats> Restore(const std::string& snapshot, const fs::path& target,
                               std::vector<std::string> patterns = {}) {
    SKIFF_ASSIGN_OR_RETURN(auto repo, Repository::Open(mem, "/repo", false));
    SKIFF_ASSIGN_OR_RETURN(std::string name, repo.ResolveSnapshot(snapshot));
    RestoreOptions o;
    o.snapshot = name;
    o.target = target.string();
    o.patterns = std::move(patterns);
    return RestoreEngine(repo, local, o).Run();
  }

  // Every entry of `a` exists in `b` with the same type, content, mode and mtime.
  void ExpectSameTree(const fs::path& a, const fs::path& b) {
    for (auto it = fs::recursive_directory_iterator(a); it != fs::recursive_directory_iterator();
         ++it) {
      fs::path rel = it->path().lexically_relative(a);
      struct stat sa, sb;
      BOOST_REQUIRE(lstat(it->path().c_str(), &sa) == 0);
      BOOST_REQUIRE_MESSAGE(lstat((b / rel).c_str(), &sb) == 0, "missing " << rel);
      BOOST_TEST((sa.st_mode & S_IFMT) == (sb.st_mode & S_IFMT), rel);
      if (!S_ISLNK(sa.st_mode)) BOOST_TEST((sa.st_mode & 07777) == (sb.st_mode & 07777), rel);
      BOOST_TEST(sa.st_mtim.tv_sec == sb.st_mtim.tv_sec, rel);
      if (S_ISREG(sa.st_mode)) BOOST_TEST(ReadFile(it->path()) == ReadFile(b / rel), rel);
      if (S_ISLNK(sa.st_mode))
        BOOST_TEST(fs::read_symlink(it->path()) == fs::read_symlink(b / rel), rel);
    }
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(full_then_incremental_with_hardlinks_and_delta) {
  Fixture f;
  auto s1 = f.Backup(f.mem);
  BOOST_REQUIRE_MESSAGE(s1.ok(), s1.status().ToString());
  BOOST_TEST(s1->files == 5u);
  BOOST_TEST(s1->new_files == 4u);  // hard.txt is linked to small.txt, not uploaded
  BOOST_TEST(f.warnings.empty());
  // The snapshot is a plain tree on the server.
  BOOST_TEST(f.mem.Lstat("/repo/snapshots/" + s1->snapshot + "/data/sub/empty").value().IsDir());
  BOOST_TEST(f.mem.Readlink("/repo/snapshots/" + s1->snapshot + "/data/sub/link").value() ==
             "../small.txt");

  // Day 2: insert 1000 bytes in the middle of big.bin, touch other.bin, add a file.
  std::string big = ReadFile(f.src / "sub" / "big.bin");
  big.insert(300 * 1024, RandomBytes(1000, 9));
  WriteFile(f.src / "sub" / "big.bin", big, 1700000500);
  WriteFile(f.src / "sub" / "other.bin", ReadFile(f.src / "sub" / "other.bin"), 1700000600);
  WriteFile(f.src / "new.txt", "new");
  auto s2 = f.Backup(f.mem);
  BOOST_REQUIRE_MESSAGE(s2.ok(), s2.status().ToString());
  BOOST_TEST(s2->unchanged_files == 2u);  // small.txt and sparse (hard.txt follows small.txt)
  BOOST_TEST(s2->delta_files == 2u);      // big.bin and the touched other.bin
  BOOST_TEST(s2->new_files == 1u);
  // The delta sent about the inserted bytes, not the files.
  BOOST_TEST(s2->bytes_sent < 20u * 1024, "sent " << s2->bytes_sent);
  BOOST_TEST(s2->bytes_copied >= 790u * 1024);

  fs::path r1 = f.dir / "restore1", r2 = f.dir / "restore2";
  auto rs = f.Restore("latest", r2);
  BOOST_REQUIRE_MESSAGE(rs.ok(), rs.status().ToString());
  BOOST_TEST(rs->errors == 0u);
  f.ExpectSameTree(f.src, r2 / "data");
  // Hard links inside the source come back as hard links; sparse files stay sparse.
  struct stat a, b;
  BOOST_REQUIRE(stat((r2 / "data/small.txt").c_str(), &a) == 0);
  BOOST_REQUIRE(stat((r2 / "data/sub/hard.txt").c_str(), &b) == 0);
  BOOST_TEST(a.st_ino == b.st_ino);
  BOOST_REQUIRE(stat((r2 / "data/sparse").c_str(), &a) == 0);
  BOOST_TEST(a.st_blocks * 512 < 64 * 1024);

  // The first snapshot still holds day 1's content; a single path can be restored.
  rs = f.Restore(s1->snapshot, r1, {"data/sub/big.bin"});
  BOOST_REQUIRE_MESSAGE(rs.ok(), rs.status().ToString());
  BOOST_TEST(rs->files == 1u);
  BOOST_TEST(ReadFile(r1 / "data/sub/big.bin").size() == 600u * 1024);
  BOOST_TEST(!fs::exists(r1 / "data/small.txt"));
}

BOOST_AUTO_TEST_CASE(interrupted_backup_resumes) {
  Fixture f;
  FaultFs faulty(f.mem);
  faulty.writes_left = 6;  // dies after a few files
  auto s1 = f.Backup(faulty);
  BOOST_REQUIRE(!s1.ok());
  // Nothing looks like a snapshot, but the partial tree is kept for the next run.
  auto repo = Repository::Open(f.mem, "/repo", false);
  BOOST_REQUIRE(repo.ok());
  BOOST_TEST(repo->ListSnapshots().value().empty());
  BOOST_TEST(f.mem.Lstat("/repo/snapshots/.incomplete").ok());
  // The lock of the dead run is stale (same host, its pid is gone) and gets broken.
  auto s2 = f.Backup(f.mem);
  BOOST_REQUIRE_MESSAGE(s2.ok(), s2.status().ToString());
  BOOST_TEST(s2->resumed);
  BOOST_TEST(s2->reused_files >= 1u);
  BOOST_TEST(repo->ListSnapshots().value().size() == 1u);
  BOOST_TEST(!f.mem.Lstat("/repo/snapshots/.incomplete").ok());
  BOOST_TEST(f.mem.ReadDir("/repo/.skiff/tmp").value().empty());  // partial uploads cleared
  auto rs = f.Restore("latest", f.dir / "restore");
  BOOST_REQUIRE_MESSAGE(rs.ok(), rs.status().ToString());
  BOOST_TEST(rs->errors == 0u);
  f.ExpectSameTree(f.src, f.dir / "restore" / "data");
}

BOOST_AUTO_TEST_CASE(new_files_go_straight_into_the_snapshot) {
  Fixture f;
  FaultFs counting(f.mem);
  auto s1 = f.Backup(counting);
  BOOST_REQUIRE_MESSAGE(s1.ok(), s1.status().ToString());
  BOOST_TEST(s1->new_files == 4u);
  // Each new file was created under the snapshot being built, none in .skiff/tmp (only
  // the manifest and signatures go there).
  size_t in_snapshot = 0;
  for (const auto& p : counting.opened_for_write) {
    BOOST_TEST(p.find("/.skiff/tmp/f.") == std::string::npos, p);
    if (p.rfind("/repo/snapshots/.incomplete/", 0) == 0) ++in_snapshot;
  }
  BOOST_TEST(in_snapshot == 4u);
  auto rs = f.Restore("latest", f.dir / "restore");
  BOOST_REQUIRE_MESSAGE(rs.ok(), rs.status().ToString());
  f.ExpectSameTree(f.src, f.dir / "restore" / "data");
}

BOOST_AUTO_TEST_CASE(torn_files_in_the_interrupted_snapshot_are_redone) {
  Fixture f;
  FaultFs faulty(f.mem);
  faulty.writes_left = 6;  // dies after a few files
  BOOST_REQUIRE(!f.Backup(faulty).ok());
  BOOST_REQUIRE(f.mem.Lstat("/repo/snapshots/.incomplete").ok());
  // What a run killed mid-file leaves behind (files are written in place): one file cut
  // short, one with every byte but not yet its mode and mtime (set after the last byte).
  const std::string inc = "/repo/snapshots/.incomplete/data";
  const std::string big = ReadFile(f.src / "sub" / "big.bin");
  const std::string other = ReadFile(f.src / "sub" / "other.bin");
  f.mem.Mkdir(inc, 0700).IgnoreError();
  f.mem.Mkdir(inc + "/sub", 0700).IgnoreError();
  for (const char* n : {"/sub/big.bin", "/sub/other.bin"}) f.mem.Remove(inc + n).IgnoreError();
  {
    auto w = f.mem.Open(inc + "/sub/big.bin", OpenFlags::kWrite | OpenFlags::kCreate, 0600);
    BOOST_REQUIRE(w.ok());
    BOOST_REQUIRE((*w)->Write(0, big.substr(0, 100 * 1024)).ok());
    BOOST_REQUIRE((*w)->Close().ok());
    auto o = f.mem.Open(inc + "/sub/other.bin", OpenFlags::kWrite | OpenFlags::kCreate, 0600);
    BOOST_REQUIRE(o.ok());
    std::string wrong = other;
    wrong[100] ^= 1;  // same size; would be taken as complete if size were all that counted
    BOOST_REQUIRE((*o)->Write(0, wrong).ok());
    BOOST_REQUIRE((*o)->Close().ok());
  }
  auto s2 = f.Backup(f.mem);
  BOOST_REQUIRE_MESSAGE(s2.ok(), s2.status().ToString());
  BOOST_TEST(s2->resumed);
  // Neither torn file was reused: both were uploaded again.
  BOOST_TEST(s2->new_files >= 2u);
  auto rs = f.Restore("latest", f.dir / "restore");
  BOOST_REQUIRE_MESSAGE(rs.ok(), rs.status().ToString());
  BOOST_TEST(rs->errors == 0u);
  f.ExpectSameTree(f.src, f.dir / "restore" / "data");
  auto repo = Repository::Open(f.mem, "/repo", false);
  BOOST_REQUIRE(repo.ok());
  CheckOptions co;
  co.read_data = true;
  std::vector<std::string> problems;
  co.problem = [&](const std::string&, const std::string& p) { problems.push_back(p); };
  BOOST_REQUIRE(CheckRepository(*repo, co).ok());
  BOOST_TEST(problems.empty());
}

BOOST_AUTO_TEST_CASE(live_lock_is_refused_with_holder) {
  Fixture f;
  auto repo = Repository::Open(f.mem, "/repo", true);
  BOOST_REQUIRE(repo.ok());
  LockIdentity other{"otherhost", 99, f.clock, 24 * 3600, [](int64_t) { return true; }};
  auto held = RepoLock::Acquire(*repo, other);
  BOOST_REQUIRE(held.ok());
  auto s = f.Backup(f.mem);
  BOOST_TEST(s.status().Is(Code::kBusy));
  BOOST_TEST(s.status().message().find("otherhost") != std::string::npos);
  BOOST_TEST(s.status().message().find(".skiff/lock") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(fallbacks_without_hardlink_and_copy_data) {
  Fixture f;
  Capabilities caps = f.mem.caps();
  caps.hardlink = caps.copy_data = false;
  f.mem.set_caps(caps);
  BOOST_REQUIRE(f.Backup(f.mem).ok());
  WriteFile(f.src / "sub" / "big.bin", RandomBytes(600 * 1024, 3));
  auto s2 = f.Backup(f.mem);
  BOOST_REQUIRE_MESSAGE(s2.ok(), s2.status().ToString());
  BOOST_TEST(s2->delta_files == 0u);
  auto rs = f.Restore("latest", f.dir / "restore");
  BOOST_REQUIRE(rs.ok());
  BOOST_TEST(rs->errors == 0u);
  f.ExpectSameTree(f.src, f.dir / "restore" / "data");
}

namespace {

// A FaultFs that takes hard links asynchronously (as SftpRemoteFs and ServeRemoteFs do):
// it holds every answer back until `hold` links wait together, then answers them from
// another thread, and any later link at once. Links that held their worker could never
// gather more than the engine's workers: the releaser then gives up after a minute (so
// such a regression fails instead of hanging). `fail` answers every async link kIo.
class AsyncLinkFs : public FaultFs, public AsyncHardlinkFs {
 public:
  AsyncLinkFs(RemoteFs& inner, size_t hold, bool fail)
      : FaultFs(inner), hold_(hold), fail_(fail), releaser_([this] { Release(); }) {}
  ~AsyncLinkFs() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      released_ = true;
    }
    cv_.notify_all();
    releaser_.join();
  }
  void HardlinkAsync(const std::string& existing, const std::string& new_path,
                     std::function<void(Status)> done) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      ++calls_;
      if (!released_) {
        waiting_.push_back({existing, new_path, std::move(done)});
        if (waiting_.size() >= hold_) {
          released_ = true;
          cv_.notify_all();
        }
        return;
      }
    }
    done(Answer(existing, new_path));
  }
  size_t calls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }
  size_t held_at_once() {  // links that waited together when released
    std::lock_guard<std::mutex> l(mu_);
    return held_at_once_;
  }

 private:
  struct Link {
    std::string existing, new_path;
    std::function<void(Status)> done;
  };
  Status Answer(const std::string& existing, const std::string& new_path) {
    return fail_ ? Status::Io("injected: link failed") : Hardlink(existing, new_path);
  }
  void Release() {
    std::vector<Link> links;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait_for(l, std::chrono::minutes(1), [&] { return released_; });
      released_ = true;
      held_at_once_ = waiting_.size();
      links.swap(waiting_);
    }
    for (auto& k : links) k.done(Answer(k.existing, k.new_path));
  }

  const size_t hold_;
  const bool fail_;
  std::mutex mu_;  // guards waiting_, released_ and the counters
  std::condition_variable cv_;
  std::vector<Link> waiting_;
  bool released_ = false;
  size_t calls_ = 0;
  size_t held_at_once_ = 0;
  std::thread releaser_;  // last: started after the members it uses
};

}  // namespace

// More unchanged files than the engine has workers: their links are all asked for before
// any is answered (no worker waits for one), and the snapshot is complete.
BOOST_AUTO_TEST_CASE(unchanged_files_links_are_asked_for_without_waiting) {
  Fixture f;
  constexpr size_t kMany = 300;  // > the engine's 32 file workers (kFileWorkers)
  fs::create_directories(f.src / "many");
  for (size_t i = 0; i < kMany; ++i) WriteFile(f.src / "many" / std::to_string(i), "x");
  auto s1 = f.Backup(f.mem);
  BOOST_REQUIRE_MESSAGE(s1.ok(), s1.status().ToString());
  AsyncLinkFs linker(f.mem, kMany, /*fail=*/false);
  auto s2 = f.Backup(linker);
  BOOST_REQUIRE_MESSAGE(s2.ok(), s2.status().ToString());
  BOOST_TEST(linker.held_at_once() >= kMany);
  BOOST_TEST(linker.calls() >= kMany + 4);  // and small.txt, sparse, big.bin, other.bin
  BOOST_TEST(s2->unchanged_files >= kMany + 4);
  BOOST_TEST(s2->new_files == 0u);
  BOOST_TEST(s2->bytes_sent < 64u * 1024, "sent " << s2->bytes_sent);  // the manifest only
  auto rs = f.Restore("latest", f.dir / "restore");
  BOOST_REQUIRE_MESSAGE(rs.ok(), rs.status().ToString());
  BOOST_TEST(rs->errors == 0u);
  f.ExpectSameTree(f.src, f.dir / "restore" / "data");
}

// With a link session (the compressed one over SFTP), every unchanged file's link goes
// there and none to the sessions that carry file data.
BOOST_AUTO_TEST_CASE(unchanged_files_links_go_to_the_link_session) {
  Fixture f;
  auto s1 = f.Backup(f.mem);
  BOOST_REQUIRE_MESSAGE(s1.ok(), s1.status().ToString());
  auto repo = Repository::Open(f.mem, "/repo", false);
  BOOST_REQUIRE(repo.ok());
  std::atomic<int> answered{0};  // outlives the linkers, whose threads answer
  AsyncLinkFs data(f.mem, 1, /*fail=*/false);
  AsyncLinkFs links(f.mem, 1, /*fail=*/false);
  FileJobConfig c;
  c.incomplete_dir = repo->IncompleteDir();
  c.prev_dir = "/repo/snapshots/prev";
  c.prev_time = f.clock;
  c.sessions = {&data, &data};
  c.link_session = &links;
  BackupFileJob job(*repo, f.local, c);
  constexpr int kFiles = 10;
  for (int i = 0; i < kFiles; ++i) {
    auto st = f.local.Lstat((f.src / "small.txt").string());
    BOOST_REQUIRE(st.ok());
    ManifestEntry e;
    e.type = EntryType::kFile;
    e.path = "data/f" + std::to_string(i);
    e.mode = st->mode & 07777;
    e.mtime = st->mtime;
    e.size = st->size;
    e.ino = st->ino;
    e.ctime = st->ctime;
    BOOST_TEST(job.LinkUnchangedAsync(e.path, *st, e, e, [&](Status) { ++answered; }));
  }
  BOOST_TEST(links.calls() == size_t{kFiles});
  BOOST_TEST(data.calls() == 0u);
}

// An asynchronous link that fails falls back to the file's other steps: the backup
// succeeds and the snapshot is complete.
BOOST_AUTO_TEST_CASE(failed_async_links_fall_back_to_the_other_steps) {
  Fixture f;
  auto s1 = f.Backup(f.mem);
  BOOST_REQUIRE_MESSAGE(s1.ok(), s1.status().ToString());
  AsyncLinkFs linker(f.mem, 1, /*fail=*/true);
  auto s2 = f.Backup(linker);
  BOOST_REQUIRE_MESSAGE(s2.ok(), s2.status().ToString());
  BOOST_TEST(linker.calls() >= 4u);
  auto rs = f.Restore("latest", f.dir / "restore");
  BOOST_REQUIRE_MESSAGE(rs.ok(), rs.status().ToString());
  BOOST_TEST(rs->errors == 0u);
  f.ExpectSameTree(f.src, f.dir / "restore" / "data");
}

BOOST_AUTO_TEST_CASE(hostile_manifest_is_refused_and_nothing_escapes) {
  Fixture f;
  auto s1 = f.Backup(f.mem);
  BOOST_REQUIRE(s1.ok());
  const std::string mpath = "/repo/.skiff/manifests/" + s1->snapshot;
  auto put = [&](const std::string& body_entries) {
    std::string body = "skiff-manifest\t1\t" + s1->snapshot + "\n" + body_entries;
    std::string bytes = body + "end\t" +
                        std::to_string(std::count(body_entries.begin(), body_entries.end(), '\n')) +
                        "\t" + ContentHash(body) + "\n";
    auto fh = f.mem.Open(mpath, OpenFlags::kWrite | OpenFlags::kTruncate, 0644);
    BOOST_REQUIRE(fh.ok());
    BOOST_REQUIRE((*fh)->Write(0, bytes).ok());
  };
  fs::path outside = f.dir / "outside";
  fs::create_directories(outside);
  // A '..' path: refused before anything is written.
  put("f\t../outside/evil\t644\t0\t0\t0\t3\t" + ContentHash("abc") + "\t\t0\t0\t0\t\n");
  auto rs = f.Restore("latest", f.dir / "target");
  BOOST_TEST(rs.status().Is(Code::kCorrupt));
  BOOST_TEST(rs.status().message().find("..") != std::string::npos);
  BOOST_TEST(!fs::exists(f.dir / "target"));
  // A symlink pointing out, then a file "through" it: never written outside.
  put("l\tesc\t777\t0\t0\t0\t0\t\t\t0\t0\t0\t" + outside.string() + "\n" +
      "f\tesc/evil\t644\t0\t0\t0\t3\t" + ContentHash("abc") + "\t\t0\t0\t0\t\n");
  rs = f.Restore("latest", f.dir / "target");
  BOOST_REQUIRE(rs.ok());
  BOOST_TEST(fs::is_empty(outside));
  BOOST_TEST(rs->errors >= 1u);  // the file's content is not on the server
}

// A file whose content on the server no longer matches the manifest is reported and is
// not left in the target; the other files are restored.
BOOST_AUTO_TEST_CASE(restore_removes_a_file_that_fails_verification) {
  Fixture f;
  auto b = f.Backup(f.mem);
  BOOST_REQUIRE_MESSAGE(b.ok(), b.status().ToString());
  auto fh = f.mem.Open("/repo/snapshots/" + b->snapshot + "/data/sub/big.bin", OpenFlags::kWrite);
  BOOST_REQUIRE(fh.ok());
  BOOST_REQUIRE((*fh)->Write(10, "X").ok());
  BOOST_REQUIRE((*fh)->Close().ok());
  fs::path target = f.dir / "restored";
  auto rs = f.Restore(b->snapshot, target);
  BOOST_REQUIRE_MESSAGE(rs.ok(), rs.status().ToString());
  BOOST_TEST(rs->errors == 1u);
  BOOST_TEST(!fs::exists(fs::symlink_status(target / "data" / "sub" / "big.bin")));
  BOOST_TEST(ReadFile(target / "data" / "sub" / "other.bin") ==
             ReadFile(f.src / "sub" / "other.bin"));
  BOOST_TEST(ReadFile(target / "data" / "small.txt") == "hello\n");
}

BOOST_AUTO_TEST_CASE(excludes) {
  BOOST_TEST(MatchesExclude({"*.bin"}, "data/sub/big.bin"));
  BOOST_TEST(!MatchesExclude({"*.bin"}, "data/sub"));
  BOOST_TEST(MatchesExclude({"/data/sub"}, "data/sub/x/y"));
  BOOST_TEST(!MatchesExclude({"/data/sub"}, "data/subway"));
  Fixture f;
  auto s = f.Backup(f.mem, {"*.bin"});
  BOOST_REQUIRE(s.ok());
  BOOST_TEST(s->files == 3u);  // small.txt, sparse, sub/hard.txt
}

BOOST_AUTO_TEST_CASE(prune_removes_whole_snapshots_and_unused_signatures) {
  Fixture f;
  std::vector<std::string> snaps;
  for (uint32_t day = 0; day < 3; ++day) {
    WriteFile(f.src / "sub" / "big.bin", RandomBytes(600 * 1024, 50 + day), 1700000000 + day);
    auto s = f.Backup(f.mem);
    BOOST_REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    snaps.push_back(s->snapshot);
  }
  auto repo = Repository::Open(f.mem, "/repo", false);
  BOOST_REQUIRE(repo.ok());
  auto count_sigs = [&] {
    size_t n = 0;
    auto buckets = f.mem.ReadDir("/repo/.skiff/sigs");
    BOOST_REQUIRE(buckets.ok());
    for (const auto& b : *buckets) n += f.mem.ReadDir("/repo/.skiff/sigs/" + b.name).value().size();
    return n;
  };
  BOOST_TEST(count_sigs() == 5u);  // three versions of big.bin, other.bin, sparse
  PruneOptions o;
  o.policy.keep_last = 1;
  o.now = f.clock;
  o.lock = {"testhost", 1, f.clock, 3600, [](int64_t) { return false; }};
  o.dry_run = true;
  auto dry = Prune(*repo, o);
  BOOST_REQUIRE(dry.ok());
  BOOST_TEST(repo->ListSnapshots().value().size() == 3u);
  o.dry_run = false;
  auto r = Prune(*repo, o);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  BOOST_TEST(r->removed == 2u);
  BOOST_TEST(r->signatures_removed == 2u);
  BOOST_TEST(count_sigs() == 3u);
  BOOST_TEST(repo->ListSnapshots().value() == std::vector<std::string>{snaps[2]});
  BOOST_TEST(!f.mem.Lstat("/repo/.skiff/lock").ok());
  // What remains is intact: check finds nothing, even reading all data.
  CheckOptions co;
  co.read_data = true;
  std::vector<std::string> problems;
  co.problem = [&](const std::string&, const std::string& p) { problems.push_back(p); };
  auto c = CheckRepository(*repo, co);
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(problems.empty());
  // A damaged file is reported by --read-data.
  auto fh = f.mem.Open("/repo/snapshots/" + snaps[2] + "/data/sub/big.bin", OpenFlags::kWrite);
  BOOST_REQUIRE(fh.ok());
  BOOST_REQUIRE((*fh)->Write(10, "X").ok());
  problems.clear();
  c = CheckRepository(*repo, co);
  BOOST_REQUIRE(c.ok());
  bool content_reported = false;
  for (const auto& p : problems)
    content_reported |= p == "content does not match the manifest's hash: data/sub/big.bin";
  BOOST_TEST(content_reported);
}

// Many files in flight at once: a connection that dies in the middle of the window fails
// the run without publishing; the resumed run and a later incremental write manifests in
// scan order, identical entry for entry, and the tree restores exactly.
BOOST_AUTO_TEST_CASE(many_files_in_flight_fail_cleanly_and_keep_manifest_order) {
  Fixture f;
  for (int d = 0; d < 12; ++d) {
    fs::create_directories(f.src / "many" / ("d" + std::to_string(d)));
    for (int i = 0; i < 40; ++i)
      WriteFile(f.src / "many" / ("d" + std::to_string(d)) / ("f" + std::to_string(i)),
                RandomBytes(100 + i * 37, d * 100 + i), 1700000000 + i);
  }
  FaultFs faulty(f.mem);
  faulty.writes_left = 200;  // dies with many uploads in flight
  auto s1 = f.Backup(faulty);
  BOOST_REQUIRE(!s1.ok());
  BOOST_TEST(s1.status().Is(Code::kConnectionLost), s1.status().ToString());
  auto repo = Repository::Open(f.mem, "/repo", false);
  BOOST_REQUIRE(repo.ok());
  BOOST_TEST(repo->ListSnapshots().value().empty());

  auto s2 = f.Backup(f.mem);
  BOOST_REQUIRE_MESSAGE(s2.ok(), s2.status().ToString());
  BOOST_TEST(s2->resumed);
  BOOST_TEST(s2->files == 5u + 12u * 40u);
  BOOST_TEST(s2->dirs == 3u + 1u + 12u);
  auto s3 = f.Backup(f.mem);
  BOOST_REQUIRE_MESSAGE(s3.ok(), s3.status().ToString());
  BOOST_TEST(s3->unchanged_files == s3->files - 1u);  // all but hard.txt (linked)

  auto entries = [&](const std::string& snap) {
    std::vector<std::string> out;
    auto r = OpenRemoteManifest(*repo, snap);
    BOOST_REQUIRE(r.ok());
    while (true) {
      auto e = (*r)->Next();
      BOOST_REQUIRE_MESSAGE(e.ok(), e.status().ToString());
      if (!*e) break;
      out.push_back((*e)->path + " " + (*e)->hash + " " + std::to_string((*e)->size) + " " +
                    std::to_string((*e)->link_group));
    }
    return out;
  };
  auto m2 = entries(s2->snapshot), m3 = entries(s3->snapshot);
  BOOST_TEST(m2.size() == 16u + 485u + 1u);  // dirs, files, the symlink
  BOOST_TEST(m2 == m3, boost::test_tools::per_element());
  auto rs = f.Restore("latest", f.dir / "restore");
  BOOST_REQUIRE_MESSAGE(rs.ok(), rs.status().ToString());
  BOOST_TEST(rs->errors == 0u);
  BOOST_TEST(rs->files == s3->files);
  f.ExpectSameTree(f.src, f.dir / "restore" / "data");
}

namespace {

// Counts the bytes written through files opened on it (what would cross the wire).
class CountingFs : public RemoteFs {
 public:
  explicit CountingFs(RemoteFs& inner) : in_(inner) {}
  std::atomic<uint64_t> written{0};
  class File : public RemoteFile {
   public:
    File(std::unique_ptr<RemoteFile> f, CountingFs& fs) : f_(std::move(f)), fs_(fs) {}
    Result<std::string> Read(uint64_t o, uint32_t n) override { return f_->Read(o, n); }
    Status Write(uint64_t o, std::string_view d) override {
      fs_.written += d.size();
      return f_->Write(o, d);
    }
    void ReadAsync(uint64_t o, uint32_t n, ReadCallback cb) override {
      f_->ReadAsync(o, n, std::move(cb));
    }
    void WriteAsync(uint64_t o, std::string d, DoneCallback cb) override {
      fs_.written += d.size();
      f_->WriteAsync(o, std::move(d), std::move(cb));
    }
    Result<FileAttr> Stat() override { return f_->Stat(); }
    Status SetStat(const FileAttr& a) override { return f_->SetStat(a); }
    Status Sync() override { return f_->Sync(); }
    Status Close() override { return f_->Close(); }
    std::unique_ptr<RemoteFile> f_;
    CountingFs& fs_;
  };
  const Capabilities& caps() const override { return in_.caps(); }
  Result<FileAttr> Stat(const std::string& p) override { return in_.Stat(p); }
  Result<FileAttr> Lstat(const std::string& p) override { return in_.Lstat(p); }
  Status SetStat(const std::string& p, const FileAttr& a) override { return in_.SetStat(p, a); }
  Status LSetStat(const std::string& p, const FileAttr& a) override { return in_.LSetStat(p, a); }
  Result<std::vector<DirEntry>> ReadDir(const std::string& p) override { return in_.ReadDir(p); }
  Result<std::unique_ptr<RemoteFile>> Open(const std::string& p, uint32_t f, uint32_t m) override {
    SKIFF_ASSIGN_OR_RETURN(auto file, in_.Open(p, f, m));
    return std::unique_ptr<RemoteFile>(new File(std::move(file), *this));
  }
  Status Mkdir(const std::string& p, uint32_t m) override { return in_.Mkdir(p, m); }
  Status Rmdir(const std::string& p) override { return in_.Rmdir(p); }
  Status Remove(const std::string& p) override { return in_.Remove(p); }
  Status Rename(const std::string& a, const std::string& b, RenameMode m) override {
    return in_.Rename(a, b, m);
  }
  Status Symlink(const std::string& t, const std::string& l) override { return in_.Symlink(t, l); }
  Result<std::string> Readlink(const std::string& p) override { return in_.Readlink(p); }
  Status Hardlink(const std::string& a, const std::string& b) override {
    return in_.Hardlink(a, b);
  }
  Result<FsStats> StatVfs(const std::string& p) override { return in_.StatVfs(p); }
  Result<std::string> RealPath(const std::string& p) override { return in_.RealPath(p); }
  Status CopyData(RemoteFile& s, uint64_t so, uint64_t n, RemoteFile& d, uint64_t o) override {
    return in_.CopyData(*static_cast<File&>(s).f_, so, n, *static_cast<File&>(d).f_, o);
  }

 private:
  RemoteFs& in_;
};

std::string StoredSignature(RemoteFs& fs, const std::string& content) {
  std::string h = ContentHash(content);
  auto bytes = ReadWholeFile(fs, "/repo/.skiff/sigs/" + h.substr(0, 2) + "/" + h, 64 << 20);
  return bytes.ok() ? *bytes : "missing: " + bytes.status().ToString();
}

std::string ExpectedSignature(const std::string& content) {
  SignatureBuilder b(ChooseBlockSize(content.size()));
  b.Update(content);
  return b.Finish().Encode();
}

}  // namespace

// A changed big file's new signature is built on the server from the old one (copy-data
// plus the entries that differ): it must equal the signature of the new content, and
// only about the changed entries may cross the wire. A touched small file with the same
// content is copied on the server, not uploaded.
BOOST_AUTO_TEST_CASE(changed_files_send_only_what_changed_including_signatures) {
  Fixture f;
  std::string log = RandomBytes(3 << 20, 11);
  WriteFile(f.src / "grow.log", log);
  std::string small = RandomBytes(20000, 12);
  WriteFile(f.src / "touched.txt", small);
  auto s1 = f.Backup(f.mem);
  BOOST_REQUIRE_MESSAGE(s1.ok(), s1.status().ToString());

  std::string more = RandomBytes(100 * 1024, 13);
  log += more;
  WriteFile(f.src / "grow.log", log, 1700000700);
  std::string big = ReadFile(f.src / "sub" / "big.bin");
  std::string page = RandomBytes(4096, 14);
  big.replace(300 * 1024, page.size(), page);
  WriteFile(f.src / "sub" / "big.bin", big, 1700000800);
  WriteFile(f.src / "touched.txt", small, 1700000900);

  CountingFs counting(f.mem);
  auto s2 = f.Backup(counting);
  BOOST_REQUIRE_MESSAGE(s2.ok(), s2.status().ToString());
  BOOST_TEST(s2->delta_files >= 2u);
  BOOST_TEST(StoredSignature(f.mem, log) == ExpectedSignature(log));
  BOOST_TEST(StoredSignature(f.mem, big) == ExpectedSignature(big));
  // Appended bytes + the rewritten page's block(s) + the changed signature entries and
  // the manifest; whole signatures (~21 KB + ~9 KB) or the 20 KB touched file would not
  // fit in the 12 KiB margin.
  const uint64_t payload = more.size() + 2 * ChooseBlockSize(big.size());
  BOOST_TEST(counting.written.load() < payload + 12 * 1024,
             "written " << counting.written.load() << ", payload " << payload);

  fs::path r = f.dir / "restore-sig";
  auto rs = f.Restore("latest", r);
  BOOST_REQUIRE_MESSAGE(rs.ok(), rs.status().ToString());
  BOOST_TEST(ReadFile(r / "data" / "grow.log") == log);
  BOOST_TEST(ReadFile(r / "data" / "sub" / "big.bin") == big);
  BOOST_TEST(ReadFile(r / "data" / "touched.txt") == small);
}

namespace {

// A FaultFs whose files answer writes late: a write's answer (the write itself is done at
// once) is held until the file's SetStatAsync, CloseAsync or Close, or, for a caller that
// waits for it before sending those, until a releaser thread gives up after a second (so
// that behaviour is slow and counted, not hung). Writes to `fail_path` are not done and
// answer kIo.
class HeldWriteFs : public FaultFs {
 public:
  explicit HeldWriteFs(RemoteFs& inner, std::string fail_path = "")
      : FaultFs(inner), fail_path_(std::move(fail_path)), releaser_([this] { ReleaseLate(); }) {}
  ~HeldWriteFs() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    releaser_.join();
  }
  // SetStatAsync calls on a file with a write still unanswered / writes whose answer
  // the releaser had to give (the caller waited for it).
  std::atomic<int> meta_with_write_pending{0};
  std::atomic<int> released_late{0};

  class File : public RemoteFile {
   public:
    File(std::unique_ptr<RemoteFile> f, HeldWriteFs& fs, bool fail)
        : f_(std::move(f)), fs_(fs), fail_(fail) {}
    ~File() override { fs_.Release(this); }
    Result<std::string> Read(uint64_t o, uint32_t n) override { return f_->Read(o, n); }
    Status Write(uint64_t o, std::string_view d) override { return f_->Write(o, d); }
    void ReadAsync(uint64_t o, uint32_t n, ReadCallback cb) override {
      f_->ReadAsync(o, n, std::move(cb));
    }
    void WriteAsync(uint64_t o, std::string d, DoneCallback cb) override {
      Status st = fail_ ? Status::Io("injected: write failed") : f_->Write(o, d);
      fs_.Hold(this, [cb = std::move(cb), st] { cb(st); });
    }
    Result<FileAttr> Stat() override { return f_->Stat(); }
    Status SetStat(const FileAttr& a) override { return f_->SetStat(a); }
    void SetStatAsync(const FileAttr& a, DoneCallback cb) override {
      if (fs_.Release(this) > 0) ++fs_.meta_with_write_pending;
      f_->SetStatAsync(a, std::move(cb));
    }
    Status Sync() override { return f_->Sync(); }
    Status Close() override {
      fs_.Release(this);
      return f_->Close();
    }
    void CloseAsync(DoneCallback cb) override {
      fs_.Release(this);
      f_->CloseAsync(std::move(cb));
    }

   private:
    std::unique_ptr<RemoteFile> f_;
    HeldWriteFs& fs_;
    const bool fail_;
  };
  Result<std::unique_ptr<RemoteFile>> Open(const std::string& p, uint32_t f, uint32_t m) override {
    SKIFF_ASSIGN_OR_RETURN(auto file, FaultFs::Open(p, f, m));
    return std::unique_ptr<RemoteFile>(new File(std::move(file), *this, p == fail_path_));
  }

 private:
  struct Held {
    const File* file;
    std::function<void()> answer;
    std::chrono::steady_clock::time_point since;
  };
  void Hold(const File* file, std::function<void()> answer) {
    std::lock_guard<std::mutex> l(mu_);
    held_.push_back({file, std::move(answer), std::chrono::steady_clock::now()});
  }
  // Answers `file`'s held writes; returns how many there were.
  int Release(const File* file) {
    std::vector<std::function<void()>> out;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (auto it = held_.begin(); it != held_.end();) {
        if (it->file == file) {
          out.push_back(std::move(it->answer));
          it = held_.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& a : out) a();
    return static_cast<int>(out.size());
  }
  void ReleaseLate() {
    std::unique_lock<std::mutex> l(mu_);
    while (!stop_) {
      cv_.wait_for(l, std::chrono::milliseconds(50));
      std::vector<std::function<void()>> out;
      const auto now = std::chrono::steady_clock::now();
      for (auto it = held_.begin(); it != held_.end();) {
        if (stop_ || now - it->since > std::chrono::seconds(1)) {
          out.push_back(std::move(it->answer));
          it = held_.erase(it);
        } else {
          ++it;
        }
      }
      released_late += static_cast<int>(out.size());
      l.unlock();
      for (auto& a : out) a();
      l.lock();
    }
  }

  const std::string fail_path_;
  std::mutex mu_;  // guards held_ and stop_
  std::condition_variable cv_;
  std::vector<Held> held_;
  bool stop_ = false;
  std::thread releaser_;  // last: started after the members it uses
};

}  // namespace

// A small file's content goes in one write, and its attributes and close are sent right
// behind it without waiting for the write's answer (one round trip less per file).
BOOST_AUTO_TEST_CASE(small_files_attributes_follow_their_write_without_waiting) {
  Fixture f;
  constexpr int kSmall = 20;
  fs::create_directories(f.src / "few");
  for (int i = 0; i < kSmall; ++i)
    WriteFile(f.src / "few" / std::to_string(i), RandomBytes(100 + i * 50, 40 + i));
  HeldWriteFs held(f.mem);
  auto s1 = f.Backup(held);
  BOOST_REQUIRE_MESSAGE(s1.ok(), s1.status().ToString());
  // small.txt, hard.txt's first name... : every file of one write; the big ones (several
  // writes) wait for theirs first, and the manifest is not a file of the tree.
  BOOST_TEST(held.meta_with_write_pending.load() >= kSmall + 1);
  BOOST_TEST(held.released_late.load() < 20, "late " << held.released_late.load());
  auto rs = f.Restore("latest", f.dir / "restore");
  BOOST_REQUIRE_MESSAGE(rs.ok(), rs.status().ToString());
  BOOST_TEST(rs->errors == 0u);
  f.ExpectSameTree(f.src, f.dir / "restore" / "data");
}

// The write of such a file fails: its error ends the run (not the close's success), no
// snapshot is published, the file does not stay in the tree looking complete, and the
// next run completes the snapshot.
BOOST_AUTO_TEST_CASE(small_file_whose_write_fails_is_not_kept_and_the_error_is_reported) {
  Fixture f;
  HeldWriteFs held(f.mem, "/repo/snapshots/.incomplete/data/small.txt");
  auto s1 = f.Backup(held);
  BOOST_REQUIRE(!s1.ok());
  BOOST_TEST(s1.status().ToString().find("injected: write failed") != std::string::npos,
             s1.status().ToString());
  auto repo = Repository::Open(f.mem, "/repo", false);
  BOOST_REQUIRE(repo.ok());
  BOOST_TEST(repo->ListSnapshots().value().empty());
  auto a = f.mem.Lstat("/repo/snapshots/.incomplete/data/small.txt");
  BOOST_TEST((!a.ok() || a->size != 6u), "a torn small.txt looks complete");
  auto s2 = f.Backup(f.mem);
  BOOST_REQUIRE_MESSAGE(s2.ok(), s2.status().ToString());
  BOOST_TEST(s2->resumed);
  auto rs = f.Restore("latest", f.dir / "restore");
  BOOST_REQUIRE_MESSAGE(rs.ok(), rs.status().ToString());
  BOOST_TEST(rs->errors == 0u);
  f.ExpectSameTree(f.src, f.dir / "restore" / "data");
}

namespace {

// A FaultFs that counts the files opened for writing on it and holds every open of a
// path containing "big" until Unblock (or 30 s, so a regression fails, not hangs).
class BlockBigFs : public FaultFs {
 public:
  using FaultFs::FaultFs;
  Result<std::unique_ptr<RemoteFile>> Open(const std::string& p, uint32_t f, uint32_t m) override {
    if (f & OpenFlags::kWrite) {
      std::unique_lock<std::mutex> l(mu_);
      opened.push_back(p);
      if (p.find("big") != std::string::npos) {
        ++blocked_;
        cv_.notify_all();
        cv_.wait_for(l, std::chrono::seconds(30), [&] { return unblocked_; });
      }
    }
    return FaultFs::Open(p, f, m);
  }
  void WaitBlocked() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait_for(l, std::chrono::seconds(30), [&] { return blocked_ > 0; });
  }
  void Unblock() {
    std::lock_guard<std::mutex> l(mu_);
    unblocked_ = true;
    cv_.notify_all();
  }
  std::vector<std::string> Opened() {
    std::lock_guard<std::mutex> l(mu_);
    return opened;
  }

 private:
  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  int blocked_ = 0;
  bool unblocked_ = false;
  std::vector<std::string> opened;
};

}  // namespace

// While a big file is being written on one session, small files go to the sessions that
// carry no big file (a session runs its requests in order: theirs would wait behind the
// big file's writes), and the big file avoids the first session (which creates the
// directories) while another is free.
BOOST_AUTO_TEST_CASE(small_files_avoid_the_session_of_a_big_file_in_progress) {
  Fixture f;
  WriteFile(f.src / "big.img", RandomBytes(2 << 20, 50));
  for (int i = 0; i < 6; ++i) WriteFile(f.src / ("s" + std::to_string(i)), "small");
  auto repo = Repository::Open(f.mem, "/repo", true);
  BOOST_REQUIRE(repo.ok());
  BOOST_REQUIRE(f.mem.Mkdir(repo->IncompleteDir(), 0700).ok());
  BOOST_REQUIRE(f.mem.Mkdir(repo->IncompleteDir() + "/data", 0700).ok());
  BlockBigFs first(f.mem), second(f.mem), third(f.mem);
  FileJobConfig c;
  c.incomplete_dir = repo->IncompleteDir();
  c.sessions = {&first, &second, &third};
  c.warn = [](const std::string&) {};
  BackupFileJob job(*repo, f.local, c);
  auto run = [&](const std::string& name) {
    auto st = f.local.Lstat((f.src / name).string());
    BOOST_REQUIRE(st.ok());
    ManifestEntry e;
    e.type = EntryType::kFile;
    e.path = "data/" + name;
    return job.Run((f.src / name).string(), e.path, *st, e, std::nullopt);
  };
  FileJobOutcome big_out;
  std::thread big([&] { big_out = run("big.img"); });
  // Whichever session the big file took (not the first), it is blocked there.
  second.WaitBlocked();
  std::vector<FileJobOutcome> small;
  for (int i = 0; i < 6; ++i) small.push_back(run("s" + std::to_string(i)));
  second.Unblock();
  third.Unblock();
  first.Unblock();
  big.join();
  BOOST_TEST(big_out.status.ok(), big_out.status.ToString());
  BOOST_TEST(big_out.result.has_value());
  for (const auto& o : small) BOOST_TEST((o.status.ok() && o.result.has_value()));
  auto small_files = [](BlockBigFs& s) {
    size_t n = 0;
    for (const auto& p : s.Opened()) n += p.find("/data/s") != std::string::npos;
    return n;
  };
  BOOST_TEST(small_files(first) + small_files(third) == 6u);
  BOOST_TEST(small_files(first) >= 1u);
  BOOST_TEST(small_files(third) >= 1u);
  BOOST_TEST(small_files(second) == 0u);
  BOOST_TEST(second.Opened().front() == repo->IncompleteDir() + "/data/big.img");
}
