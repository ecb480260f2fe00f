/* Logging: one line per message on stderr, which the web server or the
 * supervisor collects. Only the program edges log; modules return errors. */
#include "log.h"
#include "clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *log_prog = "opstream";
static enum log_level log_max = LOG_INFO;
static const char *const log_names[] = {"error", "warn", "info", "debug"};

void log_init(const char *prog, enum log_level max)
{
    log_prog = prog;
    log_max = max;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i <= LOG_DEBUG; i++) {
        if (strcmp(s, log_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > log_max)
        return;
    char ts[32];
    char line[1024];
    clock_rfc3339(clock_now_ms(), ts, sizeof ts);
    int n = snprintf(line, sizeof line, "%s %s[%ld] %s: ", ts, log_prog,
                     (long)getpid(), log_names[level]);
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fputs per line so that threads do not interleave within a line. */
    size_t len = strlen(line);
    if (len + 1 < sizeof line) {
        line[len] = '\n';
        line[len + 1] = '\0';
    }
    fputs(line, stderr);
}
