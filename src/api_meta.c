/* GET /v1/types, GET /v1/types/{name}, GET /v1/health, GET /v1/metrics
 * and GET /v1/openapi.json: the job type catalog, the health check, the
 * metrics and the API document. */
#include "api.h"
#include "ledger.h"
#include "metrics.h"
#include "openapi.h"
#include "reply.h"

#include <stdlib.h>
#include <string.h>

int api_init(struct api *api, const struct config *cfg, const struct jobtypes *types)
{
    api->cfg = cfg;
    api->types = types;
    json_t *doc = json_loads(openapi_json, 0, NULL);
    if (doc == NULL)
        return -1;
    json_object_set_new(doc, "servers", json_pack("[{s:s}]", "url", cfg->base_path));
    api->openapi = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return api->openapi ? 0 : -1;
}

int api_openapi(struct call *c)
{
    /* Written directly: the document is already JSON text. */
    struct out *o = &c->req->out;
    if (out_printf(o, "Status: 200 OK\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nCache-Control: public, max-age=300\r\n\r\n",
                   strlen(c->api->openapi)) != 0 ||
        out_puts(o, c->api->openapi) != 0)
        return -1;
    return out_flush(o);
}

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
    const char *ledger = store_ok ? "ok" : "unreachable";
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "status", ok ? "ok" : "unavailable",
                             "ledger", ledger,
                             "ledger_engine", ledger_engine_for(c->api->cfg->database)->name,
                             "sqlite", ledger,
                             "redis", redis_ok ? "ok" : "unreachable");
    return reply_json(c->req, ok ? 200 : 503, body, NULL);
}

/* Who may read the metrics is metrics_access's: the route itself is
 * public, so that a scraper on the host needs no token. */
static int metrics_allowed(struct call *c)
{
    struct request *req = c->req;
    switch (c->api->cfg->metrics_access) {
    case METRICS_OFF:
        reply_problem(req, 404, "metrics_off", "metrics are not served here (metrics_access = off)");
        return 0;
    case METRICS_LOOPBACK:
        if (request_from_loopback(req))
            return 1;
        reply_problem(req, 403, "forbidden", "metrics are served to loopback addresses only "
                      "(metrics_access = loopback)");
        return 0;
    case METRICS_TOKEN:
        break;
    }
    return api_identify(c) == 0;
}

int api_metrics(struct call *c)
{
    if (!metrics_allowed(c))
        return 0;
    struct bus *b = call_bus(c);
    /* This process's own counts first, so that they are current. */
    char *text = b != NULL && metrics_report(b) == 0 ? metrics_render(b, c->st, c->api->types) : NULL;
    if (text == NULL)
        return reply_problem(c->req, 503, "redis_unavailable", "the metrics cannot be read now");
    struct out *o = &c->req->out;
    int r = out_printf(o, "Status: 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                          "Content-Length: %zu\r\nCache-Control: no-store\r\n\r\n",
                       strlen(text)) != 0 ||
                    out_puts(o, text) != 0
                ? -1
                : out_flush(o);
    free(text);
    return r;
}
