#include "cli/json_value.h"

#include <boost/test/unit_test.hpp>

namespace skiff::cli {
namespace {

BOOST_AUTO_TEST_CASE(json_parses_nested_values) {
  Result<JsonValue> r = ParseJson(
      R"( {"a": 1, "b": [true, false, null, -2.5e1], "c": {"d": "x\u00e9\ud83d\ude00\n"}} )");
  BOOST_REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  BOOST_TEST(r->Find("a")->AsInt().value() == 1);
  const JsonValue::Array* b = r->Find("b")->AsArray();
  BOOST_REQUIRE(b);
  BOOST_TEST(b->size() == 4u);
  BOOST_TEST((*b)[0].AsBool().value());
  BOOST_TEST((*b)[2].is_null());
  BOOST_TEST((*b)[3].AsNumber().value() == -25.0);
  BOOST_TEST((*b)[3].AsInt().value() == -25);
  BOOST_TEST(r->Find("c")->Find("d")->AsString().value() == "x\xc3\xa9\xf0\x9f\x98\x80\n");
  BOOST_TEST(r->Find("zz") == nullptr);
  BOOST_TEST(!r->Find("a")->AsString().has_value());
}

BOOST_AUTO_TEST_CASE(json_rejects_malformed_input_with_offset) {
  const char* bad[] = {"",    "{",     "{\"a\" 1}", "[1,]",     "{\"a\":1,}", "\"abc",    "tru",
                       "01x", "[1] 2", "\"\\q\"",   "\"\x01\"", "{1: 2}",     "\"\\u12\""};
  for (const char* b : bad) {
    Result<JsonValue> r = ParseJson(b);
    BOOST_TEST(!r.ok(), "accepted: " << b);
    if (!r.ok()) BOOST_TEST(r.status().message().find("offset") != std::string::npos);
  }
  std::string deep(100, '[');
  BOOST_TEST(!ParseJson(deep).ok());
}

BOOST_AUTO_TEST_CASE(json_quote_round_trips) {
  std::string s = "a\"b\\c\nd\x02";
  Result<JsonValue> r = ParseJson(JsonQuote(s));
  BOOST_REQUIRE(r.ok());
  BOOST_TEST(r->AsString().value() == s);
}

}  // namespace
}  // namespace skiff::cli
