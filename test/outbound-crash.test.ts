// The real daemon as a child process, killed with SIGKILL after it answered
// QUEUED, or between its commit and Asterisk's answer to QUEUED.
import test, { type ExecutionContext } from 'ava';
import Database from 'better-sqlite3';
import net from 'node:net';
import path from 'node:path';
import { runAgi, simulateTextTrunk } from './doubles/agi-client.js';
import { startAmiDouble } from './doubles/ami-server.js';
import { startItspDouble, twilioLike } from './doubles/itsp-server.js';
import { AMI_SECRET, sleep, spawnDaemon, until, writeConfig, type Child } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

test('SIGKILL after QUEUED: after restart the text is still sent, once', async (t) => {
  const ami = await startAmiDouble({ secret: AMI_SECRET });
  t.teardown(() => ami.stop());
  const itsp = await startItspDouble({ default: twilioLike() });
  t.teardown(() => itsp.stop());
  await itsp.refuseConnections(); // the ITSP is down: the text can only wait in the store
  const dir = tempDir();
  const conf = writeConfig({
    dir,
    amiPort: ami.port,
    general: 'default_interface = itsp',
    outbound: 'retry_min = 50ms\nretry_max = 100ms\nmax_attempts = 1000',
    interfaces: `[itsp]\nsend_url = ${itsp.url}/send\nsend_id_field = sid\nrate = 0\nrate_per_number = 0\n`,
  });
  const first = await spawnDaemon(conf);
  const agiPort = Number(/"port":(\d+)/.exec(first.logs.find((l) => l.includes('FastAGI server listening')) ?? '')?.[1] ?? NaN);
  t.false(Number.isNaN(agiPort), 'the daemon logs its FastAGI port');
  const run = await runAgi({
    port: agiPort,
    exten: '+12025550160',
    variables: { 'MESSAGE(body)': 'survive SIGKILL', 'MESSAGE(from)': '<sip:+46812345678@pbx>', 'MESSAGE(to)': 'pjsip:+12025550160@pbx' },
  });
  t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED');
  first.proc.kill('SIGKILL');
  await first.exited;

  await itsp.acceptConnections();
  const second = await spawnDaemon(conf);
  t.teardown(() => second.proc.kill('SIGKILL'));
  const db = () => new Database(path.join(dir, 'var', 'websms.db'), { readonly: true });
  await until(() => {
    const d = db();
    try {
      return (d.prepare(`SELECT state FROM outbound`).get() as { state: string } | undefined)?.state === 'sent';
    } finally {
      d.close();
    }
  }, 10_000, 'sent after restart');
  await new Promise((r) => setTimeout(r, 300));
  t.is(itsp.requests.length, 1);
  t.is(new URLSearchParams(itsp.requests[0]!.rawBody.toString()).get('Body'), 'survive SIGKILL');
  // Asterisk confirmed QUEUED before the kill: nothing to correct.
  t.false(second.logs.some((l) => l.includes('sent after all')), 'no "sent after all" notice');
  t.deepEqual(ami.originates, [], 'no notice to the phone');
});

const PHONE = '+46812345678';
const DEST = '+12025550160';
const OTHER = '+12025550161';

/**
 * A TCP proxy between the AGI double ("Asterisk") and websms that holds back
 * the line matching `hold` in one direction: 'queued' keeps websms's
 * `SET VARIABLE WEBSMS_STATUS "QUEUED"` from Asterisk (Asterisk never hears
 * it); 'answer' passes it on but keeps Asterisk's answer from websms. Once it
 * holds, `release()` closes both sides, as a broken connection or a dying
 * websms would.
 */
async function holdingProxy(t: ExecutionContext, port: number, hold: 'queued' | 'answer'): Promise<{ port: number; holding: () => boolean; release: () => void }> {
  let held = false;
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    let fromWebsms = '';
    client.on('data', (d: Buffer) => {
      if (!held) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (held) return;
      fromWebsms += d.toString('utf8');
      if (/SET VARIABLE WEBSMS_STATUS "QUEUED"\n/.test(fromWebsms)) {
        held = true;
        if (hold === 'answer') client.write(d);
        return;
      }
      client.write(d);
    });
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((res) => proxy.listen(0, '127.0.0.1', res));
  t.teardown(() => void proxy.close());
  return {
    port: (proxy.address() as net.AddressInfo).port,
    holding: () => held,
    release: () => {
      for (const c of sockets) c.destroy();
    },
  };
}

/** A hand-off cut between its commit and Asterisk's answer to QUEUED: by a SIGKILL (then a restart), or by the connection breaking. */
async function cutBetweenCommitAndAnswer(t: ExecutionContext, hold: 'queued' | 'answer', cut: 'SIGKILL' | 'connection') {
  const ami = await startAmiDouble({ secret: AMI_SECRET });
  t.teardown(() => ami.stop());
  ami.addEndpoint(PHONE, 'alice', ['sip:alice@127.0.0.1:5062']);
  const itsp = await startItspDouble({ default: twilioLike() });
  t.teardown(() => itsp.stop());
  const bodies = (): string[] => itsp.requests.map((r) => new URLSearchParams(r.rawBody.toString()).get('Body') ?? '');
  const dir = tempDir();
  const conf = writeConfig({
    dir,
    amiPort: ami.port,
    general: 'default_interface = itsp',
    // Even with notices off, the sender hears that the text goes after all.
    outbound: 'notify = none',
    interfaces: `[itsp]\nsend_url = ${itsp.url}/send\nsend_id_field = sid\nrate = 0\nrate_per_number = 0\n`,
  });
  const first = await spawnDaemon(conf);
  const agiPort = Number(/"port":(\d+)/.exec(first.logs.find((l) => l.includes('FastAGI server listening')) ?? '')?.[1] ?? NaN);
  const proxy = await holdingProxy(t, agiPort, hold);
  const trunk = simulateTextTrunk({
    port: proxy.port,
    exten: DEST,
    maxWaitMs: 10_000,
    variables: { 'MESSAGE(body)': 'committed, then the crash', 'MESSAGE(from)': `<sip:${PHONE}@pbx>`, 'MESSAGE(to)': `pjsip:${DEST}@pbx` },
  });
  await until(() => proxy.holding(), 10_000, 'QUEUED on its way');
  // Meanwhile another text from the same phone is handed off and sent: the
  // sender is awake, and still leaves the text whose QUEUED is unconfirmed.
  const other = await runAgi({
    port: agiPort,
    exten: OTHER,
    variables: { 'MESSAGE(body)': 'another text', 'MESSAGE(from)': `<sip:${PHONE}@pbx>`, 'MESSAGE(to)': `pjsip:${OTHER}@pbx` },
  });
  t.is(other.set.get('WEBSMS_STATUS'), 'QUEUED');
  await itsp.waitForRequests(1, 10_000);
  await sleep(300);
  t.deepEqual(bodies(), ['another text'], 'the unconfirmed text is not sent while its hand-off is open');
  // websms committed the text and waits for Asterisk's answer to QUEUED: it dies now, or the connection breaks.
  t.teardown(() => first.proc.kill('SIGKILL'));
  if (cut === 'SIGKILL') {
    first.proc.kill('SIGKILL');
    await first.exited;
  }
  proxy.release();
  const { run, notice } = await trunk;

  const second: Child = cut === 'SIGKILL' ? await spawnDaemon(conf) : first;
  t.teardown(() => second.proc.kill('SIGKILL'));
  const told = await ami.waitForDelivery((d) => d.to === PHONE, 10_000);
  await itsp.waitForRequests(2, 10_000);
  await sleep(300);
  t.deepEqual(bodies(), ['another text', 'committed, then the crash'], 'each sent once, the held one after the cut');
  const body = told.body.toString('utf8');
  t.regex(body, /^Will be sent to \+12025550160 after all: "committed, then the crash"/);
  t.is(told.from.includes(DEST), true, 'the notice comes from the number the text went to');
  const db = new Database(path.join(dir, 'var', 'websms.db'), { readonly: true });
  const rows = db.prepare('SELECT body, state, handoff, notified FROM outbound ORDER BY id').all();
  db.close();
  t.deepEqual(rows, [
    { body: 'committed, then the crash', state: 'sent', handoff: 'confirmed', notified: 'after_all' },
    { body: 'another text', state: 'sent', handoff: 'confirmed', notified: null },
  ]);
  t.is(ami.deliveries.filter((d) => d.to === PHONE).length, 1, 'one notice');
  t.true(second.logs.some((l) => l.includes('sent after all')));
  return { run, notice };
}

test('SIGKILL after the commit, before Asterisk heard QUEUED: the phone is told "not sent", and after the restart the text goes with a notice that it is sent after all', async (t) => {
  const { run, notice } = await cutBetweenCommitAndAnswer(t, 'queued', 'SIGKILL');
  t.is(run.variables.get('WEBSMS_STATUS'), undefined, 'Asterisk never heard QUEUED');
  t.regex(notice ?? '', /was not sent/, 'the dialplan told the sender "not sent"');
});

test('SIGKILL after Asterisk heard QUEUED but before websms read its answer: the text goes once after the restart, and the notice says so', async (t) => {
  const { run, notice } = await cutBetweenCommitAndAnswer(t, 'answer', 'SIGKILL');
  t.is(run.variables.get('WEBSMS_STATUS'), 'QUEUED');
  t.is(notice, undefined);
});

test('the connection breaks after QUEUED was written, before its answer: websms runs on, sends the text after all and tells the sender', async (t) => {
  const { run, notice } = await cutBetweenCommitAndAnswer(t, 'queued', 'connection');
  t.is(run.variables.get('WEBSMS_STATUS'), undefined);
  t.regex(notice ?? '', /was not sent/);
});

test('SIGKILL while the ITSP holds the request: the text is sent again after restart with the same reference and idempotency key', async (t) => {
  const ami = await startAmiDouble({ secret: AMI_SECRET });
  t.teardown(() => ami.stop());
  const itsp = await startItspDouble({ default: twilioLike() });
  t.teardown(() => itsp.stop());
  itsp.queue({ hang: true }); // the ITSP has the text and has not answered yet
  const dir = tempDir();
  const conf = writeConfig({
    dir,
    amiPort: ami.port,
    general: 'default_interface = itsp',
    outbound: 'retry_min = 50ms\nretry_max = 100ms',
    interfaces: `[itsp]\nsend_url = ${itsp.url}/send\nsend_id_field = sid\nsend_reference_field = client_ref\nsend_idempotency_header = Idempotency-Key\nrate = 0\nrate_per_number = 0\n`,
  });
  const first = await spawnDaemon(conf);
  const agiPort = Number(/"port":(\d+)/.exec(first.logs.find((l) => l.includes('FastAGI server listening')) ?? '')?.[1] ?? NaN);
  const run = await runAgi({
    port: agiPort,
    exten: '+12025550160',
    variables: { 'MESSAGE(body)': 'held by the ITSP', 'MESSAGE(from)': '<sip:+46812345678@pbx>', 'MESSAGE(to)': 'pjsip:+12025550160@pbx' },
  });
  t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED');
  await itsp.waitForRequests(1, 10_000);
  first.proc.kill('SIGKILL');
  await first.exited;

  const second = await spawnDaemon(conf);
  t.teardown(() => second.proc.kill('SIGKILL'));
  const [held, resent] = await itsp.waitForRequests(2, 10_000);
  const key = held!.headers['idempotency-key'];
  t.regex(String(key), /^websms-\d+$/, 'our reference, websms-<id>');
  t.is(resent!.headers['idempotency-key'], key, 'the same key on the resend: an ITSP that honours it drops the second');
  const ref = (r: typeof held) => new URLSearchParams(r!.rawBody.toString()).get('client_ref');
  t.is(ref(held), key);
  t.is(ref(resent), key);
  t.is(new URLSearchParams(resent!.rawBody.toString()).get('Body'), 'held by the ITSP');
});
