// A fixed-reply JSON-RPC "MCP server" for benchmarks and tests: answers every POST at once, so
// what a proxy in front of it adds is what gets measured. GET /stats says how many TCP
// connections and requests it has seen (tests check that a proxy reuses its connections).
// Usage: PORT=N node shim_fixed_upstream.mjs
import http from "node:http";

const reply = (id) => JSON.stringify({ jsonrpc: "2.0", id,
  result: { content: [{ type: "text", text: "ok" }] } });
let connections = 0;
let requests = 0;
const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/stats") {
    const out = JSON.stringify({ connections, requests });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(out) });
    res.end(out);
    return;
  }
  requests++;
  let body = "";
  req.on("data", (c) => { body += c; });
  req.on("end", () => {
    let id = null;
    try { id = JSON.parse(body).id ?? null; } catch { /* not JSON: id null */ }
    const out = reply(id);
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(out) });
    res.end(out);
  });
});
server.on("connection", () => { connections++; });
server.listen(Number(process.env.PORT || 3002), "127.0.0.1", () => {
  console.error(`fixed upstream on ${process.env.PORT || 3002}`);
});
