/* Unit tests of fcgi_record.c: the records a handed-off stream is written
 * and ended with, and the abort a web server may send meanwhile. */
#include "unit.h"

#include "fcgi_record.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* A connection to a loopback listener of family af (dual-stack when
 * AF_INET6 and from is "127.0.0.1"): the accepted end, whose peer the
 * check reads; *client is the other end. */
static int accepted_from(int af, const char *from, int *client)
{
    int l = socket(af, SOCK_STREAM, 0);
    ck_assert_int_ge(l, 0);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (af == AF_INET6) {
        int no = 0;
        setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_any;
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    }
    ck_assert_int_eq(bind(l, (struct sockaddr *)&ss, len), 0);
    ck_assert_int_eq(listen(l, 1), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)&ss, &len), 0);
    in_port_t port = af == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                    : ((struct sockaddr_in *)&ss)->sin_port;
    int v6 = strchr(from, ':') != NULL;
    int c = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage to = {0};
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&to;
        a->sin6_family = AF_INET6;
        a->sin6_port = port;
        inet_pton(AF_INET6, from, &a->sin6_addr);
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&to;
        a->sin_family = AF_INET;
        a->sin_port = port;
        inet_pton(AF_INET, from, &a->sin_addr);
        len = sizeof *a;
    }
    ck_assert_int_eq(connect(c, (struct sockaddr *)&to, len), 0);
    int fd = accept(l, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    close(l);
    *client = c;
    return fd;
}

START_TEST(test_peer_check_covers_ipv4_and_ipv6)
{
    int c, fd = accepted_from(AF_INET, "127.0.0.1", &c);
    ck_assert_int_eq(fcgi_peer_allowed(fd, NULL), 1);
    ck_assert_int_eq(fcgi_peer_allowed(fd, "127.0.0.1"), 1);
    ck_assert_int_eq(fcgi_peer_allowed(fd, "10.0.0.1, 127.0.0.1 "), 1);
    ck_assert_int_eq(fcgi_peer_allowed(fd, "10.0.0.1,127.0.0.10"), 0);
    ck_assert_int_eq(fcgi_peer_allowed(fd, "::1"), 0);
    close(fd), close(c);
    fd = accepted_from(AF_INET6, "::1", &c);
    ck_assert_int_eq(fcgi_peer_allowed(fd, "::1"), 1);
    ck_assert_int_eq(fcgi_peer_allowed(fd, "10.0.0.1,0:0:0:0:0:0:0:1"), 1); /* another spelling */
    ck_assert_int_eq(fcgi_peer_allowed(fd, "127.0.0.1"), 0);
    ck_assert_int_eq(fcgi_peer_allowed(fd, "::2"), 0);
    close(fd), close(c);
    /* An IPv4 peer of a dual-stack socket is its IPv4 address. */
    fd = accepted_from(AF_INET6, "127.0.0.1", &c);
    ck_assert_int_eq(fcgi_peer_allowed(fd, "127.0.0.1"), 1);
    ck_assert_int_eq(fcgi_peer_allowed(fd, "::1"), 0);
    close(fd), close(c);
    /* A unix socket has no address to check. */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(fcgi_peer_allowed(sv[0], "127.0.0.1"), 1);
    close(sv[0]), close(sv[1]);
}
END_TEST

UNIT_MAIN("fcgi_record",
          test_peer_check_covers_ipv4_and_ipv6,
          test_stdout_records_split_at_the_chunk_size,
          test_end_closes_stdout_then_completes_the_request,
          test_scan_finds_an_abort_across_reads)
