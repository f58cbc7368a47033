// SSH connection options: what the user typed (SshOptions, filled from ssh-style flags
// and a `[user@]host:path` spec) and what they resolve to after reading ssh_config
// (SshConfig, the input of SshConnection::Connect).
//
// skiff reads ssh_config itself instead of letting libssh do it: libssh 0.10's parser
// ignores ServerAliveInterval/ServerAliveCountMax and BatchMode, and applies values to a
// session we could not unit-test. Semantics follow ssh_config(5): command-line values
// (-p, -i, -o, user@) come first, then the config file(s), and for each keyword the first
// value obtained wins (IdentityFile accumulates). Without -F, ~/.ssh/config and then
// /etc/ssh/ssh_config are read; `-F none` reads no file. Host blocks with wildcard and
// negated patterns and Include are supported; Match blocks are skipped. Keywords skiff
// does not use are ignored in files; in -o they are refused unless listed as harmless.
//
// Thread-safety: plain values and pure functions; safe to use from any thread.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "transport/status.h"

namespace skiff {

// Chosen defaults (documented in --help of the commands that connect):
// a dead peer is noticed after kDefaultKeepaliveInterval * kDefaultKeepaliveCountMax
// (45 s) without a byte from the server; OpenSSH's own default is to never notice.
inline constexpr std::chrono::seconds kDefaultConnectTimeout{30};
inline constexpr std::chrono::seconds kDefaultKeepaliveInterval{15};
inline constexpr int kDefaultKeepaliveCountMax = 3;

// Cipher preference when neither Ciphers nor -c says otherwise: AES-GCM is the fastest
// with AES-NI (what the throughput target is measured with); chacha20 for CPUs without it.
inline constexpr char kDefaultCiphers[] =
    "aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,"
    "aes128-ctr,aes192-ctr,aes256-ctr";

// What the user asked for, before reading ssh_config. Empty / zero means "not given".
struct SshOptions {
  std::string host;                         // alias or host name as typed
  std::string user;                         // from user@host
  int port = 0;                             // -p
  std::vector<std::string> identity_files;  // -i, in order
  std::string config_file;                  // -F ("none": read no file)
  std::vector<std::string> options;         // -o values, "Keyword=value", in order
  bool accept_new_host_key =
      false;                // record an unknown host key (as StrictHostKeyChecking=accept-new)
  bool batch_mode = false;  // never prompt (as BatchMode=yes)
  std::chrono::milliseconds connect_timeout{0};     // overrides ConnectTimeout
  std::chrono::milliseconds keepalive_interval{0};  // overrides ServerAliveInterval
  int keepalive_count_max = 0;                      // overrides ServerAliveCountMax
};

// Removes ssh-style `-F FILE`, `-i FILE`, `-p PORT`, `-o Opt=val` (also the attached forms
// `-FFILE`, `-iFILE`, `-pPORT`, `-oOpt=val`) from `args` and returns them as SshOptions
// (host and user stay empty). Scanning stops at "--". `-p` is taken as a port only when
// its argument is all digits, so a command's own `-p` (e.g. cp's "preserve") stays in
// `args`. -o keywords and values are validated here. On failure `args` is unspecified
// and the message names the offending flag.
Result<SshOptions> ParseSshFlags(std::vector<std::string>& args);

// `[user@]host:path` by scp's rule: a ':' before any '/' makes the argument remote;
// `[v6addr]:path` and `user@[v6addr]:path` are supported; a leading ':' is local.
// For a local argument `remote` is false and `path` is the argument unchanged.
struct RemoteSpec {
  bool remote = false;
  std::string user, host, path;
};
RemoteSpec ParseRemoteSpec(const std::string& arg);

enum class HostKeyPolicy {
  kStrict,     // unknown and changed keys are refused (StrictHostKeyChecking yes/ask)
  kAcceptNew,  // unknown keys are recorded, changed keys refused (accept-new, no, off)
};

// The resolved settings for one connection.
struct SshConfig {
  std::string alias;     // the host as typed (the ssh_config Host it matched)
  std::string hostname;  // where to connect (HostName, %h expanded)
  int port = 22;
  std::string user;
  std::vector<std::string> identity_files;     // expanded; -i first, then IdentityFile
  bool default_identities = true;              // no identity given: try ~/.ssh/id_*
  bool identities_only = false;                // IdentitiesOnly: do not use the agent
  std::string identity_agent;                  // IdentityAgent; "" = $SSH_AUTH_SOCK
  std::string proxy_command;                   // %h %p %r expanded; "" = direct TCP
  std::vector<std::string> known_hosts_files;  // new keys are recorded in the first
  HostKeyPolicy host_key_policy = HostKeyPolicy::kStrict;
  std::string ciphers = kDefaultCiphers;  // comma list, as libssh takes it
  std::chrono::milliseconds connect_timeout = kDefaultConnectTimeout;
  std::chrono::milliseconds keepalive_interval = kDefaultKeepaliveInterval;  // 0: none
  int keepalive_count_max = kDefaultKeepaliveCountMax;
  bool batch_mode = false;
  // zlib@openssh.com both ways (libssh's "yes"); set by callers for a connection that
  // carries small requests only (sftp_connect.cc), never from ssh_config/-o Compression.
  bool compression = false;
};

// Reads the config file(s) and combines them with `opts`. Fails with kInvalidArgument
// for an empty host, an unreadable -F file or a bad value (the message names the file
// and line, or the -o flag). `home` overrides $HOME (for tests); "" = $HOME.
Result<SshConfig> ResolveSshConfig(const SshOptions& opts, const std::string& home = "");

}  // namespace skiff
