/* The job type catalog and the health check. */
#include "api.h"
#include "reply.h"

int api_types(struct call *c)
{
    json_t *data = json_array();
    for (size_t i = 0; i < c->api->types->n; i++)
        json_array_append_new(data, jobtype_public(&c->api->types->v[i]));
    return reply_json(c->req, 200, json_pack("{s:o}", "data", data), NULL);
}

int api_type(struct call *c)
{
    const struct jobtype *jt = jobtypes_find(c->api->types, c->req->args[0]);
    if (jt == NULL)
        return reply_problem(c->req, 404, "type_not_found", "no job type with this name");
    return reply_json(c->req, 200, jobtype_public(jt), NULL);
}

int api_health(struct call *c)
{
    int store_ok = c->st != NULL && store_ping(c->st) == 0;
    struct bus *b = call_bus(c);
    int redis_ok = b != NULL && bus_ping(b) == 0;
    int ok = store_ok && redis_ok;
    json_t *body = json_pack("{s:s, s:s, s:s}", "status", ok ? "ok" : "unavailable",
                             "sqlite", store_ok ? "ok" : "unreachable",
                             "redis", redis_ok ? "ok" : "unreachable");
    return reply_json(c->req, ok ? 200 : 503, body, NULL);
}
