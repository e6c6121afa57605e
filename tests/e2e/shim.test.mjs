// End-to-end: `stepgate shim` in front of the real MCP "everything" server, driven by the real
// MCP SDK client, fetch and headless Chromium (playwright-core).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { challengeIdOf, freePort, startProcess, stepgateRunner, textOf } from "./helpers.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = process.env.SOURCE_DIR || path.resolve(here, "../..");
const bin = process.env.STEPGATE_BIN || path.join(sourceDir, "build/stepgate");
const home = mkdtempSync(path.join(os.tmpdir(), "stepgate-shim-"));
const env = { ...process.env, STEPGATE_HOME: home, STEPGATE_ACTOR: "alice", HOME: home };
const children = [];
const run = stepgateRunner(bin, env);

const POLICY = `
version: 1
name: shim-e2e
thresholds: { step_up: 50, deny: 100 }
step_up: { method: totp, max_age: "0", approvers: 1 }
agents:
  step_up_response: instruct
rules:
  - id: no-env
    on: tool.call
    when: signals.tool == "get-env"
    effect: deny
    message: "tool {tool} may not read the environment"
  - id: sums-need-a-human
    on: tool.call
    when: signals.tool == "get-sum"
    effect: step_up
    message: "get-sum needs a human"
  - id: flagged-echo
    on: tool.call
    when: signals.tool == "echo" && action.attributes.arguments.message.contains("needs-approval")
    effect: step_up
    message: "flagged echo"
`;

// ---- helpers ----------------------------------------------------------------------------------

function base32Decode(text) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0, value = 0;
  const out = [];
  for (const c of text.replace(/=+$/, "").toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

function hotp(key, counter) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const h = createHmac("sha1", key).update(msg).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1e6).padStart(6, "0");
}

// Codes from a 1-second-period authenticator; each time step is used once (replays are refused).
let totpKey = null;
let lastStep = 0;
async function nextCode() {
  for (;;) {
    const now = Math.floor(Date.now() / 1000);
    const step = Math.max(now, lastStep + 1);
    if (step <= now + 1) {
      lastStep = step;
      return hotp(totpKey, step);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function connect(url, name = "shim-e2e") {
  const client = new Client({ name, version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}


async function postJson(url, body, headers = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

const MCP_HEADERS = { accept: "application/json, text/event-stream" };

// ---- set-up -----------------------------------------------------------------------------------

let upstreamUrl, shimUrl, direct, viaShim;

before(async () => {
  writeFileSync(path.join(home, "policy.yaml"), POLICY);
  const enrolled = await run(["enroll", "--actor", "alice", "--no-qr", "--period", "1"]);
  assert.equal(enrolled.code, 0, enrolled.stderr);
  totpKey = base32Decode(enrolled.stdout.match(/secret=([A-Z2-7]+)/)[1]);
  const activated = await run(["enroll", "--actor", "alice", "--activate", "--code", await nextCode()]);
  assert.equal(activated.code, 0, activated.stderr);

  const port = await freePort();
  await startProcess(children, "node", [path.join(here, "node_modules/.bin/mcp-server-everything"), "streamableHttp"],
    { env: { ...process.env, PORT: String(port) }, cwd: here }, /listening on port/);
  upstreamUrl = `http://127.0.0.1:${port}/mcp`;
  const downPort = await freePort();  // nothing listens there
  const shim = await startProcess(children, bin, ["shim", "--upstream", upstreamUrl, "--upstream",
    `down=http://127.0.0.1:${downPort}/mcp`, "--listen", "127.0.0.1:0",
    "--policy", path.join(home, "policy.yaml")], { env }, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  shimUrl = shim.match[1];
  direct = await connect(upstreamUrl);
  viaShim = await connect(`${shimUrl}/mcp`);
});

after(async () => {
  await direct?.close().catch(() => {});
  await viaShim?.close().catch(() => {});
  for (const c of children) c.kill("SIGTERM");
  rmSync(home, { recursive: true, force: true });
});

// ---- MCP through the shim -------------------------------------------------------------------------

test("tools/list passes through unchanged", async () => {
  const a = await direct.listTools();
  const b = await viaShim.listTools();
  assert.deepEqual(b.tools.map((t) => t.name).sort(), a.tools.map((t) => t.name).sort());
  assert.ok(b.tools.some((t) => t.name === "echo"));
});

test("an allowed call returns the upstream's result unchanged", async () => {
  const args = { name: "echo", arguments: { message: "hello through the shim" } };
  assert.deepEqual(await viaShim.callTool(args), await direct.callTool(args));
});

test("a denied call is an isError result with the reason", async () => {
  const result = await viaShim.callTool({ name: "get-env", arguments: {} });
  assert.equal(result.isError, true);
  assert.match(textOf(result), /denied by policy/);
  assert.match(textOf(result), /no-env: tool get-env may not read the environment/);
});

test("a step-up call waits for approval with a TOTP code, then completes once", async () => {
  const call = { name: "get-sum", arguments: { a: 20, b: 22 } };
  const held = await viaShim.callTool(call);
  assert.equal(held.isError, true);
  assert.match(textOf(held), /needs approval \(challenge [a-z0-9]+\)/);
  assert.match(textOf(held), new RegExp(`${shimUrl}/approvals`));
  const id = challengeIdOf(held);

  // Held again before approval: the same challenge, not a new one.
  assert.equal(challengeIdOf(await viaShim.callTool(call)), id);
  const listed = await (await fetch(`${shimUrl}/v1/approvals`)).json();
  assert.equal(listed.approvals.filter((a) => a.id === id).length, 1);

  // Nothing unauthenticated approves: no proof, a wrong code, a stranger.
  let r = await postJson(`${shimUrl}/v1/approvals/${id}/approve`, { approver: "alice" });
  assert.equal(r.status, 400);
  r = await postJson(`${shimUrl}/v1/approvals/${id}/approve`, { approver: "alice", code: "000000" });
  assert.equal(r.status, 403);
  r = await postJson(`${shimUrl}/v1/approvals/${id}/approve`, { approver: "mallory", code: "123456" });
  assert.equal(r.status, 403);

  r = await postJson(`${shimUrl}/v1/approvals/${id}/approve`, { approver: "alice", code: await nextCode() });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, "approved");
  const status = await (await fetch(`${shimUrl}/v1/challenges/${id}`)).json();
  assert.equal(status.state, "approved");
  assert.equal(status.decided_by, "alice");

  const done = await viaShim.callTool(call);
  assert.deepEqual(done, await direct.callTool(call));
  // The approval worked once: the next identical call is held again.
  const again = await viaShim.callTool(call);
  assert.equal(again.isError, true);
  assert.notEqual(challengeIdOf(again), id);
});

test("a refused call returns the refusal", async () => {
  const call = { name: "get-sum", arguments: { a: 1, b: 1 } };
  const id = challengeIdOf(await viaShim.callTool(call));
  assert.ok(id);
  const r = await postJson(`${shimUrl}/v1/approvals/${id}/deny`,
    { approver: "alice", code: await nextCode(), comment: "not today" });
  assert.equal(r.status, 200, r.text);
  const refused = await viaShim.callTool(call);
  assert.equal(refused.isError, true);
  assert.match(textOf(refused), /refused by alice/);
  assert.match(textOf(refused), /not today/);
});

test("the audit log holds each decision", () => {
  const records = readFileSync(path.join(home, "state/audit.jsonl"), "utf8").trim().split("\n")
    .map((l) => JSON.parse(l)).filter((r) => r.type === "decision" && r.action?.kind === "tool.call");
  const seen = new Set(records.map((r) => `${r.action.resource}:${r.final_verdict}`));
  for (const k of ["default/echo:allow", "default/get-env:deny", "default/get-sum:step_up",
    "default/get-sum:allow"]) {
    assert.ok(seen.has(k), `audit has ${k}: ${[...seen].join(", ")}`);
  }
});

// ---- HTTP edge cases ----------------------------------------------------------------------------

test("malformed JSON is a -32700 parse error", async () => {
  const r = await postJson(`${shimUrl}/mcp`, "{not json", MCP_HEADERS);
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, -32700);
});

test("an invalid request is -32600", async () => {
  const r = await postJson(`${shimUrl}/mcp`, { hello: "world" }, MCP_HEADERS);
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, -32600);
  const batch = await postJson(`${shimUrl}/mcp`, [], MCP_HEADERS);
  assert.equal(batch.json.error.code, -32600);
});

test("a 20 MB body is refused with 413", async () => {
  const big = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call",
    params: { name: "echo", arguments: { message: "x".repeat(20 * 1024 * 1024) } } });
  const r = await postJson(`${shimUrl}/mcp`, big, MCP_HEADERS);
  assert.equal(r.status, 413);
});

test("a foreign Origin is refused with 403", async () => {
  const r = await postJson(`${shimUrl}/mcp`, { jsonrpc: "2.0", id: 1, method: "ping" },
    { ...MCP_HEADERS, origin: "http://evil.example" });
  assert.equal(r.status, 403);
  const form = await fetch(`${shimUrl}/approvals/abc/approve`, {
    method: "POST", headers: { origin: "http://evil.example",
      "content-type": "application/x-www-form-urlencoded" }, body: "approver=alice&code=1" });
  assert.equal(form.status, 403);
});

test("an unreachable upstream is a clear JSON-RPC error", async () => {
  const r = await postJson(`${shimUrl}/mcp/down`, { jsonrpc: "2.0", id: 7, method: "initialize",
    params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } },
    MCP_HEADERS);
  assert.equal(r.status, 502);
  assert.equal(r.json.id, 7);
  assert.equal(r.json.error.code, -32603);
  assert.match(r.json.error.message, /upstream unavailable/);
});

test("a client that stalls mid-request is cut off after --client-timeout", async () => {
  const bad = await run(["shim", "--upstream", upstreamUrl, "--client-timeout", "0s",
    "--policy", path.join(home, "policy.yaml")]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--client-timeout must be at least 1s/);

  const shim = await startProcess(children, bin, ["shim", "--upstream", upstreamUrl, "--listen", "127.0.0.1:0",
    "--client-timeout", "1s", "--policy", path.join(home, "policy.yaml")], { env },
    /listening on (http:\/\/127\.0\.0\.1:(\d+))/);
  const port = Number(shim.match[2]);
  // Headers complete, body promised but only begun: the shim must not wait for the rest forever
  // (the default is 10 s; give it eight before calling it a hang).
  const closed = await new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => {
      socket.write("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
        "Accept: application/json, text/event-stream\r\nContent-Length: 200\r\n\r\n{\"jsonrpc\"");
    });
    const timer = setTimeout(() => { socket.destroy(); resolve(false); }, 8000);
    socket.on("data", () => {});
    socket.on("error", () => {});
    socket.on("close", () => { clearTimeout(timer); resolve(true); });
  });
  assert.ok(closed, "the stalled connection was still open after 8 s");
  // The shim still serves well-behaved clients afterwards.
  const ok = await postJson(`${shim.match[1]}/mcp`, { jsonrpc: "2.0", id: 9, method: "ping" }, MCP_HEADERS);
  assert.notEqual(ok.status, 403);
  assert.ok(ok.status < 500, `status ${ok.status}`);
  shim.child.kill("SIGTERM");
});

test("200 concurrent calls (20 clients x 10) all come back", async () => {
  const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(`${shimUrl}/mcp`, `c${i}`)));
  const results = await Promise.all(clients.flatMap((c, i) => Array.from({ length: 10 }, (_, j) =>
    c.callTool({ name: "echo", arguments: { message: `m-${i}-${j}` } }).then((r) => [i, j, r]))));
  assert.equal(results.length, 200);
  for (const [i, j, r] of results) assert.equal(textOf(r), `Echo: m-${i}-${j}`);
  await Promise.all(clients.map((c) => c.close()));
  const metrics = await (await fetch(`${shimUrl}/metrics`)).text();
  assert.match(metrics, /stepgate_decisions_total\{verdict="allow"\} \d+/);
});

// ---- the approvals page in a browser ------------------------------------------------------------

const chromium = "/usr/bin/chromium";
test("the approvals page escapes arguments and approves with a TOTP code",
  { skip: existsSync(chromium) ? false : `SKIPPED: ${chromium} is not installed (browser test only)` },
  async () => {
    const { chromium: launcher } = await import("playwright-core");
    const call = { name: "echo", arguments: { message: "needs-approval <script>alert(1)</script>" } };
    const held = await viaShim.callTool(call);
    const id = challengeIdOf(held);
    assert.ok(id, textOf(held));

    const profile = mkdtempSync(path.join(os.tmpdir(), "stepgate-chromium-"));
    // playwright passes the fresh profile as --user-data-dir itself.
    const browser = await launcher.launchPersistentContext(profile, { executablePath: chromium,
      headless: true, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"] });
    try {
      const page = await browser.newPage();
      await page.goto(`${shimUrl}/approvals`);
      const item = page.locator(`div.item[id="${id}"]`);
      assert.match(await item.locator("pre.arguments").textContent(), /<script>alert\(1\)<\/script>/);
      assert.equal(await page.locator("div.item script").count(), 0);
      const form = item.locator(`form[action="/approvals/${id}/approve"]`);
      await form.locator("input[name=approver]").fill("alice");
      await form.locator("input[name=code]").fill(await nextCode());
      await Promise.all([page.waitForLoadState("load"), form.locator("button").click()]);
      await page.waitForSelector(".notice");
      assert.match(await page.locator(".notice").textContent(), /approved by alice/);
      // The screenshot goes outside the source tree (set STEPGATE_SCREENSHOT_DIR to keep it).
      const out = process.env.STEPGATE_SCREENSHOT_DIR || os.tmpdir();
      mkdirSync(out, { recursive: true });
      await page.screenshot({ path: path.join(out, "approvals.png"), fullPage: true });
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
    const done = await viaShim.callTool(call);
    assert.notEqual(done.isError, true, textOf(done));
    assert.match(textOf(done), /needs-approval <script>/);
  });

// ---- POST /v1/decide: the engine for agent frameworks that call it directly ---------------------

test("POST /v1/decide evaluates an action JSON with the same tool signals", async () => {
  const action = { kind: "tool.call", actor: "alice", resource: "default/get-env",
    attributes: { server: "default", tool: "get-env", arguments: {} } };
  let r = await postJson(`${shimUrl}/v1/decide`, action);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.verdict, "deny");
  assert.ok(r.json.reasons.some((x) => x.rule === "no-env"), r.text);
  r = await postJson(`${shimUrl}/v1/decide`, { ...action, resource: "default/echo",
    attributes: { server: "default", tool: "echo", arguments: { message: "hi" } } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.verdict, "allow");
  r = await postJson(`${shimUrl}/v1/decide`, "{not json");
  assert.equal(r.status, 400);
});

// ---- hold mode: the call stays open, kept alive by progress notifications ----------------------

test("hold mode keeps a call open with progress notifications until it is approved", async () => {
  const holdPolicy = path.join(home, "hold.yaml");
  writeFileSync(holdPolicy, POLICY.replace("step_up_response: instruct",
    "step_up_response: hold\n  hold: 30s"));
  const shim = await startProcess(children, bin, ["shim", "--upstream", upstreamUrl, "--listen", "127.0.0.1:0",
    "--policy", holdPolicy], { env }, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  const holdUrl = shim.match[1];
  const client = await connect(`${holdUrl}/mcp`, "hold-e2e");
  try {
    const call = { name: "get-sum", arguments: { a: 40, b: 2 } };
    const progress = [];
    let approving = null;
    const result = await client.callTool(call, undefined, {
      resetTimeoutOnProgress: true,
      onprogress: (p) => {
        progress.push(p);
        const id = p.message?.match(/challenge ([a-z0-9]+)/)?.[1];
        if (id && !approving) {
          approving = nextCode().then((code) =>
            postJson(`${holdUrl}/v1/approvals/${id}/approve`, { approver: "alice", code }));
        }
      },
    });
    const approved = await approving;
    assert.equal(approved.status, 200, approved.text);
    assert.ok(progress.length >= 1, "at least one progress notification while held");
    assert.deepEqual(result, await direct.callTool(call));
  } finally {
    await client.close().catch(() => {});
    shim.child.kill("SIGTERM");
  }
});

// ---- lockout: a stranger's wrong codes must not lock the approver out (issue 19) --------------
// Last in this file: it locks out the anonymous loopback source for alice for 10 minutes.

/// A 6-digit code that none of the steps around now accepts.
function wrongCode() {
  const now = Math.floor(Date.now() / 1000);
  const near = new Set([-2, -1, 0, 1, 2, 3].map((d) => hotp(totpKey, now + d)));
  for (let n = 0; ; n += 111111) {
    const code = String(n % 1000000).padStart(6, "0");
    if (!near.has(code)) return code;
  }
}

test("five anonymous wrong codes lock out only their source, not alice's own session", async () => {
  const call = { name: "get-sum", arguments: { a: 5, b: 5 } };
  const id = challengeIdOf(await viaShim.callTool(call));
  assert.ok(id);
  for (let i = 0; i < 5; i++) {
    const r = await postJson(`${shimUrl}/v1/approvals/${id}/deny`, { approver: "alice", code: wrongCode() });
    assert.equal(r.status, 403, r.text);
  }
  // The stranger's source is now locked out, even with the right code...
  let r = await postJson(`${shimUrl}/v1/approvals/${id}/deny`, { approver: "alice", code: await nextCode() });
  assert.equal(r.status, 429, r.text);
  assert.equal(r.json.status, "locked_out");
  // ...while alice, from a fresh inbox session, still decides with her code.
  const page = await fetch(`${shimUrl}/approvals`);
  const session = page.headers.getSetCookie().map((c) => c.split(";")[0])
    .find((c) => c.startsWith("stepgate_session="));
  assert.ok(session, "the inbox page hands out a session cookie");
  r = await postJson(`${shimUrl}/v1/approvals/${id}/approve`, { approver: "alice", code: await nextCode() },
    { cookie: session });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, "approved");
  const done = await viaShim.callTool(call);
  assert.deepEqual(done, await direct.callTool(call));
});
