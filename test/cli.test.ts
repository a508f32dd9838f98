// The command line as a user meets it: node dist/src/main.js with arguments.

import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { SHIPPED_DIALPLAN_DIR, listFiles } from '../src/dialplan/install.js';
import { runCli } from './helpers/cli.js';
import { AMI_SECRET, spawnDaemon, until, writeConfig } from './helpers/stack.js';
import { tempDir } from './helpers/tmp.js';

test('help lists every command and the exit codes', async (t) => {
  for (const arg of ['help', '--help', '-h']) {
    const r = await runCli([arg]);
    t.is(r.code, 0);
    for (const c of ['run', 'check-config', 'doctor', 'dialplan install', 'dialplan check']) t.true(r.stdout.includes(c), `${arg}: ${c}`);
    for (const code of ['64', '69', '73', '78']) t.regex(r.stdout, new RegExp(`^  ${code} `, 'm'));
  }
  const sub = await runCli(['dialplan', '--help']);
  t.is(sub.code, 0);
  t.regex(sub.stdout, /--force/);
  const doc = await runCli(['doctor', '--help']);
  t.is(doc.code, 0);
  t.regex(doc.stdout, /reporting/);
});

test('version prints the package version', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const r = await runCli(['--version']);
  t.is(r.code, 0);
  t.is(r.stdout, `websms ${pkg.version}\n`);
});

test('an unknown command exits 64 with the usage on stderr', async (t) => {
  const r = await runCli(['frobnicate']);
  t.is(r.code, 64);
  t.regex(r.stderr, /unknown command "frobnicate"/);
  t.regex(r.stderr, /usage: websms/);
  t.is(r.stdout, '');
  t.is((await runCli(['dialplan'])).code, 64, 'dialplan without a subcommand');
});

test('check-config: a good file prints it with secrets hidden; a bad one exits 78 listing the problems', async (t) => {
  const dir = tempDir();
  const good = writeConfig({ dir, amiPort: 5038 });
  const ok = await runCli(['--config', good, 'check-config'], { cwd: dir });
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stdout, /^\[ami\]$/m);
  t.regex(ok.stdout, /^secret = \(set\) +; line \d+$/m);
  t.regex(ok.stdout, /^port = 5038 +; line \d+$/m);
  t.false(ok.stdout.includes(AMI_SECRET));
  const json = await runCli(['--config', good, 'check-config', '--json'], { cwd: dir });
  const shown = JSON.parse(json.stdout) as { sections: { ami: { secret: string; port: string } } };
  t.is(shown.sections.ami.secret, '(set)');
  t.is(shown.sections.ami.port, '5038');
  t.false(json.stdout.includes(AMI_SECRET));
  // --config after the command works too.
  t.is((await runCli(['check-config', `--config=${good}`], { cwd: dir })).code, 0);

  // A provider profile's defaults are marked as its own; the token it is given stays hidden.
  const twDir = tempDir();
  const tw = writeConfig({ dir: twDir, amiPort: 5038, interfaces: '[tw]\nprovider = twilio\naccount = AC0123\nsecret = tw-secret-never-shown\n' });
  const shownTw = await runCli(['--config', tw, 'check-config'], { cwd: twDir });
  t.is(shownTw.code, 0, shownTw.stderr);
  t.regex(shownTw.stdout, /^send_url = https:\/\/api\.twilio\.com\/2010-04-01\/Accounts\/AC0123\/Messages\.json +; default of provider twilio$/m);
  t.regex(shownTw.stdout, /^send_password = \(set\) +; default of provider twilio$/m);
  t.false(shownTw.stdout.includes('tw-secret-never-shown'));
  const twJson = JSON.parse((await runCli(['--config', tw, 'check-config', '--json'], { cwd: twDir })).stdout) as { sources: { tw: Record<string, string> } };
  t.is(twJson.sources.tw.send_auth, 'profile');

  const badDir = tempDir();
  const bad = writeConfig({ dir: badDir, amiPort: 5038, general: 'log_level = chatty\nno_such_key = 1\n' });
  const r = await runCli(['--config', bad, 'check-config'], { cwd: badDir });
  t.is(r.code, 78);
  t.regex(r.stderr, /2 problem\(s\)/);
  t.regex(r.stderr, /log_level/);
  t.regex(r.stderr, /no_such_key/);
  t.false(r.stderr.includes(AMI_SECRET));

  const missing = await runCli(['--config', path.join(badDir, 'nope.conf'), 'check-config'], { cwd: badDir });
  t.is(missing.code, 78);
  t.regex(missing.stderr, /no such file/);
});

test('dialplan check: the shipped dialplan has no errors', async (t) => {
  const r = await runCli(['dialplan', 'check']);
  t.is(r.code, 0, r.stdout + r.stderr);
  t.regex(r.stdout, new RegExp(`${escape(path.resolve(SHIPPED_DIALPLAN_DIR))}: 0 error\\(s\\), \\d+ warning\\(s\\): ok\\n$`));
});

test('dialplan check: a broken copy exits 1 with file, line and a summary', async (t) => {
  const dir = tempDir();
  for (const f of listFiles(SHIPPED_DIALPLAN_DIR)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(SHIPPED_DIALPLAN_DIR, f), path.join(dir, f));
  }
  const ext = path.join(dir, 'extensions.conf');
  fs.appendFileSync(ext, BROKEN);
  const r = await runCli(['dialplan', 'check', dir]);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stdout, /^extensions\.conf:\d+: error: .*no_such_context/m);
  t.regex(r.stdout, /^extensions\.conf:\d+: error: .*nowhere/m);
  t.regex(r.stdout, new RegExp(`${escape(dir)}: [1-9]\\d* error\\(s\\), \\d+ warning\\(s\\)\\n$`));
});

test('dialplan check: a directory that does not exist exits 66', async (t) => {
  const r = await runCli(['dialplan', 'check', path.join(tempDir(), 'nope')]);
  t.is(r.code, 66);
  t.regex(r.stderr, /no such directory/);
});

/** Appended to a copy of extensions.conf: mistakes any dialplan check must catch. */
const BROKEN = `
[broken_context]
include => no_such_context
exten => s,1,Goto(nowhere,s,1)
`;

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const EVERY_COMMAND: string[][] = [
  ['run'],
  ['send'],
  ['status'],
  ['queue'],
  ['history'],
  ['retry'],
  ['cancel'],
  ['purge'],
  ['providers'],
  ['check-config'],
  ['doctor'],
  ['dialplan'],
  ['dialplan', 'install'],
  ['dialplan', 'check'],
  ['version'],
  ['help'],
];

test('--help and -h on every command and subcommand: usage and exit codes on stdout, exit 0', async (t) => {
  const dir = tempDir();
  for (const cmd of EVERY_COMMAND) {
    for (const flag of ['--help', '-h']) {
      const r = await runCli([...cmd, flag], { cwd: dir });
      const what = `${cmd.join(' ')} ${flag}`;
      t.is(r.code, 0, `${what}: ${r.stderr}`);
      t.regex(r.stdout, /^usage: websms/, what);
      t.regex(r.stdout, /^exit codes:\n {2}0 /m, what);
      t.regex(r.stdout, /^ {2}64 /m, what);
      t.is(r.stderr, '', what);
    }
  }
  // "websms help COMMAND" is "websms COMMAND --help".
  const a = await runCli(['help', 'queue'], { cwd: dir });
  const b = await runCli(['queue', '--help'], { cwd: dir });
  t.is(a.code, 0);
  t.is(a.stdout, b.stdout);
  // --help wins over a configuration that does not exist: nothing is read.
  const c = await runCli(['--config', path.join(dir, 'nope.conf'), 'run', '--help'], { cwd: dir });
  t.is(c.code, 0);
});

test('--config without a path is a usage error (64), wherever it is', async (t) => {
  const dir = tempDir();
  for (const args of [['--config'], ['check-config', '--config'], ['--config', '--json', 'check-config'], ['--config=', 'queue']]) {
    const r = await runCli(args, { cwd: dir });
    t.is(r.code, 64, args.join(' '));
    t.regex(r.stderr, /--config needs a file path/);
  }
});

test('check-config: ini keys as written, where each comes from, secrets hidden, and the start-up warnings', async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'websms.conf');
  fs.writeFileSync(
    file,
    `[general]\ndatabase = ${path.join(dir, 'websms.db')}\nlog_level = debug\ndefault_interface = local\n\n[ami]\nusername = websms\n\n[itsp]\nsend_url = https://api.example-itsp.test/send\nsend_auth = bearer\nallow = any\n[local]\n[api]\nlisten = 127.0.0.1:0\n`,
  );
  const env = { WEBSMS_AMI_SECRET: 'env-secret-never-shown', WEBSMS_ITSP_SEND_BEARER: 'bearer-never-shown-123' };
  const r = await runCli(['--config', file, 'check-config'], { cwd: dir, env });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^log_level = debug +; line 3$/m);
  t.regex(r.stdout, /^country_code = 46 +; default$/m);
  t.regex(r.stdout, /^secret = \(set\) +; from WEBSMS_AMI_SECRET$/m);
  t.regex(r.stdout, /^send_bearer = \(set\) +; from WEBSMS_ITSP_SEND_BEARER$/m);
  t.regex(r.stdout, /^\[itsp\]$/m);
  t.regex(r.stdout, /^send_url = https:\/\/api\.example-itsp\.test\/send +; line 10$/m);
  t.regex(r.stdout, /^path = \/sms\/in\/itsp +; default$/m);
  t.false(/[a-z][A-Z]/.test(r.stdout.split('\n').filter((l) => / = /.test(l)).map((l) => l.split(' = ')[0]).join(' ')), 'no camelCase key names');
  t.false(r.stdout.includes('env-secret-never-shown'));
  t.false(r.stdout.includes('bearer-never-shown-123'));
  t.regex(r.stdout, /warning: \[general\] country_code is not set/);
  t.regex(r.stdout, /warning: the default interface \[local\] has no send_url/);
  t.regex(r.stdout, /warning: \[itsp\] takes webhooks from any address without a username\/password or token/);
  t.notRegex(r.stdout, /no AMI secret/);

  const j = await runCli(['--config', file, 'check-config', '--json'], { cwd: dir, env });
  const body = JSON.parse(j.stdout) as {
    file: string;
    sections: Record<string, Record<string, string>>;
    sources: Record<string, Record<string, string>>;
    interfaces: string[];
    warnings: { code: string; interface?: string }[];
  };
  t.is(body.file, file);
  t.is(body.sections.general!.log_level, 'debug');
  t.is(body.sources.general!.log_level, 'file');
  t.is(body.sources.ami!.secret, 'env');
  t.is(body.sections.itsp!.send_bearer, '(set)');
  t.is(body.sections.local!.send_bearer, '(not set)');
  t.deepEqual(body.interfaces, ['itsp', 'local']);
  t.deepEqual(body.warnings.map((w) => w.code).sort(), ['country_code_default', 'default_interface_cannot_send', 'webhook_open']);
  t.false(j.stdout.includes('never-shown'));
});

test('check-config and the daemon give the same warnings', async (t) => {
  const dir = tempDir();
  const file = path.join(dir, 'websms.conf');
  fs.writeFileSync(file, `[general]\nlisten = 127.0.0.1:0\ndatabase = ${path.join(dir, 'websms.db')}\n[agi]\nlisten = 127.0.0.1:0\n[api]\nlisten = 127.0.0.1:0\n`);
  const r = await runCli(['--config', file, 'check-config', '--json'], { cwd: dir });
  const codes = (JSON.parse(r.stdout) as { warnings: { code: string; message: string }[] }).warnings;
  t.deepEqual(codes.map((w) => w.code), ['ami_secret_missing', 'country_code_default', 'outbound_disabled']);
  const child = await spawnDaemon(file);
  try {
    await until(() => codes.every((w) => child.logs.some((l) => l.includes(`"code":"${w.code}"`))), 10_000, 'the warnings logged');
    for (const w of codes) {
      const line = child.logs.find((l) => l.includes(`"code":"${w.code}"`))!;
      t.is((JSON.parse(line) as { msg: string; level: string }).msg, w.message);
      t.is((JSON.parse(line) as { level: string }).level, 'warn');
    }
  } finally {
    child.proc.kill('SIGTERM');
    await child.exited;
  }
});

test('providers lists the known profiles, as text and as JSON', async (t) => {
  const r = await runCli(['providers']);
  t.is(r.code, 0);
  t.regex(r.stdout, /^PROVIDER +CREDENTIALS CHECK +DESCRIPTION$/m);
  t.regex(r.stdout, /^generic +no +Any ITSP with an HTTP API/m);
  const j = JSON.parse((await runCli(['providers', '--json'])).stdout) as { providers: { name: string; credentialsCheck: boolean; settings: { key: string; secret: boolean }[] }[] };
  const generic = j.providers.find((p) => p.name === 'generic')!;
  t.false(generic.credentialsCheck);
  t.true(generic.settings.some((s) => s.key === 'token' && s.secret));
  const one = await runCli(['providers', 'generic']);
  t.is(one.code, 0);
  t.regex(one.stdout, /^KEY +REQUIRED +SECRET +WHAT TO COPY$/m);
  t.regex(one.stdout, /^send_password +no +yes /m);
  const tw = await runCli(['providers', 'twilio']);
  t.regex(tw.stdout, /^account +yes +no +the Account SID/m);
  t.regex(tw.stdout, /^secret +yes +yes +the Auth Token/m);
  t.regex(tw.stdout, /WEBSMS_<INTERFACE>_SECRET/);
  const unknown = await runCli(['providers', 'nosuch']);
  t.is(unknown.code, 64);
  t.regex(unknown.stderr, /no provider "nosuch"; known: generic, .*twilio/);
});

test('version --json', async (t) => {
  const r = await runCli(['version', '--json']);
  t.is(r.code, 0);
  const v = JSON.parse(r.stdout) as { version: string; node: string };
  t.regex(v.version, /^\d+\.\d+\.\d+/);
  t.is(v.node, process.version);
});
