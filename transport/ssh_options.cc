#include "transport/ssh_options.h"

#include <glob.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace skiff {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Keywords skiff uses (lower case).
const std::set<std::string>& Honoured() {
  static const std::set<std::string> k = {"hostname",
                                          "port",
                                          "user",
                                          "identityfile",
                                          "proxycommand",
                                          "proxyjump",
                                          "serveraliveinterval",
                                          "serveralivecountmax",
                                          "userknownhostsfile",
                                          "stricthostkeychecking",
                                          "ciphers",
                                          "connecttimeout",
                                          "batchmode",
                                          "identitiesonly",
                                          "identityagent"};
  return k;
}

// Keywords an ssh command line may carry that do not change what skiff does; accepted
// in -o so that the command line carries over, and ignored.
const std::set<std::string>& Harmless() {
  static const std::set<std::string> k = {"addkeystoagent",
                                          "addressfamily",
                                          "checkhostip",
                                          "compression",
                                          "connectionattempts",
                                          "controlmaster",
                                          "controlpath",
                                          "controlpersist",
                                          "escapechar",
                                          "forwardagent",
                                          "forwardx11",
                                          "gssapiauthentication",
                                          "hashknownhosts",
                                          "kbdinteractiveauthentication",
                                          "loglevel",
                                          "numberofpasswordprompts",
                                          "passwordauthentication",
                                          "permitlocalcommand",
                                          "preferredauthentications",
                                          "pubkeyauthentication",
                                          "requesttty",
                                          "sendenv",
                                          "setenv",
                                          "tcpkeepalive",
                                          "updatehostkeys",
                                          "visualhostkey",
                                          "globalknownhostsfile"};
  return k;
}

// Settings collected in ssh_config order: the first value of a keyword wins, IdentityFile
// accumulates.
struct RawSettings {
  std::map<std::string, std::string> first;
  std::vector<std::string> identity_files;
};

Result<long> ParseNumber(const std::string& v, long min, long max, const std::string& what) {
  if (!AllDigits(v) || v.size() > 9) {
    return Status::Invalid(what + ": expected a number, got '" + v + "'");
  }
  long n = std::stol(v);
  if (n < min || n > max) {
    return Status::Invalid(what + ": " + v + " is out of range (" + std::to_string(min) + "-" +
                           std::to_string(max) + ")");
  }
  return n;
}

// Validates one setting and records it unless an earlier value won. `where` names the
// source in messages ("-o Port=x", "/home/u/.ssh/config line 3").
Status Apply(const std::string& key, const std::string& value, const std::string& where,
             RawSettings* s) {
  if (value.empty()) return Status::Invalid(where + ": missing value");
  if (key == "port") {
    SKIFF_RETURN_IF_ERROR(ParseNumber(value, 1, 65535, where + ": Port").status());
  } else if (key == "serveraliveinterval" || key == "connecttimeout") {
    SKIFF_RETURN_IF_ERROR(ParseNumber(value, 0, 86400, where + ": seconds").status());
  } else if (key == "serveralivecountmax") {
    SKIFF_RETURN_IF_ERROR(ParseNumber(value, 1, 1000, where + ": ServerAliveCountMax").status());
  } else if (key == "stricthostkeychecking") {
    std::string v = Lower(value);
    if (v != "yes" && v != "no" && v != "ask" && v != "accept-new" && v != "off") {
      return Status::Invalid(where +
                             ": StrictHostKeyChecking must be yes, no, ask, accept-new or off");
    }
  } else if (key == "batchmode" || key == "identitiesonly") {
    std::string v = Lower(value);
    if (v != "yes" && v != "no") return Status::Invalid(where + ": expected yes or no");
  } else if (key == "proxyjump") {
    if (Lower(value) != "none") {
      return Status::Invalid(where +
                             ": ProxyJump is not supported by skiff; use ProxyCommand "
                             "(for example `ProxyCommand ssh -W %h:%p JUMPHOST`)");
    }
  }
  if (key == "identityfile") {
    s->identity_files.push_back(value);
  } else {
    s->first.emplace(key, value);  // keeps an earlier value
  }
  return Status::Ok();
}

std::vector<std::string> Tokens(const std::string& s);

// Splits "Keyword=value" or "Keyword value".
Result<std::pair<std::string, std::string>> SplitOption(const std::string& opt) {
  size_t k = opt.find_first_of("= \t");
  if (k == std::string::npos || k == 0) {
    return Status::Invalid("-o " + opt + ": expected Option=value");
  }
  std::string key = Lower(opt.substr(0, k));
  size_t v = opt.find_first_not_of("= \t", k);
  std::string value = v == std::string::npos ? "" : opt.substr(v);
  return std::make_pair(key, value);
}

Status ApplyCommandLineOption(const std::string& opt, RawSettings* s) {
  SKIFF_ASSIGN_OR_RETURN(auto kv, SplitOption(opt));
  const std::string where = "-o " + opt;
  if (Harmless().count(kv.first)) return Status::Ok();
  if (!Honoured().count(kv.first)) {
    return Status::Invalid(where + ": unknown or unsupported ssh option '" + kv.first +
                           "'; skiff honours HostName, Port, User, IdentityFile, ProxyCommand, "
                           "ServerAliveInterval, ServerAliveCountMax, UserKnownHostsFile, "
                           "StrictHostKeyChecking, Ciphers, ConnectTimeout, BatchMode, "
                           "IdentitiesOnly, IdentityAgent");
  }
  if (kv.first == "userknownhostsfile") {  // several files, one per line as from a file
    std::string files;
    for (const auto& t : Tokens(kv.second)) files += (files.empty() ? "" : "\n") + t;
    kv.second = files;
  }
  return Apply(kv.first, kv.second, where, s);
}

// Splits a config line's arguments on blanks, honouring double quotes.
std::vector<std::string> Tokens(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false, have = false;
  for (char c : s) {
    if (c == '"') {
      quoted = !quoted;
      have = true;
    } else if (!quoted && (c == ' ' || c == '\t')) {
      if (have) out.push_back(cur);
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) out.push_back(cur);
  return out;
}

// ssh_config pattern: '*' and '?' wildcards, case-insensitive. Linear backtracking to
// the last '*' only, so the time is O(|p| * |s|): the recursive form took exponential
// time on patterns like "*a*a*a...*b" (ssh_config_fuzz; a Host line could hang skiff).
bool Glob(const char* p, const char* s) {
  const char* star = nullptr;    // the last '*' seen in p
  const char* resume = nullptr;  // where in s that '*' currently ends
  auto same = [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  };
  while (*s) {
    if (*p == '*') {
      star = p++;
      resume = s;
    } else if (*p && (*p == '?' || same(*p, *s))) {
      ++p;
      ++s;
    } else if (star) {
      p = star + 1;  // let the last '*' swallow one more character
      s = ++resume;
    } else {
      return false;
    }
  }
  while (*p == '*') ++p;
  return *p == 0;
}

bool HostMatches(const std::vector<std::string>& patterns, const std::string& host) {
  bool matched = false;
  for (const std::string& pat : Tokens([&] {
         std::string all;
         for (const auto& p : patterns) all += p + " ";
         std::replace(all.begin(), all.end(), ',', ' ');
         return all;
       }())) {
    if (!pat.empty() && pat[0] == '!') {
      if (Glob(pat.c_str() + 1, host.c_str())) return false;
    } else if (Glob(pat.c_str(), host.c_str())) {
      matched = true;
    }
  }
  return matched;
}

std::string ExpandTilde(const std::string& path, const std::string& home) {
  if (path == "~") return home;
  if (path.rfind("~/", 0) == 0) return home + path.substr(1);
  return path;
}

Status ReadConfigFile(const std::string& path, const std::string& host, const std::string& home,
                      const std::string& include_base, bool required, int depth, RawSettings* s) {
  if (depth > 16) return Status::Invalid(path + ": Include nested too deeply");
  std::ifstream in(path);
  if (!in) {
    if (!required && errno == ENOENT) return Status::Ok();
    return Status::Invalid("cannot read ssh config " + path + ": " + std::strerror(errno));
  }
  bool active = true;  // lines before the first Host apply to every host
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
      line.pop_back();
    }
    size_t e = line.find_first_of(" \t=", b);
    std::string key = Lower(line.substr(b, e == std::string::npos ? std::string::npos : e - b));
    std::string rest;
    if (e != std::string::npos) {
      size_t v = line.find_first_not_of(" \t", e);
      if (v != std::string::npos && line[v] == '=') v = line.find_first_not_of(" \t", v + 1);
      if (v != std::string::npos) rest = line.substr(v);
    }
    const std::string where = path + " line " + std::to_string(lineno);
    if (key == "host") {
      active = HostMatches(Tokens(rest), host);
      continue;
    }
    if (key == "match") {  // only "Match all" is evaluated; other Match blocks are skipped
      active = Lower(rest) == "all";
      continue;
    }
    if (!active) continue;
    if (key == "include") {
      for (std::string pat : Tokens(rest)) {
        pat = ExpandTilde(pat, home);
        if (pat.empty() || pat[0] != '/') pat = include_base + "/" + pat;
        glob_t g{};
        if (glob(pat.c_str(), 0, nullptr, &g) == 0) {
          for (size_t i = 0; i < g.gl_pathc; ++i) {
            Status st =
                ReadConfigFile(g.gl_pathv[i], host, home, include_base, false, depth + 1, s);
            if (!st.ok()) {
              globfree(&g);
              return st;
            }
          }
        }
        globfree(&g);
      }
      continue;
    }
    if (!Honoured().count(key)) continue;  // ssh keywords skiff does not use
    std::string value;
    if (key == "proxycommand") {
      value = rest;
    } else if (key == "userknownhostsfile") {
      for (const auto& t : Tokens(rest)) value += (value.empty() ? "" : "\n") + t;
    } else {
      auto t = Tokens(rest);
      if (!t.empty()) value = t[0];
    }
    SKIFF_RETURN_IF_ERROR(Apply(key, value, where, s));
  }
  return Status::Ok();
}

Result<std::string> Percent(const std::string& in, const std::map<char, std::string>& vars,
                            const std::string& what) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 1 >= in.size()) return Status::Invalid(what + ": '%' at the end of '" + in + "'");
    char c = in[++i];
    if (c == '%') {
      out += '%';
      continue;
    }
    auto it = vars.find(c);
    if (it == vars.end()) {
      return Status::Invalid(what + ": unknown escape %" + std::string(1, c) + " in '" + in + "'");
    }
    out += it->second;
  }
  return out;
}

std::string LocalUser() {
  if (const char* u = getenv("USER"); u && *u) return u;
  if (struct passwd* pw = getpwuid(getuid())) return pw->pw_name;
  return "root";
}

std::string Home() {
  if (const char* h = getenv("HOME"); h && *h) return h;
  if (struct passwd* pw = getpwuid(getuid())) return pw->pw_dir;
  return "/";
}

}  // namespace

Result<SshOptions> ParseSshFlags(std::vector<std::string>& args) {
  SshOptions o;
  std::vector<std::string> rest;
  RawSettings scratch;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      rest.insert(rest.end(), args.begin() + static_cast<long>(i), args.end());
      break;
    }
    if (a.size() < 2 || a[0] != '-' ||
        std::string_view("Fiop").find(a[1]) == std::string_view::npos) {
      rest.push_back(a);
      continue;
    }
    const char flag = a[1];
    const bool attached = a.size() > 2;
    if (flag == 'p') {
      std::string v = attached ? a.substr(2) : (i + 1 < args.size() ? args[i + 1] : "");
      if (!AllDigits(v)) {  // not a port: the command's own -p
        rest.push_back(a);
        continue;
      }
      SKIFF_ASSIGN_OR_RETURN(long port, ParseNumber(v, 1, 65535, "-p " + v + ": port"));
      o.port = static_cast<int>(port);
      if (!attached) ++i;
      continue;
    }
    std::string value;
    if (attached) {
      value = a.substr(2);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      static const std::map<char, std::string> kWhat = {
          {'F', "a config file"}, {'i', "an identity file"}, {'o', "Option=value"}};
      return Status::Invalid(std::string("-") + flag + " needs an argument (" + kWhat.at(flag) +
                             ")");
    }
    if (value.empty()) return Status::Invalid(std::string("-") + flag + ": empty argument");
    switch (flag) {
      case 'F':
        o.config_file = value;
        break;
      case 'i':
        o.identity_files.push_back(value);
        break;
      case 'o':
        SKIFF_RETURN_IF_ERROR(ApplyCommandLineOption(value, &scratch));
        o.options.push_back(value);
        break;
    }
  }
  args = std::move(rest);
  return o;
}

RemoteSpec ParseRemoteSpec(const std::string& arg) {
  RemoteSpec spec;
  spec.path = arg;
  if (arg.empty() || arg[0] == ':') return spec;
  // scp's colon(): find the separating ':', treating [..] as one host token.
  bool bracket = arg[0] == '[';
  size_t colon = std::string::npos;
  for (size_t i = 0; i < arg.size(); ++i) {
    char c = arg[i];
    if (c == '@' && i + 1 < arg.size() && arg[i + 1] == '[') bracket = true;
    if (c == ']' && bracket && i + 1 < arg.size() && arg[i + 1] == ':') {
      colon = i + 1;
      break;
    }
    if (c == ':' && !bracket) {
      colon = i;
      break;
    }
    if (c == '/') return spec;
  }
  if (colon == std::string::npos) return spec;
  std::string userhost = arg.substr(0, colon);
  spec.remote = true;
  spec.path = arg.substr(colon + 1);
  size_t at = userhost.rfind('@');
  if (at != std::string::npos) {
    spec.user = userhost.substr(0, at);
    userhost = userhost.substr(at + 1);
  }
  if (userhost.size() >= 2 && userhost.front() == '[' && userhost.back() == ']') {
    userhost = userhost.substr(1, userhost.size() - 2);
  }
  spec.host = userhost;
  return spec;
}

Result<SshConfig> ResolveSshConfig(const SshOptions& opts, const std::string& home_override) {
  if (opts.host.empty()) return Status::Invalid("no host given to connect to");
  const std::string home = home_override.empty() ? Home() : home_override;
  RawSettings s;
  if (!opts.user.empty()) s.first.emplace("user", opts.user);
  if (opts.port != 0) s.first.emplace("port", std::to_string(opts.port));
  for (const auto& id : opts.identity_files) s.identity_files.push_back(id);
  for (const auto& opt : opts.options) SKIFF_RETURN_IF_ERROR(ApplyCommandLineOption(opt, &s));
  if (opts.config_file == "none") {
    // no config file at all
  } else if (!opts.config_file.empty()) {
    std::string f = ExpandTilde(opts.config_file, home);
    std::string base = f.find('/') == std::string::npos ? "." : f.substr(0, f.rfind('/'));
    SKIFF_RETURN_IF_ERROR(ReadConfigFile(f, opts.host, home, base, true, 0, &s)
                              .WithContext("-F " + opts.config_file));
  } else {
    SKIFF_RETURN_IF_ERROR(
        ReadConfigFile(home + "/.ssh/config", opts.host, home, home + "/.ssh", false, 0, &s));
    SKIFF_RETURN_IF_ERROR(
        ReadConfigFile("/etc/ssh/ssh_config", opts.host, home, "/etc/ssh", false, 0, &s));
  }
  auto get = [&](const char* k) -> std::string {
    auto it = s.first.find(k);
    return it == s.first.end() ? "" : it->second;
  };

  SshConfig c;
  c.alias = opts.host;
  c.hostname = opts.host;
  if (std::string h = get("hostname"); !h.empty()) {
    SKIFF_ASSIGN_OR_RETURN(c.hostname, Percent(h, {{'h', opts.host}}, "HostName"));
  }
  if (std::string p = get("port"); !p.empty()) c.port = std::stoi(p);
  c.user = get("user").empty() ? LocalUser() : get("user");
  const std::map<char, std::string> vars = {{'h', c.hostname}, {'p', std::to_string(c.port)},
                                            {'r', c.user},     {'u', LocalUser()},
                                            {'d', home},       {'n', opts.host}};
  for (const auto& id : s.identity_files) {
    SKIFF_ASSIGN_OR_RETURN(std::string path, Percent(ExpandTilde(id, home), vars, "IdentityFile"));
    if (std::find(c.identity_files.begin(), c.identity_files.end(), path) ==
        c.identity_files.end()) {
      c.identity_files.push_back(path);
    }
  }
  c.default_identities = c.identity_files.empty();
  c.identities_only = Lower(get("identitiesonly")) == "yes";
  if (std::string a = get("identityagent"); !a.empty() && Lower(a) != "none") {
    SKIFF_ASSIGN_OR_RETURN(c.identity_agent, Percent(ExpandTilde(a, home), vars, "IdentityAgent"));
  } else if (Lower(a) == "none") {
    c.identities_only = true;
  }
  if (std::string pc = get("proxycommand"); !pc.empty() && Lower(pc) != "none") {
    SKIFF_ASSIGN_OR_RETURN(c.proxy_command, Percent(pc, vars, "ProxyCommand"));
  }
  std::string kh = get("userknownhostsfile");  // one file per line (see ReadConfigFile)
  if (kh.empty()) kh = "~/.ssh/known_hosts\n~/.ssh/known_hosts2";
  std::istringstream khs(kh);
  for (std::string f; std::getline(khs, f);) {
    SKIFF_ASSIGN_OR_RETURN(std::string path,
                           Percent(ExpandTilde(f, home), vars, "UserKnownHostsFile"));
    c.known_hosts_files.push_back(path);
  }
  std::string strict = Lower(get("stricthostkeychecking"));
  if (strict == "accept-new" || strict == "no" || strict == "off" || opts.accept_new_host_key) {
    c.host_key_policy = HostKeyPolicy::kAcceptNew;
  }
  if (std::string ci = get("ciphers"); !ci.empty()) c.ciphers = ci;
  if (std::string t = get("connecttimeout"); !t.empty() && std::stol(t) > 0) {
    c.connect_timeout = std::chrono::seconds(std::stol(t));
  }
  if (std::string t = get("serveraliveinterval"); !t.empty()) {
    c.keepalive_interval = std::chrono::seconds(std::stol(t));
  }
  if (std::string t = get("serveralivecountmax"); !t.empty()) {
    c.keepalive_count_max = static_cast<int>(std::stol(t));
  }
  c.batch_mode = opts.batch_mode || Lower(get("batchmode")) == "yes";
  if (opts.connect_timeout.count() > 0) c.connect_timeout = opts.connect_timeout;
  if (opts.keepalive_interval.count() > 0) c.keepalive_interval = opts.keepalive_interval;
  if (opts.keepalive_count_max > 0) c.keepalive_count_max = opts.keepalive_count_max;
  return c;
}

}  // namespace skiff
