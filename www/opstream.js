// opstream.js: follow one opstream run from a browser, without losing it.
//
//   import { follow } from "/opstream.js";
//   const run = follow(links.events, { on: { progress: (d) => bar.value = d.current } });
//   run.onchange = (state) => render(state);
//   await run.done;
//
// Unlike a bare EventSource it keeps going through what a proxy answers
// while a backend restarts (any 5xx, 408, 429: backoff from the server's
// `retry:`), resumes after the last event it got (never replaying one), and
// stops at run_finished without another request. It reads the stream with
// fetch, so it works with the signed links.events URL (no headers) and with
// a bearer token alike. No dependencies, no build step.

export const TERMINAL = Object.freeze(["succeeded", "failed", "cancelled", "timed_out", "expired"]);

// An opstream event id is its Redis stream entry id, "<ms>-<seq>": the time
// it was appended, in ms since the epoch, or null for any other id.
export function eventTime(id) {
  const m = /^(\d{1,15})-\d+$/.exec(id || "");
  return m ? Number(m[1]) : null;
}

function isoOf(id) {
  return new Date(eventTime(id) ?? Date.now()).toISOString();
}

// Answers after which the same request may well succeed a little later.
function retryable(status) {
  return status >= 500 || status === 408 || status === 425 || status === 429;
}

async function problemOf(res) {
  try {
    const body = await res.json();
    if (body && typeof body === "object") return { status: res.status, ...body };
  } catch { /* not JSON: the status says enough */ }
  return { status: res.status, code: `http_${res.status}`, title: res.statusText || `HTTP ${res.status}` };
}

// The run's resource, from its events URL (/…/runs/{id}/events?…).
function runUrlOf(eventsUrl) {
  const u = new URL(eventsUrl, globalThis.location?.href);
  u.search = "";
  u.pathname = u.pathname.replace(/\/events\/?$/, "");
  return u.href;
}

export class RunStream {
  // options:
  //   token       bearer token (string, or function returning one); omit with a signed URL
  //   after       the id of the last event already seen; default: from the run's first event
  //   on          { [eventType]: (data, event) => void, "*": every event }
  //   onchange    (state, stream) => void, after every change of state
  //   run         a run snapshot (GET /v1/runs/{id}) to start the state from
  //   runUrl      the run's URL, for cancel() and resume(); default: from the events URL
  //   refresh     async () => a new events URL, when the link has expired (401/403)
  //   retryMs     the first reconnection delay until the server sends retry: (1000)
  //   maxRetryMs  the longest delay between attempts (30000)
  //   idleMs      reconnect when nothing (not even a keepalive) came for this long (45000)
  //   fetch       the fetch to use (default: globalThis.fetch)
  constructor(url, options = {}) {
    this.url = url;
    this.options = options;
    this.runUrl = options.runUrl || runUrlOf(url);
    this.retryMs = options.retryMs ?? 1000;
    this.handlers = new Map();
    for (const [type, fn] of Object.entries(options.on || {})) this.on(type, fn);
    this.onchange = options.onchange || null;
    const run = options.run || {};
    this.state = {
      connection: "connecting",
      status: run.status || null,
      progress: run.progress || null,
      steps: (run.steps || []).map((s) => ({ ...s })),
      result: run.result ?? null,
      error: run.error ?? null,
      pendingInput: run.pending_input || null,
      lastEventId: options.after || null,
      events: 0,
      gaps: [],
      attempts: 0,
      problem: null,
    };
    this.controller = null;
    this.wake = null;
    this.stopped = false;
    this.done = new Promise((resolve) => { this.resolveDone = resolve; });
    this.loop();
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
    return this;
  }

  // Stops following; the run goes on.
  close() {
    this.end("closed");
  }

  // POST /cancel; options: { reason, discard }. Resolves to the API's answer.
  cancel(options) {
    return this.post("cancel", options && Object.keys(options).length ? options : null);
  }

  // POST /resume with the input the job asked for.
  resume(input) {
    return this.post("resume", { input });
  }

  async post(what, body) {
    const headers = this.headers({ Accept: "application/json" });
    if (body) headers["Content-Type"] = "application/json";
    // A body, even empty, makes the browser send Content-Length (some servers insist).
    const res = await this.fetch(`${this.runUrl}/${what}`, {
      method: "POST", headers, body: body ? JSON.stringify(body) : "",
    });
    if (!res.ok) {
      const problem = await problemOf(res);
      throw Object.assign(new Error(problem.detail || problem.title), { problem });
    }
    return res.status === 204 ? null : res.json();
  }

  fetch(...args) {
    return (this.options.fetch || globalThis.fetch)(...args);
  }

  headers(extra) {
    const token = typeof this.options.token === "function" ? this.options.token() : this.options.token;
    return token ? { ...extra, Authorization: `Bearer ${token}` } : extra;
  }

  set(changes) {
    Object.assign(this.state, changes);
    if (this.onchange) this.onchange(this.state, this);
  }

  end(connection, problem = null) {
    if (this.stopped) return;
    this.stopped = true;
    if (this.controller) this.controller.abort();
    if (this.wake) this.wake();
    this.set({ connection, problem });
    this.resolveDone(this.state);
  }

  async loop() {
    let failures = 0;
    while (!this.stopped) {
      let outcome;
      try {
        outcome = await this.connect();
      } catch (err) {
        outcome = { retry: true, problem: { code: "network", title: String(err && err.message || err) } };
      }
      if (this.stopped) return;
      if (outcome.end) return this.end(outcome.end, outcome.problem);
      // Progress resets the backoff: a stream that delivered was not a failure.
      failures = outcome.delivered ? 0 : failures + 1;
      this.set({ connection: "reconnecting", attempts: this.state.attempts + 1, problem: outcome.problem || null });
      const backoff = Math.min(this.retryMs * 2 ** Math.max(0, failures - 1), this.options.maxRetryMs ?? 30000);
      // Up to a fifth less, so that many pages a restart cut off do not all come back at once.
      const delay = Math.max(outcome.after || 0, backoff * (0.8 + 0.2 * Math.random()));
      await this.pause(delay);
    }
  }

  pause(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        globalThis.removeEventListener?.("online", done);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      // Back online: no reason to wait out the backoff.
      globalThis.addEventListener?.("online", done);
      this.wake = done;
    });
  }

  // One request. Resolves to { end: connection } or { retry, delivered, after }.
  async connect() {
    const u = new URL(this.url, globalThis.location?.href);
    // The query parameter rather than Last-Event-ID: a plain header-free
    // GET, which needs no CORS preflight from another origin.
    if (this.state.lastEventId) u.searchParams.set("lastEventId", this.state.lastEventId);
    this.controller = new AbortController();
    const res = await this.fetch(u.href, {
      headers: this.headers({ Accept: "text/event-stream" }),
      cache: "no-store",
      signal: this.controller.signal,
    });
    // 204: nothing after this cursor, the run is over.
    if (res.status === 204) return { end: "finished" };
    const type = res.headers.get("Content-Type") || "";
    if (res.status === 200 && type.startsWith("text/event-stream")) {
      this.set({ connection: "connected", problem: null });
      return this.read(res.body);
    }
    if ((res.status === 401 || res.status === 403) && this.options.refresh) {
      this.url = await this.options.refresh();
      return { retry: true, delivered: true };
    }
    if (retryable(res.status) || (res.status === 200 && !type.startsWith("text/event-stream"))) {
      const seconds = Number(res.headers.get("Retry-After"));
      res.body?.cancel().catch(() => {});
      return { retry: true, after: Number.isFinite(seconds) ? Math.min(seconds, 300) * 1000 : 0,
               problem: { status: res.status, code: `http_${res.status}`, title: res.statusText } };
    }
    // 404 (no such run, or not ours), 400, 401, 403: asking again will not help.
    return { end: "failed", problem: await problemOf(res) };
  }

  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let frame = { id: null, type: "", data: [] };
    let delivered = false;
    let idle;
    const idleMs = this.options.idleMs ?? 45000;
    const watch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => this.controller.abort(), idleMs);
    };
    try {
      watch();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        watch();
        buffer += value;
        let at;
        while ((at = buffer.search(/\r\n|\r|\n/)) >= 0) {
          // A CR at the very end may be the first half of a CRLF.
          if (buffer[at] === "\r" && at === buffer.length - 1) break;
          const line = buffer.slice(0, at);
          buffer = buffer.slice(at + (buffer.startsWith("\r\n", at) ? 2 : 1));
          if (line === "") {
            if (frame.data.length) {
              delivered = true;
              if (this.dispatch(frame)) {
                reader.cancel().catch(() => {});
                return { end: "finished" };
              }
            }
            frame = { id: null, type: "", data: [] };
            continue;
          }
          if (line.startsWith(":")) continue;   // a comment: the keepalive
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value.startsWith(" ")) value = value.slice(1);
          if (field === "id" && !value.includes("\0")) frame.id = value;
          else if (field === "event") frame.type = value;
          else if (field === "data") frame.data.push(value);
          else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
        }
      }
    } catch (err) {
      if (this.stopped) return { end: "closed" };
      return { retry: true, delivered, problem: { code: "network", title: String(err && err.message || err) } };
    } finally {
      clearTimeout(idle);
    }
    // The stream ended before run_finished (a responder died, a proxy cut
    // it): carry on from the last event.
    return { retry: true, delivered };
  }

  // Applies one event; true when it was the run's last.
  dispatch(frame) {
    const text = frame.data.join("\n");
    let data;
    try { data = JSON.parse(text); } catch { data = text; }
    const event = { id: frame.id, type: frame.type || "message", data, time: eventTime(frame.id) };
    const s = this.state;
    if (frame.id !== null) s.lastEventId = frame.id;
    s.events++;
    const d = data && typeof data === "object" ? data : {};
    switch (event.type) {
    case "run_queued":
    case "run_started":
      if (d.status) s.status = d.status;
      break;
    case "progress":
      if (Number.isInteger(d.current)) s.progress = { current: d.current, total: Number.isInteger(d.total) ? d.total : 0 };
      break;
    case "step_started":
    case "step_finished":
      this.step(event);
      break;
    case "input_required":
      s.status = "input_required";
      s.pendingInput = d;
      break;
    case "input_received":
      s.status = "running";
      s.pendingInput = null;
      break;
    case "gap":
      // A run whose history is gone altogether still says how it ended.
      s.gaps.push(d);
      if (typeof d.status === "string") s.status = d.status;
      break;
    case "run_finished":
      s.status = d.status || s.status;
      if ("result" in d) s.result = d.result;
      if ("error" in d) s.error = d.error;
      s.pendingInput = null;
      break;
    }
    for (const fn of this.handlers.get(event.type) || []) fn(data, event);
    for (const fn of this.handlers.get("*") || []) fn(data, event);
    if (event.type === "run_finished") {
      this.end("finished");
      return true;
    }
    this.set({});
    return false;
  }

  // The same rules as the run's steps[] (src/runs.c, from step_* events;
  // the README's Decisions say them).
  step(event) {
    const d = event.data || {};
    if (typeof d.name !== "string" || d.name === "") return;
    const finished = event.type === "step_finished";
    let step = finished ? this.state.steps.findLast((s) => s.name === d.name && s.status === "running") : null;
    if (!step) {
      step = { name: d.name, status: "running", started_at: finished ? null : isoOf(event.id), finished_at: null, message: null };
      this.state.steps.push(step);
    }
    if (finished) {
      step.status = typeof d.status === "string" ? d.status : "succeeded";
      step.finished_at = isoOf(event.id);
    }
    if (typeof d.message === "string") step.message = d.message;
  }
}

export function follow(url, options) {
  return new RunStream(url, options);
}
