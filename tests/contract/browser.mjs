// What the browser tests share: Debian's Chromium as they launch it, and
// the pids of the stack's processes they kill.
import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
}

// The pids of the processes named role whose command line holds mark (a
// test's directory).
export function pidsOf(role, mark) {
  let out = "";
  try { out = execFileSync("pgrep", ["-x", role]).toString(); } catch { return []; }
  return out.trim().split("\n").filter(Boolean).filter((pid) => {
    try { return readFileSync(`/proc/${pid}/cmdline`).toString().includes(mark); } catch { return false; }
  });
}

// In the page: creates a run (POST api/v1/runs with body, as token when
// set) and follows it with EventSource, recording [id, event, data] of
// each event in window.got, its opens in window.opens; window.done
// resolves "closed" (and window.ended is set) once the EventSource gave
// up for good; window.streaming() is true once its connection had an
// event since it last opened (its response's head is through). The
// run's id.
export function followNewRun(page, api, token, body) {
  return page.evaluate(async ([api, token, body]) => {
    const res = await fetch(`${api}/v1/runs`, {
      method: "POST", headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    const run = await res.json();
    window.got = [];
    window.opens = 0;
    let openedAt = 0;
    window.done = new Promise((resolve) => {
      const es = new EventSource(run.links.events);
      window.streaming = () => es.readyState === EventSource.OPEN && window.got.length > openedAt;
      window.describe = () => `readyState ${es.readyState}, ${window.got.length} events, ${window.got.length - openedAt} since it opened, the last ${JSON.stringify(window.got.at(-1))}`;
      es.onopen = () => { window.opens++; openedAt = window.got.length; };
      for (const type of ["run_queued", "run_started", "progress", "result", "run_finished", "gap"])
        es.addEventListener(type, (e) => window.got.push([e.lastEventId, type, e.data]));
      es.onerror = () => { if (es.readyState === EventSource.CLOSED) window.ended = true, resolve("closed"); };
    });
    return run.id;
  }, [api, token, body]);
}
