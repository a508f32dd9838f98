// Texts that cannot go yet must wait quietly: the real daemon as a child
// process, its CPU time read from /proc while texts wait.
import test from 'ava';
import fs from 'node:fs';
import { startAmiDouble } from './doubles/ami-server.js';
import { AMI_SECRET, post, rows, sleep, spawnDaemon, until, writeConfig } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const ALICE = '+46812345678';
const SENDER = '+46701234567';

/** CPU time (user + system) the process used during ms, as a share of that time. */
async function cpuShare(pid: number, ms: number): Promise<number> {
  const ticks = (): number => {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
  };
  const before = ticks();
  await sleep(ms);
  return ((ticks() - before) * 10) / ms; // 100 ticks a second
}

test('waiting texts cost no CPU: behind an earlier text for an offline phone, and while Asterisk is down', async (t) => {
  const ami = await startAmiDouble({ secret: AMI_SECRET });
  t.teardown(() => ami.stop());
  ami.addEndpoint(ALICE, 'alice', []); // the number exists; no phone registered
  const dir = tempDir();
  const child = await spawnDaemon(writeConfig({ dir, amiPort: ami.port, ami: 'retry_min = 5s\nretry_max = 10s' }));
  t.teardown(() => child.proc.kill('SIGKILL'));
  const url = `http://127.0.0.1:${child.port}/sms/in/default`;
  for (const body of ['first', 'second']) t.is((await post(url, { To: ALICE, From: SENDER, Body: body, MessageSid: body })).status, 200);
  // The first waits for the phone (retried in 5-10 s); the second, due now, waits behind it.
  await until(() => rows(dir)[0]?.state === 'waiting' && rows(dir)[1]?.state === 'queued', 10_000, 'first waiting');
  await sleep(200);
  const behind = await cpuShare(child.proc.pid!, 2000);

  // Asterisk goes away; a new text for someone else is due at once and cannot go.
  await ami.stop();
  t.is((await post(url, { To: '+46812345679', From: SENDER, Body: 'third', MessageSid: 'third' })).status, 200);
  await sleep(300);
  const down = await cpuShare(child.proc.pid!, 2000);
  t.is(rows(dir)[2]?.state, 'queued');
  // Idle, the daemon uses 0-1.5 % of a core (up to about 3 % on a machine
  // busy with other tests); a scan loop that finds nothing to send and runs
  // again at once took 9-15 % here.
  t.true(behind < 0.05, `the daemon used ${(behind * 100).toFixed(1)} % of a core while the texts waited`);
  t.true(down < 0.05, `the daemon used ${(down * 100).toFixed(1)} % of a core while Asterisk was down`);
});
