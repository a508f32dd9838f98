// The floor the hand-off is measured against: a FastAGI server that asks
// Asterisk the same three questions as websms's hand-off (the same bytes) and
// closes, with no checks, no database and no logging. Run as its own process,
// like the daemon, so that the load client and the kernel's loopback cost are
// all that is left: what any hand-off server on this machine would pay.
//   node agi-floor.js    prints {"port": N}
import net from 'node:net';
import { quoteAgiValue } from '../src/asterisk/fastagi.js';
import { HANDOFF_EXPRESSION } from '../src/outbound/handoff.js';

const QUESTIONS = [`GET FULL VARIABLE ${quoteAgiValue(HANDOFF_EXPRESSION)}`, 'SET VARIABLE WEBSMS_STATUS "QUEUED"', 'SET VARIABLE WEBSMS_ID "1"'];

const server = net.createServer((sock) => {
  sock.setNoDelay(true);
  sock.on('error', () => undefined);
  let buf = '';
  let inEnv = true;
  let asked = 0;
  const next = (): void => {
    if (asked < QUESTIONS.length) sock.write(`${QUESTIONS[asked++]}\n`);
    else sock.end();
  };
  sock.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    if (inEnv) {
      const end = buf.indexOf('\n\n');
      if (end < 0) return;
      inEnv = false;
      buf = buf.slice(end + 2);
      next();
    }
    // Each answer from the bench client ends in a line that ends in ')' or is '200 result=1'.
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.startsWith('200 result=1 (') && !line.endsWith(')')) continue; // the first line of a two-line value
      next();
    }
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
