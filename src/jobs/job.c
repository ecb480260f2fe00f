/* The job protocol from a job's side, for the shipped jobs. */
#include "job.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define LINE_MAX_BYTES (1 << 20)

json_t *job_read(void)
{
    static char line[LINE_MAX_BYTES];
    if (fgets(line, sizeof line, stdin) == NULL)
        return NULL;
    return json_loads(line, JSON_DECODE_ANY, NULL);
}

json_t *job_input(const char *prog)
{
    json_t *in = job_read();
    if (!json_is_object(in)) {
        fprintf(stderr, "%s: the first input line must be a JSON object\n", prog);
        exit(2);
    }
    return in;
}

void job_emit(const char *event, json_t *data)
{
    json_t *line = json_pack("{s:s, s:o}", "event", event, "data", data ? data : json_object());
    char *text = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    if (text != NULL)
        printf("%s\n", text);
    free(text);
    fflush(stdout);
}

long long job_int(const char *prog, const json_t *in, const char *key, long long dflt,
                  long long lo, long long hi)
{
    json_t *v = json_object_get(in, key);
    long long x = json_is_integer(v) ? json_integer_value(v) : dflt;
    if (x < lo || x > hi) {
        fprintf(stderr, "%s: %s must be %lld..%lld\n", prog, key, lo, hi);
        exit(2);
    }
    return x;
}

void job_sleep_ms(long long ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}
