// End-to-end: held tool calls in MCP's own terms, through `stepgate shim` in front of the real MCP
// "everything" server.
// - 2025-11-25 URL-mode elicitation, with the official SDK client (1.32.2) declaring
//   `elicitation: {url: {}}`: the held call's stream carries elicitation/create (mode url, the
//   approve URL); the client's handler approves in the inbox with a TOTP code and accepts; the
//   same callTool then resolves with the upstream's result. A client without the capability
//   keeps today's isError answer.
// - 2026-07-28 input_required / requestState: the registry's newest SDK (1.32.2) does not speak
//   the stateless revision, so these are recorded messages sent with fetch (the shape of SEP-2322:
//   resultType "input_required", inputRequests, requestState; the retry carries inputResponses
//   and the state). The upstream gets the retry without them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as z from "zod";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { challengeIdOf, freePort, OathCodes, startProcess, stepgateRunner, textOf } from "./helpers.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = process.env.SOURCE_DIR || path.resolve(here, "../..");
const bin = process.env.STEPGATE_BIN || path.join(sourceDir, "build/stepgate");
const home = mkdtempSync(path.join(os.tmpdir(), "stepgate-elicit-"));
const env = { ...process.env, STEPGATE_HOME: home, STEPGATE_ACTOR: "alice", HOME: home };
const children = [];
const run = stepgateRunner(bin, env);
const codes = new OathCodes();

// step_up_response: instruct — elicitation is used because the client declared it, not because
// the policy asked for hold mode.
const POLICY = `
version: 1
name: shim-elicit-e2e
thresholds: { step_up: 50, deny: 100 }
step_up: { method: totp, max_age: "0", approvers: 1 }
agents:
  step_up_response: instruct
  hold: 30s
rules:
  - id: sums-need-a-human
    on: tool.call
    when: signals.tool == "get-sum"
    effect: step_up
    message: "get-sum needs a human"
`;

let upstreamUrl, shimUrl, direct, statelessUrl, stateless;
const seen = [];  // the stateless upstream's request bodies

// A stateless upstream (a fresh SDK server per request, no session), as in shim_stateless.test.mjs.
function statelessUpstream() {
  return http.createServer((req, res) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (c) => { text += c; });
    req.on("end", async () => {
      const body = JSON.parse(text);
      seen.push(body);
      const server = new McpServer({ name: "stateless-upstream", version: "1.0.0" });
      server.registerTool("get-sum", { inputSchema: { a: z.number(), b: z.number() } },
        async ({ a, b }) => ({ content: [{ type: "text", text: `The sum of ${a} and ${b} is ${a + b}.` }] }));
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on("close", () => { transport.close(); server.close(); });
      await server.connect(transport);
      await transport.handleRequest(req, res, body);
    });
  });
}

async function postJson(url, body, headers = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

async function connect(url, capabilities = {}) {
  const client = new Client({ name: "elicit-e2e", version: "1.0.0" }, { capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

const approve = async (id, url = shimUrl) =>
  postJson(`${url}/v1/approvals/${id}/approve`, { approver: "alice", code: await codes.codeFor("alice") });

before(async () => {
  writeFileSync(path.join(home, "policy.yaml"), POLICY);
  await codes.enroll(run, "alice");
  const port = await freePort();
  await startProcess(children, "node", [path.join(here, "node_modules/.bin/mcp-server-everything"), "streamableHttp"],
    { env: { ...process.env, PORT: String(port) }, cwd: here }, /listening on port/);
  upstreamUrl = `http://127.0.0.1:${port}/mcp`;
  const shim = await startProcess(children, bin, ["shim", "--upstream", upstreamUrl, "--listen", "127.0.0.1:0",
    "--policy", path.join(home, "policy.yaml")], { env }, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  shimUrl = shim.match[1];
  direct = await connect(upstreamUrl);
  stateless = statelessUpstream();
  await new Promise((r) => stateless.listen(0, "127.0.0.1", r));
  const second = await startProcess(children, bin, ["shim", "--upstream",
    `http://127.0.0.1:${stateless.address().port}/mcp`, "--listen", "127.0.0.1:0",
    "--policy", path.join(home, "policy.yaml")], { env }, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  statelessUrl = second.match[1];
});

after(async () => {
  await direct?.close().catch(() => {});
  for (const c of children) c.kill("SIGTERM");
  await new Promise((r) => (stateless ? stateless.close(r) : r()));
  rmSync(home, { recursive: true, force: true });
});

test("URL-mode elicitation: the client is asked to open the approve URL; the call completes once approved", async () => {
  const client = await connect(`${shimUrl}/mcp`, { elicitation: { url: {} } });
  try {
    const asked = [];
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request.params);
      // The user opens the page and approves with their code; the client then accepts.
      const approved = await approve(request.params.elicitationId);
      assert.equal(approved.status, 200, approved.text);
      return { action: "accept" };
    });
    const call = { name: "get-sum", arguments: { a: 19, b: 23 } };
    const result = await client.callTool(call, undefined, { timeout: 30000 });
    assert.equal(asked.length, 1);
    assert.equal(asked[0].mode, "url");
    assert.match(asked[0].elicitationId, /^[a-z2-7]{8}$/);
    assert.equal(asked[0].url, `${shimUrl}/approvals#${asked[0].elicitationId}`);
    assert.deepEqual(result, await direct.callTool(call));
    // The approval let that one call through, once.
    const again = await connect(`${shimUrl}/mcp`);
    try {
      const held = await again.callTool(call);
      assert.equal(held.isError, true);
      assert.notEqual(challengeIdOf(held), asked[0].elicitationId);
    } finally {
      await again.close().catch(() => {});
    }
  } finally {
    await client.close().catch(() => {});
  }
});

test("URL-mode elicitation declined: the call is refused and not run", async () => {
  const client = await connect(`${shimUrl}/mcp`, { elicitation: { url: {} } });
  try {
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "decline" }));
    const result = await client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } }, undefined, { timeout: 30000 });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /declined to open the approval page/);
  } finally {
    await client.close().catch(() => {});
  }
});

test("a client without URL elicitation keeps today's answer (isError with how to approve)", async () => {
  const client = await connect(`${shimUrl}/mcp`, { elicitation: { form: {} } });
  try {
    const result = await client.callTool({ name: "get-sum", arguments: { a: 2, b: 3 } });
    assert.equal(result.isError, true);
    assert.match(textOf(result), /stepgate approve [a-z2-7]{8}/);
  } finally {
    await client.close().catch(() => {});
  }
});

// ---- 2026-07-28: input_required with a signed requestState (recorded messages) ------------------

const STATELESS = "2026-07-28";
const statelessCall = (id, args, extra = {}, capabilities = { elicitation: { url: {} } }) => ({
  jsonrpc: "2.0",
  id,
  method: "tools/call",
  params: {
    name: "get-sum",
    arguments: args,
    _meta: {
      "io.modelcontextprotocol/protocolVersion": STATELESS,
      "io.modelcontextprotocol/clientInfo": { name: "recorded-2026-client", version: "1.0.0" },
      "io.modelcontextprotocol/clientCapabilities": capabilities,
    },
    ...extra,
  },
});
// The stateless revision's own header is refused by SDK 1.32.2's server (shim_stateless.test.mjs),
// so only the request's _meta names it here; the upstream sees the SDK's version.
const HEADERS = { accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25" };

/// The upstream's answer to a tools/call, JSON or one event.
function resultOf(r) {
  if (r.json) return r.json;
  const line = r.text.split("\n").find((l) => l.startsWith("data:"));
  return JSON.parse(line.slice(5));
}

test("2026-07-28: a held call answers input_required; the retry with the state passes once approved", async () => {
  const args = { a: 7, b: 35 };
  const first = await postJson(`${statelessUrl}/mcp`, statelessCall(1, args), HEADERS);
  assert.equal(first.status, 200, first.text);
  const result = first.json.result;
  assert.equal(result.resultType, "input_required");
  const ask = result.inputRequests["stepgate-approval"];
  assert.equal(ask.method, "elicitation/create");
  assert.equal(ask.params.mode, "url");
  const id = ask.params.elicitationId;
  assert.equal(ask.params.url, `${statelessUrl}/approvals#${id}`);
  assert.equal(typeof result.requestState, "string");

  const retry = (n, state, extra = {}) => postJson(`${statelessUrl}/mcp`, statelessCall(n, args,
    { inputResponses: { "stepgate-approval": { action: "accept" } }, requestState: state, ...extra }), HEADERS);

  // Before approval: input_required again.
  const early = await retry(2, result.requestState);
  assert.equal(early.json.result.resultType, "input_required");

  // A forged or edited state is refused; so is one used for another call.
  const forged = await retry(3, result.requestState.replace(/.$/, (c) => (c === "A" ? "B" : "A")));
  assert.equal(forged.json.error.code, -32602);
  assert.match(forged.json.error.message, /signature/);
  const other = await postJson(`${statelessUrl}/mcp`, statelessCall(4, { a: 1, b: 1 },
    { requestState: result.requestState }), HEADERS);
  assert.equal(other.json.error.code, -32602);
  assert.match(other.json.error.message, /another call/);

  const approved = await approve(id, statelessUrl);
  assert.equal(approved.status, 200, approved.text);
  const done = await retry(5, result.requestState);
  assert.equal(done.status, 200, done.text);
  const answer = resultOf(done);
  assert.equal(answer.id, 5);
  assert.equal(textOf(answer.result), "The sum of 7 and 35 is 42.");
  // The upstream got the call without the shim's requestState and inputResponses.
  const forwarded = seen.at(-1);
  assert.equal(forwarded.id, 5);
  assert.equal(forwarded.params.requestState, undefined);
  assert.equal(forwarded.params.inputResponses, undefined);
  assert.deepEqual(forwarded.params.arguments, args);
  // Once: the same state again is held anew.
  const replay = await retry(6, result.requestState);
  assert.ok(replay.json.result.resultType === "input_required" || replay.json.result.isError, replay.text);
});

test("2026-07-28: a declined input ends the call; a client without URL elicitation gets today's answer", async () => {
  const args = { a: 8, b: 9 };
  const first = await postJson(`${statelessUrl}/mcp`, statelessCall(10, args), HEADERS);
  const declined = await postJson(`${statelessUrl}/mcp`, statelessCall(11, args, {
    inputResponses: { "stepgate-approval": { action: "decline" } }, requestState: first.json.result.requestState,
  }), HEADERS);
  assert.equal(declined.json.result.isError, true);
  assert.match(textOf(declined.json.result), /declined/);

  const plain = await postJson(`${statelessUrl}/mcp`, statelessCall(12, { a: 4, b: 4 }, {}, {}), HEADERS);
  assert.equal(plain.json.result.isError, true);
  assert.equal(plain.json.result.resultType, undefined);
  assert.match(textOf(plain.json.result), /stepgate approve [a-z2-7]{8}/);
});

test("2026-07-28: a requestState outlives a restart of the shim that issued it", async () => {
  // Its own shim, stopped and started again over the same state directory: the state is signed
  // with the key kept there, so the new process accepts it (with a per-process key it said
  // "signature does not match").
  const upstream = `http://127.0.0.1:${stateless.address().port}/mcp`;
  const startShim = (port) => startProcess(children, bin, ["shim", "--upstream", upstream,
    "--listen", `127.0.0.1:${port}`, "--policy", path.join(home, "policy.yaml")], { env },
    /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  const firstShim = await startShim(0);
  const url = firstShim.match[1];
  const args = { a: 20, b: 22 };
  const held = await postJson(`${url}/mcp`, statelessCall(30, args), HEADERS);
  assert.equal(held.json.result.resultType, "input_required", held.text);
  const state = held.json.result.requestState;
  const id = held.json.result.inputRequests["stepgate-approval"].params.elicitationId;
  await new Promise((resolve) => {
    firstShim.child.removeAllListeners("exit");
    firstShim.child.once("exit", resolve);
    firstShim.child.kill("SIGTERM");
  });

  const secondShim = await startShim(new URL(url).port);
  const again = secondShim.match[1];
  const approved = await approve(id, again);
  assert.equal(approved.status, 200, approved.text);
  const done = await postJson(`${again}/mcp`, statelessCall(31, args,
    { inputResponses: { "stepgate-approval": { action: "accept" } }, requestState: state }), HEADERS);
  assert.equal(done.status, 200, done.text);
  assert.equal(done.json?.error, undefined, done.text);
  assert.equal(textOf(resultOf(done).result), "The sum of 20 and 22 is 42.");
});
