#include "sync/serve_policy.h"

namespace skiff::sync {

namespace {
bool StartsWith(const std::string& s, std::string_view p) { return s.rfind(p, 0) == 0; }
constexpr std::string_view kIncomplete = "snapshots/.incomplete";
constexpr std::string_view kTmpPrefix = ".skiff/tmp/";
}  // namespace

Status ServePolicy::CheckOriginalCommand(const char* original) {
  if (!original) return Status::Ok();
  std::string_view c(original);
  while (!c.empty() && (c.front() == ' ' || c.front() == '\t')) c.remove_prefix(1);
  while (!c.empty() && (c.back() == ' ' || c.back() == '\t')) c.remove_suffix(1);
  if (c.empty() || c == "skiff serve") return Status::Ok();
  std::string shown(c.substr(0, 200));
  for (char& ch : shown)
    if (static_cast<unsigned char>(ch) < 0x20) ch = '?';
  return Status::Permission("refusing to run '" + shown +
                            "': this key only serves skiff backups (skiff serve); it never "
                            "runs commands or a shell");
}

bool ServePolicy::IsScratch(const ConfinedPath& p) {
  return p.rel == kIncomplete || StartsWith(p.rel, std::string(kIncomplete) + "/") ||
         StartsWith(p.rel, kTmpPrefix) || p.rel == ".skiff/format.new";
}

Status ServePolicy::Refuse(std::string_view op, const ConfinedPath& p, std::string_view why) const {
  return Status::Permission(std::string(op) + " " + (p.rel.empty() ? "." : p.rel) +
                            " refused by this " + std::string(serve::ModeName(mode_)) +
                            " key: " + std::string(why));
}

Status ServePolicy::ReadOnlyRefusal(std::string_view op, const ConfinedPath& p) const {
  return Refuse(op, p, "it may only read");
}

Status ServePolicy::CheckOpen(const ConfinedPath& p, uint32_t flags,
                              const struct stat* exists) const {
  const uint32_t kWriting =
      OpenFlags::kWrite | OpenFlags::kAppend | OpenFlags::kCreate | OpenFlags::kTruncate;
  // Opening for reading is allowed in every mode; write-only refuses the reads themselves
  // (CheckReadData), so server-side copy-data from an old version still works.
  if (!(flags & kWriting)) return Status::Ok();
  if (mode_ == serve::Mode::kFull) return Status::Ok();
  if (mode_ == serve::Mode::kReadOnly) return ReadOnlyRefusal("opening for writing", p);
  const bool exclusive = (flags & OpenFlags::kCreate) && (flags & OpenFlags::kExclusive);
  if (exclusive && (IsLock(p) || p.rel == ".skiff/format")) return Status::Ok();
  if (!IsScratch(p))
    return Refuse("writing", p,
                  "an append-only key writes only into snapshots/.incomplete and .skiff/tmp");
  if (exists) return CheckWriteHandle(p, *exists);
  return Status::Ok();
}

Status ServePolicy::CheckWriteHandle(const ConfinedPath& p, const struct stat& st) const {
  if (!restricted()) {
    if (mode_ == serve::Mode::kReadOnly) return ReadOnlyRefusal("writing", p);
    return Status::Ok();
  }
  if (!S_ISREG(st.st_mode)) return Refuse("writing", p, "not a regular file");
  if (st.st_nlink != 1)
    return Refuse("writing", p,
                  "the file has " + std::to_string(st.st_nlink) +
                      " links, and one may be a published snapshot's file");
  return Status::Ok();
}

Status ServePolicy::CheckReadData(const ConfinedPath& p) const {
  if (mode_ == serve::Mode::kWriteOnly && !StartsWith(p.rel, ".skiff/"))
    return Refuse("reading", p, "a write-only key cannot read backed-up contents");
  return Status::Ok();
}

Status ServePolicy::CheckMkdir(const ConfinedPath& p) const {
  if (mode_ == serve::Mode::kFull) return Status::Ok();
  if (mode_ == serve::Mode::kReadOnly) return ReadOnlyRefusal("mkdir", p);
  if (IsScratch(p) || p.rel == "snapshots" || p.rel == ".skiff" || p.rel == ".skiff/manifests" ||
      p.rel == ".skiff/tmp" || p.rel == ".skiff/sigs" ||
      (StartsWith(p.rel, ".skiff/sigs/") && p.parts.size() == 3))
    return Status::Ok();
  return Refuse("mkdir", p, "not part of a snapshot being built");
}

Status ServePolicy::CheckRemove(const ConfinedPath& p, bool dir, bool stale_serve_lock) const {
  const char* op = dir ? "rmdir" : "removing";
  if (mode_ == serve::Mode::kFull) return Status::Ok();
  if (mode_ == serve::Mode::kReadOnly) return ReadOnlyRefusal(op, p);
  if (IsScratch(p)) return Status::Ok();
  if (IsLock(p) && !dir) {
    if (lock_mine_ || stale_serve_lock) return Status::Ok();
    return Refuse(op, p,
                  "an append-only key removes only a lock it took itself; a stale lock is "
                  "removed by the administrator on the server");
  }
  return Refuse(op, p, "an append-only key cannot delete published data");
}

Status ServePolicy::CheckRename(const ConfinedPath& from, const ConfinedPath& to,
                                bool replace) const {
  if (mode_ == serve::Mode::kFull) return Status::Ok();
  if (mode_ == serve::Mode::kReadOnly) return ReadOnlyRefusal("renaming", from);
  if (IsScratch(from) && IsScratch(to) && from.rel != kIncomplete && to.rel != kIncomplete)
    return Status::Ok();
  if (replace) return Refuse("renaming", from, "an append-only key never replaces " + to.rel);
  if ((StartsWith(from.rel, kTmpPrefix) || from.rel == ".skiff/format.new") &&
      ((StartsWith(to.rel, ".skiff/manifests/") && to.parts.size() == 3) ||
       (StartsWith(to.rel, ".skiff/sigs/") && to.parts.size() == 4) || to.rel == ".skiff/format"))
    return Status::Ok();
  if (from.rel == kIncomplete && to.parts.size() == 2 && to.parts[0] == "snapshots" &&
      to.parts[1][0] != '.')
    return Status::Ok();
  return Refuse("renaming", from,
                "an append-only key only publishes its own new snapshot (to " +
                    (to.rel.empty() ? std::string(".") : to.rel) + " refused)");
}

bool ServePolicy::Publishes(const ConfinedPath& from, const ConfinedPath& to) const {
  return !(IsScratch(from) && IsScratch(to) && from.rel != kIncomplete && to.rel != kIncomplete);
}

Status ServePolicy::CheckSymlink(const ConfinedPath& link) const {
  if (mode_ == serve::Mode::kFull) return Status::Ok();
  if (mode_ == serve::Mode::kReadOnly) return ReadOnlyRefusal("symlink", link);
  if (IsScratch(link)) return Status::Ok();
  return Refuse("symlink", link, "links are created only inside snapshots/.incomplete");
}

Status ServePolicy::CheckHardlink(const ConfinedPath& existing, const ConfinedPath& link) const {
  if (mode_ == serve::Mode::kFull) return Status::Ok();
  if (mode_ == serve::Mode::kReadOnly) return ReadOnlyRefusal("hard link", link);
  if (IsScratch(link)) return Status::Ok();
  return Refuse("hard link", link, "links are created only inside snapshots/.incomplete");
}

Status ServePolicy::CheckSetStat(const ConfinedPath& p, const struct stat& st,
                                 const FileAttr& a) const {
  if (mode_ == serve::Mode::kFull) return Status::Ok();
  if (mode_ == serve::Mode::kReadOnly) return ReadOnlyRefusal("changing attributes of", p);
  // A request that changes nothing is harmless anywhere (the engine re-applies
  // metadata when it resumes).
  bool noop = true;
  if ((a.valid & FileAttr::kSize) && a.size != static_cast<uint64_t>(st.st_size)) noop = false;
  if ((a.valid & FileAttr::kPermissions) && (a.mode & 07777) != (st.st_mode & 07777)) noop = false;
  if ((a.valid & FileAttr::kUidGid) && (a.uid != st.st_uid || a.gid != st.st_gid)) noop = false;
  if ((a.valid & FileAttr::kTimes) && a.mtime != st.st_mtim.tv_sec) noop = false;
  if (noop) return Status::Ok();
  if (!IsScratch(p))
    return Refuse("changing attributes of", p, "an append-only key cannot change published data");
  if (!S_ISDIR(st.st_mode) && st.st_nlink != 1)
    return Refuse("changing attributes of", p,
                  "the file has " + std::to_string(st.st_nlink) +
                      " links, and one may be a published snapshot's file");
  return Status::Ok();
}

}  // namespace skiff::sync
