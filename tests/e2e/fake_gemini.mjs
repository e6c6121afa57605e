// A stand-in for the Gemini API, for running the real Gemini CLI in the e2e tests without a model:
// a generateContent request that offers the tool in TOOL_FILE ({"name", "args"}, read on every
// request) and whose last turn carries no functionResponse gets one functionCall of it; anything
// else gets the text "done". Prints its port on stdout.
import fs from 'node:fs';
import http from 'node:http';

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    if (req.url.includes(':countTokens')) {
      res.writeHead(200, {'content-type': 'application/json'});
      res.end('{"totalTokens":10}');
      return;
    }
    if (!/generatecontent/i.test(req.url)) {
      res.writeHead(404, {'content-type': 'application/json'});
      res.end('{}');
      return;
    }
    let request = {};
    try {
      request = JSON.parse(body);
    } catch {}
    const offered = (request.tools || []).flatMap((t) => (t.functionDeclarations || []).map((f) => f.name));
    const tool = JSON.parse(fs.readFileSync(process.env.TOOL_FILE, 'utf8'));
    const answered = ((request.contents || []).at(-1)?.parts || []).some((p) => p.functionResponse);
    const part = offered.includes(tool.name) && !answered
      ? {functionCall: {name: tool.name, args: tool.args}}
      : {text: 'done'};
    const chunk = {candidates: [{content: {role: 'model', parts: [part]}, finishReason: 'STOP', index: 0}],
                   usageMetadata: {promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15}};
    if (req.url.includes('alt=sse')) {
      res.writeHead(200, {'content-type': 'text/event-stream'});
      res.end(`data: ${JSON.stringify(chunk)}\n\n`);
      return;
    }
    res.writeHead(200, {'content-type': 'application/json'});
    res.end(JSON.stringify(chunk));
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
