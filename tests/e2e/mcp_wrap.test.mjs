// End-to-end: `stepgate mcp-wrap` in front of the real MCP filesystem server, driven by the MCP
// SDK's Client over stdio; and a server that crashes, driven with raw JSON-RPC lines.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, existsSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const here = dirname(fileURLToPath(import.meta.url));
const BIN = process.env.STEPGATE_BIN;
const SRC = process.env.SOURCE_DIR ?? join(here, '..', '..');
const POLICY = join(SRC, 'policies', 'agent-tools.yaml');
const FS_SERVER = join(here, 'node_modules', '@modelcontextprotocol', 'server-filesystem', 'dist', 'index.js');

let root;
let dir;
let env;

before(() => {
  assert.ok(BIN, 'STEPGATE_BIN must point at the built stepgate');
  root = mkdtempSync(join(tmpdir(), 'sg-mcp-wrap-'));
  dir = join(root, 'ws');
  mkdirSync(dir);
  writeFileSync(join(dir, 'notes.txt'), 'hello from the workspace\n');
  env = { ...process.env, STEPGATE_HOME: join(root, 'sg'), HOME: root, STEPGATE_ACTOR: 'dev' };
  delete env.STEPGATE_GRANT;
});

after(() => rmSync(root, { recursive: true, force: true }));

async function connect(command) {
  const transport = new StdioClientTransport({
    command: BIN,
    args: ['mcp-wrap', '--name', 'fs', '--policy', POLICY, '--server', 'http://127.0.0.1:8750', '--', ...command],
    cwd: dir,
    env,
    stderr: 'pipe',
  });
  const client = new Client({ name: 'stepgate-e2e', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

const textOf = (result) => result.content.map((c) => c.text ?? '').join('\n');
// The wrapper's refusal names the challenge as "Challenge ID.".
const challengeIdOf = (result) => textOf(result).match(/Challenge ([a-z2-7]{8})\./)?.[1];

test('filesystem server through mcp-wrap: list, read allowed, risky writes refused', async () => {
  const { client } = await connect(['node', FS_SERVER, dir]);
  try {
    assert.equal(client.getServerVersion()?.name, 'secure-filesystem-server');
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    assert.ok(names.includes('read_text_file') && names.includes('write_file'), names.join(','));

    const read = await client.callTool({ name: 'read_text_file', arguments: { path: join(dir, 'notes.txt') } });
    assert.notEqual(read.isError, true, textOf(read));
    assert.match(textOf(read), /hello from the workspace/);

    const env_write = await client.callTool({ name: 'write_file', arguments: { path: join(dir, '.env'), content: 'TOKEN=1\n' } });
    assert.equal(env_write.isError, true);
    assert.match(textOf(env_write), /sensitive-paths/);
    // The short challenge id and its inbox entry, never the 1.3 KB token.
    const heldId = challengeIdOf(env_write);
    assert.ok(heldId, textOf(env_write));
    assert.match(textOf(env_write), new RegExp(`stepgate approve ${heldId}\\b`));
    assert.match(textOf(env_write), new RegExp(`http://127\\.0\\.0\\.1:8750/approvals#${heldId}`));
    assert.doesNotMatch(textOf(env_write), /sgc1\./);
    assert.equal(existsSync(join(dir, '.env')), false, 'the refused write must not reach the server');

    const outside = join(root, 'outside.txt');
    const out_write = await client.callTool({ name: 'write_file', arguments: { path: outside, content: 'x' } });
    assert.equal(out_write.isError, true);
    assert.match(textOf(out_write), /outside-workspace-write/);
    assert.equal(existsSync(outside), false);

    // Traffic keeps flowing after a refusal, in order.
    const again = await client.callTool({ name: 'list_directory', arguments: { path: dir } });
    assert.match(textOf(again), /notes\.txt/);
  } finally {
    await client.close();
  }
});

// A tiny stdio MCP server that answers initialize and tools/list, then dies on tools/call.
const CRASHER = `
const rl = require('readline').createInterface({ input: process.stdin });
const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
rl.on('line', (line) => {
  const m = JSON.parse(line);
  if (m.method === 'initialize') send({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'crasher', version: '1' } } });
  else if (m.method === 'tools/list') send({ jsonrpc: '2.0', id: m.id, result: { tools: [{ name: 'boom', inputSchema: { type: 'object' } }] } });
  else if (m.method === 'tools/call') { if (process.env.CRASH_SIGNAL) process.kill(process.pid, process.env.CRASH_SIGNAL); else process.exit(3); }
});`;

test('a crashing server gives the SDK client a clean error', async () => {
  const { client } = await connect(['node', '-e', CRASHER]);
  await client.listTools();
  await assert.rejects(client.callTool({ name: 'boom', arguments: {} }), /MCP server exited with code 3/);
  await client.close();
});

/// Runs the wrapper with raw JSON-RPC lines; resolves with the lines it printed and its exit code.
function runRaw(command, lines, extraEnv = {}, onSpawn = () => {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['mcp-wrap', '--policy', POLICY, '--', ...command], {
      cwd: dir, env: { ...env, ...extraEnv }, stdio: ['pipe', 'pipe', 'inherit'],
    });
    const out = [];
    createInterface({ input: child.stdout }).on('line', (l) => out.push(JSON.parse(l)));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ out, code, signal }));
    for (const l of lines) child.stdin.write(JSON.stringify(l) + '\n');
    onSpawn(child);
  });
}

const init = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
const call = (id) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'boom', arguments: {} } });

test('the wrapper exits with the server exit code and answers every pending request', async () => {
  const { out, code } = await runRaw(['node', '-e', CRASHER], [init, call('a'), call(7)]);
  assert.equal(code, 3);
  const errors = out.filter((m) => m.error);
  assert.deepEqual(errors.map((m) => m.id).sort(), [7, 'a'].sort());
  for (const m of errors) {
    assert.equal(m.error.code, -32603);
    assert.equal(m.error.message, 'MCP server exited with code 3');
  }
  assert.equal(out.find((m) => m.id === 0)?.result?.serverInfo?.name, 'crasher');
});

test('a server killed by a signal exits 128+N', async () => {
  const { out, code } = await runRaw(['node', '-e', CRASHER], [init, call(1)], { CRASH_SIGNAL: 'SIGKILL' });
  assert.equal(code, 137);
  assert.equal(out.find((m) => m.id === 1)?.error?.message, 'MCP server exited with code 137');
});

test('SIGTERM is forwarded to the server; stdin EOF closes it cleanly', async () => {
  const term = await runRaw(['node', FS_SERVER, dir], [init], {}, (child) => {
    child.stdout.once('data', () => child.kill('SIGTERM'));
  });
  assert.equal(term.code, 128 + 15);

  const eof = await runRaw(['node', FS_SERVER, dir], [init], {}, (child) => {
    child.stdout.once('data', () => child.stdin.end());
  });
  assert.equal(eof.code, 0);
  assert.equal(eof.out[0]?.id, 0);
});

test('a command that cannot start is a configuration error (exit 2)', async () => {
  const { code } = await runRaw([join(root, 'no-such-server')], []);
  assert.equal(code, 2);
});

test('a line the wrapper cannot read is refused, not passed to the server to read its own way', async () => {
  // Node's stdio transport (the filesystem server's) turns invalid UTF-8 into U+FFFD and takes a
  // lone surrogate escape; nlohmann takes neither. Such a tools/call, forwarded unread, ran
  // ungated: here, a write of .env that the policy holds.
  const child = spawn(BIN, ['mcp-wrap', '--policy', POLICY, '--', 'node', FS_SERVER, dir], {
    cwd: dir, env, stdio: ['pipe', 'pipe', 'inherit'],
  });
  const out = [];
  const lines = createInterface({ input: child.stdout });
  const closed = new Promise((resolve) => child.on('close', resolve));
  const initialized = new Promise((resolve) => lines.on('line', (l) => {
    const m = JSON.parse(l);
    out.push(m);
    if (m.id === 0) resolve();
  }));
  child.stdin.write(JSON.stringify(init) + '\n');
  await initialized;
  child.stdin.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) + '\n');
  const write = (id, extra) => ({ jsonrpc: '2.0', id, method: 'tools/call',
    params: { name: 'write_file', arguments: { path: join(dir, '.env'), content: `TOKEN=${id}\n` }, ...extra } });
  // JSON.stringify writes a lone surrogate as the escape \ud800.
  child.stdin.write(JSON.stringify(write(1, { _meta: { x: '\ud800' } })) + '\n');
  const bad = Buffer.from(JSON.stringify(write(2, { _meta: { x: 'Z' } })));
  bad[bad.indexOf('Z')] = 0xff;  // a byte that is not UTF-8
  child.stdin.write(Buffer.concat([bad, Buffer.from('\n')]));
  child.stdin.write(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' }) + '\n');
  await new Promise((resolve) => { const t = setInterval(() => { if (out.some((m) => m.id === 3)) { clearInterval(t); resolve(); } }, 20); });
  child.stdin.end();
  await closed;
  const refusals = out.filter((m) => m.error?.code === -32700);
  assert.equal(refusals.length, 2, JSON.stringify(out));
  assert.match(refusals[0].error.message, /not forwarded/);
  assert.equal(existsSync(join(dir, '.env')), false, 'neither write reached the server');
});
