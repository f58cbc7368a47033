// Send, restore and prune through the SFTP stream store on MemRemoteFs, with a fake
// ZFS host: the chain on the server, interrupted uploads, corruption found before
// `zfs receive` runs, prune keeping what kept snapshots need.
#include <boost/test/unit_test.hpp>

#include "sync/remote_stream.h"
#include "sync/zfs_prune.h"
#include "sync/zfs_restore.h"
#include "sync/zfs_send.h"
#include "sync/zfs_stream_store.h"
#include "tests/zfs/fake_zfs_host.h"
#include "transport/mem_remote_fs.h"

using namespace skiff;
using namespace skiff::sync;
using skiff::sync::testing::FakeZfsHost;

namespace {

struct Env {
  MemRemoteFs fs;
  FakeZfsHost host;
  Env() {
    Capabilities c = fs.caps();
    c.max_write = 1000;  // many writes per stream
    c.max_read = 700;
    fs.set_caps(c);
    host.AddSnapshot("tank/ds", "s1", 11, std::string(5000, 'x'));
  }
  std::unique_ptr<ZfsStreamStore> Store(bool write = true) {
    auto s = ZfsStreamStore::Open(fs, "/backup/zfs", write);
    BOOST_REQUIRE_MESSAGE(s.ok(), s.status());
    return std::move(s).value();
  }
  Result<ZfsSendResult> Send(bool allow_full = false) {
    auto store = Store();
    ZfsSendOptions o;
    o.dataset = "tank/ds";
    o.allow_full = allow_full;
    o.buffer_bytes = 3000;  // smaller than a stream: the producer must wait
    o.chunk_bytes = 512;
    return ZfsSender(host, *store, o).Run();
  }
  std::vector<std::string> StreamDir() {
    std::vector<std::string> names;
    auto d = fs.ReadDir("/backup/zfs/streams");
    if (d.ok())
      for (const auto& e : *d) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    return names;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(zfs_chain)

BOOST_AUTO_TEST_CASE(full_then_incrementals_stored_as_chain) {
  Env env;
  auto r = env.Send();
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status());
  BOOST_REQUIRE(r->sent.size() == 1u);
  BOOST_TEST(r->sent[0].from.empty());
  env.host.AddSnapshot("tank/ds", "s2", 12, "two");
  env.host.AddSnapshot("tank/ds", "s3", 13, std::string(4000, 'y'));
  r = env.Send();
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status());
  BOOST_REQUIRE(r->sent.size() == 2u);
  BOOST_TEST(r->sent[0].from == "s1");
  BOOST_TEST(r->sent[1].from == "s2");
  auto store = env.Store(false);
  const auto& s = store->index().streams();
  BOOST_REQUIRE(s.size() == 3u);
  BOOST_TEST(store->index().dataset() == "tank/ds");
  BOOST_TEST(s[1].parent_guid == 11u);
  BOOST_TEST(s[2].parent_guid == 12u);
  // Each file holds exactly the stream zfs produced.
  auto body = ReadWholeFile(env.fs, "/backup/zfs/" + s[2].file, 1 << 20);
  BOOST_REQUIRE(body.ok());
  BOOST_TEST(*body == FakeZfsHost::StreamBytes(12, env.host.datasets["tank/ds"][2]));
  BOOST_TEST(s[2].size == body->size());
  // Up to date: nothing more.
  r = env.Send();
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->sent.empty());
  BOOST_TEST(env.StreamDir().size() == 3u);
  // No lock left behind.
  BOOST_TEST(!env.fs.Stat("/backup/zfs/skiff-zfs.lock").ok());
}

BOOST_AUTO_TEST_CASE(failed_send_leaves_no_stream) {
  Env env;
  BOOST_REQUIRE(env.Send().ok());
  env.host.AddSnapshot("tank/ds", "s2", 12, std::string(9000, 'z'));
  env.host.send_error = "I/O error reading block";
  env.host.fail_after = 4000;
  auto r = env.Send();
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.status().message().find("I/O error reading block") != std::string::npos);
  BOOST_TEST(env.StreamDir().size() == 1u);  // only s1's stream: no temp, no partial
  BOOST_TEST(env.Store(false)->index().streams().size() == 1u);
  env.host.send_error.clear();
  r = env.Send();
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status());
  BOOST_TEST(env.Store(false)->index().streams().size() == 2u);
}

BOOST_AUTO_TEST_CASE(abandoned_upload_and_stale_temp_cleaned) {
  Env env;
  {
    auto store = env.Store();
    ZfsStreamHeader h{"tank/ds", "s1", 11, 0};
    auto up = store->Begin(h);
    BOOST_REQUIRE(up.ok());
    BOOST_REQUIRE((*up)->Write("partial").ok());
    BOOST_TEST(env.StreamDir().size() == 1u);  // the temp
  }                                            // destroyed without Commit
  BOOST_TEST(env.StreamDir().empty());
  BOOST_TEST(env.Store(false)->index().streams().empty());
  // A temp left by a killed process (no destructor ran) is removed by the next writer.
  auto f = env.fs.Open("/backup/zfs/streams/.tmp-999-dead", OpenFlags::kWrite | OpenFlags::kCreate);
  BOOST_REQUIRE(f.ok());
  BOOST_REQUIRE((*f)->Close().ok());
  BOOST_REQUIRE(env.Send().ok());
  BOOST_TEST(env.StreamDir().size() == 1u);
  BOOST_TEST(env.StreamDir()[0] == ZfsStreamFileName(11, 0).substr(8));
}

BOOST_AUTO_TEST_CASE(second_writer_is_refused) {
  Env env;
  auto first = env.Store();
  auto second = ZfsStreamStore::Open(env.fs, "/backup/zfs", true);
  BOOST_REQUIRE(!second.ok());
  BOOST_TEST(second.status().Is(Code::kBusy));
  BOOST_TEST(second.status().message().find("skiff-zfs.lock") != std::string::npos);
  first.reset();
  BOOST_TEST(ZfsStreamStore::Open(env.fs, "/backup/zfs", true).ok());
}

BOOST_AUTO_TEST_CASE(diverged_destination_refused_then_allow_full) {
  Env env;
  BOOST_REQUIRE(env.Send().ok());
  env.host.AddSnapshot("tank/ds", "s2", 12, "two");
  BOOST_REQUIRE(env.Send().ok());
  // The source is rolled back to s1 and takes a different s2.
  env.host.datasets["tank/ds"].pop_back();
  env.host.AddSnapshot("tank/ds", "s2", 22, "other two");
  int sends = env.host.sends_started;
  auto r = env.Send();
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.status().message().find("diverged") != std::string::npos);
  BOOST_TEST(env.host.sends_started == sends);  // zfs send never ran
  r = env.Send(/*allow_full=*/true);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status());
  BOOST_TEST(r->sent.at(0).from.empty());
  auto store = env.Store(false);
  BOOST_REQUIRE(store->index().streams().size() == 3u);
  BOOST_TEST(store->index().Newest()->guid == 22u);
  BOOST_TEST(store->index().Newest()->full());
}

BOOST_AUTO_TEST_CASE(restore_receives_chain_in_order) {
  Env env;
  BOOST_REQUIRE(env.Send().ok());
  env.host.AddSnapshot("tank/ds", "s2", 12, "two");
  env.host.AddSnapshot("tank/ds", "s3", 13, "three");
  BOOST_REQUIRE(env.Send().ok());
  auto store = env.Store(false);
  ZfsRestoreOptions o;
  o.snapshot = "s2";
  o.target_dataset = "tank/restored";
  auto r = RestoreZfsChain(*store, env.host, o);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status());
  const auto& got = env.host.datasets["tank/restored"];
  BOOST_REQUIRE(got.size() == 2u);
  BOOST_TEST(got[0].guid == 11u);
  BOOST_TEST(got[1].guid == 12u);
  BOOST_TEST(got[1].payload == "two");
  // Never into an existing dataset.
  auto again = RestoreZfsChain(*store, env.host, o);
  BOOST_TEST(again.status().Is(Code::kExists));
  o.snapshot = "nope";
  o.target_dataset = "tank/r2";
  auto missing = RestoreZfsChain(*store, env.host, o);
  BOOST_TEST(missing.status().Is(Code::kNotFound));
  BOOST_TEST(missing.status().message().find("s3") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(corruption_detected_before_receive) {
  Env env;
  BOOST_REQUIRE(env.Send().ok());
  env.host.AddSnapshot("tank/ds", "s2", 12, std::string(3000, 'q'));
  BOOST_REQUIRE(env.Send().ok());
  auto store = env.Store(false);
  // Flip one byte in the middle of the LAST stream of the chain.
  const auto& last = store->index().streams().back();
  {
    auto f = env.fs.Open("/backup/zfs/" + last.file, OpenFlags::kWrite);
    BOOST_REQUIRE(f.ok());
    BOOST_REQUIRE((*f)->Write(1500, "Q").ok());
  }
  ZfsRestoreOptions o;
  o.target_dataset = "tank/restored";
  auto r = RestoreZfsChain(*store, env.host, o);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.status().Is(Code::kCorrupt));
  BOOST_TEST(r.status().message().find(last.file) != std::string::npos);
  BOOST_TEST(env.host.receives_started == 0);  // zfs receive never started
  BOOST_TEST(env.host.datasets.count("tank/restored") == 0u);
  // A truncated file is caught the same way.
  {
    FileAttr a;
    a.valid = FileAttr::kSize;
    a.size = 10;
    BOOST_REQUIRE(env.fs.SetStat("/backup/zfs/" + store->index().streams().front().file, a).ok());
  }
  r = RestoreZfsChain(*store, env.host, o);
  BOOST_TEST(r.status().Is(Code::kCorrupt));
  BOOST_TEST(env.host.receives_started == 0);
}

BOOST_AUTO_TEST_CASE(prune_keeps_what_kept_snapshots_need) {
  Env env;
  BOOST_REQUIRE(env.Send().ok());  // s1 full
  env.host.AddSnapshot("tank/ds", "s2", 12, "two");
  BOOST_REQUIRE(env.Send().ok());  // s2 <- s1
  // A new chain: s3 full (rolled back source), then s4 <- s3.
  env.host.datasets["tank/ds"].clear();
  env.host.AddSnapshot("tank/ds", "s3", 13, "three");
  BOOST_REQUIRE(env.Send(true).ok());
  env.host.AddSnapshot("tank/ds", "s4", 14, "four");
  BOOST_REQUIRE(env.Send().ok());
  BOOST_REQUIRE(env.StreamDir().size() == 4u);

  // keep-last 1 = s4, which needs s3's full stream; s1 and s2 go.
  {
    auto store = env.Store();
    ZfsPruneOptions o;
    o.keep_last = 1;
    auto plan = PlanZfsPrune(store->index(), o);
    BOOST_REQUIRE(plan.ok());
    BOOST_REQUIRE(plan->keep.size() == 2u);
    BOOST_TEST(plan->keep[0].snapshot == "s3");
    BOOST_TEST(plan->keep[1].snapshot == "s4");
    // --keep s2 keeps s1 too (its full stream).
    o.keep = {"s2"};
    plan = PlanZfsPrune(store->index(), o);
    BOOST_REQUIRE(plan.ok());
    BOOST_TEST(plan->remove.empty());
    o.keep = {};
    o.dry_run = true;
    BOOST_REQUIRE(PruneZfsStore(*store, o).ok());
    BOOST_TEST(env.StreamDir().size() == 4u);
    o.dry_run = false;
    auto done = PruneZfsStore(*store, o);
    BOOST_REQUIRE(done.ok());
    BOOST_TEST(done->remove.size() == 2u);
  }
  auto store = env.Store(false);
  BOOST_REQUIRE(store->index().streams().size() == 2u);
  BOOST_TEST(env.StreamDir().size() == 2u);
  // What is left still restores.
  ZfsRestoreOptions r;
  r.target_dataset = "tank/back";
  auto res = RestoreZfsChain(*store, env.host, r);
  BOOST_REQUIRE_MESSAGE(res.ok(), res.status());
  BOOST_TEST(env.host.datasets["tank/back"].back().payload == "four");
  // Keeping nothing is refused.
  BOOST_TEST(!PlanZfsPrune(store->index(), ZfsPruneOptions{}).ok());
  ZfsPruneOptions bad;
  bad.keep = {"gone"};
  BOOST_TEST(!PlanZfsPrune(store->index(), bad).ok());
}

BOOST_AUTO_TEST_CASE(raw_unsupported_reports_zfs_message) {
  Env env;
  auto store = env.Store();
  ZfsSendOptions o;
  o.dataset = "tank/ds";
  o.raw = true;
  auto r = ZfsSender(env.host, *store, o).Run();
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.status().message().find("invalid option 'w'") != std::string::npos);
  BOOST_TEST(env.StreamDir().empty());
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

// Delegates to MemRemoteFs but stores a flipped byte in every stream upload: a server
// (or disk) that silently stores something else than what was sent.
class FlippingFs : public RemoteFs {
 public:
  explicit FlippingFs(RemoteFs& in) : in_(in) {}
  class File : public RemoteFile {
   public:
    explicit File(std::unique_ptr<RemoteFile> f) : f_(std::move(f)) {}
    Result<std::string> Read(uint64_t o, uint32_t l) override { return f_->Read(o, l); }
    Status Write(uint64_t o, std::string_view d) override { return f_->Write(o, Flip(o, d)); }
    void ReadAsync(uint64_t o, uint32_t l, ReadCallback cb) override { f_->ReadAsync(o, l, cb); }
    void WriteAsync(uint64_t o, std::string d, DoneCallback cb) override {
      f_->WriteAsync(o, Flip(o, d), cb);
    }
    Result<FileAttr> Stat() override { return f_->Stat(); }
    Status SetStat(const FileAttr& a) override { return f_->SetStat(a); }
    Status Sync() override { return f_->Sync(); }
    Status Close() override { return f_->Close(); }

   private:
    static std::string Flip(uint64_t o, std::string_view d) {
      std::string s(d);
      if (o == 0 && !s.empty()) s[0] ^= 1;
      return s;
    }
    std::unique_ptr<RemoteFile> f_;
  };
  const Capabilities& caps() const override { return in_.caps(); }
  Result<FileAttr> Stat(const std::string& p) override { return in_.Stat(p); }
  Result<FileAttr> Lstat(const std::string& p) override { return in_.Lstat(p); }
  Status SetStat(const std::string& p, const FileAttr& a) override { return in_.SetStat(p, a); }
  Status LSetStat(const std::string& p, const FileAttr& a) override { return in_.LSetStat(p, a); }
  Result<std::vector<DirEntry>> ReadDir(const std::string& p) override { return in_.ReadDir(p); }
  Result<std::unique_ptr<RemoteFile>> Open(const std::string& p, uint32_t fl, uint32_t m) override {
    auto f = in_.Open(p, fl, m);
    if (!f.ok() || p.find("/streams/.tmp-") == std::string::npos) return f;
    return std::unique_ptr<RemoteFile>(new File(std::move(f).value()));
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
  Status CopyData(RemoteFile& s, uint64_t so, uint64_t l, RemoteFile& d, uint64_t dO) override {
    return in_.CopyData(s, so, l, d, dO);
  }

 private:
  RemoteFs& in_;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(zfs_verify)

BOOST_AUTO_TEST_CASE(verify_uploads_catches_a_server_that_stores_other_bytes) {
  MemRemoteFs mem;
  FlippingFs bad(mem);
  FakeZfsHost host;
  host.AddSnapshot("tank/ds", "s1", 11, std::string(5000, 'x'));
  ZfsSendOptions o;
  o.dataset = "tank/ds";
  {
    // Without read-back the damage is only found at restore (before receive).
    auto store = ZfsStreamStore::Open(bad, "/z", true);
    BOOST_REQUIRE(store.ok());
    BOOST_REQUIRE(ZfsSender(host, **store, o).Run().ok());
    ZfsRestoreOptions r;
    r.target_dataset = "tank/back";
    BOOST_TEST(RestoreZfsChain(**store, host, r).status().Is(Code::kCorrupt));
    BOOST_TEST(host.receives_started == 0);
  }
  host.AddSnapshot("tank/ds", "s2", 12, "two");
  auto store = ZfsStreamStore::Open(bad, "/z", true);
  BOOST_REQUIRE(store.ok());
  (*store)->set_verify_uploads(true);
  auto sent = ZfsSender(host, **store, o).Run();
  BOOST_REQUIRE(!sent.ok());
  BOOST_TEST(sent.status().Is(Code::kCorrupt));
  BOOST_TEST(sent.status().message().find("reading back") != std::string::npos);
  BOOST_TEST((*store)->index().streams().size() == 1u);  // s2 not published
  auto dir = mem.ReadDir("/z/streams");
  BOOST_REQUIRE(dir.ok());
  BOOST_TEST(dir->size() == 1u);  // and its temp removed
}

BOOST_AUTO_TEST_SUITE_END()
