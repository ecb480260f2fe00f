// What the Node test drivers share: "ok"/"not ok" lines, and a main that
// ends with the process, bounded in time.
let failures = 0;

export function check(what, ok, detail = '') {
  console.log(`${ok ? 'ok' : 'not ok'} - ${what}${ok || !detail ? '' : ` (${detail})`}`);
  if (!ok) failures++;
}

export function eq(what, want, got) {
  const w = JSON.stringify(want), g = JSON.stringify(got);
  check(what, w === g, `want ${w}, got ${g}`);
}

// Runs body, then exits 1 if any check failed, it threw or it outlasted
// timeoutMs.
export async function runChecks(body, timeoutMs) {
  const timer = setTimeout(() => { console.log('not ok - timed out'); process.exit(1); }, timeoutMs);
  try {
    await body();
  } catch (e) {
    console.log(`not ok - ${e.stack ?? e}`);
    failures++;
  }
  clearTimeout(timer);
  process.exit(failures ? 1 : 0);
}

// A fetch whose event streams are cut in the middle of an event (half of
// its bytes passed on, then the connection fails) once the client has been
// handed cutAt[0] counted events, then cutAt[1], ...; counts(frame) says
// which frames count. requests records every request: method, the
// Last-Event-ID it sent, the status it got.
export function cuttingFetch(cutAt, counts = (frame) => frame.includes('data:')) {
  const pending = [...cutAt];
  let seen = 0, cuts = 0;
  const requests = [];
  const f = async (url, init) => {
    const res = await fetch(url, init);
    requests.push({ method: init?.method ?? 'GET', lastEventId: new Headers(init?.headers).get('last-event-id'), status: res.status });
    if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream') || !res.body) return res;
    const reader = res.body.getReader();
    const dec = new TextDecoder(), enc = new TextEncoder();
    let buf = '';
    const body = new ReadableStream({
      async pull(controller) {
        for (;;) {
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i + 2);
            buf = buf.slice(i + 2);
            if (pending.length && seen >= pending[0] && frame.includes('data:')) {
              pending.shift();
              cuts++;
              controller.enqueue(enc.encode(frame.slice(0, frame.length >> 1)));
              reader.cancel().catch(() => {});
              controller.error(new TypeError('terminated: connection cut'));
              return;
            }
            if (counts(frame)) seen++;
            controller.enqueue(enc.encode(frame));
          }
          const { value, done } = await reader.read();
          if (done) { controller.close(); return; }
          buf += dec.decode(value, { stream: true });
        }
      },
      cancel(reason) { return reader.cancel(reason); },
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  f.cuts = () => cuts;
  f.requests = requests;
  return f;
}
