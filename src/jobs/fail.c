/* fail: fails on purpose, with a message on stderr and an exit status. */
#include "job.h"

#include <stdio.h>

int main(void)
{
    json_t *in = job_input("fail");
    int status = (int)job_int("fail", in, "exit_status", 1, 1, 125);
    json_t *msg = json_object_get(in, "message");
    fprintf(stderr, "%s\n", json_is_string(msg) ? json_string_value(msg) : "failing on purpose");
    json_decref(in);
    return status;
}
