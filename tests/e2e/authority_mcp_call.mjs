// A one-call MCP client for authority_test.sh: `node authority_mcp_call.mjs URL TOOL ARGS_JSON`.
// Prints each progress notification as "progress: MESSAGE" as it comes (the shim's hold mode
// names the held call's challenge in them), then "result: JSON" or "error: MESSAGE". It lives
// here, next to node_modules, so the MCP SDK resolves; the shell suite drives the rest.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, tool, argsJson] = process.argv.slice(2);
const client = new Client({ name: "authority-e2e", version: "1.0.0" });
try {
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  const result = await client.callTool({ name: tool, arguments: JSON.parse(argsJson || "{}") },
    undefined, {
      resetTimeoutOnProgress: true,
      timeout: 120000,
      onprogress: (p) => process.stdout.write(`progress: ${p.message ?? ""}\n`),
    });
  process.stdout.write(`result: ${JSON.stringify(result)}\n`);
} catch (e) {
  process.stdout.write(`error: ${e.message}\n`);
  process.exitCode = 1;
} finally {
  await client.close().catch(() => {});
}
