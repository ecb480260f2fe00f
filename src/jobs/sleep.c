/* sleep: sleeps for a while, reporting each second; for cancel and
 * timeout. */
#include "job.h"

int main(void)
{
    json_t *in = job_input("sleep");
    long long secs = job_int("sleep", in, "seconds", 10, 0, 86400);
    json_decref(in);
    for (long long i = 1; i <= secs; i++) {
        job_sleep_ms(1000);
        job_emit("progress", json_pack("{s:I, s:I}", "current", (json_int_t)i, "total", (json_int_t)secs));
    }
    job_emit("result", json_pack("{s:I}", "slept", (json_int_t)secs));
    return 0;
}
