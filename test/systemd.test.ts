// sd_notify with a real AF_UNIX datagram socket standing in for systemd's
// NOTIFY_SOCKET, and the real daemon as a child process (systemd itself,
// which acts on these messages, is not on the test machine).

import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { connectSystemd } from '../src/systemd.js';
import { createLogger } from '../src/log.js';
import { databaseAnswers, openDatabase } from '../src/store/db.js';
import { startAmiDouble } from './doubles/ami-server.js';
import { notifySocket } from './helpers/notify-socket.js';
import { AMI_SECRET, sleep, spawnDaemon, until, writeConfig } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function capture(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger('debug', {}, (l) => lines.push(l)), lines };
}

test('READY=1 comes once the webhook and FastAGI listeners accept connections; STATUS says what websms waits for; STOPPING=1 on SIGTERM', async (t) => {
  const sock = notifySocket();
  t.teardown(() => sock.close());
  const ami = await startAmiDouble({ secret: AMI_SECRET });
  t.teardown(() => ami.stop());
  const [httpPort, agiPort] = [await freePort(), await freePort()];
  const dir = tempDir();
  const file = writeConfig({ dir, amiPort: ami.port, ami: 'reconnect_min = 2s\nreconnect_max = 2s\n' });
  // Fixed ports, so that the test can try them the moment READY=1 arrives.
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/^listen = 127\.0\.0\.1:0$/m, `listen = 127.0.0.1:${httpPort}`).replace(/\[agi\]\nlisten = 127\.0\.0\.1:0/, `[agi]\nlisten = 127.0.0.1:${agiPort}`));

  let readyAt: number | undefined;
  let accepted: Promise<boolean[]> | undefined;
  const watch = setInterval(() => {
    const i = sock.messages.findIndex((m) => m.READY === '1');
    if (i >= 0 && accepted === undefined) {
      readyAt = i;
      accepted = Promise.all([connects(httpPort), connects(agiPort)]);
    }
  }, 1);
  t.teardown(() => clearInterval(watch));

  const child = await spawnDaemon(file, { NOTIFY_SOCKET: sock.path });
  t.teardown(() => child.proc.kill('SIGKILL'));
  const ready = await sock.next('READY', '1');
  await until(() => accepted, 5000, 'the connection attempts');
  t.deepEqual(await accepted, [true, true], 'both listeners accepted at READY=1');
  t.is(sock.messages.slice(0, readyAt).filter((m) => 'READY' in m).length, 0, 'READY=1 once, after the listeners');
  t.is(sock.messages[0]?.STATUS, 'opening the database and listening');
  t.regex(ready.STATUS ?? '', /^(AMI connected|waiting for AMI at 127\.0\.0\.1:\d+); 0 text\(s\) queued for phones, 0 for ITSPs$/);

  // The status follows AMI: connected, then waiting again once Asterisk goes away.
  await sock.next('STATUS', 'AMI connected; 0 text(s) queued for phones, 0 for ITSPs');
  const before = sock.messages.length;
  await ami.stop();
  await sock.next('STATUS', `waiting for AMI at 127.0.0.1:${ami.port}; 0 text(s) queued for phones, 0 for ITSPs`, before);

  const beforeStop = sock.messages.length;
  child.proc.kill('SIGTERM');
  t.is(await child.exited, 0);
  const stopping = await sock.next('STOPPING', '1', beforeStop);
  t.regex(stopping.STATUS ?? '', /^stopping/);
  t.false(sock.messages.slice(beforeStop).some((m) => 'READY' in m));
});

test('the messages come from the daemon\'s own process (what NotifyAccess=main accepts), not from a helper process', async (t) => {
  // Python reads the sender's credentials (SO_PASSCRED), which unix-dgram does not expose.
  const probe = spawn('python3', ['-c', 'import socket; socket.SO_PASSCRED'], { stdio: 'ignore' });
  const hasPython = await new Promise<boolean>((r) => {
    probe.once('error', () => r(false));
    probe.once('exit', (code) => r(code === 0));
  });
  if (!hasPython) {
    t.log('python3 is not on this machine: the sender pid is not checked');
    t.pass();
    return;
  }
  const dir = tempDir();
  const sockPath = path.join(dir, 'notify');
  const receiver = spawn('python3', ['-u', '-c', `
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = [struct.unpack("iII", d[:12])[0] for (l, ty, d) in anc if ty == socket.SCM_CREDENTIALS]
    print(pid[0] if pid else "none", msg.decode().replace("\\n", "|"), flush=True)
`, sockPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => receiver.kill('SIGKILL'));
  const lines: string[] = [];
  let partial = '';
  receiver.stdout.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    lines.push(...parts.filter(Boolean));
  });
  await until(() => lines.includes('bound'), 10_000, 'the python receiver');

  const child = await spawnDaemon(writeConfig({ dir, amiPort: 1 }), { NOTIFY_SOCKET: sockPath, WATCHDOG_USEC: '300000' });
  t.teardown(() => child.proc.kill('SIGKILL'));
  await until(() => lines.filter((l) => l.includes('WATCHDOG=1')).length >= 3, 10_000, 'three keep-alives');
  child.proc.kill('SIGTERM');
  t.is(await child.exited, 0);
  await until(() => lines.some((l) => l.includes('STOPPING=1')), 5000, 'STOPPING=1');
  const messages = lines.filter((l) => l !== 'bound');
  t.true(messages.some((l) => l.includes('READY=1')));
  for (const l of messages) t.is(l.split(' ')[0], String(child.proc.pid), l);
});

test('with WATCHDOG_USEC set, WATCHDOG=1 comes every third of it while the daemon runs, and stops when it is stopped or ends', async (t) => {
  const sock = notifySocket();
  t.teardown(() => sock.close());
  const child = await spawnDaemon(writeConfig({ dir: tempDir(), amiPort: 1 }), {
    NOTIFY_SOCKET: sock.path,
    WATCHDOG_USEC: '600000', // 600 ms: a keep-alive every 200 ms
  });
  t.teardown(() => child.proc.kill('SIGKILL'));
  await until(() => sock.with('WATCHDOG').length >= 5, 10_000, 'five keep-alives');
  t.true(sock.with('WATCHDOG').every((m) => m.WATCHDOG === '1' && Object.keys(m).length === 1));
  t.true(child.logs.some((l) => l.includes('systemd watchdog keep-alives on') && l.includes('"everyMs":200')));
  const firstKeepAlive = sock.messages.findIndex((m) => 'WATCHDOG' in m);
  t.true(firstKeepAlive > sock.messages.findIndex((m) => m.READY === '1'), 'keep-alives only after READY=1');

  // A daemon that does not run sends nothing: stopped (as hung as it gets), then gone.
  child.proc.kill('SIGSTOP');
  await sleep(100);
  const before = sock.with('WATCHDOG').length;
  await sleep(700);
  t.is(sock.with('WATCHDOG').length, before, 'no keep-alive from a stopped process');
  child.proc.kill('SIGCONT');
  await until(() => sock.with('WATCHDOG').length > before, 10_000, 'keep-alives again');
  child.proc.kill('SIGTERM');
  t.is(await child.exited, 0);
  const after = sock.with('WATCHDOG').length;
  await sleep(500);
  t.is(sock.with('WATCHDOG').length, after);
  const stopAt = sock.messages.findIndex((m) => m.STOPPING === '1');
  t.true(stopAt > 0);
  t.false(sock.messages.slice(stopAt).some((m) => 'WATCHDOG' in m), 'no keep-alive after STOPPING=1');
});

test('no keep-alives without WATCHDOG_USEC, or when WATCHDOG_PID names another process; READY=1 all the same', async (t) => {
  for (const env of [{}, { WATCHDOG_USEC: '300000', WATCHDOG_PID: '1' }]) {
    const sock = notifySocket();
    const child = await spawnDaemon(writeConfig({ dir: tempDir(), amiPort: 1 }), { NOTIFY_SOCKET: sock.path, ...env });
    await sock.next('READY', '1');
    await sleep(500);
    child.proc.kill('SIGTERM');
    t.is(await child.exited, 0);
    t.deepEqual(sock.with('WATCHDOG'), [], JSON.stringify(env));
    t.false(child.logs.some((l) => l.includes('watchdog')));
    sock.close();
  }
});

test('without NOTIFY_SOCKET nothing is sent and nothing is said about systemd', async (t) => {
  const child = await spawnDaemon(writeConfig({ dir: tempDir(), amiPort: 1 }), { WATCHDOG_USEC: '300000' });
  await sleep(300);
  child.proc.kill('SIGTERM');
  t.is(await child.exited, 0);
  t.false(child.logs.some((l) => /systemd|watchdog/.test(l)));
});

test('a NOTIFY_SOCKET nobody listens on is one warning; the daemon runs on', async (t) => {
  const child = await spawnDaemon(writeConfig({ dir: tempDir(), amiPort: 1 }), {
    NOTIFY_SOCKET: path.join(tempDir(), 'nobody-here'),
    WATCHDOG_USEC: '300000',
  });
  await sleep(600);
  const warnings = child.logs.filter((l) => l.includes('cannot notify systemd'));
  t.is(warnings.length, 1);
  t.regex(warnings[0]!, /"level":"warn"/);
  child.proc.kill('SIGTERM');
  t.is(await child.exited, 0);
});

test('WATCHDOG=1 stops while the database does not answer, with one error line, and resumes when it does', async (t) => {
  const sock = notifySocket();
  t.teardown(() => sock.close());
  const { log, lines } = capture();
  const file = path.join(tempDir(), 'websms.db');
  const first = openDatabase(file);
  let check = databaseAnswers(first);
  const systemd = connectSystemd({ NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '150000' }, log);
  t.teardown(() => systemd.close());
  systemd.startWatchdog(() => check());
  t.is(systemd.watchdogEveryMs, 50);
  await until(() => sock.with('WATCHDOG').length >= 3, 5000, 'keep-alives');

  first.close(); // the connection the check queries is gone
  await sleep(120);
  const before = sock.with('WATCHDOG').length;
  await sleep(400);
  t.is(sock.with('WATCHDOG').length, before, 'no keep-alive while the database does not answer');
  const errors = lines.filter((l) => l.includes('the database does not answer'));
  t.is(errors.length, 1, 'said once, not every tick');
  t.regex(errors[0]!, /not open/);

  const second = openDatabase(file);
  check = databaseAnswers(second);
  await until(() => sock.with('WATCHDOG').length > before, 5000, 'keep-alives again');
  t.true(lines.some((l) => l.includes('database answers again')));
  second.close();
});

test('reloading() sends RELOADING=1 with the monotonic clock, ready() ends it; STATUS lines are sent once each, on one line', async (t) => {
  const sock = notifySocket();
  t.teardown(() => sock.close());
  const { log, lines } = capture();
  const systemd = connectSystemd({ NOTIFY_SOCKET: sock.path }, log);
  t.teardown(() => systemd.close());
  t.true(systemd.enabled);
  systemd.startWatchdog(() => true); // no WATCHDOG_USEC: nothing
  t.is(systemd.watchdogEveryMs, undefined);

  const now = process.hrtime.bigint() / 1000n;
  systemd.reloading('reloading the configuration');
  systemd.ready('AMI connected; 0 text(s) queued for phones, 0 for ITSPs');
  systemd.status('AMI connected; 0 text(s) queued for phones, 0 for ITSPs');
  systemd.status('two\nlines');
  systemd.status('two\nlines');
  await until(() => sock.messages.length >= 3, 5000, 'three messages');
  await sleep(100);
  t.is(sock.messages.length, 3);
  const [reloading, ready, status] = sock.messages;
  t.is(reloading!.RELOADING, '1');
  t.is(reloading!.STATUS, 'reloading the configuration');
  const usec = BigInt(reloading!.MONOTONIC_USEC!);
  t.true(usec >= now && usec - now < 60_000_000n, `MONOTONIC_USEC ${usec} near ${now}`);
  t.deepEqual(ready, { READY: '1', STATUS: 'AMI connected; 0 text(s) queued for phones, 0 for ITSPs' });
  t.deepEqual(status, { STATUS: 'two lines' });
  t.deepEqual(lines, []);
});

test('an abstract NOTIFY_SOCKET is refused with a warning, and no message is tried', (t) => {
  const { log, lines } = capture();
  const systemd = connectSystemd({ NOTIFY_SOCKET: '@/org/freedesktop/systemd1/notify' }, log);
  t.false(systemd.enabled);
  systemd.ready('x');
  systemd.close();
  t.is(lines.length, 1);
  t.regex(lines[0]!, /abstract/);
});
