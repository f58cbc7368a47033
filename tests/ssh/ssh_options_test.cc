#define BOOST_TEST_MODULE ssh_options
#include "transport/ssh_options.h"

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace skiff {
namespace {

using Args = std::vector<std::string>;

// A scratch HOME with an ssh config, removed at the end.
struct TempHome {
  TempHome() {
    char tmpl[] = "/tmp/skiff-sshopt-XXXXXX";
    dir = mkdtemp(tmpl);
    std::filesystem::create_directories(dir + "/.ssh");
  }
  ~TempHome() { std::filesystem::remove_all(dir); }
  void Write(const std::string& rel, const std::string& text) {
    std::ofstream(dir + "/" + rel) << text;
  }
  std::string dir;
};

BOOST_AUTO_TEST_CASE(flags_are_removed_and_parsed) {
  Args args = {"-r",   "-F", "cfg",    "-i",         "id1", "-iid2",   "-p",
               "2222", "-o", "Port=3", "-oUser=bob", "src", "host:dst"};
  auto o = ParseSshFlags(args);
  BOOST_REQUIRE_MESSAGE(o.ok(), o.status().ToString());
  BOOST_TEST((args == Args{"-r", "src", "host:dst"}));
  BOOST_TEST(o->config_file == "cfg");
  BOOST_TEST((o->identity_files == Args{"id1", "id2"}));
  BOOST_TEST(o->port == 2222);
  BOOST_TEST((o->options == Args{"Port=3", "User=bob"}));
}

BOOST_AUTO_TEST_CASE(non_numeric_p_is_left_for_the_command) {
  Args args = {"-p", "file", "host:dir", "-p"};
  auto o = ParseSshFlags(args);
  BOOST_REQUIRE(o.ok());
  BOOST_TEST((args == Args{"-p", "file", "host:dir", "-p"}));
  BOOST_TEST(o->port == 0);
}

BOOST_AUTO_TEST_CASE(scanning_stops_at_double_dash) {
  Args args = {"-i", "k", "--", "-i", "x"};
  auto o = ParseSshFlags(args);
  BOOST_REQUIRE(o.ok());
  BOOST_TEST((args == Args{"--", "-i", "x"}));
}

void ExpectFlagError(Args args, const std::string& needle) {
  auto o = ParseSshFlags(args);
  BOOST_REQUIRE_MESSAGE(!o.ok(), "accepted: " + needle);
  BOOST_TEST(o.status().code() == Code::kInvalidArgument);
  BOOST_TEST_MESSAGE(o.status().message());
  BOOST_TEST(o.status().message().find(needle) != std::string::npos, o.status().message());
}

BOOST_AUTO_TEST_CASE(bad_flags_name_the_flag) {
  ExpectFlagError({"-i"}, "-i needs an argument");
  ExpectFlagError({"-F"}, "-F needs an argument");
  ExpectFlagError({"x", "-o"}, "-o needs an argument");
  ExpectFlagError({"-p", "70000"}, "-p 70000");
  ExpectFlagError({"-p0"}, "-p 0");
  ExpectFlagError({"-o", "Port"}, "-o Port");
  ExpectFlagError({"-o", "Port=abc"}, "-o Port=abc");
  ExpectFlagError({"-oFrobnicate=yes"}, "Frobnicate");
  ExpectFlagError({"-o", "StrictHostKeyChecking=maybe"}, "StrictHostKeyChecking");
  ExpectFlagError({"-o", "ServerAliveInterval=-1"}, "ServerAliveInterval=-1");
  ExpectFlagError({"-o", "ProxyJump=jump"}, "ProxyJump is not supported");
}

BOOST_AUTO_TEST_CASE(dash_nul_is_not_a_flag) {
  // ssh_config_fuzz: "-\0" was taken for a flag (strchr finds the terminator) and
  // ParseSshFlags threw std::out_of_range from its message table.
  std::vector<std::string> args = {std::string("-\0", 2), "x"};
  auto o = ParseSshFlags(args);
  BOOST_REQUIRE(o.ok());
  BOOST_TEST(args.size() == 2u);
}

BOOST_AUTO_TEST_CASE(harmless_ssh_options_are_accepted) {
  Args args = {"-o", "Compression=yes", "-oControlMaster no"};
  auto o = ParseSshFlags(args);
  BOOST_REQUIRE_MESSAGE(o.ok(), o.status().ToString());
  BOOST_TEST(args.empty());
}

BOOST_AUTO_TEST_CASE(remote_specs_follow_scp_rules) {
  auto r = ParseRemoteSpec("alice@host:/srv/x");
  BOOST_TEST(r.remote);
  BOOST_TEST(r.user == "alice");
  BOOST_TEST(r.host == "host");
  BOOST_TEST(r.path == "/srv/x");
  r = ParseRemoteSpec("host:");
  BOOST_TEST(r.remote);
  BOOST_TEST(r.host == "host");
  BOOST_TEST(r.path == "");
  r = ParseRemoteSpec("./a:b");
  BOOST_TEST(!r.remote);
  BOOST_TEST(r.path == "./a:b");
  r = ParseRemoteSpec("dir/x:y");
  BOOST_TEST(!r.remote);
  r = ParseRemoteSpec(":foo");
  BOOST_TEST(!r.remote);
  r = ParseRemoteSpec("plainfile");
  BOOST_TEST(!r.remote);
  BOOST_TEST(r.path == "plainfile");
  r = ParseRemoteSpec("[::1]:/tmp/a:b");
  BOOST_TEST(r.remote);
  BOOST_TEST(r.host == "::1");
  BOOST_TEST(r.path == "/tmp/a:b");
  r = ParseRemoteSpec("bob@[fe80::1]:rel");
  BOOST_TEST(r.remote);
  BOOST_TEST(r.user == "bob");
  BOOST_TEST(r.host == "fe80::1");
  BOOST_TEST(r.path == "rel");
  r = ParseRemoteSpec("a@b@host:p");
  BOOST_TEST(r.user == "a@b");
  BOOST_TEST(r.host == "host");
}

BOOST_AUTO_TEST_CASE(config_file_is_applied_first_value_wins) {
  TempHome h;
  h.Write(".ssh/config",
          "# comment\n"
          "Host web !db* \n"
          "  HostName %h.example.org\n"
          "  Port 2200\n"
          "  User www\n"
          "  IdentityFile ~/.ssh/web_key\n"
          "  ServerAliveInterval 5\n"
          "  ServerAliveCountMax=2\n"
          "  ProxyCommand bash -c 'exec 3<>/dev/tcp/%h/%p; cat <&3 & cat >&3'\n"
          "  UserKnownHostsFile ~/kh1 \"/tmp/kh 2\"\n"
          "  StrictHostKeyChecking accept-new\n"
          "  Ciphers aes256-ctr\n"
          "  ConnectTimeout 7\n"
          "  SomethingSkiffIgnores yes\n"
          "Host *\n"
          "  Port 1\n"
          "  User nobody\n"
          "  IdentityFile ~/.ssh/all_key\n");
  SshOptions o;
  o.host = "web";
  o.config_file = h.dir + "/.ssh/config";
  auto c = ResolveSshConfig(o, h.dir);
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  BOOST_TEST(c->hostname == "web.example.org");
  BOOST_TEST(c->port == 2200);
  BOOST_TEST(c->user == "www");
  BOOST_TEST((c->identity_files == Args{h.dir + "/.ssh/web_key", h.dir + "/.ssh/all_key"}));
  BOOST_TEST(!c->default_identities);
  BOOST_TEST(c->keepalive_interval.count() == 5000);
  BOOST_TEST(c->keepalive_count_max == 2);
  BOOST_TEST(c->proxy_command ==
             "bash -c 'exec 3<>/dev/tcp/web.example.org/2200; cat <&3 & cat >&3'");
  BOOST_TEST((c->known_hosts_files == Args{h.dir + "/kh1", "/tmp/kh 2"}));
  BOOST_TEST((c->host_key_policy == HostKeyPolicy::kAcceptNew));
  BOOST_TEST(c->ciphers == "aes256-ctr");
  BOOST_TEST(c->connect_timeout.count() == 7000);
}

BOOST_AUTO_TEST_CASE(command_line_overrides_config) {
  TempHome h;
  h.Write("cfg", "Host *\n Port 1\n User nobody\n ServerAliveInterval 9\n");
  SshOptions o;
  o.host = "x";
  o.config_file = h.dir + "/cfg";
  o.user = "alice";
  o.options = {"ServerAliveInterval=2", "Port=99"};
  auto c = ResolveSshConfig(o, h.dir);
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(c->user == "alice");
  BOOST_TEST(c->port == 99);
  BOOST_TEST(c->keepalive_interval.count() == 2000);
  o.port = 5;  // -p beats -o Port
  c = ResolveSshConfig(o, h.dir);
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(c->port == 5);
}

BOOST_AUTO_TEST_CASE(negated_and_wildcard_hosts) {
  TempHome h;
  h.Write("cfg", "Host *.lan !secret.lan\n User lan\nHost s?v\n User srv\n");
  SshOptions o;
  o.config_file = h.dir + "/cfg";
  o.host = "box.LAN";
  BOOST_TEST(ResolveSshConfig(o, h.dir)->user == "lan");
  o.host = "secret.lan";
  BOOST_TEST(ResolveSshConfig(o, h.dir)->user != "lan");
  o.host = "srv";
  BOOST_TEST(ResolveSshConfig(o, h.dir)->user == "srv");
}

BOOST_AUTO_TEST_CASE(wildcards_match_in_polynomial_time) {
  // ssh_config_fuzz: "*a*a*...*b" against "aaaa..." took exponential time (the recursive
  // matcher never finished); it must answer at once, and wildcards keep their meaning.
  TempHome h;
  std::string pattern;
  for (int i = 0; i < 15; ++i) pattern += "*a";
  h.Write("cfg", "Host " + pattern + "*b\n User never\nHost *A*a?\n User stars\n");
  SshOptions o;
  o.config_file = h.dir + "/cfg";
  o.host = std::string(40, 'a');
  auto c = ResolveSshConfig(o, h.dir);
  BOOST_REQUIRE(c.ok());
  BOOST_TEST(c->user == "stars");
  o.host = std::string(40, 'a') + "b";
  BOOST_TEST(ResolveSshConfig(o, h.dir)->user == "never");
  o.host = "aa";  // "*A*a?" needs at least three characters
  BOOST_TEST(ResolveSshConfig(o, h.dir)->user != "stars");
}

BOOST_AUTO_TEST_CASE(include_and_defaults) {
  TempHome h;
  h.Write(".ssh/config", "Include conf.d/*.conf\n");
  std::filesystem::create_directories(h.dir + "/.ssh/conf.d");
  h.Write(".ssh/conf.d/a.conf", "Host inc\n  Port 4444\n");
  SshOptions o;
  o.host = "inc";
  auto c = ResolveSshConfig(o, h.dir);
  BOOST_REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  BOOST_TEST(c->port == 4444);
  BOOST_TEST(c->hostname == "inc");
  BOOST_TEST(c->default_identities);
  BOOST_TEST(c->known_hosts_files.front() == h.dir + "/.ssh/known_hosts");
  BOOST_TEST((c->host_key_policy == HostKeyPolicy::kStrict));
  BOOST_TEST(c->keepalive_interval.count() == 15000);
  BOOST_TEST(c->keepalive_count_max == 3);
  BOOST_TEST(c->ciphers.rfind("aes128-gcm@openssh.com", 0) == 0);
}

BOOST_AUTO_TEST_CASE(bad_config_names_file_and_line) {
  TempHome h;
  h.Write("cfg", "Host a\n  Port 22\nHost b\n  Port nope\n");
  SshOptions o;
  o.config_file = h.dir + "/cfg";
  o.host = "a";
  BOOST_TEST(ResolveSshConfig(o, h.dir).ok());  // the bad line is in a block not applied
  o.host = "b";
  auto c = ResolveSshConfig(o, h.dir);
  BOOST_REQUIRE(!c.ok());
  BOOST_TEST(c.status().message().find("cfg line 4") != std::string::npos, c.status().message());
  o.config_file = h.dir + "/missing";
  c = ResolveSshConfig(o, h.dir);
  BOOST_REQUIRE(!c.ok());
  BOOST_TEST(c.status().message().find("-F " + h.dir + "/missing") != std::string::npos,
             c.status().message());
  o.host = "";
  BOOST_TEST(!ResolveSshConfig(o, h.dir).ok());
}

BOOST_AUTO_TEST_CASE(explicit_options_win) {
  SshOptions o;
  o.host = "h";
  o.config_file = "none";
  o.accept_new_host_key = true;
  o.keepalive_interval = std::chrono::milliseconds(300);
  o.keepalive_count_max = 2;
  o.batch_mode = true;
  auto c = ResolveSshConfig(o, "/nonexistent");
  BOOST_REQUIRE(c.ok());
  BOOST_TEST((c->host_key_policy == HostKeyPolicy::kAcceptNew));
  BOOST_TEST(c->keepalive_interval.count() == 300);
  BOOST_TEST(c->keepalive_count_max == 2);
  BOOST_TEST(c->batch_mode);
}

}  // namespace
}  // namespace skiff
