/* The common first steps of opstream.fcgi, opstream-worker and opstream. */
#include "startup.h"
#include "crypto.h"
#include "log.h"

#include "webhook.h"

#include <config.h>
#include <string.h>
#include <sys/stat.h>

#include <stdio.h>

/* The config (the Redis password) and the database (the link secret,
 * token hashes, every run's input) must be closed to other users; a file
 * that is not there yet is created so under the umask. */
static int closed_to_others(const char *prog, const char *path, const char *what)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || (sb.st_mode & S_IRWXO) == 0)
        return 0;
    fprintf(stderr, "%s: %s: the %s is open to other users (mode %03o); chmod o-rwx it\n",
            prog, path, what, (unsigned)(sb.st_mode & 0777));
    return -1;
}

int startup(const char *prog, const char *conf_path, struct config *cfg)
{
    char err[CONFIG_ERR_SIZE];
    /* Everything the programs create (database, WAL, sockets) is shared
     * within the group at most: the web server's, by deployment. */
    umask(007);
    config_defaults(cfg);
    const char *path = conf_path ? conf_path : config_default_path();
    if (config_load(cfg, path, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    if (closed_to_others(prog, path, "config") != 0 ||
        closed_to_others(prog, cfg->database, "database") != 0)
        return -1;
    enum log_level lvl = LOG_INFO;
    log_level_parse(cfg->log_level, &lvl);
    log_init(prog, lvl, cfg->log_json);
    if (crypto_init() != 0) {
        fprintf(stderr, "%s: libsodium could not be initialised\n", prog);
        return -1;
    }
    /* Before any thread starts: libcurl's global init is not thread-safe. */
    if (webhook_init() != 0) {
        fprintf(stderr, "%s: libcurl could not be initialised\n", prog);
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
