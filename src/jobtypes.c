/* Job type files: one JSON document per type, checked field by field when
 * loaded so a mistake is reported at start, not when a run hits it. */
#include "jobtypes.h"
#include "event.h"
#include "schema.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOBTYPES_MAX 1024

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct jobtype *)a)->name, ((const struct jobtype *)b)->name);
}

/* A present value that is not a whole number within [lo, hi]. */
static int bad_int(const json_t *v, long lo, long hi)
{
    return v != NULL && (!json_is_integer(v) || json_integer_value(v) < lo ||
                         json_integer_value(v) > hi);
}

static void jobtype_clear(struct jobtype *jt)
{
    for (size_t i = 0; i < JOBTYPE_ENV_MAX && jt->env[i] != NULL; i++)
        free(jt->env[i]);
    json_decref(jt->doc);
    memset(jt, 0, sizeof *jt);
}

static int load_one(const char *dir, const char *file, struct jobtype *jt,
                    char *err, size_t errsize)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        snprintf(err, errsize, "%s:%d: %s", path, je.line, je.text);
        return -1;
    }
    memset(jt, 0, sizeof *jt);
    jt->doc = doc;
    const char *why = NULL, *field = NULL;
    char schema_err[SCHEMA_ERR_SIZE];
    json_t *name = json_object_get(doc, "name");
    json_t *cmd = json_object_get(doc, "command");
    json_t *schema = json_object_get(doc, "input_schema");
    json_t *desc = json_object_get(doc, "description");
    json_t *timeout = json_object_get(doc, "timeout_s");
    json_t *env = json_object_get(doc, "env");
    json_t *cwd = json_object_get(doc, "cwd");
    json_t *limits = json_object_get(doc, "limits");
    size_t flen = strlen(file) - 5; /* without ".json" */
    if (!json_is_object(doc)) {
        field = "(document)", why = "must be an object";
    } else if (!json_is_string(name) || !event_name_valid(json_string_value(name))) {
        field = "name", why = "must match [a-z][a-z0-9_.-]{0,63}";
    } else if (strlen(json_string_value(name)) != flen ||
               strncmp(json_string_value(name), file, flen) != 0) {
        field = "name", why = "must equal the file name without .json";
    } else if (desc != NULL && !json_is_string(desc)) {
        field = "description", why = "must be a string";
    } else if (json_object_get(doc, "title") != NULL && !json_is_string(json_object_get(doc, "title"))) {
        field = "title", why = "must be a string";
    } else if (json_object_get(doc, "metadata") != NULL &&
               !json_is_object(json_object_get(doc, "metadata"))) {
        field = "metadata", why = "must be an object";
    } else if (!json_is_array(cmd) || json_array_size(cmd) == 0 ||
               json_array_size(cmd) > JOBTYPE_ARGV_MAX) {
        field = "command", why = "must be a non-empty array of at most 64 strings";
    } else if (schema != NULL && schema_check(schema, schema_err, sizeof schema_err) != 0) {
        field = "input_schema", why = schema_err;
    } else if (bad_int(timeout, 1, 7 * 86400)) {
        field = "timeout_s", why = "must be a whole number from 1 to 604800";
    } else if (bad_int(json_object_get(doc, "max_concurrency"), 1, 100000)) {
        field = "max_concurrency", why = "must be a whole number from 1 to 100000";
    } else if (bad_int(json_object_get(doc, "max_concurrency_per_key"), 1, 100000)) {
        field = "max_concurrency_per_key", why = "must be a whole number from 1 to 100000";
    } else if (json_object_get(doc, "webhook") != NULL &&
               (!json_is_string(json_object_get(doc, "webhook")) ||
                json_string_length(json_object_get(doc, "webhook")) >= WEBHOOK_URL_SIZE)) {
        field = "webhook", why = "must be a URL of at most 2048 bytes";
    } else if (bad_int(json_object_get(doc, "retries"), 0, 100)) {
        field = "retries", why = "must be a whole number from 0 to 100";
    } else if (cwd != NULL && (!json_is_string(cwd) || json_string_value(cwd)[0] != '/')) {
        field = "cwd", why = "must be an absolute path";
    } else if (env != NULL && (!json_is_object(env) || json_object_size(env) > JOBTYPE_ENV_MAX)) {
        field = "env", why = "must be an object of at most 64 strings";
    } else if (limits != NULL && !json_is_object(limits)) {
        field = "limits", why = "must be an object";
    } else if (bad_int(json_object_get(limits, "cpu_s"), 1, 7 * 86400) ||
               bad_int(json_object_get(limits, "address_space_mb"), 16, 1 << 20) ||
               bad_int(json_object_get(limits, "open_files"), 8, 1 << 20)) {
        field = "limits", why = "cpu_s 1..604800, address_space_mb 16..1048576, open_files 8..1048576";
    }
    const char *k;
    json_t *v;
    json_object_foreach(limits, k, v)
        if (why == NULL && strcmp(k, "cpu_s") && strcmp(k, "address_space_mb") && strcmp(k, "open_files"))
            field = "limits", why = "knows only cpu_s, address_space_mb and open_files";
    size_t ne = 0;
    json_object_foreach(env, k, v) {
        if (why != NULL)
            break;
        if (!json_is_string(v) || k[0] == '\0' || strchr(k, '=') != NULL ||
            strncmp(k, "OPSTREAM_", 9) == 0 || strlen(k) + json_string_length(v) + 2 > JOBTYPE_ENV_SIZE) {
            field = "env", why = "names must be non-empty, without '=', not OPSTREAM_*; values strings";
            break;
        }
        size_t len = strlen(k) + json_string_length(v) + 2;
        jt->env[ne] = malloc(len);
        if (jt->env[ne] != NULL)
            snprintf(jt->env[ne++], len, "%s=%s", k, json_string_value(v));
    }
    for (size_t i = 0; why == NULL && i < json_array_size(cmd); i++) {
        json_t *a = json_array_get(cmd, i);
        if (!json_is_string(a) || (i == 0 && json_string_length(a) == 0))
            field = "command", why = "every element must be a string, the first non-empty";
        else
            jt->argv[i] = json_string_value(a);
    }
    if (why != NULL) {
        snprintf(err, errsize, "%s: %s: %s", path, field, why);
        jobtype_clear(jt);
        return -1;
    }
    snprintf(jt->name, sizeof jt->name, "%s", json_string_value(name));
    jt->timeout_s = timeout ? (int)json_integer_value(timeout) : 3600;
    jt->max_concurrency = (int)json_integer_value(json_object_get(doc, "max_concurrency"));
    jt->max_per_key = (int)json_integer_value(json_object_get(doc, "max_concurrency_per_key"));
    jt->webhook = json_string_value(json_object_get(doc, "webhook"));
    jt->retries = (int)json_integer_value(json_object_get(doc, "retries"));
    jt->cwd = json_string_value(cwd);
    jt->limits.cpu_s = (long)json_integer_value(json_object_get(limits, "cpu_s"));
    jt->limits.address_space_mb = (long)json_integer_value(json_object_get(limits, "address_space_mb"));
    jt->limits.open_files = (long)json_integer_value(json_object_get(limits, "open_files"));
    return 0;
}

int jobtypes_load(const char *dir, struct jobtypes *out, char *err, size_t errsize)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(err, errsize, "%s: cannot open job type directory", dir);
        return -1;
    }
    out->v = calloc(JOBTYPES_MAX, sizeof *out->v);
    int rc = out->v ? 0 : -1;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || e->d_name[0] == '.' || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        if (out->n == JOBTYPES_MAX) {
            snprintf(err, errsize, "%s: more than %d job types", dir, JOBTYPES_MAX);
            rc = -1;
        } else if ((rc = load_one(dir, e->d_name, &out->v[out->n], err, errsize)) == 0) {
            out->n++;
        }
    }
    closedir(d);
    if (rc != 0) {
        jobtypes_free(out);
        return -1;
    }
    qsort(out->v, out->n, sizeof *out->v, name_cmp);
    return 0;
}

const struct jobtype *jobtypes_find(const struct jobtypes *t, const char *name)
{
    struct jobtype key;
    snprintf(key.name, sizeof key.name, "%s", name);
    return t->n ? bsearch(&key, t->v, t->n, sizeof *t->v, name_cmp) : NULL;
}

json_t *jobtype_public(const struct jobtype *jt)
{
    json_t *desc = json_object_get(jt->doc, "description");
    json_t *title = json_object_get(jt->doc, "title");
    json_t *meta = json_object_get(jt->doc, "metadata");
    json_t *schema = json_object_get(jt->doc, "input_schema");
    /* title (the name when none) and metadata (a scenario's step graph,
     * an icon) are the type file's own, for clients to show. */
    return json_pack("{s:s, s:s, s:s, s:o, s:i, s:o}", "name", jt->name, "title",
                     title ? json_string_value(title) : jt->name, "description",
                     desc ? json_string_value(desc) : "", "input_schema",
                     schema ? json_incref(schema) : json_object(), "timeout_s", jt->timeout_s,
                     "metadata", meta ? json_incref(meta) : json_object());
    /* env, cwd and limits are the operator's business, not the API's. */
}

void jobtypes_free(struct jobtypes *t)
{
    for (size_t i = 0; i < t->n; i++)
        jobtype_clear(&t->v[i]);
    free(t->v);
    memset(t, 0, sizeof *t);
}

void jobtype_key_slot(const char *type, const char *key, char out[KEY_SLOT_SIZE])
{
    /* A type name has no '|' in it: no key makes another type's name. */
    snprintf(out, KEY_SLOT_SIZE, "%s|%s", type, key);
}
