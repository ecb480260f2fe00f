/* Unit tests of log.c: the lines as text and as JSON. */
#include "unit.h"

#include "log.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The lines written to stderr by fn, as one string (the caller frees). */
static char *captured(void (*fn)(void))
{
    FILE *mem = tmpfile();
    ck_assert_ptr_nonnull(mem);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(mem), STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ck_assert_int_eq(fseek(mem, 0, SEEK_END), 0);
    size_t size = (size_t)ftell(mem);
    char *buf = calloc(1, size + 1);
    ck_assert_ptr_nonnull(buf);
    rewind(mem);
    ck_assert_uint_eq(fread(buf, 1, size, mem), size);
    fclose(mem);
    return buf;
}

static void some_lines(void)
{
    log_context("req1", "alice", "");
    log_info("plain %d", 1);
    log_run(LOG_WARN, "RUN1", "about a run: %s", "caf\xe9"); /* not UTF-8 */
    log_debug("not kept at info");
    log_context("", "", "");
}

START_TEST(test_json_lines)
{
    log_init("prog", LOG_INFO, 1);
    char *out = captured(some_lines);
    char *second = strchr(out, '\n');
    ck_assert_ptr_nonnull(second);
    *second++ = '\0';
    json_t *a = json_loads(out, 0, NULL), *b = json_loads(second, JSON_DISABLE_EOF_CHECK, NULL);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(json_string_value(json_object_get(a, "msg")), "plain 1");
    ck_assert_str_eq(json_string_value(json_object_get(a, "program")), "prog");
    ck_assert_str_eq(json_string_value(json_object_get(a, "level")), "info");
    ck_assert_str_eq(json_string_value(json_object_get(a, "owner")), "alice");
    ck_assert_str_eq(json_string_value(json_object_get(a, "request_id")), "req1");
    ck_assert_ptr_null(json_object_get(a, "run_id"));
    ck_assert(json_is_integer(json_object_get(a, "pid")));
    /* A message that is not UTF-8 keeps its line, its other bytes '?'. */
    ck_assert_str_eq(json_string_value(json_object_get(b, "msg")), "about a run: caf?");
    ck_assert_str_eq(json_string_value(json_object_get(b, "run_id")), "RUN1");
    ck_assert_ptr_null(strstr(second, "not kept"));
    json_decref(a);
    json_decref(b);
    free(out);
}
END_TEST

START_TEST(test_text_lines)
{
    log_init("prog", LOG_INFO, 0);
    char *out = captured(some_lines);
    ck_assert_ptr_nonnull(strstr(out, " prog["));
    ck_assert_ptr_nonnull(strstr(out, "] info: plain 1\n"));
    ck_assert_ptr_nonnull(strstr(out, "] warn: run RUN1: about a run: caf\xe9\n"));
    ck_assert_ptr_null(strstr(out, "not kept"));
    free(out);
}
END_TEST

static void worker_lines(void)
{
    log_run_known("RUN2", "bob", "req2");
    log_run(LOG_INFO, "RUN2", "started");
    log_run(LOG_INFO, "RUN3", "another");
    log_run_known("RUN2", NULL, NULL);
    log_run(LOG_INFO, "RUN2", "forgotten");
}

/* A line's field, "" when it has none. */
static const char *field(json_t *line, const char *name)
{
    const char *v = json_string_value(json_object_get(line, name));
    return v != NULL ? v : "";
}

START_TEST(test_known_runs_name_their_owner_and_request)
{
    log_init("prog", LOG_INFO, 1);
    char *out = captured(worker_lines);
    json_t *lines[3];
    char *p = out;
    for (int i = 0; i < 3; i++) {
        char *nl = strchr(p, '\n');
        ck_assert_ptr_nonnull(nl);
        *nl = '\0';
        lines[i] = json_loads(p, 0, NULL);
        ck_assert_ptr_nonnull(lines[i]);
        p = nl + 1;
    }
    ck_assert_str_eq(field(lines[0], "owner"), "bob");
    ck_assert_str_eq(field(lines[0], "request_id"), "req2");
    ck_assert_str_eq(field(lines[1], "run_id"), "RUN3"); /* not told of: none */
    ck_assert_str_eq(field(lines[1], "owner"), "");
    ck_assert_str_eq(field(lines[2], "request_id"), "");
    for (int i = 0; i < 3; i++)
        json_decref(lines[i]);
    free(out);
}
END_TEST

UNIT_MAIN("log", test_json_lines, test_text_lines, test_known_runs_name_their_owner_and_request)
