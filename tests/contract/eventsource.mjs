// A real browser's EventSource (Debian's Chromium, driven by playwright-core)
// reads a run while opstream's processes are SIGKILLed (every KILL_EVERY_MS), the
// roles in turn (every process of the round's role): it must get every
// event exactly once, in order, and stop for good (204).
//   usage: node eventsource.mjs BASE_URL MARK N [ROLES] [PAGE]
// The victims are the processes named ROLES (comma-separated, default
// fcgi-responder) whose command line holds MARK (the test's directory).
// PAGE is the path of a page on the same origin (default /).
import { readdirSync, readlinkSync } from "node:fs";
import { followNewRun, launchChromium, pidsOf } from "./browser.mjs";

const [base, mark, nArg, rolesArg, pagePath] = process.argv.slice(2);
const n = Number(nArg);
const roles = (rolesArg || "fcgi-responder").split(",");
const apiBase = process.env.API_BASE || "/api";
// The run's pace and the kills' (env): a server that spawns a process per
// request (mod_fcgid) needs about a second to replace one, and a kill
// every 200 ms would be one long outage rather than single deaths.
const eventEvery = Number(process.env.EVENT_EVERY_MS || 10);
const killEvery = Number(process.env.KILL_EVERY_MS || 200);
// KILL_PICK=busiest: of the round's role, only the process holding the
// most sockets, and only once it holds KILL_MIN_SOCKETS (where a server
// keeps idle processes beside the one that streams, or starts one per
// request: the one that streams); default: every process of the role.
const pickBusiest = process.env.KILL_PICK === "busiest";
function sockets(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try { return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:"); } catch { return false; }
    }).length;
  } catch { return 0; }
}
function victims(role) {
  const pids = pidsOf(role, mark);
  if (!pickBusiest) return pids;
  const min = Number(process.env.KILL_MIN_SOCKETS || 1);
  const best = pids.reduce((a, b) => (a === undefined || sockets(b) > sockets(a) ? b : a), undefined);
  return best !== undefined && sockets(best) >= min ? [best] : [];
}
let passed = 0;
let failed = 0;
function ok(cond, what, extra) {
  if (cond) passed++, console.log(`ok - ${what}`);
  else failed++, console.log(`not ok - ${what}${extra ? `: ${extra}` : ""}`);
}

const browser = await launchChromium();
const page = await browser.newPage();
await page.goto(`${base}${pagePath || "/"}`);

// In the page: create the run, follow it with EventSource, record events.
await followNewRun(page, apiBase, process.env.TOKEN || "",
                   { type: "countdown", input: { n, interval_ms: eventEvery } });
await page.waitForFunction(() => window.got.length > 2);

// Every killEvery ms, every process of the next role, until the
// EventSource has given up. A kill waits for the stream to be flowing:
// one that lands between a web server sending a request and the answer's
// head is a 5xx from lighttpd or Apache, which do not send a request
// twice, and final for EventSource (the window README's Decisions name).
let kills = 0;
let round = 0;
const killed = {};
let state = null;
const deadline = Date.now() + 120000;
window: while (Date.now() < deadline) {
  const role = roles[round++ % roles.length];
  const ready = await page.waitForFunction(() => window.streaming() || window.ended, null, { timeout: 30000 })
    .then(() => true, () => false);
  if (!ready) {
    console.log(`# no flowing stream for 30 s: ${await page.evaluate(() => window.describe())}`);
    break window;
  }
  if (await page.evaluate(() => window.ended)) { state = "closed"; break window; }
  for (const pid of victims(role)) {
    try { process.kill(Number(pid), "SIGKILL"); kills++; killed[role] = (killed[role] || 0) + 1; } catch {}
  }
  state = await page.evaluate((ms) => Promise.race([window.done, new Promise((r) => setTimeout(() => r(null), ms))]), killEvery);
  if (state) break window;
}
const { got, opens } = await page.evaluate(() => ({ got: window.got, opens: window.opens }));
await browser.close();

console.log(`# processes killed: ${JSON.stringify(killed)}; EventSource opened ${opens} times`);
ok(state === "closed", "the EventSource stopped for good after the run (204)", `state ${state}`);
ok(kills >= 10 && opens >= 3 && roles.every((r) => killed[r] > 0), "it read through repeated kills and reconnects", `kills ${kills}, opens ${opens}`);
const progress = got.filter(([, t]) => t === "progress").map(([, , d]) => JSON.parse(d).current);
ok(progress.length === n && progress.every((v, i) => v === i + 1), `progress 1..${n} exactly once, in order`,
   `${progress.length} progress events`);
ok(got.filter(([, t]) => t === "run_finished").length === 1 && got.at(-1)[1] === "run_finished",
   "exactly one run_finished, last");
const ids = got.map(([id]) => id);
ok(new Set(ids).size === ids.length, "no event id twice");
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
