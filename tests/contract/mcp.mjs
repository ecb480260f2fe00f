// The MCP endpoint driven by the official TypeScript SDK's Client and
// StreamableHTTPClientTransport, unchanged: the only wrapper is a fetch
// that cuts connections. Usage:
//   node mcp.mjs main BASE TOKEN_A TOKEN_B   the calls, cuts, tasks, questions, owners, bad input
//   node mcp.mjs task-start BASE TOKEN       prints the id of a long task it started
//   node mcp.mjs task-finish BASE TOKEN ID   a new session finds the task and its result
// Prints TAP-like "ok"/"not ok" lines; exits 1 on any failure.
import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  CallToolResultSchema, CreateTaskResultSchema, ElicitRequestSchema, McpError,
} from '@modelcontextprotocol/sdk/types.js';
import { check, cuttingFetch, eq, runChecks } from './harness.mjs';

const [mode, base, tokenA, tokenB, taskArg] = process.argv.slice(2);
const endpoint = new URL(`${base}/api/mcp`);
async function connect(token, { fetch: fetchFn, elicit } = {}) {
  const client = new Client({ name: 'opstream-test', version: '1.0.0' },
    { capabilities: elicit ? { elicitation: {} } : {} });
  if (elicit) client.setRequestHandler(ElicitRequestSchema, elicit);
  const transport = new StreamableHTTPClientTransport(endpoint, {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
    fetch: fetchFn,
    reconnectionOptions: { initialReconnectionDelay: 100, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1.5, maxRetries: 5 },
  });
  client.onerror = () => {}; // a cut connection is reported here; the transport resumes it
  await client.connect(transport);
  return { client, transport };
}

async function rpcError(p) {
  try {
    await p;
    return null;
  } catch (e) {
    return e instanceof McpError ? { code: e.code, message: e.message } : { message: String(e) };
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function untilStatus(client, id, want, seen) {
  for (let i = 0; i < 600; i++) {
    const t = await client.experimental.tasks.getTask(id);
    if (seen && seen[seen.length - 1] !== t.status) seen.push(t.status);
    if (t.status === want) return t;
    if (['completed', 'failed', 'cancelled'].includes(t.status)) return t;
    await sleep(100);
  }
  return null;
}

// A raw POST of body to the endpoint: [status, parsed body or text].
async function post(token, body, headers = {}) {
  const res = await fetch(endpoint, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json',
               Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2025-11-25', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = text;
  try { parsed = JSON.parse(text); } catch { /* kept as text */ }
  return [res.status, parsed];
}

// A raw POST with headers fetch will not send as given (Host): its status.
function rawPost(token, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(endpoint, { method: 'POST', headers: { Authorization: `Bearer ${token}`,
      'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function main() {
  const { client } = await connect(tokenA);

  // Tools are the job types, each with its schema.
  const { tools } = await client.listTools();
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  const types = await (await fetch(`${base}/api/v1/types`, { headers: { Authorization: `Bearer ${tokenA}` } })).json();
  eq('listTools names every job type', types.data.map((t) => t.name).sort(), tools.map((t) => t.name).sort());
  eq("a tool's inputSchema is its type's schema as is", types.data.find((t) => t.name === 'countdown').input_schema,
     byName.countdown?.inputSchema);
  eq('a tool may be called as a task', 'optional', byName.countdown?.execution?.taskSupport);

  // A 200-step countdown: 200 progress notifications, then the result.
  const progress = [];
  const result = await client.callTool({ name: 'countdown', arguments: { n: 200, interval_ms: 2 } }, CallToolResultSchema,
    { onprogress: (p) => progress.push(p.progress), timeout: 120000 });
  eq('callTool of a 200-step countdown: 200 progress notifications, in order',
     Array.from({ length: 200 }, (_, i) => i + 1), progress);
  eq('then its result, as structuredContent', { counted: 200 }, result.structuredContent);
  eq('and as text', '{"counted":200}', result.content?.[0]?.text);
  check('a successful run is no error', result.isError === false);

  // Bad arguments: a tool error the model can read.
  const bad = await client.callTool({ name: 'countdown', arguments: { n: 'many' } });
  check('arguments the schema refuses: isError with the reason', bad.isError === true && /\/arguments\/n/.test(bad.content[0].text),
        JSON.stringify(bad));
  // A failing job: isError.
  const failed = await client.callTool({ name: 'broken', arguments: {} });
  check('a failed run is isError', failed.isError === true, JSON.stringify(failed));

  // Three cuts during a 600-event call: resumed by Last-Event-ID.
  {
    const cutter = cuttingFetch([97, 251, 430], (frame) => frame.includes('notifications/progress'));
    const { client: c } = await connect(tokenA, { fetch: cutter });
    const got = [];
    const r = await c.callTool({ name: 'countdown', arguments: { n: 600, interval_ms: 3 } }, CallToolResultSchema,
      { onprogress: (p) => got.push(p.progress), timeout: 120000 });
    eq('the connection was cut three times', 3, cutter.cuts());
    const resumed = cutter.requests.filter((q) => q.method === 'GET' && q.lastEventId);
    check('the client came back three times with Last-Event-ID', resumed.length === 3 && resumed.every((q) => q.status === 200),
          JSON.stringify(cutter.requests));
    eq('every progress notification arrived once and in order', Array.from({ length: 600 }, (_, i) => i + 1), got);
    eq('and the result once', { counted: 600 }, r.structuredContent);
    await c.close();
  }

  // A task: returned at once, polled to its end, its result fetched.
  {
    const created = await client.request({ method: 'tools/call', params: { name: 'countdown', arguments: { n: 15, interval_ms: 100 } } },
      CreateTaskResultSchema, { task: { ttl: 60000 } });
    const id = created.task.taskId;
    eq('a task-augmented call returns the task at once, working', 'working', created.task.status);
    const seen = [created.task.status];
    const end = await untilStatus(client, id, 'completed', seen);
    eq('tasks/get polling sees working, then completed', ['working', 'completed'], seen);
    check('the task has its times', !!end?.createdAt && !!end?.lastUpdatedAt, JSON.stringify(end));
    const r = await client.experimental.tasks.getTaskResult(id, CallToolResultSchema);
    eq('tasks/result returns the call result', { counted: 15 }, r.structuredContent);
    const listed = await client.experimental.tasks.listTasks();
    check('tasks/list has it', listed.tasks.some((t) => t.taskId === id));
  }

  // tasks/result blocks until the end, as a stream.
  {
    const created = await client.request({ method: 'tools/call', params: { name: 'countdown', arguments: { n: 10, interval_ms: 100 } } },
      CreateTaskResultSchema, { task: {} });
    const r = await client.experimental.tasks.getTaskResult(created.task.taskId, CallToolResultSchema);
    eq('tasks/result on a working task waits for its result', { counted: 10 }, r.structuredContent);
  }

  // tasks/cancel on a running task: the job is told why, the task ends cancelled.
  let victim;
  {
    const created = await client.request({ method: 'tools/call', params: { name: 'lab', arguments: {} } },
      CreateTaskResultSchema, { task: {} });
    victim = created.task.taskId;
    await waitProgress(victim, tokenA);
    const cancelled = await client.experimental.tasks.cancelTask(victim);
    eq('tasks/cancel answers the task cancelled', 'cancelled', cancelled.status);
    const t = await client.experimental.tasks.getTask(victim);
    eq('tasks/get says cancelled', 'cancelled', t.status);
    const run = await (await fetch(`${base}/api/v1/runs/${victim}`, { headers: { Authorization: `Bearer ${tokenA}` } })).json();
    eq('the run ended cancelled, the job told the reason on stdin',
       ['cancelled', { cancel: { reason: 'cancelled by the MCP client (tasks/cancel)' } }], [run.status, run.result?.told]);
    const again = await rpcError(client.experimental.tasks.cancelTask(victim));
    eq('cancelling it again: invalid params', -32602, again?.code);
  }

  // The ask job's question: an elicitation/create; the answer is the result.
  {
    let asked = null;
    const { client: c } = await connect(tokenA, {
      elicit: async (req) => { asked = req.params; return { action: 'accept', content: { answer: 'forty-two' } }; },
    });
    const r = await c.callTool({ name: 'ask', arguments: { prompt: 'What is the answer?' } }, CallToolResultSchema, { timeout: 60000 });
    eq('the question came as elicitation/create with the prompt', 'What is the answer?', asked?.message);
    eq('and the job schema as requestedSchema',
       { type: 'object', properties: { answer: { type: 'string', minLength: 1 } }, required: ['answer'] }, asked?.requestedSchema);
    eq("the client's answer is the run's result", { answer: 'forty-two' }, r.structuredContent);
    // A declined question cancels the run.
    const { client: d } = await connect(tokenA, { elicit: async () => ({ action: 'decline' }) });
    const no = await d.callTool({ name: 'ask', arguments: {} }, CallToolResultSchema, { timeout: 60000 });
    check('a declined question ends the call as an error (the run cancelled)', no.isError === true, JSON.stringify(no));
    await c.close();
    await d.close();
  }

  // A question outside what an elicitation can ask: refused when the job
  // asks it, with a log event that says why; the run goes on waiting.
  {
    const created = await client.request({ method: 'tools/call', params: { name: 'nested_asker', arguments: {} } },
      CreateTaskResultSchema, { task: {} });
    const id = created.task.taskId;
    let rejected = null;
    for (let i = 0; i < 400 && !rejected; i++) {
      const page = await (await fetch(`${base}/api/v1/runs/${id}/events`, { headers: { Authorization: `Bearer ${tokenA}`, Accept: 'application/json' } })).json();
      rejected = page.data.find((e) => e.event === 'log' && e.data.rejected)?.data.rejected ?? null;
      if (!rejected) await sleep(50);
    }
    check('a question no elicitation can ask is refused with a log event that says why', /elicitation/.test(rejected ?? ''), rejected);
    eq('and the task goes on working', 'working', (await client.experimental.tasks.getTask(id)).status);
    await client.experimental.tasks.cancelTask(id);
  }

  // Two owners: B cannot see, list, cancel or answer A's tasks.
  {
    const { client: b } = await connect(tokenB);
    const held = await client.request({ method: 'tools/call', params: { name: 'asker', arguments: {} } },
      CreateTaskResultSchema, { task: {} });
    const aTask = held.task.taskId;
    await untilStatus(client, aTask, 'input_required');
    const missing = await rpcError(b.experimental.tasks.getTask('AAAAAAAAAAAAAAAAAAAAAA'));
    const other = await rpcError(b.experimental.tasks.getTask(aTask));
    check("tasks/get of another owner's task fails", other !== null);
    eq('with the error of a missing id', missing, other);
    eq("tasks/result of it: the same", missing, await rpcError(b.experimental.tasks.getTaskResult(aTask, CallToolResultSchema)));
    eq("tasks/cancel of it: the same", missing, await rpcError(b.experimental.tasks.cancelTask(aTask)));
    const listB = await b.experimental.tasks.listTasks();
    check("tasks/list has none of the other's", !listB.tasks.some((t) => t.taskId === aTask) && !listB.tasks.some((t) => t.taskId === victim));
    // B answers A's question: refused, and A's run still waits.
    const bSession = b.transport?.sessionId ?? b._transport?.sessionId;
    const [st] = await post(tokenB, { jsonrpc: '2.0', id: `input.${aTask}.0-1`, result: { action: 'accept', content: { answer: 'mine' } } },
      { 'Mcp-Session-Id': bSession });
    eq("an answer to another owner's question: 400", 400, st);
    eq('its run still waits for input', 'input_required', (await client.experimental.tasks.getTask(aTask)).status);
    // B resumes A's stream by its event id: nothing to resume.
    const res = await fetch(endpoint, { headers: { Authorization: `Bearer ${tokenB}`, Accept: 'text/event-stream',
      'Mcp-Session-Id': bSession, 'Last-Event-ID': `${aTask}.0-0` } });
    eq("a GET resuming another owner's stream: 404", 404, res.status);
    await res.body?.cancel();
    // A's session is not B's.
    const aSession = client.transport?.sessionId ?? client._transport?.sessionId;
    const [st2] = await post(tokenB, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'Mcp-Session-Id': aSession });
    eq("another owner's session id: 404", 404, st2);
    await client.experimental.tasks.cancelTask(aTask);
    await b.close();
  }

  // Malformed JSON-RPC: the transport's errors, never a 5xx.
  {
    const session = client.transport?.sessionId ?? client._transport?.sessionId;
    const h = { 'Mcp-Session-Id': session };
    const cases = [
      ['a body that is not JSON', '{"jsonrpc":', 400, -32700],
      ['a bad version', { jsonrpc: '1.0', id: 1, method: 'ping' }, 400, -32600],
      ['no method', { jsonrpc: '2.0', id: 1 }, 400, -32600],
      ['a method that is no string', { jsonrpc: '2.0', id: 1, method: 5 }, 400, -32600],
      ['an id that is an object', { jsonrpc: '2.0', id: {}, method: 'ping' }, 400, -32600],
      ['params that are an array', { jsonrpc: '2.0', id: 1, method: 'ping', params: [] }, 400, -32600],
      ['a batch with a bad member', [{ jsonrpc: '2.0', id: 1, method: 'ping' }, 5], 400, -32600],
      ['a 10,000-member batch', Array.from({ length: 10000 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' })), [400, 413], null],
      ['an unknown method', { jsonrpc: '2.0', id: 7, method: 'no/such' }, 200, -32601],
      ['an unknown tool', { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'nope' } }, 200, -32602],
      ['a tools/call without arguments object', { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'countdown', arguments: 3 } }, 200, -32602],
    ];
    for (const [what, body, status, code] of cases) {
      const [st, got] = await post(tokenA, body, h);
      const statuses = Array.isArray(status) ? status : [status];
      check(`${what}: ${statuses.join(' or ')}${code ? ` with ${code}` : ''}`,
            statuses.includes(st) && (code === null || got?.error?.code === code) && st < 500, `${st} ${JSON.stringify(got).slice(0, 200)}`);
    }
    const [st1] = await post(tokenA, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'Mcp-Session-Id': 'AAAAAAAAAAAAAAAAAAAAAA' });
    eq('an unknown session id: 404', 404, st1);
    const [st2] = await post(tokenA, { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'Mcp-Session-Id': '../../etc' });
    eq('a session id that is no id: 404', 404, st2);
    const [st3] = await post(tokenA, { jsonrpc: '2.0', id: 1, method: 'ping' });
    eq('no session id: 400', 400, st3);
    const [st4] = await post(tokenA, { jsonrpc: '2.0', id: 1, method: 'ping' }, { ...h, Origin: 'http://evil.example' });
    eq('a foreign Origin: 403', 403, st4);
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } };
    eq('a rebound name (Host and Origin another host, on loopback): 403', 403,
       await rawPost(tokenA, { Host: 'evil.example.com', Origin: 'http://evil.example.com' }, init));
    eq('a loopback name: accepted', 200, await rawPost(tokenA, { Host: `localhost:${endpoint.port}`, Origin: `http://localhost:${endpoint.port}` }, init));
    const [st5] = await post('', { jsonrpc: '2.0', id: 1, method: 'ping' }, h);
    eq('no token: 401', 401, st5);
    const [st6] = await post(tokenA, { jsonrpc: '2.0', id: 1, method: 'ping' }, { ...h, 'MCP-Protocol-Version': '1999-01-01' });
    eq('an unknown protocol version: 400', 400, st6);
    const get = await fetch(endpoint, { headers: { Authorization: `Bearer ${tokenA}`, Accept: 'text/event-stream', ...h } });
    eq('GET without Last-Event-ID: 405 (no stream of the session)', 405, get.status);
    await get.body?.cancel();
    eq('ping still answers', {}, await client.ping());
  }
  await client.close();
}

// Until the run has shown progress (the job is running).
async function waitProgress(id, token) {
  for (let i = 0; i < 400; i++) {
    const run = await (await fetch(`${base}/api/v1/runs/${id}`, { headers: { Authorization: `Bearer ${token}` } })).json();
    if ((run.progress?.current ?? 0) >= 1) return;
    await sleep(50);
  }
  throw new Error(`run ${id} never showed progress`);
}

async function taskStart() {
  const { client } = await connect(tokenA);
  // A type tried again when its worker dies (retries), as a task meant
  // to outlive a restart is: without retries its run ends worker_lost.
  const created = await client.request({ method: 'tools/call', params: { name: 'durable_countdown', arguments: { n: 40, interval_ms: 100 } } },
    CreateTaskResultSchema, { task: { ttl: 600000 } });
  await waitProgress(created.task.taskId, tokenA);
  console.log(created.task.taskId);
  await client.close();
}

async function taskFinish(id) {
  const { client } = await connect(tokenA);
  const t = await client.experimental.tasks.getTask(id);
  eq('after the restart, a new session gets the task by id', id, t.taskId);
  const r = await client.experimental.tasks.getTaskResult(id, CallToolResultSchema);
  eq('and its result', { counted: 40 }, r.structuredContent);
  eq('tasks/get then says completed', 'completed', (await client.experimental.tasks.getTask(id)).status);
  await client.close();
}

const run = { main, 'task-start': taskStart, 'task-finish': () => taskFinish(taskArg ?? tokenB) }[mode];
await runChecks(run, 240000);
