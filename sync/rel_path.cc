#include "sync/rel_path.h"

namespace skiff::sync {

Status ValidateRelPath(std::string_view path) {
  if (path.empty()) return Status::Corrupt("empty path");
  if (path.front() == '/') return Status::Corrupt("absolute path '" + std::string(path) + "'");
  if (path.find('\0') != std::string_view::npos) return Status::Corrupt("path contains a NUL byte");
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view comp = path.substr(i, j - i);
    if (comp.empty()) return Status::Corrupt("empty component in path '" + std::string(path) + "'");
    if (comp == "." || comp == "..")
      return Status::Corrupt("'" + std::string(comp) + "' component in path '" + std::string(path) +
                             "'");
    i = j + 1;
  }
  return Status::Ok();
}

bool RelPathLess(std::string_view a, std::string_view b) {
  size_t i = 0, j = 0;
  while (true) {
    if (i >= a.size() || j >= b.size()) return i >= a.size() && j < b.size();
    size_t ie = a.find('/', i), je = b.find('/', j);
    if (ie == std::string_view::npos) ie = a.size();
    if (je == std::string_view::npos) je = b.size();
    std::string_view ca = a.substr(i, ie - i), cb = b.substr(j, je - j);
    if (ca != cb) return ca < cb;
    i = ie + 1;
    j = je + 1;
    // Both exhausted at the same point: equal.
    if (i > a.size() && j > b.size()) return false;
    if (i > a.size()) return true;
    if (j > b.size()) return false;
  }
}

std::string JoinPath(std::string_view base, std::string_view name) {
  if (base.empty()) return std::string(name);
  if (name.empty()) return std::string(base);
  std::string r(base);
  if (r.back() != '/') r += '/';
  r += name;
  return r;
}

std::string_view BaseName(std::string_view path) {
  size_t p = path.rfind('/');
  return p == std::string_view::npos ? path : path.substr(p + 1);
}

std::string_view DirName(std::string_view path) {
  size_t p = path.rfind('/');
  return p == std::string_view::npos ? std::string_view() : path.substr(0, p);
}

bool IsUnder(std::string_view path, std::string_view prefix) {
  if (prefix.empty()) return true;
  if (path.size() < prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

}  // namespace skiff::sync
