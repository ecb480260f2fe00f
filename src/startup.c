/* The common first steps of opstream.fcgi, opstream-worker and opstream. */
#include "startup.h"
#include "crypto.h"
#include "log.h"

#include <config.h>
#include <string.h>

#include <stdio.h>

int startup(const char *prog, const char *conf_path, struct config *cfg)
{
    char err[CONFIG_ERR_SIZE];
    config_defaults(cfg);
    if (config_load(cfg, conf_path ? conf_path : config_default_path(), err,
                    sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    enum log_level lvl = LOG_INFO;
    log_level_parse(cfg->log_level, &lvl);
    log_init(prog, lvl);
    if (crypto_init() != 0) {
        fprintf(stderr, "%s: libsodium could not be initialised\n", prog);
        return -1;
    }
    return 0;
}

enum startup_flag startup_flag(const char *prog, int argc, char **argv, int *i,
                               const char **conf, void (*usage)(FILE *f))
{
    const char *a = argv[*i];
    if (strcmp(a, "--help") == 0) {
        usage(stdout);
        return FLAG_EXIT;
    }
    if (strcmp(a, "--version") == 0) {
        printf("%s %s\n", prog, PACKAGE_VERSION);
        return FLAG_EXIT;
    }
    if (strcmp(a, "-c") == 0 && *i + 1 < argc) {
        *conf = argv[++*i];
        return FLAG_TAKEN;
    }
    return FLAG_OTHER;
}
