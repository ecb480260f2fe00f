/* Webhooks: where a run's end may be told (no internal address unless
 * allowed), and one signed delivery attempt by libcurl. URLs are compared
 * parsed, never as text: scheme, host, port, then the path after its dot
 * segments are gone, on segment boundaries; a URL with credentials in it
 * is refused. An allowed internal destination is allowed by its address,
 * checked again when the delivery connects. */
#define _GNU_SOURCE /* strcasestr */
#include "webhook.h"
#include "clock.h"

#include <config.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

int webhook_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

/* Public IPv4: not this network, private, shared (CGNAT), loopback,
 * link-local (cloud metadata), IETF, benchmarking, multicast or
 * reserved. */
static int ipv4_public(const unsigned char *a)
{
    return !(a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224 ||
             (a[0] == 100 && (a[1] & 0xc0) == 64) || (a[0] == 169 && a[1] == 254) ||
             (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
             (a[0] == 192 && a[1] == 0 && a[2] == 0) || (a[0] == 198 && (a[1] & 0xfe) == 18));
}

static int zeros(const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return 0;
    return 1;
}

/* Public IPv6: not unique-local, link-local, multicast, discard-only or
 * documentation; an address that carries an IPv4 one (mapped, translated,
 * compatible, which takes in unspecified and loopback, NAT64, 6to4 and
 * Teredo's client) is judged by the IPv4 it carries. */
static int ipv6_public(const struct in6_addr *a)
{
    const unsigned char *b = a->s6_addr;
    static const unsigned char nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (IN6_IS_ADDR_V4MAPPED(a) || zeros(b, 12) || memcmp(b, nat64, 12) == 0 ||
        (zeros(b, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 && b[11] == 0))
        return ipv4_public(b + 12);
    if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 */
        return ipv4_public(b + 2);
    if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0) { /* Teredo: the client, inverted */
        unsigned char v4[4] = {(unsigned char)~b[12], (unsigned char)~b[13], (unsigned char)~b[14],
                               (unsigned char)~b[15]};
        return ipv4_public(v4);
    }
    return !((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || b[0] == 0xff ||
             (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) || /* local NAT64 */
             (b[0] == 0x01 && b[1] == 0x00 && zeros(b + 2, 6)) ||              /* discard */
             (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8));  /* documentation */
}

static int sockaddr_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ipv4_public((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family == AF_INET6)
        return ipv6_public(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

/* A URL as it is compared: parsed by libcurl, which also removes its
 * path's dot segments. */
struct dest {
    char scheme[8];
    char host[256];           /* lower case; an IPv6 literal in brackets */
    long port;
    char path[WEBHOOK_URL_SIZE];
    int userinfo;             /* a user, password or login options */
    int encoded;              /* the path encodes '.', '/' or '\', which a receiver may decode */
};

static int part(CURLU *u, CURLUPart what, char *out, size_t size, unsigned flags)
{
    char *v = NULL;
    CURLUcode rc = curl_url_get(u, what, &v, flags);
    int ok = rc == CURLUE_OK && strlen(v) < size;
    if (ok)
        memcpy(out, v, strlen(v) + 1);
    curl_free(v);
    return ok ? 0 : rc == CURLUE_OK ? -1 : 1;
}

/* 0, or -1 for what is not an absolute URL libcurl speaks. */
static int dest_parse(const char *url, struct dest *d)
{
    memset(d, 0, sizeof *d);
    CURLU *u = curl_url();
    char port[16], scratch[WEBHOOK_URL_SIZE];
    int rc = -1;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        part(u, CURLUPART_SCHEME, d->scheme, sizeof d->scheme, 0) == 0 &&
        part(u, CURLUPART_HOST, d->host, sizeof d->host, 0) == 0 &&
        part(u, CURLUPART_PORT, port, sizeof port, CURLU_DEFAULT_PORT) == 0 &&
        part(u, CURLUPART_PATH, d->path, sizeof d->path, 0) == 0) {
        d->port = strtol(port, NULL, 10);
        for (char *h = d->host; *h != '\0'; h++)
            *h = (char)tolower((unsigned char)*h);
        d->userinfo = part(u, CURLUPART_USER, scratch, sizeof scratch, 0) != 1 ||
                      part(u, CURLUPART_PASSWORD, scratch, sizeof scratch, 0) != 1 ||
                      part(u, CURLUPART_OPTIONS, scratch, sizeof scratch, 0) != 1;
        d->encoded = strcasestr(d->path, "%2e") != NULL || strcasestr(d->path, "%2f") != NULL ||
                     strcasestr(d->path, "%5c") != NULL || strchr(d->path, '\\') != NULL;
        rc = 0;
    }
    curl_url_cleanup(u);
    return rc;
}

/* Whether entry (an allow-list URL) takes in d: same scheme, host and
 * port, and d's path is entry's or below it, on a segment boundary. */
static int dest_under(const struct dest *entry, const struct dest *d)
{
    size_t n = strlen(entry->path);
    return strcmp(entry->scheme, d->scheme) == 0 && strcmp(entry->host, d->host) == 0 &&
           entry->port == d->port && !d->userinfo && !d->encoded &&
           strncmp(d->path, entry->path, n) == 0 &&
           (d->path[n] == '\0' || d->path[n] == '/' || (n > 0 && entry->path[n - 1] == '/'));
}

/* The webhook_allow entry (separated by spaces or commas) that takes in
 * d, in *entry: 1, else 0. */
static int allowed_entry(const struct config *cfg, const struct dest *d, struct dest *entry)
{
    const char *p = cfg->webhook_allow;
    char one[WEBHOOK_URL_SIZE];
    while (*p != '\0') {
        p += strspn(p, " ,\t");
        size_t n = strcspn(p, " ,\t");
        if (n > 0 && n < sizeof one) {
            memcpy(one, p, n);
            one[n] = '\0';
            if (dest_parse(one, entry) == 0 && dest_under(entry, d))
                return 1;
        }
        p += n;
    }
    return 0;
}

int webhook_allowed(const struct config *cfg, const char *url)
{
    struct dest d, entry;
    /* Too long to be a destination at all (webhook_url_check): then not
     * one the allow-list takes in either. */
    return strlen(url) < WEBHOOK_URL_SIZE && dest_parse(url, &d) == 0 &&
           allowed_entry(cfg, &d, &entry);
}

/* A host that names an internal place by itself. */
static int host_internal(const char *host)
{
    size_t n = strlen(host);
    if (strcasecmp(host, "localhost") == 0 || (n > 10 && strcasecmp(host + n - 10, ".localhost") == 0))
        return 1;
    unsigned char v4[4];
    struct in6_addr v6;
    char bare[64];
    /* curl gives an IPv6 literal in brackets. */
    if (n > 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof bare) {
        memcpy(bare, host + 1, n - 2);
        bare[n - 2] = '\0';
        char *zone = strchr(bare, '%');
        if (zone != NULL)
            *zone = '\0';
        return inet_pton(AF_INET6, bare, &v6) != 1 || !ipv6_public(&v6);
    }
    return inet_pton(AF_INET, host, v4) == 1 && !ipv4_public(v4);
}

int webhook_url_check(const struct config *cfg, const char *url, char *why, size_t size)
{
    struct dest d, entry;
    if (strlen(url) >= WEBHOOK_URL_SIZE) {
        snprintf(why, size, "must be at most %d bytes", WEBHOOK_URL_SIZE - 1);
        return -1;
    }
    /* Without CURLU_NON_SUPPORT_SCHEME only schemes this libcurl speaks
     * pass; of those, only http and https are taken. */
    if (dest_parse(url, &d) != 0) {
        snprintf(why, size, "must be an absolute http or https URL");
        return -1;
    }
    if (strcmp(d.scheme, "http") != 0 && strcmp(d.scheme, "https") != 0) {
        snprintf(why, size, "must be an http or https URL");
        return -1;
    }
    if (d.userinfo) {
        snprintf(why, size, "must not carry a user name or password");
        return -1;
    }
    if (host_internal(d.host) && !allowed_entry(cfg, &d, &entry)) {
        snprintf(why, size, "names an internal address, which webhook_allow does not list");
        return -1;
    }
    return 0;
}

int webhook_signature(const char *secret_hex, int64_t t, const char *body,
                      char out[WEBHOOK_SIG_SIZE])
{
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES], mac[crypto_auth_hmacsha256_BYTES];
    size_t keylen = 0;
    if (sodium_hex2bin(key, sizeof key, secret_hex, strlen(secret_hex), NULL, &keylen, NULL) != 0 ||
        keylen != sizeof key)
        return -1;
    char stamp[24];
    int n = snprintf(stamp, sizeof stamp, "%lld.", (long long)t);
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, sizeof key);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)stamp, (size_t)n);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, strlen(body));
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(key, sizeof key);
    char hex[2 * sizeof mac + 1];
    sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
    snprintf(out, WEBHOOK_SIG_SIZE, "t=%lld,v1=%s", (long long)t, hex);
    return 0;
}

#define ALLOWED_ADDRS_MAX 16

/* What a delivery may connect to besides public addresses: those of the
 * allow-list entry that took its URL in, on that entry's port. */
struct reach {
    struct sockaddr_storage addrs[ALLOWED_ADDRS_MAX];
    size_t n;
    int refused;
};

static void reach_entry(struct reach *r, const struct dest *entry)
{
    char host[256], port[16];
    size_t n = strlen(entry->host);
    if (n > 2 && entry->host[0] == '[') { /* an IPv6 literal, its zone dropped */
        snprintf(host, sizeof host, "%.*s", (int)(n - 2), entry->host + 1);
        host[strcspn(host, "%")] = '\0';
    } else {
        snprintf(host, sizeof host, "%s", entry->host);
    }
    snprintf(port, sizeof port, "%ld", entry->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return;
    for (struct addrinfo *ai = res; ai != NULL && r->n < ALLOWED_ADDRS_MAX; ai = ai->ai_next)
        if (ai->ai_addrlen <= sizeof r->addrs[0])
            memcpy(&r->addrs[r->n++], ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(res);
}

static int same_endpoint(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return 0;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return a->sa_family == AF_INET6 && x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

/* libcurl's socket, refused for an address that is neither public nor
 * one the allow-list names: the name is checked where it resolved, so a
 * public name that points inside (or is made to, between the check and
 * the connect) reaches nothing. */
static curl_socket_t open_checked(void *ctx, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct reach *r = ctx;
    int ok = purpose == CURLSOCKTYPE_IPCXN && sockaddr_public(&addr->addr);
    for (size_t i = 0; !ok && purpose == CURLSOCKTYPE_IPCXN && i < r->n; i++)
        ok = same_endpoint(&addr->addr, &r->addrs[i]);
    if (!ok) {
        r->refused = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

/* The receiver's answer body is not kept. */
static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
    (void)p, (void)ctx;
    return size * n;
}

int webhook_deliver(const struct config *cfg, const char *url, const char *secret_hex,
                    const char *id, int attempt, const char *body, struct webhook_attempt *a)
{
    memset(a, 0, sizeof *a);
    a->at_ms = clock_now_ms();
    char sig[WEBHOOK_SIG_SIZE], h_sig[160], h_id[96], h_attempt[48];
    if (webhook_signature(secret_hex, a->at_ms / 1000, body, sig) != 0) {
        snprintf(a->error, sizeof a->error, "the webhook secret is unusable");
        return 0;
    }
    snprintf(h_sig, sizeof h_sig, "Opstream-Signature: %s", sig);
    snprintf(h_id, sizeof h_id, "Opstream-Delivery: %s", id);
    snprintf(h_attempt, sizeof h_attempt, "Opstream-Attempt: %d", attempt);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    const char *lines[] = {"Content-Type: application/json", "Expect:", h_sig, h_id, h_attempt};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct curl_slist *more = curl_slist_append(headers, lines[i]);
        if (more == NULL)
            break;
        headers = more;
    }
    struct reach reach = {.n = 0};
    struct dest d, entry;
    if (dest_parse(url, &d) == 0 && allowed_entry(cfg, &d, &entry))
        reach_entry(&reach, &entry);
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode res = CURLE_OUT_OF_MEMORY;
    if (curl != NULL && headers != NULL) {
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)cfg->webhook_timeout_ms);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "opstream-webhook/" PACKAGE_VERSION);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        /* No proxy from the environment: the check below must see the
         * destination, not a proxy. */
        curl_easy_setopt(curl, CURLOPT_PROXY, "");
        curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_checked);
        curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &reach);
        res = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
    }
    a->duration_ms = clock_now_ms() - a->at_ms;
    if (reach.refused)
        snprintf(a->error, sizeof a->error, "the destination resolved to an internal address");
    else if (res != CURLE_OK)
        snprintf(a->error, sizeof a->error, "%s", errbuf[0] ? errbuf : curl_easy_strerror(res));
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return res == CURLE_OK && a->status >= 200 && a->status < 300;
}
