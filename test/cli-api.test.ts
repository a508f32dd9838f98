// The text commands against a running daemon: the real CLI (a child process)
// talks to the real management API of a daemon wired to an AMI double and an
// ITSP double, over real sockets.

import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startItspDouble, twilioLike, type ItspDouble } from './doubles/itsp-server.js';
import { runCli } from './helpers/cli.js';
import { sleep, spawnDaemon, startStack, type Stack } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const TOKEN = 'cli-test-token-0123456789';
const OWN = '+46701234567';
const DEST = '+46709876543';

interface TextJson {
  id: string;
  direction: string;
  state: string;
  from: string;
  to: string;
  body: string | null;
  interface: string;
  attempts: number;
}

async function setup(t: { teardown(fn: () => Promise<void>): void }, outbound = 'retry_min = 50ms\nretry_max = 100ms\nmax_attempts = 3') {
  const itsp: ItspDouble = await startItspDouble({ default: twilioLike() });
  t.teardown(() => itsp.stop());
  const s: Stack = await startStack({
    interfaces: `[itsp]\nsend_url = ${itsp.url}/send\nsend_id_field = sid\nrate = 0\nrate_per_number = 0\nnumber = ${OWN}\n`,
    general: 'default_interface = itsp',
    api: `token = ${TOKEN}`,
    outbound,
  });
  t.teardown(() => s.stop());
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    runCli(['--config', path.join(s.dir, 'websms.conf'), ...args], { cwd: s.dir, env: { WEBSMS_API_URL: s.api, ...env } });
  return { s, itsp, cli };
}

test('send: stored by the daemon, sent to the ITSP, followed with status, found by history', async (t) => {
  const { itsp, cli } = await setup(t);
  const r = await cli(['send', '--to', '070-987 65 43', '--body', 'hello from the shell']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`^Stored as out-1: to \\${DEST} from \\${OWN} through itsp, 1 SMS segment\\(s\\)`, 'm'));
  t.regex(r.stdout, /^Follow it with: websms status out-1$/m);
  const [req] = await itsp.waitForRequests(1);
  t.like(req!.body as object, { To: DEST, From: OWN, Body: 'hello from the shell' });

  const status = await poll(async () => {
    const x = await cli(['status', 'out-1', '--json']);
    const v = JSON.parse(x.stdout) as { text: TextJson; events: { kind: string }[] };
    return v.text.state === 'sent' ? { x, v } : undefined;
  }, 10_000, 'out-1 sent');
  t.is(status.x.stderr, '', 'read through the API: no note about reading the file');
  t.is(status.v.text.body, 'hello from the shell');
  t.true(status.v.events.length > 0, 'the API gives its events');

  const human = await cli(['status', 'out-1']);
  t.regex(human.stdout, /^state {8}sent/m);
  t.regex(human.stdout, /^events:\n {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}\S+/m);

  const h = await cli(['history', DEST, '--json']);
  t.deepEqual((JSON.parse(h.stdout) as { texts: TextJson[] }).texts.map((x) => [x.id, x.direction, x.to]), [['out-1', 'out', DEST]]);
  const q = await cli(['queue', '--json']);
  t.deepEqual(JSON.parse(q.stdout), { texts: [], more: false });

  // The body from standard input is not possible with runCli (stdin ignored): "-" reads an empty text, which is refused.
  const empty = await cli(['send', '--to', DEST, '--body', '-']);
  t.is(empty.code, 65);
});

test('send: what the daemon refuses exits 65 with its reason; --json gives the API error', async (t) => {
  const { itsp, cli } = await setup(t);
  const bad = await cli(['send', '--to', 'call me', '--body', 'x']);
  t.is(bad.code, 65, bad.stderr);
  t.regex(bad.stderr, /^websms send: .*not a valid number/m);
  const j = await cli(['send', '--to', DEST, '--body', 'x', '--interface', 'nope', '--json']);
  t.is(j.code, 65);
  t.is((JSON.parse(j.stdout) as { error: { code: string } }).error.code, 'unknown_interface');
  t.is(itsp.requests.length, 0);
});

test('cancel and retry a text the ITSP keeps refusing; a second cancel is refused with 65; unknown ids 66', async (t) => {
  const { itsp, cli } = await setup(t, 'retry_min = 1h\nretry_max = 2h\nmax_attempts = 5');
  itsp.setDefault({ status: 503, body: { message: 'try later' } });
  const sent = await cli(['send', '--to', DEST, '--body', 'stuck', '--json']);
  t.is(sent.code, 0, sent.stderr);
  const id = (JSON.parse(sent.stdout) as { text: TextJson }).text.id;
  await itsp.waitForRequests(1);

  const q = await poll(async () => {
    const x = JSON.parse((await cli(['queue', '--json'])).stdout) as { texts: TextJson[] };
    return x.texts.find((y) => y.id === id && y.state === 'queued' && y.attempts === 1);
  }, 10_000, 'queued after one failed attempt');
  t.truthy(q);

  const c = await cli(['cancel', id]);
  t.is(c.code, 0, c.stderr);
  t.regex(c.stdout, new RegExp(`^${id} is cancelled: it will not be sent\\.$`, 'm'));
  t.regex(c.stdout, new RegExp(`^next: to try it again: websms retry ${id}$`, 'm'));
  const again = await cli(['cancel', id]);
  t.is(again.code, 65);
  t.regex(again.stderr, /^websms cancel: /);

  itsp.setDefault(twilioLike());
  const r = await cli(['retry', id, '--json']);
  t.is(r.code, 0, r.stderr);
  t.is((JSON.parse(r.stdout) as { text: TextJson }).text.state, 'queued');
  await itsp.waitForRequests(2);

  for (const cmd of ['status', 'retry', 'cancel']) {
    const x = await cli([cmd, 'out-999']);
    t.is(x.code, 66, cmd);
    t.regex(x.stderr, /no text out-999/);
  }
});

test('purge through the daemon: finished texts before the time go, with a count', async (t) => {
  const { itsp, cli } = await setup(t);
  t.is((await cli(['send', '--to', DEST, '--body', 'old news'])).code, 0);
  await itsp.waitForRequests(1);
  await poll(async () => (JSON.parse((await cli(['status', 'out-1', '--json'])).stdout) as { text: TextJson }).text.state === 'sent', 10_000);
  const none = await cli(['purge', '--before', '1d', '--json']);
  t.is(none.code, 0, none.stderr);
  t.is((JSON.parse(none.stdout) as { removed: number }).removed, 0, 'a text from now is not older than a day');
  const all = await cli(['purge', '--before', '2999-01-01']);
  t.is(all.code, 0);
  t.regex(all.stdout, /^Deleted 1 finished text\(s\) last changed before /m);
  t.is((await cli(['status', 'out-1'])).code, 66);
});

test('a wrong or missing API token exits 77 and says where the token comes from', async (t) => {
  const { cli, s } = await setup(t);
  const wrong = await cli(['queue'], { WEBSMS_API_TOKEN: 'not-the-token-at-all' });
  t.is(wrong.code, 77, wrong.stderr);
  t.regex(wrong.stderr, /the daemon refused the API token .*WEBSMS_API_TOKEN/);
  t.false(wrong.stderr.includes(TOKEN));
  // A configuration without the token (another user's copy) cannot send either.
  const dir = tempDir();
  const bare = path.join(dir, 'websms.conf');
  fs.writeFileSync(bare, `[general]\ndatabase = ${path.join(s.dir, 'var', 'websms.db')}\n`);
  const r = await runCli(['--config', bare, 'send', '--to', DEST, '--body', 'x'], { cwd: dir, env: { WEBSMS_API_URL: s.api } });
  t.is(r.code, 77);
});

test('the CLI finds the daemon from [api] listen of the same configuration', async (t) => {
  const port = await freePort();
  const dir = tempDir();
  const file = path.join(dir, 'websms.conf');
  fs.writeFileSync(
    file,
    `[general]\nlisten = 127.0.0.1:0\ndatabase = ${path.join(dir, 'websms.db')}\n[agi]\nlisten = 127.0.0.1:0\n[api]\nlisten = 127.0.0.1:${port}\n[ami]\nport = ${await freePort()}\nreconnect_min = 1h\nreconnect_max = 1h\n`,
  );
  const child = await spawnDaemon(file);
  t.teardown(async () => {
    child.proc.kill('SIGTERM');
    await child.exited;
  });
  await listening(port);
  const q = await runCli(['--config', file, 'queue'], { cwd: dir });
  t.is(q.code, 0, q.stderr);
  t.is(q.stderr, '', 'asked the daemon, not the file');
  t.regex(q.stdout, /^No texts in state queued, sending, waiting\.$/m);
  const missing = await runCli(['--config', file, 'status', 'in-7'], { cwd: dir });
  t.is(missing.code, 66);
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Runs check (a CLI call) until it gives a value; the CLI is a child process, so this one waits. */
async function poll<T>(check: () => Promise<T | undefined | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The daemon's listeners come up one after the other, the management API first: wait for it. */
async function listening(port: number): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`nothing answers on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
