/* countdown: the demo job. Emits n progress events, one every
 * interval_ms, then a result. */
#include "job.h"

int main(void)
{
    json_t *in = job_input("countdown");
    long long n = job_int("countdown", in, "n", 10, 0, 1000000);
    long long ms = job_int("countdown", in, "interval_ms", 500, 0, 3600000);
    json_decref(in);
    for (long long i = 1; i <= n; i++) {
        if (ms > 0)
            job_sleep_ms(ms);
        job_emit("progress", json_pack("{s:I, s:I, s:I}", "current", (json_int_t)i, "total",
                                       (json_int_t)n, "remaining", (json_int_t)(n - i)));
    }
    job_emit("result", json_pack("{s:I}", "counted", (json_int_t)n));
    return 0;
}
