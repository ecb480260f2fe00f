/* The webhook destination check: any bytes as a URL get a verdict; a URL
 * accepted never carries a user name or password, and one the allow-list
 * takes in is always accepted. */
#include "fuzz.h"
#include "webhook.h"

#include <stdlib.h>
#include <string.h>

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
    if (webhook_allowed(&cfg, url) && !ok)
        abort();
    if (ok) {
        /* The authority (between "//" and the next '/', '?' or '#') has no '@'. */
        const char *a = strstr(url, "//");
        if (a != NULL) {
            size_t len = strcspn(a + 2, "/?#");
            if (memchr(a + 2, '@', len) != NULL)
                abort();
        }
    }
    return 0;
}
