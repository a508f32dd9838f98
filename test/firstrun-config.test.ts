// The configuration a new user starts from: the sample copied as it is, and
// the worked example of docs/configuration.md, each run for real.
import test from 'ava';
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeConfig, loadConfig } from '../src/config/load.js';
import type { Config } from '../src/config/types.js';
import { startDaemon } from '../src/daemon.js';
import { ConfigError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import { runAgi } from './doubles/agi-client.js';
import { startAmiDouble } from './doubles/ami-server.js';
import { startItspDouble, twilioLike } from './doubles/itsp-server.js';
import { runCli } from './helpers/cli.js';
import { post, until } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SAMPLE = path.join(ROOT, 'docs', 'websms.conf.sample');

/** The same configuration on ephemeral ports, a temporary database and the given AMI. */
function local(config: Config, dir: string, amiPort: number): Config {
  const c = structuredClone(config);
  c.general.listenPort = 0;
  c.general.database = path.join(dir, 'var', 'websms.db');
  c.agi.listenPort = 0;
  c.api.listenPort = 0;
  c.ami.port = amiPort;
  return c;
}

test('the sample copied as it is passes check-config (exit 0) like the built-in defaults', async (t) => {
  const dir = tempDir();
  fs.copyFileSync(SAMPLE, path.join(dir, 'websms.conf'));
  const copied = await runCli(['check-config'], { cwd: dir });
  t.is(copied.code, 0, copied.stderr);
  const none = await runCli(['check-config'], { cwd: tempDir() });
  t.is(none.code, 0, none.stderr);
  t.notRegex(copied.stderr, /problem/);
  // The same configuration either way (the file name aside).
  const fromSample = loadConfig({ file: path.join(dir, 'websms.conf'), env: {}, explicit: true });
  // Where each value came from differs (the file's lines, or the defaults); the values do not.
  const { settings: _a, ...sample } = fromSample;
  const { settings: _b, ...defaults } = loadConfig({ env: {}, explicit: false });
  t.deepEqual({ ...sample, file: undefined }, defaults);
});

test('the sample copied as it is starts: webhooks are taken, and the missing AMI secret is a warning', async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'websms.conf');
  fs.copyFileSync(SAMPLE, file);
  const ami = await startAmiDouble({ secret: 'the-one-in-manager.conf', authFailDelayMs: 10 });
  t.teardown(() => ami.stop());
  const logs: string[] = [];
  const d = await startDaemon(local(loadConfig({ file, env: {}, explicit: true }), dir, ami.port), createLogger('debug', {}, (l) => logs.push(l)));
  t.teardown(() => d.stop());
  const recs = (): Array<Record<string, unknown>> => logs.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.true(recs().some((r) => r.level === 'warn' && /no AMI secret configured/.test(String(r.msg))));
  t.true(recs().some((r) => String(r.msg).startsWith('websms started:')));
  const r = await post(`http://127.0.0.1:${d.httpPort}/sms/in/default`, { To: '+46812345678', From: '+46701234567', Body: 'first text' });
  t.is(r.status, 200, r.text);
  // Asterisk refuses the login, said as it is; the text waits in the database.
  await until(() => recs().some((x) => x.msg === 'ami login refused'));
  t.is(d.store.counts().queued, 1);
});

test('a written [ami] username without a secret is not an error either (it used to be, only for the sample)', (t) => {
  const file = path.join(tempDir(), 'websms.conf');
  fs.writeFileSync(file, '[ami]\nusername = websms\n');
  t.notThrows(() => loadConfig({ file, env: {}, explicit: true }));
  // A real problem is still refused.
  fs.writeFileSync(file, '[ami]\nusername = websms\nport = 0\n');
  t.throws(() => loadConfig({ file, env: {}, explicit: true }), { instanceOf: ConfigError });
});

// ---- the worked example ----------------------------------------------------

const DOC = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');
const TOKEN = 'Tok-for-the-worked-example_123';
const ENV = { WEBSMS_AMI_SECRET: 'ami-secret', WEBSMS_EXAMPLE_TOKEN: TOKEN, WEBSMS_EXAMPLE_SEND_PASSWORD: 'auth-token' };

function workedExample(): string {
  const at = DOC.indexOf('## Worked example');
  const m = /```ini\n([^]*?)```/.exec(DOC.slice(at));
  if (at < 0 || !m) throw new Error('no worked example in docs/configuration.md');
  return m[1]!;
}

test('the worked example loads; its status callback URL carries the token, and check-config does not show it', (t) => {
  const file = path.join(tempDir(), 'websms.conf');
  fs.writeFileSync(file, workedExample());
  const c = loadConfig({ file, env: ENV, explicit: true });
  const i = c.interfaces.find((x) => x.name === 'example')!;
  t.is(i.send.extra.StatusCallback, `https://sms.example.org/sms/status/example/${TOKEN}`);
  t.is(new URL(i.send.extra.StatusCallback!).pathname, `${i.send.statusPath}/${i.token}`, 'the path the status webhook listens on, token included');
  const shown = JSON.stringify(describeConfig(c));
  t.false(shown.includes(TOKEN));
  t.true(shown.includes('https://sms.example.org/sms/status/example/${token}'));
  // ${token} without a token is a mistake the loader names.
  fs.writeFileSync(file, '[x]\nsend_url = https://itsp.test/send\nsend_extra = cb=https://h.test/sms/status/x/${token}\n');
  const err = t.throws(() => loadConfig({ file, env: {}, explicit: true }), { instanceOf: ConfigError }) as ConfigError;
  t.regex(err.problems[0]!, /send_extra: "cb" uses \$\{token\}, but the interface has no token \(token, or WEBSMS_X_TOKEN\)/);
});

test('the worked example end to end: a text sent, and the ITSP\'s report to the callback URL is taken (not 403)', async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'websms.conf');
  fs.writeFileSync(file, workedExample());
  const itsp = await startItspDouble({ default: twilioLike() });
  t.teardown(() => itsp.stop());
  const ami = await startAmiDouble({ secret: ENV.WEBSMS_AMI_SECRET });
  t.teardown(() => ami.stop());
  const config = local(loadConfig({ file, env: ENV, explicit: true }), dir, ami.port);
  config.interfaces[0]!.send.url = `${itsp.url}/2010-04-01/Accounts/AC123/Messages.json`;
  const d = await startDaemon(config, createLogger('error', {}, () => undefined));
  t.teardown(() => d.stop());

  const run = await runAgi({
    port: d.agiPort,
    exten: '+12025550123',
    variables: { 'MESSAGE(body)': 'hello', 'MESSAGE(from)': '<sip:+12025550100@pbx.example>', 'MESSAGE(to)': 'pjsip:+12025550123@pbx.example', WEBSMS_INDEX: '1' },
  });
  t.is(run.set.get('WEBSMS_STATUS'), 'QUEUED');
  const [req] = await itsp.waitForRequests(1);
  const sent = req!.body as Record<string, string>;
  const callback = new URL(sent.StatusCallback!);
  t.is(callback.pathname, `/sms/status/example/${TOKEN}`);
  const state = (): string => {
    const db = new Database(config.general.database, { readonly: true });
    try {
      return (db.prepare('SELECT state FROM outbound').get() as { state: string }).state;
    } finally {
      db.close();
    }
  };
  await until(() => state() === 'sent');
  // The ITSP, through the reverse proxy on this host (trusted_proxies = 127.0.0.1).
  const viaProxy = { 'x-forwarded-for': '203.0.113.10' };
  const report = { MessageSid: 'SM' + '1'.padStart(32, '0'), MessageStatus: 'delivered' };
  const base = `http://127.0.0.1:${d.httpPort}`;
  t.is((await post(`${base}/sms/status/example`, report, viaProxy)).status, 403, 'without the token: refused, as the docs say');
  const r = await post(`${base}${callback.pathname}`, report, viaProxy);
  t.is(r.status, 200, r.text);
  t.is(state(), 'delivered');
});

test('the problem listing shown in docs/configuration.md is what websms prints at start for such a file', async (t) => {
  const shown = /```\n(websms: the configuration has [^]*?)```/.exec(DOC)![1]!;
  const dir = path.join(tempDir(), 'etc', 'websms');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'websms.conf');
  const lines = Array.from({ length: 21 }, () => '');
  lines[0] = '[general]';
  lines[3] = 'listn = 127.0.0.1:8080';
  lines[17] = '[itsp]';
  lines[18] = 'send_url = https://AC123:secret@api.example-itsp.test/send';
  lines[20] = 'send_auth = basic';
  lines.splice(19, 1, 'send_username = AC123');
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  const r = await runCli(['--config', file, 'run']);
  t.is(r.code, 78);
  t.is(r.stderr, shown.replaceAll('/etc/websms/websms.conf', file));
  // check-config lists the same problems, and says what to do next.
  const checked = await runCli(['--config', file, 'check-config']);
  t.is(checked.code, 78);
  t.is(checked.stderr, shown.replaceAll('/etc/websms/websms.conf', file).replace('nothing was started', 'fix them and run websms check-config again'));
});
