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

START_TEST(test_clock_parses_rfc3339)
{
    int64_t ms = 0;
    ck_assert_int_eq(clock_parse_rfc3339("2023-11-14T22:13:20.123Z", &ms), 0);
    ck_assert_int_eq(ms, 1700000000123);
    ck_assert_int_eq(clock_parse_rfc3339("2023-11-14T22:13:20Z", &ms), 0);
    ck_assert_int_eq(ms, 1700000000000);
    /* An offset names the same instant; digits past ms are dropped. */
    ck_assert_int_eq(clock_parse_rfc3339("2023-11-14T23:13:20.1234567+01:00", &ms), 0);
    ck_assert_int_eq(ms, 1700000000123);
    ck_assert_int_eq(clock_parse_rfc3339("2023-11-14T20:43:20.5-01:30", &ms), 0);
    ck_assert_int_eq(ms, 1700000000500);
    const char *bad[] = {"", "tomorrow", "2023-11-14", "2023-11-14T22:13:20", "2023-11-14 22:13:20Z",
                         "2023-02-30T10:00:00Z", "2023-13-01T10:00:00Z", "2023-11-14T24:00:00Z",
                         "2023-11-14T22:13:20.Z", "2023-11-14T22:13:20Zjunk", "2023-11-14T22:13:20+1:00",
                         "2023-11-14T22:13:20+01:00x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(clock_parse_rfc3339(bad[i], &ms) == -1, "%s was taken", bad[i]);
}
END_TEST

UNIT_MAIN("clock",
          test_clock_formats_rfc3339_millis,
          test_clock_parses_rfc3339)
