// Contract test: the live service against its own OpenAPI document.
// The served document must be valid OpenAPI 3.1 with unique operationIds,
// and every answer below must be a status the document lists for that
// operation, with a body that matches the schema it gives.
//   usage: node contract.mjs BASE_URL TOKEN
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [base, token] = process.argv.slice(2);
let passed = 0;
let failed = 0;
function ok(cond, what, extra) {
  if (cond) {
    passed++;
    console.log(`ok - ${what}`);
  } else {
    failed++;
    console.log(`not ok - ${what}${extra ? `: ${extra}` : ""}`);
  }
}

const doc = await (await fetch(`${base}/api/v1/openapi.json`)).json();
const validator = new Validator();
const verdict = await validator.validate(doc);
ok(verdict.valid && validator.version === "3.1", "the served document is valid OpenAPI 3.1",
   JSON.stringify(verdict.errors)?.slice(0, 800));
const opIds = Object.values(doc.paths).flatMap((p) => Object.values(p).map((op) => op.operationId));
ok(opIds.every(Boolean) && new Set(opIds).size === opIds.length, "operationIds are present and unique");

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema({ $id: "doc", components: doc.components, paths: doc.paths });
const esc = (s) => s.replaceAll("~", "~0").replaceAll("/", "~1");

// check(name, method, template, response, body): the status is documented
// for the operation and the body matches the documented schema.
function check(name, method, template, res, body) {
  const op = doc.paths[template]?.[method];
  let pointer = `#/paths/${esc(template)}/${method}/responses/${res.status}`;
  let documented = op?.responses?.[String(res.status)];
  if (documented?.$ref) {
    pointer = documented.$ref;
    documented = documented.$ref.split("/").slice(1).reduce((o, k) => o?.[k], doc);
  }
  if (!documented) {
    ok(false, `${name}: ${res.status} is documented for ${method.toUpperCase()} ${template}`);
    return;
  }
  if (res.status === 204) {
    ok(body === "", `${name}: 204 has no body`);
    return;
  }
  const type = (res.headers.get("content-type") || "").split(";")[0].trim();
  if (!documented.content?.[type]) {
    ok(false, `${name}: ${type} is documented for ${res.status}`);
    return;
  }
  if (type === "text/event-stream") {
    ok(body.startsWith("retry: "), `${name}: ${res.status} ${type}, opening with retry`);
    return;
  }
  const validate = ajv.compile({ $ref: `doc${pointer}/content/${esc(type)}/schema` });
  let value;
  try {
    value = JSON.parse(body);
  } catch {
    ok(false, `${name}: the body is JSON`);
    return;
  }
  ok(validate(value), `${name}: ${res.status} ${type} matches its schema`, ajv.errorsText(validate.errors));
  return value;
}

async function call(name, method, template, path, { body, headers = {}, auth = true, raw } = {}) {
  const h = { ...headers };
  if (auth) h.Authorization = `Bearer ${token}`;
  if (body !== undefined || raw !== undefined) h["Content-Type"] = "application/json";
  const res = await fetch(`${base}/api${path}`, {
    method: method.toUpperCase(), headers: h,
    body: raw !== undefined ? raw : body !== undefined ? JSON.stringify(body) : method === "post" ? "" : undefined,
  });
  const text = await res.text();
  return { res, value: check(name, method, template, res, text), text };
}

const R = "/v1/runs/{id}";
await call("health", "get", "/v1/health", "/v1/health", { auth: false });
await call("openapi", "get", "/v1/openapi.json", "/v1/openapi.json", { auth: false });
await call("types", "get", "/v1/types", "/v1/types");
await call("one type", "get", "/v1/types/{name}", "/v1/types/countdown");
await call("unknown type", "get", "/v1/types/{name}", "/v1/types/nope");
await call("no token", "get", "/v1/runs", "/v1/runs", { auth: false });

await call("bad JSON", "post", "/v1/runs", "/v1/runs", { raw: "{" });
await call("body too large", "post", "/v1/runs", "/v1/runs", { raw: " ".repeat(1100000) });
await call("unknown job type", "post", "/v1/runs", "/v1/runs", { body: { type: "nope" } });
await call("input against the schema", "post", "/v1/runs", "/v1/runs", { body: { type: "countdown", input: { n: -1 } } });
const created = await call("create", "post", "/v1/runs", "/v1/runs",
  { body: { type: "countdown", input: { n: 2, interval_ms: 10 } }, headers: { "Idempotency-Key": "contract-1" } });
ok(created.res.headers.get("location") === `/api/v1/runs/${created.value?.id}`, "create: Location names the run");
const replay = await call("idempotent replay", "post", "/v1/runs", "/v1/runs",
  { body: { type: "countdown", input: { n: 2, interval_ms: 10 } }, headers: { "Idempotency-Key": "contract-1" } });
ok(replay.res.headers.get("idempotent-replayed") === "true", "replay: Idempotent-Replayed: true");
await call("reused key", "post", "/v1/runs", "/v1/runs",
  { body: { type: "countdown" }, headers: { "Idempotency-Key": "contract-1" } });
await call("bad key", "post", "/v1/runs", "/v1/runs", { body: { type: "countdown" }, headers: { "Idempotency-Key": "a b" } });
const id = created.value.id;
const streamed = await call("create and stream", "post", "/v1/runs", "/v1/runs",
  { body: { type: "countdown", input: { n: 2, interval_ms: 0 }, on_disconnect: "cancel" }, headers: { Accept: "text/event-stream" } });
ok(/^\/api\/v1\/runs\/[A-Za-z0-9_-]{22}$/.test(streamed.res.headers.get("content-location") ?? ""), "create and stream: Content-Location names the run");
ok(streamed.text.includes("event: run_finished"), "create and stream: the stream runs to run_finished");
const scheduled = await call("create scheduled", "post", "/v1/runs", "/v1/runs",
  { body: { type: "countdown", start_after_s: 3600, expires_after_s: 7200, priority: 5, concurrency_key: "tenant-a" } });
ok(scheduled.value?.status === "queued" && scheduled.value?.priority === 5 && scheduled.value?.start_at !== null,
  "create scheduled: queued, with its priority and start_at");
await call("cancel the scheduled run", "post", `/v1/runs/{id}/cancel`, `/v1/runs/${scheduled.value?.id}/cancel`);
const hooked = await call("create with a webhook", "post", "/v1/runs", "/v1/runs",
  { body: { type: "countdown", input: { n: 1, interval_ms: 0 }, webhook: "http://127.0.0.1:9/hook" } });
ok(hooked.value?.webhook?.state === "pending", "create with a webhook: pending");
for (let i = 0; i < 200; i++) {
  const r = await (await fetch(`${base}/api/v1/runs/${hooked.value.id}`, { headers: { Authorization: `Bearer ${token}` } })).json();
  if (r.webhook?.state === "given_up") break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const given = await call("a given-up webhook", "get", R, `/v1/runs/${hooked.value.id}`);
ok(given.value?.webhook?.attempts?.length === 2 && given.value.webhook.attempts[0].error !== null,
  "a webhook that cannot connect: its attempts, with their errors, then given up");
await call("create with an internal webhook", "post", "/v1/runs", "/v1/runs", { body: { type: "countdown", webhook: "http://127.0.0.1:8/" } });
const expiring = await call("create to expire", "post", "/v1/runs", "/v1/runs",
  { body: { type: "countdown", start_after_s: 60, expires_after_s: 1 } });
let expired;
for (let i = 0; i < 200; i++) {
  expired = await (await fetch(`${base}/api/v1/runs/${expiring.value.id}`, { headers: { Authorization: `Bearer ${token}` } })).json();
  if (expired.status === "expired") break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const seenExpired = await call("an expired run", "get", R, `/v1/runs/${expiring.value.id}`);
ok(seenExpired.value?.status === "expired" && seenExpired.value?.error?.code === "expired", "an expired run: status and error expired");
await call("create with a bad start_at", "post", "/v1/runs", "/v1/runs", { body: { type: "countdown", start_at: "soon" } });
await call("on_disconnect without a stream", "post", "/v1/runs", "/v1/runs", { body: { type: "countdown", on_disconnect: "cancel" } });

const long = await call("create on a thread", "post", "/v1/runs", "/v1/runs",
  { body: { type: "countdown", input: { n: 600, interval_ms: 100 }, thread_id: "contract" } });
await call("thread busy", "post", "/v1/runs", "/v1/runs", { body: { type: "countdown", thread_id: "contract" } });
await call("rerun on a busy thread", "post", "/v1/runs/{id}/rerun", `/v1/runs/${long.value.id}/rerun`);
const rerun = await call("rerun", "post", "/v1/runs/{id}/rerun", `/v1/runs/${id}/rerun`);
ok(rerun.value?.rerun_of === id, "rerun: the new run's rerun_of names the original");
await call("rerun unknown", "post", "/v1/runs/{id}/rerun", "/v1/runs/AAAAAAAAAAAAAAAAAAAAAA/rerun");

await call("list", "get", "/v1/runs", "/v1/runs?limit=1");
await call("list with filters", "get", "/v1/runs", "/v1/runs?status=active&type=countdown&thread_id=contract");
await call("list bad limit", "get", "/v1/runs", "/v1/runs?limit=0");
await call("list by metadata", "get", "/v1/runs", "/v1/runs?metadata_key=tenant&metadata_value=acme");
await call("list by half a metadata filter", "get", "/v1/runs", "/v1/runs?metadata_key=tenant");
const capped = await call("list capped limit", "get", "/v1/runs", "/v1/runs?limit=100000");
ok(capped.res.status === 200, "a limit above 200 is capped, not refused", capped.res.status);
await call("list bad cursor", "get", "/v1/runs", "/v1/runs?cursor=zzz");
await call("get", "get", R, `/v1/runs/${id}`);
await call("get unknown", "get", R, "/v1/runs/AAAAAAAAAAAAAAAAAAAAAA");

const done = await call("wait until done", "get", `${R}/wait`, `/v1/runs/${id}/wait?timeout=20`);
ok(done.res.status === 200 && done.value.status === "succeeded", "wait: the run succeeded");
await call("wait times out", "get", `${R}/wait`, `/v1/runs/${long.value.id}/wait?timeout=0`);
await call("wait bad timeout", "get", `${R}/wait`, `/v1/runs/${id}/wait?timeout=999`);

const E = `${R}/events`;
const page = await call("events page", "get", E, `/v1/runs/${id}/events?limit=50`, { headers: { Accept: "application/json" } });
const last = page.value?.data?.at(-1)?.id;
await call("events stream", "get", E, `/v1/runs/${id}/events`, { headers: { Accept: "text/event-stream" } });
await call("events after the end", "get", E, `/v1/runs/${id}/events`, { headers: { Accept: "text/event-stream", "Last-Event-ID": last } });
await call("events bad cursor", "get", E, `/v1/runs/${id}/events`, { headers: { Accept: "text/event-stream", "Last-Event-ID": "x" } });
await call("events of an unknown run", "get", E, "/v1/runs/AAAAAAAAAAAAAAAAAAAAAA/events");

await call("resume a run that did not ask", "post", `${R}/resume`, `/v1/runs/${long.value.id}/resume`, { body: { input: {} } });
await call("resume without input", "post", `${R}/resume`, `/v1/runs/${long.value.id}/resume`, { body: {} });
const asker = await call("create an asker", "post", "/v1/runs", "/v1/runs", { body: { type: "asker" } });
for (let i = 0; i < 200; i++) {
  const r = await (await fetch(`${base}/api/v1/runs/${asker.value.id}`, { headers: { Authorization: `Bearer ${token}` } })).json();
  if (r.status === "input_required") break;
  await new Promise((resolve) => setTimeout(resolve, 50));
}
await call("resume with invalid input", "post", `${R}/resume`, `/v1/runs/${asker.value.id}/resume`, { body: { input: {} } });
await call("resume", "post", `${R}/resume`, `/v1/runs/${asker.value.id}/resume`, { body: { input: { answer: "yes" } } });

const produced = await call("create with a producer credential", "post", "/v1/runs", "/v1/runs",
  { body: { type: "countdown", input: { n: 600, interval_ms: 100 }, producer_token: true } });
const producer = { Authorization: `Bearer ${produced.value?.producer_token}` };
const P = `/v1/runs/${produced.value?.id}/events`;
const pub = await call("publish", "post", E, P, { auth: false, headers: producer, body: { event: "step_started", data: { name: "a" } } });
ok(/^[0-9]+-[0-9]+$/.test(pub.value?.id ?? ""), "publish: the event's id");
await call("publish with the owner's token", "post", E, P, { body: { event: "note" } });
await call("publish a reserved name", "post", E, P, { auth: false, headers: producer, body: { event: "run_finished", data: {} } });
await call("publish too much", "post", E, P, { auth: false, headers: producer, body: { event: "note", data: { t: "a".repeat(70000) } } });
await call("publish bad JSON", "post", E, P, { auth: false, headers: producer, raw: "{" });
await call("publish without credentials", "post", E, P, { auth: false, body: { event: "note" } });
await call("publish to an unknown run", "post", E, "/v1/runs/AAAAAAAAAAAAAAAAAAAAAA/events", { body: { event: "note" } });
await call("publish to a finished run", "post", E, `/v1/runs/${id}/events`, { body: { event: "note" } });
await call("cancel the produced run", "post", `${R}/cancel`, `/v1/runs/${produced.value?.id}/cancel?wait=1&timeout=20`);

await call("cancel with an unknown field", "post", `${R}/cancel`, `/v1/runs/${long.value.id}/cancel`, { body: { why: "x" } });
await call("cancel with a reason", "post", `${R}/cancel`, `/v1/runs/${long.value.id}/cancel`,
  { body: { reason: "contract test", discard: true } });
await call("cancel and wait", "post", `${R}/cancel`, `/v1/runs/${long.value.id}/cancel?wait=1&timeout=20`);
await call("cancel a finished run", "post", `${R}/cancel`, `/v1/runs/${id}/cancel`);
await call("cancel bad wait", "post", `${R}/cancel`, `/v1/runs/${id}/cancel?wait=7`);

// Errors outside any operation still follow the Problem schema.
const problem = ajv.compile({ $ref: "doc#/components/schemas/Problem" });
for (const [name, method, path] of [["unknown route", "GET", "/v1/nowhere"], ["wrong method", "DELETE", "/v1/runs"]]) {
  const res = await fetch(`${base}/api${path}`, { method, headers: { Authorization: `Bearer ${token}` } });
  ok(problem(await res.json()) && (res.status !== 405 || res.headers.get("allow")), `${name}: ${res.status} is a Problem`);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
