#include "transport/ssh_connection.h"

#include <fcntl.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/server.h>  // ssh_send_keepalive (usable by clients too)
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "transport/ssh_channel.h"

namespace skiff {
namespace {

using Clock = std::chrono::steady_clock;
using Pipe = SshChannel::Pipe;

std::string SessionError(ssh_session s) {
  const char* e = ssh_get_error(s);
  return e && *e ? e : "unknown libssh error";
}

bool FileExists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// "[host]:port" as known_hosts and ssh-keygen -R spell it.
std::string KnownHostsName(const SshConfig& c) {
  return c.port == 22 ? c.hostname : "[" + c.hostname + "]:" + std::to_string(c.port);
}

// ---- connect phase (calling thread, blocking session) ----

Status ConnectSocket(ssh_session s, const SshConfig& c) {
  auto set = [&](ssh_options_e o, const void* v) -> Status {
    if (ssh_options_set(s, o, v) != SSH_OK) {
      return Status::Invalid("ssh option rejected by libssh: " + SessionError(s));
    }
    return Status::Ok();
  };
  int port = c.port;
  bool no = false;
  int one = 1;
  long secs = static_cast<long>(c.connect_timeout.count() / 1000);
  long usecs = static_cast<long>(c.connect_timeout.count() % 1000) * 1000;
  SKIFF_RETURN_IF_ERROR(set(SSH_OPTIONS_PROCESS_CONFIG, &no));  // we resolved it ourselves
  SKIFF_RETURN_IF_ERROR(set(SSH_OPTIONS_HOST, c.hostname.c_str()));
  SKIFF_RETURN_IF_ERROR(set(SSH_OPTIONS_PORT, &port));
  SKIFF_RETURN_IF_ERROR(set(SSH_OPTIONS_USER, c.user.c_str()));
  SKIFF_RETURN_IF_ERROR(set(SSH_OPTIONS_TIMEOUT, &secs));
  SKIFF_RETURN_IF_ERROR(set(SSH_OPTIONS_TIMEOUT_USEC, &usecs));
  SKIFF_RETURN_IF_ERROR(set(SSH_OPTIONS_NODELAY, &one));
  if (ssh_options_set(s, SSH_OPTIONS_CIPHERS_C_S, c.ciphers.c_str()) != SSH_OK ||
      ssh_options_set(s, SSH_OPTIONS_CIPHERS_S_C, c.ciphers.c_str()) != SSH_OK) {
    return Status::Invalid("Ciphers " + c.ciphers + ": " + SessionError(s));
  }
  if (c.compression) SKIFF_RETURN_IF_ERROR(set(SSH_OPTIONS_COMPRESSION, "yes"));
  if (!c.proxy_command.empty()) {
    // Already %-expanded by ResolveSshConfig, but libssh expands it once more: escape.
    std::string escaped;
    for (char ch : c.proxy_command) escaped += ch == '%' ? std::string("%%") : std::string(1, ch);
    SKIFF_RETURN_IF_ERROR(set(SSH_OPTIONS_PROXYCOMMAND, escaped.c_str()));
  }
  if (!c.identity_agent.empty()) {
    SKIFF_RETURN_IF_ERROR(set(SSH_OPTIONS_IDENTITY_AGENT, c.identity_agent.c_str()));
  }
  if (ssh_connect(s) != SSH_OK) {
    std::string e = SessionError(s);
    std::string what =
        "connecting to " + c.user + "@" + c.hostname + " port " + std::to_string(c.port) +
        (c.proxy_command.empty() ? "" : " via ProxyCommand '" + c.proxy_command + "'") + ": " + e;
    if (e.find("imeout") != std::string::npos || e.find("timed out") != std::string::npos) {
      return Status::Timeout(what);
    }
    if (e.find("o matching") != std::string::npos || e.find("algorithm") != std::string::npos) {
      return Status::Unsupported(what + " (check Ciphers)");
    }
    return Status::ConnectionLost(what);
  }
  return Status::Ok();
}

Status VerifyHostKey(ssh_session s, const SshConfig& c) {
  ssh_key key = nullptr;
  if (ssh_get_server_publickey(s, &key) != SSH_OK) {
    return Status(Code::kHostKey, "server " + c.hostname + " sent no usable host key");
  }
  unsigned char* hash = nullptr;
  size_t hlen = 0;
  std::string fp = "(no fingerprint)";
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0) {
    char* f = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    if (f) fp = f;
    ssh_string_free_char(f);
    ssh_clean_pubkey_hash(&hash);
  }
  const std::string type = ssh_key_type_to_char(ssh_key_type(key));
  ssh_key_free(key);
  const std::string name = KnownHostsName(c);
  const std::string shown = type + " key " + fp;

  // libssh checks one user file (plus the global one) at a time; check each of ours.
  bool known = false, changed = false;
  std::string changed_file;
  for (const auto& f : c.known_hosts_files) {
    if (!FileExists(f)) continue;
    ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, f.c_str());
    enum ssh_known_hosts_e r = ssh_session_is_known_server(s);
    if (r == SSH_KNOWN_HOSTS_OK) known = true;
    if (r == SSH_KNOWN_HOSTS_CHANGED || r == SSH_KNOWN_HOSTS_OTHER) {
      changed = true;
      changed_file = f;
    }
    if (r == SSH_KNOWN_HOSTS_ERROR) {
      return Status(Code::kHostKey,
                    "cannot check host key of " + name + " against " + f + ": " + SessionError(s));
    }
  }
  if (changed) {  // a stale entry anywhere is refused, as OpenSSH does
    return Status(Code::kHostKey,
                  "host key of " + name + " has CHANGED: the server now offers " + shown +
                      ", which does not match " + changed_file +
                      ". Someone may be intercepting the connection, or the server was "
                      "reinstalled. If you have verified the new key with its administrator, "
                      "remove the old entry with `ssh-keygen -R '" +
                      name + "' -f " + changed_file + "` and connect again");
  }
  if (known) return Status::Ok();
  const std::string record_in =
      c.known_hosts_files.empty() ? std::string("~/.ssh/known_hosts") : c.known_hosts_files[0];
  if (c.host_key_policy != HostKeyPolicy::kAcceptNew) {
    return Status(Code::kHostKey,
                  "host key of " + name + " is not known (" + shown +
                      "). Verify this fingerprint with the server's administrator, then "
                      "connect once with `-o StrictHostKeyChecking=accept-new` to record it in " +
                      record_in + " (or add it there yourself)");
  }
  ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, record_in.c_str());
  if (ssh_session_update_known_hosts(s) != SSH_OK) {
    return Status(Code::kHostKey, "cannot record the host key of " + name + " in " + record_in +
                                      ": " + SessionError(s));
  }
  return Status::Ok();
}

// Reads a passphrase from /dev/tty without echo; false when there is no terminal.
bool PromptOnTty(const std::string& prompt, std::string* out) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  struct termios old {};
  bool restore = tcgetattr(fd, &old) == 0;
  if (restore) {
    struct termios t = old;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &t);
  }
  if (::write(fd, prompt.data(), prompt.size()) < 0) {
    // nothing to do: we still try to read
  }
  out->clear();
  char ch;
  while (::read(fd, &ch, 1) == 1 && ch != '\n' && ch != '\r') out->push_back(ch);
  if (restore) tcsetattr(fd, TCSAFLUSH, &old);
  if (::write(fd, "\n", 1) < 0) {
  }
  ::close(fd);
  return true;
}

struct PassphraseCtx {
  std::string path;
  bool batch = false;
  bool no_tty = false;
};

int PassphraseCallback(const char* /*prompt*/, char* buf, size_t len, int /*echo*/, int /*verify*/,
                       void* userdata) {
  auto* ctx = static_cast<PassphraseCtx*>(userdata);
  std::string pass;
  if (ctx->batch || !PromptOnTty("Enter passphrase for key '" + ctx->path + "': ", &pass)) {
    ctx->no_tty = true;
    return -1;
  }
  if (pass.size() + 1 > len) return -1;
  std::memcpy(buf, pass.c_str(), pass.size() + 1);
  std::fill(pass.begin(), pass.end(), '\0');
  return 0;
}

Status Authenticate(ssh_session s, const SshConfig& c) {
  const std::string who = c.user + "@" + c.hostname + ":" + std::to_string(c.port);
  int rc = ssh_userauth_none(s, nullptr);
  if (rc == SSH_AUTH_SUCCESS) return Status::Ok();
  if (rc == SSH_AUTH_ERROR) {
    return Status::ConnectionLost("authenticating to " + who + ": " + SessionError(s));
  }
  const int methods = ssh_userauth_list(s, nullptr);
  std::vector<std::string> tried;
  if (methods & SSH_AUTH_METHOD_PUBLICKEY) {
    const char* sock = getenv("SSH_AUTH_SOCK");
    if (!c.identities_only && (!c.identity_agent.empty() || (sock && *sock))) {
      rc = ssh_userauth_agent(s, nullptr);
      if (rc == SSH_AUTH_SUCCESS) return Status::Ok();
      if (rc == SSH_AUTH_ERROR && !ssh_is_connected(s)) {
        return Status::ConnectionLost("authenticating to " + who + ": " + SessionError(s));
      }
      tried.push_back("ssh-agent (no key accepted)");
    }
    std::vector<std::string> ids = c.identity_files;
    if (c.default_identities) {
      const char* home = getenv("HOME");
      for (const char* n : {"id_ed25519", "id_ecdsa", "id_rsa"}) {
        std::string p = std::string(home ? home : "") + "/.ssh/" + n;
        if (FileExists(p)) ids.push_back(p);
      }
    }
    for (const auto& path : ids) {
      if (!FileExists(path)) {
        if (!c.default_identities) tried.push_back(path + " (no such file)");
        continue;
      }
      ssh_key pub = nullptr;
      if (ssh_pki_import_pubkey_file((path + ".pub").c_str(), &pub) == SSH_OK) {
        // Ask before loading the private key, so no passphrase is asked for a key the
        // server would refuse anyway.
        rc = ssh_userauth_try_publickey(s, nullptr, pub);
        ssh_key_free(pub);
        if (rc == SSH_AUTH_ERROR) {
          return Status::ConnectionLost("authenticating to " + who + ": " + SessionError(s));
        }
        if (rc != SSH_AUTH_SUCCESS) {
          tried.push_back(path + " (refused by the server)");
          continue;
        }
      }
      PassphraseCtx ctx{path, c.batch_mode, false};
      ssh_key priv = nullptr;
      if (ssh_pki_import_privkey_file(path.c_str(), nullptr, PassphraseCallback, &ctx, &priv) !=
          SSH_OK) {
        tried.push_back(path + (ctx.no_tty ? " (encrypted and no terminal to ask for its "
                                             "passphrase: add it to ssh-agent)"
                                           : " (cannot be loaded: wrong passphrase or not a "
                                             "private key)"));
        continue;
      }
      rc = ssh_userauth_publickey(s, nullptr, priv);
      ssh_key_free(priv);
      if (rc == SSH_AUTH_SUCCESS) return Status::Ok();
      if (rc == SSH_AUTH_ERROR) {
        return Status::ConnectionLost("authenticating to " + who + ": " + SessionError(s));
      }
      tried.push_back(path + " (refused by the server)");
    }
  }
  std::string accepted;
  if (methods & SSH_AUTH_METHOD_PUBLICKEY) accepted += " publickey";
  if (methods & SSH_AUTH_METHOD_PASSWORD) accepted += " password";
  if (methods & SSH_AUTH_METHOD_INTERACTIVE) accepted += " keyboard-interactive";
  if (methods & SSH_AUTH_METHOD_GSSAPI_MIC) accepted += " gssapi";
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  return Status(Code::kAuth,
                "authentication as " + c.user + " to " + c.hostname + " port " +
                    std::to_string(c.port) +
                    " failed; tried: " + (list.empty() ? "no key (none found)" : list) +
                    "; the server accepts:" + (accepted.empty() ? " nothing" : accepted) +
                    ". skiff authenticates with keys only: give the right key "
                    "with -i or IdentityFile, or load it into ssh-agent");
}

}  // namespace

// ---- the I/O thread ----

struct SshConnection::Impl {
  struct OpenRequest {
    bool exec = false;
    std::string arg;
    std::promise<Result<std::shared_ptr<Pipe>>> done;
  };
  struct Live {
    ssh_channel ch = nullptr;
    std::shared_ptr<Pipe> pipe;
    std::unique_ptr<OpenRequest> req;  // while opening
    enum { kOpening, kRequesting, kOpen } state = kOpening;
    Clock::time_point deadline;
    bool exec = false;
    bool eof_sent = false;
    bool exit_known = false;
    // Our estimate of libssh's buffered bytes plus the window still open to the server
    // (libssh 0.10 opens channels with a 64000-byte window).
    size_t window_budget = 64000;
    // Set by libssh's callbacks when data or a window adjust for this channel has been
    // taken off the socket; cleared just before the channel is serviced. See Loop().
    bool touched = false;
    ssh_channel_callbacks_struct cb{};
  };

  // See Service(): window adjusts are sent in steps of at least this much.
  static constexpr size_t kWindowStep = 1 << 20;
  // After a poll that found work, up to this many further non-blocking polls run before
  // the channels are serviced. libssh reads the socket 4 KiB per poll, so without this
  // the reader thread would be woken for every 4 KiB (a context switch each, measured
  // as the largest cost of a raw download); 64 polls hand it ~256 KiB at a time.
  static constexpr int kDrainPolls = 64;

  SshConfig config;
  ssh_session session = nullptr;
  ssh_event event = nullptr;
  int wake_fd = -1;
  std::thread io;

  mutable std::mutex mu;  // guards pending, stop, dead
  std::vector<std::unique_ptr<OpenRequest>> pending;
  bool stop = false;
  Status dead;

  // I/O thread only (and the destructor after join).
  std::vector<std::unique_ptr<Live>> channels;
  ssh_counter_struct counters{};
  uint64_t last_in_bytes = 0;
  Clock::time_point last_rx;
  int missed = 0;
  // Set by OnWake, cleared at the start of each pass over the channels (see Loop()).
  bool woken = false;
  std::atomic<uint64_t> missed_wakeups{0};

  // True when an open channel has bytes in its ring that the window would let us send.
  bool OutputWaiting() {
    for (const auto& l : channels) {
      if (l->state != Live::kOpen) continue;
      size_t queued;
      {
        std::lock_guard<std::mutex> lock(l->pipe->mu);
        queued = l->pipe->out.size();
      }
      if (queued > 0 && ssh_channel_window_size(l->ch) > 0) return true;
    }
    return false;
  }

  // Frees a channel's libssh object. libssh may keep a freed channel alive until the
  // server's CHANNEL_CLOSE arrives and still run its callbacks (exit-status, data), so
  // ours are removed first: their userdata (the Live) is destroyed right after.
  static void FreeChannel(Live& l) {
    ssh_remove_channel_callbacks(l.ch, &l.cb);
    ssh_channel_free(l.ch);
    l.ch = nullptr;
  }

  ~Impl() {
    for (auto& l : channels) FreeChannel(*l);
    channels.clear();
    if (event) {
      if (session) ssh_event_remove_session(event, session);
      if (wake_fd >= 0) ssh_event_remove_fd(event, wake_fd);
      ssh_event_free(event);
    }
    if (session) {
      if (ssh_is_connected(session)) ssh_disconnect(session);
      ssh_free(session);
    }
    if (wake_fd >= 0) ::close(wake_fd);
  }

  static int OnWake(socket_t fd, int /*revents*/, void* userdata) {
    static_cast<Impl*>(userdata)->woken = true;
    uint64_t v;
    if (::read(fd, &v, sizeof v) < 0) {
      // EAGAIN: another poll already drained it
    }
    return 0;
  }

  static int OnData(ssh_session, ssh_channel, void* data, uint32_t len, int is_stderr,
                    void* userdata) {
    auto* l = static_cast<Live*>(userdata);
    l->touched = true;
    if (!is_stderr) return 0;  // stdout stays in libssh's buffer for ssh_channel_read
    std::lock_guard<std::mutex> lock(l->pipe->mu);
    std::string& t = l->pipe->stderr_tail;
    t.append(static_cast<const char*>(data), len);
    if (t.size() > SshChannel::kStderrKeep) t.erase(0, t.size() - SshChannel::kStderrKeep);
    return static_cast<int>(len);
  }

  static int OnWindowOpened(ssh_session, ssh_channel, uint32_t /*bytes*/, void* userdata) {
    static_cast<Live*>(userdata)->touched = true;
    return 0;
  }

  static void OnExitStatus(ssh_session, ssh_channel, int status, void* userdata) {
    auto* l = static_cast<Live*>(userdata);
    l->exit_known = true;
    l->touched = true;
    std::lock_guard<std::mutex> lock(l->pipe->mu);
    l->pipe->exit_status = status;
  }

  static void Fail(Pipe& p, const Status& st) {
    {
      std::lock_guard<std::mutex> lock(p.mu);
      if (p.failure.ok()) p.failure = st;
    }
    p.readable.notify_all();
    p.writable.notify_all();
  }

  void Die(const Status& st) {
    std::vector<std::unique_ptr<OpenRequest>> reqs;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (dead.ok()) dead = st;
      reqs.swap(pending);
    }
    for (auto& r : reqs) r->done.set_value(st);
    for (auto& l : channels) {
      if (l->req) l->req->done.set_value(st);
      l->req.reset();
      Fail(*l->pipe, st);
    }
  }

  void StartOpen(std::unique_ptr<OpenRequest> r) {
    auto l = std::make_unique<Live>();
    l->ch = ssh_channel_new(session);
    if (!l->ch) {
      r->done.set_value(Status::Io("cannot allocate an ssh channel: " + SessionError(session)));
      return;
    }
    l->exec = r->exec;
    l->pipe = std::make_shared<Pipe>();
    l->deadline = Clock::now() + config.connect_timeout;
    l->req = std::move(r);
    ssh_callbacks_init(&l->cb);
    l->cb.userdata = l.get();
    l->cb.channel_data_function = &Impl::OnData;
    l->cb.channel_exit_status_function = &Impl::OnExitStatus;
    l->cb.channel_write_wontblock_function = &Impl::OnWindowOpened;
    ssh_set_channel_callbacks(l->ch, &l->cb);
    channels.push_back(std::move(l));
  }

  // Advances an opening channel; false when it failed and was completed with an error.
  bool AdvanceOpen(Live& l) {
    const std::string what =
        l.exec ? "exec '" + l.req->arg + "'" : "subsystem '" + l.req->arg + "'";
    int rc = SSH_OK;
    if (l.state == Live::kOpening) {
      rc = ssh_channel_open_session(l.ch);
      if (rc == SSH_OK) l.state = Live::kRequesting;
    }
    if (l.state == Live::kRequesting) {
      rc = l.exec ? ssh_channel_request_exec(l.ch, l.req->arg.c_str())
                  : ssh_channel_request_subsystem(l.ch, l.req->arg.c_str());
      if (rc == SSH_OK) {
        l.state = Live::kOpen;
        l.req->done.set_value(l.pipe);
        l.req.reset();
        return true;
      }
    }
    if (rc == SSH_ERROR) {
      Code code = l.state == Live::kRequesting && !l.exec ? Code::kUnsupported : Code::kIo;
      l.req->done.set_value(
          Status(code, "opening " + what + " on " + Describe() + ": " + SessionError(session)));
      return false;
    }
    if (Clock::now() > l.deadline) {
      l.req->done.set_value(
          Status::Timeout("opening " + what + " on " + Describe() + ": no answer in time"));
      return false;
    }
    return true;
  }

  std::string Describe() const {
    return config.user + "@" + config.hostname + ":" + std::to_string(config.port);
  }

  // Moves bytes between libssh and the rings; false when the channel is finished.
  bool Service(Live& l) {
    Pipe& p = *l.pipe;
    {
      std::lock_guard<std::mutex> lock(p.mu);
      if (p.closed) return false;
    }
    if (l.state != Live::kOpen) return AdvanceOpen(l);
    // Outbound. Once the server closed the channel, writers fail instead of filling
    // the ring forever.
    if (ssh_channel_is_closed(l.ch)) {
      bool notify = false;
      {
        std::lock_guard<std::mutex> lock(p.mu);
        notify = !p.peer_closed;
        p.peer_closed = true;
      }
      if (notify) p.writable.notify_all();
    }
    for (;;) {
      const char* src;
      size_t len;
      bool eof_req;
      {
        std::lock_guard<std::mutex> lock(p.mu);
        std::tie(src, len) = p.out.ReadRegion();
        eof_req = p.eof_requested;
      }
      if (len == 0) {
        if (eof_req && !l.eof_sent) {
          if (ssh_channel_send_eof(l.ch) == SSH_ERROR) {
            Fail(p, Status::Io("sending EOF on " + Describe() + ": " + SessionError(session)));
            return true;
          }
          l.eof_sent = true;
        }
        break;
      }
      uint32_t win = ssh_channel_window_size(l.ch);
      if (win == 0) break;
      int n = ssh_channel_write(l.ch, src, static_cast<uint32_t>(std::min<size_t>(len, win)));
      if (n == SSH_ERROR) {
        Fail(p, Status::ConnectionLost("writing to " + Describe() + ": " + SessionError(session)));
        return true;
      }
      if (n <= 0) break;
      {
        std::lock_guard<std::mutex> lock(p.mu);
        p.out.Consume(static_cast<size_t>(n));
      }
      p.writable.notify_all();
      if (static_cast<size_t>(n) < len) break;
    }
    // Inbound. Asking libssh for as much as the ring can take also sets the window we
    // advertise to that (libssh grows the window to the requested count).
    bool drained = false;
    {
      std::lock_guard<std::mutex> lock(p.mu);
      if (p.in_eof) return true;  // nothing more will come
    }
    for (;;) {
      char* dst;
      size_t room;
      {
        std::lock_guard<std::mutex> lock(p.mu);
        std::tie(dst, room) = p.in.WriteRegion();
        if (room == 0) {
          p.io_wants_space = true;
          break;
        }
      }
      // libssh sends a WINDOW_ADJUST whenever the count asked for exceeds what it has
      // buffered plus the window still open, i.e. on nearly every read. Ask for the
      // whole free space only once that would open the window by kWindowStep or more,
      // so adjusts go out once per MiB, not once per packet.
      size_t count;
      if (room >= l.window_budget + kWindowStep || l.window_budget < kWindowStep) {
        count = room;
        l.window_budget = room;
      } else {
        count = std::min(room, l.window_budget);
      }
      int n = ssh_channel_read_timeout(l.ch, dst, static_cast<uint32_t>(count), 0, 0);
      if (n == SSH_ERROR) {
        Fail(p,
             Status::ConnectionLost("reading from " + Describe() + ": " + SessionError(session)));
        return true;
      }
      if (n > 0) {
        l.window_budget -= std::min(l.window_budget, static_cast<size_t>(n));
        {
          std::lock_guard<std::mutex> lock(p.mu);
          p.in.Commit(static_cast<size_t>(n));
        }
        p.readable.notify_one();
      }
      if (n <= 0 || static_cast<size_t>(n) < count) {
        drained = true;
        break;
      }
    }
    if (drained && (ssh_channel_is_eof(l.ch) || ssh_channel_is_closed(l.ch))) {
      // An exec's exit-status follows its EOF; report EOF once it (or CLOSE) is here.
      if (l.exit_known || ssh_channel_is_closed(l.ch) || !l.exec) {
        bool notify = false;
        {
          std::lock_guard<std::mutex> lock(p.mu);
          notify = !p.in_eof;
          p.in_eof = true;
        }
        if (notify) p.readable.notify_all();
      }
    }
    return true;
  }

  // Keepalive bookkeeping; returns the poll timeout in ms.
  int Keepalive() {
    const auto now = Clock::now();
    if (counters.in_bytes != last_in_bytes) {
      last_in_bytes = counters.in_bytes;
      last_rx = now;
      missed = 0;
    }
    const auto interval = config.keepalive_interval;
    if (interval.count() <= 0) return 1000;
    auto next = last_rx + interval * (missed + 1);
    if (now >= next) {
      if (missed >= config.keepalive_count_max) {
        Die(Status::Timeout(
            "connection to " + Describe() + " is dead: nothing received for " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::milliseconds>(now - last_rx).count()) +
            " ms despite " + std::to_string(missed) +
            " keepalives (ServerAliveInterval x ServerAliveCountMax)"));
        return 0;
      }
      // Two calls: libssh only sends a new keepalive when the previous request's
      // answer has been consumed, which the first call does.
      ssh_send_keepalive(session);
      ssh_send_keepalive(session);
      ++missed;
      next = last_rx + interval * (missed + 1);
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    return static_cast<int>(std::clamp<long>(ms + 1, 1, 1000));
  }

  void Loop() {
    last_rx = Clock::now();
    for (;;) {
      std::vector<std::unique_ptr<OpenRequest>> reqs;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stop) return;
        reqs.swap(pending);
      }
      for (auto& r : reqs) StartOpen(std::move(r));
      bool opening = false;
      woken = false;
      for (size_t i = 0; i < channels.size();) {
        channels[i]->touched = false;
        if (!Service(*channels[i])) {
          FreeChannel(*channels[i]);
          channels.erase(channels.begin() + static_cast<long>(i));
          continue;
        }
        opening |= channels[i]->state != Live::kOpen;
        ++i;
      }
      if (!ssh_is_connected(session)) {
        Die(Status::ConnectionLost("connection to " + Describe() +
                                   " lost: " + SessionError(session)));
        return;
      }
      int timeout = Keepalive();
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!dead.ok()) return;
      }
      if (opening) timeout = std::min(timeout, 50);
      // Servicing one channel makes libssh read the socket and file packets for the
      // others: data for a channel already serviced in this pass then sits in libssh's
      // buffer while the socket is empty, and a blocking poll would sleep on it for the
      // whole timeout. With several channels on one connection that showed as requests
      // stalled ~1 s (1-5 stalls in 4 of 5 backups of 1000 files over 4 sessions).
      // So a pass that left any channel touched is followed at once by another.
      for (const auto& l : channels) {
        if (l->touched) timeout = 0;
      }
      // Likewise for wakeups: the poll libssh runs inside a channel read or write also
      // polls the wake eventfd and runs OnWake, so a writer's wakeup for a channel
      // serviced earlier in the pass can be consumed there. That was the 1 s stall:
      // four sessions on one connection doing waited LSTATs from four threads saw up to
      // 190 stalls of ~1 s in 8000 requests, each with the request (14 bytes) still in
      // the channel's ring.
      if (woken) timeout = 0;
      const bool output_waiting = timeout > 0 && OutputWaiting();
      int rc = ssh_event_dopoll(event, timeout);
      // SSH_AGAIN: the whole timeout passed with no event at all.
      if (rc == SSH_AGAIN && output_waiting) ++missed_wakeups;
      for (int k = 0; rc == SSH_OK && k < kDrainPolls; ++k) rc = ssh_event_dopoll(event, 0);
      if (rc == SSH_ERROR && !ssh_is_connected(session)) {
        Die(Status::ConnectionLost("connection to " + Describe() +
                                   " lost: " + SessionError(session)));
        return;
      }
    }
  }
};

SshConnection::SshConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SshConnection::~SshConnection() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  Wake();
  if (impl_->io.joinable()) impl_->io.join();
}

Result<std::shared_ptr<SshConnection>> SshConnection::Connect(const SshOptions& options) {
  SKIFF_ASSIGN_OR_RETURN(SshConfig config, ResolveSshConfig(options));
  return Connect(config);
}

Result<std::shared_ptr<SshConnection>> SshConnection::Connect(const SshConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->session = ssh_new();
  if (!impl->session) return Status::Io("cannot create an ssh session (out of memory?)");
  SKIFF_RETURN_IF_ERROR(ConnectSocket(impl->session, config));
  SKIFF_RETURN_IF_ERROR(VerifyHostKey(impl->session, config));
  SKIFF_RETURN_IF_ERROR(Authenticate(impl->session, config));

  impl->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  impl->event = ssh_event_new();
  if (impl->wake_fd < 0 || !impl->event) {
    return Status::Io(std::string("cannot set up the connection's event loop: ") +
                      std::strerror(errno));
  }
  ssh_set_counters(impl->session, &impl->counters, nullptr);
  ssh_set_blocking(impl->session, 0);
  if (ssh_event_add_session(impl->event, impl->session) != SSH_OK ||
      ssh_event_add_fd(impl->event, impl->wake_fd, POLLIN, &Impl::OnWake, impl.get()) != SSH_OK) {
    return Status::Io("cannot set up the connection's event loop: " + SessionError(impl->session));
  }
  Impl* raw = impl.get();
  std::shared_ptr<SshConnection> conn(new SshConnection(std::move(impl)));
  raw->io = std::thread([raw] { raw->Loop(); });
  return conn;
}

Result<std::unique_ptr<Channel>> SshConnection::Open(bool exec, const std::string& arg) {
  auto req = std::make_unique<Impl::OpenRequest>();
  req->exec = exec;
  req->arg = arg;
  auto fut = req->done.get_future();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->dead.ok()) return impl_->dead;
    impl_->pending.push_back(std::move(req));
  }
  Wake();
  Result<std::shared_ptr<Pipe>> pipe = fut.get();
  if (!pipe.ok()) return pipe.status();
  return std::unique_ptr<Channel>(new SshChannel(shared_from_this(), std::move(pipe).value()));
}

Result<std::unique_ptr<Channel>> SshConnection::OpenSubsystem(const std::string& name) {
  return Open(false, name);
}

Result<std::unique_ptr<Channel>> SshConnection::OpenExec(const std::string& command) {
  return Open(true, command);
}

Status SshConnection::health() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->dead;
}

const SshConfig& SshConnection::config() const { return impl_->config; }

std::string SshConnection::Describe() const { return impl_->Describe(); }

uint64_t SshConnection::missed_wakeups() const { return impl_->missed_wakeups.load(); }

void SshConnection::Wake() {
  uint64_t one = 1;
  if (::write(impl_->wake_fd, &one, sizeof one) < 0) {
    // EAGAIN only when the counter is saturated, i.e. a wakeup is already pending
  }
}

}  // namespace skiff
