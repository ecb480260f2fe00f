// The AI SDK's chat (ai: AbstractChat with its DefaultChatTransport),
// unchanged, against POST /v1/chat/{type} and its resume route. A chat
// sends a message and gets the job's text deltas as one assistant
// message; a chat that reloads mid-run (a new Chat of the same id, with
// the messages the page had kept) resumes by chat id and ends with the
// whole message, each delta once; after the end there is nothing to
// resume (204).
//   usage: node ai_chat.mjs BASE TOKEN DELTAS
// Prints "ok"/"not ok" lines; exits 1 on any failure.
import { AbstractChat, DefaultChatTransport } from 'ai';
import { check, eq, runChecks } from './harness.mjs';

const [base, token, deltasArg] = process.argv.slice(2);
const N = Number(deltasArg);
const want = Array.from({ length: N }, (_, i) => `w${i + 1} `).join('');

// The state a UI framework keeps (as @ai-sdk/react's does), in memory.
class State {
  constructor(messages = []) { this.messages = messages; this.status = 'ready'; this.error = undefined; }
  pushMessage(m) { this.messages = this.messages.concat(m); }
  popMessage() { this.messages = this.messages.slice(0, -1); }
  replaceMessage(i, m) { this.messages = [...this.messages.slice(0, i), m, ...this.messages.slice(i + 1)]; }
  snapshot(v) { return structuredClone(v); }
}
class Chat extends AbstractChat {
  constructor(opts) { const state = new State(opts.messages); super({ ...opts, state }); this.kept = state; }
}

// Records what the transport asked and was answered.
const requests = [];
const recording = async (url, init) => {
  const res = await fetch(url, init);
  requests.push(`${init?.method ?? 'GET'} ${new URL(url).pathname} ${res.status}`);
  return res;
};
const transport = () => new DefaultChatTransport({
  api: `${base}/api/v1/chat/talker`, headers: { Authorization: `Bearer ${token}` }, fetch: recording,
});
const text = (m) => (m?.parts ?? []).filter((p) => p.type === 'text').map((p) => p.text).join('');
const dataParts = (m, type) => (m?.parts ?? []).filter((p) => p.type === type);

async function whole() {
  const chat = new Chat({ id: `chat-${Date.now()}-a`, transport: transport() });
  await chat.sendMessage({ text: 'hello' });
  const [user, answer] = chat.messages;
  eq('sending a message: a user and an assistant message', ['user', 'assistant'], chat.messages.map((m) => m.role));
  check('the job got the chat messages as its input', dataParts(answer, 'data-chat.input')[0]?.data?.messages?.[0]?.parts?.[0]?.text === 'hello');
  check('the text deltas make one text part, each delta once, in order', text(answer) === want,
        `${text(answer).length} chars, want ${want.length}`);
  eq('one text part', 1, answer.parts.filter((p) => p.type === 'text').length);
  check('the assistant message is the run (its id)', /^[A-Za-z0-9_-]{20,}$/.test(answer.id), answer.id);
  eq('the run\'s end is a data part with its status', 'succeeded', dataParts(answer, 'data-run_finished')[0]?.data?.status);
  eq('the chat is ready, with no error', ['ready', undefined], [chat.status, chat.error?.message]);
  void user;
}

async function reload() {
  const id = `chat-${Date.now()}-b`;
  const first = new Chat({ id, transport: transport() });
  const sent = first.sendMessage({ text: 'tell me more' });
  // The page goes away once part of the answer is shown.
  for (let i = 0; i < 2000 && text(first.messages[1]).length < want.length / 4; i++)
    await new Promise((r) => setTimeout(r, 5));
  const partial = text(first.messages[1]);
  await first.stop();
  await sent.catch(() => {});
  check('the first page saw part of the answer, not all of it', partial.length > 0 && partial.length < want.length,
        `${partial.length} of ${want.length}`);
  // The reloaded page has what it had kept: the user's message.
  const before = requests.length;
  const again = new Chat({ id, transport: transport(), messages: [first.messages[0]] });
  await again.resumeStream();
  const answer = again.messages[1];
  eq('the reload resumed by chat id', [`GET /api/v1/chat/talker/${id}/stream 200`], requests.slice(before));
  check('the resumed answer is whole, each delta once, in order', text(answer) === want,
        `${text(answer).length} chars, want ${want.length}`);
  eq('messages after the resume: the user\'s and one answer', ['user', 'assistant'], again.messages.map((m) => m.role));
  eq('one run started, one ended in it', [1, 1],
     [dataParts(answer, 'data-run_started').length, dataParts(answer, 'data-run_finished').length]);
  // Once the run is over, a reload has nothing to resume.
  const later = new Chat({ id, transport: transport(), messages: again.messages });
  const n = requests.length;
  await later.resumeStream();
  eq('after the end: 204, and the chat stays as it was', [[`GET /api/v1/chat/talker/${id}/stream 204`], 2, 'ready'],
     [requests.slice(n), later.messages.length, later.status]);
}

await runChecks(async () => { await whole(); await reload(); }, 120000);
