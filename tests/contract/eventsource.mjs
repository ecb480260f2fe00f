// A real browser's EventSource (Debian's Chromium, driven by playwright-core)
// reads a run while every responder process is SIGKILLed every 200 ms: it
// must get every event exactly once, in order, and stop for good (204).
//   usage: node eventsource.mjs BASE_URL SUPERVISOR_PID N
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";

const [base, supervisor, nArg] = process.argv.slice(2);
const n = Number(nArg);
let passed = 0;
let failed = 0;
function ok(cond, what, extra) {
  if (cond) passed++, console.log(`ok - ${what}`);
  else failed++, console.log(`not ok - ${what}${extra ? `: ${extra}` : ""}`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const page = await browser.newPage();
await page.goto(`${base}/`);

// In the page: create the run, follow it with EventSource, record events.
await page.evaluate(async (count) => {
  const res = await fetch("/api/v1/runs", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: "countdown", input: { n: count, interval_ms: 10 } }),
  });
  const run = await res.json();
  window.got = [];
  window.opens = 0;
  window.done = new Promise((resolve) => {
    const es = new EventSource(run.links.events);
    es.onopen = () => window.opens++;
    for (const type of ["run_queued", "run_started", "progress", "run_finished", "gap"])
      es.addEventListener(type, (e) => window.got.push([e.lastEventId, type, e.data]));
    es.onerror = () => { if (es.readyState === EventSource.CLOSED) resolve("closed"); };
  });
}, n);
await page.waitForFunction(() => window.got.length > 2);

// Kill every responder every 200 ms until the EventSource has given up.
let kills = 0;
let state = null;
const deadline = Date.now() + 120000;
window: while (Date.now() < deadline) {
  const pids = execFileSync("pgrep", ["-P", supervisor]).toString().trim().split("\n").filter(Boolean);
  for (const pid of pids) {
    try { process.kill(Number(pid), "SIGKILL"); kills++; } catch {}
  }
  state = await page.evaluate(() => Promise.race([window.done, new Promise((r) => setTimeout(() => r(null), 200))]));
  if (state) break window;
}
const { got, opens } = await page.evaluate(() => ({ got: window.got, opens: window.opens }));
await browser.close();

console.log(`# responders killed: ${kills}; EventSource opened ${opens} times`);
ok(state === "closed", "the EventSource stopped for good after the run (204)", `state ${state}`);
ok(kills >= 10 && opens >= 3, "it read through repeated kills and reconnects", `kills ${kills}, opens ${opens}`);
const progress = got.filter(([, t]) => t === "progress").map(([, , d]) => JSON.parse(d).current);
ok(progress.length === n && progress.every((v, i) => v === i + 1), `progress 1..${n} exactly once, in order`,
   `${progress.length} progress events`);
ok(got.filter(([, t]) => t === "run_finished").length === 1 && got.at(-1)[1] === "run_finished",
   "exactly one run_finished, last");
const ids = got.map(([id]) => id);
ok(new Set(ids).size === ids.length, "no event id twice");
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
