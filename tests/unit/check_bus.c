/* Unit tests of bus.c. */
#include "unit.h"

#include "bus.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
    ck_assert_int_eq(bus_append(NULL, "r", "log", "{}", "t", 10, "", "", 1, id), -1);
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

/* A redis-server of the test's own on a socket in tmpdir (name), on a
 * loopback TCP port too when port is not "0", a replica of the one on
 * master_port when that is not NULL; and a connection to it. */
static pid_t spawn_redis(const char *name, const char *port, const char *master_port,
                         struct config *cfg, struct bus **b)
{
    char sock[128], log[64];
    snprintf(sock, sizeof sock, "%s/%s.sock", tmpdir, name);
    snprintf(log, sizeof log, "%s.log", name);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        const char *replica = master_port != NULL ? "--replicaof" : NULL;
        char to[64];
        snprintf(to, sizeof to, "127.0.0.1 %s", master_port != NULL ? master_port : "");
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
               "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", tmpdir,
               "--dbfilename", name, "--logfile", log, "--repl-diskless-sync-delay", "0",
               replica, to, (char *)NULL);
        _exit(127);
    }
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->redis, sizeof cfg->redis, "unix:%s", sock);
    char err[256];
    for (int i = 0; i < 500; i++) {
        *b = bus_connect(cfg, 1000, err, sizeof err);
        if (*b != NULL)
            return pid;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    ck_abort_msg("redis-server did not start: %s", err);
    return -1;
}

static pid_t redis_pid;

static struct bus *start_redis(struct config *cfg)
{
    struct bus *b;
    redis_pid = spawn_redis("redis", "0", NULL, cfg, &b);
    return b;
}

static void stop_redis(struct bus *b)
{
    bus_free(b);
    kill(redis_pid, SIGKILL);
    waitpid(redis_pid, NULL, 0);
}

#define T2100 4102444800000LL

START_TEST(test_bus_append_floor_and_restore)
{
    struct config cfg;
    struct bus *b = start_redis(&cfg);
    char id[EVENT_ID_SIZE], last[EVENT_ID_SIZE], name[EVENT_NAME_SIZE];
    /* The id's time is the writer's clock, never below the newest. */
    ck_assert_int_eq(bus_append(b, "r", "log", "{}", "t1", 100, "", "", T2100, id), BUS_APPEND_OK);
    ck_assert_str_eq(id, "4102444800000-0");
    ck_assert_int_eq(bus_append(b, "r", "log", "{}", "t2", 100, "0-0", "", 1000, id), BUS_APPEND_OK);
    ck_assert_str_eq(id, "4102444800000-1");
    /* The ledger knows a newer id than the stream's newest: nothing is
     * appended, and the answer names where the stream stops. */
    ck_assert_int_eq(bus_append(b, "r", "log", "{}", "t3", 100, "4102444800000-3", "", T2100, id),
                     BUS_APPEND_BEHIND);
    ck_assert_str_eq(id, "4102444800000-1");
    ck_assert_int_eq(bus_last(b, "r", last, name), 0);
    ck_assert_str_eq(last, "4102444800000-1");
    /* Putting back: what is not newer is left out, the rest keeps its
     * ids, and nothing goes after the end. */
    const char *ids[] = {"4102444800000-1", "4102444800000-2", "4102444800000-3",
                         "4102444800000-4"};
    const char *names[] = {"log", "log", EVENT_TERMINAL, "log"};
    const char *datas[] = {"{}", "{\"n\":2}", "{\"status\":\"succeeded\"}", "{}"};
    ck_assert_int_eq(bus_restore(b, "r", 100, 4, ids, names, datas), 2);
    ck_assert_int_eq(bus_last(b, "r", last, name), 0);
    ck_assert_str_eq(last, "4102444800000-3");
    ck_assert_str_eq(name, EVENT_TERMINAL);
    char *data = NULL;
    ck_assert_int_eq(bus_entry(b, "r", "4102444800000-2", &data), 0);
    ck_assert_str_eq(data, "{\"n\":2}");
    free(data);
    ck_assert_int_eq(bus_restore(b, "r", 100, 1, ids + 3, names + 3, datas + 3), 0);
    ck_assert_int_eq(bus_append(b, "r", "log", "{}", "t4", 100, "4102444800000-3", "", T2100, id),
                     BUS_APPEND_ENDED);
    ck_assert_str_eq(id, "4102444800000-3");
    /* A missing stream is behind any floor. */
    ck_assert_int_eq(bus_append(b, "s", "log", "{}", "t5", 100, "1-0", "", T2100, id),
                     BUS_APPEND_BEHIND);
    ck_assert_str_eq(id, "0-0");
    ck_assert_int_eq(bus_restore(b, "s", 100, BUS_RESTORE_MAX + 1, ids, names, datas), -1);
    /* Which Redis process: the same for as long as the connection lasts. */
    char server[BUS_SERVER_SIZE];
    snprintf(server, sizeof server, "%s", bus_server(b));
    ck_assert_uint_eq(strlen(server), 40);
    ck_assert_str_eq(bus_server(b), server);
    ck_assert_uint_ne(bus_serial(b), 0);
    stop_redis(b);
}
END_TEST

/* A free loopback TCP port, as a string. */
static void free_port(char out[8])
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    snprintf(out, 8, "%u", (unsigned)ntohs(a.sin_port));
    close(fd);
}

/* A new connection in place of b: its look at the replicas is fresh. */
static struct bus *connect_again(struct bus *b, const struct config *cfg)
{
    bus_free(b);
    char err[256];
    b = bus_connect(cfg, 1000, err, sizeof err);
    ck_assert_msg(b != NULL, "%s", err);
    return b;
}

START_TEST(test_bus_wanted_id_and_replicas)
{
    char port[8], id[EVENT_ID_SIZE];
    free_port(port);
    struct config cfg, rcfg;
    struct bus *b, *rb;
    pid_t master = spawn_redis("master", port, NULL, &cfg, &b);
    /* A write done again keeps its first id when that is still newer than
     * the stream's newest; else it gets a new one. */
    ck_assert_int_eq(bus_append(b, "w", "log", "{}", "t1", 100, "", "4102444800000-7", 1, id),
                     BUS_APPEND_OK);
    ck_assert_str_eq(id, "4102444800000-7");
    ck_assert_int_eq(bus_append(b, "w", "log", "{}", "t2", 100, "", "4102444800000-5", 1, id),
                     BUS_APPEND_OK);
    ck_assert_str_eq(id, "4102444800000-8");
    /* No replica: nothing to wait for. */
    ck_assert_int_eq(bus_replicated(b), 0);
    pid_t replica = spawn_redis("replica", "0", port, &rcfg, &rb);
    /* Once the replica has synced, a write is answered as held there. */
    int held = 0;
    for (int i = 0; i < 500 && !held; i++) {
        b = connect_again(b, &cfg);
        ck_assert_int_eq(bus_append(b, "w", "log", "{}", "t3", 100, "", "", 1, id), BUS_APPEND_OK);
        held = bus_replicated(b) == 1;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(held, "the replica never held a write");
    char last[EVENT_ID_SIZE], name[EVENT_NAME_SIZE];
    ck_assert_int_eq(bus_last(rb, "w", last, name), 0);
    ck_assert_str_eq(last, id);
    /* The replica gone: not waited for (the next look is later). */
    bus_free(rb);
    kill(replica, SIGKILL);
    waitpid(replica, NULL, 0);
    int none = 0;
    for (int i = 0; i < 500 && !none; i++) {
        b = connect_again(b, &cfg);
        none = bus_replicated(b) == 0;
    }
    ck_assert_msg(none, "the master kept counting a dead replica");
    bus_free(b);
    kill(master, SIGKILL);
    waitpid(master, NULL, 0);
}
END_TEST

UNIT_MAIN("bus",
          test_bus_without_a_connection_fails_cleanly,
          test_bus_append_floor_and_restore,
          test_bus_wanted_id_and_replicas)
