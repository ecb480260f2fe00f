// The console at / and www/opstream.js in Debian's Chromium (playwright-core),
// used as a person would: forms, buttons, the runs list. Then a 500-event
// run followed through SIGKILLed responders and two seconds in which the
// web server answers 503 (the FastCGI socket gone): every event once, in
// order, "reconnecting" then "finished", and no request after the last event.
//   usage: TOKEN=... node console.mjs BASE_URL MARK SOCKET SCREENSHOT
// TOKEN: a bearer token of the stack (auth = token); MARK: the test's
// directory (the victims' command lines hold it); SOCKET: opstream's
// FastCGI socket, moved away for the outage; SCREENSHOT: where the picture
// of the page mid-run goes.
import { execFileSync } from "node:child_process";
import { readFileSync, renameSync } from "node:fs";
import { launchChromium, pidsOf } from "./browser.mjs";

const [base, mark, socket, shot] = process.argv.slice(2);
const token = process.env.TOKEN;
let passed = 0;
let failed = 0;
function ok(cond, what, extra) {
  if (cond) passed++, console.log(`ok - ${what}`);
  else failed++, console.log(`not ok - ${what}${extra !== undefined ? `: ${extra}` : ""}`);
}


const browser = await launchChromium();
const page = await browser.newPage({ viewport: { width: 1000, height: 1100 } });
const pageErrors = [];
page.on("pageerror", (err) => pageErrors.push(String(err)));
page.setDefaultTimeout(60000);

// Every request the page makes, with the time it was made.
const requests = [];
page.on("request", (r) => requests.push({ t: Date.now(), url: r.url(), method: r.method() }));
const responses = [];
page.on("response", (r) => responses.push({ t: Date.now(), url: r.url(), status: r.status() }));

// axe-core's WCAG 2.1 A and AA rules over the page as it is.
const axeSource = readFileSync(new URL("./node_modules/axe-core/axe.min.js", import.meta.url), "utf8");
async function accessible(what) {
  if (!await page.evaluate(() => "axe" in window)) await page.addScriptTag({ content: axeSource });
  const found = await page.evaluate(() => axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }));
  ok(found.violations.length === 0, `accessible (axe, WCAG 2.1 AA): ${what}`,
    found.violations.map((v) => `${v.id} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`).join("; "));
}

const progressOf = () => page.$$eval("#events li[data-type=progress] code", (els) => els.map((e) => JSON.parse(e.textContent).current));
const runId = () => page.textContent("#run-id");
// Until the page's stream ends: an end other than "finished" fails at once.
async function finished() {
  const el = await page.waitForSelector('#connection:is([data-state="finished"], [data-state="failed"])');
  if (await el.getAttribute("data-state") !== "finished") throw new Error(`the stream ended: ${await el.textContent()}`);
}

async function start(type, fill) {
  const before = await runId();
  await page.selectOption("#type", type);
  await fill();
  await page.getByRole("button", { name: "Start", exact: true }).click();
  await page.waitForFunction((old) => document.getElementById("run-id").textContent !== old && !document.getElementById("run").hidden,
    before);
  return runId();
}

async function main() {
  await page.goto(`${base}/`);
  await page.waitForSelector("#auth[open]");
  ok(/bearer token/.test(await page.textContent("#error")), "without a token the console asks for one",
    await page.textContent("#error"));
  await page.getByLabel(/^Bearer token/).fill(token);
  await page.getByLabel(/^Bearer token/).press("Enter");
  await page.waitForSelector("#type option[value=countdown]", { state: "attached" });
  ok(await page.isHidden("#error"), "with the token the console works");
  const typeNames = await page.$$eval("#type option", (els) => els.map((e) => e.value));
  ok(["ask", "countdown", "steps"].every((t) => typeNames.includes(t)), "the console lists the job types", typeNames.join(","));

  // --- A countdown: every progress event, the bar, the result; a picture mid-run.
  const countdown = await start("countdown", async () => {
    await page.getByLabel(/^n\b/).fill("20");
    await page.getByLabel(/^interval_ms\b/).fill("100");
  });
  await page.waitForFunction(() => document.getElementById("bar").value >= 8);
  await page.screenshot({ path: shot, fullPage: true });
  await finished();
  ok(JSON.stringify(await progressOf()) === JSON.stringify(Array.from({ length: 20 }, (_, i) => i + 1)),
    "countdown: progress 1..20, each once, in order", JSON.stringify(await progressOf()));
  ok(await page.textContent("#counts") === "20 of 20" && await page.$eval("#bar", (b) => b.value === 20 && b.max === 20),
    "countdown: the bar is full", await page.textContent("#counts"));
  ok(await page.textContent("#run-status") === "succeeded", "countdown: succeeded", await page.textContent("#run-status"));
  const result = JSON.parse(await page.textContent("#outcome-body"));
  ok(result.counted === 20 && await page.textContent("#outcome-title") === "Result", "countdown: its result is shown", JSON.stringify(result));
  ok(await page.isHidden("#cancel"), "countdown: no Cancel once the run is over");
  await accessible("a finished run, the start form and the list");

  // --- Steps: an array field with three items, then the steps with their states and durations.
  const stepsRun = await start("steps", async () => {
    await page.getByLabel("Thread (optional)").fill("build-42");
    for (const name of ["fetch", "build", "ship"]) {
      await page.getByRole("button", { name: "Add steps item" }).click();
      await page.locator("#input-fields fieldset li input").last().fill(name);
    }
    await page.getByLabel(/^delay_ms\b/).fill("150");
  });
  const running = await page.waitForSelector('#steps li[data-status="running"]', { timeout: 10000 }).then(() => true, () => false);
  ok(running, "steps: a step shows as running while it runs");
  await finished();
  const steps = await page.$$eval("#steps li", (els) => els.map((e) => ({
    name: e.querySelector(".step-name").textContent, status: e.dataset.status, took: e.querySelector(".hint").textContent })));
  ok(JSON.stringify(steps.map((s) => s.name)) === '["fetch","build","ship"]', "steps: the three steps, in order", JSON.stringify(steps));
  ok(steps.every((s) => s.status === "succeeded"), "steps: each succeeded", JSON.stringify(steps));
  // How long each took, from its step_started to its step_finished event
  // (their ids are the times they were appended).
  const took = await page.$$eval('#events li[data-type^="step_"]', (els) => {
    const at = {};
    for (const e of els) (at[e.dataset.type] ||= []).push(Number(e.dataset.id.split("-")[0]));
    return at.step_finished.map((t, i) => `${((t - at.step_started[i]) / 1000).toFixed(2)} s`);
  });
  ok(JSON.stringify(steps.map((s) => s.took)) === JSON.stringify(took) && took.every((t) => parseFloat(t) > 0),
    "steps: each shows how long it took, from its events", `${JSON.stringify(steps.map((s) => s.took))} vs ${JSON.stringify(took)}`);

  // --- Every kind of field: nested object, enum, bounds, boolean, array.
  const posts = () => requests.filter((r) => r.method === "POST" && r.url.endsWith("/api/v1/runs")).length;
  await page.getByLabel("Thread (optional)").fill("");
  await page.selectOption("#type", "release");
  const envs = await page.$$eval("#input-fields fieldset select[name=env] option", (els) => els.map((e) => e.textContent));
  ok(JSON.stringify(envs) === '["staging","production"]', "form: an enum becomes a choice of its values", JSON.stringify(envs));
  await page.selectOption("#input-fields select[name=env]", { label: "production" });
  await page.getByLabel(/^replicas\b/).fill("12");
  await page.getByLabel(/^canary\b/).check();
  await page.getByLabel(/^ratio\b/).fill("0.5");
  await page.getByRole("button", { name: "Add steps item" }).click();
  await page.locator("#input-fields fieldset li input").last().fill("ship");
  const before = posts();
  await page.getByRole("button", { name: "Start", exact: true }).click();
  ok(posts() === before && await page.$eval("#input-fields input[name=replicas]", (i) => i.validity.rangeOverflow),
    "form: a number above its maximum is refused in the page, not sent");
  const release = await start("release", async () => { await page.getByLabel(/^replicas\b/).fill("3"); });
  await finished();
  const sent = await page.evaluate(async ([id, token]) =>
    (await (await fetch(`/api/v1/runs/${id}`, { headers: { Authorization: `Bearer ${token}` } })).json()).input, [release, token]);
  ok(JSON.stringify(sent) === JSON.stringify({ steps: ["ship"], target: { env: "production", replicas: 3, canary: true }, ratio: 0.5 }),
    "form: the run's input is what was entered, nested, with the empty optional field left out", JSON.stringify(sent));

  // --- One of several shapes: the kind picks the fields shown and sent.
  await page.selectOption("#type", "visit");
  const kinds = await page.$$eval("#input-fields select[name=kind] option", (els) => els.map((e) => e.value));
  const labFields = await page.$$eval("#input-fields input", (els) => els.map((e) => e.name));
  await page.selectOption("#input-fields select[name=kind]", "field");
  const fieldFields = await page.$$eval("#input-fields input", (els) => els.map((e) => e.name));
  ok(JSON.stringify(kinds) === '["lab","field"]' && JSON.stringify(labFields) === '["samples"]' &&
     JSON.stringify(fieldFields) === '["site"]', "form: oneOf by kind offers the kinds and shows the chosen one's fields",
  JSON.stringify({ kinds, labFields, fieldFields }));
  const visit = await start("visit", async () => { await page.getByLabel(/^site\b/).fill("north ridge"); });
  await finished();
  const visitInput = await page.evaluate(async ([id, token]) =>
    (await (await fetch(`/api/v1/runs/${id}`, { headers: { Authorization: `Bearer ${token}` } })).json()).input, [visit, token]);
  ok(visitInput.kind === "field" && visitInput.site === "north ridge" && Object.keys(visitInput).length === 2,
    "form: the run's input is the chosen shape's", JSON.stringify(visitInput));

  // --- Cancel: a long countdown, cancelled from its button.
  await start("countdown", async () => {
    await page.getByLabel(/^n\b/).fill("1000");
    await page.getByLabel(/^interval_ms\b/).fill("100");
  });
  await page.waitForFunction(() => document.getElementById("bar").value >= 2);
  await page.getByRole("button", { name: "Cancel", exact: true }).click();
  await finished();
  ok(await page.textContent("#run-status") === "cancelled", "cancel: the run ends cancelled", await page.textContent("#run-status"));
  const last = await page.$eval("#events li:last-child", (e) => [e.dataset.type, e.textContent]);
  ok(last[0] === "run_finished" && last[1].includes('"cancelled"'), "cancel: its last event is run_finished, cancelled", last.join(" "));
  ok((await progressOf()).length < 1000, "cancel: the countdown stopped early");

  // --- Ask: the job's input form, built from the schema it sent.
  await start("ask", async () => { await page.getByLabel(/^prompt\b/).fill("Whose turn is it?"); });
  await page.waitForSelector("#answer:not([hidden])");
  ok(await page.textContent("#prompt") === "Whose turn is it?", "ask: the job's prompt is shown");
  ok(await page.textContent("#run-status") === "input_required", "ask: the run waits for input");
  await accessible("the form a job asked for");
  const resumes = () => requests.filter((r) => r.url.endsWith("/resume")).length;
  await page.getByRole("button", { name: "Send" }).click();
  ok(resumes() === 0 && await page.$eval("#answer-fields input", (i) => !i.validity.valid),
    "ask: an empty answer (minLength 1) is refused in the page, not sent");
  await page.getByLabel(/^answer\b/).fill("Ada");
  await page.getByLabel(/^answer\b/).press("Enter");
  await finished();
  ok(resumes() === 1, "ask: one resume was sent", resumes());
  ok(JSON.parse(await page.textContent("#outcome-body")).answer === "Ada" && await page.textContent("#run-status") === "succeeded",
    "ask: the answer came back as the result");
  ok(await page.isHidden("#answer"), "ask: the form is gone once answered");

  // --- opstream.js on its own: the plain events URL with the bearer token.
  const plain = await page.evaluate(async ([id, token]) => {
    const { follow } = await import("/opstream.js");
    const url = `/api/v1/runs/${id}/events`;
    const types = [];
    const whole = await follow(url, { token, on: { "*": (d, e) => types.push(e.type) } }).done;
    const tail = await follow(url, { token, after: whole.lastEventId }).done;
    const anon = await follow(url).done;
    return { whole, tail, anon, types };
  }, [countdown, token]);
  ok(plain.whole.connection === "finished" && plain.whole.status === "succeeded" && plain.whole.result.counted === 20 &&
     plain.whole.progress.current === 20 && plain.types.filter((t) => t === "progress").length === 20,
  "opstream.js: with a bearer token, the whole run and its state", JSON.stringify(plain.whole));
  ok(plain.tail.connection === "finished" && plain.tail.events === 0, "opstream.js: from the last event on, 204 ends it at once",
    JSON.stringify(plain.tail));
  ok(plain.anon.connection === "failed" && plain.anon.problem.status === 401 && plain.anon.attempts === 0,
    "opstream.js: without the token, 401 ends it, with no retry", JSON.stringify(plain.anon));

  // --- The list: filters, paging, and a past run opened and replayed.
  await page.evaluate(async (token) => {
    for (let i = 0; i < 11; i++) {
      await fetch("/api/v1/runs", { method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({ type: "fail", input: { exit_status: 3, message: `page ${i}` } }) });
    }
  }, token);
  await page.goto(`${base}/`);
  await page.waitForSelector("#filter-type option[value=fail]", { state: "attached" });
  await page.selectOption("#filter-type", "fail");
  await page.getByRole("button", { name: "Show" }).click();
  await page.waitForFunction(() => [...document.querySelectorAll("#runs tbody tr")].length === 10 &&
    [...document.querySelectorAll("#runs tbody tr td:nth-child(2)")].every((td) => td.textContent === "fail"));
  const page1 = await page.$$eval("#runs tbody tr", (rows) => rows.map((r) => r.dataset.id));
  await page.getByRole("button", { name: "Next page" }).click();
  await page.waitForFunction(() => document.getElementById("runs").dataset.page === "1");
  const page2 = await page.$$eval("#runs tbody tr", (rows) => rows.map((r) => r.dataset.id));
  ok(page2.length === 1 && !page1.includes(page2[0]) && await page.isDisabled("#next-page"),
    "list: 11 runs of a type come as 10, then 1 on the next page", `${page1.length} then ${page2.length}`);

  await page.selectOption("#filter-type", "");
  await page.fill("#filters input[name=thread_id]", "build-42");
  await page.getByRole("button", { name: "Show" }).click();
  await page.waitForFunction(() => document.querySelectorAll("#runs tbody tr").length === 1 &&
    document.querySelector("#runs tbody tr td:nth-child(4)").textContent === "build-42");
  ok(await page.$eval("#runs tbody tr", (r) => r.dataset.id) === stepsRun, "list: the filter by thread finds the steps run");

  await page.selectOption("#filter-type", "countdown");
  await page.selectOption("#filters select[name=status]", "succeeded");
  await page.fill("#filters input[name=thread_id]", "");
  await page.getByRole("button", { name: "Show" }).click();
  const row = page.locator(`#runs tr[data-id="${countdown}"]`);
  await row.waitFor();
  const listed = await page.$$eval("#runs tbody tr", (rows) => rows.map((r) => [r.children[1].textContent, r.children[2].textContent]));
  ok(listed.every(([t, s]) => t === "countdown" && s === "succeeded"), "list: the filters by type and status hold", JSON.stringify(listed));
  await row.getByRole("button").focus();
  await page.keyboard.press("Enter");
  await finished();
  ok(await runId() === countdown, "replay: the past run opens from the list (by keyboard)");
  ok(JSON.stringify(await progressOf()) === JSON.stringify(Array.from({ length: 20 }, (_, i) => i + 1)) &&
     JSON.parse(await page.textContent("#outcome-body")).counted === 20,
    "replay: all 20 progress events and the result again");

  // --- Run again: a new run of the same input, linked to the first.
  await page.getByRole("button", { name: "Run again" }).click();
  await page.waitForFunction((old) => document.getElementById("run-id").textContent !== old, countdown);
  const again = await runId();
  await finished();
  const linked = await page.evaluate(async ([id, token]) =>
    (await (await fetch(`/api/v1/runs/${id}`, { headers: { Authorization: `Bearer ${token}` } })).json()), [again, token]);
  ok(linked.rerun_of === countdown && linked.input.n === 20 && JSON.parse(await page.textContent("#outcome-body")).counted === 20,
    "run again: a new run of the same input, rerun_of the first, followed to its result", JSON.stringify(linked.rerun_of));

  // --- 500 events through SIGKILLed responders and a 503 outage.
  await page.evaluate(() => {
    window.connections = [];
    const conn = document.getElementById("connection");
    new MutationObserver(() => {
      if (window.connections.at(-1) !== conn.dataset.state) window.connections.push(conn.dataset.state);
    }).observe(conn, { attributes: true, attributeFilter: ["data-state"] });
    window.finishedAt = null;
    new MutationObserver(() => {
      if (!window.finishedAt && document.querySelector('#events li[data-type="run_finished"]')) window.finishedAt = Date.now();
    }).observe(document.getElementById("events"), { childList: true });
  });
  const big = await start("countdown", async () => {
    await page.getByLabel(/^n\b/).fill("500");
    await page.getByLabel(/^interval_ms\b/).fill("20");
  });
  const bar = () => page.$eval("#bar", (b) => b.value);
  const advanced = (from, by) => page.waitForFunction(([f, b]) => document.getElementById("bar").value >= f + b, [from, by]);
  let kills = 0;
  await advanced(0, 30);
  for (let round = 0; round < 4; round++) {
    const at = await bar();
    for (const pid of pidsOf("fcgi-responder", mark)) {
      try { process.kill(Number(pid), "SIGKILL"); kills++; } catch {}
    }
    await advanced(at, 25);
  }
  // The outage: the socket gone, the streams cut, the server answers 503 for 2 s.
  const eventsUrl = (u) => u.includes(`/runs/${big}/events`);
  const outageFrom = Date.now();
  renameSync(socket, `${socket}.away`);
  for (const pid of pidsOf("fcgi-responder", mark)) {
    try { process.kill(Number(pid), "SIGKILL"); kills++; } catch {}
  }
  try {
    await page.waitForFunction(() => window.connections.at(-1) === "reconnecting");
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, outageFrom + 2000 - Date.now())));
  } finally {
    renameSync(`${socket}.away`, socket);
  }
  const during = responses.filter((r) => eventsUrl(r.url) && r.t >= outageFrom);
  ok(during.some((r) => r.status === 503), "the web server answered the page 503 during the outage",
    JSON.stringify(during.map((r) => r.status)));
  await finished();
  // Nothing may follow the final event: watched for 3 s, 30 times the
  // reconnection time the server sets here (retry_ms 100).
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const finishedAt = await page.evaluate(() => window.finishedAt);
  const after = requests.filter((r) => r.t > finishedAt);
  ok(finishedAt !== null && after.length === 0, "no request after the final event", JSON.stringify(after.map((r) => r.url)));
  const progress = await progressOf();
  ok(progress.length === 500 && progress.every((v, i) => v === i + 1), "500 events: progress 1..500, each once, in order",
    `${progress.length} progress events`);
  const ids = await page.$$eval("#events li", (els) => els.map((e) => e.dataset.id));
  const types = await page.$$eval("#events li", (els) => els.map((e) => e.dataset.type));
  ok(new Set(ids).size === ids.length && types.filter((t) => t === "run_finished").length === 1 && types.at(-1) === "run_finished",
    "500 events: no id twice, one run_finished, last");
  const connections = await page.evaluate(() => window.connections);
  const rec = connections.indexOf("reconnecting");
  ok(rec >= 0 && connections.at(-1) === "finished" && connections.indexOf("finished") > rec,
    "the indicator showed reconnecting, then finished", connections.join(" > "));
  const opened = requests.filter((r) => eventsUrl(r.url)).length;
  ok(kills >= 4 && opened >= 6, "it read through the kills and the outage", `${kills} responders killed, ${opened} stream requests`);
  console.log(`# ${kills} responders killed; ${opened} stream requests; answers ${JSON.stringify(
    responses.filter((r) => eventsUrl(r.url)).map((r) => r.status))}`);
  // --- A run whose events are gone from Redis (retention) and the archive (gc).
  execFileSync(process.env.OPSTREAM_CLI, ["-c", process.env.OPSTREAM_CONF, "gc", "--archives-older-than", "0"]);
  await page.goto("about:blank");
  await page.goto(`${base}/#${countdown}`);
  await finished();
  const gone = await page.$$eval("#events li", (els) => els.map((e) => e.dataset.type));
  ok(JSON.stringify(gone) === '["gap"]' && /expired/.test(await page.textContent("#gap-note")) &&
     await page.textContent("#run-status") === "succeeded" && JSON.parse(await page.textContent("#outcome-body")).counted === 20,
  "a run with its history gone: one gap, said so, and its ending from the snapshot", JSON.stringify(gone));
  const goneAnswers = responses.filter((r) => r.url.includes(`/runs/${countdown}/events`) && r.t > finishedAt).map((r) => r.status);
  ok(JSON.stringify(goneAnswers) === "[200,204]", "…and the stream ends with 204 after the gap", JSON.stringify(goneAnswers));
  ok(pageErrors.length === 0, "no script error in the page", pageErrors.join("; "));
}

try {
  await main();
} catch (err) {
  ok(false, "the console test ran to its end", `${err.stack}\n# page errors: ${pageErrors.join("; ")}`);
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
