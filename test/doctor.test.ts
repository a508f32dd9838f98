// `websms doctor` and the start-up dialplan check against the AMI double over TCP,
// plus the double's ShowDialPlan on the wire (what pbx.c manager_show_dialplan sends).

import test from 'ava';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createAmiClient, listAction } from '../src/asterisk/ami.js';
import { createLogger } from '../src/log.js';
import { DEFAULT_DIALPLAN, startAmiDouble, type AmiDouble, type AmiDoubleOptions } from './doubles/ami-server.js';
import { runCli } from './helpers/cli.js';
import { AMI_SECRET, spawnDaemon, startStack, until, writeConfig } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const REQUIRED = ['dp_entry_answer', 'dp_entry_text_in', 'dp_entry_text_inout', 'dp_lookup', 'sub_decode_body', 'sub_text_term', 'sub_text_trunk'];

async function double(t: { teardown(fn: () => unknown): void }, o: AmiDoubleOptions = {}): Promise<AmiDouble> {
  const ami = await startAmiDouble({ secret: AMI_SECRET, authFailDelayMs: 100, writePerms: ['originate', 'reporting'], ...o });
  t.teardown(() => ami.stop());
  return ami;
}

function doctor(port: number, extra: { ami?: string; args?: string[]; env?: NodeJS.ProcessEnv } = {}) {
  const dir = tempDir();
  const file = writeConfig({ dir, amiPort: port, ami: extra.ami });
  return runCli(['--config', file, 'doctor', ...(extra.args ?? [])], { cwd: dir, env: extra.env });
}

function noSecret(t: { false(v: boolean, m?: string): void }, r: { stdout: string; stderr: string }, secret = AMI_SECRET): void {
  t.false(r.stdout.includes(secret), 'secret on stdout');
  t.false(r.stderr.includes(secret), 'secret on stderr');
}

test('all contexts present: exit 0, says so, one ShowDialPlan per context', async (t) => {
  const ami = await double(t);
  const r = await doctor(ami.port);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /ok {4}AMI: login as websms at 127\.0\.0\.1:\d+/);
  for (const c of REQUIRED) t.regex(r.stdout, new RegExp(`ok {4}dialplan: context ${c}\\b`));
  t.regex(r.stdout, /ok {4}dialplan: all 7 dialplan contexts websms relies on are loaded/);
  t.regex(r.stdout, /No failures/);
  noSecret(t, r);
  const asked = ami.actions.filter((a) => a.name === 'ShowDialPlan').map((a) => a.headers.find(([k]) => k.toLowerCase() === 'context')?.[1]);
  t.deepEqual(asked, REQUIRED);
  // The session logged off.
  await ami.waitFor(() => ami.sessions.every((s) => s.closed));
});

test('a missing context: exit 1, named, with what it is for', async (t) => {
  const ami = await double(t);
  ami.setContext('sub_text_trunk', undefined);
  const r = await doctor(ami.port);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stdout, /fail {2}dialplan: context sub_text_trunk is not loaded in Asterisk; it is the subroutine: hands a text from a phone.*websms dialplan install/);
  t.is(r.stdout.match(/^  fail /gm)?.length, 1, r.stdout);
  t.regex(r.stdout, /ok {4}dialplan: context dp_lookup/);
  noSecret(t, r);
});

test('the answer and text contexts are the ones named in [ami]', async (t) => {
  const ami = await double(t);
  const r = await doctor(ami.port, { ami: 'answer_context = my_answer\ntext_context = dp_entry_text_in\n' });
  t.is(r.code, 1);
  t.regex(r.stdout, /fail {2}dialplan: context my_answer is not loaded.*\[ami\] answer_context/);
  t.false(r.stdout.includes('context dp_entry_answer'));
  ami.setContext('my_answer', [{ include: 'dp_answer' }]);
  t.is((await doctor(ami.port, { ami: 'answer_context = my_answer\n' })).code, 0);
});

test('no permission for ShowDialPlan: exit 1, says which write permission to add to manager.conf', async (t) => {
  const ami = await double(t, { writePerms: ['originate'] });
  const r = await doctor(ami.port);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stdout, /may not run ShowDialPlan: add "reporting" to its write classes in manager\.conf/);
  t.regex(r.stdout, /write = originate,reporting/);
  t.false(r.stdout.includes('is not loaded'), 'a refusal is not reported as missing contexts');
  noSecret(t, r);
});

test('write = config is enough too (pbx.c: EVENT_FLAG_CONFIG | EVENT_FLAG_REPORTING)', async (t) => {
  const ami = await double(t, { writePerms: ['originate', 'config'] });
  t.is((await doctor(ami.port)).code, 0);
});

test.serial('AMI unreachable: exit 69 at once (not at the timeout), with the reason', async (t) => {
  const port = await freePort();
  const r = await doctor(port, { args: ['--timeout', '60'] });
  t.is(r.code, 69, r.stdout + r.stderr);
  t.regex(r.stdout, new RegExp(`cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  t.true(r.ms < 10_000, `took ${r.ms} ms`);
  noSecret(t, r);
});

test('a wrong secret: exit 69, login refused, and neither secret is printed', async (t) => {
  const ami = await double(t);
  const wrong = 'wr0ng-s3cret-value';
  const r = await doctor(ami.port, { env: { WEBSMS_AMI_SECRET: wrong } });
  t.is(r.code, 69, r.stdout + r.stderr);
  t.regex(r.stdout, /refused the login of user "websms" \(Authentication failed\)/);
  noSecret(t, r);
  noSecret(t, r, wrong);
});

test.serial('an AMI port that accepts and never answers: bounded by --timeout, exit 69', async (t) => {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => void sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const r = await doctor((server.address() as net.AddressInfo).port, { args: ['--timeout', '1'] });
  t.is(r.code, 69);
  t.regex(r.stdout, /no AMI session with 127\.0\.0\.1:\d+ within 1 s/);
  t.true(r.ms < 10_000, `took ${r.ms} ms`);
});

test('doctor with a broken configuration exits 78; bad options exit 64', async (t) => {
  const dir = tempDir();
  const file = writeConfig({ dir, amiPort: 1, ami: 'bogus_key = 1\n' });
  const r = await runCli(['--config', file, 'doctor'], { cwd: dir });
  t.is(r.code, 78);
  t.regex(r.stderr, /bogus_key/);
  t.is((await runCli(['doctor', '--nope'], { cwd: dir })).code, 64);
  t.is((await runCli(['doctor', '--timeout', 'x'], { cwd: dir })).code, 64);
});

// ---- the daemon's start-up check --------------------------------------------

test('daemon start-up: one warning per missing context, and the daemon keeps running', async (t) => {
  const dialplan = { ...DEFAULT_DIALPLAN };
  delete dialplan.sub_decode_body;
  delete dialplan.dp_lookup;
  const s = await startStack({ double: { writePerms: ['originate', 'reporting'], dialplan } });
  t.teardown(() => s.stop());
  const warns = await until(() => {
    const w = s.logs.filter((l) => l.includes('"level":"warn"') && l.includes('is not loaded in Asterisk'));
    return w.length >= 2 && w;
  });
  t.is(warns.length, 2);
  t.true(warns.some((l) => l.includes('"context":"sub_decode_body"')));
  t.true(warns.some((l) => l.includes('"context":"dp_lookup"')));
  // It ran on the daemon's own session (events call,user,system), one action per context.
  t.is(s.ami.actions.filter((a) => a.name === 'ShowDialPlan').length, 7);
  t.deepEqual([...s.ami.sessions[0]!.eventMask].sort(), ['call', 'system', 'user']);
  t.true(s.daemon.ami.connected);
  // A reconnection does not check again: only the first connection does.
  s.ami.dropConnections();
  await until(() => s.ami.actions.filter((a) => a.name.toLowerCase() === 'login').length >= 2);
  await until(() => s.daemon.ami.connected);
  t.is(s.ami.actions.filter((a) => a.name === 'ShowDialPlan').length, 7);
});

test('daemon start-up: all present logs it at info; no permission draws one warning naming it', async (t) => {
  const ok = await startStack({ double: { writePerms: ['originate', 'reporting'] } });
  t.teardown(() => ok.stop());
  await until(() => ok.logs.some((l) => l.includes('"dialplan contexts present"')));
  t.false(ok.logs.some((l) => l.includes('is not loaded in Asterisk')));

  const denied = await startStack();
  t.teardown(() => denied.stop());
  const w = await until(() => denied.logs.find((l) => l.includes('cannot check the dialplan')));
  t.true(w.includes('"level":"warn"'));
  t.true(w.includes('reporting'));
  t.is(denied.ami.actions.filter((a) => a.name === 'ShowDialPlan').length, 1, 'stops at the first refusal');
  t.false(denied.logs.some((l) => l.includes(AMI_SECRET)));
});

// ---- listAction and the double's ShowDialPlan -------------------------------

test('listAction collects ListDialplan events on a session subscribed to call,user,system only', async (t) => {
  const ami = await double(t);
  const client = createAmiClient({
    host: '127.0.0.1',
    port: ami.port,
    username: 'websms',
    secret: AMI_SECRET,
    events: 'call,user,system',
    actionTimeoutMs: 2000,
    pingIntervalMs: 60_000,
    reconnectMinMs: 50,
    reconnectMaxMs: 100,
    log: createLogger('error', {}, () => {}),
  });
  t.teardown(() => client.stop());
  const up = new Promise<void>((r) => client.on('connected', r));
  client.start();
  await up;
  const r = await listAction(client, { Action: 'ShowDialPlan', Context: 'dp_text_in' }, 'ShowDialPlanComplete', 2000);
  t.is(r.response.response, 'Success');
  t.is(r.response.eventlist, 'start');
  t.is(r.items.length, 4);
  t.deepEqual(
    r.items.map((e) => [e.event, e.context, e.extension, e.priority, e.application]),
    [
      ['ListDialplan', 'dp_text_in', '_[+0-9].', '1', 'NoOp'],
      ['ListDialplan', 'dp_text_in', '_[+0-9].', '2', 'Gosub'],
      ['ListDialplan', 'dp_text_in', '_[+0-9].', '3', 'Gosub'],
      ['ListDialplan', 'dp_text_in', '_[+0-9].', '4', 'Hangup'],
    ],
  );
  t.is(r.items[2]!.appdata, 'sub_text_term,s,1(${HINT})');
  t.is(r.complete.eventlist, 'Complete');
  t.is(r.complete.listitems, '4');
  // Includes are items too.
  const inc = await listAction(client, { Action: 'ShowDialPlan', Context: 'dp_entry_answer' }, 'ShowDialPlanComplete', 2000);
  t.deepEqual(inc.items.map((e) => e.includecontext), ['dp_lookup', 'dp_answer']);
  // A missing context is an error answer, and no list.
  const err = await t.throwsAsync(listAction(client, { Action: 'ShowDialPlan', Context: 'nope' }, 'ShowDialPlanComplete', 2000));
  t.is(err?.message, 'Did not find context nope');
  // The session still works afterwards.
  t.is((await client.action({ Action: 'Ping' })).ping, 'Pong');
});

test('the double answers ShowDialPlan on the wire as pbx.c does', async (t) => {
  const ami = await double(t, { dialplan: { ctx: [{ exten: '100', priority: 1, app: 'NoOp', appData: 'a: b' }, { exten: '100', priority: 'hint', app: 'PJSIP/alice' }, { include: 'other' }], empty: [] } });
  const wire = await rawSession(ami.port);
  t.teardown(() => wire.socket.destroy());
  wire.send(`Action: Login\r\nUsername: websms\r\nSecret: ${AMI_SECRET}\r\nEvents: off\r\n\r\n`);
  await wire.until((m) => m.includes('Authentication accepted'));
  wire.send('Action: ShowDialPlan\r\nActionID: q1\r\nContext: ctx\r\n\r\n');
  const msgs = await wire.until((m) => m.includes('Event: ShowDialPlanComplete'));
  const from = msgs.findIndex((m) => m.includes('ActionID: q1'));
  t.deepEqual(msgs.slice(from), [
    'Response: Success\r\nActionID: q1\r\nEventList: start\r\nMessage: DialPlan list will follow',
    'Event: ListDialplan\r\nActionID: q1\r\nContext: ctx\r\nExtension: 100\r\nPriority: 1\r\nApplication: NoOp\r\nAppData: a: b\r\nRegistrar: pbx_config',
    'Event: ListDialplan\r\nActionID: q1\r\nContext: ctx\r\nExtension: 100\r\nPriority: hint\r\nApplication: PJSIP/alice\r\nRegistrar: pbx_config',
    'Event: ListDialplan\r\nActionID: q1\r\nContext: ctx\r\nIncludeContext: other\r\nRegistrar: pbx_config',
    'Event: ShowDialPlanComplete\r\nActionID: q1\r\nEventList: Complete\r\nListItems: 3\r\nListExtensions: 1\r\nListPriorities: 2\r\nListContexts: 1',
  ]);
  // An empty context exists: the acknowledgement alone, then Complete with 0 items.
  wire.send('Action: ShowDialPlan\r\nActionID: q2\r\nContext: empty\r\n\r\n');
  const m2 = await wire.until((m) => m.includes('ActionID: q2\r\nEventList: Complete'));
  t.deepEqual(m2.filter((m) => m.includes('ActionID: q2')), [
    'Response: Success\r\nActionID: q2\r\nEventList: start\r\nMessage: DialPlan list will follow',
    'Event: ShowDialPlanComplete\r\nActionID: q2\r\nEventList: Complete\r\nListItems: 0\r\nListExtensions: 0\r\nListPriorities: 0\r\nListContexts: 1',
  ]);
  wire.send('Action: ShowDialPlan\r\nActionID: q3\r\nContext: nope\r\n\r\n');
  const m3 = await wire.until((m) => m.includes('ActionID: q3\r\nMessage'));
  t.deepEqual(m3.filter((m) => m.includes('ActionID: q3')), ['Response: Error\r\nActionID: q3\r\nMessage: Did not find context nope']);
});

test('the double refuses ShowDialPlan without write config or reporting', async (t) => {
  const ami = await double(t, { writePerms: ['originate', 'system'] });
  const wire = await rawSession(ami.port);
  t.teardown(() => wire.socket.destroy());
  wire.send(`Action: Login\r\nUsername: websms\r\nSecret: ${AMI_SECRET}\r\n\r\n`);
  await wire.until((m) => m.includes('Authentication accepted'));
  wire.send('Action: ShowDialPlan\r\nActionID: p\r\nContext: dp_lookup\r\n\r\n');
  const m = await wire.until((x) => x.includes('ActionID: p'));
  t.deepEqual(m.filter((x) => x.includes('ActionID: p')), ['Response: Error\r\nActionID: p\r\nMessage: Permission denied']);
});

// ---- helpers ------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A bare AMI connection: messages split at blank lines, banner dropped. */
async function rawSession(port: number): Promise<{ socket: net.Socket; send(s: string): void; until(p: (m: string) => boolean): Promise<string[]> }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
  let buf = '';
  const msgs: string[] = [];
  socket.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    if (buf.startsWith('Asterisk Call Manager')) buf = buf.slice(buf.indexOf('\r\n') + 2);
    let i: number;
    while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
      msgs.push(buf.slice(0, i));
      buf = buf.slice(i + 4);
    }
  });
  return {
    socket,
    send: (s) => void socket.write(s),
    until: (p) => until(() => msgs.some(p) && [...msgs], 3000, 'an AMI message'),
  };
}

test('doctor with the daemon running: database, daemon, FastAGI and interfaces checked; generic credentials said to be unchecked', async (t) => {
  const ami = await double(t);
  const dir = tempDir();
  const [agiPort, apiPort] = [await freePort(), await freePort()];
  const file = writeConfig({ dir, amiPort: ami.port, interfaces: '[itsp]\nsend_url = http://127.0.0.1:9/send\n[local]\n', general: 'default_interface = itsp' });
  // Fixed ports: doctor, like Asterisk and the CLI, finds them in the configuration.
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace(/\[agi\]\nlisten = 127\.0\.0\.1:0/, `[agi]\nlisten = 127.0.0.1:${agiPort}`).replace(/\[api\]\nlisten = 127\.0\.0\.1:0/, `[api]\nlisten = 127.0.0.1:${apiPort}`));
  const child = await spawnDaemon(file);
  t.teardown(async () => {
    child.proc.kill('SIGTERM');
    await child.exited;
  });
  await listening(apiPort);
  const r = await runCli(['--config', file, 'doctor'], { cwd: dir });
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, /^ {2}ok {4}configuration: .*websms\.conf: valid/m);
  t.regex(r.stdout, /^ {2}ok {4}database: .*websms\.db opens, schema version (?:[4-9]|[1-9]\d+)$/m);
  t.regex(r.stdout, /^ {2}ok {4}database: .* and its directory are writable/m);
  t.regex(r.stdout, new RegExp(`^ {2}ok {4}daemon: running; its API answers at http://127\\.0\\.0\\.1:${apiPort}`, 'm'));
  t.regex(r.stdout, new RegExp(`^ {2}ok {4}FastAGI: 127\\.0\\.0\\.1:${agiPort} accepts connections`, 'm'));
  t.regex(r.stdout, /^ {2}warn {2}interface itsp: credentials not checked: the generic provider offers no way to check them without sending a text; send yourself one: websms send --interface itsp/m);
  t.regex(r.stdout, /^ {2}ok {4}interface local: receives texts at \/sms\/in\/local; sends none/m);
  t.regex(r.stdout, /^No failures, \d+ warning\(s\)/m);
  noSecret(t, r);

  const j = await runCli(['--config', file, 'doctor', '--json'], { cwd: dir });
  t.is(j.code, 0);
  const body = JSON.parse(j.stdout) as { checks: { check: string; status: string; detail: string }[]; failures: number };
  t.is(body.failures, 0);
  t.deepEqual(
    [...new Set(body.checks.map((c) => c.check))],
    ['configuration', 'database', 'daemon', 'FastAGI', 'AMI', 'dialplan', 'interface itsp', 'interface local', 'e-mail'],
  );
  t.true(body.checks.every((c) => ['ok', 'warn', 'fail'].includes(c.status)));
});

test('doctor: nothing on the FastAGI port and a database that cannot be created are failures (exit 1), each with what to do', async (t) => {
  const ami = await double(t);
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'afile'), '');
  const agiPort = await freePort();
  const file = writeConfig({ dir, amiPort: ami.port });
  fs.writeFileSync(
    file,
    fs
      .readFileSync(file, 'utf8')
      .replace(/\[agi\]\nlisten = 127\.0\.0\.1:0/, `[agi]\nlisten = 127.0.0.1:${agiPort}`)
      .replace(/^database = .*$/m, `database = ${path.join(dir, 'afile', 'websms.db')}`),
  );
  const r = await runCli(['--config', file, 'doctor'], { cwd: dir });
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stdout, new RegExp(`^ {2}fail {2}FastAGI: cannot connect to 127\\.0\\.0\\.1:${agiPort} \\(ECONNREFUSED\\): texts from phones fail at hand-off; is websms running`, 'm'));
  t.regex(r.stdout, /^ {2}fail {2}database: .*afile\/websms\.db cannot be created: .*afile is a file, not a directory/m);
  t.regex(r.stdout, /^ {2}warn {2}daemon: /m);
  t.regex(r.stdout, /^2 check\(s\) failed/m);
});

/** The daemon's listeners come up one after the other: wait until it says it is ready (AMI, FastAGI, database). */
async function listening(port: number): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) return;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`nothing answers on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
