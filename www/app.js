// The demo client: create a countdown run, then follow its events with
// EventSource. EventSource reconnects by itself with Last-Event-ID; the
// server answers 204 once the run is over, which stops it for good.
"use strict";

const api = "/api/v1";
const $ = (id) => document.getElementById(id);
let source = null;
let current = null;

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

function addEvent(type, id, data) {
  const li = document.createElement("li");
  li.dataset.type = type;
  const name = document.createElement("strong");
  name.textContent = type;
  const body = document.createElement("code");
  body.textContent = JSON.stringify(data);
  li.append(name, " ", body);
  li.title = id;
  $("events").append(li);
}

function follow(run) {
  if (source) source.close();
  current = run;
  $("cancel").hidden = false;
  $("run").hidden = false;
  $("run-id").textContent = run.id;
  $("run-status").textContent = run.status;
  $("events").replaceChildren();
  history.replaceState(null, "", "#" + run.id);
  source = new EventSource(run.links.events);
  const types = ["run_queued", "run_started", "progress", "log", "output",
    "step_started", "step_finished", "input_required", "input_received", "cancel_requested",
    "gap", "run_finished"];
  for (const type of types) {
    source.addEventListener(type, (e) => {
      const data = JSON.parse(e.data);
      addEvent(type, e.lastEventId, data);
      if (type === "progress" && data.total) {
        $("bar").max = data.total;
        $("bar").value = data.current;
        $("counts").textContent = `${data.current} of ${data.total}`;
      }
      if (data.status) $("run-status").textContent = data.status;
      if (type === "run_finished") {
        source.close();
        $("cancel").hidden = true;
      }
    });
  }
}

$("start").addEventListener("submit", async (e) => {
  e.preventDefault();
  showError("");
  const form = new FormData(e.target);
  const input = { n: Number(form.get("n")), interval_ms: Number(form.get("interval_ms")) };
  const res = await fetch(`${api}/runs`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: "countdown", input }),
  });
  const body = await res.json();
  if (!res.ok) return showError(`${body.title}: ${body.detail}`);
  follow(body);
});

$("cancel").addEventListener("click", async () => {
  if (!current) return;
  // An empty body makes the browser send Content-Length: 0, which lighttpd requires.
  const res = await fetch(current.links.cancel, { method: "POST", body: "" });
  if (!res.ok && res.status !== 409) {
    const body = await res.json();
    showError(`${body.title}: ${body.detail}`);
  }
});

// Reloading the page follows the same run again, from its first event.
window.addEventListener("load", async () => {
  const id = location.hash.slice(1);
  if (!id) return;
  const res = await fetch(`${api}/runs/${encodeURIComponent(id)}`);
  if (res.ok) follow(await res.json());
});
