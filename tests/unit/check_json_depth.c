/* Unit tests of json_depth.c. */
#include "unit.h"

#include "json_depth.h"

#include <stdlib.h>
#include <string.h>

static int deep(const char *text, int max)
{
    return json_too_deep(text, strlen(text), max);
}

/* n nested arrays, as text: [[[...]]] */
static char *nested(int n)
{
    char *s = malloc((size_t)n * 2 + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, '[', (size_t)n);
    memset(s + n, ']', (size_t)n);
    s[2 * n] = '\0';
    return s;
}

START_TEST(test_depth_counts_arrays_and_objects)
{
    ck_assert(!deep("{}", 1));
    ck_assert(deep("{\"a\":[]}", 1));
    ck_assert(!deep("{\"a\":[],\"b\":{\"c\":1},\"d\":[1,[2]]}", 3));
    ck_assert(deep("{\"a\":[],\"b\":{\"c\":1},\"d\":[1,[2]]}", 2));
    ck_assert(!deep("1", 1));
    for (int n = 1; n <= 200; n++) {
        char *s = nested(n);
        ck_assert_msg(!deep(s, n) && deep(s, n - 1), "%d", n);
        free(s);
    }
}
END_TEST

START_TEST(test_brackets_in_strings_do_not_count)
{
    ck_assert(!deep("{\"a\":\"[[[[{{{{\"}", 1));
    ck_assert(!deep("[\"\\\"[[[\"]", 1));      /* an escaped quote stays inside */
    ck_assert(!deep("[\"\\\\\"]", 1));          /* an escaped backslash ends its escape */
    ck_assert(deep("[\"\\\\\",[]]", 1));         /* and the string ends after it */
}
END_TEST

START_TEST(test_malformed_text_is_bounded_too)
{
    ck_assert(!deep("]]]]}}}}", 1));
    ck_assert(deep("]]]][[", 1));
    ck_assert(!deep("[\"unterminated [[[[[", 1));
    ck_assert(!deep("[\"\\", 1));               /* an escape at the very end */
    char *s = nested(100000);
    ck_assert(deep(s, 64));
    free(s);
}
END_TEST

UNIT_MAIN("json_depth",
          test_depth_counts_arrays_and_objects,
          test_brackets_in_strings_do_not_count,
          test_malformed_text_is_bounded_too)
