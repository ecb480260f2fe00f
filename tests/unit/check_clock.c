/* Unit tests of clock.c. */
#include "unit.h"

#include "clock.h"

START_TEST(test_clock_formats_rfc3339_millis)
{
    char buf[CLOCK_RFC3339_SIZE];
    ck_assert_int_eq(clock_rfc3339(1700000000123, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "2023-11-14T22:13:20.123Z");
    ck_assert_int_eq(clock_rfc3339(1700000000123, buf, 10), -1);
}
END_TEST

UNIT_MAIN("clock",
          test_clock_formats_rfc3339_millis)
