/* Unit tests of fcgi_record.c: the records a handed-off stream is written
 * and ended with, and the abort a web server may send meanwhile. */
#include "unit.h"

#include "fcgi_record.h"

#include <stdlib.h>
#include <string.h>

START_TEST(test_stdout_records_split_at_the_chunk_size)
{
    size_t n = FCGI_CHUNK_BYTES + 10;
    char *p = malloc(n);
    memset(p, 'x', n);
    size_t size = fcgi_stdout_size(n);
    ck_assert_uint_eq(size, n + 2 * FCGI_HEADER_BYTES);
    unsigned char *out = malloc(size);
    ck_assert_uint_eq(fcgi_stdout(out, 0x1234, p, n), size);
    /* version 1, FCGI_STDOUT, request 0x1234, length, no padding */
    const unsigned char h1[8] = {1, 6, 0x12, 0x34, FCGI_CHUNK_BYTES >> 8, FCGI_CHUNK_BYTES & 0xff, 0, 0};
    const unsigned char h2[8] = {1, 6, 0x12, 0x34, 0, 10, 0, 0};
    ck_assert_mem_eq(out, h1, 8);
    ck_assert_mem_eq(out + 8 + FCGI_CHUNK_BYTES, h2, 8);
    ck_assert_int_eq(out[size - 1], 'x');
    ck_assert_uint_eq(fcgi_stdout_size(0), 0);
    free(out);
    free(p);
}
END_TEST

START_TEST(test_end_closes_stdout_then_completes_the_request)
{
    unsigned char end[FCGI_END_BYTES];
    fcgi_end(end, 7);
    const unsigned char want[FCGI_END_BYTES] = {1, 6, 0, 7, 0, 0, 0, 0,
                                                1, 3, 0, 7, 0, 8, 0, 0,
                                                0, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_mem_eq(end, want, sizeof want);
}
END_TEST

START_TEST(test_scan_finds_an_abort_across_reads)
{
    /* An empty STDIN record with padding, a PARAMS record of 3 bytes, then
     * an abort of another request, then ours; fed a byte at a time. */
    const unsigned char recs[] = {1, 5, 0, 1, 0, 0, 2, 0, 9, 9,
                                  1, 4, 0, 1, 0, 3, 0, 0, 'a', 'b', 'c',
                                  1, 2, 0, 2, 0, 0, 0, 0,
                                  1, 2, 0, 1, 0, 0, 0, 0};
    struct fcgi_scan s = {0};
    size_t i = 0;
    int r = 0;
    for (; i < sizeof recs && r == 0; i++)
        r = fcgi_scan_abort(&s, recs + i, 1, 1);
    ck_assert_int_eq(r, 1);
    ck_assert_uint_eq(i, sizeof recs); /* found on its last byte, not before */
    struct fcgi_scan t = {0};
    ck_assert_int_eq(fcgi_scan_abort(&t, recs, sizeof recs - 8, 1), 0);
    const unsigned char junk[] = "GET / HTTP/1.1";
    struct fcgi_scan u = {0};
    ck_assert_int_eq(fcgi_scan_abort(&u, junk, sizeof junk, 1), -1);
}
END_TEST

UNIT_MAIN("fcgi_record",
          test_stdout_records_split_at_the_chunk_size,
          test_end_closes_stdout_then_completes_the_request,
          test_scan_finds_an_abort_across_reads)
