/* steps: runs named steps in turn, reporting each (step_started,
 * progress, step_finished), so the run's steps[] shows where it is. */
#include "job.h"

#include <string.h>

int main(void)
{
    json_t *in = job_input("steps");
    json_t *names = json_object_get(in, "steps");
    json_t *dflt = json_pack("[s, s, s]", "prepare", "work", "finish");
    if (!json_is_array(names))
        names = dflt;
    long long ms = job_int("steps", in, "delay_ms", 300, 0, 600000);
    size_t n = json_array_size(names);
    for (size_t i = 0; i < n; i++) {
        json_t *name = json_array_get(names, i);
        job_emit("step_started", json_pack("{s:O}", "name", name));
        job_sleep_ms(ms);
        job_emit("progress", json_pack("{s:I, s:I}", "current", (json_int_t)(i + 1), "total", (json_int_t)n));
        job_emit("step_finished", json_pack("{s:O, s:s}", "name", name, "status", "succeeded"));
    }
    job_emit("result", json_pack("{s:I}", "steps", (json_int_t)n));
    json_decref(dflt);
    json_decref(in);
    return 0;
}
