// Wrong-key /nic/update requests for the lab, as fast as CONCURRENCY
// connections allow, for SECONDS (bounded in time and in count), each for a
// tunnel name of its own: every one costs the server a key check. Prints
// {"sent":N,"answers":{"badauth":N,...}}.
//   node update-flood.js HOST PORT CONCURRENCY SECONDS [MAX_REQUESTS]
import { request } from 'node:http';

const [host, portText, concurrencyText, secondsText, maxText] = process.argv.slice(2);
const deadline = Date.now() + Number(secondsText) * 1000;
const max = Number(maxText ?? 1_000_000);
const answers: Record<string, number> = {};
let sent = 0;

function one(): Promise<void> {
  return new Promise((resolve) => {
    const auth = Buffer.from(`nobody${sent}:guess`).toString('base64');
    const req = request({ host, port: Number(portText), path: `/nic/update?hostname=flood${sent}`, headers: { authorization: `Basic ${auth}` }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => {
        const word = body.trim().split(' ')[0] || 'empty';
        answers[word] = (answers[word] ?? 0) + 1;
        resolve();
      });
    });
    req.setTimeout(5000, () => req.destroy());
    req.on('error', () => {
      answers.error = (answers.error ?? 0) + 1;
      resolve();
    });
    sent++;
    req.end();
  });
}

async function worker(): Promise<void> {
  while (Date.now() < deadline && sent < max) await one();
}

await Promise.all(Array.from({ length: Number(concurrencyText) }, worker));
process.stdout.write(JSON.stringify({ sent, answers }) + '\n');
