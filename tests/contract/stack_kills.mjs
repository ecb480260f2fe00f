// Chromium's EventSource follows a run while one process of the stack is
// SIGKILLed at random every KILL_EVERY_MS for KILL_SECONDS, of the KINDS
// (comma-separated; default: master, responder, worker and web,
// the web server); every REDIS_EVERY_S (0: never; default 20, or a third
// of the kill phase when that is shorter) Redis is stopped
// instead, by SIGTERM and SIGKILL in turn. TOKEN, when set, is the bearer
// token of the API calls (the EventSource follows the run's signed link).
// After every kill /api/v1/health must answer 200 again within 3 s. Then
// the EventSource must have been closed by the 204, and have seen every
// event of the run's stream once, in order.
//   usage: node stack_kills.mjs BASE_URL MARK N TYPE [WEB_SERVER_NAME]
// MARK: a string on the command line of every process of the stack (the
// test's directory); the process manager (python3) is never a victim.
import { readdirSync, readFileSync } from "node:fs";
import { followNewRun, launchChromium } from "./browser.mjs";

const [base, mark, nArg, type, webName] = process.argv.slice(2);
const n = Number(nArg);
const killEvery = Number(process.env.KILL_EVERY_MS || 1000);
const killFor = Number(process.env.KILL_SECONDS || 120) * 1000;
// (At least twice in the kill phase, so that both signals are sent.)
const redisEvery = process.env.REDIS_EVERY_S !== undefined ? Number(process.env.REDIS_EVERY_S) * 1000
                                                          : Math.min(20000, killFor / 3);
const eventEvery = Number(process.env.EVENT_EVERY_MS || 50);
const kindsToKill = (process.env.KINDS || "master,responder,responder,worker,worker,web").split(",");
const token = process.env.TOKEN || "";
const auth = token ? { Authorization: `Bearer ${token}` } : {};
const apiBase = process.env.API_BASE || "/api";
const HEALTH_MS = 3000;
let passed = 0;
let failed = 0;
function ok(cond, what, extra) {
  if (cond) passed++, console.log(`ok - ${what}`);
  else failed++, console.log(`not ok - ${what}${extra ? `: ${extra}` : ""}`);
}

// The stack's processes by kind: {pid, comm, ppid}, read from /proc.
function stack() {
  const procs = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      // (A job's command line need not name the stack: its parent does.)
      const mine = readFileSync(`/proc/${d}/cmdline`).toString().includes(mark);
      const stat = readFileSync(`/proc/${d}/stat`).toString();
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      procs.push({ pid: Number(d), comm, ppid, mine });
    } catch { /* gone meanwhile */ }
  }
  const workers = new Set(procs.filter((p) => p.mine && p.comm === "opstream-worker").map((p) => p.pid));
  const of = (f) => procs.filter((p) => (p.mine || workers.has(p.ppid)) && f(p)).map((p) => p.pid);
  return {
    master: of((p) => p.comm === "fcgi-master"),
    responder: of((p) => p.comm === "fcgi-responder"),
    worker: of((p) => p.comm === "opstream-worker" && !workers.has(p.ppid)),
    job: of((p) => p.comm !== "opstream-worker" && workers.has(p.ppid)),
    web: of((p) => p.comm === (webName || "lighttpd")),
    redis: of((p) => p.comm === "redis-server"),
  };
}

async function healthy() {
  try {
    const r = await fetch(`${base}${apiBase}/v1/health`, { signal: AbortSignal.timeout(1000) });
    return r.status === 200;
  } catch { return false; }
}

// ms until health answers 200, at most HEALTH_MS + 1000 (then: failed).
async function healthAfter(t0) {
  while (Date.now() - t0 <= HEALTH_MS + 1000) {
    if (await healthy()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  return Infinity;
}

const browser = await launchChromium();
const page = await browser.newPage();
await page.goto(`${base}/`);
const runId = await followNewRun(page, apiBase, token, { type, input: { n, interval_ms: eventEvery } });
await page.waitForFunction(() => window.got.length > 2);

const killed = {};
const slow = [];
let worst = 0;
let redisKills = 0;
const start = Date.now();
let nextRedis = redisEvery > 0 ? start + redisEvery : Infinity;
while (Date.now() - start < killFor) {
  await new Promise((r) => setTimeout(r, killEvery));
  const procs = stack();
  let kind;
  let signal = "SIGKILL";
  if (Date.now() >= nextRedis) {
    kind = "redis";
    signal = redisKills++ % 2 === 0 ? "SIGTERM" : "SIGKILL";
    nextRedis += redisEvery;
  } else {
    // Kinds not killed yet first, so that a short kill phase (about 30
    // kills) still reaches each one; then any, at random.
    const kinds = kindsToKill.filter((k) => procs[k].length);
    const fresh = kinds.filter((k) => !killed[k]);
    const from = fresh.length ? fresh : kinds;
    kind = from[Math.floor(Math.random() * from.length)];
  }
  const victims = procs[kind] || [];
  if (!victims.length) continue;
  const pid = victims[Math.floor(Math.random() * victims.length)];
  const t0 = Date.now();
  try { process.kill(pid, signal); } catch { continue; }
  const label = kind === "redis" ? `redis ${signal}` : kind;
  killed[label] = (killed[label] || 0) + 1;
  const took = await healthAfter(t0);
  worst = Math.max(worst, took);
  if (took > HEALTH_MS) slow.push(`${label} (pid ${pid}): ${took} ms`);
}
console.log(`# killed: ${JSON.stringify(killed)}; health back within ${worst} ms at worst`);
const state = await page.evaluate(
  (ms) => Promise.race([window.done, new Promise((r) => setTimeout(() => r(null), ms))]), 240000);
const { got, opens } = await page.evaluate(() => ({ got: window.got, opens: window.opens }));
await browser.close();

// The run's whole stream, as the JSON form pages it.
let stream = [];
for (let after = "0-0"; ;) {
  const r = await fetch(`${base}${apiBase}/v1/runs/${runId}/events?after=${after}&limit=1000`,
                        { headers: { Accept: "application/json", ...auth } });
  const body = await r.json();
  stream = stream.concat(body.data.map((e) => [e.id, e.event]));
  if (!body.data.length || body.next_cursor === null) break;
  after = body.next_cursor;
}
const status = (await (await fetch(`${base}${apiBase}/v1/runs/${runId}`, { headers: auth })).json()).status;
console.log(`# the run ${runId}: ${status}, ${stream.length} events in its stream ` +
            `(${stream.filter(([, t]) => t === "run_started").length} attempts); EventSource opened ${opens} times`);
ok(slow.length === 0, "/api/v1/health answered 200 within 3 s after every kill", slow.join("; "));
ok(kindsToKill.concat(redisEvery > 0 ? ["redis SIGTERM", "redis SIGKILL"] : []).every((k) => killed[k] > 0),
   "every kind of process was killed", JSON.stringify(killed));
ok(state === "closed", "the EventSource was closed by the 204 after the run", `state ${state}`);
ok(status === "succeeded", "the run succeeded", status);
const progress = stream.filter(([, t]) => t === "progress").length;
ok(progress >= n, `the stream holds at least the last attempt's ${n} progress events`, `${progress}`);
const same = got.length === stream.length && got.every(([id, t], i) => id === stream[i][0] && t === stream[i][1]);
let diff = "";
if (!same) {
  const ids = got.map(([id]) => id);
  const held = new Set(stream.map(([id]) => id));
  diff = `${got.length} seen, ${stream.length} in the stream; ` +
    `${new Set(ids).size !== ids.length ? "a duplicate; " : ""}` +
    `${stream.filter(([id]) => !ids.includes(id)).length} missing, ${ids.filter((id) => !held.has(id)).length} extra`;
}
ok(same, "the EventSource saw every event of the stream once, in order", diff);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
