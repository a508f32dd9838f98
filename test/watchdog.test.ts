// The systemd watchdog keep-alives, with the real daemon as a child process
// and a stand-in systemd-notify on its PATH that records each call (systemd
// itself, which kills and restarts a daemon whose keep-alives stop, is not
// on the test machine; systemd/websms.service is checked for the settings).
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnDaemon, sleep, until, writeConfig } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

/** A directory with an executable `systemd-notify` that appends its pid's parent and arguments to `calls`. */
function fakeNotify(): { bin: string; calls: () => string[] } {
  const dir = tempDir();
  const log = path.join(dir, 'calls');
  fs.writeFileSync(path.join(dir, 'systemd-notify'), `#!/bin/sh\necho "$PPID $NOTIFY_SOCKET $*" >> '${log}'\n`, { mode: 0o755 });
  return { bin: dir, calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []) };
}

test('with WATCHDOG_USEC set, the daemon sends WATCHDOG=1 every third of it while it runs, and stops when it stops', async (t) => {
  const notify = fakeNotify();
  const dir = tempDir();
  const child = await spawnDaemon(writeConfig({ dir, amiPort: 1 }), {
    PATH: `${notify.bin}:${process.env.PATH}`,
    NOTIFY_SOCKET: '/run/systemd/notify',
    WATCHDOG_USEC: '600000', // 600 ms: a keep-alive every 200 ms
  });
  t.teardown(() => child.proc.kill('SIGKILL'));
  const calls = await until(() => (notify.calls().length >= 5 ? notify.calls() : undefined), 10_000, 'five keep-alives');
  for (const c of calls) t.is(c, `${child.proc.pid} /run/systemd/notify WATCHDOG=1`);
  t.true(child.logs.some((l) => l.includes('systemd watchdog keep-alives on') && l.includes('"everyMs":200')));

  // A daemon that does not run sends nothing: stopped (as hung as it gets), then gone.
  child.proc.kill('SIGSTOP');
  await sleep(100);
  const before = notify.calls().length;
  await sleep(700);
  t.is(notify.calls().length, before, 'no keep-alive from a stopped process');
  child.proc.kill('SIGCONT');
  await until(() => notify.calls().length > before, 10_000, 'keep-alives again');
  child.proc.kill('SIGTERM');
  t.is(await child.exited, 0);
  const after = notify.calls().length;
  await sleep(500);
  t.is(notify.calls().length, after);
});

test('no keep-alives without WATCHDOG_USEC, or when WATCHDOG_PID names another process', async (t) => {
  for (const env of [{ NOTIFY_SOCKET: '/run/systemd/notify' }, { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '300000', WATCHDOG_PID: '1' }]) {
    const notify = fakeNotify();
    const child = await spawnDaemon(writeConfig({ dir: tempDir(), amiPort: 1 }), { PATH: `${notify.bin}:${process.env.PATH}`, ...env });
    await sleep(500);
    child.proc.kill('SIGTERM');
    t.is(await child.exited, 0);
    t.deepEqual(notify.calls(), [], JSON.stringify(env));
    t.false(child.logs.some((l) => l.includes('watchdog')));
  }
});

test('a missing systemd-notify is logged once as a warning; the daemon runs on', async (t) => {
  const child = await spawnDaemon(writeConfig({ dir: tempDir(), amiPort: 1 }), {
    PATH: tempDir(), // nothing in it
    NOTIFY_SOCKET: '/run/systemd/notify',
    WATCHDOG_USEC: '300000',
  });
  await sleep(600);
  const warnings = child.logs.filter((l) => l.includes('could not send the systemd watchdog keep-alive'));
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /"level":"warn"/);
  child.proc.kill('SIGTERM');
  t.is(await child.exited, 0);
});

test('systemd/websms.service asks for the watchdog, accepts keep-alives from systemd-notify, and restarts at once', (t) => {
  const unit = fs.readFileSync(fileURLToPath(new URL('../../systemd/websms.service', import.meta.url)), 'utf8');
  const setting = (k: string): string | undefined => new RegExp(`^${k}=(.*)$`, 'm').exec(unit)?.[1];
  t.is(setting('WatchdogSec'), '10');
  t.is(setting('NotifyAccess'), 'all');
  t.is(setting('WatchdogSignal'), 'SIGKILL');
  t.is(setting('Restart'), 'always');
  t.is(setting('RestartSec'), '1');
  t.is(setting('RestrictAddressFamilies'), 'AF_INET AF_INET6 AF_UNIX');
});
