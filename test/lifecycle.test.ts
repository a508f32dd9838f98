// The real daemon as a child process: SIGHUP reloads the configuration
// without dropping connections or texts, and SIGTERM under load stops within
// a few seconds having lost nothing it acknowledged.
import test from 'ava';
import fs from 'node:fs';
import http from 'node:http';
import { startAmiDouble } from './doubles/ami-server.js';
import { AMI_SECRET, rows, sleep, spawnDaemon, until, writeConfig } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const ALICE = '+46812345678';
const SENDER = '+46701234567';

/** A POST over one kept-alive connection (an ITSP that reuses its connection). */
function postOn(agent: http.Agent, port: number, path: string, form: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = new URLSearchParams(form).toString();
    const req = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.once('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

test('SIGHUP: a new interface and a new log level apply at once, open connections and queued texts stay', async (t) => {
  const ami = await startAmiDouble({ secret: AMI_SECRET });
  t.teardown(() => ami.stop());
  await ami.pause(); // texts stay queued: a reload must not lose them
  const dir = tempDir();
  const conf = writeConfig({ dir, amiPort: ami.port });
  const child = await spawnDaemon(conf);
  t.teardown(() => child.proc.kill('SIGKILL'));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());

  t.is(await postOn(agent, child.port, '/sms/in/default', { To: ALICE, From: SENDER, Body: 'before' }), 200);
  t.is(await postOn(agent, child.port, '/sms/in/second', { To: ALICE, From: SENDER, Body: 'x' }), 404, 'no such interface yet');
  const socketsBefore = Object.values(agent.sockets).flat().length + Object.values(agent.freeSockets).flat().length;

  const text = fs.readFileSync(conf, 'utf8').replace('[general]\n', '[general]\nlog_level = debug\n');
  fs.writeFileSync(conf, `${text}\n[second]\nfield_id = MessageSid\n`);
  t.false(child.logs.some((l) => l.includes('"level":"debug"')), 'no debug line before the reload');
  child.proc.kill('SIGHUP');
  await until(() => child.logs.some((l) => l.includes('"configuration reloaded"')), 10_000, 'the reload log line');
  const line = JSON.parse(child.logs.find((l) => l.includes('"configuration reloaded"'))!) as { changed: string[] };
  t.true(line.changed.includes('[second] (new)'));
  t.true(line.changed.includes('[general] log_level'));

  t.is(await postOn(agent, child.port, '/sms/in/second', { To: ALICE, From: SENDER, Body: 'after', MessageSid: 'S2' }), 200);
  // The management API sees the reloaded interfaces too.
  const apiPort = (JSON.parse(child.logs.find((l) => l.includes('"api listening"'))!) as { port: number }).port;
  const listed = (await (await fetch(`http://127.0.0.1:${apiPort}/api/interfaces`)).json()) as { interfaces: Array<{ name: string }> };
  t.deepEqual(listed.interfaces.map((i) => i.name), ['default', 'second']);
  t.is(await postOn(agent, child.port, '/sms/in/default', { To: ALICE, From: SENDER, Body: 'after too' }), 200);
  const socketsAfter = Object.values(agent.sockets).flat().length + Object.values(agent.freeSockets).flat().length;
  t.is(socketsBefore, 1);
  t.is(socketsAfter, 1, 'the same kept-alive connection carried every request');
  t.deepEqual(rows(dir).map((r) => [r.body, r.interface, r.state]), [
    ['before', 'default', 'queued'],
    ['after', 'second', 'queued'],
    ['after too', 'default', 'queued'],
  ]);
  // Asterisk comes back: the texts queued across the reload are delivered, and at debug level it says so.
  ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  await ami.resume();
  await until(() => rows(dir).every((r) => r.state === 'delivered'), 15_000, 'delivery of all three');
  t.true(child.logs.some((l) => l.includes('"level":"debug"') && l.includes('originating')), 'debug lines after the reload');
  t.is(ami.deliveries.length, 3);
  t.is(child.proc.exitCode, null, 'still running');
});

test('SIGHUP with a broken configuration: refused with its reasons, the old one keeps running', async (t) => {
  const ami = await startAmiDouble({ secret: AMI_SECRET });
  t.teardown(() => ami.stop());
  const dir = tempDir();
  const conf = writeConfig({ dir, amiPort: ami.port });
  const child = await spawnDaemon(conf);
  t.teardown(() => child.proc.kill('SIGKILL'));
  const good = fs.readFileSync(conf, 'utf8');
  fs.writeFileSync(conf, `${good}\n[broken]\nallow = 10.0.0.0/33\nmax_attempts = 3\n`);
  child.proc.kill('SIGHUP');
  const refusal = await until(() => child.logs.find((l) => l.includes('configuration not reloaded')), 10_000, 'the refusal');
  const rec = JSON.parse(refusal) as { level: string; problems: string[] };
  t.is(rec.level, 'error');
  t.true(rec.problems.some((p) => p.includes('10.0.0.0/33')));
  t.true(rec.problems.some((p) => p.includes('max_attempts')));
  const agent = new http.Agent({ keepAlive: false });
  t.is(await postOn(agent, child.port, '/sms/in/default', { To: ALICE, From: SENDER, Body: 'still here' }), 200);
  t.is(child.proc.exitCode, null);

  // A listen address cannot move under a running daemon: it is named, not applied.
  fs.writeFileSync(conf, good.replace('[general]\nlisten = 127.0.0.1:0', '[general]\nlisten = 127.0.0.1:1'));
  child.proc.kill('SIGHUP');
  const line = await until(() => child.logs.find((l) => l.includes('"configuration reloaded') ), 10_000, 'the reload');
  t.deepEqual((JSON.parse(line) as { needRestart: string[] }).needRestart, ['[general] listen']);
  t.is(await postOn(agent, child.port, '/sms/in/default', { To: ALICE, From: SENDER, Body: 'same port' }), 200);
});

test('SIGTERM while 30 clients keep posting: exits 0 within a few seconds, every 2xx stored once', async (t) => {
  const ami = await startAmiDouble({ secret: AMI_SECRET });
  t.teardown(() => ami.stop());
  ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  const dir = tempDir();
  const child = await spawnDaemon(writeConfig({ dir, amiPort: ami.port }));
  t.teardown(() => child.proc.kill('SIGKILL'));
  const acked: string[] = [];
  let over = false;
  const clients = Array.from({ length: 30 }, async (_, w) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; !over; i++) {
        const body = `w${w}-m${i}`;
        try {
          if ((await postOn(agent, child.port, '/sms/in/default', { To: ALICE, From: SENDER, Body: body })) === 200) acked.push(body);
        } catch {
          await sleep(5); // refused or cut: an ITSP would retry later
        }
      }
    } finally {
      agent.destroy();
    }
  });
  await until(() => acked.length >= 300, 20_000, '300 acknowledged texts');
  const sentAt = Date.now();
  child.proc.kill('SIGTERM');
  const code = await child.exited;
  const took = Date.now() - sentAt;
  over = true;
  await Promise.all(clients);
  t.is(code, 0);
  // systemd's TimeoutStopSec is 20 s; the stop's own bounds add up to well under it.
  t.true(took < 12_000, `stopped in ${took} ms`);
  t.true(child.logs.some((l) => l.includes('"stopped"')));
  const stored = rows(dir);
  const bodies = new Set(stored.map((r) => r.body as string));
  t.deepEqual(acked.filter((b) => !bodies.has(b)), [], `${acked.length} acknowledged, none lost`);
  t.is(bodies.size, stored.length, 'none stored twice');
});
