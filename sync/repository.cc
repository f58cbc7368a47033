#include "sync/repository.h"

#include <algorithm>

#include "sync/remote_stream.h"
#include "sync/retention.h"

namespace skiff::sync {
namespace {

const char kFormatLine[] = "skiff-repository 1\n";

Status MkdirIfMissing(RemoteFs& fs, const std::string& path) {
  Status st = fs.Mkdir(path, 0700);
  if (st.ok() || st.Is(Code::kExists)) return Status::Ok();
  // Some servers answer a generic failure for an existing directory.
  auto a = fs.Stat(path);
  if (a.ok() && a->IsDir()) return Status::Ok();
  return st.WithContext("creating " + path);
}

}  // namespace

std::string Repository::Path(const std::string& rel) const {
  if (root_.empty() || root_ == ".") return rel;
  if (root_.back() == '/') return root_ + rel;
  return root_ + "/" + rel;
}

std::string Repository::SignaturePath(const std::string& hash) const {
  return Path(".skiff/sigs/" + hash.substr(0, 2) + "/" + hash);
}

Result<Repository> Repository::Open(RemoteFs& fs, const std::string& root, bool create) {
  Repository repo(fs, root);
  auto format = ReadWholeFile(fs, repo.Path(".skiff/format"), 4096);
  if (!format.ok() && format.status().Is(Code::kNotFound) && create) {
    if (!root.empty() && root != ".") SKIFF_RETURN_IF_ERROR(MkdirIfMissing(fs, root));
    // Refuse to turn a non-empty, unrelated directory into a repository.
    SKIFF_ASSIGN_OR_RETURN(auto entries, fs.ReadDir(root.empty() ? "." : root));
    for (const auto& e : entries)
      if (e.name != ".skiff" && e.name != "snapshots")
        return Status::Invalid(root +
                               " is not empty and not a skiff repository; choose an "
                               "empty or new directory");
    for (const char* d : {".skiff", ".skiff/manifests", ".skiff/sigs", ".skiff/tmp", "snapshots"})
      SKIFF_RETURN_IF_ERROR(MkdirIfMissing(fs, repo.Path(d)));
    {
      SKIFF_ASSIGN_OR_RETURN(
          auto f, fs.Open(repo.Path(".skiff/format.new"),
                          OpenFlags::kWrite | OpenFlags::kCreate | OpenFlags::kTruncate, 0644));
      SKIFF_RETURN_IF_ERROR(f->Write(0, kFormatLine));
      SKIFF_RETURN_IF_ERROR(f->Close());
    }
    Status st = fs.Rename(repo.Path(".skiff/format.new"), repo.Path(".skiff/format"),
                          RenameMode::kNoReplace);
    if (!st.ok() && !st.Is(Code::kExists)) return st.WithContext("creating the repository");
    format = ReadWholeFile(fs, repo.Path(".skiff/format"), 4096);
  }
  if (!format.ok()) {
    if (format.status().Is(Code::kNotFound))
      return Status::NotFound("no skiff repository at '" + root +
                              "' (.skiff/format is missing; `skiff backup` creates one)");
    return format.status().WithContext("reading the repository format");
  }
  if (*format != kFormatLine) {
    if (format->rfind("skiff-repository ", 0) == 0)
      return Status::Unsupported("repository at '" + root + "' has format '" +
                                 format->substr(0, format->find('\n')) +
                                 "'; this skiff supports version " +
                                 std::to_string(kRepositoryVersion) + "; upgrade skiff");
    return Status::Corrupt("'" + root + "/.skiff/format' is not a skiff repository format file");
  }
  if (create)
    for (const char* d : {".skiff/manifests", ".skiff/sigs", ".skiff/tmp", "snapshots"})
      SKIFF_RETURN_IF_ERROR(MkdirIfMissing(fs, repo.Path(d)));
  return repo;
}

Result<std::vector<std::string>> Repository::ListSnapshots() const {
  SKIFF_ASSIGN_OR_RETURN(auto dirs, fs_->ReadDir(Path("snapshots")));
  SKIFF_ASSIGN_OR_RETURN(auto manifests, fs_->ReadDir(Path(".skiff/manifests")));
  std::vector<std::string> have;
  for (const auto& m : manifests) have.push_back(m.name);
  std::sort(have.begin(), have.end());
  std::vector<std::string> names;
  for (const auto& d : dirs) {
    if (!d.attr.IsDir() || !ParseSnapshotName(d.name)) continue;
    if (!std::binary_search(have.begin(), have.end(), d.name)) continue;
    names.push_back(d.name);
  }
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    auto ta = ParseSnapshotName(a), tb = ParseSnapshotName(b);
    return *ta != *tb ? *ta < *tb : a < b;
  });
  return names;
}

Result<std::string> Repository::ResolveSnapshot(const std::string& selector) const {
  SKIFF_ASSIGN_OR_RETURN(auto names, ListSnapshots());
  if (names.empty()) return Status::NotFound("the repository has no snapshots");
  if (selector.empty() || selector == "latest") return names.back();
  std::vector<std::string> hits;
  for (const auto& n : names) {
    if (n == selector) return n;
    if (n.rfind(selector, 0) == 0) hits.push_back(n);
  }
  if (hits.size() == 1) return hits[0];
  if (hits.empty()) return Status::NotFound("no snapshot named '" + selector + "'");
  return Status::Invalid("'" + selector + "' matches " + std::to_string(hits.size()) +
                         " snapshots; give more of the name");
}

Status RemoveTree(RemoteFs& fs, const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(FileAttr a, fs.Lstat(path));
  if (!a.IsDir()) return fs.Remove(path);
  SKIFF_ASSIGN_OR_RETURN(auto entries, fs.ReadDir(path));
  for (const auto& e : entries) {
    std::string child = path + "/" + e.name;
    if (e.attr.IsDir()) {
      // A directory without write/search permission cannot be emptied; fix that first.
      if ((e.attr.mode & 0700) != 0700) {
        FileAttr m;
        m.valid = FileAttr::kPermissions;
        m.mode = 0700;
        fs.SetStat(child, m).IgnoreError();
      }
      SKIFF_RETURN_IF_ERROR(RemoveTree(fs, child));
    } else {
      SKIFF_RETURN_IF_ERROR(fs.Remove(child).WithContext("removing " + child));
    }
  }
  return fs.Rmdir(path).WithContext("removing " + path);
}

}  // namespace skiff::sync
