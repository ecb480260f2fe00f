/* The config file: any bytes either load or give an error naming the
 * file, and never overflow a field. */
#include "fuzz.h"
#include "request.h" /* and with it src/config.h, not the build tree's */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/opstream-fuzz-config.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    struct config cfg;
    char err[CONFIG_ERR_SIZE];
    config_defaults(&cfg);
    if (config_load(&cfg, path, err, sizeof err) != 0 && strncmp(err, path, strlen(path)) != 0)
        abort();
    if (memchr(cfg.redis, '\0', sizeof cfg.redis) == NULL ||
        memchr(cfg.base_path, '\0', sizeof cfg.base_path) == NULL)
        abort();
    unlink(path);
    return 0;
}
