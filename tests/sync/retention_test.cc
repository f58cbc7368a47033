#include "sync/retention.h"

#include <boost/test/unit_test.hpp>
#include <set>

using namespace skiff;
using namespace skiff::sync;

namespace {

std::set<std::string> Kept(const std::vector<std::string>& names, const RetentionPolicy& p,
                           int64_t now) {
  auto r = ApplyRetention(names, p, now);
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  std::set<std::string> kept;
  for (const auto& d : *r)
    if (d.keep) kept.insert(d.name);
  return kept;
}

}  // namespace

BOOST_AUTO_TEST_CASE(snapshot_names_parse_and_format) {
  auto t = ParseSnapshotName("2026-11-22T031500Z");
  BOOST_REQUIRE(t.has_value());
  BOOST_TEST(FormatSnapshotName(*t) == "2026-11-22T031500Z");
  BOOST_TEST(ParseSnapshotName("2026-11-22T031500Z.2").value() == *t);
  for (const char* bad :
       {"2026-11-22T0315Z", ".incomplete", "2026-13-22T031500Z", "x", "2026-11-22T031500Z."})
    BOOST_TEST(!ParseSnapshotName(bad).has_value(), bad);
  BOOST_TEST(ParseDuration("1y6m").value() == (365 + 180) * 86400);
  BOOST_TEST(ParseDuration("36h").value() == 36 * 3600);
  BOOST_TEST(!ParseDuration("3x").ok());
  BOOST_TEST(!ParseDuration("d").ok());
}

BOOST_AUTO_TEST_CASE(retention_rules) {
  // Two snapshots a day at 01:00 and 13:00, for 40 days in Nov/Dec 2026.
  std::vector<std::string> names;
  int64_t base = *ParseSnapshotName("2026-11-01T010000Z");
  for (int d = 0; d < 40; ++d)
    for (int h : {0, 12}) names.push_back(FormatSnapshotName(base + d * 86400 + h * 3600));
  int64_t now = base + 40 * 86400;

  RetentionPolicy none;
  BOOST_TEST(!ApplyRetention(names, none, now).ok());  // no rule: refuse

  RetentionPolicy last;
  last.keep_last = 3;
  BOOST_TEST(Kept(names, last, now) == (std::set<std::string>{names[79], names[78], names[77]}));

  RetentionPolicy daily;
  daily.keep_daily = 2;  // newest of each of the last 2 days: the 13:00 ones
  BOOST_TEST(Kept(names, daily, now) == (std::set<std::string>{names[79], names[77]}));

  RetentionPolicy monthly;
  monthly.keep_monthly = 5;  // only two months exist: newest of Dec and of Nov
  auto m = Kept(names, monthly, now);
  BOOST_TEST(m.size() == 2u);
  BOOST_TEST(m.count(names[79]) == 1u);
  BOOST_TEST(m.count(FormatSnapshotName(*ParseSnapshotName("2026-11-30T130000Z"))) == 1u);

  RetentionPolicy within;
  within.keep_within_seconds = 2 * 86400;             // relative to now, not to the newest snapshot
  BOOST_TEST(Kept(names, within, now).size() == 3u);  // 12, 24 and 36 hours old; 48 is out
  BOOST_TEST(Kept(names, within, now + 10 * 86400).empty());

  RetentionPolicy weekly;
  weekly.keep_weekly = 1;
  weekly.keep_last = 1;  // rules are a union; overlapping reasons keep one snapshot
  BOOST_TEST(Kept(names, weekly, now) == (std::set<std::string>{names[79]}));

  BOOST_TEST(!ApplyRetention({"junk"}, last, now).ok());
}
