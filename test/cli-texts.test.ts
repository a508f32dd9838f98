// websms status/queue/history/send/retry/cancel/purge as a user runs them,
// against a real daemon's database once the daemon has stopped: read-only
// commands read the file (one of this websms's schema version only), commands
// that change texts refuse with 69 and change nothing.

import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { knownSchemaVersion, openDatabase } from '../src/store/db.js';
import { createTextStore } from '../src/store/texts.js';
import { openReadOnly } from '../src/cli/texts-db.js';
import { runCli } from './helpers/cli.js';
import { migrationsUpTo } from './helpers/db.js';
import { rows, startStack, until, type Stack } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const ALICE = '+46812345678';
const BOB = '+46811111111';
const SENDER = '+46701234567';

/** A URL where nothing listens: a daemon that is not running. */
async function deadUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

/** A daemon that took two texts (one delivered to Alice, one waiting for Bob's phone), then stopped. */
async function stoppedDaemon(): Promise<{ dir: string; config: string; env: NodeJS.ProcessEnv }> {
  const s: Stack = await startStack({ ami: 'retry_min = 1h\nretry_max = 2h\n' });
  try {
    s.ami.addEndpoint(ALICE, 'alice', ['sip:alice@127.0.0.1:5062;ob']);
    s.ami.addEndpoint(BOB, 'bob', []);
    await s.post('/sms/in/default', { To: ALICE, From: SENDER, Body: 'first: hello Alice' });
    await until(() => rows(s.dir)[0]?.state === 'delivered');
    await s.post('/sms/in/default', { To: BOB, From: SENDER, Body: 'second:\nare you there, Bob?' });
    await until(() => rows(s.dir)[1]?.state === 'waiting');
  } finally {
    await s.stop();
  }
  return { dir: s.dir, config: path.join(s.dir, 'websms.conf'), env: { WEBSMS_API_URL: await deadUrl() } };
}

let fixture: Promise<Awaited<ReturnType<typeof stoppedDaemon>>> | undefined;
const daemonGone = (): ReturnType<typeof stoppedDaemon> => (fixture ??= stoppedDaemon());

interface TextJson {
  id: string;
  state: string;
  to: string;
  body: string | null;
  direction: string;
}

test('queue without the daemon: reads the database, says so, lists only what is not done', async (t) => {
  const d = await daemonGone();
  const r = await runCli(['--config', d.config, 'queue'], { cwd: d.dir, env: d.env });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stderr, /no answer from the websms daemon .*read .*websms\.db directly instead \(read-only\)/);
  t.regex(r.stdout, /^ID +STATE +INTERFACE +FROM +TO +UPDATED +TRIES +TEXT$/m);
  t.regex(r.stdout, new RegExp(`^in-2 +waiting +default +\\${SENDER} +\\${BOB} .* second: are you there, Bob\\?$`, 'm'));
  t.false(r.stdout.includes('in-1'), 'a delivered text is not in the queue');
  t.regex(r.stdout, /websms status ID/);

  const j = await runCli(['--config', d.config, 'queue', '--json'], { cwd: d.dir, env: d.env });
  t.is(j.code, 0);
  const body = JSON.parse(j.stdout) as { texts: TextJson[]; more: boolean };
  t.deepEqual(body.texts.map((x) => [x.id, x.state, x.direction]), [['in-2', 'waiting', 'in']]);
  t.false(body.more);

  const out = await runCli(['--config', d.config, 'queue', '--direction', 'out'], { cwd: d.dir, env: d.env });
  t.is(out.code, 0);
  t.regex(out.stdout, /^No texts in state queued, sending to ITSPs\.$/m);

  const done = await runCli(['--config', d.config, 'queue', '--state', 'delivered', '--json'], { cwd: d.dir, env: d.env });
  t.deepEqual((JSON.parse(done.stdout) as { texts: TextJson[] }).texts.map((x) => x.id), ['in-1']);
});

test('history without the daemon: newest first, by number as dialled, since a time, limited', async (t) => {
  const d = await daemonGone();
  const all = await runCli(['--config', d.config, 'history', '--json'], { cwd: d.dir, env: d.env });
  t.is(all.code, 0, all.stderr);
  t.deepEqual((JSON.parse(all.stdout) as { texts: TextJson[] }).texts.map((x) => x.id), ['in-2', 'in-1']);

  // The national form of Bob's number (country_code 46) finds his text.
  const bob = await runCli(['--config', d.config, 'history', '08-11 11 11 11', '--json'], { cwd: d.dir, env: d.env });
  t.is(bob.code, 0, bob.stderr);
  t.deepEqual((JSON.parse(bob.stdout) as { texts: TextJson[] }).texts.map((x) => [x.id, x.to]), [['in-2', BOB]]);

  const future = await runCli(['--config', d.config, 'history', '--since', '2999-01-01'], { cwd: d.dir, env: d.env });
  t.is(future.code, 0);
  t.regex(future.stdout, /^No texts at all since /m);
  const recent = await runCli(['--config', d.config, 'history', '--since', '1h', '--limit', '1', '--json'], { cwd: d.dir, env: d.env });
  t.deepEqual(JSON.parse(recent.stdout), { texts: [JSON.parse(all.stdout).texts[0]], more: true });

  const human = await runCli(['--config', d.config, 'history', '--limit', '1'], { cwd: d.dir, env: d.env });
  t.regex(human.stdout, /1 text\(s\) shown, more left: .*raise --limit \(now 1\)/);
});

test('status without the daemon: the text, its events from the database, and what to do next', async (t) => {
  const d = await daemonGone();
  const r = await runCli(['--config', d.config, 'status', 'in-2'], { cwd: d.dir, env: d.env });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^state {8}waiting/m);
  t.regex(r.stdout, new RegExp(`^to {11}\\${BOB}$`, 'm'));
  t.regex(r.stdout, /^text {9}second:\n {13}are you there, Bob\?$/m);
  t.regex(r.stdout, /^next: .*websms cancel in-2$/m);

  const j = await runCli(['--config', d.config, 'status', 'in-1', '--json'], { cwd: d.dir, env: d.env });
  t.is(j.code, 0);
  const one = JSON.parse(j.stdout) as { text: TextJson; events: { kind: string }[] | null };
  t.is(one.text.id, 'in-1');
  t.is(one.text.state, 'delivered');
  t.is(one.text.body, 'first: hello Alice');
  t.true(Array.isArray(one.events), 'the events table of this database is read');

  const missing = await runCli(['--config', d.config, 'status', 'out-99'], { cwd: d.dir, env: d.env });
  t.is(missing.code, 66);
  t.regex(missing.stderr, /no text out-99/);
});

test('send, retry, cancel and purge refuse with 69 when the daemon does not answer, and change nothing', async (t) => {
  const d = await daemonGone();
  const db = path.join(d.dir, 'var', 'websms.db');
  const before = JSON.stringify(rows(d.dir));
  const size = fs.statSync(db).size;
  for (const args of [
    ['send', '--to', BOB, '--body', 'hi'],
    ['retry', 'in-2'],
    ['cancel', 'in-2'],
    ['purge', '--before', '1d'],
  ]) {
    for (const json of [false, true]) {
      const r = await runCli(['--config', d.config, ...args, ...(json ? ['--json'] : [])], { cwd: d.dir, env: d.env });
      t.is(r.code, 69, `${args[0]}: ${r.stderr}`);
      t.regex(r.stderr, new RegExp(`^websms ${args[0]}: no answer from the websms daemon at http://127\\.0\\.0\\.1:\\d+: ECONNREFUSED\\. Nothing was changed`));
      t.regex(r.stderr, /Start it \(systemctl start websms, or websms run\)/);
      if (json) t.is((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'unavailable');
      else t.is(r.stdout, '');
    }
  }
  t.is(JSON.stringify(rows(d.dir)), before);
  t.is(fs.statSync(db).size, size);
});

test('no daemon and no database yet: read-only commands exit 66 and say why', async (t) => {
  const dir = tempDir();
  const config = path.join(dir, 'websms.conf');
  fs.writeFileSync(config, `[general]\ndatabase = ${path.join(dir, 'none', 'websms.db')}\n[api]\nlisten = 127.0.0.1:0\n`);
  const r = await runCli(['--config', config, 'queue'], { cwd: dir });
  t.is(r.code, 66);
  t.regex(r.stderr, /the daemon is not running, and there is no database at .*websms has not run with this configuration yet/);
  t.false(fs.existsSync(path.join(dir, 'none')), 'reading never creates the database');
});

/** A configuration whose daemon is not running, for a database file of our making. */
function configFor(db: string): { dir: string; config: string } {
  const dir = path.dirname(db);
  const config = path.join(dir, 'websms.conf');
  fs.writeFileSync(config, `[general]\ndatabase = ${db}\ncountry_code = 46\n[api]\nlisten = 127.0.0.1:0\n`);
  return { dir, config };
}

/** A database as websms left it at schema version 3, holding one inbound text. */
function version3Database(): string {
  const file = path.join(tempDir(), 'websms.db');
  const db = openDatabase(file, migrationsUpTo(3));
  db.prepare(
    `INSERT INTO inbound (interface, provider_id, sender, recipient, body, body_hash, parts, parts_done, state, attempts, next_attempt_at, received_at, updated_at, endpoint, reason)
     VALUES ('default', NULL, ?, ?, 'from before the upgrade', 'h', 1, 0, 'waiting', 1, ?, ?, ?, NULL, 'no registered phone')`,
  ).run(SENDER, BOB, Date.now() + 3_600_000, Date.now(), Date.now());
  db.close();
  return file;
}

const versionOf = (file: string): number => {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('user_version', { simple: true }) as number;
  } finally {
    db.close();
  }
};

test('a database made by an older websms: 66, says so and that starting the daemon once updates it; read nothing, changed nothing', async (t) => {
  const file = version3Database();
  const { dir, config } = configFor(file);
  const bytes = fs.readFileSync(file);
  const known = knownSchemaVersion();
  for (const args of [['queue'], ['history', BOB], ['status', 'in-1']]) {
    const r = await runCli(['--config', config, ...args], { cwd: dir });
    t.is(r.code, 66, `${args[0]}: ${r.stderr}`);
    t.is(r.stdout, '', args[0]);
    t.regex(r.stderr, new RegExp(`^websms ${args[0]}: the daemon is not running, and .*websms\\.db was made by an older websms \\(schema version 3; this websms reads version ${known}\\)`), args[0]);
    t.regex(r.stderr, /Start the daemon once \(systemctl start websms, or websms run\): it brings the database up to date/, args[0]);
    const j = await runCli(['--config', config, ...args, '--json'], { cwd: dir });
    t.is(j.code, 66);
    t.is((JSON.parse(j.stdout) as { error: { code: string } }).error.code, 'database_too_old', args[0]);
  }
  t.is(versionOf(file), 3, 'the CLI never migrates');
  t.deepEqual(fs.readFileSync(file), bytes, 'nor writes anything');

  // What the daemon does first when it starts: bring the schema up to date. Then the text reads.
  openDatabase(file).close();
  const after = await runCli(['--config', config, 'queue', '--json'], { cwd: dir });
  t.is(after.code, 0, after.stderr);
  t.deepEqual(
    (JSON.parse(after.stdout) as { texts: TextJson[] }).texts.map((x) => [x.id, x.state, x.to, x.body]),
    [['in-1', 'waiting', BOB, 'from before the upgrade']],
  );
});

test('a database made by a newer websms: 66, says so, read nothing', async (t) => {
  const file = path.join(tempDir(), 'websms.db');
  const db = openDatabase(file);
  db.pragma(`user_version = ${knownSchemaVersion() + 1}`);
  db.close();
  const { dir, config } = configFor(file);
  const r = await runCli(['--config', config, 'history', '--json'], { cwd: dir });
  t.is(r.code, 66, r.stderr);
  t.is((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'database_too_new');
  t.regex(r.stderr, new RegExp(`was made by a newer websms \\(schema version ${knownSchemaVersion() + 1}; this websms reads up to version ${knownSchemaVersion()}\\)`));
});

test("the store's reading functions work on the CLI's read-only connection, and its writes fail there", (t) => {
  const file = version3Database();
  openDatabase(file).close();
  const bytes = fs.readFileSync(file);
  const db = openReadOnly(file);
  t.teardown(() => db.close());
  // createTextStore prepares its UPDATE and DELETE statements too: preparing them is allowed.
  const texts = createTextStore(db);
  t.deepEqual(texts.list({ limit: 10 }).texts.map((x) => [x.direction, x.rowId, x.state]), [['in', 1, 'waiting']]);
  t.is(texts.get('in', 1)?.body, 'from before the upgrade');
  t.true(Array.isArray(texts.events('in', 1)));
  for (const write of [() => texts.cancel('in', 1, Date.now()), () => texts.retry('in', 1, Date.now()), () => texts.purge(Date.now() + 1)]) {
    t.throws(write, { any: true, code: 'SQLITE_READONLY' });
  }
  t.is(texts.get('in', 1)?.state, 'waiting');
  t.deepEqual(fs.readFileSync(file), bytes);
});

test('usage errors exit 64 before anything is read or asked', async (t) => {
  const dir = tempDir();
  const cases: [string[], RegExp][] = [
    [['queue', '--state', 'lost'], /--state: "lost" is not a state; known: queued, sending, waiting/],
    [['queue', '--direction', 'out', '--state', 'waiting'], /"waiting" is not a state of out texts/],
    [['queue', '--direction', 'sideways'], /--direction: "sideways" is neither in/],
    [['queue', '--limit', '0'], /--limit: "0" is not a whole number from 1 to 500/],
    [['history', '--since', 'yesterday'], /--since: "yesterday" is neither an age/],
    [['history', 'not-a-number'], /"not-a-number" is not a phone number/],
    [['history', 'a', 'b'], /unexpected argument "b"/],
    [['status'], /missing the text ID/],
    [['status', '42'], /"42" is not a text id: a text id is in-N/],
    [['retry', 'out-x'], /"out-x" is not a text id/],
    [['cancel'], /missing the text ID/],
    [['purge'], /--before WHEN is required/],
    [['purge', '--before', 'soon'], /--before: "soon" is neither an age/],
    [['send', '--to', '+46701234567'], /--body TEXT is required/],
    [['send', '--body', 'x'], /--to NUMBER is required/],
    [['send', '--to'], /--to needs a value/],
    [['providers', 'twilio', 'extra'], /unexpected argument "extra"/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args, { cwd: dir });
    t.is(r.code, 64, args.join(' '));
    t.regex(r.stderr, message, args.join(' '));
    t.regex(r.stderr, new RegExp(`usage: websms .*${args[0]}`), args.join(' '));
    t.is(r.stdout, '', args.join(' '));
  }
});
