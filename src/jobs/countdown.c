/* countdown: the demo job. Reads {"n": N, "interval_ms": MS} from its
 * first stdin line and emits N progress events, one every MS, then a
 * result. Speaks only the job protocol: JSON lines on stdout. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define N_MAX 1000000
#define INTERVAL_MAX_MS 3600000

int main(void)
{
    char line[65536];
    if (fgets(line, sizeof line, stdin) == NULL) {
        fprintf(stderr, "countdown: no input line\n");
        return 2;
    }
    json_error_t je;
    json_t *in = json_loads(line, 0, &je);
    json_t *n = json_object_get(in, "n");
    json_t *iv = json_object_get(in, "interval_ms");
    long long count = json_is_integer(n) ? json_integer_value(n) : 10;
    long long ms = json_is_integer(iv) ? json_integer_value(iv) : 500;
    json_decref(in);
    if (count < 0 || count > N_MAX || ms < 0 || ms > INTERVAL_MAX_MS) {
        fprintf(stderr, "countdown: n must be 0..%d and interval_ms 0..%d\n", N_MAX,
                INTERVAL_MAX_MS);
        return 2;
    }
    for (long long i = 1; i <= count; i++) {
        if (ms > 0) {
            struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        printf("{\"event\":\"progress\",\"data\":{\"current\":%lld,\"total\":%lld,"
               "\"remaining\":%lld}}\n", i, count, count - i);
        fflush(stdout);
    }
    printf("{\"event\":\"result\",\"data\":{\"counted\":%lld}}\n", count);
    return 0;
}
