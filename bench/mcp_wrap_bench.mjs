// Per-call latency of tools/call through `stepgate mcp-wrap` vs the same stdio server direct:
// MCP SDK Client, sequential calls, p50/p99 and the added latency. Target: <= 0.2 ms added p50.
//   STEPGATE_BIN=build/stepgate node bench/mcp_wrap_bench.mjs [calls]
// Run from anywhere; the SDK is resolved from tests/e2e/node_modules.
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const SRC = join(here, '..');
const require = createRequire(join(SRC, 'tests', 'e2e', 'package.json'));
const { Client } = await import(require.resolve('@modelcontextprotocol/sdk/client/index.js'));
const { StdioClientTransport } = await import(require.resolve('@modelcontextprotocol/sdk/client/stdio.js'));
// Resolved here: the wrapper starts in a temporary directory, where a relative path is not found.
// Resolved here: the wrapper is spawned from a temporary directory, where a relative path would not be found.
const BIN = resolve(process.env.STEPGATE_BIN ?? join(SRC, 'build', 'stepgate'));
const CALLS = Number(process.argv[2] ?? 2000);
const root = mkdtempSync(join(tmpdir(), 'sg-wrap-bench-'));
const env = { ...process.env, STEPGATE_HOME: join(root, 'sg'), HOME: root, STEPGATE_ACTOR: 'bench' };

// The agent-tools pack, but with the burst rule out of reach: a benchmark is a burst by design.
const policy = join(root, 'policy.yaml');
const pack = readFileSync(join(SRC, 'policies', 'agent-tools.yaml'), 'utf8');
writeFileSync(policy, pack.replace('signals.rate > 30', 'signals.rate > 100000000'));

// A fast upstream: a fixed reply per tools/call, so the wrapper's own cost is what shows.
const server = join(root, 'echo-server.cjs');
writeFileSync(server, `
const rl = require('readline').createInterface({ input: process.stdin });
const send = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
rl.on('line', (line) => {
  const m = JSON.parse(line);
  if (m.id === undefined) return;
  if (m.method === 'initialize') send({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'echo', version: '1' } } });
  else if (m.method === 'tools/list') send({ jsonrpc: '2.0', id: m.id, result: { tools: [{ name: 'echo', inputSchema: { type: 'object' } }] } });
  else send({ jsonrpc: '2.0', id: m.id, result: { content: [{ type: 'text', text: String(m.params?.arguments?.message ?? '') }] } });
});`);

async function measure(label, command, args) {
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(new StdioClientTransport({ command, args, env, cwd: root, stderr: 'inherit' }));
  const times = [];
  for (let i = 0; i < CALLS + 200; i++) {
    const t0 = process.hrtime.bigint();
    const r = await client.callTool({ name: 'echo', arguments: { message: `hello ${i}` } });
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.isError) throw new Error(`${label}: call refused: ${JSON.stringify(r.content)}`);
    if (i >= 200) times.push(dt);  // the first 200 are warm-up
  }
  await client.close();
  times.sort((a, b) => a - b);
  const pct = (p) => times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))];
  return { label, p50: pct(50), p99: pct(99), mean: times.reduce((a, b) => a + b, 0) / times.length };
}

try {
  const direct = await measure('direct', 'node', [server]);
  const wrapped = await measure('mcp-wrap', BIN, ['mcp-wrap', '--name', 'echo', '--policy', policy,
    '--', 'node', server]);
  for (const r of [direct, wrapped]) {
    console.log(`${r.label.padEnd(9)} p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  mean ${r.mean.toFixed(3)} ms  (${CALLS} calls)`);
  }
  console.log(`added    p50 ${(wrapped.p50 - direct.p50).toFixed(3)} ms  p99 ${(wrapped.p99 - direct.p99).toFixed(3)} ms`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
