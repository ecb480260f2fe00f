// The console: start a run of any job type from a form built from its
// input schema, follow it live with opstream.js (status, progress, steps,
// events, result, cancel, input the job asks for), and list and replay
// past runs. Everything a job sends is shown as text, never as markup.
import { follow, TERMINAL } from "./opstream.js";
import { schemaForm } from "./schema-form.js";

const api = document.querySelector('meta[name="opstream-api"]')?.content || "/api/v1";
const $ = (id) => document.getElementById(id);
const LOG_MAX = 5000;        // events shown; the count still says how many came
const PAGE = 10;             // runs per page of the list

let types = [];
let inputValue = () => ({});
let stream = null;
let current = null;          // the run shown, as it was opened
let shownInput = null;       // the pending input the answer form was built for
let pages = [null];          // the cursors of the list's pages seen so far

const token = () => sessionStorage.getItem("opstream-token") || "";
$("token").value = token();
$("token-form").addEventListener("submit", (e) => e.preventDefault());
$("token").addEventListener("change", async (e) => {
  sessionStorage.setItem("opstream-token", e.target.value.trim());
  loadRuns();
  if (await loadTypes()) $("auth").open = false;
});

const v1 = (path) => `${api}${path}`;

// A JSON API call; a problem answer becomes an Error with its detail.
async function call(path, init = {}) {
  const headers = { Accept: "application/json", ...(init.headers || {}) };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const res = await fetch(path, { ...init, headers });
  const body = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const detail = body?.detail || body?.title || `HTTP ${res.status}`;
    throw Object.assign(new Error(detail), { status: res.status, problem: body });
  }
  return body;
}

function say(id, text) {
  $(id).textContent = text || "";
  $(id).hidden = !text;
}

// --- Starting a run ------------------------------------------------------

let shownType = null;
function showType() {
  // Choosing the type shown again keeps what was entered.
  if ($("type").value === shownType) return;
  shownType = $("type").value;
  const type = types.find((t) => t.name === shownType);
  $("type-description").textContent = type?.description || "";
  inputValue = schemaForm($("input-fields"), type?.input_schema || { type: "object" });
}

async function loadTypes() {
  try {
    types = (await call(v1("/types"))).data;
  } catch (err) {
    if (err.status === 401) {
      $("auth").open = true;
      $("token").focus();
      say("error", "This server wants a bearer token: enter one under Token.");
      return false;
    }
    say("error", `Job types: ${err.message}`);
    return false;
  }
  say("error", "");
  const keep = $("type").value;
  $("type").replaceChildren(...types.map((t) => new Option(t.name, t.name)));
  $("filter-type").replaceChildren(new Option("any", ""), ...types.map((t) => new Option(t.name, t.name)));
  if (types.some((t) => t.name === keep)) $("type").value = keep;
  showType();
  return true;
}

$("type").addEventListener("change", showType);

$("start").addEventListener("submit", async (e) => {
  e.preventDefault();
  say("error", "");
  const input = inputValue();
  if (!e.target.reportValidity()) return;
  const body = { type: $("type").value, input };
  if ($("thread").value.trim()) body.thread_id = $("thread").value.trim();
  try {
    const run = await call(v1("/runs"), {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    show(run);
    loadRuns();
  } catch (err) {
    say("error", err.message);
  }
});

// --- Following a run -----------------------------------------------------

const CONNECTION = {
  connecting: "Connecting…", connected: "Live", reconnecting: "Reconnecting…",
  finished: "Finished", closed: "Stopped", failed: "Failed",
};

function seconds(from, to) {
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : "";
}

function renderSteps(steps) {
  $("steps").replaceChildren(...steps.map((s) => {
    const li = document.createElement("li");
    li.dataset.status = s.status;
    const name = document.createElement("span");
    name.className = "step-name";
    name.textContent = s.name;
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = s.status;
    const took = document.createElement("span");
    took.className = "hint";
    took.textContent = s.finished_at ? seconds(s.started_at, s.finished_at) : "";
    li.append(name, " ", status, " ", took);
    if (s.message) li.append(` — ${s.message}`);
    return li;
  }));
}

function renderAnswer(pending) {
  if (pending === shownInput) return;
  shownInput = pending;
  $("answer").hidden = !pending;
  say("answer-error", "");
  if (!pending) return;
  $("prompt").textContent = typeof pending.prompt === "string" ? pending.prompt : "";
  const value = schemaForm($("answer-fields"), pending.schema || { type: "object" });
  $("answer").onsubmit = async (e) => {
    e.preventDefault();
    const input = value();
    if (!e.target.reportValidity()) return;
    try {
      await stream.resume(input);
    } catch (err) {
      say("answer-error", err.message);
    }
  };
  $("answer").querySelector("input, select, textarea")?.focus();
}

function render(state, run) {
  // Where the stream no longer holds the run's history (a gap), the
  // snapshot the run was opened from still tells how it ended.
  const status = state.status || run.status;
  $("run-status").textContent = status;
  $("run-status").dataset.status = status;
  $("gap-note").hidden = state.gaps.length === 0;
  $("gap-note").textContent = state.gaps.length
    ? `Part of this run's history is gone (${state.gaps.map((g) => g.reason || "gap").join(", ")}): events are missing before the next one shown.`
    : "";
  const conn = $("connection");
  conn.dataset.state = state.connection;
  conn.textContent = CONNECTION[state.connection] +
    (state.connection === "failed" && state.problem ? `: ${state.problem.detail || state.problem.title}` : "");
  const p = state.progress;
  if (p) {
    $("bar").max = p.total || Math.max(p.current, 1);
    $("bar").value = p.current;
    $("counts").textContent = p.total ? `${p.current} of ${p.total}` : `${p.current}`;
  }
  $("steps-box").hidden = state.steps.length === 0;
  renderSteps(state.steps);
  renderAnswer(state.pendingInput);
  const over = TERMINAL.includes(status);
  $("cancel").hidden = over || state.connection === "failed";
  $("rerun").hidden = !over;
  if (over) {
    const error = state.error ?? run.error;
    const result = state.result ?? run.result;
    $("outcome").hidden = false;
    // An unsuccessful end may keep the job's partial result beside its error.
    $("outcome-title").textContent = !error ? "Result" : result != null ? "Error, and the partial result" : "Error";
    $("outcome-body").textContent = JSON.stringify(error && result != null ? { error, result } : error ?? result, null, 2);
  }
  // The list's row for this run follows it too, without asking the server.
  const pill = document.querySelector(`#runs tr[data-id="${CSS.escape(run.id)}"] .status`);
  if (pill) {
    pill.textContent = status;
    pill.dataset.status = status;
  }
}

function logEvent(data, event) {
  $("event-count").textContent = `(${stream.state.events})`;
  if ($("events").childElementCount >= LOG_MAX) return;
  const li = document.createElement("li");
  li.dataset.type = event.type;
  if (event.id) li.dataset.id = event.id;
  const name = document.createElement("strong");
  name.textContent = event.type;
  const body = document.createElement("code");
  body.textContent = typeof data === "string" ? data : JSON.stringify(data);
  li.append(name, " ", body);
  if (event.time) li.title = `${event.id} · ${new Date(event.time).toISOString()}`;
  $("events").append(li);
}

// Shows a run and follows its events from the first: a past run replays.
function show(run) {
  if (stream) stream.close();
  current = run;
  shownInput = undefined;
  $("run").hidden = false;
  $("run-id").textContent = run.id;
  $("run-type").textContent = run.type;
  $("events").replaceChildren();
  $("event-count").textContent = "";
  $("outcome").hidden = true;
  $("bar").max = 1;
  $("bar").value = 0;
  $("counts").textContent = "no progress yet";
  history.replaceState(null, "", `#${run.id}`);
  stream = follow(run.links.events, {
    token: token,
    runUrl: run.links.self,
    on: { "*": logEvent },
    onchange: (state) => render(state, run),
  });
  render(stream.state, run);
}

$("cancel").addEventListener("click", async () => {
  try {
    await stream.cancel();
  } catch (err) {
    if (err.problem?.status !== 409) say("error", err.message);
  }
});

// The same type, input and thread again, as a new run (rerun_of links them).
$("rerun").addEventListener("click", async () => {
  say("error", "");
  try {
    show(await call(`${current.links.self}/rerun`, { method: "POST", body: "" }));
    loadRuns();
  } catch (err) {
    say("error", err.message);
  }
});

// --- The runs list -------------------------------------------------------

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  return td;
}

async function loadRuns(page = 0) {
  const q = new URLSearchParams({ limit: PAGE });
  for (const [k, v] of new FormData($("filters"))) if (v) q.set(k, v);
  if (pages[page]) q.set("cursor", pages[page]);
  let body;
  try {
    body = await call(v1(`/runs?${q}`));
  } catch (err) {
    return say("runs-error", err.message);
  }
  say("runs-error", "");
  pages = pages.slice(0, page + 1);
  pages.push(body.next_cursor);
  $("runs").dataset.page = page;
  $("next-page").disabled = !body.next_cursor;
  $("next-page").onclick = () => loadRuns(page + 1);
  $("first-page").disabled = page === 0;
  $("runs").tBodies[0].replaceChildren(...body.data.map((run) => {
    const tr = document.createElement("tr");
    tr.dataset.id = run.id;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "link";
    open.textContent = run.id;
    open.setAttribute("aria-label", `Open run ${run.id}`);
    open.addEventListener("click", () => {
      show(run);
      $("run-title").scrollIntoView();
      $("run-title").focus?.();
    });
    const first = document.createElement("td");
    first.append(open);
    const status = cell("");
    const pill = document.createElement("span");
    pill.className = "status";
    pill.dataset.status = run.status;
    pill.textContent = run.status;
    status.append(pill);
    tr.append(first, cell(run.type), status, cell(run.thread_id), cell(run.created_at));
    return tr;
  }));
}

$("filters").addEventListener("submit", (e) => {
  e.preventDefault();
  pages = [null];
  loadRuns(0);
});
$("first-page").addEventListener("click", () => loadRuns(0));

// --- Start ---------------------------------------------------------------

// A reload follows the run in the address again, from its first event.
async function reopen() {
  const id = location.hash.slice(1);
  if (!id) return;
  try {
    show(await call(v1(`/runs/${encodeURIComponent(id)}`)));
  } catch (err) {
    say("error", `Run ${id}: ${err.message}`);
  }
}

loadTypes();
loadRuns();
reopen();
// A link to another run (#id) opens it; show() itself writes the hash
// with replaceState, which fires no hashchange.
window.addEventListener("hashchange", reopen);
