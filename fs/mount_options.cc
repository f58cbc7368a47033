#include "fs/mount_options.h"

#include <cctype>
#include <charconv>

namespace skiff::fs {
namespace {

Result<double> ParseSeconds(const std::string& name, const std::string& v) {
  double d = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || p != v.data() + v.size() || d < 0)
    return Status::Invalid("option " + name + "=" + v + ": expected a number of seconds >= 0");
  return d;
}

Result<uint64_t> ParseUint(const std::string& name, const std::string& v) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || v.empty())
    return Status::Invalid("option " + name + "=" + v + ": expected a non-negative integer");
  return n;
}

Status ApplyOne(const std::string& opt, MountOptions& o) {
  size_t eq = opt.find('=');
  std::string name = opt.substr(0, eq);
  std::string value = eq == std::string::npos ? "" : opt.substr(eq + 1);
  bool has_value = eq != std::string::npos;
  auto flag = [&](bool& f) -> Status {
    if (has_value) return Status::Invalid("option " + name + " takes no value");
    f = true;
    return Status::Ok();
  };
  if (name == "reconnect") return flag(o.reconnect);
  if (name == "ro") return flag(o.read_only);
  if (name == "rw") {
    o.read_only = false;
    return Status::Ok();
  }
  if (name == "follow_symlinks") return flag(o.follow_symlinks);
  if (name == "allow_other") return flag(o.allow_other);
  if (name == "default_permissions") return flag(o.default_permissions);
  if (name == "idmap") {
    if (value == "user") {
      o.idmap_user = true;
    } else if (value == "none") {
      o.idmap_user = false;
    } else {
      return Status::Invalid("option idmap=" + value + ": supported values are 'user' and 'none'");
    }
    return Status::Ok();
  }
  if (name == "uid" || name == "gid") {
    SKIFF_ASSIGN_OR_RETURN(uint64_t id, ParseUint(name, value));
    (name == "uid" ? o.uid : o.gid) = static_cast<uint32_t>(id);
    return Status::Ok();
  }
  if (name == "max_conns") {
    SKIFF_ASSIGN_OR_RETURN(uint64_t n, ParseUint(name, value));
    if (n < 1 || n > 64) return Status::Invalid("option max_conns=" + value + ": must be 1..64");
    o.max_conns = static_cast<int>(n);
    return Status::Ok();
  }
  if (name == "cache") {
    if (value == "yes" || value == "default") {
      o.cache = CacheMode::kDefault;
    } else if (value == "no" || value == "strict") {
      o.cache = CacheMode::kStrict;
      o.attr_timeout = o.entry_timeout = o.negative_timeout = o.dir_timeout = o.link_timeout = 0;
      o.dir_prefetch = 0;  // listings are not cached, so prefetching them is useless
    } else if (value == "loose") {
      o.cache = CacheMode::kLoose;
      o.attr_timeout = o.entry_timeout = o.negative_timeout = o.dir_timeout = o.link_timeout = 3600;
    } else {
      return Status::Invalid("option cache=" + value + ": use strict (or no), default, loose");
    }
    return Status::Ok();
  }
  struct {
    const char* name;
    double MountOptions::*field;
  } timeouts[] = {
      {"attr_timeout", &MountOptions::attr_timeout},
      {"cache_stat_timeout", &MountOptions::attr_timeout},
      {"entry_timeout", &MountOptions::entry_timeout},
      {"negative_timeout", &MountOptions::negative_timeout},
      {"dir_timeout", &MountOptions::dir_timeout},
      {"cache_dir_timeout", &MountOptions::dir_timeout},
      {"cache_link_timeout", &MountOptions::link_timeout},
  };
  for (const auto& t : timeouts) {
    if (name == t.name) {
      SKIFF_ASSIGN_OR_RETURN(o.*t.field, ParseSeconds(name, value));
      return Status::Ok();
    }
  }
  if (name == "cache_timeout") {
    SKIFF_ASSIGN_OR_RETURN(double s, ParseSeconds(name, value));
    o.attr_timeout = o.entry_timeout = o.negative_timeout = o.dir_timeout = o.link_timeout = s;
    return Status::Ok();
  }
  if (name == "dir_prefetch") {
    SKIFF_ASSIGN_OR_RETURN(uint64_t n, ParseUint(name, value));
    if (n > 64) return Status::Invalid("option dir_prefetch=" + value + ": must be 0..64");
    o.dir_prefetch = static_cast<int>(n);
    return Status::Ok();
  }
  if (name == "readahead_requests") {
    SKIFF_ASSIGN_OR_RETURN(uint64_t n, ParseUint(name, value));
    if (n < 1 || n > 1024) return Status::Invalid("option readahead_requests: must be 1..1024");
    o.readahead_requests = static_cast<uint32_t>(n);
    return Status::Ok();
  }
  if (name == "write_channels") {
    SKIFF_ASSIGN_OR_RETURN(uint64_t n, ParseUint(name, value));
    if (n < 1 || n > 16)
      return Status::Invalid("option write_channels=" + value + ": must be 1..16");
    o.write_channels = static_cast<uint32_t>(n);
    return Status::Ok();
  }
  if (name == "write_sync_mb") {
    SKIFF_ASSIGN_OR_RETURN(uint64_t n, ParseUint(name, value));
    if (n > 4096) return Status::Invalid("option write_sync_mb=" + value + ": must be 0..4096");
    o.write_sync_every = n << 20;
    return Status::Ok();
  }
  if (name == "write_conns") {
    SKIFF_ASSIGN_OR_RETURN(uint64_t n, ParseUint(name, value));
    if (n < 1 || n > 16) return Status::Invalid("option write_conns=" + value + ": must be 1..16");
    o.write_conns = static_cast<uint32_t>(n);
    return Status::Ok();
  }
  if (name == "fsname" || name == "subtype") {
    o.fuse_options.push_back(opt);
    return Status::Ok();
  }
  if (has_value && !name.empty() && std::isupper(static_cast<unsigned char>(name[0]))) {
    o.ssh_options.push_back(opt);
    return Status::Ok();
  }
  return Status::Invalid("unknown mount option '" + opt +
                         "' (ssh options are written Name=value, e.g. ServerAliveInterval=15)");
}

}  // namespace

Status ApplyMountOptions(const std::string& list, MountOptions& opts) {
  size_t i = 0;
  while (i <= list.size()) {
    size_t j = list.find(',', i);
    if (j == std::string::npos) j = list.size();
    std::string one = list.substr(i, j - i);
    if (!one.empty()) SKIFF_RETURN_IF_ERROR(ApplyOne(one, opts));
    i = j + 1;
  }
  return Status::Ok();
}

}  // namespace skiff::fs
