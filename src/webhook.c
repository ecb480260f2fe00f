/* Webhooks: where a run's end may be told (no internal address unless
 * allowed), and one signed delivery attempt by libcurl. */
#include "webhook.h"
#include "clock.h"

#include <config.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
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

/* Public IPv6: not unspecified, loopback, unique-local, link-local or
 * multicast; a mapped IPv4 address is judged as IPv4. */
static int ipv6_public(const struct in6_addr *a)
{
    const unsigned char *b = a->s6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a))
        return ipv4_public(b + 12);
    return !(IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) || (b[0] & 0xfe) == 0xfc ||
             (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || b[0] == 0xff);
}

static int sockaddr_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ipv4_public((const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family == AF_INET6)
        return ipv6_public(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}

/* True when url starts with one of webhook_allow's prefixes (separated by
 * spaces or commas). */
static int allowed_prefix(const struct config *cfg, const char *url)
{
    const char *p = cfg->webhook_allow;
    while (*p != '\0') {
        p += strspn(p, " ,\t");
        size_t n = strcspn(p, " ,\t");
        if (n > 0 && strncmp(url, p, n) == 0)
            return 1;
        p += n;
    }
    return 0;
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
    if (strlen(url) >= WEBHOOK_URL_SIZE) {
        snprintf(why, size, "must be at most %d bytes", WEBHOOK_URL_SIZE - 1);
        return -1;
    }
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = -1;
    /* Without CURLU_NON_SUPPORT_SCHEME only schemes this libcurl speaks
     * pass; of those, only http and https are taken. */
    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        snprintf(why, size, "must be an absolute http or https URL");
    else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        snprintf(why, size, "must be an http or https URL");
    else if (!allowed_prefix(cfg, url) && host_internal(host))
        snprintf(why, size, "names an internal address, which webhook_allow does not list");
    else
        rc = 0;
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
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

/* libcurl's socket, refused for an address that is not public: the name
 * is checked where it resolved, so a public name that points inside (or is
 * made to, between the check and the connect) reaches nothing. */
static curl_socket_t open_checked(void *ctx, curlsocktype purpose, struct curl_sockaddr *addr)
{
    int *refused = ctx;
    if (purpose != CURLSOCKTYPE_IPCXN || !sockaddr_public(&addr->addr)) {
        *refused = 1;
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
    int refused = 0;
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
        if (!allowed_prefix(cfg, url)) {
            curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, open_checked);
            curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &refused);
        }
        res = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a->status);
    }
    a->duration_ms = clock_now_ms() - a->at_ms;
    if (refused)
        snprintf(a->error, sizeof a->error, "the destination resolved to an internal address");
    else if (res != CURLE_OK)
        snprintf(a->error, sizeof a->error, "%s", errbuf[0] ? errbuf : curl_easy_strerror(res));
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return res == CURLE_OK && a->status >= 200 && a->status < 300;
}
