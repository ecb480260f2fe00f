/* Unit tests of bus.c. */
#include "unit.h"

#include "bus.h"

static int never_called(void *ctx, const char *id, const char *name, const char *data)
{
    (void)ctx, (void)id, (void)name, (void)data;
    ck_abort_msg("no entry can come from a missing connection");
    return 1;
}

START_TEST(test_bus_without_a_connection_fails_cleanly)
{
    char id[EVENT_ID_SIZE], name[EVENT_NAME_SIZE], run[ID_SIZE], *msg = NULL;
    ck_assert_int_eq(bus_ping(NULL), -1);
    ck_assert_int_eq(bus_append(NULL, "r", "log", "{}", "t", 10, id), -1);
    ck_assert_int_eq(bus_last(NULL, "r", id, name), -1);
    ck_assert_int_eq(bus_read(NULL, "r", "0-0", 10, 100, never_called, NULL), -1);
    ck_assert_int_eq(bus_control_pop(NULL, "r", &msg), -1);
    ck_assert_ptr_null(msg);
    ck_assert_int_eq(bus_control_clear(NULL, "r"), -1);
    ck_assert_int_eq(bus_claim(NULL, "c", 100, run, id), -1);
    ck_assert_int_eq(bus_enqueue(NULL, "r", "t", 0), -1);
    ck_assert_int_eq(bus_ticket(NULL, "r"), -1);
    ck_assert_int_eq(bus_delay(NULL, "r", "t", 0, 1), -1);
    int64_t next = 7;
    ck_assert_int_eq(bus_promote(NULL, 1, &next), -1);
    ck_assert_int_eq(bus_expiry_take(NULL, 1, run, &next), -1);
    char ids[2][ID_SIZE];
    ck_assert_int_eq(bus_waiting_top(NULL, "t", 2, ids), -1);
}
END_TEST

UNIT_MAIN("bus",
          test_bus_without_a_connection_fails_cleanly)
