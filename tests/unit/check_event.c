/* Unit tests of event.c. */
#include "unit.h"

#include "event.h"

START_TEST(test_event_names_follow_the_pattern)
{
    ck_assert(event_name_valid("progress"));
    ck_assert(event_name_valid("my.job-step_2"));
    ck_assert(!event_name_valid(""));
    ck_assert(!event_name_valid("Progress"));
    ck_assert(!event_name_valid("1abc"));
    ck_assert(!event_name_valid("bad\nname"));
    ck_assert(!event_name_valid("has space"));
    char longname[80];
    memset(longname, 'a', 64);
    longname[64] = '\0';
    ck_assert(event_name_valid(longname));
    longname[64] = 'a', longname[65] = '\0';
    ck_assert(!event_name_valid(longname));
}
END_TEST

START_TEST(test_event_ids_parse_strictly_and_compare)
{
    struct event_id a, b;
    ck_assert_int_eq(event_id_parse("1700000000000-5", &a), 0);
    ck_assert_uint_eq(a.ms, 1700000000000ULL);
    ck_assert_uint_eq(a.seq, 5);
    ck_assert_int_eq(event_id_parse("17", &b), 0);
    ck_assert_uint_eq(b.seq, 0);
    ck_assert_int_eq(event_id_cmp(&b, &a), -1);
    ck_assert_int_eq(event_id_cmp(&a, &a), 0);
    const char *bad[] = {"", "-", "1-", "-1", "1-2-3", "x", "1 -2", "99999999999999999999999-0",
                         "18446744073709551616-0", "1-2\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(event_id_parse(bad[i], &a) != 0, "accepted %s", bad[i]);
    char text[EVENT_ID_SIZE];
    struct event_id max = {UINT64_MAX, UINT64_MAX};
    event_id_format(&max, text);
    ck_assert_str_eq(text, "18446744073709551615-18446744073709551615");
    ck_assert(event_is_terminal("run_finished"));
    ck_assert(!event_is_terminal("progress"));
}
END_TEST

UNIT_MAIN("event",
          test_event_names_follow_the_pattern,
          test_event_ids_parse_strictly_and_compare)
