// The namespace and caching semantics of doc/SEMANTICS.md, driven on MemRemoteFs.
#define BOOST_TEST_MODULE fs_semantics
#include <sys/stat.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <cstdio>
#include <set>

#include "fs/errno_map.h"
#include "tests/fs/fs_fixture.h"

using skiff::Code;
using skiff::FileAttr;
using skiff::fs::CacheMode;
using skiff::fs::FsOp;
using skiff::fs::MountOptions;
using skiff::fs::StatusToErrno;
using skiff::testing::FsFixture;

namespace {
constexpr uint64_t kRoot = 1;
}

BOOST_AUTO_TEST_SUITE(names)

BOOST_AUTO_TEST_CASE(lookup_of_missing_name_is_a_cacheable_negative_entry) {
  FsFixture f;
  auto e = f.filesystem->Lookup(kRoot, "nope");
  BOOST_REQUIRE(e.ok());
  BOOST_CHECK_EQUAL(e->ino, 0u);
  BOOST_CHECK_GT(e->entry_timeout, 0.0);
}

BOOST_AUTO_TEST_CASE(new_directory_answers_lookups_without_round_trips) {
  // SEMANTICS.md "Small files": after mkdir the directory is known to be empty, so the
  // kernel's "does x exist?" before each create costs nothing.
  FsFixture f;
  auto d = f.filesystem->Mkdir(kRoot, "d", 0755);
  BOOST_REQUIRE(d.ok());
  uint64_t before = f.faulty->calls();
  auto e = f.filesystem->Lookup(d->ino, "x");
  BOOST_REQUIRE(e.ok());
  BOOST_CHECK_EQUAL(e->ino, 0u);
  BOOST_CHECK_EQUAL(f.faulty->calls(), before);
  f.MakeFile(d->ino, "x", "hello");
  auto e2 = f.filesystem->Lookup(d->ino, "x");
  BOOST_REQUIRE(e2.ok());
  BOOST_CHECK_NE(e2->ino, 0u);
  BOOST_CHECK_EQUAL(e2->attr.st_size, 5);
  BOOST_CHECK(S_ISREG(e2->attr.st_mode));
}

BOOST_AUTO_TEST_CASE(untar_round_trips_per_file) {
  // SEMANTICS.md §4, GNU tar's sequence as the kernel delivers it. Per file: lookup 0,
  // create 1 OPEN, write 1 WRITE (pipelined), futimens without a handle 1 FSETSTAT
  // (queued behind the WRITE), flush 0 (waits), release 1 CLOSE (background) = 4
  // requests. Per directory: mkdir 1 MKDIR (attributes computed), then at the end
  // utimens 1 SETSTAT and chmod 1 SETSTAT.
  FsFixture f;
  auto top = f.filesystem->Mkdir(kRoot, "top", 0755);  // learns uid/gid/umask/dir size
  BOOST_REQUIRE(top.ok());
  f.MakeFile(top->ino, "first", "x");
  f.filesystem->WaitForBackgroundCloses();
  uint64_t before = f.faulty->calls();
  auto d = f.filesystem->Mkdir(top->ino, "d", 0700);
  BOOST_REQUIRE(d.ok());
  BOOST_CHECK_EQUAL(f.faulty->calls() - before, 1u);
  before = f.faulty->calls();
  skiff::fs::SetAttrRequest times;
  times.mtime = 1000000000;  // atime: UTIME_OMIT, as tar sends it
  for (int i = 0; i < 10; ++i) {
    std::string name = "f" + std::to_string(i);
    auto e = f.filesystem->Lookup(d->ino, name);
    BOOST_REQUIRE(e.ok() && e->ino == 0);
    auto c = f.filesystem->Create(d->ino, name, 0644, O_WRONLY | O_CREAT | O_EXCL);
    BOOST_REQUIRE(c.ok());
    BOOST_REQUIRE(f.filesystem->Write(c->second.fh, 0, "content " + name).ok());
    BOOST_REQUIRE(f.filesystem->SetAttr(c->first.ino, std::nullopt, times).ok());
    BOOST_REQUIRE(f.filesystem->Flush(c->second.fh).ok());
    BOOST_REQUIRE(f.filesystem->Release(c->second.fh).ok());
  }
  // Release is asynchronous: let the background closer finish before counting.
  f.filesystem->WaitForBackgroundCloses();
  BOOST_CHECK_EQUAL(f.faulty->calls() - before, 10u * 4u);
  auto st = f.mem->Stat("/m/top/d/f3");
  BOOST_REQUIRE(st.ok());
  BOOST_CHECK_EQUAL(st->mtime, 1000000000);
  BOOST_CHECK_EQUAL(st->size, 10u);
  before = f.faulty->calls();
  BOOST_REQUIRE(f.filesystem->SetAttr(d->ino, std::nullopt, times).ok());
  skiff::fs::SetAttrRequest chmod;
  chmod.mode = 0755;
  BOOST_REQUIRE(f.filesystem->SetAttr(d->ino, std::nullopt, chmod).ok());
  BOOST_CHECK_EQUAL(f.faulty->calls() - before, 2u);
  auto ds = f.mem->Stat("/m/top/d");
  BOOST_REQUIRE(ds.ok());
  BOOST_CHECK_EQUAL(ds->mtime, 1000000000);
  BOOST_CHECK_EQUAL(ds->mode & 07777, 0755u);
}

BOOST_AUTO_TEST_CASE(created_file_attributes_match_the_server) {
  FsFixture f;
  uint64_t a = f.MakeFile(kRoot, "a", "", 0640);
  uint64_t b = f.MakeFile(kRoot, "b", "", 0600);  // synthesized, no fstat
  for (auto [ino, path] : {std::pair{a, "/m/a"}, std::pair{b, "/m/b"}}) {
    auto mine = f.filesystem->GetAttr(ino, std::nullopt);
    auto server = f.mem->Lstat(path);
    BOOST_REQUIRE(mine.ok() && server.ok());
    BOOST_CHECK_EQUAL(mine->attr.st_mode, server->mode);
    BOOST_CHECK_EQUAL(mine->attr.st_uid, server->uid);
    BOOST_CHECK_EQUAL(mine->attr.st_size, static_cast<off_t>(server->size));
  }
}

BOOST_AUTO_TEST_CASE(mkdir_attributes_are_computed_after_the_first) {
  // SEMANTICS.md §4: the first mkdir of a mount stats the new directory (size, umask,
  // owner); later ones cost the MKDIR only, with attributes equal to the server's. A
  // create asking for permission bits no earlier create asked for stats again.
  FsFixture f;
  auto d0 = f.filesystem->Mkdir(kRoot, "d0", 0755);
  BOOST_REQUIRE(d0.ok());
  uint64_t before = f.faulty->calls();
  auto d1 = f.filesystem->Mkdir(kRoot, "d1", 0700);
  BOOST_REQUIRE(d1.ok());
  BOOST_CHECK_EQUAL(f.faulty->calls() - before, 1u);
  auto server = f.mem->Lstat("/m/d1");
  BOOST_REQUIRE(server.ok());
  BOOST_CHECK_EQUAL(d1->attr.st_mode, server->mode);
  BOOST_CHECK_EQUAL(d1->attr.st_uid, server->uid);
  BOOST_CHECK_EQUAL(d1->attr.st_size, static_cast<off_t>(server->size));
  before = f.faulty->calls();
  f.MakeFile(kRoot, "a", "", 0644);  // bits within 0755: computed
  f.filesystem->WaitForBackgroundCloses();
  BOOST_CHECK_EQUAL(f.faulty->calls() - before, 2u);  // OPEN, CLOSE
  before = f.faulty->calls();
  f.MakeFile(kRoot, "b", "", 0666);  // 0022 never asked for: one fstat
  f.filesystem->WaitForBackgroundCloses();
  BOOST_CHECK_EQUAL(f.faulty->calls() - before, 3u);  // OPEN, FSTAT, CLOSE
}

BOOST_AUTO_TEST_CASE(unlink_rmdir_and_own_changes_update_caches) {
  FsFixture f;
  auto d = f.filesystem->Mkdir(kRoot, "d", 0755);
  BOOST_REQUIRE(d.ok());
  f.MakeFile(d->ino, "x", "1");
  BOOST_CHECK(f.filesystem->Rmdir(kRoot, "d").code() == Code::kNotEmpty);
  BOOST_CHECK_EQUAL(StatusToErrno(f.filesystem->Rmdir(kRoot, "d")), ENOTEMPTY);
  BOOST_REQUIRE(f.filesystem->Unlink(d->ino, "x").ok());
  BOOST_CHECK_EQUAL(f.filesystem->Lookup(d->ino, "x")->ino, 0u);
  BOOST_REQUIRE(f.filesystem->Rmdir(kRoot, "d").ok());
  BOOST_CHECK_EQUAL(f.filesystem->Lookup(kRoot, "d")->ino, 0u);
  BOOST_CHECK(!f.mem->Lstat("/m/d").ok());
  // The removed directory's inode is stale, not silently pointing elsewhere.
  BOOST_CHECK_EQUAL(StatusToErrno(f.filesystem->OpenDir(d->ino).status()), ESTALE);
}

BOOST_AUTO_TEST_CASE(rename_replaces_atomically_and_honours_noreplace) {
  FsFixture f;
  uint64_t a = f.MakeFile(kRoot, "a", "AAA");
  f.MakeFile(kRoot, "b", "B");
  // rename(2) over an existing file replaces it (posix-rename).
  BOOST_REQUIRE(f.filesystem->Rename(kRoot, "a", kRoot, "b", 0).ok());
  BOOST_CHECK_EQUAL(f.ServerContent("/m/b"), "AAA");
  BOOST_CHECK_EQUAL(f.filesystem->Lookup(kRoot, "a")->ino, 0u);
  auto b = f.filesystem->Lookup(kRoot, "b");
  BOOST_CHECK_EQUAL(b->ino, a);  // the inode moved with its name
  BOOST_CHECK_EQUAL(b->attr.st_size, 3);
  // RENAME_NOREPLACE over an existing name: EEXIST, nothing changes.
  f.MakeFile(kRoot, "c", "C");
  auto s = f.filesystem->Rename(kRoot, "c", kRoot, "b", RENAME_NOREPLACE);
  BOOST_CHECK_EQUAL(StatusToErrno(s), EEXIST);
  BOOST_CHECK_EQUAL(f.ServerContent("/m/b"), "AAA");
  BOOST_CHECK(f.filesystem->Rename(kRoot, "c", kRoot, "new", RENAME_NOREPLACE).ok());
  // RENAME_EXCHANGE cannot be done over SFTP: EINVAL.
  BOOST_CHECK_EQUAL(StatusToErrno(f.filesystem->Rename(kRoot, "b", kRoot, "new", RENAME_EXCHANGE)),
                    EINVAL);
}

BOOST_AUTO_TEST_CASE(rename_of_a_directory_moves_its_subtree) {
  FsFixture f;
  auto d = f.filesystem->Mkdir(kRoot, "d", 0755);
  auto e = f.filesystem->Mkdir(d->ino, "e", 0755);
  uint64_t x = f.MakeFile(e->ino, "x", "deep");
  BOOST_REQUIRE(f.filesystem->Rename(kRoot, "d", kRoot, "d2", 0).ok());
  // Inodes looked up before the rename keep working under the new name.
  BOOST_CHECK_EQUAL(f.ReadAll(x), "deep");
  auto again = f.filesystem->Lookup(e->ino, "x");
  BOOST_CHECK_EQUAL(again->ino, x);
  BOOST_CHECK_EQUAL(f.ServerContent("/m/d2/e/x"), "deep");
}

BOOST_AUTO_TEST_CASE(symlink_and_readlink) {
  FsFixture f;
  f.MakeFile(kRoot, "target", "t");
  auto l = f.filesystem->Symlink("target", kRoot, "link");
  BOOST_REQUIRE(l.ok());
  BOOST_CHECK(S_ISLNK(l->attr.st_mode));
  BOOST_CHECK_EQUAL(l->attr.st_size, 6);
  BOOST_CHECK_EQUAL(*f.filesystem->Readlink(l->ino), "target");
  BOOST_CHECK_EQUAL(*f.mem->Readlink("/m/link"), "target");
}

BOOST_AUTO_TEST_CASE(follow_symlinks_shows_the_target) {
  MountOptions o;
  o.follow_symlinks = true;
  FsFixture f(o);
  BOOST_REQUIRE(f.mem->Symlink("/m/t", "/m/l").ok());
  BOOST_REQUIRE(f.mem->Symlink("/m/missing", "/m/dangling").ok());
  f.MakeFile(kRoot, "t", "12345");
  auto l = f.filesystem->Lookup(kRoot, "l");
  BOOST_CHECK(S_ISREG(l->attr.st_mode));
  BOOST_CHECK_EQUAL(l->attr.st_size, 5);
  auto d = f.filesystem->Lookup(kRoot, "dangling");
  BOOST_CHECK(S_ISLNK(d->attr.st_mode));
}

BOOST_AUTO_TEST_CASE(hardlink_and_its_absence) {
  FsFixture f;
  uint64_t a = f.MakeFile(kRoot, "a", "shared");
  auto l = f.filesystem->Link(a, kRoot, "b");
  BOOST_REQUIRE(l.ok());
  BOOST_CHECK_EQUAL(f.ServerContent("/m/b"), "shared");
  auto caps = f.mem->caps();
  caps.hardlink = false;
  f.mem->set_caps(caps);
  auto s = f.filesystem->Link(a, kRoot, "c");
  BOOST_CHECK_EQUAL(StatusToErrno(s.status(), FsOp::kLink), EPERM);
}

BOOST_AUTO_TEST_CASE(mknod_of_fifo_and_device_is_eperm_regular_file_works) {
  FsFixture f;
  auto fifo = f.filesystem->Mknod(kRoot, "fifo", S_IFIFO | 0644, 0);
  BOOST_CHECK_EQUAL(StatusToErrno(fifo.status(), FsOp::kMknod), EPERM);
  auto dev = f.filesystem->Mknod(kRoot, "dev", S_IFCHR | 0644, 0x0101);
  BOOST_CHECK_EQUAL(StatusToErrno(dev.status(), FsOp::kMknod), EPERM);
  auto reg = f.filesystem->Mknod(kRoot, "reg", S_IFREG | 0644, 0);
  BOOST_REQUIRE(reg.ok());
  BOOST_CHECK(f.mem->Lstat("/m/reg")->IsRegular());
}

BOOST_AUTO_TEST_CASE(setattr_chmod_chown_truncate_utimens) {
  FsFixture f;
  uint64_t a = f.MakeFile(kRoot, "a", "0123456789");
  skiff::fs::SetAttrRequest r;
  r.mode = 0600;
  auto m = f.filesystem->SetAttr(a, std::nullopt, r);
  BOOST_REQUIRE(m.ok());
  BOOST_CHECK_EQUAL(m->attr.st_mode & 07777, 0600u);
  BOOST_CHECK_EQUAL(f.mem->Lstat("/m/a")->mode & 07777, 0600u);
  skiff::fs::SetAttrRequest t;
  t.size = 4;
  BOOST_CHECK_EQUAL(f.filesystem->SetAttr(a, std::nullopt, t)->attr.st_size, 4);
  BOOST_CHECK_EQUAL(f.ServerContent("/m/a"), "0123");
  skiff::fs::SetAttrRequest u;
  u.mtime = 1234567890;  // atime is kept (SFTP sets both: the other comes from the cache)
  auto before = f.mem->Lstat("/m/a");
  BOOST_REQUIRE(f.filesystem->SetAttr(a, std::nullopt, u).ok());
  BOOST_CHECK_EQUAL(f.mem->Lstat("/m/a")->mtime, 1234567890);
  BOOST_CHECK_EQUAL(f.mem->Lstat("/m/a")->atime, before->atime);
  skiff::fs::SetAttrRequest o;
  o.uid = 4242;
  BOOST_REQUIRE(f.filesystem->SetAttr(a, std::nullopt, o).ok());
  BOOST_CHECK_EQUAL(f.mem->Lstat("/m/a")->uid, 4242u);
}

BOOST_AUTO_TEST_CASE(forget_drops_inodes) {
  FsFixture f;
  f.MakeFile(kRoot, "a", "x");
  size_t base = f.filesystem->inode_count();
  auto e1 = f.filesystem->Lookup(kRoot, "a");
  auto e2 = f.filesystem->Lookup(kRoot, "a");
  BOOST_CHECK_EQUAL(e1->ino, e2->ino);
  // MakeFile's create took one reference, the lookups two more.
  f.filesystem->Forget(e1->ino, 3);
  BOOST_CHECK_EQUAL(f.filesystem->inode_count(), base - 1);
  // Forgetting the root never removes it.
  f.filesystem->Forget(kRoot, 100);
  BOOST_CHECK(f.filesystem->GetAttr(kRoot, std::nullopt).ok());
}

BOOST_AUTO_TEST_CASE(readdirplus_of_10000_entries_in_small_buffers) {
  FsFixture f;
  BOOST_REQUIRE(f.mem->Mkdir("/m/big").ok());
  for (int i = 0; i < 10000; ++i) {
    auto h = f.mem->Open("/m/big/" + std::to_string(i),
                         skiff::OpenFlags::kWrite | skiff::OpenFlags::kCreate);
    BOOST_REQUIRE(h.ok());
  }
  auto d = f.filesystem->Lookup(kRoot, "big");
  auto dh = f.filesystem->OpenDir(d->ino);
  BOOST_REQUIRE(dh.ok());
  std::set<std::string> seen;
  uint64_t off = 0;
  size_t inodes_before = f.filesystem->inode_count();
  for (int calls = 0;; ++calls) {
    int taken = 0;
    uint64_t next = off;
    BOOST_REQUIRE(f.filesystem
                      ->ReadDir(*dh, off, true,
                                [&](const skiff::fs::DirItem& it) {
                                  if (taken == 37) return false;  // "buffer full"
                                  ++taken;
                                  if (it.name != "." && it.name != "..") {
                                    BOOST_CHECK(it.entry.ino != 0);
                                    seen.insert(it.name);
                                  }
                                  next = it.next_offset;
                                  return true;
                                })
                      .ok());
    if (taken == 0) break;
    off = next;
    BOOST_REQUIRE_LT(calls, 1000);
  }
  BOOST_CHECK_EQUAL(seen.size(), 10000u);
  // Exactly one lookup reference per accepted entry: rejected ones were given back.
  BOOST_CHECK_EQUAL(f.filesystem->inode_count(), inodes_before + 10000);
  BOOST_CHECK(f.filesystem->ReleaseDir(*dh).ok());
}

BOOST_AUTO_TEST_CASE(statfs_with_and_without_statvfs) {
  FsFixture f;
  auto s = f.filesystem->StatFs();
  BOOST_REQUIRE(s.ok());
  BOOST_CHECK_EQUAL(s->f_bsize, 4096u);
  auto caps = f.mem->caps();
  caps.statvfs = false;
  f.mem->set_caps(caps);
  auto fb = f.filesystem->StatFs();
  BOOST_REQUIRE(fb.ok());
  BOOST_CHECK_GT(fb->f_bavail, 0u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(caching)

BOOST_AUTO_TEST_CASE(close_to_open_keeps_page_cache_only_when_unchanged) {
  // SEMANTICS.md "Consistency": another client's change is seen at the next open.
  FsFixture f;
  std::vector<uint64_t> invalidated;
  f.filesystem->set_attr_invalidator([&](uint64_t ino) { invalidated.push_back(ino); });
  uint64_t a = f.MakeFile(kRoot, "a", "v1");
  BOOST_CHECK_EQUAL(f.ReadAll(a), "v1");
  invalidated.clear();
  auto o1 = f.filesystem->Open(a, O_RDONLY);
  BOOST_CHECK(o1->keep_cache);  // unchanged since the last open
  BOOST_CHECK(invalidated.empty());
  (void)f.filesystem->Release(o1->fh);
  // Another client rewrites the file behind our back.
  {
    auto h = f.mem->Open("/m/a", skiff::OpenFlags::kWrite | skiff::OpenFlags::kTruncate);
    BOOST_REQUIRE((*h)->Write(0, "version 2").ok());
  }
  auto o2 = f.filesystem->Open(a, O_RDONLY);
  BOOST_CHECK(!o2->keep_cache);
  // The kernel is told to drop the size it may still hold from an earlier lookup.
  BOOST_REQUIRE_EQUAL(invalidated.size(), 1u);
  BOOST_CHECK_EQUAL(invalidated[0], a);
  BOOST_CHECK_EQUAL(f.filesystem->GetAttr(a, std::nullopt)->attr.st_size, 9);
  (void)f.filesystem->Release(o2->fh);
  BOOST_CHECK_EQUAL(f.ReadAll(a), "version 2");
}

BOOST_AUTO_TEST_CASE(our_own_writes_drop_the_page_cache_at_next_open) {
  FsFixture f;
  uint64_t a = f.MakeFile(kRoot, "a", "v1");
  (void)f.ReadAll(a);
  auto w = f.filesystem->Open(a, O_WRONLY);
  BOOST_REQUIRE(f.filesystem->Write(w->fh, 0, "v2").ok());
  BOOST_REQUIRE(f.filesystem->Flush(w->fh).ok());
  (void)f.filesystem->Release(w->fh);
  auto r = f.filesystem->Open(a, O_RDONLY);
  BOOST_CHECK(!r->keep_cache);
  (void)f.filesystem->Release(r->fh);
}

BOOST_AUTO_TEST_CASE(attributes_are_cached_until_the_timeout) {
  MountOptions o;
  o.attr_timeout = 5;
  FsFixture f(o);
  uint64_t a = f.MakeFile(kRoot, "a", "x");
  skiff::FileAttr chmod;
  chmod.valid = skiff::FileAttr::kPermissions;
  chmod.mode = 0700;
  BOOST_REQUIRE(f.mem->SetStat("/m/a", chmod).ok());  // another client
  BOOST_CHECK_EQUAL(f.filesystem->GetAttr(a, std::nullopt)->attr.st_mode & 0777, 0644u);
  f.Advance(6);
  BOOST_CHECK_EQUAL(f.filesystem->GetAttr(a, std::nullopt)->attr.st_mode & 0777, 0700u);
}

BOOST_AUTO_TEST_CASE(strict_mode_caches_nothing) {
  MountOptions o;
  BOOST_REQUIRE(skiff::fs::ApplyMountOptions("cache=strict", o).ok());
  FsFixture f(o);
  uint64_t a = f.MakeFile(kRoot, "a", "x");
  (void)f.ReadAll(a);
  auto r = f.filesystem->Open(a, O_RDONLY);
  BOOST_CHECK(!r->keep_cache);
  (void)f.filesystem->Release(r->fh);
  uint64_t before = f.faulty->stat_calls();
  (void)f.filesystem->GetAttr(a, std::nullopt);
  BOOST_CHECK_EQUAL(f.faulty->stat_calls(), before + 1);
  BOOST_REQUIRE(f.mem->Remove("/m/a").ok());
  BOOST_CHECK_EQUAL(f.filesystem->Lookup(kRoot, "a")->ino, 0u);
}

BOOST_AUTO_TEST_CASE(loose_mode_keeps_the_page_cache) {
  MountOptions o;
  BOOST_REQUIRE(skiff::fs::ApplyMountOptions("cache=loose", o).ok());
  FsFixture f(o);
  uint64_t a = f.MakeFile(kRoot, "a", "x");
  auto r = f.filesystem->Open(a, O_RDONLY);
  BOOST_CHECK(r->keep_cache);
  (void)f.filesystem->Release(r->fh);
}

BOOST_AUTO_TEST_CASE(directory_listing_is_cached_and_refreshed) {
  MountOptions o;
  o.dir_timeout = 10;
  FsFixture f(o);
  f.MakeFile(kRoot, "a", "x");
  auto count = [&] {
    auto dh = f.filesystem->OpenDir(kRoot);
    int n = 0;
    (void)f.filesystem->ReadDir(*dh, 0, true, [&](const skiff::fs::DirItem& it) {
      if (it.name != "." && it.name != "..") {
        ++n;
        f.filesystem->Forget(it.entry.ino, 1);
      }
      return true;
    });
    (void)f.filesystem->ReleaseDir(*dh);
    return n;
  };
  BOOST_CHECK_EQUAL(count(), 1);
  BOOST_REQUIRE(f.mem->Mkdir("/m/other").ok());  // another client
  BOOST_CHECK_EQUAL(count(), 1);
  f.MakeFile(kRoot, "b", "y");  // our own change is visible at once
  BOOST_CHECK_EQUAL(count(), 2);
  f.Advance(11);
  BOOST_CHECK_EQUAL(count(), 3);
}

BOOST_AUTO_TEST_CASE(subdirectory_listings_are_prefetched_when_a_directory_is_opened) {
  // SEMANTICS.md "Consistency": opening a directory lists its subdirectories in the
  // background, so a tree walk finds them cached (no request when it opens them).
  FsFixture f;
  BOOST_REQUIRE(f.mem->Mkdir("/m/t").ok());
  for (int i = 0; i < 5; ++i) {
    std::string d = "/m/t/d" + std::to_string(i);
    BOOST_REQUIRE(f.mem->Mkdir(d).ok());
    BOOST_REQUIRE(f.mem->Open(d + "/x", skiff::OpenFlags::kWrite | skiff::OpenFlags::kCreate).ok());
  }
  auto t = f.filesystem->Lookup(kRoot, "t");
  BOOST_REQUIRE(t.ok());
  auto dh = f.filesystem->OpenDir(t->ino);
  BOOST_REQUIRE(dh.ok());
  f.filesystem->WaitForDirPrefetch();
  uint64_t before = f.faulty->calls();
  for (int i = 0; i < 5; ++i) {
    auto d = f.filesystem->Lookup(t->ino, "d" + std::to_string(i));
    BOOST_REQUIRE(d.ok() && d->ino != 0);
    auto sub = f.filesystem->OpenDir(d->ino);
    BOOST_REQUIRE(sub.ok());
    auto x = f.filesystem->Lookup(d->ino, "x");
    BOOST_REQUIRE(x.ok());
    BOOST_CHECK_NE(x->ino, 0u);
    BOOST_CHECK(f.filesystem->ReleaseDir(*sub).ok());
  }
  BOOST_CHECK_EQUAL(f.faulty->calls(), before);
  BOOST_CHECK(f.filesystem->ReleaseDir(*dh).ok());
  // Strict mode lists nothing ahead.
  MountOptions strict;
  BOOST_REQUIRE(skiff::fs::ApplyMountOptions("cache=strict", strict).ok());
  BOOST_CHECK_EQUAL(strict.dir_prefetch, 0);
}

BOOST_AUTO_TEST_CASE(idmap_and_fixed_uid) {
  MountOptions o;
  o.idmap_user = true;
  FsFixture f(o);
  // The remote user is the owner of the mount root (uid 0 in MemRemoteFs).
  FileAttr own;
  own.valid = FileAttr::kUidGid;
  own.uid = 0;
  own.gid = 0;
  BOOST_REQUIRE(f.mem->SetStat("/m", own).ok());
  f.MakeFile(kRoot, "mine", "x");
  BOOST_REQUIRE(f.mem->Mkdir("/m/theirs").ok());
  FileAttr theirs = own;
  theirs.uid = 777;
  BOOST_REQUIRE(f.mem->SetStat("/m/theirs", theirs).ok());
  BOOST_CHECK_EQUAL(f.filesystem->Lookup(kRoot, "mine")->attr.st_uid, getuid());
  BOOST_CHECK_EQUAL(f.filesystem->Lookup(kRoot, "theirs")->attr.st_uid, 777u);

  MountOptions fixed;
  fixed.uid = 1234;
  fixed.gid = 5678;
  FsFixture g(fixed);
  g.MakeFile(kRoot, "a", "x");
  auto e = g.filesystem->Lookup(kRoot, "a");
  BOOST_CHECK_EQUAL(e->attr.st_uid, 1234u);
  BOOST_CHECK_EQUAL(e->attr.st_gid, 5678u);
}

BOOST_AUTO_TEST_CASE(read_only_mount_refuses_changes) {
  MountOptions o;
  o.read_only = true;
  FsFixture f(o);
  BOOST_CHECK(!f.filesystem->Mkdir(kRoot, "d", 0755).ok());
  BOOST_CHECK(!f.filesystem->Create(kRoot, "a", 0644, O_WRONLY | O_CREAT).ok());
  BOOST_CHECK(!f.mem->Lstat("/m/d").ok());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(errno_map)

BOOST_AUTO_TEST_CASE(every_code_maps_to_an_errno) {
  for (int c = static_cast<int>(Code::kNotFound); c <= static_cast<int>(Code::kIo); ++c) {
    skiff::Status s(static_cast<Code>(c), "x");
    BOOST_CHECK_GT(StatusToErrno(s), 0);
  }
  BOOST_CHECK_EQUAL(StatusToErrno(skiff::Status::Ok()), 0);
  BOOST_CHECK_EQUAL(StatusToErrno(skiff::Status::ConnectionLost("x")), EIO);
  BOOST_CHECK_EQUAL(StatusToErrno(skiff::Status(Code::kStale, "x")), ESTALE);
  BOOST_CHECK_EQUAL(StatusToErrno(skiff::Status::Permission("x")), EACCES);
  BOOST_CHECK_EQUAL(StatusToErrno(skiff::Status::Permission("x"), FsOp::kSetAttr), EPERM);
  BOOST_CHECK_EQUAL(StatusToErrno(skiff::Status::Unsupported("x")), EOPNOTSUPP);
  BOOST_CHECK_EQUAL(StatusToErrno(skiff::Status(Code::kNoSpace, "x")), ENOSPC);
}

BOOST_AUTO_TEST_SUITE_END()
