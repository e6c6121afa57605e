// A stand-in for the OpenAI Responses API, for running the real Codex in the e2e tests without a
// model: a request whose input carries no function_call_output gets one function_call of the tool
// in TOOL_FILE ({"name", "arguments"}, read on every request); anything else gets the text "done".
// Prints its port on stdout.
import fs from 'node:fs';
import http from 'node:http';

let n = 0;
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    if (!req.url.includes('/responses')) {
      res.writeHead(404, {'content-type': 'application/json'});
      res.end('{}');
      return;
    }
    let request = {};
    try {
      request = JSON.parse(body);
    } catch {}
    const answered = (request.input || []).some((item) => item.type === 'function_call_output');
    const tool = JSON.parse(fs.readFileSync(process.env.TOOL_FILE, 'utf8'));
    const id = `resp_${++n}`;
    const item = answered
      ? {type: 'message', role: 'assistant', id: `msg_${n}`, content: [{type: 'output_text', text: 'done'}]}
      : {type: 'function_call', id: `fc_${n}`, call_id: `call_fake_${n}`, name: tool.name,
         arguments: JSON.stringify(tool.arguments)};
    res.writeHead(200, {'content-type': 'text/event-stream'});
    const send = (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({type, ...data})}\n\n`);
    send('response.created', {response: {id}});
    send('response.output_item.added', {output_index: 0, item});
    send('response.output_item.done', {output_index: 0, item});
    send('response.completed', {response: {id, usage: {input_tokens: 10, input_tokens_details: null,
      output_tokens: 5, output_tokens_details: null, total_tokens: 15}}});
    res.end();
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
