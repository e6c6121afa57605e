// A stand-in for the Anthropic Messages API, for running the real Claude Code in the e2e tests
// without a model: a request that offers the tool named in TOOL_FILE ({"name", "input"}, read on
// every request, so one server serves several runs) and does not already carry a tool_result gets
// one tool_use of it; anything else gets the text "done". Prints its port on stdout.
import fs from 'node:fs';
import http from 'node:http';

function tool() {
  return JSON.parse(fs.readFileSync(process.env.TOOL_FILE, 'utf8'));
}

function sse(res, events) {
  res.writeHead(200, {'content-type': 'text/event-stream'});
  for (const [type, data] of events) {
    res.write(`event: ${type}\ndata: ${JSON.stringify({type, ...data})}\n\n`);
  }
  res.end();
}

let n = 0;
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    if (!req.url.startsWith('/v1/messages') || req.url.startsWith('/v1/messages/count_tokens')) {
      res.writeHead(200, {'content-type': 'application/json'});
      res.end(JSON.stringify({input_tokens: 10}));
      return;
    }
    let request = {};
    try {
      request = JSON.parse(body);
    } catch {}
    const last = (request.messages || []).at(-1);
    const answered =
      Array.isArray(last?.content) && last.content.some((block) => block.type === 'tool_result');
    const {name, input} = tool();
    const offered = (request.tools || []).some((t) => t.name === name);
    const id = `msg_fake_${++n}`;
    const usage = {input_tokens: 10, output_tokens: 5};
    const start = ['message_start', {
      message: {id, type: 'message', role: 'assistant', model: request.model, content: [],
                stop_reason: null, usage}}];
    const end = (reason) => [
      ['message_delta', {delta: {stop_reason: reason, stop_sequence: null}, usage: {output_tokens: 5}}],
      ['message_stop', {}]];
    if (offered && !answered) {
      sse(res, [start,
        ['content_block_start', {index: 0, content_block: {type: 'tool_use', id: `toolu_fake_${n}`, name, input: {}}}],
        ['content_block_delta', {index: 0, delta: {type: 'input_json_delta', partial_json: JSON.stringify(input)}}],
        ['content_block_stop', {index: 0}], ...end('tool_use')]);
      return;
    }
    if (request.stream) {
      sse(res, [start,
        ['content_block_start', {index: 0, content_block: {type: 'text', text: ''}}],
        ['content_block_delta', {index: 0, delta: {type: 'text_delta', text: 'done'}}],
        ['content_block_stop', {index: 0}], ...end('end_turn')]);
      return;
    }
    res.writeHead(200, {'content-type': 'application/json'});
    res.end(JSON.stringify({id, type: 'message', role: 'assistant', model: request.model,
                            content: [{type: 'text', text: 'done'}], stop_reason: 'end_turn', usage}));
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
