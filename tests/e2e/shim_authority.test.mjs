// End-to-end: `stepgate shim --authority-key ID` in front of the real MCP "everything" server. A
// TOTP approval in the inbox (codes from Debian's oathtool) also mints a grant signed with that
// approver's key; the grant is checked with `stepgate grant verify` and by the gate itself.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { OathCodes, challengeIdOf, freePort, startProcess, stepgateRunner, textOf } from "./helpers.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = process.env.SOURCE_DIR || path.resolve(here, "../..");
const bin = process.env.STEPGATE_BIN || path.join(sourceDir, "build/stepgate");
const home = mkdtempSync(path.join(os.tmpdir(), "stepgate-authority-"));
const env = { ...process.env, STEPGATE_HOME: home, STEPGATE_ACTOR: "alice", HOME: home };
delete env.STEPGATE_GRANT;
const policyPath = path.join(home, "policy.yaml");
const children = [];
const run = stepgateRunner(bin, env);
const codes = new OathCodes();

// alice is the actor and also a listed approver (so the self-approval check has work to do);
// bob approves others' actions; carol's key is the shim's authority key.
const policyText = (keys) => `
version: 1
name: authority-e2e
thresholds: { step_up: 50, deny: 100 }
step_up: { method: totp, max_age: "0", approvers: 1 }
approvers:
${Object.entries(keys).map(([id, key]) => `  - id: ${id}\n    public_key: ${key}`).join("\n")}
rules:
  - id: sums-need-a-human
    on: tool.call
    when: signals.tool == "get-sum"
    effect: step_up
    message: "get-sum needs a human"
  - id: releases-need-an-approver
    on: tool.call
    when: signals.tool == "echo" && action.attributes.arguments.message.startsWith("release")
    effect: step_up
    message: "releases need an approver"
    step_up: { method: approval }
`;

// ---- helpers ----------------------------------------------------------------------------------

async function keygen(id) {
  const r = await run(["keygen", "--approver", id]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n")[0].trim();
}

async function connect(url, headers = {}) {
  const client = new Client({ name: "authority-e2e", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  return client;
}

async function postJson(url, body) {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

const jwsPart = (token, i) => JSON.parse(Buffer.from(token.split(".")[i], "base64url").toString());

/// The tool.call action the shim builds for a call to the default upstream, as a file.
function actionFile(name, tool, args) {
  const file = path.join(home, `${name}.json`);
  writeFileSync(file, JSON.stringify({ kind: "tool.call", actor: "alice",
    resource: `default/${tool}`, attributes: { server: "default", tool, arguments: args } }));
  return file;
}

// ---- set-up -----------------------------------------------------------------------------------

let upstreamUrl, shimUrl, direct, viaShim, keys;

before(async () => {
  keys = { carol: await keygen("carol"), bob: await keygen("bob"), alice: await keygen("alice") };
  writeFileSync(policyPath, policyText(keys));
  await codes.enroll(run, "alice");
  await codes.enroll(run, "bob");
  const port = await freePort();
  await startProcess(children, "node", [path.join(here, "node_modules/.bin/mcp-server-everything"), "streamableHttp"],
    { env: { ...process.env, PORT: String(port) }, cwd: here }, /listening on port/);
  upstreamUrl = `http://127.0.0.1:${port}/mcp`;
  const shim = await startProcess(children, bin, ["shim", "--upstream", upstreamUrl, "--listen", "127.0.0.1:0",
    "--policy", policyPath, "--authority-key", "carol"], { env },
  /listening on (http:\/\/127\.0\.0\.1:\d+)/);
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

// ---- tests ------------------------------------------------------------------------------------

test("a TOTP approval mints a grant signed with the authority key, and stepgate verifies it", async () => {
  const args = { a: 20, b: 22 };
  const call = { name: "get-sum", arguments: args };
  const held = await viaShim.callTool(call);
  assert.equal(held.isError, true);
  const id = challengeIdOf(held);
  assert.ok(id, textOf(held));

  const r = await postJson(`${shimUrl}/v1/approvals/${id}/approve`, { approver: "alice", code: await codes.codeFor("alice") });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.state, "approved");
  const grant = r.json.grant;
  assert.match(grant, /^[\w-]+\.[\w-]+\.[\w-]+$/, "a compact JWS");
  const status = await (await fetch(`${shimUrl}/v1/challenges/${id}`)).json();
  assert.equal(status.grant, grant);
  assert.equal(status.decided_by, "alice");

  const header = jwsPart(grant, 0);
  const claims = jwsPart(grant, 1);
  assert.equal(header.alg, "EdDSA");
  assert.equal(header.kid, "carol");
  assert.equal(claims.sub, "carol");
  assert.equal(claims.act, "alice");
  assert.equal(claims.dig, status.digest);

  // The action stepgate computes from the call's JSON has the digest the grant is bound to.
  const action = actionFile("sum-action", "get-sum", args);
  const evaluated = await run(["eval", "--action", action, "--policy", policyPath]);
  assert.match(evaluated.stdout, new RegExp(`action_digest: ${claims.dig}`), evaluated.stdout + evaluated.stderr);
  let v = await run(["grant", "verify", "--action", action, "--policy", policyPath, grant]);
  assert.equal(v.code, 0, v.stderr);
  v = await run(["grant", "verify", "--action", actionFile("other", "get-sum", { a: 1, b: 1 }),
    "--policy", policyPath, grant]);
  assert.equal(v.code, 1, "refused for another action");
  assert.match(v.stderr, /different action/);
  const pos = grant.length - 10;  // inside the signature (the last character holds padding bits)
  const tampered = grant.slice(0, pos) + (grant[pos] === "A" ? "B" : "A") + grant.slice(pos + 1);
  v = await run(["grant", "verify", "--action", action, "--policy", policyPath, tampered]);
  assert.equal(v.code, 1, "a tampered copy is refused");

  // The identical call goes through once; the grant and its approval are one approval.
  assert.deepEqual(await viaShim.callTool(call), await direct.callTool(call));
  const withGrant = await connect(`${shimUrl}/mcp`, { "Stepgate-Grant": grant });
  try {
    const again = await withGrant.callTool(call);
    assert.equal(again.isError, true, "a used grant does not let the call through again");
    assert.notEqual(challengeIdOf(again), id);
  } finally {
    await withGrant.close();
  }
});

test("an approval-method call: a listed approver's TOTP mints the grant the gate needs", async () => {
  const call = { name: "echo", arguments: { message: "release 1.0" } };
  const held = await viaShim.callTool(call);
  const id = challengeIdOf(held);
  assert.ok(id, textOf(held));

  // alice is a listed approver, but this is her own action: her TOTP does not become a grant.
  let r = await postJson(`${shimUrl}/v1/approvals/${id}/approve`, { approver: "alice", code: await codes.codeFor("alice") });
  assert.equal(r.status, 403, r.text);
  assert.match(r.json.error, /cannot approve their own action/);
  const still = await viaShim.callTool(call);
  assert.equal(still.isError, true);
  assert.equal(challengeIdOf(still), id);

  r = await postJson(`${shimUrl}/v1/approvals/${id}/approve`, { approver: "bob", code: await codes.codeFor("bob") });
  assert.equal(r.status, 200, r.text);
  assert.equal(jwsPart(r.json.grant, 0).kid, "carol");
  assert.equal(r.json.decided_by, "bob");
  assert.deepEqual(await viaShim.callTool(call), await direct.callTool(call));
});

test("--authority-key must name a listed approver whose key matches", async () => {
  const start = (id, policy = policyPath) => startProcess(children, bin, ["shim", "--upstream", upstreamUrl,
    "--listen", "127.0.0.1:0", "--policy", policy, "--authority-key", id], { env },
  /listening on/).then(({ child }) => { child.kill("SIGTERM"); return { code: 0, output: "" }; }, (e) => e);

  let r = await start("mallory");
  assert.equal(r.code, 2, r.output);
  assert.match(r.output, /--authority-key `mallory` is not an approver in .*policy\.yaml/);

  // erin is listed with bob's public key but has a key of her own; frank is listed with no key.
  await keygen("erin");
  const odd = path.join(home, "odd.yaml");
  writeFileSync(odd, policyText({ ...keys, erin: keys.bob, frank: keys.bob }));
  r = await start("erin", odd);
  assert.equal(r.code, 2, r.output);
  assert.match(r.output, /the key of `erin` does not match its public_key/);
  r = await start("frank", odd);
  assert.equal(r.code, 2, r.output);
  assert.match(r.output, /--authority-key: .*frank/);

  // The key file can also go missing for a listed approver.
  unlinkSync(path.join(home, "config/keys/erin.key"));
  r = await start("erin", odd);
  assert.equal(r.code, 2, r.output);
});
