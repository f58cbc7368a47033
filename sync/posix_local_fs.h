// LocalFs on the POSIX API (the real disk). See local_fs.h for the contract.
// Stateless; thread-safe.
#pragma once

#include "sync/local_fs.h"

namespace skiff::sync {

class PosixLocalFs : public LocalFs {
 public:
  Result<LocalStat> Lstat(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  Result<std::string> Readlink(const std::string& path) override;
  Result<std::unique_ptr<LocalReader>> OpenRead(const std::string& path) override;

  Status MakeRoot(const std::string& root) override;
  Status MkdirUnder(const std::string& root, const std::string& rel) override;
  Result<std::unique_ptr<LocalWriter>> CreateUnder(const std::string& root,
                                                   const std::string& rel) override;
  Status SymlinkUnder(const std::string& root, const std::string& rel,
                      const std::string& target) override;
  Status LinkUnder(const std::string& root, const std::string& existing_rel,
                   const std::string& rel) override;
  Status SetMetaUnder(const std::string& root, const std::string& rel, const LocalMeta& meta,
                      bool is_symlink) override;
  Status RemoveUnder(const std::string& root, const std::string& rel) override;
};

}  // namespace skiff::sync
