#ifndef OPSTREAM_JOBTYPES_H
#define OPSTREAM_JOBTYPES_H

#include <jansson.h>
#include <stddef.h>

#include "run.h"

#define JOBTYPE_ARGV_MAX 64
#define JOBTYPE_ENV_MAX 64
#define JOBTYPE_ENV_SIZE 4096

/* Resource limits of a job's processes; 0 leaves the worker's own. */
struct job_limits {
    long cpu_s;
    long address_space_mb;
    long open_files;
};

/* One job type file. doc owns every string pointed to. */
struct jobtype {
    char name[TYPE_SIZE];
    const char *argv[JOBTYPE_ARGV_MAX + 1];  /* NULL-terminated */
    char *env[JOBTYPE_ENV_MAX + 1];          /* "K=V", owned, NULL-terminated */
    const char *cwd;                         /* NULL: the worker's */
    int timeout_s;
    int max_concurrency;                     /* 0: no limit */
    int max_per_key;                         /* per concurrency_key; 0: no limit */
    const char *webhook;                     /* its runs' webhook by default; NULL: none */
    int retries;
    struct job_limits limits;
    json_t *doc;
};

struct jobtypes {
    struct jobtype *v;
    size_t n;
};

/* Loads every NAME.json in dir. An error names the file and the field. */
int jobtypes_load(const char *dir, struct jobtypes *out, char *err, size_t errsize);
const struct jobtype *jobtypes_find(const struct jobtypes *t, const char *name);
/* The public description of a type: name, description, input_schema. */
json_t *jobtype_public(const struct jobtype *jt);
void jobtypes_free(struct jobtypes *t);

/* The name of the concurrency slots a run of type with key takes. */
#define KEY_SLOT_SIZE (TYPE_SIZE + CONCURRENCY_KEY_SIZE + 1)
void jobtype_key_slot(const char *type, const char *key, char out[KEY_SLOT_SIZE]);

#endif
