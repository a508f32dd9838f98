// `websms dialplan install` as a user runs it: the real CLI on a temporary destination.

import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { SHIPPED_DIALPLAN_DIR, backupSuffix, listFiles } from '../src/dialplan/install.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

const shipped = listFiles(SHIPPED_DIALPLAN_DIR);

/** Every file of dir, relative path -> content. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = path.join(rel, e.name);
      if (e.isDirectory()) walk(r);
      else out[r] = fs.readFileSync(path.join(dir, r), 'utf8');
    }
  };
  walk('');
  return out;
}

test('the shipped dialplan directory is found and holds the suite', (t) => {
  t.true(shipped.includes('extensions.conf'));
  t.true(shipped.includes('extensions_local.conf'));
});

test('a fresh install creates the destination and copies every shipped file', async (t) => {
  const dest = path.join(tempDir(), 'etc', 'asterisk');
  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 0, r.stderr);
  const got = tree(dest);
  t.deepEqual(Object.keys(got).sort(), [...shipped].sort());
  for (const f of shipped) {
    t.is(got[f], fs.readFileSync(path.join(SHIPPED_DIALPLAN_DIR, f), 'utf8'), f);
    t.regex(r.stdout, new RegExp(`${escape(path.join(dest, f))}: installed`));
  }
  // What is left to do by hand.
  for (const s of ['pjsip_endpoint.conf', 'keys', 'CONTRY_CODE', 'WEBSMS_AMI_SECRET', "asterisk -rx 'core reload'", 'dialplan reload']) t.true(r.stdout.includes(s), s);
  // No temporary files are left behind.
  t.false(fs.readdirSync(dest).some((n) => n.includes('websms-tmp')));
});

test('a second run finds every file unchanged and writes nothing', async (t) => {
  const dest = tempDir();
  t.is((await runCli(['dialplan', 'install', '--dest', dest])).code, 0);
  const mtimes = shipped.map((f) => fs.statSync(path.join(dest, f)).mtimeMs);
  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 0, r.stderr);
  for (const f of shipped) t.regex(r.stdout, new RegExp(`${escape(path.join(dest, f))}: unchanged`));
  t.deepEqual(shipped.map((f) => fs.statSync(path.join(dest, f)).mtimeMs), mtimes);
  t.deepEqual(Object.keys(tree(dest)).sort(), [...shipped].sort(), 'no backups');
});

test('a file the user changed is kept without --force, and the run exits 1', async (t) => {
  const dest = tempDir();
  t.is((await runCli(['dialplan', 'install', '--dest', dest])).code, 0);
  const mine = path.join(dest, 'extensions_local.conf');
  fs.writeFileSync(mine, '[globals]\nCONTRY_CODE = 46\n; my own edits\n');
  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 1);
  t.regex(r.stdout, new RegExp(`${escape(mine)}: kept your changes \\(use --force`));
  t.is(fs.readFileSync(mine, 'utf8'), '[globals]\nCONTRY_CODE = 46\n; my own edits\n');
  t.regex(r.stdout, new RegExp(`${escape(path.join(dest, 'extensions.conf'))}: unchanged`));
  t.false(fs.readdirSync(dest).some((n) => n.includes('websms-backup')), 'nothing replaced, no backup');
});

test('with --force a changed file is replaced and the old one kept as a timestamped backup', async (t) => {
  const dest = tempDir();
  const mine = path.join(dest, 'extensions.conf');
  fs.writeFileSync(mine, '; the extensions.conf I had before\n');
  fs.chmodSync(mine, 0o640);
  const before = new Date();
  const r = await runCli(['dialplan', 'install', '--dest', dest, '--force']);
  t.is(r.code, 0, r.stderr);
  t.is(fs.readFileSync(mine, 'utf8'), fs.readFileSync(path.join(SHIPPED_DIALPLAN_DIR, 'extensions.conf'), 'utf8'));
  t.is(fs.statSync(mine).mode & 0o777, 0o640, 'the replaced file keeps its mode');
  const backups = fs.readdirSync(dest).filter((n) => n.startsWith('extensions.conf.websms-backup-'));
  t.is(backups.length, 1);
  t.regex(backups[0]!, /^extensions\.conf\.websms-backup-\d{8}T\d{6}$/);
  // The stamp is the local time of the run (to the second).
  const stamp = backups[0]!.slice('extensions.conf'.length);
  t.true(stamp >= backupSuffix(new Date(before.getTime() - 1000)) && stamp <= backupSuffix(new Date()), stamp);
  const backup = path.join(dest, backups[0]!);
  t.is(fs.readFileSync(backup, 'utf8'), '; the extensions.conf I had before\n');
  t.true(r.stdout.includes(`${mine}: replaced (backup: ${backup})`));
  // Files that were not there are simply installed.
  t.regex(r.stdout, new RegExp(`${escape(path.join(dest, 'extensions_local.conf'))}: installed`));
});

test('--dry-run says what would happen and writes nothing', async (t) => {
  const root = tempDir();
  const dest = path.join(root, 'asterisk');
  const r = await runCli(['dialplan', 'install', '--dest', dest, '--dry-run']);
  t.is(r.code, 0, r.stderr);
  t.true(r.stdout.includes('dry run'));
  t.regex(r.stdout, /would be installed/);
  t.false(fs.existsSync(dest), 'the destination is not even created');

  // With a changed file: it would be kept (exit 1); with --force it would be replaced, still nothing written.
  fs.mkdirSync(dest);
  const mine = path.join(dest, 'extensions.conf');
  fs.writeFileSync(mine, 'mine\n');
  const kept = await runCli(['dialplan', 'install', '--dest', dest, '--dry-run']);
  t.is(kept.code, 1);
  t.regex(kept.stdout, /would be kept/);
  const forced = await runCli(['dialplan', 'install', '--dest', dest, '--dry-run', '--force']);
  t.is(forced.code, 0);
  t.regex(forced.stdout, /extensions\.conf: would be replaced/);
  t.deepEqual(fs.readdirSync(dest), ['extensions.conf']);
  t.is(fs.readFileSync(mine, 'utf8'), 'mine\n');
});

test('a destination that is a file is refused with exit 73, and nothing is written', async (t) => {
  const root = tempDir();
  const file = path.join(root, 'asterisk');
  fs.writeFileSync(file, 'not a directory\n');
  const r = await runCli(['dialplan', 'install', '--dest', file]);
  t.is(r.code, 73);
  t.regex(r.stderr, /is not a directory/);
  t.regex(r.stderr, /Nothing was changed/);
  t.deepEqual(fs.readdirSync(root), ['asterisk']);
  t.is(fs.readFileSync(file, 'utf8'), 'not a directory\n');

  // Below a file: the directory cannot be created.
  const below = await runCli(['dialplan', 'install', '--dest', path.join(file, 'sub')]);
  t.is(below.code, 73);
  t.regex(below.stderr, /not a directory/);
});

test('a directory where a file goes is refused with exit 73 before anything is written', async (t) => {
  const dest = tempDir();
  fs.mkdirSync(path.join(dest, 'extensions.conf'));
  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 73);
  t.regex(r.stderr, /extensions\.conf is a directory/);
  t.deepEqual(fs.readdirSync(dest), ['extensions.conf']);
});

test('an unwritable destination is refused with exit 73 (permission denied)', async (t) => {
  if (process.getuid?.() === 0) {
    t.pass('running as root: permissions are not enforced');
    return;
  }
  const dest = tempDir();
  fs.chmodSync(dest, 0o555);
  t.teardown(() => fs.chmodSync(dest, 0o755));
  const r = await runCli(['dialplan', 'install', '--dest', dest]);
  t.is(r.code, 73);
  t.regex(r.stderr, /permission denied/);
  t.deepEqual(fs.readdirSync(dest), []);
});

test('usage errors exit 64', async (t) => {
  t.is((await runCli(['dialplan', 'install', '--bogus'])).code, 64);
  t.is((await runCli(['dialplan', 'install', '--dest'])).code, 64);
  t.is((await runCli(['dialplan', 'install', 'extra'])).code, 64);
  t.is((await runCli(['dialplan', 'frobnicate'])).code, 64);
  const help = await runCli(['dialplan', 'install', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /^ {2}1 {3}some of your files differ from ours and were kept/m);
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
