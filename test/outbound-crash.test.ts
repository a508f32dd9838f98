// The real daemon as a child process, killed with SIGKILL after it answered QUEUED.
import test from 'ava';
import Database from 'better-sqlite3';
import path from 'node:path';
import { runAgi } from './doubles/agi-client.js';
import { startAmiDouble } from './doubles/ami-server.js';
import { startItspDouble, twilioLike } from './doubles/itsp-server.js';
import { AMI_SECRET, spawnDaemon, until, writeConfig } from './helpers/stack.js';
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
