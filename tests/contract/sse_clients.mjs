// Two SSE clients from npm, unchanged, read a run's stream through three
// connections cut in the middle of an event: @microsoft/fetch-event-source
// (the usual client where a bearer token is needed: it takes an event's id
// as soon as it reads the id line) and eventsource (the WHATWG
// EventSource for Node). Each must get every event once, in order, and
// the end once. The only wrapper is a fetch that cuts connections.
//   usage: node sse_clients.mjs BASE TOKEN
// Prints "ok"/"not ok" lines; exits 1 on any failure.
import fesPkg from '@microsoft/fetch-event-source';
import { EventSource } from 'eventsource';
import { check, cuttingFetch, runChecks } from './harness.mjs';

const { fetchEventSource } = fesPkg;
const [base, token] = process.argv.slice(2);
const auth = { Authorization: `Bearer ${token}` };
const N = 300;
// fetch-event-source is written for a browser: it keeps a retry timer on
// window and a visibility listener on document, which Node lacks.
globalThis.window = globalThis;
globalThis.document = { hidden: false, addEventListener() {}, removeEventListener() {} };

async function createRun() {
  const res = await fetch(`${base}/api/v1/runs`, {
    method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: 'countdown', input: { n: N, interval_ms: 5 } }),
  });
  return (await res.json()).id;
}

function verdict(name, got, ends, cuts) {
  check(`${name}: the connection was cut three times, mid-event`, cuts === 3, `${cuts} cuts`);
  const want = Array.from({ length: N }, (_, i) => i + 1);
  const dupes = got.length - new Set(got).size;
  check(`${name}: progress 1..${N} exactly once, in order`, JSON.stringify(got) === JSON.stringify(want),
        `${got.length} events, ${dupes} repeated, first wrong at ${got.findIndex((v, i) => v !== i + 1)}`);
  check(`${name}: run_finished once`, ends === 1, `${ends}`);
}

async function withFetchEventSource() {
  const run = await createRun();
  const cutter = cuttingFetch([40, 120, 210]);
  const got = [];
  let ends = 0;
  const stop = new AbortController();
  await fetchEventSource(`${base}/api/v1/runs/${run}/events`, {
    headers: auth, fetch: cutter, openWhenHidden: true, signal: stop.signal,
    onmessage(ev) {
      if (ev.event === 'progress') got.push(JSON.parse(ev.data).current);
      if (ev.event === 'run_finished') { ends++; stop.abort(); }
    },
    onerror() { /* a cut: retry after the server's retry: */ },
  });
  verdict('fetch-event-source', got, ends, cutter.cuts());
}

async function withEventSource() {
  const run = await createRun();
  const cutter = cuttingFetch([40, 120, 210]);
  const got = [];
  let ends = 0;
  await new Promise((resolve, reject) => {
    const es = new EventSource(`${base}/api/v1/runs/${run}/events`, {
      fetch: (url, init) => cutter(url, { ...init, headers: { ...init.headers, ...auth } }),
    });
    es.addEventListener('progress', (ev) => got.push(JSON.parse(ev.data).current));
    es.addEventListener('run_finished', () => { ends++; es.close(); resolve(); });
    setTimeout(() => { es.close(); reject(new Error('eventsource: no end within 60 s')); }, 60000);
  });
  verdict('eventsource', got, ends, cutter.cuts());
}

await runChecks(async () => {
  await withFetchEventSource();
  await withEventSource();
}, 120000);
