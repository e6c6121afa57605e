// End-to-end: the shim in front of a stateless MCP server (no session, no initialize, one request
// per POST, Mcp-Method / Mcp-Name routing headers as in the 2026-07-28 protocol), built with the
// official SDK (McpServer + StreamableHTTPServerTransport without a session id generator), driven
// with raw fetch.
//
// What the SDK (1.32.2) accepts: MCP-Protocol-Version values in SUPPORTED_PROTOCOL_VERSIONS only
// (newest 2025-11-25); "2026-07-28" gets HTTP 400 "Unsupported protocol version". So the calls
// here send the SDK's LATEST_PROTOCOL_VERSION with the 2026-style headers, and one test checks
// that a 2026-07-28 request reaches the upstream unchanged and comes back with its 400.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as z from "zod";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = process.env.SOURCE_DIR || path.resolve(here, "../..");
const bin = process.env.STEPGATE_BIN || path.join(sourceDir, "build/stepgate");
const home = mkdtempSync(path.join(os.tmpdir(), "stepgate-stateless-"));
const env = { ...process.env, STEPGATE_HOME: home, STEPGATE_ACTOR: "alice", HOME: home };

const POLICY = `
version: 1
name: stateless-e2e
thresholds: { step_up: 50, deny: 100 }
step_up: { method: totp, max_age: "0", approvers: 1 }
rules:
  - id: no-env
    on: tool.call
    when: signals.tool == "get-env"
    effect: deny
    message: "tool {tool} may not read the environment"
`;

// ---- the stateless upstream -------------------------------------------------------------------

const seen = [];  // one entry per HTTP request the upstream received: its headers and body

function makeServer() {
  const server = new McpServer({ name: "stateless-upstream", version: "1.0.0" });
  server.registerTool("echo", { inputSchema: { message: z.string() } },
    async ({ message }) => ({ content: [{ type: "text", text: `Echo: ${message}` }] }));
  server.registerTool("get-env", { inputSchema: {} },
    async () => ({ content: [{ type: "text", text: JSON.stringify(process.env) }] }));
  return server;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (c) => { data += c; });
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}

async function handle(req, res) {
  const text = await readBody(req);
  let body;
  try { body = JSON.parse(text); } catch { body = undefined; }
  seen.push({ headers: { ...req.headers }, body });
  // Stateless: a fresh server and transport for every request, closed with the response.
  const server = makeServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => { transport.close(); server.close(); });
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
}

let upstream, upstreamUrl, shim, shimUrl;

function startShim() {
  const child = spawn(bin, ["shim", "--upstream", upstreamUrl, "--listen", "127.0.0.1:0",
    "--policy", path.join(home, "policy.yaml")], { env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  return new Promise((resolve, reject) => {
    const onData = (data) => {
      output += data;
      const m = output.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve({ child, url: m[1] });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => reject(new Error(`shim exited (${code}): ${output}`)));
  });
}

before(async () => {
  writeFileSync(path.join(home, "policy.yaml"), POLICY);
  upstream = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500).end(String(e));
    });
  });
  await new Promise((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamUrl = `http://127.0.0.1:${upstream.address().port}/mcp`;
  ({ child: shim, url: shimUrl } = await startShim());
});

after(async () => {
  shim?.kill("SIGTERM");
  await new Promise((r) => upstream?.close(r));
  rmSync(home, { recursive: true, force: true });
});

// ---- helpers ----------------------------------------------------------------------------------

let nextId = 1;
const toolCall = (name, args) =>
  ({ jsonrpc: "2.0", id: nextId++, method: "tools/call", params: { name, arguments: args } });

function headersFor(message, extra = {}) {
  const h = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
    "mcp-protocol-version": LATEST_PROTOCOL_VERSION,
    "mcp-method": message.method,
  };
  const name = message.params?.name ?? message.params?.uri;
  if (name !== undefined) h["mcp-name"] = name;
  return { ...h, ...extra };
}

/// The JSON-RPC messages of a JSON or event-stream body.
function messagesOf(type, text) {
  if (!type.includes("text/event-stream")) return text ? [JSON.parse(text)] : [];
  return text.split("\n").filter((l) => l.startsWith("data:"))
    .map((l) => l.slice(5).trim()).filter((d) => d).map((d) => JSON.parse(d));
}

async function post(url, message, headers = headersFor(message)) {
  const res = await fetch(url, { method: "POST", headers, body: JSON.stringify(message) });
  const text = await res.text();
  const type = res.headers.get("content-type") || "";
  let messages = [];
  try { messages = messagesOf(type, text); } catch { /* not JSON-RPC */ }
  return { status: res.status, headers: res.headers, text, messages };
}

const resultOf = (r) => r.messages.find((m) => "result" in m || "error" in m);
const textOf = (result) => result.content.map((c) => c.text).join("\n");
const seenWith = (predicate) => seen.filter((s) => predicate(s.body ?? {}));

// ---- tests ------------------------------------------------------------------------------------

test("an allowed stateless tools/call returns the upstream's result unchanged", async () => {
  const message = toolCall("echo", { message: "stateless through the shim" });
  const direct = await post(upstreamUrl, message);
  assert.equal(direct.status, 200, direct.text);
  const viaShim = await post(`${shimUrl}/mcp`, message);
  assert.equal(viaShim.status, 200, viaShim.text);
  assert.deepEqual(resultOf(viaShim), resultOf(direct));
  assert.equal(textOf(resultOf(viaShim).result), "Echo: stateless through the shim");
  assert.equal(viaShim.headers.get("mcp-session-id"), null, "no session appears");

  const both = seenWith((b) => b.id === message.id);
  assert.equal(both.length, 2, "the upstream saw the direct call and the proxied one");
  for (const { headers } of both) {
    assert.equal(headers["mcp-method"], "tools/call");
    assert.equal(headers["mcp-name"], "echo");
    assert.equal(headers["mcp-protocol-version"], LATEST_PROTOCOL_VERSION);
    assert.equal(headers["mcp-session-id"], undefined);
  }
});

test("other stateless methods pass through with their Mcp-Method header", async () => {
  const message = { jsonrpc: "2.0", id: nextId++, method: "tools/list", params: {} };
  const r = await post(`${shimUrl}/mcp`, message);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(resultOf(r).result.tools.map((t) => t.name).sort(), ["echo", "get-env"]);
  const [got] = seenWith((b) => b.id === message.id);
  assert.equal(got.headers["mcp-method"], "tools/list");
  assert.equal(got.headers["mcp-name"], undefined);
});

test("Mcp-Param-* headers reach the upstream", async () => {
  const message = toolCall("echo", { message: "param" });
  const r = await post(`${shimUrl}/mcp`, message, headersFor(message, { "mcp-param-message": "param" }));
  assert.equal(r.status, 200, r.text);
  const [got] = seenWith((b) => b.id === message.id);
  assert.equal(got.headers["mcp-param-message"], "param");
});

test("a denied stateless call is an isError result with the reason, never sent upstream", async () => {
  const before = seen.length;
  const message = toolCall("get-env", {});
  const r = await post(`${shimUrl}/mcp`, message);
  assert.equal(r.status, 200, r.text);
  const answer = resultOf(r);
  assert.equal(answer.id, message.id);
  assert.equal(answer.result.isError, true);
  assert.match(textOf(answer.result), /denied by policy/);
  assert.match(textOf(answer.result), /no-env: tool get-env may not read the environment/);
  assert.equal(seen.length, before, "the upstream received nothing");
});

test("routing headers that disagree with the body are refused with 400", async () => {
  const before = seen.length;
  // A gateway routing on Mcp-Name would run get-env while the body (which the shim gates) says
  // echo, and the other way round: both are refused before anything is forwarded.
  const cases = [
    [toolCall("echo", { message: "x" }), { "mcp-name": "get-env" }, /Mcp-Name/],
    [toolCall("get-env", {}), { "mcp-name": "echo" }, /Mcp-Name/],
    [toolCall("echo", { message: "x" }), { "mcp-method": "tools/list" }, /Mcp-Method/],
    [{ jsonrpc: "2.0", id: nextId++, method: "tools/list" }, { "mcp-name": "echo" }, /Mcp-Name/],
  ];
  for (const [message, override, pattern] of cases) {
    const r = await post(`${shimUrl}/mcp`, message, headersFor(message, override));
    assert.equal(r.status, 400, `${JSON.stringify(override)}: ${r.text}`);
    const [error] = r.messages;
    assert.equal(error.id, message.id);
    assert.equal(error.error.code, -32600);
    assert.match(error.error.message, pattern);
  }
  const batch = [toolCall("echo", { message: "a" }), toolCall("echo", { message: "b" })];
  const r = await post(`${shimUrl}/mcp`, batch, headersFor(batch[0]));
  assert.equal(r.status, 400, r.text);
  assert.equal(seen.length, before, "the upstream received nothing");
});

test("a base64-encoded Mcp-Name is compared decoded", async () => {
  const message = toolCall("echo", { message: "b64" });
  const encoded = `=?base64?${Buffer.from("echo").toString("base64")}?=`;
  const r = await post(`${shimUrl}/mcp`, message, headersFor(message, { "mcp-name": encoded }));
  assert.equal(r.status, 200, r.text);
  assert.equal(textOf(resultOf(r).result), "Echo: b64");
  const wrong = `=?base64?${Buffer.from("get-env").toString("base64")}?=`;
  const refused = await post(`${shimUrl}/mcp`, message, headersFor(message, { "mcp-name": wrong }));
  assert.equal(refused.status, 400, refused.text);
});

test("a 2026-07-28 request goes upstream unchanged; gating does not depend on the version", async () => {
  const message = toolCall("echo", { message: "future" });
  const headers = headersFor(message, { "mcp-protocol-version": "2026-07-28" });
  const direct = await post(upstreamUrl, message, headers);
  const viaShim = await post(`${shimUrl}/mcp`, message, headers);
  assert.equal(direct.status, 400, "this SDK refuses the 2026-07-28 version");
  assert.match(direct.text, /Unsupported protocol version/);
  assert.equal(viaShim.status, direct.status);
  assert.deepEqual(viaShim.messages, direct.messages);
  const proxied = seenWith((b) => b.id === message.id).at(-1);
  assert.equal(proxied.headers["mcp-protocol-version"], "2026-07-28");
  assert.equal(proxied.headers["mcp-method"], "tools/call");
  assert.equal(proxied.headers["mcp-name"], "echo");

  const denied = toolCall("get-env", {});
  const r = await post(`${shimUrl}/mcp`, denied,
    headersFor(denied, { "mcp-protocol-version": "2026-07-28" }));
  assert.equal(resultOf(r).result.isError, true);
  assert.match(textOf(resultOf(r).result), /denied by policy/);
});
