// Options of `skiff mount` (sshfs names where the meaning is the same) and their
// parser. A plain value type; parsing is pure and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "transport/status.h"

namespace skiff::fs {

enum class CacheMode {
  kStrict,   // no attribute/entry/dir caching, page cache dropped on every open
  kDefault,  // timeouts below; close-to-open consistency for file content
  kLoose,    // long timeouts, page cache kept across opens unconditionally
};

struct MountOptions {
  CacheMode cache = CacheMode::kDefault;
  // Seconds. sshfs's cache_timeout default (20 s) so that users switching see the same
  // staleness of metadata; content is still checked on every open (close-to-open).
  double attr_timeout = 20;
  double entry_timeout = 20;
  double negative_timeout = 20;
  double dir_timeout = 20;
  double link_timeout = 20;

  // Threads that list, in the background, the subdirectories of a directory being opened
  // (a tree walk then waits ~one round trip per level); 0 turns it off.
  int dir_prefetch = 16;

  bool follow_symlinks = false;
  bool read_only = false;
  bool reconnect = false;
  bool idmap_user = false;           // remote user's uid/gid <-> local uid/gid
  std::optional<uint32_t> uid, gid;  // report every file as owned by these
  bool allow_other = false;
  bool default_permissions = false;
  int max_conns = 1;

  // Read-ahead: at most this many requests of caps().max_read bytes in flight per
  // sequential stream. 64 x 255 KiB = 16 MiB covers a 20 ms link at 800 MB/s.
  uint32_t readahead_requests = 64;
  // Write-behind: bytes acknowledged to the kernel but not yet to the server, per
  // open file, before write() blocks.
  uint64_t write_behind_bytes = 32ull << 20;
  // Write striping: a file opened write-only (not O_APPEND) whose writes have been
  // sequential for `stripe_after_bytes` gets a handle on `write_channels - 1` more SFTP
  // sessions of the same SSH connection, and from then on byte b goes to session
  // (b / kStripeBytes) % write_channels. OpenSSH's sshd grants each session channel a
  // fixed 2 MiB window, so one session moves at most 2 MiB per round trip; 4 sessions
  // lift that to 8 MiB. 1 turns it off.
  uint32_t write_channels = 4;
  uint64_t stripe_after_bytes = 4ull << 20;
  // Early writeback of a striped file (WriteStripeConfig::sync_every): an unwaited
  // fsync@openssh.com after every this many bytes; 0 = off. Off by default: at 16 MiB the
  // final fsync of 1 GiB dd conv=fsync to a server disk drops from 0.4-0.57 s to
  // 0.02-0.12 s, but the whole write was faster in 4 interleaved rounds and slower in 1
  // (load 6-15; doc/SEMANTICS.md §6), which supports no default.
  uint64_t write_sync_every = 0;
  // The SSH connections a striped file's sessions are spread over: its own and
  // write_conns - 1 more, opened for striping once per connection and kept. One SSH
  // connection is one I/O thread here and one sshd process on the server, each doing
  // all of its connection's encryption: at 0 ms both are CPU-bound at ~0.5 GB/s.
  uint32_t write_conns = 1;

  // -o options that are not mount options: passed to ssh as -o Opt=Val (sshfs does
  // the same for options it does not know).
  std::vector<std::string> ssh_options;
  // Options passed straight to FUSE (fsname, subtype, ...).
  std::vector<std::string> fuse_options;
};

// Applies one comma-separated -o list to `opts`. Unknown `Name=value` options whose name
// starts with an upper-case letter are ssh options (ServerAliveInterval=15); any other
// unknown option is an error naming it.
Status ApplyMountOptions(const std::string& list, MountOptions& opts);

}  // namespace skiff::fs
