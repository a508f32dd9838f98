// The real daemon as a child process, killed with SIGKILL: what it acknowledged survives.
import test from 'ava';
import { startAmiDouble } from './doubles/ami-server.js';
import { AMI_SECRET, post, rows, spawnDaemon, until, writeConfig } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const ALICE = '+46812345678';
const SENDER = '+46701234567';

test('SIGKILL right after the 2xx: after restart the text is delivered exactly once', async (t) => {
  const ami = await startAmiDouble({ secret: AMI_SECRET });
  t.teardown(() => ami.stop());
  ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062']);
  await ami.pause(); // Asterisk not there yet: the text can only be in the store
  const dir = tempDir();
  const conf = writeConfig({ dir, amiPort: ami.port });
  const first = await spawnDaemon(conf);
  const r = await post(`http://127.0.0.1:${first.port}/sms/in/default`, { To: ALICE, From: SENDER, Body: 'survive SIGKILL', MessageSid: 'K1' });
  t.is(r.status, 200);
  first.proc.kill('SIGKILL');
  t.is(await first.exited, null);
  t.is(rows(dir).length, 1, 'committed before the answer');

  await ami.resume();
  const second = await spawnDaemon(conf);
  t.teardown(() => second.proc.kill('SIGKILL'));
  // The ITSP retries the same webhook after the crash: still one text.
  const retry = await post(`http://127.0.0.1:${second.port}/sms/in/default`, { To: ALICE, From: SENDER, Body: 'survive SIGKILL', MessageSid: 'K1' });
  t.is(retry.status, 200);
  await until(() => rows(dir)[0]?.state === 'delivered', 10_000, 'delivery after restart');
  await new Promise((res) => setTimeout(res, 300));
  t.is(ami.deliveries.length, 1);
  t.is(ami.deliveries[0]!.body.toString(), 'survive SIGKILL');
  second.proc.kill('SIGTERM');
  t.is(await second.exited, 0, 'SIGTERM stops cleanly');
});

test('SIGKILL under load: every text answered 2xx is in the database', async (t) => {
  const ami = await startAmiDouble({ secret: AMI_SECRET });
  t.teardown(() => ami.stop());
  await ami.pause();
  const dir = tempDir();
  const child = await spawnDaemon(writeConfig({ dir, amiPort: ami.port }));
  const url = `http://127.0.0.1:${child.port}/sms/in/default`;
  const acked: string[] = [];
  let killed = false;
  const senders = Array.from({ length: 20 }, async (_, w) => {
    for (let i = 0; !killed; i++) {
      const body = `w${w}-m${i}`;
      try {
        const r = await post(url, { To: ALICE, From: SENDER, Body: body });
        if (r.status === 200) acked.push(body);
      } catch {
        return; // the daemon is gone
      }
    }
  });
  await until(() => acked.length >= 300, 15_000, '300 acknowledged texts');
  child.proc.kill('SIGKILL');
  killed = true;
  await Promise.all(senders);
  await child.exited;
  const stored = new Set(rows(dir).map((r) => r.body as string));
  const lost = acked.filter((b) => !stored.has(b));
  t.deepEqual(lost, [], `${acked.length} acknowledged, none lost`);
  t.is(stored.size, rows(dir).length, 'no duplicates stored');
});

test('SIGKILL with Originates in flight, then restart: each text is shown exactly once on each phone', async (t) => {
  // Each call runs 200 ms after its Originate, so that at the kill some are
  // shown with their report not yet recorded, and some are not yet shown.
  const ami = await startAmiDouble({ secret: AMI_SECRET, originateDelayMs: 200 });
  t.teardown(() => ami.stop());
  const phones = ['sip:alice@127.0.0.1:5062', 'sip:alice@127.0.0.1:5064'];
  ami.addEndpoint(ALICE, 'alice', phones);
  const dir = tempDir();
  const conf = writeConfig({ dir, amiPort: ami.port, ami: 'max_in_flight = 20\nreport_timeout = 60s\n' });
  const first = await spawnDaemon(conf);
  const url = `http://127.0.0.1:${first.port}/sms/in/default`;
  const bodies = Array.from({ length: 60 }, (_, i) => `burst ${i}`);
  // Distinct senders: distinct conversations, delivered side by side.
  await Promise.all(bodies.map((body, i) => post(url, { To: ALICE, From: `+4670200${String(i).padStart(4, '0')}`, Body: body, MessageSid: `B${i}` })));
  await ami.waitFor(() => ami.deliveries.length >= 10 && ami.originates.length > ami.deliveries.length / phones.length, 10_000);
  first.proc.kill('SIGKILL');
  await first.exited;
  const sending = rows(dir).filter((r) => r.state === 'sending').length;
  t.true(sending > 0, 'texts were in flight at the kill');

  const second = await spawnDaemon(conf);
  t.teardown(() => second.proc.kill('SIGKILL'));
  await until(() => rows(dir).length === 60 && rows(dir).every((r) => r.state === 'delivered'), 20_000, 'all 60 delivered after the restart');
  await new Promise((res) => setTimeout(res, 300));
  for (const phone of phones) t.deepEqual([...ami.phones[phone]!].sort(), [...bodies].sort(), `${phone}: each text once`);
  const repeats = ami.events.filter((e) => e.name === 'UserEvent' && e.fields.some(([k, v]) => k === 'Repeat' && v === 'yes')).length;
  t.true(repeats > 0, 'some were handed over again and answered from the record');
  t.true(ami.originates.length > 60, 'texts in flight were originated again after the restart');
  second.proc.kill('SIGTERM');
  t.is(await second.exited, 0);
});

test('a configuration error exits 78 with every problem listed and starts nothing', async (t) => {
  const dir = tempDir();
  const file = `${dir}/bad.conf`;
  (await import('node:fs')).writeFileSync(file, '[general]\nlistn = 1\n[ami]\nport = abc\n[itsp]\nallow = 10.0.0.0/33\nusername = x\n');
  const child = await spawnDaemon(file).then(
    () => undefined,
    (e: Error) => e,
  );
  t.truthy(child);
  t.regex(child!.message, /exited with 78/);
  t.regex(child!.message, /did you mean "listen"/);
  t.regex(child!.message, /port/);
  t.regex(child!.message, /10\.0\.0\.0\/33/);
  t.regex(child!.message, /password/);
});
