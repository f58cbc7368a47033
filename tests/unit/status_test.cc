#define BOOST_TEST_MODULE transport_unit
#include <boost/test/unit_test.hpp>

#include "transport/status.h"

using namespace skiff;

BOOST_AUTO_TEST_CASE(status_carries_code_message_and_context) {
  Status ok;
  BOOST_TEST(ok.ok());
  BOOST_TEST(ok.ToString() == "OK");
  Status st = Status::NotFound("/srv/x").WithContext("opening");
  BOOST_TEST(!st.ok());
  BOOST_TEST(st.Is(Code::kNotFound));
  BOOST_TEST(st.ToString() == "not found: opening: /srv/x");
  BOOST_TEST(Status::ConnectionLost("eof").retryable());
  BOOST_TEST(!Status::Corrupt("bad").retryable());
}

namespace {
Result<int> Half(int x) {
  if (x % 2) return Status::Invalid("odd");
  return x / 2;
}
Result<int> Quarter(int x) {
  SKIFF_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}
}  // namespace

BOOST_AUTO_TEST_CASE(result_propagates_failures) {
  BOOST_TEST(Quarter(8).value() == 2);
  auto r = Quarter(6);
  BOOST_TEST(!r.ok());
  BOOST_TEST(r.status().message() == "odd");
}
