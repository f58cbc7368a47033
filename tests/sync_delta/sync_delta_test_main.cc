#define BOOST_TEST_MODULE sync_delta
#include <boost/test/unit_test.hpp>
