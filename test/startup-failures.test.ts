// What systemd sees when websms cannot start: an exit code that says whether
// restarting can help (RestartPreventExitStatus= in systemd/websms.service)
// and one log line that says what to do. And the database's file modes.

import test from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { openDatabase } from '../src/store/db.js';
import { runCli } from './helpers/cli.js';
import { notifySocket } from './helpers/notify-socket.js';
import { MAIN, writeConfig } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const errorLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.includes('"level":"error"'));

function configWith(dir: string, replace: (text: string) => string): string {
  const file = writeConfig({ dir, amiPort: 1 });
  fs.writeFileSync(file, replace(fs.readFileSync(file, 'utf8')));
  return file;
}

const withDatabase = (dir: string, database: string): string => configWith(dir, (c) => c.replace(/^database = .*$/m, `database = ${database}`));

test('a database path under /proc exits 73 at once with one log line, instead of spinning', async (t) => {
  const dir = tempDir();
  const r = await runCli(['--config', withDatabase(dir, '/proc/x/y.db')], { timeoutMs: 15_000 });
  t.is(r.code, 73, r.stderr);
  const errors = errorLines(r.stderr);
  t.is(errors.length, 1, r.stderr);
  t.regex(errors[0]!, /cannot use the database/);
  t.regex(errors[0]!, /\/proc\/x/);
  t.regex(errors[0]!, /\[general\] database/);
});

test('a database whose parent is a file, or which is a directory, exits 73 with one log line', async (t) => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'plain'), '');
  fs.mkdirSync(path.join(dir, 'a-dir.db'));
  for (const [database, reason] of [
    [path.join(dir, 'plain', 'sub', 'websms.db'), /not a directory/],
    [path.join(dir, 'a-dir.db'), /EISDIR|directory/],
  ] as const) {
    const r = await runCli(['--config', withDatabase(dir, database)], { timeoutMs: 15_000 });
    t.is(r.code, 73, r.stderr);
    const errors = errorLines(r.stderr);
    t.is(errors.length, 1, r.stderr);
    t.regex(errors[0]!, reason);
  }
});

test('a database in a directory websms may not write exits 73 with one log line', async (t) => {
  const dir = tempDir();
  fs.chmodSync(dir, 0o755);
  const locked = path.join(dir, 'locked');
  fs.mkdirSync(locked, { mode: 0o555 });
  fs.chmodSync(locked, 0o555);
  const config = withDatabase(dir, path.join(locked, 'websms.db'));
  fs.chmodSync(config, 0o644);
  // root may write anywhere: run websms as nobody then (dist/ must be readable by it).
  const asRoot = process.getuid?.() === 0;
  const readable = (() => {
    for (let d = path.dirname(MAIN); d !== path.dirname(d); d = path.dirname(d)) if ((fs.statSync(d).mode & 0o005) !== 0o005) return false;
    return true;
  })();
  if (asRoot && !readable) {
    t.log(`${MAIN} is not readable by nobody: this case is not checked here`);
    t.pass();
    return;
  }
  const proc = spawn(process.execPath, [MAIN, '--config', config], {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
  });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((r) => proc.once('exit', r));
  t.is(code, 73, stderr);
  const errors = errorLines(stderr);
  t.is(errors.length, 1, stderr);
  t.regex(errors[0]!, /EACCES|permission denied/i);
});

test('an address in use exits 69 with one log line naming the setting; READY=1 is never sent', async (t) => {
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  t.teardown(() => taken.close());
  const { port } = taken.address() as net.AddressInfo;
  const sock = notifySocket();
  t.teardown(() => sock.close());
  const dir = tempDir();
  const agiTaken = configWith(dir, (c) => c.replace(/\[agi\]\nlisten = 127\.0\.0\.1:0/, `[agi]\nlisten = 127.0.0.1:${port}`));
  const r = await runCli(['--config', agiTaken], { env: { NOTIFY_SOCKET: sock.path }, timeoutMs: 15_000 });
  t.is(r.code, 69, r.stderr);
  const errors = errorLines(r.stderr);
  t.is(errors.length, 1, r.stderr);
  t.true(errors[0]!.includes(`127.0.0.1:${port} ([agi] listen) is in use by another process`), errors[0]);
  t.deepEqual(sock.with('READY'), []);
  // The webhook listener's key, for the same port there.
  const webTaken = configWith(tempDir(), (c) => c.replace(/^listen = 127\.0\.0\.1:0$/m, `listen = 127.0.0.1:${port}`));
  const w = await runCli(['--config', webTaken], { timeoutMs: 15_000 });
  t.is(w.code, 69, w.stderr);
  t.regex(errorLines(w.stderr)[0]!, /\(\[general\] listen\)/);
});

test('the database, its WAL and SHM files are 0600 and a directory websms makes for it 0700, whatever the umask', (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'new', 'deeper', 'websms.db');
  const umask = process.umask(0o002);
  try {
    const db = openDatabase(file);
    // The migrations have written through the WAL: all three files exist now.
    const mode = (f: string): string => (fs.statSync(f).mode & 0o777).toString(8);
    t.is(mode(file), '600');
    t.is(mode(`${file}-wal`), '600');
    t.is(mode(`${file}-shm`), '600');
    t.is(mode(path.join(dir, 'new')), '700');
    t.is(mode(path.join(dir, 'new', 'deeper')), '700');
    db.close();
  } finally {
    process.umask(umask);
  }
});

test('a database left readable by others (by an older websms) is made 0600 when opened, with its WAL and SHM', (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'websms.db');
  const first = openDatabase(file);
  for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.chmodSync(f, 0o644);
  const again = openDatabase(file);
  for (const f of [file, `${file}-wal`, `${file}-shm`]) t.is((fs.statSync(f).mode & 0o777).toString(8), '600', f);
  again.close();
  first.close();
});
