/* A small, strict JSON Schema subset validator. The keywords are a table;
 * each value is checked against the schema depth-first and the first
 * failure is reported with its JSON Pointer path. Recursion is bounded by
 * SCHEMA_DEPTH_MAX, so no input can exhaust the stack. */
#include "schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define PATH_SIZE 256

static const char *const types[] = {
    "object", "array", "string", "integer", "number", "boolean", "null",
};

enum kw_kind { KW_TYPE, KW_SCHEMA_MAP, KW_NAMES, KW_ARRAY, KW_NUMBER, KW_COUNT,
               KW_SCHEMA, KW_BOOL_OR_SCHEMA, KW_TEXT, KW_ANY, KW_SCHEMA_LIST, KW_DISCRIMINATOR };

static const struct {
    const char *name;
    enum kw_kind kind;
} keywords[] = {
    {"type", KW_TYPE},
    {"properties", KW_SCHEMA_MAP},
    {"required", KW_NAMES},
    {"enum", KW_ARRAY},
    {"minimum", KW_NUMBER},
    {"maximum", KW_NUMBER},
    {"minLength", KW_COUNT},
    {"maxLength", KW_COUNT},
    {"items", KW_SCHEMA},
    {"additionalProperties", KW_BOOL_OR_SCHEMA},
    {"description", KW_TEXT},
    {"title", KW_TEXT},
    {"default", KW_ANY},
    /* One of several shapes, told apart by one property's value: each
     * branch names its values of that property in an enum (see
     * check_one_of). */
    {"oneOf", KW_SCHEMA_LIST},
    {"discriminator", KW_DISCRIMINATOR},
};

static int fail(char *err, size_t size, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t size, const char *path, const char *fmt, ...)
{
    char why[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(err, size, "%s: %s", path[0] ? path : "/", why);
    return -1;
}

/* Appends "/token" to a JSON Pointer, escaping '~' and '/' (RFC 6901). */
static void path_join(char out[PATH_SIZE], const char *base, const char *token)
{
    size_t n = (size_t)snprintf(out, PATH_SIZE, "%s/", base);
    for (const char *t = token; *t != '\0' && n + 3 < PATH_SIZE; t++) {
        if (*t == '~' || *t == '/') {
            out[n++] = '~';
            out[n++] = *t == '~' ? '0' : '1';
        } else {
            out[n++] = *t;
        }
    }
    out[n < PATH_SIZE ? n : PATH_SIZE - 1] = '\0';
}

static void path_index(char out[PATH_SIZE], const char *base, size_t i)
{
    char n[24];
    snprintf(n, sizeof n, "%zu", i);
    path_join(out, base, n);
}

static int known_type(const char *t)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(t, types[i]) == 0)
            return 1;
    return 0;
}

static int check(const json_t *s, const char *path, int depth, char *err, size_t size);

static int check_keyword(const char *k, enum kw_kind kind, const json_t *v,
                         const char *path, int depth, char *err, size_t size)
{
    char sub[PATH_SIZE], sub2[PATH_SIZE];
    path_join(sub, path, k);
    const char *key;
    json_t *item;
    size_t i;
    switch (kind) {
    case KW_TYPE:
        if (json_is_string(v))
            return known_type(json_string_value(v)) ? 0 : fail(err, size, sub, "unknown type %s", json_string_value(v));
        if (!json_is_array(v) || json_array_size(v) == 0)
            return fail(err, size, sub, "must be a type name or a non-empty array of them");
        json_array_foreach(v, i, item)
            if (!json_is_string(item) || !known_type(json_string_value(item)))
                return fail(err, size, sub, "unknown type in the list");
        return 0;
    case KW_SCHEMA_MAP:
        if (!json_is_object(v))
            return fail(err, size, sub, "must be an object of schemas");
        json_object_foreach((json_t *)v, key, item) {
            path_join(sub2, sub, key);
            if (check(item, sub2, depth + 1, err, size) != 0)
                return -1;
        }
        return 0;
    case KW_NAMES:
        if (!json_is_array(v))
            return fail(err, size, sub, "must be an array of property names");
        json_array_foreach(v, i, item)
            if (!json_is_string(item))
                return fail(err, size, sub, "must be an array of property names");
        return 0;
    case KW_ARRAY:
        return json_is_array(v) && json_array_size(v) > 0 ? 0 : fail(err, size, sub, "must be a non-empty array");
    case KW_NUMBER:
        return json_is_number(v) ? 0 : fail(err, size, sub, "must be a number");
    case KW_COUNT:
        return json_is_integer(v) && json_integer_value(v) >= 0 ? 0 : fail(err, size, sub, "must be a whole number >= 0");
    case KW_SCHEMA:
        return check(v, sub, depth + 1, err, size);
    case KW_BOOL_OR_SCHEMA:
        return json_is_boolean(v) ? 0 : check(v, sub, depth + 1, err, size);
    case KW_TEXT:
        return json_is_string(v) ? 0 : fail(err, size, sub, "must be a string");
    case KW_ANY:
        return 0;
    case KW_SCHEMA_LIST:
        if (!json_is_array(v) || json_array_size(v) == 0)
            return fail(err, size, sub, "must be a non-empty array of schemas");
        json_array_foreach(v, i, item) {
            path_index(sub2, sub, i);
            if (check(item, sub2, depth + 1, err, size) != 0)
                return -1;
        }
        return 0;
    case KW_DISCRIMINATOR:
        if (!json_is_object(v) || json_object_size(v) != 1 ||
            !json_is_string(json_object_get(v, "propertyName")))
            return fail(err, size, sub, "must be {\"propertyName\": NAME}");
        return 0;
    }
    return -1;
}

/* The discriminator's value in a branch: the strings of the enum of its
 * property, or NULL when the branch has none. */
static const json_t *branch_values(const json_t *branch, const char *prop)
{
    const json_t *e = json_object_get(json_object_get(json_object_get(branch, "properties"), prop), "enum");
    return json_is_array(e) ? e : NULL;
}

/* oneOf goes with a discriminator: every branch says which values of the
 * property are its own (strings, in an enum), and no value is two
 * branches'. So a value picks one branch, and an error can name it. */
static int check_one_of(const json_t *s, const char *path, char *err, size_t size)
{
    json_t *branches = json_object_get(s, "oneOf");
    json_t *disc = json_object_get(s, "discriminator");
    char sub[PATH_SIZE];
    if (branches == NULL && disc == NULL)
        return 0;
    if (branches == NULL || disc == NULL) {
        path_join(sub, path, branches ? "oneOf" : "discriminator");
        return fail(err, size, sub, "oneOf and discriminator go together");
    }
    const char *prop = json_string_value(json_object_get(disc, "propertyName"));
    size_t i, k;
    json_t *b, *val;
    json_array_foreach(branches, i, b) {
        const json_t *vals = branch_values(b, prop);
        char at[PATH_SIZE];
        path_join(sub, path, "oneOf");
        path_index(at, sub, i);
        if (vals == NULL)
            return fail(err, size, at, "must give %.64s an enum of its values", prop);
        json_array_foreach(vals, k, val) {
            if (!json_is_string(val))
                return fail(err, size, at, "%.64s's values must be strings", prop);
            for (size_t j = 0; j < i; j++) {
                const json_t *other = branch_values(json_array_get(branches, j), prop);
                size_t m;
                json_t *o;
                json_array_foreach(other, m, o)
                    if (json_equal(o, val))
                        return fail(err, size, at, "%.64s value %.64s is another branch's too", prop,
                                    json_string_value(val));
            }
        }
    }
    return 0;
}

static int check(const json_t *s, const char *path, int depth, char *err, size_t size)
{
    if (depth > SCHEMA_DEPTH_MAX)
        return fail(err, size, path, "nested too deeply");
    if (!json_is_object(s))
        return fail(err, size, path, "a schema must be an object");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        size_t i = 0, n = sizeof keywords / sizeof keywords[0];
        while (i < n && strcmp(k, keywords[i].name) != 0)
            i++;
        if (i == n) {
            char sub[PATH_SIZE];
            path_join(sub, path, k);
            return fail(err, size, sub, "keyword %s is not supported", k);
        }
        if (check_keyword(k, keywords[i].kind, v, path, depth, err, size) != 0)
            return -1;
    }
    return check_one_of(s, path, err, size);
}

int schema_check(const json_t *schema, char *err, size_t errsize)
{
    return check(schema, "", 0, err, errsize);
}

/* ---- validation ---- */

static int type_matches(const char *t, const json_t *v)
{
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer"))
        return json_is_integer(v) ||
               (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
    return 0;
}

static int check_type(const json_t *t, const json_t *v)
{
    if (json_is_string(t))
        return type_matches(json_string_value(t), v);
    size_t i;
    json_t *item;
    json_array_foreach(t, i, item)
        if (type_matches(json_string_value(item), v))
            return 1;
    return 0;
}

/* Length in characters (code points) of a UTF-8 string, as JSON Schema
 * counts it. */
static size_t utf8_length(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

static int validate(const json_t *s, const json_t *v, const char *path, int depth,
                    char *err, size_t size);

static int validate_object(const json_t *s, const json_t *v, const char *path,
                           int depth, char *err, size_t size)
{
    json_t *props = json_object_get(s, "properties");
    json_t *req = json_object_get(s, "required");
    json_t *extra = json_object_get(s, "additionalProperties");
    char sub[PATH_SIZE];
    size_t i;
    json_t *item;
    json_array_foreach(req, i, item) {
        if (json_object_get(v, json_string_value(item)) == NULL) {
            path_join(sub, path, json_string_value(item));
            return fail(err, size, sub, "is required");
        }
    }
    const char *k;
    json_object_foreach((json_t *)v, k, item) {
        json_t *ps = json_object_get(props, k);
        path_join(sub, path, k);
        if (ps != NULL) {
            if (validate(ps, item, sub, depth + 1, err, size) != 0)
                return -1;
        } else if (json_is_false(extra)) {
            return fail(err, size, sub, "is not allowed");
        } else if (json_is_object(extra)) {
            if (validate(extra, item, sub, depth + 1, err, size) != 0)
                return -1;
        }
    }
    return 0;
}

/* The branch the discriminator's value picks validates the value. */
static int validate_one_of(const json_t *s, const json_t *branches, const json_t *v,
                           const char *path, int depth, char *err, size_t size)
{
    const char *prop = json_string_value(json_object_get(json_object_get(s, "discriminator"), "propertyName"));
    char sub[PATH_SIZE], known[160] = "";
    if (!json_is_object(v))
        return fail(err, size, path, "must be of type \"object\"");
    path_join(sub, path, prop);
    json_t *d = json_object_get(v, prop);
    if (d == NULL)
        return fail(err, size, sub, "is required");
    size_t i, k, n = 0;
    json_t *b, *val;
    json_array_foreach(branches, i, b) {
        json_array_foreach(branch_values(b, prop), k, val) {
            if (json_equal(val, d))
                return validate(b, v, path, depth + 1, err, size);
            if (n < sizeof known)
                n += (size_t)snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "",
                                      json_string_value(val));
        }
    }
    return fail(err, size, sub, "must be one of %s", n < sizeof known ? known : "the branches' values");
}

static int validate(const json_t *s, const json_t *v, const char *path, int depth,
                    char *err, size_t size)
{
    if (depth > SCHEMA_DEPTH_MAX)
        return fail(err, size, path, "nested too deeply");
    json_t *t = json_object_get(s, "type");
    if (t != NULL && !check_type(t, v)) {
        char *want = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);
        int r = fail(err, size, path, "must be of type %s", want ? want : "?");
        free(want);
        return r;
    }
    json_t *e = json_object_get(s, "enum");
    if (e != NULL) {
        size_t i;
        json_t *item;
        int found = 0;
        json_array_foreach(e, i, item)
            found |= json_equal(item, (json_t *)v);
        if (!found)
            return fail(err, size, path, "must be one of the enum values");
    }
    if (json_is_number(v)) {
        double x = json_number_value(v);
        json_t *min = json_object_get(s, "minimum"), *max = json_object_get(s, "maximum");
        char bound[48];
        if (min != NULL && x < json_number_value(min)) {
            snprintf(bound, sizeof bound, "%.17g", json_number_value(min));
            return fail(err, size, path, "must be >= %s", bound);
        }
        if (max != NULL && x > json_number_value(max)) {
            snprintf(bound, sizeof bound, "%.17g", json_number_value(max));
            return fail(err, size, path, "must be <= %s", bound);
        }
    }
    if (json_is_string(v)) {
        size_t n = utf8_length(json_string_value(v), json_string_length(v));
        json_t *min = json_object_get(s, "minLength"), *max = json_object_get(s, "maxLength");
        char bound[24];
        if (min != NULL && n < (size_t)json_integer_value(min)) {
            snprintf(bound, sizeof bound, "%lld", (long long)json_integer_value(min));
            return fail(err, size, path, "must be at least %s characters long", bound);
        }
        if (max != NULL && n > (size_t)json_integer_value(max)) {
            snprintf(bound, sizeof bound, "%lld", (long long)json_integer_value(max));
            return fail(err, size, path, "must be at most %s characters long", bound);
        }
    }
    if (json_is_array(v)) {
        json_t *items = json_object_get(s, "items");
        size_t i;
        json_t *item;
        char sub[PATH_SIZE];
        json_array_foreach(v, i, item) {
            path_index(sub, path, i);
            if (items != NULL && validate(items, item, sub, depth + 1, err, size) != 0)
                return -1;
        }
    }
    if (json_is_object(v) && validate_object(s, v, path, depth, err, size) != 0)
        return -1;
    json_t *branches = json_object_get(s, "oneOf");
    return branches != NULL ? validate_one_of(s, branches, v, path, depth, err, size) : 0;
}

int schema_validate(const json_t *schema, const json_t *value, const char *path,
                    char *err, size_t errsize)
{
    return validate(schema, value, path, 0, err, errsize);
}
