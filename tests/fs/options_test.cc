// -o parsing: sshfs names, ssh pass-through, clear errors.
#include <boost/test/unit_test.hpp>

#include "fs/mount_options.h"

using skiff::fs::ApplyMountOptions;
using skiff::fs::CacheMode;
using skiff::fs::MountOptions;

BOOST_AUTO_TEST_SUITE(mount_options)

BOOST_AUTO_TEST_CASE(sshfs_names) {
  MountOptions o;
  BOOST_REQUIRE(
      ApplyMountOptions("reconnect,idmap=user,uid=10,gid=20,allow_other,default_permissions,ro,"
                        "max_conns=4,follow_symlinks,cache_timeout=7",
                        o)
          .ok());
  BOOST_CHECK(o.reconnect && o.idmap_user && o.allow_other && o.default_permissions);
  BOOST_CHECK(o.read_only && o.follow_symlinks);
  BOOST_CHECK_EQUAL(*o.uid, 10u);
  BOOST_CHECK_EQUAL(*o.gid, 20u);
  BOOST_CHECK_EQUAL(o.max_conns, 4);
  BOOST_CHECK_EQUAL(o.attr_timeout, 7);
  BOOST_CHECK_EQUAL(o.dir_timeout, 7);
}

BOOST_AUTO_TEST_CASE(ssh_options_pass_through_and_unknown_fail) {
  MountOptions o;
  BOOST_REQUIRE(ApplyMountOptions("ServerAliveInterval=5,Port=2222,ro", o).ok());
  BOOST_REQUIRE_EQUAL(o.ssh_options.size(), 2u);
  BOOST_CHECK_EQUAL(o.ssh_options[0], "ServerAliveInterval=5");
  auto s = ApplyMountOptions("nonsense", o);
  BOOST_CHECK(!s.ok());
  BOOST_CHECK_NE(s.message().find("nonsense"), std::string::npos);
  BOOST_CHECK(!ApplyMountOptions("max_conns=0", o).ok());
  BOOST_CHECK_EQUAL(o.write_conns, 1u);  // striping stays on one connection by default
  BOOST_REQUIRE(ApplyMountOptions("write_conns=2", o).ok());
  BOOST_CHECK_EQUAL(o.write_conns, 2u);
  BOOST_CHECK(!ApplyMountOptions("write_conns=0", o).ok());
  BOOST_CHECK(!ApplyMountOptions("write_conns=17", o).ok());
  BOOST_CHECK_EQUAL(o.write_sync_every, 0u);  // no early writeback fsyncs by default
  BOOST_REQUIRE(ApplyMountOptions("write_sync_mb=16", o).ok());
  BOOST_CHECK_EQUAL(o.write_sync_every, 16ull << 20);
  BOOST_REQUIRE(ApplyMountOptions("write_sync_mb=0", o).ok());
  BOOST_CHECK_EQUAL(o.write_sync_every, 0u);
  BOOST_CHECK(!ApplyMountOptions("write_sync_mb=4097", o).ok());
  BOOST_CHECK(!ApplyMountOptions("uid=abc", o).ok());
  BOOST_CHECK(!ApplyMountOptions("ro=1", o).ok());
}

BOOST_AUTO_TEST_CASE(cache_modes) {
  MountOptions o;
  BOOST_REQUIRE(ApplyMountOptions("cache=strict", o).ok());
  BOOST_CHECK(o.cache == CacheMode::kStrict);
  BOOST_CHECK_EQUAL(o.attr_timeout, 0);
  BOOST_REQUIRE(ApplyMountOptions("cache=loose", o).ok());
  BOOST_CHECK(o.cache == CacheMode::kLoose);
  BOOST_CHECK_GT(o.attr_timeout, 60);
  BOOST_CHECK(!ApplyMountOptions("cache=maybe", o).ok());
}

BOOST_AUTO_TEST_SUITE_END()
