// Logs: one line per event, JSON by default and text on request; the start-up
// line that says where everything goes; AMI failures named as they are.
import test from 'ava';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { loadConfig } from '../src/config/load.js';
import { startDaemon } from '../src/daemon.js';
import { createLogger } from '../src/log.js';
import { startAmiDouble } from './doubles/ami-server.js';
import { MAIN, startStack, until, writeConfig } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

type Rec = Record<string, unknown>;
const parse = (logs: string[]): Rec[] => logs.map((l) => JSON.parse(l) as Rec);

test('JSON by default: one object per line, fields and message', (t) => {
  const lines: string[] = [];
  const log = createLogger('info', {}, (l) => lines.push(l)).child({ mod: 'http' });
  log.warn({ ip: '192.0.2.7', status: 403 }, 'webhook refused');
  log.debug({}, 'not at info');
  t.is(lines.length, 1);
  const rec = JSON.parse(lines[0]!) as Rec;
  t.like(rec, { level: 'warn', mod: 'http', ip: '192.0.2.7', status: 403, msg: 'webhook refused' });
  t.regex(String(rec.time), /^\d{4}-\d\d-\d\dT/);
});

test('text format: time, level, module, message, then key=value; one line whatever the values hold', (t) => {
  const lines: string[] = [];
  const log = createLogger('debug', {}, (l) => lines.push(l), 'text').child({ mod: 'http' });
  log.warn({ iface: 'default', ip: '192.0.2.7', status: 403, reason: 'wrong token\nsecond "line"', skipped: undefined }, 'webhook refused');
  const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5038'), { code: 'ECONNREFUSED' });
  log.error({ err, list: ['a', 'b'] }, 'could not start');
  t.is(lines.length, 2);
  t.regex(lines[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z /);
  t.is(lines[0]!.replace(/^\S+ /, ''), 'WARN  http: webhook refused iface=default ip=192.0.2.7 status=403 reason="wrong token\\nsecond \\"line\\""');
  t.false(lines[0]!.includes('\n'));
  t.false(lines[0]!.includes('skipped'));
  t.true(lines[1]!.includes(' ERROR http: could not start err="ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:5038" list=["a","b"]'), lines[1]);
  t.throws(() => JSON.parse(lines[0]!));
});

test('the start-up line: webhooks per interface with the listener, hand-offs, the management API, and who sends; no token', async (t) => {
  const token = 'tok_abcdefghijklmnop1234';
  const s = await startStack({
    interfaces: `[default]\n\n[itsp]\ntoken = ${token}\nsend_url = http://127.0.0.1:9/send\n`,
  });
  t.teardown(() => s.stop());
  const lines = parse(s.logs).filter((r) => typeof r.msg === 'string' && (r.msg as string).startsWith('websms started:'));
  t.is(lines.length, 1);
  const r = lines[0]!;
  t.is(r.webhooks, `http://127.0.0.1:${s.daemon.httpPort}`);
  t.is(r.handoffs, `agi://127.0.0.1:${s.daemon.agiPort}`);
  t.is(r.api, `http://127.0.0.1:${s.daemon.apiPort}`);
  t.deepEqual(r.sending, ['itsp']);
  t.deepEqual(r.interfaces, [
    { iface: 'default', path: '/sms/in/default' },
    { iface: 'itsp', path: '/sms/in/itsp/<token>', status: '/sms/status/itsp/<token>' },
  ]);
  t.is(
    r.msg,
    `websms started: webhooks on http://127.0.0.1:${s.daemon.httpPort} (default /sms/in/default, itsp /sms/in/itsp/<token> (reports /sms/status/itsp/<token>)); ` +
      `hand-offs from the dialplan on FastAGI 127.0.0.1:${s.daemon.agiPort}; management API on http://127.0.0.1:${s.daemon.apiPort}; sending through itsp`,
  );
  t.false(s.logs.some((l) => l.includes(token)));
});

test('the start-up line says when sending is off', async (t) => {
  const s = await startStack();
  t.teardown(() => s.stop());
  const r = parse(s.logs).find((x) => typeof x.msg === 'string' && (x.msg as string).startsWith('websms started:'))!;
  t.is(r.sending, 'off');
  t.regex(String(r.msg), /sending is off \(no interface has a send_url/);
});

test('log_format = text reaches the running daemon (websms run)', async (t) => {
  const ami = await startAmiDouble({ secret: 'x' });
  t.teardown(() => ami.stop());
  const dir = tempDir();
  const file = writeConfig({ dir, amiPort: ami.port, general: 'log_format = text' });
  const proc = spawn(process.execPath, [MAIN, '--config', file], { env: { PATH: process.env.PATH }, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => void proc.kill('SIGKILL'));
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  await until(() => err.includes('websms started:'), 15_000, 'the start-up line');
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  const lines = err.trim().split('\n');
  t.true(lines.length > 2);
  for (const l of lines) t.regex(l, /^\d{4}-\d\d-\d\dT[\d:.]+Z (DEBUG|INFO |WARN |ERROR) /, l);
  t.true(lines.some((l) => / INFO  websms started: webhooks on http:\/\/127\.0\.0\.1:\d+ /.test(l)));
});

/** A daemon whose [ami] points at `port`; resolves with its log records once `match` appears. */
async function daemonAgainst(t: { teardown(fn: () => unknown): void }, port: number, ami: string, match: (r: Rec) => boolean): Promise<Rec[]> {
  const dir = tempDir();
  const config = loadConfig({ file: writeConfig({ dir, amiPort: port, ami }), env: {}, explicit: true });
  const logs: string[] = [];
  const d = await startDaemon(config, createLogger('debug', {}, (l) => logs.push(l)));
  t.teardown(() => d.stop());
  await until(() => parse(logs).some(match), 10_000, 'the log line');
  return parse(logs);
}

const unreachable = (r: Rec): boolean => r.msg === 'ami unreachable; retrying until Asterisk answers';

test('AMI: nothing listening is ECONNREFUSED, not "connection closed"', async (t) => {
  const port = await closedPort();
  const logs = await daemonAgainst(t, port, '', unreachable);
  const r = logs.find(unreachable)!;
  t.is(r.level, 'warn');
  t.regex(String(r.reason), new RegExp(`^ECONNREFUSED: nothing accepts connections on 127\\.0\\.0\\.1:${port}`));
});

test('AMI: a port that accepts and never answers the login is ETIMEDOUT', async (t) => {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => void sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const logs = await daemonAgainst(t, (server.address() as net.AddressInfo).port, 'action_timeout = 300ms', unreachable);
  t.regex(String(logs.find(unreachable)!.reason), /^ETIMEDOUT: 127\.0\.0\.1:\d+ accepted the connection but did not answer the login within 300 ms/);
});

test('AMI: a wrong secret is "auth refused", with what to check, and the secret is never logged', async (t) => {
  const ami = await startAmiDouble({ secret: 'the-right-one', authFailDelayMs: 10 });
  t.teardown(() => ami.stop());
  const refused = (r: Rec): boolean => r.msg === 'ami login refused';
  const logs = await daemonAgainst(t, ami.port, '', refused);
  const r = logs.find(refused)!;
  t.is(r.level, 'error');
  t.is(r.reason, 'Authentication failed');
  t.regex(String(r.hint), /check \[ami\] secret against the \[websms\] secret in manager\.conf/);
  t.false(JSON.stringify(logs).includes('the-right-one'));
  t.false(logs.some((x) => String(x.reason ?? '').includes('connection closed')));
});

function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
