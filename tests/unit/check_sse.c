/* Unit tests of sse.c. */
#include "unit.h"

#include "sse.h"

START_TEST(test_sse_event_frame_and_flush)
{
    mem_reset();
    ck_assert_int_eq(sse_event(&o, "1-0", "progress", "{\"a\":1}"), 0);
    ck_assert_str_eq(mem, "event: progress\ndata: {\"a\":1}\nid: 1-0\n\n");
    ck_assert_int_eq(mb.flushes, 1);
}
END_TEST

START_TEST(test_sse_cannot_be_injected)
{
    mem_reset();
    ck_assert_int_eq(sse_event(&o, "1-0\nevent: x", "progress", "{}"), -1);
    ck_assert_int_eq(sse_event(&o, "1-0", "a\rb", "{}"), -1);
    ck_assert_int_eq(sse_comment(&o, "x\n\ndata: y"), -1);
    ck_assert_str_eq(mem, "");
    /* Line breaks in data become separate data lines, never new fields. */
    ck_assert_int_eq(sse_event(&o, "2-0", "log", "one\nid: 9-9\r\nthree\rfour"), 0);
    ck_assert_str_eq(mem, "event: log\ndata: one\ndata: id: 9-9\ndata: three\ndata: four\nid: 2-0\n\n");
}
END_TEST

START_TEST(test_sse_retry_and_keepalive)
{
    mem_reset();
    ck_assert_int_eq(sse_retry(&o, 2000), 0);
    ck_assert_int_eq(sse_comment(&o, "keepalive"), 0);
    ck_assert_str_eq(mem, "retry: 2000\n\n: keepalive\n\n");
    ck_assert_int_eq(mb.flushes, 2);
}
END_TEST

/* sse_event_max bounds what sse_event writes, for the worst data (every
 * byte a line break) and the best: a buffer of that size (and a NUL)
 * always holds the frame, and one byte less may not. */
START_TEST(test_sse_event_max_bounds_the_frame)
{
    const char *datas[] = {"", "{}", "\n\n\n\n", "\r\n\r\n", "a\rb\nc"};
    for (size_t i = 0; i < sizeof datas / sizeof *datas; i++) {
        size_t max = sse_event_max("12-3", "progress", datas[i]);
        char buf[128];
        ck_assert_uint_lt(max, sizeof buf);
        struct membuf m = {.data = buf, .cap = max + 1};
        struct out to;
        membuf_out(&m, &to);
        ck_assert_int_eq(sse_event(&to, "12-3", "progress", datas[i]), 0);
        ck_assert_uint_le(m.len, max);
        if (i == 0 || i == 2) /* no data and all line feeds: the bound is exact */
            ck_assert_uint_eq(m.len, max);
    }
}
END_TEST

UNIT_MAIN("sse",
          test_sse_event_max_bounds_the_frame,
          test_sse_event_frame_and_flush,
          test_sse_cannot_be_injected,
          test_sse_retry_and_keepalive)
