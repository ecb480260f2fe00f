/* The webhook destination check: any bytes as a URL get a verdict; a URL
 * accepted carries no user name, password or login options as libcurl
 * (which sends it) reads it, and one the allow-list takes in is always
 * accepted and names an entry's host. */
#include "fuzz.h"
#include "webhook.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int has(CURLU *u, CURLUPart what)
{
    char *v = NULL;
    int yes = curl_url_get(u, what, &v, 0) == CURLUE_OK;
    curl_free(v);
    return yes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config cfg;
    static int ready;
    if (!ready) {
        config_defaults(&cfg);
        strcpy(cfg.webhook_allow, "http://127.0.0.1:9000/hooks/, https://[::1]:8443/a http://hooks.test/b");
        ready = webhook_init() == 0;
    }
    char url[WEBHOOK_URL_SIZE + 8], why[160];
    size_t n = size < sizeof url - 1 ? size : sizeof url - 1;
    memcpy(url, data, n);
    url[n] = '\0';
    int ok = webhook_url_check(&cfg, url, why, sizeof why) == 0;
    int allowed = webhook_allowed(&cfg, url);
    if (allowed && !ok)
        abort();
    if (!ok)
        return 0;
    CURLU *u = curl_url();
    char *host = NULL;
    if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        abort(); /* accepted, so libcurl must parse it */
    if (has(u, CURLUPART_USER) || has(u, CURLUPART_PASSWORD) || has(u, CURLUPART_OPTIONS))
        abort();
    if (allowed && (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
                    (strcasecmp(host, "127.0.0.1") != 0 && strcasecmp(host, "[::1]") != 0 &&
                     strcasecmp(host, "hooks.test") != 0)))
        abort();
    curl_free(host);
    curl_url_cleanup(u);
    return 0;
}
