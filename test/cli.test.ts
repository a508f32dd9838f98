// The command line as a user meets it: node dist/src/main.js with arguments.

import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { SHIPPED_DIALPLAN_DIR, listFiles } from '../src/dialplan/install.js';
import { runCli } from './helpers/cli.js';
import { AMI_SECRET, writeConfig } from './helpers/stack.js';
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
