// End-to-end: hostile HTTP clients against the real `stepgate shim`. A tools/call nested 50,000
// deep (97 KB) is refused with a JSON-RPC error naming the nesting limit and the shim stays up; a
// chunked body (which cpp-httplib would read to no limit) is refused before it is read;
// a request whose Host is not a loopback name (DNS rebinding) is refused unless --public-name
// allows it. Real HTTP: fetch, and node:http where the Host header must be chosen.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startProcess } from "./helpers.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = process.env.SOURCE_DIR || path.resolve(here, "../..");
const bin = process.env.STEPGATE_BIN || path.join(sourceDir, "build/stepgate");
const home = mkdtempSync(path.join(os.tmpdir(), "stepgate-shim-limits-"));
const env = { ...process.env, STEPGATE_HOME: home, STEPGATE_ACTOR: "alice", HOME: home };
const children = [];

const POLICY = `
version: 1
name: shim-limits
thresholds: { step_up: 50, deny: 100 }
rules:
  - id: no-env
    on: tool.call
    when: signals.tool == "get-env"
    effect: deny
    message: "no"
  - id: echo-needs-a-human
    on: tool.call
    when: signals.tool == "echo"
    effect: step_up
    message: "echo of {action.attributes.arguments.message}"
`;

let shimUrl, shimPort, publicPort, shimChild;

/// A GET with the Host header as given (fetch sets its own); resolves { status, body }.
function getWithHost(port, urlPath, host) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: urlPath, method: "GET",
      headers: { Host: host } }, (res) => {
      let body = "";
      res.on("data", (d) => { body += d; });
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

function deepCall(depth) {
  const args = `{"payload":${"[".repeat(depth)}${"]".repeat(depth)}}`;
  return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":${args}}}`;
}

async function startShim(extra) {
  const down = await freePort();  // no upstream is needed: nothing here reaches one
  return startProcess(children, bin, ["shim", "--upstream", `http://127.0.0.1:${down}/mcp`,
    "--listen", "127.0.0.1:0", "--policy", path.join(home, "policy.yaml"), ...extra], { env },
  /listening on (http:\/\/127\.0\.0\.1:(\d+))/);
}

before(async () => {
  writeFileSync(path.join(home, "policy.yaml"), POLICY);
  const shim = await startShim([]);
  shimChild = shim.child;
  shimUrl = shim.match[1];
  shimPort = Number(shim.match[2]);
  publicPort = Number((await startShim(["--public-name", "gate.example.com"])).match[2]);
});

after(() => {
  for (const c of children) c.kill("SIGTERM");
  rmSync(home, { recursive: true, force: true });
});

test("a tools/call nested 50,000 deep is refused naming the limit, and the shim lives on", async () => {
  for (const depth of [65, 10000, 50000]) {
    const body = deepCall(depth);
    const res = await fetch(`${shimUrl}/mcp`, { method: "POST", body,
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" } });
    assert.equal(res.status, 400, `depth ${depth}`);
    const reply = await res.json();
    assert.equal(reply.jsonrpc, "2.0");
    assert.equal(reply.error.code, -32700);
    assert.match(reply.error.message, /nests deeper than the limit of 64 levels/);
  }
  assert.equal(shimChild.exitCode, null, "the shim process is still running");
  assert.equal(shimChild.signalCode, null);
  const health = await fetch(`${shimUrl}/healthz`);
  assert.equal(health.status, 200);
});

test("a chunked request body (no length, so no limit) is refused before it is read", async () => {
  const status = await new Promise((resolve, reject) => {
    // node:http sends a body it is not told the length of in chunks.
    const req = http.request({ host: "127.0.0.1", port: shimPort, path: "/mcp", method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" } },
    (res) => {
      let body = "";
      res.on("data", (d) => { body += d; });
      res.on("end", () => resolve({ code: res.statusCode, body }));
    });
    req.on("error", reject);
    req.write('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo",');
    req.end('"arguments":{"message":"' + "a".repeat(1 << 20) + '"}}}');
  });
  assert.equal(status.code, 411);
  assert.equal(JSON.parse(status.body).error.code, -32600);
  assert.match(JSON.parse(status.body).error.message, /Content-Length/);
  assert.equal(shimChild.exitCode, null, "the shim process is still running");
});

test("a body in another charset than UTF-8 is refused: the upstream would read another call", async () => {
  // body-parser (express.json, the MCP SDK's Express app) decodes charset=utf-7: this tool name
  // gated as written would run as "delete-everything" there.
  const body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":' +
    '"+AGQAZQBsAGUAdABlAC0AZQB2AGUAcgB5AHQAaABpAG4AZw-","arguments":{}}}';
  for (const type of ["application/json; charset=utf-7", "application/json;charset=UTF-16",
    "text/plain", "application/json; boundary=x"]) {
    const res = await fetch(`${shimUrl}/mcp`, { method: "POST", body,
      headers: { "content-type": type, accept: "application/json, text/event-stream" } });
    assert.equal(res.status, 415, type);
    const reply = await res.json();
    assert.equal(reply.error.code, -32600);
    assert.match(reply.error.message, /Content-Type/);
  }
});

test("a header holding a bare CR or a NUL is refused before anything is forwarded", async () => {
  // node:http will not send these: a raw socket does.
  const { connect } = await import("node:net");
  for (const header of ["Authorization: Bearer a\rX-Injected: yes", "Authorization: a\u0000b"]) {
    const answer = await new Promise((resolve, reject) => {
      const body = '{"jsonrpc":"2.0","id":1,"method":"ping"}';
      // Written without closing our side: cpp-httplib writes no answer to a peer it has seen
      // close (Connection: close has it close once it has answered).
      const socket = connect(shimPort, "127.0.0.1", () => {
        socket.write(`POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:${shimPort}\r\n${header}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
          `Connection: close\r\n\r\n${body}`);
      });
      let text = "";
      socket.on("data", (d) => { text += d; });
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    assert.match(answer, /^HTTP\/1\.1 400 /, JSON.stringify(header));
    assert.match(answer, /control character/);
  }
});

test("a Host that is not a loopback name is refused (DNS rebinding)", async () => {
  for (const host of ["evil.example", `evil.example:${shimPort}`, "gate.example.com"]) {
    const res = await getWithHost(shimPort, "/v1/approvals", host);
    assert.equal(res.status, 403, host);
    assert.match(res.body, /Host header is not a loopback name/);
  }
  for (const host of [`127.0.0.1:${shimPort}`, `localhost:${shimPort}`, `[::1]:${shimPort}`]) {
    const res = await getWithHost(shimPort, "/v1/approvals", host);
    assert.equal(res.status, 200, host);
    assert.ok(Array.isArray(JSON.parse(res.body).approvals));
  }
  const mcp = await getWithHost(shimPort, "/approvals", "evil.example");
  assert.equal(mcp.status, 403, "the approvals page too");
});

test("a configured --public-name is allowed, other names still are not", async () => {
  assert.equal((await getWithHost(publicPort, "/v1/approvals", "gate.example.com")).status, 200);
  assert.equal((await getWithHost(publicPort, "/v1/approvals", "GATE.example.com:443")).status, 200);
  assert.equal((await getWithHost(publicPort, "/v1/approvals", "evil.example")).status, 403);
});

test("the inbox shows a held call's arguments and reasons redacted", async () => {
  const secret = "AKIA" + "Z7Q3XK2M4NPLW5RT";  // assembled: the file holds no key verbatim
  const body = { jsonrpc: "2.0", id: 5, method: "tools/call",
    params: { name: "echo", arguments: { message: `key=${secret}` } } };
  const res = await fetch(`${shimUrl}/mcp`, { method: "POST", body: JSON.stringify(body),
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" } });
  assert.equal(res.status, 200);
  const held = await res.text();
  assert.match(held, /needs approval/);
  const listed = await (await fetch(`${shimUrl}/v1/approvals`)).text();
  assert.match(listed, /REDACTED:aws-access-key-id/);
  assert.ok(!listed.includes(secret), "GET /v1/approvals holds no secret");
  const page = await (await fetch(`${shimUrl}/approvals`)).text();
  assert.ok(!page.includes(secret), "the approvals page holds no secret");
});
