/* Redis: connections, key names, stream reads and writes. Every reply is
 * checked for its type before use; a malformed reply is an error, never a
 * crash. */
#include "bus.h"
#include "clock.h"

#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stdio.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

struct bus {
    redisContext *c;
    int timeout_ms;
    char server[BUS_SERVER_SIZE];   /* the Redis process's run_id, once asked */
    unsigned long long serial;      /* this connection among the process's */
    int replicas;                   /* attached to the server, when last asked */
    int64_t replicas_at;            /* then (monotonic ms; 0: never) */
};

static _Atomic unsigned long long connections;
static _Atomic unsigned long long errors; /* commands without a working connection */

unsigned long long bus_errors_take(void)
{
    return atomic_exchange(&errors, 0);
}

unsigned long long bus_serial(const struct bus *b)
{
    return b != NULL ? b->serial : 0;
}

static struct timeval tv_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* Every command goes through here. A missing connection (a writer that
 * gave up reconnecting) fails like a broken one, never dereferences NULL. */
/* A master that a failover made a replica answers every write with
 * READONLY: its connection is done with, as a broken one is (hiredis
 * sends nothing more on a context in error), so that its owner connects
 * anew and the sentinels name the new master. */
static void demoted(struct bus *b, const redisReply *r)
{
    if (r == NULL)
        atomic_fetch_add(&errors, 1);
    if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "READONLY", 8) == 0 &&
        b->c->err == 0) {
        b->c->err = REDIS_ERR_OTHER;
        snprintf(b->c->errstr, sizeof b->c->errstr, "the server is a replica now");
    }
}

static redisReply *cmd(struct bus *b, const char *fmt, ...)
{
    if (b == NULL || b->c == NULL) {
        atomic_fetch_add(&errors, 1);
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(b->c, fmt, ap);
    va_end(ap);
    demoted(b, r);
    return r;
}

static int reply_ok(redisReply *r)
{
    return r != NULL && r->type != REDIS_REPLY_ERROR;
}

/* A string answer (r is freed) shorter than max as a new C string in
 * *out: 1; 0 for nil; -1 for an error, another type or a string too long. */
static int reply_string(redisReply *r, size_t max, char **out)
{
    int ret = -1;
    if (reply_ok(r) && r->type == REDIS_REPLY_NIL) {
        ret = 0;
    } else if (reply_ok(r) && r->type == REDIS_REPLY_STRING && r->len < max &&
               (*out = malloc(r->len + 1)) != NULL) {
        memcpy(*out, r->str, r->len);
        (*out)[r->len] = '\0';
        ret = 1;
    }
    freeReplyObject(r);
    return ret;
}

/* A command whose only answer that matters is "not an error": 0 or -1. */
static int cmd_ok(struct bus *b, const char *fmt, ...)
{
    if (b == NULL || b->c == NULL) {
        atomic_fetch_add(&errors, 1);
        return -1;
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(b->c, fmt, ap);
    va_end(ap);
    demoted(b, r);
    int ok = reply_ok(r);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Splits "host:port" (the port after the last colon) into host. */
static int host_port(const char *spec, size_t len, char host[256], int *port)
{
    const char *colon = NULL;
    for (const char *p = spec; p < spec + len; p++)
        if (*p == ':')
            colon = p;
    if (colon == NULL || (size_t)(colon - spec) >= 256)
        return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    *port = atoi(colon + 1);
    return *port > 0 && *port < 65536 ? 0 : -1;
}

/* The sentinel that answered last: asked first next time. */
static _Atomic int sentinel_first;

/* Asks the sentinels of "sentinel://h:p,h:p/NAME", one after another,
 * where NAME's master is: 0 with host and port, or -1 with a reason. A
 * sentinel that does not answer within timeout_ms (1 s at most: others
 * may) is passed over. */
static int sentinel_master(const char *spec, int timeout_ms, char host[256], int *port,
                           char *err, size_t errsize)
{
    const char *list = spec + strlen(BUS_SENTINEL_PREFIX);
    const char *slash = strchr(list, '/');
    if (slash == NULL)
        return snprintf(err, errsize, "redis %s: no master name", spec), -1;
    const char *name = slash + 1;
    const char *at[BUS_SENTINELS_MAX];
    size_t len[BUS_SENTINELS_MAX];
    int n = 0;
    for (const char *p = list; p < slash && n < BUS_SENTINELS_MAX; n++) {
        const char *comma = memchr(p, ',', (size_t)(slash - p));
        const char *stop = comma ? comma : slash;
        at[n] = p;
        len[n] = (size_t)(stop - p);
        p = stop + 1;
    }
    struct timeval tv = tv_ms(timeout_ms < 1000 ? timeout_ms : 1000);
    snprintf(err, errsize, "redis %s: no sentinel answered", spec);
    int first = sentinel_first;
    for (int k = 0; k < n; k++) {
        int i = (first + k) % n;
        char shost[256];
        int sport;
        if (host_port(at[i], len[i], shost, &sport) != 0)
            continue;
        redisContext *s = redisConnectWithTimeout(shost, sport, tv);
        if (s == NULL || s->err) {
            snprintf(err, errsize, "sentinel %s:%d: %s", shost, sport, s ? s->errstr : "out of memory");
            redisFree(s);
            continue;
        }
        redisSetTimeout(s, tv);
        redisReply *r = redisCommand(s, "SENTINEL get-master-addr-by-name %s", name);
        int ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                 r->element[0]->type == REDIS_REPLY_STRING &&
                 r->element[1]->type == REDIS_REPLY_STRING &&
                 strlen(r->element[0]->str) < 256;
        if (ok) {
            snprintf(host, 256, "%s", r->element[0]->str);
            *port = atoi(r->element[1]->str);
            sentinel_first = i;
        } else {
            if (r == NULL)
                snprintf(err, errsize, "sentinel %s:%d: %s", shost, sport, s->errstr);
            else
                snprintf(err, errsize, "sentinel %s:%d: does not know the master %s", shost, sport,
                         name);
        }
        freeReplyObject(r);
        redisFree(s);
        if (ok)
            return 0;
    }
    return -1;
}

/* The connection is to a master (a sentinel may still name one that a
 * failover is replacing). */
static int is_master(struct bus *b)
{
    redisReply *r = cmd(b, "ROLE");
    int ok = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
             r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "master") == 0;
    freeReplyObject(r);
    return ok;
}

struct bus *bus_connect(const struct config *cfg, int timeout_ms, char *err,
                        size_t errsize)
{
    struct bus *b = calloc(1, sizeof *b);
    if (b == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    b->timeout_ms = timeout_ms;
    b->serial = ++connections;
    struct timeval tv = tv_ms(timeout_ms);
    int sentinel = strncmp(cfg->redis, BUS_SENTINEL_PREFIX, strlen(BUS_SENTINEL_PREFIX)) == 0;
    if (sentinel) {
        char host[256];
        int port;
        if (sentinel_master(cfg->redis, timeout_ms, host, &port, err, errsize) != 0) {
            bus_free(b);
            return NULL;
        }
        b->c = redisConnectWithTimeout(host, port, tv);
    } else if (strncmp(cfg->redis, "unix:", 5) == 0) {
        b->c = redisConnectUnixWithTimeout(cfg->redis + 5, tv);
    } else {
        char host[256];
        int port = 0;
        host_port(cfg->redis, strlen(cfg->redis), host, &port);
        b->c = redisConnectWithTimeout(host, port, tv);
    }
    if (b->c == NULL || b->c->err) {
        snprintf(err, errsize, "redis %s: %s", cfg->redis,
                 b->c ? b->c->errstr : "cannot allocate");
        bus_free(b);
        return NULL;
    }
    redisSetTimeout(b->c, tv);
    /* Jobs close what they inherit anyway; this keeps the connection out
     * of any other program the process might start. */
    fcntl(b->c->fd, F_SETFD, FD_CLOEXEC);
    redisReply *r = NULL;
    if (cfg->redis_password[0] != '\0') {
        r = cmd(b, "AUTH %s", cfg->redis_password);
        if (!reply_ok(r))
            goto fail;
        freeReplyObject(r);
    }
    if (cfg->redis_db != 0) {
        r = cmd(b, "SELECT %d", cfg->redis_db);
        if (!reply_ok(r))
            goto fail;
        freeReplyObject(r);
        r = NULL;
    }
    if (sentinel && !is_master(b)) {
        snprintf(err, errsize, "redis %s: the master the sentinels name is not one (yet)", cfg->redis);
        bus_free(b);
        return NULL;
    }
    return b;
fail:
    snprintf(err, errsize, "redis %s: %s", cfg->redis,
             r ? r->str : b->c->errstr);
    freeReplyObject(r);
    bus_free(b);
    return NULL;
}

void bus_free(struct bus *b)
{
    if (b == NULL)
        return;
    if (b->c != NULL)
        redisFree(b->c);
    free(b);
}

int bus_alive(const struct bus *b)
{
    if (b == NULL || b->c == NULL || b->c->err != 0)
        return 0;
    /* An idle connection has nothing to read: anything there (Redis
     * closing it, an error) means it is no longer usable. */
    struct pollfd p = {.fd = b->c->fd, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

int bus_ping(struct bus *b)
{
    return cmd_ok(b, "PING");
}

int bus_revoked(struct bus *b)
{
    return cmd_ok(b, "INCR " BUS_REVOCATIONS_KEY);
}

long long bus_revocations(struct bus *b)
{
    redisReply *r = cmd(b, "GET " BUS_REVOCATIONS_KEY);
    long long n = -1;
    if (r != NULL && r->type == REDIS_REPLY_NIL)
        n = 0;
    else if (r != NULL && r->type == REDIS_REPLY_STRING)
        n = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    return n;
}

void bus_events_key(const char *run_id, char *out, size_t size)
{
    snprintf(out, size, "opstream:{%s}:events", run_id);
}

void bus_notify_channel(const char *run_id, char *out, size_t size)
{
    snprintf(out, size, BUS_NOTIFY_PREFIX "{%s}" BUS_NOTIFY_SUFFIX, run_id);
}

static void copy_str(redisReply *r, char *dst, size_t size)
{
    size_t n = r->len < size - 1 ? r->len : size - 1;
    memcpy(dst, r->str, n);
    dst[n] = '\0';
}

/* Stream ids compared in Lua as the decimal strings they are (a double
 * would round a large sequence number): ms, then seq. And a stream's
 * newest id ('0-0' when empty), and whether that is its run's end. */
#define ID_LT_LUA \
    "local function num_lt(a, b) if #a ~= #b then return #a < #b end return a < b end\n" \
    "local function id_lt(a, b)\n" \
    "  local am, as = string.match(a, '^(%d+)-(%d+)$')\n" \
    "  local bm, bs = string.match(b, '^(%d+)-(%d+)$')\n" \
    "  if am ~= bm then return num_lt(am, bm) end\n" \
    "  return num_lt(as, bs)\n" \
    "end\n" \
    "local function newest(key, terminal)\n" \
    "  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)\n" \
    "  if #last == 0 then return '0-0', false end\n" \
    "  local f = last[1][2]\n" \
    "  for i = 1, #f, 2 do\n" \
    "    if f[i] == 'type' and f[i + 1] == terminal then return last[1][1], true end\n" \
    "  end\n" \
    "  return last[1][1], false\n" \
    "end\n"

/* Nothing follows the end: the append and the look at the newest entry
 * are one step in Redis, so of two writers of a run's end (its winner,
 * and a recovery standing in for a winner that seemed dead) one lands, and
 * a late writer's events never land after it. {1, id} appended, {0, id of
 * the end} refused.
 *
 * A stream whose newest entry is older than the floor (the newest id the
 * ledger holds) lost writes in Redis: {2, its newest id}, nothing
 * appended, so that its tail is put back first and no new id is given
 * below an old one. The id's time is the writer's clock when that is
 * later than the newest entry's: a write tried again after Redis lost the
 * first try gets the same id as that first try had. */
static const char append_script[] = ID_LT_LUA
    "local prev, ended = newest(KEYS[1], ARGV[5])\n"
    "if ended then return {0, prev} end\n"
    "if id_lt(prev, ARGV[8]) then return {2, prev} end\n"
    "local ms = ARGV[9]\n"
    "local top = string.match(prev, '^(%d+)-')\n"
    "if num_lt(ms, top) then ms = top end\n"
    "local want = ms .. '-*'\n"
    "if ARGV[11] ~= '' and id_lt(prev, ARGV[11]) then want = ARGV[11] end\n"
    "local ok, id = pcall(redis.call, 'XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], want,"
    " 'type', ARGV[2], 'data', ARGV[3], 'w', ARGV[4])\n"
    "if not ok then\n"
    "  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',"
    " 'type', ARGV[2], 'data', ARGV[3], 'w', ARGV[4])\n"
    "end\n"
    "redis.call('SPUBLISH', ARGV[6] .. '{' .. ARGV[7] .. '}' .. ARGV[10],"
    " ARGV[7] .. ' ' .. prev .. ' ' .. id .. ' ' .. ARGV[2] .. ' ' .. ARGV[3])\n"
    "return {1, id}\n";

int bus_append(struct bus *b, const char *run_id, const char *name,
               const char *data, const char *token, int maxlen, const char *floor,
               const char *wanted, int64_t now_ms, char out_id[EVENT_ID_SIZE])
{
    char key[64], max[24], ms[24];
    bus_events_key(run_id, key, sizeof key);
    snprintf(max, sizeof max, "%d", maxlen);
    snprintf(ms, sizeof ms, "%lld", (long long)(now_ms > 0 ? now_ms : 0));
    redisReply *r = cmd(b, "EVAL %s 1 %s %s %s %s %s %s %s %s %s %s %s %s", append_script, key,
                        max, name, data, token, EVENT_TERMINAL, BUS_NOTIFY_PREFIX, run_id,
                        floor != NULL && floor[0] != '\0' ? floor : "0-0", ms, BUS_NOTIFY_SUFFIX,
                        wanted != NULL ? wanted : "");
    int ret = -1;
    if (reply_ok(r) && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_STRING &&
        r->element[0]->integer >= 0 && r->element[0]->integer <= 2) {
        copy_str(r->element[1], out_id, EVENT_ID_SIZE);
        static const int result[] = {BUS_APPEND_ENDED, BUS_APPEND_OK, BUS_APPEND_BEHIND};
        ret = result[r->element[0]->integer];
    }
    freeReplyObject(r);
    return ret;
}

/* The replicas attached to the server, from INFO (0 when it does not say). */
static int replicas_of(struct bus *b)
{
    redisReply *r = cmd(b, "INFO replication");
    const char *at = reply_ok(r) && r->type == REDIS_REPLY_STRING ? strstr(r->str, "connected_slaves:")
                                                                  : NULL;
    int n = at != NULL ? atoi(at + strlen("connected_slaves:")) : 0;
    freeReplyObject(r);
    return n;
}

int bus_replicated(struct bus *b)
{
    if (b == NULL || b->c == NULL || b->c->err != 0)
        return -1;
    int64_t now = clock_mono_ms();
    if (b->replicas_at == 0 || now - b->replicas_at >= BUS_REPLICA_RECHECK_MS) {
        b->replicas = replicas_of(b);
        b->replicas_at = now;
    }
    if (b->replicas <= 0)
        return b->c->err != 0 ? -1 : 0;
    redisReply *r = cmd(b, "WAIT 1 %d", BUS_REPLICA_WAIT_MS);
    int ret = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer >= 1 ? 1 : 0;
    freeReplyObject(r);
    if (b->c->err != 0)
        return -1;
    if (ret == 0) /* none answered in time: not waited for until the next look */
        b->replicas = 0;
    return ret;
}

/* Entries put back with the ids they had, in order, each announced as an
 * append is; one that is not newer than the stream's newest is left out,
 * and nothing goes after the run's end. The number put back. */
static const char restore_script[] = ID_LT_LUA
    "local prev, ended = newest(KEYS[1], ARGV[4])\n"
    "if ended then return 0 end\n"
    "local n = 0\n"
    "for i = 5, #ARGV - 2, 3 do\n"
    "  if id_lt(prev, ARGV[i]) then\n"
    "    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[i], 'type', ARGV[i + 1],"
    " 'data', ARGV[i + 2])\n"
    "    redis.call('SPUBLISH', ARGV[2], ARGV[3] .. ' ' .. prev .. ' ' .. ARGV[i] .. ' '"
    " .. ARGV[i + 1] .. ' ' .. ARGV[i + 2])\n"
    "    prev = ARGV[i]\n"
    "    n = n + 1\n"
    "    if ARGV[i + 1] == ARGV[4] then return n end\n"
    "  end\n"
    "end\n"
    "return n\n";

int bus_restore(struct bus *b, const char *run_id, int maxlen, size_t n,
                const char *const *ids, const char *const *names, const char *const *datas)
{
    if (n > BUS_RESTORE_MAX || b == NULL || b->c == NULL)
        return -1;
    enum { HEAD = 8 };
    const char *argv[HEAD + 3 * BUS_RESTORE_MAX];
    size_t lens[HEAD + 3 * BUS_RESTORE_MAX];
    char key[64], max[24], channel[64];
    bus_events_key(run_id, key, sizeof key);
    bus_notify_channel(run_id, channel, sizeof channel);
    snprintf(max, sizeof max, "%d", maxlen);
    const char *head[HEAD] = {"EVAL", restore_script, "1", key, max, channel,
                              run_id, EVENT_TERMINAL};
    size_t k = 0;
    for (; k < HEAD; k++)
        argv[k] = head[k];
    for (size_t i = 0; i < n; i++) {
        argv[k++] = ids[i];
        argv[k++] = names[i];
        argv[k++] = datas[i];
    }
    for (size_t i = 0; i < k; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(b->c, (int)k, argv, lens);
    demoted(b, r);
    int ret = reply_ok(r) && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    freeReplyObject(r);
    return ret;
}

const char *bus_server(struct bus *b)
{
    if (b == NULL || b->server[0] != '\0')
        return b != NULL ? b->server : "";
    redisReply *r = cmd(b, "INFO server");
    const char *at = reply_ok(r) && r->type == REDIS_REPLY_STRING ? strstr(r->str, "run_id:") : NULL;
    if (at != NULL) {
        at += strlen("run_id:");
        size_t len = strcspn(at, "\r\n");
        if (len >= sizeof b->server)
            len = sizeof b->server - 1;
        memcpy(b->server, at, len);
        b->server[len] = '\0';
    }
    freeReplyObject(r);
    return b->server;
}

/* One stream entry is [id, [field, value, ...]]; finds type and data,
 * and the write token when token is not NULL (it may be absent). */
static int entry_fields(redisReply *e, const char **id, const char **name,
                        const char **data, const char **token)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
        return -1;
    *id = e->element[0]->str;
    *name = *data = NULL;
    if (token != NULL)
        *token = NULL;
    redisReply *f = e->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        if (f->element[i]->type != REDIS_REPLY_STRING ||
            f->element[i + 1]->type != REDIS_REPLY_STRING)
            return -1;
        if (strcmp(f->element[i]->str, "type") == 0)
            *name = f->element[i + 1]->str;
        else if (strcmp(f->element[i]->str, "data") == 0)
            *data = f->element[i + 1]->str;
        else if (token != NULL && strcmp(f->element[i]->str, "w") == 0)
            *token = f->element[i + 1]->str;
    }
    return (*name != NULL && *data != NULL) ? 0 : -1;
}

/* Hands each well-formed entry of an XRANGE/XREAD entry list to fn until
 * it says stop: the number handed over. */
static int deliver(redisReply *entries, bus_entry_fn fn, void *ctx)
{
    int n = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        const char *eid, *ename, *edata;
        if (entry_fields(entries->element[i], &eid, &ename, &edata, NULL) != 0)
            continue; /* not written by us: skip, never crash */
        n++;
        if (fn(ctx, eid, ename, edata) != 0)
            break;
    }
    return n;
}

/* bus_read_runs' entries, told which run they belong to. */
struct run_entries {
    bus_runs_fn fn;
    void *ctx;
    size_t i;
};

static int run_entry(void *ctx, const char *id, const char *name, const char *data)
{
    struct run_entries *re = ctx;
    re->fn(re->ctx, re->i, id, name, data);
    return 0;
}

int bus_last(struct bus *b, const char *run_id, char id[EVENT_ID_SIZE],
             char name[EVENT_NAME_SIZE])
{
    char key[64];
    bus_events_key(run_id, key, sizeof key);
    redisReply *r = cmd(b, "XREVRANGE %s + - COUNT 1", key);
    int ret = -1;
    if (reply_ok(r) && r->type == REDIS_REPLY_ARRAY) {
        ret = 1;
        const char *eid, *ename, *edata;
        if (r->elements == 1 && entry_fields(r->element[0], &eid, &ename, &edata, NULL) == 0) {
            snprintf(id, EVENT_ID_SIZE, "%s", eid);
            snprintf(name, EVENT_NAME_SIZE, "%s", ename);
            ret = 0;
        }
    }
    freeReplyObject(r);
    return ret;
}

/* How far back a writer looks for its own entry: further than the
 * entries other writers of the same run can add in a reconnect. */
#define FIND_WRITE_DEPTH 64

int bus_find_write(struct bus *b, const char *run_id, const char *token,
                   char out_id[EVENT_ID_SIZE])
{
    char key[64];
    bus_events_key(run_id, key, sizeof key);
    redisReply *r = cmd(b, "XREVRANGE %s + - COUNT %d", key, FIND_WRITE_DEPTH);
    if (!reply_ok(r) || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return -1;
    }
    int found = 0;
    for (size_t i = 0; !found && i < r->elements; i++) {
        const char *eid, *ename, *edata, *etoken;
        if (entry_fields(r->element[i], &eid, &ename, &edata, &etoken) == 0 &&
            etoken != NULL && strcmp(etoken, token) == 0) {
            snprintf(out_id, EVENT_ID_SIZE, "%s", eid);
            found = 1;
        }
    }
    freeReplyObject(r);
    return found;
}

int bus_entry(struct bus *b, const char *run_id, const char *id, char **data)
{
    char key[64];
    bus_events_key(run_id, key, sizeof key);
    redisReply *r = cmd(b, "XRANGE %s %s %s", key, id, id);
    int ret = -1;
    const char *eid, *ename, *edata;
    if (reply_ok(r) && r->type == REDIS_REPLY_ARRAY) {
        ret = 1;
        if (r->elements == 1 && entry_fields(r->element[0], &eid, &ename, &edata, NULL) == 0)
            ret = (*data = strdup(edata)) != NULL ? 0 : -1;
    }
    freeReplyObject(r);
    return ret;
}

int bus_read(struct bus *b, const char *run_id, const char *after_id,
             int count, int block_ms, bus_entry_fn fn, void *ctx)
{
    if (b == NULL)
        return -1;
    char key[64];
    bus_events_key(run_id, key, sizeof key);
    /* The socket timeout must outlast the server-side block. */
    if (block_ms > 0)
        redisSetTimeout(b->c, tv_ms(block_ms + b->timeout_ms));
    redisReply *r = block_ms > 0
        ? cmd(b, "XREAD COUNT %d BLOCK %d STREAMS %s %s", count, block_ms, key, after_id)
        : cmd(b, "XREAD COUNT %d STREAMS %s %s", count, key, after_id);
    if (block_ms > 0)
        redisSetTimeout(b->c, tv_ms(b->timeout_ms));
    if (!reply_ok(r)) {
        freeReplyObject(r);
        return -1;
    }
    int n = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        redisReply *s = r->element[0];
        if (s->type == REDIS_REPLY_ARRAY && s->elements == 2 &&
            s->element[1]->type == REDIS_REPLY_ARRAY)
            n = deliver(s->element[1], fn, ctx);
    } else if (r->type != REDIS_REPLY_NIL) {
        n = -1;
    }
    freeReplyObject(r);
    return n;
}

int bus_read_runs(struct bus *b, size_t n, const char *const *run_ids,
                  const char *const *after_ids, int count, bus_runs_fn fn, void *ctx)
{
    if (b == NULL || b->c == NULL)
        return -1;
    /* Pipelined: one round trip for every run. "(" makes the start
     * exclusive. */
    for (size_t i = 0; i < n; i++) {
        char key[64], start[EVENT_ID_SIZE + 1];
        bus_events_key(run_ids[i], key, sizeof key);
        snprintf(start, sizeof start, "(%s", after_ids[i]);
        if (redisAppendCommand(b->c, "XRANGE %s %s + COUNT %d", key, start, count) != REDIS_OK)
            return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        void *v = NULL;
        if (redisGetReply(b->c, &v) != REDIS_OK)
            return -1; /* the connection is broken: the caller drops it */
        redisReply *r = v;
        demoted(b, r);
        if (rc == 0 && r->type == REDIS_REPLY_ARRAY) {
            struct run_entries re = {fn, ctx, i};
            if (deliver(r, run_entry, &re) < 0)
                rc = -1;
        } else {
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

struct bus *bus_listen(const struct config *cfg, int timeout_ms, char *err, size_t errsize)
{
    return bus_connect(cfg, timeout_ms, err, errsize);
}

int bus_fd(const struct bus *b)
{
    return b != NULL && b->c != NULL ? b->c->fd : -1;
}

/* Writes out what was appended, without waiting for its answer. */
static int listen_flush(struct bus *b)
{
    int done = 0;
    while (!done)
        if (redisBufferWrite(b->c, &done) != REDIS_OK)
            return -1;
    return 0;
}

/* Sends one (un)subscription; its answer comes among the announcements. */
static int listen_send(struct bus *b, const char *verb, const char *run_id)
{
    char channel[64];
    if (b == NULL || b->c == NULL || b->c->err)
        return -1;
    bus_notify_channel(run_id, channel, sizeof channel);
    if (redisAppendCommand(b->c, "%s %s", verb, channel) != REDIS_OK)
        return -1;
    return listen_flush(b);
}

int bus_listen_ping(struct bus *b)
{
    if (b == NULL || b->c == NULL || b->c->err || redisAppendCommand(b->c, "PING") != REDIS_OK)
        return -1;
    return listen_flush(b);
}

int bus_listen_follow(struct bus *b, const char *run_id)
{
    return listen_send(b, "SSUBSCRIBE", run_id);
}

int bus_listen_unfollow(struct bus *b, const char *run_id)
{
    return listen_send(b, "SUNSUBSCRIBE", run_id);
}

/* The run id inside a channel name "PREFIX{RUN}SUFFIX", or NULL. */
static const char *channel_run(char *channel)
{
    size_t pre = strlen(BUS_NOTIFY_PREFIX);
    char *close = strchr(channel, '}');
    if (strncmp(channel, BUS_NOTIFY_PREFIX "{", pre + 1) != 0 || close == NULL)
        return NULL;
    *close = '\0';
    return strlen(channel + pre + 1) < ID_SIZE ? channel + pre + 1 : NULL;
}

int bus_listen_take(struct bus *b, bus_notice_fn fn, bus_followed_fn followed, void *ctx)
{
    /* One read of what the socket holds (epoll said it is readable), then
     * every whole message in it: [smessage, channel, text], or the answer
     * to a subscription, [ssubscribe, channel, count]. */
    if (b == NULL || b->c == NULL || redisBufferRead(b->c) != REDIS_OK)
        return -1;
    int n = 0;
    for (;;) {
        void *v = NULL;
        if (redisGetReplyFromReader(b->c, &v) != REDIS_OK)
            return -1;
        if (v == NULL)
            return n;
        redisReply *r = v;
        int shaped = r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
                     r->element[0]->type == REDIS_REPLY_STRING &&
                     r->element[1]->type == REDIS_REPLY_STRING;
        const char *run;
        if (shaped && strcmp(r->element[0]->str, "ssubscribe") == 0 &&
            (run = channel_run(r->element[1]->str)) != NULL) {
            followed(ctx, run);
        } else if (shaped && strcmp(r->element[0]->str, "smessage") == 0 &&
                   r->element[2]->type == REDIS_REPLY_STRING) {
            /* "RUN PREV ID TYPE DATA": the first four hold no space. */
            char *f[5] = {r->element[2]->str};
            int k = 1;
            for (char *p = f[0]; k < 5 && (p = strchr(p, ' ')) != NULL; k++) {
                *p++ = '\0';
                f[k] = p;
            }
            if (k == 5 && strlen(f[0]) < ID_SIZE && strlen(f[1]) < EVENT_ID_SIZE &&
                strlen(f[2]) < EVENT_ID_SIZE && strlen(f[3]) < EVENT_NAME_SIZE) {
                fn(ctx, f[0], f[1], f[2], f[3], f[4]);
                n++;
            }
        }
        freeReplyObject(r);
    }
}

static void control_key(const char *run_id, char *out, size_t size)
{
    snprintf(out, size, "opstream:{%s}:control", run_id);
}

/* Control lists expire on their own, so a message for a run that ended
 * before its worker read it does not stay forever. */
#define CONTROL_TTL_S 86400
/* The doorbell: runs with a control message waiting, scored by when it
 * was pushed, so that a worker reads only the lists of those among its
 * runs instead of every run's each round. */
#define CONTROL_READY "opstream:control:ready"

int bus_control_push(struct bus *b, const char *run_id, const char *msg)
{
    char key[64];
    control_key(run_id, key, sizeof key);
    /* The list first, then the doorbell its worker rings through: a
     * worker that sees the bell finds the message. */
    if (cmd_ok(b, "RPUSH %s %s", key, msg) != 0 || cmd_ok(b, "EXPIRE %s %d", key, CONTROL_TTL_S) != 0 ||
        cmd_ok(b, "ZADD " CONTROL_READY " %lld %s", (long long)clock_now_ms(), run_id) != 0)
        return -1;
    /* Pushed: a failover after this does not lose it once a replica has
     * it. Not pushed again when that cannot be told (a resume must not
     * reach its job twice). */
    bus_replicated(b);
    return 0;
}

int bus_control_pop(struct bus *b, const char *run_id, char **out)
{
    char key[64];
    control_key(run_id, key, sizeof key);
    return reply_string(cmd(b, "LPOP %s", key), BUS_CONTROL_SIZE, out);
}

int bus_control_clear(struct bus *b, const char *run_id)
{
    char key[64];
    control_key(run_id, key, sizeof key);
    if (b == NULL || b->c == NULL)
        return -1;
    /* Pipelined: one round trip at every run's end. */
    if (redisAppendCommand(b->c, "DEL %s", key) != REDIS_OK ||
        redisAppendCommand(b->c, "ZREM " CONTROL_READY " %s", run_id) != REDIS_OK)
        return -1;
    int rc = 0;
    for (int i = 0; i < 2; i++) {
        void *v = NULL;
        if (redisGetReply(b->c, &v) != REDIS_OK)
            return -1; /* the connection is broken: the caller drops it */
        demoted(b, v);
        if (!reply_ok(v))
            rc = -1;
        freeReplyObject(v);
    }
    return rc;
}

int bus_control_ready(struct bus *b, int64_t rung_before_ms, char ids[][ID_SIZE], int max)
{
    if (cmd_ok(b, "ZREMRANGEBYSCORE " CONTROL_READY " -inf (%lld", (long long)rung_before_ms) != 0)
        return -1;
    redisReply *r = cmd(b, "ZRANGE " CONTROL_READY " 0 %d", max - 1);
    int n = -1;
    if (reply_ok(r) && r->type == REDIS_REPLY_ARRAY) {
        n = 0;
        for (size_t i = 0; i < r->elements && n < max; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING && r->element[i]->len < ID_SIZE)
                snprintf(ids[n++], ID_SIZE, "%s", r->element[i]->str);
    }
    freeReplyObject(r);
    return n;
}

int bus_control_taken(struct bus *b, const char *run_id)
{
    return cmd_ok(b, "ZREM " CONTROL_READY " %s", run_id);
}

#define PUBLISHED_KEY_TTL_S (30 * 86400)

static void published_key(const char *run_id, char *out, size_t size)
{
    snprintf(out, size, "opstream:{%s}:published", run_id);
}

long long bus_count_published(struct bus *b, const char *run_id)
{
    char key[64];
    published_key(run_id, key, sizeof key);
    redisReply *r = cmd(b, "INCR %s", key);
    long long n = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    /* Settling a run sets the key's expiry with its stream's; this one
     * only bounds a key a late publish made after that. */
    if (n == 1 && cmd_ok(b, "EXPIRE %s %d", key, PUBLISHED_KEY_TTL_S) != 0)
        n = -1;
    return n;
}

int bus_stream_info(struct bus *b, const char *run_id, struct stream_info *out)
{
    char key[64];
    bus_events_key(run_id, key, sizeof key);
    memset(out, 0, sizeof *out);
    redisReply *r = cmd(b, "XINFO STREAM %s", key);
    if (r != NULL && r->type == REDIS_REPLY_ERROR && strstr(r->str, "no such key") != NULL) {
        freeReplyObject(r);
        return 0;
    }
    if (!reply_ok(r) || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return -1;
    }
    out->exists = 1;
    long long length = -1, added = -1;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(k->str, "length") == 0 && v->type == REDIS_REPLY_INTEGER)
            length = v->integer;
        else if (strcmp(k->str, "entries-added") == 0 && v->type == REDIS_REPLY_INTEGER)
            added = v->integer;
        else if (strcmp(k->str, "first-entry") == 0 && v->type == REDIS_REPLY_ARRAY &&
                 v->elements == 2 && v->element[0]->type == REDIS_REPLY_STRING)
            event_id_parse(v->element[0]->str, &out->first);
        else if (strcmp(k->str, "last-generated-id") == 0 && v->type == REDIS_REPLY_STRING)
            event_id_parse(v->str, &out->last);
    }
    /* Trimming removes the oldest entries and, in Redis 7.0, leaves
     * max-deleted-entry-id alone: the counts are what show it. */
    out->trimmed = length >= 0 && added > length;
    freeReplyObject(r);
    return 0;
}

int bus_expire_run(struct bus *b, const char *run_id, int ttl_s)
{
    char events[64], control[64], published[64];
    bus_events_key(run_id, events, sizeof events);
    control_key(run_id, control, sizeof control);
    published_key(run_id, published, sizeof published);
    int a = cmd_ok(b, "EXPIRE %s %d", events, ttl_s);
    int c = cmd_ok(b, "EXPIRE %s %d", control, ttl_s);
    int p = cmd_ok(b, "EXPIRE %s %d", published, ttl_s);
    return a == 0 && c == 0 && p == 0 ? 0 : -1;
}

int bus_delete_run(struct bus *b, const char *run_id)
{
    char events[64], control[64], published[64];
    bus_events_key(run_id, events, sizeof events);
    control_key(run_id, control, sizeof control);
    published_key(run_id, published, sizeof published);
    /* Its keys, and its place in the schedules that name it (a delayed
     * run's entry names its type too, and goes when it is due). */
    return cmd_ok(b, "DEL %s %s %s opstream:{%s}:picked", events, control, published, run_id) == 0 &&
           cmd_ok(b, "ZREM " BUS_WEBHOOKS_KEY " %s", run_id) == 0 &&
           cmd_ok(b, "ZREM " BUS_EXPIRING_KEY " %s", run_id) == 0 ? 0 : -1;
}

/* Room for a type's name, or a type's and a concurrency key's. */
#define KEY_SLOTS_SIZE 256

static void slots_key(const char *type, char *out, size_t size)
{
    snprintf(out, size, "opstream:type:{%s}:slots", type);
}

/* Atomic: drop expired holders, then take a slot if one is free (or keep
 * the one this run holds). */
static const char slot_take_lua[] =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]) "
    "if redis.call('ZSCORE', KEYS[1], ARGV[4]) or "
    "   redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then "
    "  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4]) return 1 end "
    "return 0";

int bus_slot_take(struct bus *b, const char *type, const char *run_id, int max,
                  int64_t now_ms, int64_t until_ms)
{
    char key[KEY_SLOTS_SIZE];
    slots_key(type, key, sizeof key);
    redisReply *r = cmd(b, "EVAL %s 1 %s %lld %d %lld %s", slot_take_lua, key,
                        (long long)now_ms, max, (long long)until_ms, run_id);
    int ret = reply_ok(r) && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    freeReplyObject(r);
    return ret;
}

int bus_slot_renew(struct bus *b, const char *type, const char *run_id, int64_t until_ms)
{
    char key[KEY_SLOTS_SIZE];
    slots_key(type, key, sizeof key);
    return cmd_ok(b, "ZADD %s XX %lld %s", key, (long long)until_ms, run_id);
}

int bus_slot_free(struct bus *b, const char *type, const char *run_id)
{
    char key[KEY_SLOTS_SIZE];
    slots_key(type, key, sizeof key);
    return cmd_ok(b, "ZREM %s %s", key, run_id);
}

int bus_queue_init(struct bus *b)
{
    redisReply *r = cmd(b, "XGROUP CREATE " BUS_QUEUE_KEY " " BUS_GROUP " 0 MKSTREAM");
    int ok = r != NULL && (r->type != REDIS_REPLY_ERROR ||
                           strncmp(r->str, "BUSYGROUP", 9) == 0);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

int bus_ticket(struct bus *b, const char *run_id)
{
    return cmd_ok(b, "XADD " BUS_QUEUE_KEY " * run %s", run_id);
}

static void waiting_key(const char *type, char *out, size_t size)
{
    snprintf(out, size, "opstream:type:{%s}:waiting", type);
}

/* The ticket and the place among its type's waiting runs, together. */
static const char enqueue_lua[] =
    "redis.call('XADD', KEYS[1], '*', 'run', ARGV[1]) "
    "redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) return 1";

int bus_enqueue(struct bus *b, const char *run_id, const char *type, long long score)
{
    char key[128];
    waiting_key(type, key, sizeof key);
    return cmd_ok(b, "EVAL %s 2 " BUS_QUEUE_KEY " %s %s %lld", enqueue_lua, key, run_id, score);
}

int bus_delay(struct bus *b, const char *run_id, const char *type, long long score,
              int64_t at_ms)
{
    return cmd_ok(b, "ZADD " BUS_DELAYED_KEY " %lld %s|%s|%lld", (long long)at_ms, run_id, type, score);
}

/* Due members ("id|type|score") go onto the queue as bus_enqueue puts
 * them, and leave the delayed set, in one step: none is lost or doubled
 * between the two, whoever runs it at the same time. */
static const char promote_lua[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100) "
    "for _, m in ipairs(due) do "
    "  local id, t, sc = string.match(m, '^([^|]+)|([^|]+)|([^|]+)$') "
    "  if id then "
    "    redis.call('XADD', KEYS[2], '*', 'run', id) "
    "    redis.call('ZADD', 'opstream:type:{' .. t .. '}:waiting', sc, id) "
    "  end "
    "  redis.call('ZREM', KEYS[1], m) "
    "end "
    "local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES') "
    "return {#due, nxt[2] or '0'}";

/* The answer of promote_lua and expiry_lua: {count or id, next score}. */
static int next_due(const redisReply *r, int64_t *next_ms)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[1]->type != REDIS_REPLY_STRING)
        return -1;
    *next_ms = (int64_t)strtoll(r->element[1]->str, NULL, 10);
    return 0;
}

int bus_promote(struct bus *b, int64_t now_ms, int64_t *next_ms)
{
    redisReply *r = cmd(b, "EVAL %s 2 " BUS_DELAYED_KEY " " BUS_QUEUE_KEY " %lld", promote_lua,
                        (long long)now_ms);
    int n = reply_ok(r) && next_due(r, next_ms) == 0 && r->element[0]->type == REDIS_REPLY_INTEGER
                ? (int)r->element[0]->integer : -1;
    freeReplyObject(r);
    return n;
}

int bus_waiting_top(struct bus *b, const char *type, int n, char ids[][ID_SIZE])
{
    char key[128];
    waiting_key(type, key, sizeof key);
    redisReply *r = cmd(b, "ZREVRANGE %s 0 %d", key, n - 1);
    int got = -1;
    if (reply_ok(r) && r->type == REDIS_REPLY_ARRAY) {
        got = 0;
        for (size_t i = 0; i < r->elements && got < n; i++)
            if (r->element[i]->type == REDIS_REPLY_STRING && strlen(r->element[i]->str) < ID_SIZE)
                snprintf(ids[got++], ID_SIZE, "%s", r->element[i]->str);
    }
    freeReplyObject(r);
    return got;
}

int bus_pick(struct bus *b, const char *run_id, int ttl_ms)
{
    redisReply *r = cmd(b, "SET opstream:{%s}:picked 1 NX PX %d", run_id, ttl_ms);
    int ret = !reply_ok(r) ? -1 : r->type == REDIS_REPLY_STATUS ? 1 : 0;
    freeReplyObject(r);
    return ret;
}

int bus_unpick(struct bus *b, const char *run_id)
{
    return cmd_ok(b, "DEL opstream:{%s}:picked", run_id);
}

int bus_waiting_remove(struct bus *b, const char *type, const char *run_id)
{
    char key[128];
    waiting_key(type, key, sizeof key);
    return cmd_ok(b, "ZREM %s %s", key, run_id);
}

int bus_expiry_add(struct bus *b, const char *run_id, int64_t at_ms)
{
    return cmd_ok(b, "ZADD " BUS_EXPIRING_KEY " %lld %s", (long long)at_ms, run_id);
}

/* One due member taken (only one taker gets it): out of the set, or, with
 * a lease (ARGV[2] > 0), due again at its end unless its taker says
 * otherwise. Then the next due. */
static const char take_due_lua[] =
    "local m = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1) "
    "if m[1] and ARGV[2] == '0' then redis.call('ZREM', KEYS[1], m[1]) "
    "elseif m[1] then redis.call('ZADD', KEYS[1], ARGV[2], m[1]) end "
    "local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES') "
    "return {m[1] or '', nxt[2] or '0'}";

static int take_due(struct bus *b, const char *key, int64_t now_ms, int64_t lease_until,
                    char run_id[ID_SIZE], int64_t *next_ms)
{
    redisReply *r = cmd(b, "EVAL %s 1 %s %lld %lld", take_due_lua, key, (long long)now_ms,
                        (long long)lease_until);
    int ret = -1;
    if (reply_ok(r) && next_due(r, next_ms) == 0 && r->element[0]->type == REDIS_REPLY_STRING) {
        ret = r->element[0]->str[0] != '\0' && strlen(r->element[0]->str) < ID_SIZE;
        snprintf(run_id, ID_SIZE, "%s", ret ? r->element[0]->str : "");
    }
    freeReplyObject(r);
    return ret;
}

int bus_expiry_take(struct bus *b, int64_t now_ms, char run_id[ID_SIZE], int64_t *next_ms)
{
    return take_due(b, BUS_EXPIRING_KEY, now_ms, 0, run_id, next_ms);
}

int bus_webhook_schedule(struct bus *b, const char *run_id, int64_t at_ms)
{
    return cmd_ok(b, "ZADD " BUS_WEBHOOKS_KEY " NX %lld %s", (long long)at_ms, run_id);
}

int bus_webhook_take(struct bus *b, int64_t now_ms, int64_t lease_until, char run_id[ID_SIZE],
                     int64_t *next_ms)
{
    return take_due(b, BUS_WEBHOOKS_KEY, now_ms, lease_until, run_id, next_ms);
}

int bus_webhook_later(struct bus *b, const char *run_id, int64_t at_ms)
{
    return cmd_ok(b, "ZADD " BUS_WEBHOOKS_KEY " %lld %s", (long long)at_ms, run_id);
}

int bus_webhook_done(struct bus *b, const char *run_id)
{
    return cmd_ok(b, "ZREM " BUS_WEBHOOKS_KEY " %s", run_id);
}

/* The first entry of an array of queue entries ([id, [field, value...]]):
 * 1 with its ids set, 0 when the array is empty or not entries. */
static int queue_entry(const redisReply *entries, char run_id[ID_SIZE],
                       char entry_id[EVENT_ID_SIZE])
{
    if (entries->type != REDIS_REPLY_ARRAY || entries->elements < 1)
        return 0;
    const redisReply *e = entries->element[0];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    snprintf(entry_id, EVENT_ID_SIZE, "%s", e->element[0]->str);
    const redisReply *f = e->element[1];
    run_id[0] = '\0';
    for (size_t i = 0; f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2)
        if (f->element[i]->type == REDIS_REPLY_STRING &&
            f->element[i + 1]->type == REDIS_REPLY_STRING && strcmp(f->element[i]->str, "run") == 0)
            snprintf(run_id, ID_SIZE, "%s", f->element[i + 1]->str);
    return 1;
}

int bus_claim(struct bus *b, const char *consumer, int block_ms,
              char run_id[ID_SIZE], char entry_id[EVENT_ID_SIZE])
{
    if (b == NULL)
        return -1;
    redisSetTimeout(b->c, tv_ms(block_ms + b->timeout_ms));
    /* (BLOCK 0 would wait for ever: without BLOCK it answers at once.) */
    redisReply *r = block_ms > 0
        ? cmd(b, "XREADGROUP GROUP " BUS_GROUP " %s COUNT 1 BLOCK %d STREAMS " BUS_QUEUE_KEY " >",
              consumer, block_ms)
        : cmd(b, "XREADGROUP GROUP " BUS_GROUP " %s COUNT 1 STREAMS " BUS_QUEUE_KEY " >", consumer);
    redisSetTimeout(b->c, tv_ms(b->timeout_ms));
    if (!reply_ok(r)) {
        freeReplyObject(r);
        return -1;
    }
    int ret = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
        ret = queue_entry(r->element[0]->element[1], run_id, entry_id);
    freeReplyObject(r);
    return ret;
}

int bus_reclaim(struct bus *b, const char *consumer, int min_idle_ms,
                char run_id[ID_SIZE], char entry_id[EVENT_ID_SIZE])
{
    redisReply *r = cmd(b, "XAUTOCLAIM " BUS_QUEUE_KEY " " BUS_GROUP " %s %d 0-0 COUNT 1",
                        consumer, min_idle_ms);
    if (!reply_ok(r)) {
        freeReplyObject(r);
        return -1;
    }
    int ret = r->type == REDIS_REPLY_ARRAY && r->elements >= 2
                  ? queue_entry(r->element[1], run_id, entry_id) : 0;
    freeReplyObject(r);
    return ret;
}

/* One field of an XINFO reply's flat [name, value, ...] array. */
static const redisReply *info_field(const redisReply *r, const char *name)
{
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING && strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1];
    return NULL;
}

static long long info_int(const redisReply *r, const char *name)
{
    const redisReply *v = info_field(r, name);
    return v != NULL && v->type == REDIS_REPLY_INTEGER ? v->integer : -1;
}

int bus_queue_tidy(struct bus *b, const char *self, int min_idle_ms)
{
    int removed = 0;
    redisReply *r = cmd(b, "XINFO CONSUMERS " BUS_QUEUE_KEY " " BUS_GROUP);
    for (size_t i = 0; reply_ok(r) && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *c = r->element[i];
        const redisReply *name = info_field(c, "name");
        if (name == NULL || name->type != REDIS_REPLY_STRING || strcmp(name->str, self) == 0)
            continue;
        if (info_int(c, "pending") == 0 && info_int(c, "idle") > min_idle_ms &&
            cmd_ok(b, "XGROUP DELCONSUMER " BUS_QUEUE_KEY " " BUS_GROUP " %s", name->str) == 0)
            removed++;
    }
    freeReplyObject(r);
    /* Everything before the oldest entry still pending, or before the last
     * one delivered when none is, has been acknowledged: it goes. */
    char keep[EVENT_ID_SIZE] = "";
    r = cmd(b, "XPENDING " BUS_QUEUE_KEY " " BUS_GROUP);
    if (reply_ok(r) && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
        r->element[1]->type == REDIS_REPLY_STRING)
        snprintf(keep, sizeof keep, "%s", r->element[1]->str);
    freeReplyObject(r);
    if (keep[0] == '\0') {
        r = cmd(b, "XINFO GROUPS " BUS_QUEUE_KEY);
        for (size_t i = 0; reply_ok(r) && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            const redisReply *name = info_field(r->element[i], "name");
            const redisReply *last = info_field(r->element[i], "last-delivered-id");
            if (name && name->type == REDIS_REPLY_STRING && strcmp(name->str, BUS_GROUP) == 0 &&
                last && last->type == REDIS_REPLY_STRING)
                snprintf(keep, sizeof keep, "%s", last->str);
        }
        freeReplyObject(r);
    }
    if (keep[0] != '\0' && cmd_ok(b, "XTRIM " BUS_QUEUE_KEY " MINID %s", keep) != 0)
        return -1;
    return removed;
}

int bus_ack(struct bus *b, const char *entry_id)
{
    return cmd_ok(b, "XACK " BUS_QUEUE_KEY " " BUS_GROUP " %s", entry_id);
}

/* Small records kept under a name for a time (an MCP session, the call
 * a run answers): opstream:note:{name}, so that they never meet a run's
 * keys. */
static void note_key(const char *name, char *out, size_t size)
{
    snprintf(out, size, "opstream:note:{%s}", name);
}

int bus_note_put(struct bus *b, const char *name, const char *value, int ttl_s)
{
    char key[BUS_NOTE_NAME_SIZE + 32];
    if (strlen(name) >= BUS_NOTE_NAME_SIZE || strlen(value) >= BUS_NOTE_SIZE)
        return -1;
    note_key(name, key, sizeof key);
    return cmd_ok(b, "SET %s %s EX %d", key, value, ttl_s);
}

int bus_note_get(struct bus *b, const char *name, int ttl_s, char **out)
{
    char key[BUS_NOTE_NAME_SIZE + 32];
    *out = NULL;
    if (strlen(name) >= BUS_NOTE_NAME_SIZE)
        return 0;
    note_key(name, key, sizeof key);
    return reply_string(cmd(b, "GETEX %s EX %d", key, ttl_s), BUS_NOTE_SIZE, out);
}

int bus_note_delete(struct bus *b, const char *name)
{
    char key[BUS_NOTE_NAME_SIZE + 32];
    if (strlen(name) >= BUS_NOTE_NAME_SIZE)
        return -1;
    note_key(name, key, sizeof key);
    return cmd_ok(b, "DEL %s", key);
}

/* Counters added to, then the process's gauges and when it was heard. */
static const char metrics_report_script[] =
    "for i = 4, #ARGV, 2 do\n"
    "  if string.find(ARGV[i + 1], '.', 1, true) then\n"
    "    redis.call('HINCRBYFLOAT', KEYS[1], ARGV[i], ARGV[i + 1])\n"
    "  else\n"
    "    redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])\n"
    "  end\n"
    "end\n"
    "if ARGV[3] ~= '-' then\n"
    "  redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])\n"
    "  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])\n"
    "end\n"
    "return 1\n";

#define METRICS_ARGS_MAX (2 * 8192)

int bus_metrics_report(struct bus *b, const char *process, int64_t now_ms, const char *gauges,
                       size_t n, const char *const *fields, const char *const *values)
{
    enum { HEAD = 9 };
    if (b == NULL || b->c == NULL || 2 * n > METRICS_ARGS_MAX) {
        atomic_fetch_add(&errors, 1);
        return -1;
    }
    const char **argv = malloc((HEAD + 2 * n) * sizeof *argv);
    size_t *lens = malloc((HEAD + 2 * n) * sizeof *lens);
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    int ret = -1;
    if (argv != NULL && lens != NULL) {
        /* "-": no gauges (a process that has none keeps no entry). */
        const char *head[HEAD] = {"EVAL", metrics_report_script, "3", BUS_METRICS_KEY,
                                  BUS_METRICS_GAUGES_KEY, BUS_METRICS_SEEN_KEY, process, now,
                                  gauges != NULL ? gauges : "-"};
        size_t k = 0;
        for (; k < HEAD; k++)
            argv[k] = head[k];
        for (size_t i = 0; i < n; i++) {
            argv[k++] = fields[i];
            argv[k++] = values[i];
        }
        for (size_t i = 0; i < k; i++)
            lens[i] = strlen(argv[i]);
        redisReply *r = redisCommandArgv(b->c, (int)k, argv, lens);
        demoted(b, r);
        ret = reply_ok(r) ? 0 : -1;
        freeReplyObject(r);
    }
    free(argv);
    free(lens);
    return ret;
}

static const char metrics_read_script[] =
    "local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1])\n"
    "for _, p in ipairs(gone) do redis.call('HDEL', KEYS[2], p) end\n"
    "if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1]) end\n"
    "return {redis.call('HGETALL', KEYS[1]), redis.call('HVALS', KEYS[2])}\n";

int bus_metrics_read(struct bus *b, int64_t heard_since_ms, bus_metric_fn fn, void *ctx)
{
    redisReply *r = cmd(b, "EVAL %s 3 %s %s %s %lld", metrics_read_script, BUS_METRICS_KEY,
                        BUS_METRICS_GAUGES_KEY, BUS_METRICS_SEEN_KEY, (long long)heard_since_ms);
    int ret = -1;
    if (reply_ok(r) && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[1]->type == REDIS_REPLY_ARRAY) {
        redisReply *counters = r->element[0], *gauges = r->element[1];
        ret = 0;
        for (size_t i = 0; i + 1 < counters->elements; i += 2)
            if (counters->element[i]->type == REDIS_REPLY_STRING &&
                counters->element[i + 1]->type == REDIS_REPLY_STRING)
                fn(ctx, counters->element[i]->str, counters->element[i + 1]->str);
        for (size_t i = 0; i < gauges->elements; i++)
            if (gauges->element[i]->type == REDIS_REPLY_STRING)
                fn(ctx, NULL, gauges->element[i]->str);
    }
    freeReplyObject(r);
    return ret;
}

long long bus_webhooks_pending(struct bus *b)
{
    redisReply *r = cmd(b, "ZCARD " BUS_WEBHOOKS_KEY);
    long long n = reply_ok(r) && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}
