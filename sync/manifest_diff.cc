#include "sync/manifest_diff.h"

#include <optional>

#include "sync/rel_path.h"

namespace skiff::sync {

Status DiffManifests(ManifestReader& a, ManifestReader& b,
                     const std::function<void(char, const std::string&)>& out) {
  SKIFF_ASSIGN_OR_RETURN(auto x, a.Next());
  SKIFF_ASSIGN_OR_RETURN(auto y, b.Next());
  while (x || y) {
    if (x && (!y || RelPathLess(x->path, y->path))) {
      out('-', x->path);
      SKIFF_ASSIGN_OR_RETURN(x, a.Next());
    } else if (y && (!x || RelPathLess(y->path, x->path))) {
      out('+', y->path);
      SKIFF_ASSIGN_OR_RETURN(y, b.Next());
    } else {
      if (x->type != y->type)
        out('T', x->path);
      else if (x->hash != y->hash || x->link_target != y->link_target || x->size != y->size)
        out('M', x->path);
      else if (x->mode != y->mode || x->uid != y->uid || x->gid != y->gid ||
               (x->type != EntryType::kDir && x->mtime != y->mtime))
        out('m', x->path);
      SKIFF_ASSIGN_OR_RETURN(x, a.Next());
      SKIFF_ASSIGN_OR_RETURN(y, b.Next());
    }
  }
  return Status::Ok();
}

}  // namespace skiff::sync
