// End-to-end: the shim's request path against the fixed-reply upstream (bench/shim_fixed_upstream.mjs):
// upstream connections are kept and reused, an edited policy is picked up while the shim runs,
// and with `audit: {durable: true}` every decision is in the log when its answer arrives.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startProcess } from "./helpers.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = process.env.SOURCE_DIR || path.resolve(here, "../..");
const bin = process.env.STEPGATE_BIN || path.join(sourceDir, "build/stepgate");
const home = mkdtempSync(path.join(os.tmpdir(), "stepgate-shim-hot-"));
const env = { ...process.env, STEPGATE_HOME: home, STEPGATE_ACTOR: "alice", HOME: home };
const children = [];
const policyPath = path.join(home, "policy.yaml");
const auditPath = path.join(home, "state/audit.jsonl");

const policy = (forbidden) => `
version: 1
name: shim-hotpath-e2e
audit: { durable: true }
rules:
  - id: forbidden-tool
    on: tool.call
    when: signals.tool == "${forbidden}"
    effect: deny
    message: "tool {tool} is forbidden"
`;

let upstreamBase, shimUrl;

before(async () => {
  writeFileSync(policyPath, policy("first-forbidden"));
  const upPort = await freePort();
  await startProcess(children, "node", [path.join(sourceDir, "bench/shim_fixed_upstream.mjs")],
    { env: { ...process.env, PORT: String(upPort) } }, /fixed upstream on/);
  upstreamBase = `http://127.0.0.1:${upPort}`;
  const shim = await startProcess(children, bin, ["shim", "--upstream", `fixed=${upstreamBase}/mcp`,
    "--listen", "127.0.0.1:0", "--policy", policyPath], { env },
  /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  shimUrl = shim.match[1];
});

after(() => {
  for (const c of children) c.kill("SIGTERM");
  rmSync(home, { recursive: true, force: true });
});

let nextId = 1;
async function callTool(name) {
  const id = nextId++;
  const res = await fetch(`${shimUrl}/mcp/fixed`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: {} } }),
  });
  assert.equal(res.status, 200);
  const json = await res.json();
  assert.equal(json.id, id);
  return json;
}

const stats = async () => (await fetch(`${upstreamBase}/stats`)).json();
const auditRecords = () => readFileSync(auditPath, "utf8").trim().split("\n").map((l) => JSON.parse(l))
  .filter((r) => r.type === "decision");

test("sequential calls reuse one upstream connection instead of opening one per call", async () => {
  const before = await stats();
  for (let i = 0; i < 40; i++) {
    const answer = await callTool("echo");
    assert.equal(answer.result.content[0].text, "ok");
  }
  const after = await stats();
  assert.equal(after.requests - before.requests, 40);
  // One client connection is served by one shim thread, which keeps its upstream connection.
  assert.ok(after.connections - before.connections <= 2,
    `40 calls opened ${after.connections - before.connections} upstream connections`);
});

test("with audit.durable every decision is in the log when its answer arrives", async () => {
  for (const tool of ["echo", "first-forbidden", "echo"]) {
    const before = auditRecords().length;
    const answer = await callTool(tool);
    const records = auditRecords();
    assert.equal(records.length, before + 1);
    const last = records.at(-1);
    assert.equal(last.action.attributes.tool, tool);
    assert.equal(last.final_verdict, tool === "echo" ? "allow" : "deny");
    assert.equal(answer.result.isError === true, tool !== "echo");
  }
});

test("an edited policy is in force while the shim runs, without a restart", async () => {
  assert.equal((await callTool("second-forbidden")).result.isError, undefined);
  writeFileSync(policyPath, policy("second-forbidden"));
  // The shim looks at most once a second; poll, without holding it to a time.
  let answer;
  for (let i = 0; i < 100; i++) {
    answer = await callTool("second-forbidden");
    if (answer.result.isError) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(answer.result.isError, true);
  assert.match(answer.result.content[0].text, /forbidden-tool: tool second-forbidden is forbidden/);
  assert.equal((await callTool("first-forbidden")).result.isError, undefined);
});

test("a broken edit keeps the policy in force", async () => {
  writeFileSync(policyPath, policy("second-forbidden") + "  - id: [unclosed\n");
  for (let i = 0; i < 15; i++) {  // more than the shim's check interval
    assert.equal((await callTool("second-forbidden")).result.isError, true);
    await new Promise((r) => setTimeout(r, 100));
  }
  writeFileSync(policyPath, policy("second-forbidden"));
});
