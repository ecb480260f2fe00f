#ifndef OPSTREAM_MCP_H
#define OPSTREAM_MCP_H

#include <jansson.h>
#include <stdint.h>

#include "event.h"
#include "run.h"

/* The Model Context Protocol's view of runs (its 2025-11-25 revision):
 * a run's events as the JSON-RPC messages of the stream that answers a
 * tools/call or a tasks/result, a run as a task, a job's input schema as
 * an elicitation's. No I/O here: the endpoint (api_mcp.c) and both
 * stream loops (api_events.c, hub.c) use it. */

#define MCP_VERSION_LATEST "2025-11-25"
/* The metadata key of a run an MCP client started (its session's id):
 * its job's questions must fit an elicitation. */
#define MCP_RUN_METADATA "mcp_session"
/* A request id or progress token, as JSON text (a string or a number). */
#define MCP_TOKEN_SIZE 160
/* A stream's event id: "RUN.EVENT", so that a GET with Last-Event-ID
 * knows which run's stream to go on with. */
#define MCP_EVENT_ID_SIZE (ID_SIZE + 1 + EVENT_ID_SIZE)

enum mcp_level { MCP_LOG_OFF = -1, MCP_LOG_DEBUG, MCP_LOG_INFO, MCP_LOG_NOTICE, MCP_LOG_WARNING,
                 MCP_LOG_ERROR, MCP_LOG_CRITICAL, MCP_LOG_ALERT, MCP_LOG_EMERGENCY };

/* What a stream of a run answers, and what its client asked to hear. */
struct mcp_view {
    char rpc_id[MCP_TOKEN_SIZE];          /* the request the run's end answers */
    char progress_token[MCP_TOKEN_SIZE];  /* "" when the client asked for no progress */
    int log_level;                        /* the least level sent, or MCP_LOG_OFF */
    int elicit;                           /* the client takes elicitation/create */
    int task;                             /* the stream answers tasks/result */
    int64_t created_ms;                   /* the run's, for task status notifications */
    int ttl_ms;
};

/* The protocol revisions spoken; 1 when version is one. */
int mcp_version_known(const char *version);

/* What a POSTed JSON-RPC message is. The revisions since 2025-06-18
 * take no batches. */
enum mcp_kind { MCP_INVALID, MCP_BATCH, MCP_REQUEST, MCP_NOTIFICATION, MCP_RESPONSE };
enum mcp_kind mcp_message_kind(const json_t *msg);

/* "RUN.EVENT" into out: 0, or -1 when it does not fit. */
int mcp_event_id(const char *run_id, const char *event_id, char *out, size_t size);
/* Splits a Last-Event-ID: 0, or -1 when it is not one of ours. */
int mcp_event_id_parse(const char *s, char run_id[ID_SIZE], char event_id[EVENT_ID_SIZE]);

/* The JSON-RPC message a run's event is on a stream of view v (JSON text,
 * the caller frees it), or NULL when the event is not one for it. data is
 * the event's JSON text. */
char *mcp_event_message(const struct mcp_view *v, const char *run_id, const char *event_id,
                        const char *name, const char *data);

/* The CallToolResult of an ended run, from run_finished's data
 * {status, result?, error?}: its result as structuredContent (when an
 * object) and as text; an unsuccessful end is isError. task: its _meta
 * names the task. A new reference. */
json_t *mcp_tool_result(const char *run_id, int task, const json_t *finished);

/* A run's status as a task's. */
const char *mcp_task_status(enum run_status s);
/* A run as a task: {taskId, status, statusMessage?, createdAt,
 * lastUpdatedAt, ttl, pollInterval}. */
json_t *mcp_task(const struct run *r, int ttl_ms, int poll_ms);

/* A job's input schema as an elicitation's requestedSchema: a flat
 * object of strings, numbers, integers, booleans and string enums. NULL
 * when the schema is outside that subset. */
json_t *mcp_elicit_schema(const json_t *schema);
/* The elicitation id of a run's input request: "input.RUN". */
int mcp_elicit_id_parse(const char *s, char run_id[ID_SIZE]);

/* A logging/setLevel name's level, or -2 when it is none. */
int mcp_level_parse(const char *name);

#endif
