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
