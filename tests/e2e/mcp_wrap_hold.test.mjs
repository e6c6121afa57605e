// End-to-end: `stepgate mcp-wrap` in hold mode (agents.step_up_response: hold) in front of the
// real MCP "everything" server over stdio, driven by the SDK's StdioClientTransport and by raw
// JSON-RPC lines. A held call is approved with `stepgate approve` (an approver's oathtool TOTP)
// or refused through a running shim's inbox API on the same state store.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { OathCodes, stepgateRunner, textOf } from "./helpers.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = process.env.SOURCE_DIR || path.resolve(here, "../..");
const bin = process.env.STEPGATE_BIN || path.join(sourceDir, "build/stepgate");
const everything = path.join(here, "node_modules/@modelcontextprotocol/server-everything/dist/index.js");
const root = mkdtempSync(path.join(os.tmpdir(), "stepgate-wrap-hold-"));
const env = { ...process.env, STEPGATE_HOME: path.join(root, "sg"), HOME: root, STEPGATE_ACTOR: "alice" };
delete env.STEPGATE_GRANT;
const policyPath = path.join(root, "hold.yaml");
const children = [];
const run = stepgateRunner(bin, env);
const codes = new OathCodes();

const policyText = (carolKey) => `
version: 1
name: wrap-hold-e2e
thresholds: { step_up: 50, deny: 100 }
step_up: { method: totp, max_age: "0", approvers: 1 }
approvers:
  - id: carol
    public_key: ${carolKey}
    require_totp: true
agents:
  step_up_response: hold
  hold: 30s
rules:
  - id: sums-need-a-human
    on: tool.call
    when: signals.tool == "get-sum"
    effect: step_up
    message: "get-sum needs a human"
`;

// ---- helpers ----------------------------------------------------------------------------------

const until = async (predicate, what, ms = 15000) => {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/// An SDK client on the wrapper; `stderr()` is what the wrapper printed there so far.
async function connectWrapped(extra = []) {
  const transport = new StdioClientTransport({ command: bin,
    args: ["mcp-wrap", "--name", "everything", "--policy", policyPath, ...extra, "--", "node", everything],
    env, stderr: "pipe" });
  let err = "";
  transport.stderr.on("data", (d) => { err += d; });
  const client = new Client({ name: "wrap-hold-e2e", version: "1.0.0" });
  await client.connect(transport);
  return { client, stderr: () => err };
}


// ---- set-up -----------------------------------------------------------------------------------

let direct;

before(async () => {
  const keygen = await run(["keygen", "--approver", "carol"]);
  assert.equal(keygen.code, 0, keygen.stderr);
  writeFileSync(policyPath, policyText(keygen.stdout.split("\n")[0].trim()));
  await codes.enroll(run, "carol");
  await codes.enroll(run, "alice");
  direct = new Client({ name: "direct", version: "1.0.0" });
  await direct.connect(new StdioClientTransport({ command: "node", args: [everything], stderr: "ignore" }));
});

after(async () => {
  await direct?.close().catch(() => {});
  for (const c of children) c.kill("SIGTERM");
  rmSync(root, { recursive: true, force: true });
});

// ---- tests ------------------------------------------------------------------------------------

test("a held call streams progress, other calls overtake it, and `stepgate approve` lets it run", async () => {
  const { client, stderr } = await connectWrapped();
  try {
    const call = { name: "get-sum", arguments: { a: 40, b: 2 } };
    const progress = [];
    let settled = false;
    const held = client.callTool(call, undefined, {
      onprogress: (p) => progress.push(p), resetTimeoutOnProgress: true, timeout: 20000,
    }).finally(() => { settled = true; });

    await until(() => progress.length >= 1, "a progress notification");
    const id = progress[0].message.match(/challenge ([a-z0-9]+)/)?.[1];
    assert.ok(id, progress[0].message);
    // The wrapper keeps serving while the call is held.
    const echoed = await client.callTool({ name: "echo", arguments: { message: "while held" } });
    assert.equal(textOf(echoed), "Echo: while held");
    assert.ok((await client.listTools()).tools.some((t) => t.name === "get-sum"));
    assert.equal(settled, false, "the held call is still open");

    await until(() => /stepgate approve [a-z2-7]+/.test(stderr()), "the approve command on stderr");
    const token = stderr().match(/stepgate approve ([a-z2-7]+)/)[1];
    assert.equal(token, id, "the notice names the challenge by its short id");
    assert.match(stderr(), new RegExp(`challenge ${id}`));
    await until(() => progress.length >= 2, "a second progress notification");
    const approved = await run(["approve", token, "--approver", "carol", "--yes", "--policy", policyPath,
      "--totp", await codes.codeFor("carol")]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stderr, /The waiting action has been told/);

    const result = await held;
    assert.deepEqual(result, await direct.callTool(call));
    assert.ok(progress.length >= 2, `progress while held: ${progress.length}`);
    for (let i = 1; i < progress.length; ++i) assert.ok(progress[i].progress > progress[i - 1].progress);
    // The approval worked once: the identical call is held again (a new challenge).
    const again = client.callTool(call, undefined, { onprogress: (p) => progress.push(p),
      resetTimeoutOnProgress: true }).catch((e) => e);  // answered when the client closes
    const before = progress.length;
    await until(() => progress.length > before, "the second call's progress");
    assert.doesNotMatch(progress.at(-1).message, new RegExp(id));
    await client.close();
    await again;
  } finally {
    await client.close().catch(() => {});
  }
});

test("a held call refused in a running shim's inbox is answered with the refusal", async () => {
  const shim = spawn(bin, ["shim", "--upstream", "http://127.0.0.1:9/mcp", "--listen", "127.0.0.1:0",
    "--policy", policyPath], { env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(shim);
  const shimUrl = await new Promise((resolve, reject) => {
    let out = "";
    shim.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      if (m) resolve(m[1]);
    });
    shim.on("exit", (code) => reject(new Error(`shim exited ${code}: ${out}`)));
  });
  const { client, stderr } = await connectWrapped();
  try {
    // No progressToken: the call is simply held, well within the client's request timeout.
    const held = client.callTool({ name: "get-sum", arguments: { a: 1, b: 2 } });
    await until(() => /approval of challenge [a-z0-9]+/.test(stderr()), "the hold notice");
    const id = stderr().match(/approval of challenge ([a-z0-9]+)/)[1];
    const listed = (await (await fetch(`${shimUrl}/v1/approvals`)).json()).approvals;
    assert.ok(listed.some((a) => a.id === id), "the inbox lists the held call's challenge");
    const res = await fetch(`${shimUrl}/v1/approvals/${id}/deny`, { method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ approver: "alice", code: await codes.codeFor("alice"), comment: "not now" }) });
    assert.equal(res.status, 200, await res.text());
    const refused = await held;
    assert.equal(refused.isError, true);
    assert.match(textOf(refused), /refused by alice/);
    assert.match(textOf(refused), /not now/);
  } finally {
    await client.close();
    shim.kill("SIGTERM");
  }
});

test("without a decision the call is answered when the hold runs out (--hold)", async () => {
  const { client } = await connectWrapped(["--hold", "2s"]);
  try {
    const start = Date.now();
    const result = await client.callTool({ name: "get-sum", arguments: { a: 2, b: 2 } });
    assert.ok(Date.now() - start >= 1900, `held ${Date.now() - start} ms`);
    assert.equal(result.isError, true);
    assert.match(textOf(result), /held this call for 2 s without a decision/);
    const id = textOf(result).match(/Challenge ([a-z2-7]{8})\./)?.[1];
    assert.ok(id, textOf(result));
    assert.match(textOf(result), new RegExp(`Ask the user to approve it: stepgate approve ${id}\\b`));
    assert.doesNotMatch(textOf(result), /sgc1\./);
  } finally {
    await client.close();
  }
});

test("raw JSON-RPC: order kept for other ids, cancelled calls get no answer, EOF answers the rest", async () => {
  const child = spawn(bin, ["mcp-wrap", "--policy", policyPath, "--", "node", everything],
    { env, stdio: ["pipe", "pipe", "ignore"] });
  children.push(child);
  const out = [];
  createInterface({ input: child.stdout }).on("line", (l) => out.push(JSON.parse(l)));
  const exited = new Promise((r) => child.on("close", (code) => r(code)));
  const send = (m) => child.stdin.write(JSON.stringify(m) + "\n");
  const answered = (id) => out.some((m) => m.id === id && ("result" in m || "error" in m));
  const sum = (id, token) => ({ jsonrpc: "2.0", id, method: "tools/call",
    params: { name: "get-sum", arguments: { a: id, b: 1 }, ...(token ? { _meta: { progressToken: token } } : {}) } });

  send({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-06-18",
    capabilities: {}, clientInfo: { name: "raw", version: "1" } } });
  await until(() => answered(0), "initialize");
  send({ jsonrpc: "2.0", method: "notifications/initialized" });
  send(sum(1, "p1"));
  for (let id = 2; id <= 6; ++id) send({ jsonrpc: "2.0", id, method: id % 2 ? "ping" : "tools/list" });
  await until(() => answered(6), "the requests sent after the held one");
  assert.deepEqual(out.filter((m) => m.id >= 2).map((m) => m.id), [2, 3, 4, 5, 6], "in order");
  assert.equal(answered(1), false, "id 1 is held");
  await until(() => out.some((m) => m.method === "notifications/progress"), "progress for p1");
  assert.equal(out.find((m) => m.method === "notifications/progress").params.progressToken, "p1");

  send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1, reason: "no" } });
  send(sum(7));
  send({ jsonrpc: "2.0", id: 8, method: "ping" });
  await until(() => answered(8), "ping after the cancel");
  const notes = out.filter((m) => m.method === "notifications/progress").length;
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(out.filter((m) => m.method === "notifications/progress").length, notes,
    "no progress after the cancel");
  child.stdin.end();
  assert.equal(await exited, 0);
  assert.equal(answered(1), false, "a cancelled call is never answered");
  const last = out.find((m) => m.id === 7);
  assert.match(last?.error?.message ?? "", /closed its input while this call was held/);
});
