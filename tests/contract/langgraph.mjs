// LangGraph's SDK (@langchain/langgraph-sdk's Client), unchanged, against
// {base_path}/langgraph: assistants, threads, runs on threads and
// stateless, the stream events its useStream reads, and a joinStream that
// resumes by itself through three connections cut in the middle of an
// event. The only wrapper is a fetch that cuts connections.
//   usage: node langgraph.mjs BASE TOKEN
// Prints "ok"/"not ok" lines; exits 1 on any failure.
import { Client } from '@langchain/langgraph-sdk';
import { check, cuttingFetch, eq, runChecks } from './harness.mjs';

const [base, token] = process.argv.slice(2);
const apiUrl = `${base}/api/langgraph`;
const client = new Client({ apiUrl, apiKey: token });
const N = 300;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function collect(iter) {
  const parts = [];
  for await (const p of iter) parts.push(p);
  return parts;
}
async function status(thread, run) {
  return (await client.runs.get(thread, run)).status;
}
async function until(what, fn) {
  for (let i = 0; i < 2000; i++) { if (await fn()) return true; await sleep(10); }
  check(what, false, 'not within 20 s');
  return false;
}
async function rejects(fn) {
  try { await fn(); return null; } catch (e) { return e.status ?? e.message; }
}

async function assistantsAndThreads() {
  const found = await client.assistants.search({ graphId: 'agent' });
  eq('assistants.search: the job type agent, its graph_id its name', [['agent', 'agent']],
     found.map((a) => [a.assistant_id, a.graph_id]));
  const tag = `t${Date.now()}`;
  const t = await client.threads.create({ metadata: { tag } });
  await client.threads.create({ metadata: { tag: `${tag}-other` } });
  const hits = await client.threads.search({ metadata: { tag } });
  eq('threads.create and threads.search by metadata', [[t.thread_id, 'idle']], hits.map((h) => [h.thread_id, h.status]));
  return t.thread_id;
}

async function runsOnAThread(thread) {
  const run = await client.runs.create(thread, 'agent', { input: { n: 3 }, metadata: { k: 'v' } });
  eq('runs.create: a pending run of the thread', [thread, 'agent', 'v'], [run.thread_id, run.assistant_id, run.metadata.k]);
  const joined = await client.runs.join(thread, run.run_id);
  eq('runs.join: the run\'s values (its result)', 3, joined.n);
  eq('runs.get: success', 'success', await status(thread, run.run_id));
  const values = await client.runs.wait(thread, 'agent', { input: { n: 4 } });
  eq('runs.wait: the new run\'s values', 4, values.n);
  const listed = await client.runs.list(thread);
  eq('runs.list: both runs, newest first', [2, run.run_id], [listed.length, listed[1]?.run_id]);
  const parts = await collect(client.runs.stream(thread, 'agent', { input: { n: 2 }, streamMode: ['values', 'updates', 'custom'] }));
  const names = parts.map((p) => p.event);
  eq('runs.stream: metadata first, end last', ['metadata', 'end'], [names[0], names.at(-1)]);
  eq('runs.stream: progress and step_started as custom, step_finished as updates, the result as values',
     ['custom', 'custom', 'custom', 'updates', 'values'], names.slice(1, -1));
  eq('runs.stream: the values are the result', 2, parts.find((p) => p.event === 'values')?.data?.n);
  const state = await client.threads.getState(thread);
  eq('threads.getState: the newest run\'s values', 2, state.values.n);
  const history = await client.threads.getHistory(thread, { limit: 2 });
  eq('threads.getHistory: a state per run, newest first', [2, 2, 4], [history.length, history[0].values.n, history[1].values.n]);
}

// What useStream's submit asks of the Client: a thread, then a stream of
// values (onDisconnect: cancel, not resumable), then the thread's state.
async function useStreamFlow() {
  const thread = (await client.threads.create({ metadata: undefined })).thread_id;
  const seen = [];
  for await (const p of client.runs.stream(thread, 'agent', {
    input: { n: 1 }, streamMode: ['values', 'messages-tuple', 'updates', 'custom'], onDisconnect: 'cancel',
    streamResumable: false, onRunCreated: (m) => seen.push(`created:${m.thread_id === thread}`),
  })) seen.push(p.event);
  check('useStream\'s flow: the run is made known, then metadata, values and end',
        seen[0] === 'created:true' && seen[1] === 'metadata' && seen.includes('values') && seen.at(-1) === 'end',
        seen.join(' '));
  const state = await client.threads.getState(thread);
  eq('useStream\'s flow: the thread\'s state has the messages', 'counted to 1', state.values.messages?.[0]?.content);
}

async function joinStreamThroughCuts(thread) {
  const run = await client.runs.create(thread, 'agent', { input: { n: N } });
  const cutter = cuttingFetch([40, 120, 210]);
  const cutting = new Client({ apiUrl, apiKey: token, callerOptions: { fetch: cutter } });
  const got = [];
  let ends = 0, metas = 0;
  for await (const p of cutting.runs.joinStream(thread, run.run_id, { streamMode: ['custom'] })) {
    if (p.event === 'custom' && p.data.event === 'progress') got.push(p.data.data.current);
    if (p.event === 'end') ends++;
    if (p.event === 'metadata') metas++;
  }
  eq('joinStream: three connections cut mid-event', 3, cutter.cuts());
  const want = Array.from({ length: N }, (_, i) => i + 1);
  check(`joinStream resumed by itself: progress 1..${N} exactly once, in order`,
        JSON.stringify(got) === JSON.stringify(want), `${got.length} events, first wrong at ${got.findIndex((v, i) => v !== i + 1)}`);
  eq('joinStream: metadata once, end once', [1, 1], [metas, ends]);
  check('joinStream resumed with Last-Event-ID on the run\'s stream route',
        cutter.requests.filter((r) => r.lastEventId).length === 3 && cutter.requests.every((r) => r.status === 200),
        JSON.stringify(cutter.requests));
  const after = await collect(client.runs.joinStream(thread, run.run_id, { lastEventId: (await lastId(thread, run.run_id)) }));
  eq('joinStream after the end: its end alone, no error', ['end'], after.map((p) => p.event));
}

async function lastId(thread, run) {
  const parts = await collect(client.runs.joinStream(thread, run, { streamMode: ['values'] }));
  return parts.at(-1).id;
}

async function cancelAndDelete(thread) {
  const long = await client.runs.create(thread, 'agent', { input: { n: 100000 } });
  await until('the long run runs', async () => (await status(thread, long.run_id)) === 'running');
  eq('runs.delete of an active run is refused (409)', 409, await rejects(() => client.runs.delete(thread, long.run_id)));
  await client.runs.cancel(thread, long.run_id, true);
  eq('runs.cancel with wait: interrupted once it returns', 'interrupted', await status(thread, long.run_id));
  await client.runs.delete(thread, long.run_id);
  eq('runs.delete: the run is gone (404)', 404, await rejects(() => client.runs.get(thread, long.run_id)));
  const other = await client.runs.create(thread, 'agent', { input: { n: 100000 } });
  await until('the run to roll back runs', async () => (await status(thread, other.run_id)) === 'running');
  await client.runs.cancel(thread, other.run_id, true, 'rollback');
  eq('runs.cancel rollback: the run is gone (404)', 404, await rejects(() => client.runs.get(thread, other.run_id)));
}

async function stateless() {
  const values = await client.runs.wait(null, 'agent', { input: { n: 5 } });
  eq('a stateless runs.wait: its values', 5, values.n);
  const parts = await collect(client.runs.stream(null, 'agent', { input: { n: 1 } }));
  eq('a stateless runs.stream: metadata, values, end', ['metadata', 'values', 'end'], parts.map((p) => p.event));
  eq('an unknown assistant: 422', 422, await rejects(() => client.runs.wait(null, 'nothing', { input: {} })));
  eq('a field opstream cannot honour: 422', 422,
     await rejects(() => client.runs.create(null, 'agent', { input: {}, interruptBefore: ['x'] })));
}

await runChecks(async () => {
  const thread = await assistantsAndThreads();
  await runsOnAThread(thread);
  await useStreamFlow();
  await joinStreamThroughCuts(thread);
  await cancelAndDelete(thread);
  await stateless();
}, 150000);
