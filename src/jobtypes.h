#ifndef OPSTREAM_JOBTYPES_H
#define OPSTREAM_JOBTYPES_H

#include <jansson.h>
#include <stddef.h>

#include "store.h"

#define JOBTYPE_ARGV_MAX 64

/* One job type file. doc owns every string pointed to. */
struct jobtype {
    char name[TYPE_SIZE];
    const char *argv[JOBTYPE_ARGV_MAX + 1];  /* NULL-terminated */
    int timeout_s;
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

#endif
